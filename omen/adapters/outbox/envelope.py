"""The JSON a publisher sends for one signal, and back (dead letters are replayed from it).

One object per signal::

    {"lsn": 42, "partition": "2026-11-18", "sequence": 7, "signal": {...}}

`signal` is the omen.v1.OmenSignal in protobuf's JSON mapping with the .proto field names
(`signal_id`, `confidence_score`, ...; enums by name, timestamps RFC 3339, 64-bit integers as
strings, fields at their default value left out). `lsn` orders signals across partitions;
(`partition`, `sequence`) is the ledger position. The encoding is compact (no spaces) and
deterministic for a given signal, so a webhook signature covers exactly these bytes.

`signal_json` builds that object straight from the domain OmenSignal, the hot path of every
publisher: the feed has already decoded the ledger's bytes into one, and going back through a
message (signal_to_proto ~30 us building upb messages, then `message_json` ~65 us walking them)
cost ~95 us a signal against ~8 us here, and held Kafka delivery to a few thousand signals a
second (json encoding, ~26 us of the rest, is mostly float repr). It is written by hand for
omen.v1.OmenSignal, so what holds it equal to protobuf is tests/unit/test_outbox_envelope.py:
signal_json(s) == MessageToDict(signal_to_proto(s), preserving_proto_field_name=True) with the
same key order (hence the same bytes) for pipeline signals and for generated ones covering
every field and the edges of each type; a field added to the .proto fails it until it is added
to `signal_json` (and the tests' generator). Enum names come from the generated descriptors.

`message_json(m)` produces exactly what MessageToDict(m, preserving_proto_field_name=True) does
for any message (a test holds them equal) at a fraction of the cost: json_format re-decides
every field's conversion on every call; here each field's converter is chosen once per message
type.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from datetime import date, timedelta
from math import copysign
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.internal import type_checkers
from google.protobuf.message import Message

from omen._proto import signal_pb2
from omen.adapters.proto_codec import signal_from_proto
from omen.application.ports import Delivery
from omen.domain.signals import OmenSignal


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "lsn": delivery.lsn,
        "partition": delivery.partition,
        "sequence": delivery.sequence,
        "signal": signal_json(delivery.signal),
    }


class _EnumNames(dict[int, Any]):
    """Number -> name of one enum's values; a number without a name is written as the number
    (proto3 enums are open), found by `__missing__` only when the lookup misses."""

    def __missing__(self, number: int) -> int:
        return _unknown_enum(number)


def _enum_names(message: type[Message], field: str) -> _EnumNames:
    """The names of a field's enum, from the generated descriptor."""
    enum_type = message.DESCRIPTOR.fields_by_name[field].enum_type
    return _EnumNames((value.number, value.name) for value in enum_type.values)


_LEVEL = _enum_names(signal_pb2.OmenSignal, "confidence_level")
_CATEGORY = _enum_names(signal_pb2.OmenSignal, "category")
_TYPE = _enum_names(signal_pb2.OmenSignal, "signal_type")
_STATUS = _enum_names(signal_pb2.OmenSignal, "status")
_HORIZON = _enum_names(signal_pb2.TemporalContext, "horizon")
_DIRECTION = _enum_names(signal_pb2.ImpactHints, "direction")
_RULE_STATUS = _enum_names(signal_pb2.ValidationResult, "status")
_INT32 = 2**31
_UINT64 = 2**64


def _unknown_enum(number: int) -> int:
    """An enum number with no name: protobuf's JSON writes the number (open enums)."""
    number = int(number)
    if not -_INT32 <= number < _INT32:
        raise ValueError(f"enum value {number} is out of int32 range")
    return number


def _not_finite(value: float) -> str:
    if value != value:
        return "NaN"
    return "Infinity" if value > 0.0 else "-Infinity"


_NS = 1_000_000_000
# Timestamp's range; both ends are minute boundaries, so every second of a cached minute is in it.
_SECONDS_MIN = -62_135_596_800  # 0001-01-01T00:00:00Z
_SECONDS_MAX = 253_402_300_799  # 9999-12-31T23:59:59Z
_EPOCH_DAY = date(1970, 1, 1)
_HH_MM = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SS = [f"{s:02d}" for s in range(60)]
_SS_DOT = [f"{s:02d}." for s in range(60)]
_MINUTES: dict[int, str] = {}  # minutes since the epoch -> "YYYY-MM-DDTHH:MM:", bounded


def _timestamp(ns: int) -> str:
    """Timestamp.ToJsonString() of the instant `ns` nanoseconds after the epoch: date and time
    in UTC as datetime.isoformat() writes them, 0, 3, 6 or 9 fractional digits (the fewest that
    are exact) and Z. A value outside years 1-9999 raises ValueError, as ToJsonString does."""
    seconds, nanos = divmod(ns, _NS)
    minutes, second = divmod(seconds, 60)
    prefix = _MINUTES.get(minutes)
    if prefix is None:
        if not _SECONDS_MIN <= seconds <= _SECONDS_MAX:
            raise ValueError(
                f"Timestamp is not valid: Seconds {seconds} must be in range "
                f"[{_SECONDS_MIN}, {_SECONDS_MAX}]."
            )
        if len(_MINUTES) >= 4096:
            _MINUTES.clear()
        days, minute = divmod(minutes, 1440)
        day = (_EPOCH_DAY + timedelta(days)).isoformat()
        prefix = _MINUTES[minutes] = day + "T" + _HH_MM[minute]
    if not nanos:
        return prefix + _SS[second] + "Z"
    # The digits zero-padded: str(10**k + n) is "1" and then n in k digits (n < 10**k).
    if nanos % 1_000:
        return prefix + _SS_DOT[second] + str(_NS + nanos)[1:] + "Z"
    if nanos % 1_000_000:
        return prefix + _SS_DOT[second] + str(1_000_000 + nanos // 1_000)[1:] + "Z"
    return prefix + _SS_DOT[second] + str(1_000 + nanos // 1_000_000)[1:] + "Z"


def signal_json(s: OmenSignal) -> dict[str, Any]:
    """MessageToDict(signal_to_proto(s), preserving_proto_field_name=True), key order included,
    straight from the domain signal.

    Per field, what protobuf's JSON does: keys in field-number order; proto3 fields at their
    default (0, "", False, empty repeated; a double is at its default only as +0.0, -0.0 is
    written) left out, the submessages signal_to_proto always sets written even when empty;
    doubles as float(x), non-finite ones as "NaN"/"Infinity"/"-Infinity"; enums by name (a
    number without one as the number); the uint64 as a decimal string; timestamps as
    Timestamp.ToJsonString() (`_timestamp`). `x * 1.0` is float(x) for int and float alike
    (keeps -0.0 and NaN) and costs an operator, not a call.
    """
    out: dict[str, Any] = {}
    v: Any = s.signal_id
    if v:
        out["signal_id"] = v
    v = s.input_event_hash
    if v:
        out["input_event_hash"] = v
    v = s.source_event_id
    if v:
        out["source_event_id"] = v
    v = s.source
    if v:
        out["source"] = v
    v = s.market_id
    if v:
        out["market_id"] = v
    v = s.title
    if v:
        out["title"] = v
    v = s.description
    if v:
        out["description"] = v
    x = s.probability * 1.0
    if x:
        out["probability"] = _not_finite(x) if x - x else x
    elif copysign(1.0, x) < 0.0:
        out["probability"] = x
    if s.probability_is_estimate:
        out["probability_is_estimate"] = True
    x = s.confidence_score * 1.0
    if x:
        out["confidence_score"] = _not_finite(x) if x - x else x
    elif copysign(1.0, x) < 0.0:
        out["confidence_score"] = x
    v = s.confidence_level
    if v:
        out["confidence_level"] = _LEVEL[v]

    seq: Any = s.confidence_factors
    items: list[dict[str, Any]]
    o: dict[str, Any]
    if seq:
        out["confidence_factors"] = items = []
        for f in seq:
            v = f.name
            x = f.value * 1.0
            y = f.weight * 1.0
            if v and x and y and not x - x and not y - y:  # all set and finite: the norm
                items.append({"name": v, "value": x, "weight": y})
                continue
            o = {}
            if v:
                o["name"] = v
            if x:
                o["value"] = _not_finite(x) if x - x else x
            elif copysign(1.0, x) < 0.0:
                o["value"] = x
            if y:
                o["weight"] = _not_finite(y) if y - y else y
            elif copysign(1.0, y) < 0.0:
                o["weight"] = y
            items.append(o)

    interval = s.confidence_interval
    o = {}
    x = interval.lower * 1.0
    if x:
        o["lower"] = _not_finite(x) if x - x else x
    elif copysign(1.0, x) < 0.0:
        o["lower"] = x
    x = interval.upper * 1.0
    if x:
        o["upper"] = _not_finite(x) if x - x else x
    elif copysign(1.0, x) < 0.0:
        o["upper"] = x
    out["confidence_interval"] = o

    v = s.category
    if v:
        out["category"] = _CATEGORY[v]
    v = s.signal_type
    if v:
        out["signal_type"] = _TYPE[v]
    v = s.status
    if v:
        out["status"] = _STATUS[v]

    geographic = s.geographic
    g: dict[str, Any] = {}
    seq = geographic.regions
    if seq:
        g["regions"] = list(seq)
    seq = geographic.chokepoints
    if seq:
        g["chokepoints"] = list(seq)
    seq = geographic.coordinates
    if seq:
        g["coordinates"] = items = []
        for c in seq:
            o = {}
            x = c.lat * 1.0
            if x:
                o["lat"] = _not_finite(x) if x - x else x
            elif copysign(1.0, x) < 0.0:
                o["lat"] = x
            x = c.lon * 1.0
            if x:
                o["lon"] = _not_finite(x) if x - x else x
            elif copysign(1.0, x) < 0.0:
                o["lon"] = x
            v = c.name
            if v:
                o["name"] = v
            v = c.region_code
            if v:
                o["region_code"] = v
            items.append(o)
    out["geographic"] = g

    temporal = s.temporal
    o = {}
    v = temporal.horizon
    if v:
        o["horizon"] = _HORIZON[v]
    v = temporal.resolution_date_ns
    if v is not None:
        o["resolution_date"] = _timestamp(v)
    x = temporal.days_to_resolution * 1.0
    if x:
        o["days_to_resolution"] = _not_finite(x) if x - x else x
    elif copysign(1.0, x) < 0.0:
        o["days_to_resolution"] = x
    x = temporal.market_age_days * 1.0
    if x:
        o["market_age_days"] = _not_finite(x) if x - x else x
    elif copysign(1.0, x) < 0.0:
        o["market_age_days"] = x
    out["temporal"] = o

    seq = s.evidence
    if seq:
        out["evidence"] = items = []
        for e in seq:
            o = {}
            v = e.kind
            if v:
                o["kind"] = v
            v = e.description
            if v:
                o["description"] = v
            x = e.value * 1.0
            if x:
                o["value"] = _not_finite(x) if x - x else x
            elif copysign(1.0, x) < 0.0:
                o["value"] = x
            v = e.url
            if v:
                o["url"] = v
            items.append(o)

    seq = s.validation_results
    if seq:
        out["validation_results"] = items = []
        for r in seq:
            v = r.rule_name
            w = r.rule_version
            number = r.status
            x = r.score * 1.0
            why = r.reason
            if v and w and number and x and why and not x - x:  # all set and finite: the norm
                items.append(
                    {
                        "rule_name": v,
                        "rule_version": w,
                        "status": _RULE_STATUS[number],
                        "score": x,
                        "reason": why,
                    }
                )
                continue
            o = {}
            if v:
                o["rule_name"] = v
            if w:
                o["rule_version"] = w
            if number:
                o["status"] = _RULE_STATUS[number]
            if x:
                o["score"] = _not_finite(x) if x - x else x
            elif copysign(1.0, x) < 0.0:
                o["score"] = x
            if why:
                o["reason"] = why
            items.append(o)

    hints = s.impact_hints
    o = {}
    seq = hints.domains
    if seq:
        o["domains"] = list(seq)
    v = hints.direction
    if v:
        o["direction"] = _DIRECTION[v]
    seq = hints.keywords
    if seq:
        o["keywords"] = list(seq)
    v = hints.routing_key
    if v:
        o["routing_key"] = v
    out["impact_hints"] = o

    v = s.ruleset_version
    if v:
        out["ruleset_version"] = v
    v = s.trace_id
    if v:
        out["trace_id"] = v
    v = s.observed_at_ns
    out["observed_at"] = observed = _timestamp(v)
    out["generated_at"] = observed if s.generated_at_ns == v else _timestamp(s.generated_at_ns)
    v = s.ledger_partition
    if v:
        out["ledger_partition"] = v
    v = s.ledger_sequence
    if v:
        if not 0 < v < _UINT64:
            raise ValueError(f"ledger_sequence {v} is out of uint64 range")
        out["ledger_sequence"] = str(v)
    return out


_Convert = Callable[[Any], Any]
_converters: dict[str, dict[str, tuple[str, _Convert]]] = {}
_INT64 = frozenset(
    {
        FieldDescriptor.CPPTYPE_INT64,
        FieldDescriptor.CPPTYPE_UINT64,
    }
)


def _number(value: float) -> Any:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    return value


def _float32(value: float) -> Any:
    checked = _number(value)
    return checked if isinstance(checked, str) else type_checkers.ToShortestFloat(value)


def _scalar(field: FieldDescriptor) -> _Convert:
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        return message_json
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        names = {v.number: v.name for v in field.enum_type.values}
        return lambda v: names.get(v, v)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return lambda v: base64.b64encode(v).decode("utf-8")
    if cpp in _INT64:
        return str
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return _number
    if cpp == FieldDescriptor.CPPTYPE_FLOAT:
        return _float32
    return lambda v: v


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _field_converter(field: FieldDescriptor) -> _Convert:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        value = _scalar(message_type.fields_by_name["value"])
        return lambda m: {_map_key(k): value(m[k]) for k in m}
    one = _scalar(field)
    if field.is_repeated:
        return lambda values: [one(v) for v in values]
    return one


def _plan(descriptor: Descriptor) -> dict[str, tuple[str, _Convert]]:
    plan = _converters.get(descriptor.full_name)
    if plan is None:
        plan = {f.name: (f.name, _field_converter(f)) for f in descriptor.fields}
        _converters[descriptor.full_name] = plan
    return plan


def message_json(message: Message) -> Any:
    """MessageToDict(message, preserving_proto_field_name=True), faster."""
    descriptor = message.DESCRIPTOR
    if descriptor.full_name in _AS_STRING:
        return message.ToJsonString()
    if descriptor.full_name.startswith("google.protobuf."):  # Any, Struct, wrappers: special
        return json_format.MessageToDict(message, preserving_proto_field_name=True)
    plan = _plan(descriptor)
    out = {}
    for field, value in message.ListFields():
        name, convert = plan[field.name]
        out[name] = convert(value)
    return out


# Well-known types whose JSON is their ToJsonString() (what json_format does for them).
_AS_STRING = frozenset(
    {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
)


# One encoder for every call (json.dumps with arguments builds a new JSONEncoder each time).
# check_circular=False only skips the cycle bookkeeping, ~10% of the encoding: these dicts are
# built fresh per call and cannot contain themselves. The bytes are those of json.dumps(value,
# separators=(",", ":"), ensure_ascii=False); ensure_ascii=True would escape non-ASCII text
# and change them (and no faster).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def dumps(value: dict[str, Any]) -> str:
    return _ENCODER.encode(value)


def delivery_body(delivery: Delivery) -> bytes:
    """The UTF-8 JSON body of one delivery (what the webhook POSTs and signs)."""
    return dumps(delivery_json(delivery)).encode()


def delivery_from_json(value: dict[str, Any]) -> Delivery:
    """The delivery a `delivery_json` object (or a dead letter holding one) describes."""
    message = json_format.ParseDict(value["signal"], signal_pb2.OmenSignal())
    signal = signal_from_proto(message)
    signal.ledger_partition = str(value["partition"])
    signal.ledger_sequence = int(value["sequence"])
    return Delivery(int(value["lsn"]), str(value["partition"]), int(value["sequence"]), signal)
