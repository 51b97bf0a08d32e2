"""Translate omen.v1 protobuf messages to domain values and back. No logic beyond the mapping.

Signals are converted by omen.adapters.proto_codec (the ledger stores them in the same form).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from omen._proto import service_pb2, signal_pb2
from omen.adapters.proto_codec import (
    enum_number,
    signal_to_proto,
    timestamp,
    validation_result_to_proto,
)
from omen.domain.events import Location, MarketState, Movement, RawEvent
from omen.domain.signals import OmenSignal, Outcome, ProcessResult
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


def process_response_to_proto(result: ProcessResult) -> service_pb2.ProcessResponse:
    response = service_pb2.ProcessResponse(
        outcome=enum_number(result.outcome),
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


def fill_stream_result(
    out: service_pb2.StreamResult,
    correlation_id: str,
    result: ProcessResult,
    to_proto: Callable[[OmenSignal], signal_pb2.OmenSignal] = signal_to_proto,
) -> None:
    """`out` (a fresh StreamResult, e.g. from `results.add()`) describes `result`."""
    out.correlation_id = correlation_id
    out.outcome = enum_number(result.outcome)
    signal = result.signal
    if result.outcome is Outcome.EMITTED and signal is not None:
        out.signal_id = signal.signal_id
        out.signal.CopyFrom(to_proto(signal))
        if signal.ledger_partition:
            out.ledger_position.partition = signal.ledger_partition
            out.ledger_position.sequence = signal.ledger_sequence
    elif result.outcome is Outcome.DUPLICATE:
        out.signal_id = out.duplicate_of = result.duplicate_of
    else:
        out.validation_results.extend(
            validation_result_to_proto(r) for r in result.validation_results
        )
        out.reason = result.reason


def fill_invalid_stream_result(
    out: service_pb2.StreamResult,
    correlation_id: str,
    violations: Sequence[FieldViolation],
    reason: str,
) -> None:
    out.correlation_id = correlation_id
    out.outcome = service_pb2.OUTCOME_INVALID
    out.reason = reason
    out.field_violations.extend(
        service_pb2.FieldViolation(field=v.field, description=v.description) for v in violations
    )


__all__ = [
    "event_from_proto",
    "fill_invalid_stream_result",
    "fill_stream_result",
    "process_response_to_proto",
    "signal_to_proto",
    "timestamp",
    "validation_result_to_proto",
]
