"""Pure-Python twin of signalwire.pyx: the protobuf wire encoding of a domain OmenSignal and of
the stream's EMITTED results, written directly, without building protobuf messages; and the
decoding of a serialised omen.v1.OmenSignal straight into the domain OmenSignal (decode_signal,
documented in its section below).

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
from collections.abc import Callable, Iterable
from typing import Any

from omen._native.eventwire_py import MAX_DEPTH, _Malformed
from omen._native.eventwire_py import _enter as _read_enter
from omen._native.eventwire_py import _field as _read_field
from omen._native.eventwire_py import _fixed64 as _read_double
from omen._native.eventwire_py import _int32 as _to_int32
from omen._native.eventwire_py import _length as _read_length
from omen._native.eventwire_py import _skip as _read_skip
from omen._native.eventwire_py import _timestamp as _read_timestamp
from omen._native.eventwire_py import _varint as _read_varint
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
    Outcome,
    ProcessResult,
    RuleStatus,
    SignalCategory,
    SignalStatus,
    SignalType,
    TemporalContext,
    TimeHorizon,
    ValidationResult,
)

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


def _validation_result(out: bytearray, field: int, r: ValidationResult) -> None:
    """One omen.v1.ValidationResult submessage (in a signal: field 20; in a StreamResult: 6)."""
    body = bytearray()
    _string(body, 1, r.rule_name)
    _string(body, 2, r.rule_version)
    _enum(body, 3, r.status)
    _double(body, 4, r.score)
    _string(body, 5, r.reason)
    _message(out, field, body)


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
        _validation_result(out, 20, r)
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


_RECORD_HEAD = struct.Struct("<32s16sdH")
_LOWER_HEX = frozenset("0123456789abcdef")


def encode_signal_record(signal: OmenSignal, probability: float, market_key: str) -> bytes | None:
    """The ledger's SIGNAL record body for `signal`: records.encode_signal of its event hash,
    id, `probability`, `market_key` and encode_signal(signal) (the encoded signal is its tail,
    from records.signal_offset(body)). For the form the pipeline gives them: an event hash of 64
    lowercase hex digits, an id of "sig-" and 32, a float probability and a str market key of
    at most 65,535 UTF-8 bytes; anything else returns None, and the caller uses
    records.encode_signal (the reference, which also says what is wrong)."""
    event_hash, signal_id = signal.input_event_hash, signal.signal_id
    if not (
        type(event_hash) is str
        and len(event_hash) == 64
        and type(signal_id) is str
        and len(signal_id) == 36
        and signal_id.startswith("sig-")
        and _LOWER_HEX.issuperset(event_hash)
        and _LOWER_HEX.issuperset(signal_id[4:])
        and type(probability) is float
        and type(market_key) is str
    ):
        return None
    key = market_key.encode("utf-8")
    if len(key) > 0xFFFF:
        return None
    encoded = encode_signal(signal)
    head = _RECORD_HEAD.pack(
        bytes.fromhex(event_hash), bytes.fromhex(signal_id[4:]), probability, len(key)
    )
    return head + key + encoded


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


def _stream_result(
    correlation_id: str,
    result: ProcessResult,
    take: Callable[[OmenSignal], bytes] | None,
    left_out: list[str] | None,
    records: dict[str, bytes] | None,
) -> bytes:
    """The serialised StreamResult of one ProcessResult (see encode_stream_results)."""
    outcome, signal = result.outcome, result.signal
    if outcome is Outcome.EMITTED and signal is not None:
        data = None
        if take is not None:
            body = records.get(signal.signal_id) if records is not None else None
            if type(body) is bytes:  # a SIGNAL record: its signal is its tail
                del records[signal.signal_id]  # type: ignore[union-attr]
                head = _RECORD_HEAD.size
                offset = head + int.from_bytes(body[head - 2 : head], "little")
                if len(body) < head or offset > len(body):
                    raise ValueError(
                        f"not a SIGNAL record ({len(body)} bytes) for {signal.signal_id}"
                    )
                data = body[offset:]
            else:
                data = take(signal)
        elif left_out is not None:
            left_out.append(signal.signal_id)
        return encode_emitted_result(
            correlation_id, signal.signal_id, data, signal.ledger_partition, signal.ledger_sequence
        )
    out = bytearray()
    _string(out, 1, correlation_id)
    _enum(out, 2, outcome)
    if outcome is Outcome.DUPLICATE:
        _string(out, 3, result.duplicate_of)
        _string(out, 4, result.duplicate_of)
        return bytes(out)
    for r in result.validation_results:
        _validation_result(out, 6, r)
    _string(out, 7, result.reason)
    return bytes(out)


def encode_stream_results(
    correlation_ids: Iterable[str],
    items: Iterable[ProcessResult | bytes],
    take: Callable[[OmenSignal], bytes] | None,
    left_out: list[str] | None,
    outcomes: dict[Any, int],
    records: dict[str, bytes] | None = None,
) -> bytes:
    """One omen.v1.ProcessStreamResponse (its results field, repeated), one result per entry of
    `items` with the correlation id at the same index: an entry that is bytes is a serialised
    StreamResult written as it is (its correlation id unused); a domain ProcessResult is
    written as convert.fill_stream_result describes it (a DUPLICATE: its signal_id and
    duplicate_of both the original's id; REJECTED: the rule results and the reason), except an
    EMITTED signal: the bytes `take(signal)` returns (encode_signal() of it without its ledger
    position, see encode_emitted_result), or when `take` is None no signal
    (RESULT_VIEW_BASIC) and its id appended to `left_out` (unless None). Each ProcessResult's
    outcome is counted in the dict `outcomes`. `records` (a dict, or None): SIGNAL record bodies
    by signal id; a signal found there is taken out and written from its record's tail
    (records.signal_offset), without calling `take`.

    One pass and one buffer for a message's results: a stream answers every message this way,
    so a result costs no bytes object of its own, nor a Python call."""
    ids, entries = list(correlation_ids), list(items)
    if len(ids) != len(entries):
        raise ValueError(f"{len(ids)} correlation ids for {len(entries)} results")
    if not isinstance(outcomes, dict):
        raise TypeError(f"outcomes: expected a dict, got {type(outcomes).__name__}")
    if records is not None and type(records) is not dict:
        raise TypeError(f"records: expected a dict, got {type(records).__name__}")
    out = bytearray()
    for correlation_id, item in zip(ids, entries, strict=True):
        if isinstance(item, bytes):
            data = item
        else:
            data = _stream_result(correlation_id, item, take, left_out, records)
            outcome = item.outcome
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        out.append(0x0A)  # field 1, wire type 2
        _varint(out, len(data))
        out += data
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


# --- Decoding --------------------------------------------------------------------------------
#
# decode_signal(data) is `signal_from_proto(m)` after `m = omen.v1.OmenSignal();
# m.ParseFromString(data)` (omen.adapters.proto_codec), without the message: it reads the wire
# itself, with eventwire_py's readers (the same limits and wording), and builds the domain
# objects. The contract, checked against upb by tests/unit/test_signal_decode_parity.py:
#
# - For every input upb parses, the result equals the reference's, with the same types: IntEnum
#   members, tuples, omen.domain.events.Location for coordinates, floats, ints for the
#   timestamps (seconds * 10**9 + nanos, as proto_codec._ns computes them, 0 when absent) and
#   resolution_date_ns None when temporal.resolution_date is absent (an empty one is 0).
# - Wire semantics as upb applies them: fields in any order; the last occurrence of a scalar
#   wins; repeated fields append; a singular submessage (confidence_interval, geographic,
#   temporal, impact_hints, the timestamps) that occurs more than once is merged; int32 enums
#   and nanos keep the low 32 bits (signed), int64 seconds the low 64 (signed), a bool is any
#   non-zero varint; a known field arriving with another wire type is an unknown field; unknown
#   fields of every wire type are skipped (groups included, nested up to upb's depth limit of 100
#   levels counting the signal itself as level 0); every occurrence of a string must be valid
#   UTF-8, also one a later occurrence overwrites.
# - Errors, all ValueError: SignalDecodeError ("malformed OmenSignal: <what> at byte <offset>")
#   where upb's ParseFromString rejects the bytes (truncated tag, varint, length or fixed value,
#   a length beyond its message, field number 0, wire type 6 or 7, a stray or mismatched
#   end-group tag, an unterminated or too deeply nested group, a varint over 10 bytes, a tag or
#   length over 5 bytes, invalid UTF-8 in a string); otherwise the ValueError signal_from_proto
#   raises for an enum number the domain's IntEnum lacks (0 included), from the same enum in the
#   same order (confidence_level, category, signal_type, status, temporal.horizon, each
#   validation result's status, impact_hints.direction), with the same message.
# - `data` is any bytes-like object (TypeError otherwise).


class SignalDecodeError(ValueError):
    """The bytes are not a serialised omen.v1.OmenSignal (upb's ParseFromString rejects them)."""


_VARINT, _FIXED64, _LEN = 0, 1, 2

# Tags (field number << 3 | wire type) of omen.v1.OmenSignal's fields.
_SIGNAL_STRINGS = {  # tag -> the name SignalDecodeError gives the field
    1 << 3 | _LEN: "signal_id",
    2 << 3 | _LEN: "input_event_hash",
    3 << 3 | _LEN: "source_event_id",
    4 << 3 | _LEN: "source",
    5 << 3 | _LEN: "market_id",
    6 << 3 | _LEN: "title",
    7 << 3 | _LEN: "description",
    22 << 3 | _LEN: "ruleset_version",
    23 << 3 | _LEN: "trace_id",
    26 << 3 | _LEN: "ledger_partition",
}
_PROBABILITY = 8 << 3 | _FIXED64
_ESTIMATE = 9 << 3 | _VARINT
_CONFIDENCE_SCORE = 10 << 3 | _FIXED64
_ENUMS = {  # tag -> the enum field's index in _Signal.enums
    11 << 3 | _VARINT: 0,  # confidence_level
    14 << 3 | _VARINT: 1,  # category
    15 << 3 | _VARINT: 2,  # signal_type
    16 << 3 | _VARINT: 3,  # status
}
_CONFIDENCE_FACTORS = 12 << 3 | _LEN
_CONFIDENCE_INTERVAL = 13 << 3 | _LEN
_GEOGRAPHIC = 17 << 3 | _LEN
_TEMPORAL = 18 << 3 | _LEN
_EVIDENCE = 19 << 3 | _LEN
_VALIDATION_RESULTS = 20 << 3 | _LEN
_IMPACT_HINTS = 21 << 3 | _LEN
_OBSERVED_AT = 24 << 3 | _LEN
_GENERATED_AT = 25 << 3 | _LEN
_LEDGER_SEQUENCE = 27 << 3 | _VARINT
_SUBMESSAGES = frozenset(
    (
        _CONFIDENCE_FACTORS,
        _CONFIDENCE_INTERVAL,
        _GEOGRAPHIC,
        _TEMPORAL,
        _EVIDENCE,
        _VALIDATION_RESULTS,
        _IMPACT_HINTS,
        _OBSERVED_AT,
        _GENERATED_AT,
    )
)
# The submessages' fields: LEN_n, F64_n (a double) and VARINT_n for field n.
_LEN_1, _LEN_2, _LEN_3, _LEN_4, _LEN_5 = (n << 3 | _LEN for n in range(1, 6))
_F64_1, _F64_2, _F64_3, _F64_4 = (n << 3 | _FIXED64 for n in range(1, 5))
_VARINT_1, _VARINT_2, _VARINT_3 = (n << 3 | _VARINT for n in range(1, 4))


class _Signal:
    """omen.v1.OmenSignal's fields as parsed so far (merged over occurrences)."""

    __slots__ = (
        "chokepoints",
        "confidence_score",
        "coordinates",
        "days_to_resolution",
        "direction",
        "domains",
        "enums",
        "estimate",
        "evidence",
        "factors",
        "generated",
        "horizon",
        "interval",
        "keywords",
        "market_age_days",
        "observed",
        "probability",
        "regions",
        "resolution",
        "results",
        "routing_key",
        "sequence",
        "strings",
    )

    def __init__(self) -> None:
        self.strings: dict[int, str] = dict.fromkeys(_SIGNAL_STRINGS, "")
        self.probability = 0.0
        self.estimate = False
        self.confidence_score = 0.0
        self.enums = [0, 0, 0, 0]  # confidence_level, category, signal_type, status
        self.factors: list[ConfidenceFactor] = []
        self.interval = [0.0, 0.0]  # lower, upper
        self.regions: list[str] = []
        self.chokepoints: list[str] = []
        self.coordinates: list[Location] = []
        self.horizon = 0
        self.resolution: list[int] | None = None  # [seconds, nanos] once the field occurs
        self.days_to_resolution = 0.0
        self.market_age_days = 0.0
        self.evidence: list[Evidence] = []
        # Each ValidationResult's fields, its status still a number: signal_from_proto converts
        # it, and may raise, after the parse.
        self.results: list[tuple[str, str, int, float, str]] = []
        self.domains: list[str] = []
        self.direction = 0
        self.keywords: list[str] = []
        self.routing_key = ""
        self.observed = [0, 0]  # seconds, nanos
        self.generated = [0, 0]
        self.sequence = 0


# Every message loop below reads a field's tag as `key`: a one-byte tag (fields 1-15) inline,
# any other through _key() (eventwire_py's checks: field number 0 or an end-group tag is an
# error). Each known tag is handled; anything else, a known field with another wire type
# included, is skipped as an unknown field.


def _key(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """The next field's key (number << 3 | wire type) and the offset after it."""
    key = buf[pos]
    if 8 <= key < 0x80 and key & 7 != 4:  # one byte: field 1-15, not an end-group
        return key, pos + 1
    number, wire_type, pos = _read_field(buf, pos, end)
    return number << 3 | wire_type, pos


def _read_string(buf: bytes, pos: int, end: int, name: str) -> tuple[str, int]:
    """The string field whose length is at `pos`, and the offset after it."""
    size = buf[pos] if pos < end else 0x80
    if size < 0x80 and size < end - pos:  # a one-byte length that fits
        pos += 1
    else:
        size, pos = _read_length(buf, pos, end)
    stop = pos + size
    try:
        return buf[pos:stop].decode(), stop
    except UnicodeDecodeError as exc:
        raise _Malformed(f"invalid UTF-8 in {name}", pos + exc.start) from None


def _factor(buf: bytes, pos: int, end: int, depth: int) -> ConfidenceFactor:
    name = ""
    value = weight = 0.0
    while pos < end:
        at = pos
        key, pos = _key(buf, pos, end)
        if key == _LEN_1:
            name, pos = _read_string(buf, pos, end, "confidence_factors.name")
        elif key == _F64_2:
            value = _read_double(buf, pos, end)
            pos += 8
        elif key == _F64_3:
            weight = _read_double(buf, pos, end)
            pos += 8
        else:
            pos = _read_skip(buf, pos, end, key, at, depth)
    return ConfidenceFactor(name, value, weight)


def _interval(buf: bytes, pos: int, end: int, depth: int, values: list[float]) -> None:
    while pos < end:
        at = pos
        key, pos = _key(buf, pos, end)
        if key == _F64_1:
            values[0] = _read_double(buf, pos, end)
            pos += 8
        elif key == _F64_2:
            values[1] = _read_double(buf, pos, end)
            pos += 8
        else:
            pos = _read_skip(buf, pos, end, key, at, depth)


def _location(buf: bytes, pos: int, end: int, depth: int) -> Location:
    lat = lon = 0.0
    name = region_code = ""
    while pos < end:
        at = pos
        key, pos = _key(buf, pos, end)
        if key == _F64_1:
            lat = _read_double(buf, pos, end)
            pos += 8
        elif key == _F64_2:
            lon = _read_double(buf, pos, end)
            pos += 8
        elif key == _LEN_3:
            name, pos = _read_string(buf, pos, end, "geographic.coordinates.name")
        elif key == _LEN_4:
            region_code, pos = _read_string(buf, pos, end, "geographic.coordinates.region_code")
        else:
            pos = _read_skip(buf, pos, end, key, at, depth)
    return Location(lat, lon, name, region_code)


def _geographic(buf: bytes, pos: int, end: int, depth: int, s: _Signal) -> None:
    while pos < end:
        at = pos
        key, pos = _key(buf, pos, end)
        if key == _LEN_1:
            text, pos = _read_string(buf, pos, end, "geographic.regions")
            s.regions.append(text)
        elif key == _LEN_2:
            text, pos = _read_string(buf, pos, end, "geographic.chokepoints")
            s.chokepoints.append(text)
        elif key == _LEN_3:
            size, pos = _read_length(buf, pos, end)
            s.coordinates.append(_location(buf, pos, pos + size, _read_enter(depth, at)))
            pos += size
        else:
            pos = _read_skip(buf, pos, end, key, at, depth)


def _temporal(buf: bytes, pos: int, end: int, depth: int, s: _Signal) -> None:
    while pos < end:
        at = pos
        key, pos = _key(buf, pos, end)
        if key == _VARINT_1:
            value, pos = _read_varint(buf, pos, end)
            s.horizon = _to_int32(value)
        elif key == _LEN_2:
            size, pos = _read_length(buf, pos, end)
            if s.resolution is None:
                s.resolution = [0, 0]
            _read_timestamp(buf, pos, pos + size, _read_enter(depth, at), s.resolution)
            pos += size
        elif key == _F64_3:
            s.days_to_resolution = _read_double(buf, pos, end)
            pos += 8
        elif key == _F64_4:
            s.market_age_days = _read_double(buf, pos, end)
            pos += 8
        else:
            pos = _read_skip(buf, pos, end, key, at, depth)


def _evidence(buf: bytes, pos: int, end: int, depth: int) -> Evidence:
    kind = description = url = ""
    value = 0.0
    while pos < end:
        at = pos
        key, pos = _key(buf, pos, end)
        if key == _LEN_1:
            kind, pos = _read_string(buf, pos, end, "evidence.kind")
        elif key == _LEN_2:
            description, pos = _read_string(buf, pos, end, "evidence.description")
        elif key == _F64_3:
            value = _read_double(buf, pos, end)
            pos += 8
        elif key == _LEN_4:
            url, pos = _read_string(buf, pos, end, "evidence.url")
        else:
            pos = _read_skip(buf, pos, end, key, at, depth)
    return Evidence(kind, description, value, url)


def _result(buf: bytes, pos: int, end: int, depth: int) -> tuple[str, str, int, float, str]:
    rule_name = rule_version = reason = ""
    status = 0
    score = 0.0
    while pos < end:
        at = pos
        key, pos = _key(buf, pos, end)
        if key == _LEN_1:
            rule_name, pos = _read_string(buf, pos, end, "validation_results.rule_name")
        elif key == _LEN_2:
            rule_version, pos = _read_string(buf, pos, end, "validation_results.rule_version")
        elif key == _VARINT_3:
            value, pos = _read_varint(buf, pos, end)
            status = _to_int32(value)
        elif key == _F64_4:
            score = _read_double(buf, pos, end)
            pos += 8
        elif key == _LEN_5:
            reason, pos = _read_string(buf, pos, end, "validation_results.reason")
        else:
            pos = _read_skip(buf, pos, end, key, at, depth)
    return rule_name, rule_version, status, score, reason


def _hints(buf: bytes, pos: int, end: int, depth: int, s: _Signal) -> None:
    while pos < end:
        at = pos
        key, pos = _key(buf, pos, end)
        if key == _LEN_1:
            text, pos = _read_string(buf, pos, end, "impact_hints.domains")
            s.domains.append(text)
        elif key == _VARINT_2:
            value, pos = _read_varint(buf, pos, end)
            s.direction = _to_int32(value)
        elif key == _LEN_3:
            text, pos = _read_string(buf, pos, end, "impact_hints.keywords")
            s.keywords.append(text)
        elif key == _LEN_4:
            s.routing_key, pos = _read_string(buf, pos, end, "impact_hints.routing_key")
        else:
            pos = _read_skip(buf, pos, end, key, at, depth)


def _submessage(buf: bytes, key: int, pos: int, end: int, depth: int, s: _Signal) -> None:
    """The submessage field `key` of the signal in buf[pos:end], merged into `s` (`depth`: the
    levels left inside it)."""
    if key == _CONFIDENCE_FACTORS:
        s.factors.append(_factor(buf, pos, end, depth))
    elif key == _CONFIDENCE_INTERVAL:
        _interval(buf, pos, end, depth, s.interval)
    elif key == _GEOGRAPHIC:
        _geographic(buf, pos, end, depth, s)
    elif key == _TEMPORAL:
        _temporal(buf, pos, end, depth, s)
    elif key == _EVIDENCE:
        s.evidence.append(_evidence(buf, pos, end, depth))
    elif key == _VALIDATION_RESULTS:
        s.results.append(_result(buf, pos, end, depth))
    elif key == _IMPACT_HINTS:
        _hints(buf, pos, end, depth, s)
    else:
        _read_timestamp(buf, pos, end, depth, s.observed if key == _OBSERVED_AT else s.generated)


def _signal_fields(buf: bytes, s: _Signal) -> None:
    """Parse all of `buf`, an OmenSignal (level 0: MAX_DEPTH levels left), into `s`."""
    pos, end = 0, len(buf)
    depth = MAX_DEPTH
    strings = s.strings
    while pos < end:
        at = pos
        key, pos = _key(buf, pos, end)
        name = _SIGNAL_STRINGS.get(key)
        if name is not None:
            strings[key], pos = _read_string(buf, pos, end, name)
        elif key in _SUBMESSAGES:
            size, pos = _read_length(buf, pos, end)
            _submessage(buf, key, pos, pos + size, _read_enter(depth, at), s)
            pos += size
        elif key == _PROBABILITY:
            s.probability = _read_double(buf, pos, end)
            pos += 8
        elif key == _CONFIDENCE_SCORE:
            s.confidence_score = _read_double(buf, pos, end)
            pos += 8
        elif key in _ENUMS:
            value, pos = _read_varint(buf, pos, end)
            s.enums[_ENUMS[key]] = _to_int32(value)
        elif key == _ESTIMATE:
            value, pos = _read_varint(buf, pos, end)
            s.estimate = value != 0
        elif key == _LEDGER_SEQUENCE:
            s.sequence, pos = _read_varint(buf, pos, end)
        else:
            pos = _read_skip(buf, pos, end, key, at, depth)


def _ns(time: list[int]) -> int:
    """seconds * 10**9 + nanos, as proto_codec._ns computes it."""
    return time[0] * _NS + time[1]


def decode_signal(data: bytes) -> OmenSignal:
    """The domain OmenSignal of a serialised omen.v1.OmenSignal: equal to
    `signal_from_proto(m)` after `m.ParseFromString(data)` (omen.adapters.proto_codec) for every
    input upb parses, with the same types.

    Raises ValueError for every other input: SignalDecodeError (a ValueError subclass,
    "malformed OmenSignal: <what> at byte <offset>") where upb rejects the bytes, or the
    ValueError signal_from_proto raises for an enum number the domain's IntEnum lacks. TypeError
    when `data` is not bytes-like."""
    buf = data if type(data) is bytes else bytes(memoryview(data))
    s = _Signal()
    try:
        _signal_fields(buf, s)
    except _Malformed as exc:
        raise SignalDecodeError(f"malformed OmenSignal: {exc.what} at byte {exc.offset}") from None
    strings = s.strings
    level, category, signal_type, status = s.enums
    # Built as signal_from_proto builds it: the same enum conversions, in the same order.
    return OmenSignal(
        signal_id=strings[1 << 3 | _LEN],
        input_event_hash=strings[2 << 3 | _LEN],
        source_event_id=strings[3 << 3 | _LEN],
        source=strings[4 << 3 | _LEN],
        market_id=strings[5 << 3 | _LEN],
        title=strings[6 << 3 | _LEN],
        description=strings[7 << 3 | _LEN],
        probability=s.probability,
        probability_is_estimate=s.estimate,
        confidence_score=s.confidence_score,
        confidence_level=ConfidenceLevel(level),
        confidence_factors=tuple(s.factors),
        confidence_interval=ConfidenceInterval(s.interval[0], s.interval[1]),
        category=SignalCategory(category),
        signal_type=SignalType(signal_type),
        status=SignalStatus(status),
        geographic=GeographicContext(tuple(s.regions), tuple(s.chokepoints), tuple(s.coordinates)),
        temporal=TemporalContext(
            TimeHorizon(s.horizon),
            _ns(s.resolution) if s.resolution is not None else None,
            s.days_to_resolution,
            s.market_age_days,
        ),
        evidence=tuple(s.evidence),
        validation_results=tuple(
            ValidationResult(name, version, RuleStatus(number), score, reason)
            for name, version, number, score, reason in s.results
        ),
        impact_hints=ImpactHints(
            tuple(s.domains), ImpactDirection(s.direction), tuple(s.keywords), s.routing_key
        ),
        ruleset_version=strings[22 << 3 | _LEN],
        trace_id=strings[23 << 3 | _LEN],
        observed_at_ns=_ns(s.observed),
        generated_at_ns=_ns(s.generated),
        ledger_partition=strings[26 << 3 | _LEN],
        ledger_sequence=s.sequence,
    )
