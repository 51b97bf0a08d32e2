"""Translate omen.v1 protobuf messages to domain values and back. No logic beyond the mapping."""

from __future__ import annotations

from typing import Any

from google.protobuf import timestamp_pb2

from omen._proto import service_pb2, signal_pb2
from omen.domain.events import Location, MarketState, Movement, RawEvent
from omen.domain.signals import OmenSignal, ProcessResult, ValidationResult
from omen.domain.validation import FieldViolation, validate_event

_NS = 1_000_000_000
# google.protobuf.Timestamp is valid from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_TS_MIN_SECONDS = -62_135_596_800
_TS_MAX_SECONDS = 253_402_300_799


def _timestamp_ns(
    msg: signal_pb2.RawSignalEvent, name: str, path: str, out: list[FieldViolation]
) -> int | None:
    if not msg.HasField(name):
        return None
    ts = getattr(msg, name)
    if not _TS_MIN_SECONDS <= ts.seconds <= _TS_MAX_SECONDS or not 0 <= ts.nanos < _NS:
        out.append(
            FieldViolation(
                path,
                f"must be a valid timestamp (0001-01-01..9999-12-31), got "
                f"seconds={ts.seconds} nanos={ts.nanos}",
            )
        )
        return None
    return int(ts.seconds * _NS + ts.nanos)


def event_from_proto(
    msg: signal_pb2.RawSignalEvent, received_at_ns: int, prefix: str = "event"
) -> tuple[RawEvent, list[FieldViolation]]:
    """The domain event and every field violation (presence, timestamps, enums, values).

    The event is only meaningful when the violation list is empty. `received_at_ns` stands in
    for an unset observed_at.
    """
    out: list[FieldViolation] = []
    if not msg.HasField("probability"):
        out.append(FieldViolation(prefix + ".probability", "is required"))
    if msg.market_state not in MarketState._value2member_map_:
        out.append(FieldViolation(prefix + ".market_state", f"unknown value {msg.market_state}"))
    created = _timestamp_ns(msg, "created_at", prefix + ".created_at", out)
    resolution = _timestamp_ns(msg, "resolution_date", prefix + ".resolution_date", out)
    observed = _timestamp_ns(msg, "observed_at", prefix + ".observed_at", out)
    movement = None
    if msg.HasField("movement"):
        m = msg.movement
        movement = Movement(m.previous, m.delta, m.window_hours)
    event = RawEvent(
        event_id=msg.event_id,
        source=msg.source,
        market_id=msg.market_id,
        title=msg.title,
        description=msg.description,
        probability=msg.probability,
        movement=movement,
        liquidity_usd=msg.liquidity_usd,
        volume_usd=msg.volume_usd,
        num_traders=msg.num_traders,
        keywords=tuple(msg.keywords),
        locations=tuple(
            Location(loc.lat, loc.lon, loc.name, loc.region_code) for loc in msg.locations
        ),
        market_url=msg.market_url,
        created_at_ns=created,
        resolution_date_ns=resolution,
        observed_at_ns=observed if observed is not None else received_at_ns,
        source_metrics=tuple(sorted(msg.source_metrics.items())),
        raw_payload=msg.raw_payload,
        market_state=MarketState(msg.market_state)
        if msg.market_state in MarketState._value2member_map_
        else MarketState.UNSPECIFIED,
        outcome_prices=tuple(msg.outcome_prices),
    )
    out.extend(validate_event(event, prefix))
    return event, out


def _enum(value: int) -> Any:
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
        status=_enum(r.status),
        score=r.score,
        reason=r.reason,
    )


def signal_to_proto(s: OmenSignal) -> signal_pb2.OmenSignal:
    t = s.temporal
    temporal = signal_pb2.TemporalContext(
        horizon=_enum(t.horizon),
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
        confidence_level=_enum(s.confidence_level),
        confidence_factors=[
            signal_pb2.ConfidenceFactor(name=f.name, value=f.value, weight=f.weight)
            for f in s.confidence_factors
        ],
        confidence_interval=signal_pb2.ConfidenceInterval(
            lower=s.confidence_interval.lower, upper=s.confidence_interval.upper
        ),
        category=_enum(s.category),
        signal_type=_enum(s.signal_type),
        status=_enum(s.status),
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
            direction=_enum(s.impact_hints.direction),
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


def process_response_to_proto(result: ProcessResult) -> service_pb2.ProcessResponse:
    response = service_pb2.ProcessResponse(
        outcome=_enum(result.outcome),
        validation_results=[validation_result_to_proto(r) for r in result.validation_results],
        reason=result.reason,
        duplicate_of=result.duplicate_of,
        input_event_hash=result.input_event_hash,
    )
    if result.signal is not None:
        response.signal.CopyFrom(signal_to_proto(result.signal))
        if result.signal.ledger_partition:
            response.ledger_position.partition = result.signal.ledger_partition
            response.ledger_position.sequence = result.signal.ledger_sequence
    return response
