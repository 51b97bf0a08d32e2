"""Pure-Python twin of signalwire.pyx: the protobuf wire encoding of a domain OmenSignal and of
the stream's EMITTED results, written directly, without building protobuf messages.

Why this exists
---------------
An emitted signal is serialised twice on the hot path: once for its ledger record and once for
the stream response that reports it. Building the omen.v1.OmenSignal message
(omen.adapters.proto_codec.signal_to_proto) costs some twenty upb objects per signal, far more
than the bytes themselves. This module writes the bytes straight from the domain objects, and
the ledger record and the response share them: the record holds encode_signal(signal) of the
signal without its ledger position, and the response appends the position (fields 26 and 27,
the last of omen.v1.OmenSignal) with encode_emitted_result().

The contract: byte identity
---------------------------
encode_signal(s) == signal_to_proto(s).SerializeToString(deterministic=True), byte for byte,
for every signal (tests/unit/test_signalwire_parity.py checks the compiled module and this twin
against upb). That fixes every detail below to what upb does:

- Fields are written in field-number order (upb's order; OmenSignal has no maps or unknown
  fields, so deterministic=True changes nothing).
- proto3 implicit presence: a string "", a number 0, an enum 0 and a bool False are omitted. A
  double is omitted only when its bits are all zero: -0.0 is written (its sign bit is set), and
  NaN is written with its own bits (sign and payload included).
- confidence_interval (13), geographic (17), temporal (18), impact_hints (21), observed_at (24)
  and generated_at (25) are always present, so an empty one is written as its tag and length 0;
  temporal.resolution_date is written only when resolution_date_ns is not None.
- Varints: an enum (int32) or an int64 that is negative takes ten bytes (two's complement,
  sign-extended to 64 bits). Doubles are fixed64 little-endian.
- A Timestamp is divmod(ns, 10**9): seconds (int64, field 1) and nanos in [0, 10**9) (int32,
  field 2), as proto_codec.timestamp() computes it; a negative time has negative seconds.
- Values the reference rejects raise the same exception types: a str that is not encodable as
  UTF-8 (a lone surrogate) raises UnicodeEncodeError, an enum outside int32, seconds outside
  int64 or a ledger_sequence outside uint64 raise ValueError, a non-number where a number
  belongs raises TypeError (a huge int where a double belongs: OverflowError).
- As in the reference, whose message constructor treats a None keyword as "not set", None in a
  string, double, bool, repeated-string or ledger_sequence field means the field is omitted
  (enums and timestamps go through int() and divmod() there, so None raises TypeError).

Supported values are those the domain declares (str, float or int, bool, IntEnum or int, tuples
of these); where the reference also accepts something else (bytes for a string, any iterable of
messages), this module raises TypeError instead.

encode_emitted_result() requires `signal_bytes` to be an encode_signal() output of a signal
with ledger_partition "" and ledger_sequence 0 (as the ledger stores it): fields 26 and 27 are
appended, not merged.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Iterable
from typing import Any

from omen.domain.signals import OmenSignal

_NS = 1_000_000_000
_U64 = 1 << 64
_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_MAX_FIELD_NUMBER = (1 << 29) - 1
_OUTCOME_EMITTED = 1
_pack_double = struct.Struct("<d").pack


# --- Values ----------------------------------------------------------------------------------


def _varint(out: bytearray, value: int) -> None:
    """Append an unsigned varint (value in [0, 2**64))."""
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _tag(out: bytearray, field: int, wire_type: int) -> None:
    _varint(out, (field << 3) | wire_type)


def _real(value: Any) -> float:
    """`value` as a C double, as PyFloat_AsDouble converts it (what upb uses): a float, or an
    object with __float__ or __index__; TypeError otherwise (never parsing a string)."""
    if isinstance(value, float):
        return value
    kind = type(value)
    if not (hasattr(kind, "__float__") or hasattr(kind, "__index__")):
        raise TypeError(f"must be real number, not {kind.__name__}")
    return float(value)


def _string(out: bytearray, field: int, value: Any) -> None:
    """A string field: omitted when "" (or None); UnicodeEncodeError for a lone surrogate."""
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    if value:
        data = value.encode("utf-8")
        _tag(out, field, 2)
        _varint(out, len(data))
        out += data


def _strings(out: bytearray, field: int, values: Any) -> None:
    """A repeated string field: each entry, "" included (repeated fields have no defaults)."""
    if values is None:
        return
    for value in values:
        if not isinstance(value, str):
            raise TypeError(f"expected str, got {type(value).__name__}")
        data = value.encode("utf-8")
        _tag(out, field, 2)
        _varint(out, len(data))
        out += data


def _double(out: bytearray, field: int, value: Any) -> None:
    """A double field: omitted only when its bits are all zero (+0.0); -0.0 and NaN are kept."""
    if value is None:
        return
    data = _pack_double(_real(value))
    if data != b"\x00\x00\x00\x00\x00\x00\x00\x00":
        _tag(out, field, 1)
        out += data


def _bool(out: bytearray, field: int, value: Any) -> None:
    if value is None:
        return
    if operator.index(value):
        _tag(out, field, 0)
        out.append(1)


def _enum(out: bytearray, field: int, value: Any) -> None:
    """An enum field from int(value) (proto_codec.enum_number): int32, negatives in 10 bytes."""
    number = int(value)
    if not _INT32_MIN <= number <= _INT32_MAX:
        raise ValueError(f"Value out of range: {number}")
    if number:
        _tag(out, field, 0)
        _varint(out, number % _U64)


def _to_uint64(value: Any) -> int:
    """operator.index(value) in [0, 2**64); TypeError for a bool, as upb."""
    if isinstance(value, bool):
        raise TypeError("Expected an int, got a boolean.")
    number = operator.index(value)
    if not 0 <= number < _U64:
        raise ValueError(f"Value out of range: {number}")
    return number


def _uint64(out: bytearray, field: int, value: Any) -> None:
    if value is None:
        return
    number = _to_uint64(value)
    if number:
        _tag(out, field, 0)
        _varint(out, number)


def _message(out: bytearray, field: int, body: bytearray) -> None:
    """A submessage field, written even when `body` is empty (its presence is explicit)."""
    _tag(out, field, 2)
    _varint(out, len(body))
    out += body


def _timestamp(out: bytearray, field: int, ns: Any) -> None:
    """A google.protobuf.Timestamp of `ns` nanoseconds since the epoch (proto_codec.timestamp)."""
    seconds, nanos = divmod(ns, _NS)
    if not isinstance(seconds, int) or not isinstance(nanos, int):
        raise TypeError(f"'{type(seconds).__name__}' object cannot be interpreted as an integer")
    if not _INT64_MIN <= seconds <= _INT64_MAX:
        raise ValueError(f"Value out of range: {seconds}")
    body = bytearray()
    if seconds:
        _tag(body, 1, 0)
        _varint(body, seconds % _U64)
    if nanos:
        _tag(body, 2, 0)
        _varint(body, nanos)
    _message(out, field, body)


# --- Messages --------------------------------------------------------------------------------


def encode_signal(signal: OmenSignal) -> bytes:
    """`signal_to_proto(signal).SerializeToString(deterministic=True)`, byte for byte."""
    s = signal
    out = bytearray()
    _string(out, 1, s.signal_id)
    _string(out, 2, s.input_event_hash)
    _string(out, 3, s.source_event_id)
    _string(out, 4, s.source)
    _string(out, 5, s.market_id)
    _string(out, 6, s.title)
    _string(out, 7, s.description)
    _double(out, 8, s.probability)
    _bool(out, 9, s.probability_is_estimate)
    _double(out, 10, s.confidence_score)
    _enum(out, 11, s.confidence_level)
    for f in s.confidence_factors:  # ConfidenceFactor
        body = bytearray()
        _string(body, 1, f.name)
        _double(body, 2, f.value)
        _double(body, 3, f.weight)
        _message(out, 12, body)
    body = bytearray()  # ConfidenceInterval
    _double(body, 1, s.confidence_interval.lower)
    _double(body, 2, s.confidence_interval.upper)
    _message(out, 13, body)
    _enum(out, 14, s.category)
    _enum(out, 15, s.signal_type)
    _enum(out, 16, s.status)
    g = s.geographic  # GeographicContext
    body = bytearray()
    _strings(body, 1, g.regions)
    _strings(body, 2, g.chokepoints)
    for c in g.coordinates:  # Location
        location = bytearray()
        _double(location, 1, c.lat)
        _double(location, 2, c.lon)
        _string(location, 3, c.name)
        _string(location, 4, c.region_code)
        _message(body, 3, location)
    _message(out, 17, body)
    t = s.temporal  # TemporalContext
    body = bytearray()
    _enum(body, 1, t.horizon)
    if t.resolution_date_ns is not None:
        _timestamp(body, 2, t.resolution_date_ns)
    _double(body, 3, t.days_to_resolution)
    _double(body, 4, t.market_age_days)
    _message(out, 18, body)
    for e in s.evidence:  # Evidence
        body = bytearray()
        _string(body, 1, e.kind)
        _string(body, 2, e.description)
        _double(body, 3, e.value)
        _string(body, 4, e.url)
        _message(out, 19, body)
    for r in s.validation_results:  # ValidationResult
        body = bytearray()
        _string(body, 1, r.rule_name)
        _string(body, 2, r.rule_version)
        _enum(body, 3, r.status)
        _double(body, 4, r.score)
        _string(body, 5, r.reason)
        _message(out, 20, body)
    h = s.impact_hints  # ImpactHints
    body = bytearray()
    _strings(body, 1, h.domains)
    _enum(body, 2, h.direction)
    _strings(body, 3, h.keywords)
    _string(body, 4, h.routing_key)
    _message(out, 21, body)
    _string(out, 22, s.ruleset_version)
    _string(out, 23, s.trace_id)
    _timestamp(out, 24, s.observed_at_ns)
    _timestamp(out, 25, s.generated_at_ns)
    _string(out, 26, s.ledger_partition)
    _uint64(out, 27, s.ledger_sequence)
    return bytes(out)


def _partition(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    return value


def encode_emitted_result(
    correlation_id: str,
    signal_id: str,
    signal_bytes: bytes | None,
    partition: str,
    sequence: int,
) -> bytes:
    """The serialised omen.v1.StreamResult reporting an EMITTED signal: correlation_id (1),
    outcome EMITTED (2), signal_id (3), ledger_position (5, only when `partition` is not ""),
    and the signal (9): `signal_bytes` followed by ledger_partition (26) and ledger_sequence
    (27). `signal_bytes` must be encode_signal() of the signal without its ledger position;
    None leaves the signal out (RESULT_VIEW_BASIC)."""
    if signal_bytes is not None and not isinstance(signal_bytes, bytes):
        raise TypeError(f"expected bytes, got {type(signal_bytes).__name__}")
    partition = _partition(partition)
    sequence = _to_uint64(sequence)
    position = bytearray()
    _string(position, 26, partition)
    _uint64(position, 27, sequence)
    out = bytearray()
    _string(out, 1, correlation_id)
    _tag(out, 2, 0)
    out.append(_OUTCOME_EMITTED)
    _string(out, 3, signal_id)
    if partition:
        ledger_position = bytearray()
        _string(ledger_position, 1, partition)
        _uint64(ledger_position, 2, sequence)
        _message(out, 5, ledger_position)
    if signal_bytes is None:
        return bytes(out)
    _tag(out, 9, 2)
    _varint(out, len(signal_bytes) + len(position))
    out += signal_bytes
    out += position
    return bytes(out)


def encode_delimited(field_number: int, payload: bytes) -> bytes:
    """`payload` as a length-delimited field: tag (wire type 2), varint length, payload."""
    field = operator.index(field_number)
    if not 1 <= field <= _MAX_FIELD_NUMBER:
        raise ValueError(f"field number out of range: {field}")
    if not isinstance(payload, bytes):
        raise TypeError(f"expected bytes, got {type(payload).__name__}")
    out = bytearray()
    _tag(out, field, 2)
    _varint(out, len(payload))
    out += payload
    return bytes(out)


def encode_results(results: Iterable[bytes]) -> bytes:
    """One omen.v1.ProcessStreamResponse: encode_delimited(1, r) of each serialised
    StreamResult `r`, concatenated."""
    out = bytearray()
    for result in results:
        if not isinstance(result, bytes):
            raise TypeError(f"expected bytes, got {type(result).__name__}")
        out.append(0x0A)  # field 1, wire type 2
        _varint(out, len(result))
        out += result
    return bytes(out)
