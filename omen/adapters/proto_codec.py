"""omen.v1.OmenSignal <-> domain OmenSignal, both ways, exactly.

The gRPC servicers answer with these messages and the ledger stores them (serialised) in its
SIGNAL records, so a signal read back from the ledger after a restart is the one emitted:
signal_from_proto(signal_to_proto(s)) == s for every signal the pipeline builds.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from google.protobuf import timestamp_pb2

from omen import native
from omen._proto import signal_pb2
from omen.adapters.ledger.records import signal_offset
from omen.domain.events import Location
from omen.domain.signals import (
    ConfidenceFactor,
    ConfidenceInterval,
    ConfidenceLevel,
    Evidence,
    GeographicContext,
    ImpactDirection,
    ImpactHints,
    OmenSignal,
    RuleStatus,
    SignalCategory,
    SignalStatus,
    SignalType,
    TemporalContext,
    TimeHorizon,
    ValidationResult,
)

_NS = 1_000_000_000
_encode_signal: Callable[[OmenSignal], bytes] = native.signalwire.encode_signal
_decode_signal: Callable[[bytes], OmenSignal] = native.signalwire.decode_signal
#: The ledger's SIGNAL record body (signal_bytes(signal) its tail) in one pass, or None when the
#: values are not of the pipeline's form (records.encode_signal then makes it, or says why not).
signal_record: Callable[[OmenSignal, float, str], bytes | None] = (
    native.signalwire.encode_signal_record
)


def enum_number(value: int) -> Any:
    """A domain IntEnum as the plain number protobuf stores (the numbers are kept equal)."""
    return int(value)


def timestamp(ns: int) -> timestamp_pb2.Timestamp:
    seconds, nanos = divmod(ns, _NS)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def _location(loc: Location) -> signal_pb2.Location:
    return signal_pb2.Location(lat=loc.lat, lon=loc.lon, name=loc.name, region_code=loc.region_code)


def validation_result_to_proto(r: ValidationResult) -> signal_pb2.ValidationResult:
    return signal_pb2.ValidationResult(
        rule_name=r.rule_name,
        rule_version=r.rule_version,
        status=enum_number(r.status),
        score=r.score,
        reason=r.reason,
    )


def signal_to_proto(s: OmenSignal) -> signal_pb2.OmenSignal:
    t = s.temporal
    temporal = signal_pb2.TemporalContext(
        horizon=enum_number(t.horizon),
        days_to_resolution=t.days_to_resolution,
        market_age_days=t.market_age_days,
    )
    if t.resolution_date_ns is not None:
        temporal.resolution_date.CopyFrom(timestamp(t.resolution_date_ns))
    return signal_pb2.OmenSignal(
        signal_id=s.signal_id,
        input_event_hash=s.input_event_hash,
        source_event_id=s.source_event_id,
        source=s.source,
        market_id=s.market_id,
        title=s.title,
        description=s.description,
        probability=s.probability,
        probability_is_estimate=s.probability_is_estimate,
        confidence_score=s.confidence_score,
        confidence_level=enum_number(s.confidence_level),
        confidence_factors=[
            signal_pb2.ConfidenceFactor(name=f.name, value=f.value, weight=f.weight)
            for f in s.confidence_factors
        ],
        confidence_interval=signal_pb2.ConfidenceInterval(
            lower=s.confidence_interval.lower, upper=s.confidence_interval.upper
        ),
        category=enum_number(s.category),
        signal_type=enum_number(s.signal_type),
        status=enum_number(s.status),
        geographic=signal_pb2.GeographicContext(
            regions=s.geographic.regions,
            chokepoints=s.geographic.chokepoints,
            coordinates=[_location(c) for c in s.geographic.coordinates],
        ),
        temporal=temporal,
        evidence=[
            signal_pb2.Evidence(kind=e.kind, description=e.description, value=e.value, url=e.url)
            for e in s.evidence
        ],
        validation_results=[validation_result_to_proto(r) for r in s.validation_results],
        impact_hints=signal_pb2.ImpactHints(
            domains=s.impact_hints.domains,
            direction=enum_number(s.impact_hints.direction),
            keywords=s.impact_hints.keywords,
            routing_key=s.impact_hints.routing_key,
        ),
        ruleset_version=s.ruleset_version,
        trace_id=s.trace_id,
        observed_at=timestamp(s.observed_at_ns),
        generated_at=timestamp(s.generated_at_ns),
        ledger_partition=s.ledger_partition,
        ledger_sequence=s.ledger_sequence,
    )


def signal_bytes(s: OmenSignal) -> bytes:
    """`signal_to_proto(s).SerializeToString(deterministic=True)`, byte for byte, from the
    compiled encoder (omen._native.signalwire): what the ledger stores and streams answer with,
    without building a protobuf message."""
    return _encode_signal(s)


class SignalWireMemo:
    """The ledger records of the signals a stream message just appended, by signal id, until
    the response that reports them takes their encoding: a SIGNAL record's body ends with the
    bytes the response carries (stored without the ledger position, which the response
    appends: fields 26 and 27 come last in omen.v1.OmenSignal), so the memo holds the body the
    ledger got, no copy of it. Bounded (oldest dropped first; `take` then encodes it again),
    and one per server, never process-global."""

    __slots__ = ("_bodies", "_limit")

    def __init__(self, limit: int = 65_536):
        self._limit = limit
        self._bodies: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._bodies)

    def put_many(self, signal_ids: Sequence[str], bodies: Sequence[bytes]) -> None:
        """Hold each signal's SIGNAL record body (the ledger store's append, once per
        message)."""
        held = self._bodies
        held.update(zip(signal_ids, bodies, strict=True))
        excess = len(held) - self._limit
        if excess > 0:
            for signal_id in list(itertools.islice(held, excess)):
                del held[signal_id]

    def discard_many(self, signal_ids: Iterable[str]) -> None:
        """Forget the signals' records: their responses leave the signals out."""
        pop = self._bodies.pop
        for signal_id in signal_ids:
            pop(signal_id, None)

    @property
    def records(self) -> dict[str, bytes]:
        """The held SIGNAL record bodies by signal id, for signalwire.encode_stream_results to
        take from directly (as `take` would, without a call per signal)."""
        return self._bodies

    def take(self, signal: OmenSignal) -> bytes:
        """The signal's encoding without its ledger position, from the memo or made afresh."""
        body = self._bodies.pop(signal.signal_id, None)
        if body is not None:
            return body[signal_offset(body) :]
        if signal.ledger_partition or signal.ledger_sequence:
            signal = replace(signal, ledger_partition="", ledger_sequence=0)
        return _encode_signal(signal)


def _ns(ts: timestamp_pb2.Timestamp) -> int:
    return int(ts.seconds * _NS + ts.nanos)


def validation_result_from_proto(r: signal_pb2.ValidationResult) -> ValidationResult:
    return ValidationResult(r.rule_name, r.rule_version, RuleStatus(r.status), r.score, r.reason)


def signal_from_proto(m: signal_pb2.OmenSignal) -> OmenSignal:
    t = m.temporal
    g = m.geographic
    h = m.impact_hints
    return OmenSignal(
        signal_id=m.signal_id,
        input_event_hash=m.input_event_hash,
        source_event_id=m.source_event_id,
        source=m.source,
        market_id=m.market_id,
        title=m.title,
        description=m.description,
        probability=m.probability,
        probability_is_estimate=m.probability_is_estimate,
        confidence_score=m.confidence_score,
        confidence_level=ConfidenceLevel(m.confidence_level),
        confidence_factors=tuple(
            ConfidenceFactor(f.name, f.value, f.weight) for f in m.confidence_factors
        ),
        confidence_interval=ConfidenceInterval(
            m.confidence_interval.lower, m.confidence_interval.upper
        ),
        category=SignalCategory(m.category),
        signal_type=SignalType(m.signal_type),
        status=SignalStatus(m.status),
        geographic=GeographicContext(
            tuple(g.regions),
            tuple(g.chokepoints),
            tuple(Location(c.lat, c.lon, c.name, c.region_code) for c in g.coordinates),
        ),
        temporal=TemporalContext(
            TimeHorizon(t.horizon),
            _ns(t.resolution_date) if t.HasField("resolution_date") else None,
            t.days_to_resolution,
            t.market_age_days,
        ),
        evidence=tuple(Evidence(e.kind, e.description, e.value, e.url) for e in m.evidence),
        validation_results=tuple(validation_result_from_proto(r) for r in m.validation_results),
        impact_hints=ImpactHints(
            tuple(h.domains), ImpactDirection(h.direction), tuple(h.keywords), h.routing_key
        ),
        ruleset_version=m.ruleset_version,
        trace_id=m.trace_id,
        observed_at_ns=_ns(m.observed_at),
        generated_at_ns=_ns(m.generated_at),
        ledger_partition=m.ledger_partition,
        ledger_sequence=m.ledger_sequence,
    )


def signal_from_bytes(data: bytes) -> OmenSignal:
    """The signal of a serialised omen.v1.OmenSignal (a ledger record's, a stored response's):
    what `signal_from_proto` makes of the parsed message, read straight from the bytes by the
    compiled decoder (omen._native.signalwire.decode_signal), without a protobuf message.

    Raises ValueError where the reference fails: SignalDecodeError (a ValueError subclass) when
    the bytes are not a valid OmenSignal, or the domain enum's ValueError for an enum number it
    lacks (0 included)."""
    return _decode_signal(data)
