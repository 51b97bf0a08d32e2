"""Pure-Python twin of eventwire.pyx: decode a serialised omen.v1.ProcessStreamRequest into the
domain's RawEvent values, without protobuf messages in between.

This file is the reference: the compiled module returns equal values (same ==, same repr) and the
same violations and error messages, and raises the same WireError (it imports the class from
here). tests/unit/test_eventwire_parity.py checks both against upb +
omen.entrypoints.grpc.convert.event_from_proto.

decode_stream_request(data, received_at_ns, max_event_bytes) returns one
(correlation_id, event, violations) per StreamEvent, in order, with path = "events[i].event":

    StreamEvent without `event`         (cid, None, [FieldViolation(path, "is required")])
    event bytes > max_event_bytes       (cid, None, [FieldViolation(path, "must be at most ...")])
    event bytes malformed               (cid, None, [FieldViolation(path, "is not a valid
                                         RawSignalEvent: <what> at byte <n>")])
    otherwise                           (cid, event, violations) as event_from_proto(upb message,
                                         received_at_ns, path) returns them

In the last case the event is returned even when `violations` is not empty (it is then only
informative: the server uses an event only when its violation list is empty).

The size rule: an event's size is the number of bytes its `event` field holds on the wire (the
sum over its occurrences when the field occurs more than once in one StreamEvent, which protobuf
merges). The server used upb's ByteSize() of the parsed message; both agree for canonical input
(what every protobuf library writes). For non-canonical input ByteSize() counts the re-encoded
merged message instead (a scalar sent twice counts once, over-long varints count short), so the
two can differ there; a malformed event larger than the limit is reported as too large.

Wire semantics, as upb (protobuf's Python runtime) parses, checked by the parity tests:
- scalar fields: the last occurrence wins; repeated fields append; embedded messages
  (movement, the timestamps, the StreamEvent's event) merge when they occur more than once;
  `repeated double outcome_prices` accepts packed and unpacked encodings, mixed.
- a known field arriving with another wire type than its own is an unknown field (skipped), as
  upb does; the only alternative accepted is the packed form of outcome_prices.
- unknown fields of every wire type are skipped, groups included (nested, matched by field
  number; inside a group upb's skipper accepts field number 0, so this does too).
- source_metrics map entries: a missing key is "", a missing value 0.0, a later duplicate key
  wins; an entry holding any unknown field (another field number, or key or value with another
  wire type) is not added to the map (upb keeps such entries as unknown fields of the event).
- varints: at most 10 bytes (bits beyond 64 dropped); tags and lengths at most 5 bytes, tags at
  most 2**32 - 1; int64 num_traders and the timestamps' seconds wrap to signed 64 bits, int32
  nanos and the open enum market_state to signed 32 bits.
- strings must be valid UTF-8 (every occurrence, also of a field later overwritten); bytes are
  not checked.
- nesting: as upb, at most 100 levels counting the request itself (the request is level 0, a
  StreamEvent 1, its event 2, the event's movement, locations, timestamps and map entries 3;
  every group one more).

Malformed input. A ProcessStreamRequest or a StreamEvent whose own framing cannot be parsed
(truncated tag, varint or length, a length beyond its message, a bad wire type, field number 0,
a stray end-group tag, an unterminated group, nesting too deep), or a correlation_id that is not
valid UTF-8 (it could not be echoed back), raises WireError, naming the problem and the offset in
`data`. Where upb rejects the whole request, one malformed *event* (a problem inside the bytes of
a StreamEvent's `event` field) fails only that event, with the offset counted from the start of
the event's bytes (of the first occurrence, the occurrences counted one after the other); the
other events decode as they would alone.
"""

from __future__ import annotations

import struct

from omen.domain.events import Location, MarketState, Movement, RawEvent
from omen.domain.validation import FieldViolation, validate_event

#: upb's default recursion limit (kUpb_WireFormat_DefaultDepthLimit).
MAX_DEPTH = 100

_NS = 1_000_000_000
# google.protobuf.Timestamp is valid from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_TS_MIN_SECONDS = -62_135_596_800
_TS_MAX_SECONDS = 253_402_300_799
_MASK64 = (1 << 64) - 1
_VARINT, _FIXED64, _LEN, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5
_STATES = {int(s): s for s in MarketState}
_double = struct.Struct("<d").unpack_from


class WireError(ValueError):
    """The request's framing (or a correlation_id) cannot be parsed: no event of it is usable."""


class _Malformed(Exception):
    """Internal: what is wrong, at which absolute offset of the buffer."""

    def __init__(self, what: str, offset: int):
        super().__init__(what, offset)
        self.what = what
        self.offset = offset


def _tag(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos < end and buf[pos] < 0x80:  # fields 1-15: one byte
        return buf[pos], pos + 1
    start = pos
    value = 0
    for shift in range(0, 35, 7):
        if pos >= end:
            raise _Malformed("truncated tag", start)
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value > 0xFFFFFFFF:
                break
            return value, pos
    raise _Malformed("invalid tag", start)


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    start = pos
    value = 0
    for shift in range(0, 70, 7):
        if pos >= end:
            raise _Malformed("truncated varint", start)
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & _MASK64, pos
    raise _Malformed("varint longer than 10 bytes", start)


def _length(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """A length-delimited field's length, checked against the bytes left in its message."""
    if pos < end and buf[pos] < 0x80 and buf[pos] < end - pos:  # one byte, and it fits
        return buf[pos], pos + 1
    start = pos
    value = 0
    for shift in range(0, 35, 7):
        if pos >= end:
            raise _Malformed("truncated length", start)
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value > end - pos:
                raise _Malformed(f"length {value} exceeds the {end - pos} bytes left", start)
            return value, pos
    raise _Malformed("length longer than 5 bytes", start)


def _fixed64(buf: bytes, pos: int, end: int) -> float:
    if end - pos < 8:
        raise _Malformed("truncated fixed64", pos)
    value: float = _double(buf, pos)[0]
    return value


def _skip(buf: bytes, pos: int, end: int, tag: int, tag_at: int, depth: int) -> int:
    """The offset after the value of an unknown field (`depth`: the levels left)."""
    wire_type = tag & 7
    if wire_type == _VARINT:
        return _varint(buf, pos, end)[1]
    if wire_type == _FIXED64:
        if end - pos < 8:
            raise _Malformed("truncated fixed64", pos)
        return pos + 8
    if wire_type == _LEN:
        size, pos = _length(buf, pos, end)
        return pos + size
    if wire_type == _FIXED32:
        if end - pos < 4:
            raise _Malformed("truncated fixed32", pos)
        return pos + 4
    if wire_type == _START_GROUP:
        depth -= 1
        if depth < 0:
            raise _Malformed(f"nesting deeper than {MAX_DEPTH} levels", tag_at)
        end_tag = (tag & ~7) | _END_GROUP
        while pos < end:
            inner_at = pos
            inner, pos = _tag(buf, pos, end)
            if inner == end_tag:
                return pos
            pos = _skip(buf, pos, end, inner, inner_at, depth)
        raise _Malformed(f"group {tag >> 3} not terminated", tag_at)
    if wire_type == _END_GROUP:
        raise _Malformed(f"unexpected end-group tag {tag >> 3}", tag_at)
    raise _Malformed(f"invalid wire type {wire_type}", tag_at)


def _field(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(field number, wire type, offset after the tag) of a message's next field."""
    if buf[pos] < 0x80:  # (pos < end: the callers loop while it holds)
        tag, after = buf[pos], pos + 1
    else:
        tag, after = _tag(buf, pos, end)
    if tag & 7 == _END_GROUP:
        raise _Malformed(f"unexpected end-group tag {tag >> 3}", pos)
    if tag >> 3 == 0:
        raise _Malformed("field number 0", pos)
    return tag >> 3, tag & 7, after


def _text(buf: bytes, pos: int, size: int, name: str) -> str:
    try:
        return buf[pos : pos + size].decode()
    except UnicodeDecodeError as exc:
        raise _Malformed(f"invalid UTF-8 in {name}", pos + exc.start) from None


def _enter(depth: int, at: int) -> int:
    depth -= 1
    if depth < 0:
        raise _Malformed(f"nesting deeper than {MAX_DEPTH} levels", at)
    return depth


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


class _Event:
    """The fields of one RawSignalEvent as parsed so far (merged over occurrences)."""

    def __init__(self) -> None:
        self.strings = ["", "", "", "", "", "", "", "", "", "", "", "", "", ""]
        self.probability: float | None = None
        self.movement: list[float] | None = None
        self.liquidity = 0.0
        self.volume = 0.0
        self.num_traders = 0
        self.keywords: list[str] = []
        self.locations: list[Location] = []
        # created_at, resolution_date, observed_at: None or [seconds, nanos]
        self.times: list[list[int] | None] = [None, None, None]
        self.metrics: dict[str, float] = {}
        self.raw_payload = b""
        self.market_state = 0
        self.prices: list[float] = []


# RawSignalEvent's string fields (number -> name); keywords (11) is repeated.
_STRING_FIELDS = {
    1: "event_id",
    2: "source",
    3: "market_id",
    4: "title",
    5: "description",
    13: "market_url",
}


# RawSignalEvent's length-delimited fields (outcome_prices, 20, in its packed form).
_LEN_FIELDS = frozenset((1, 2, 3, 4, 5, 7, 11, 12, 13, 14, 15, 16, 17, 18, 20))


def _movement(buf: bytes, pos: int, end: int, depth: int, values: list[float]) -> None:
    while pos < end:
        at = pos
        number, wire_type, pos = _field(buf, pos, end)
        if 1 <= number <= 3 and wire_type == _FIXED64:
            values[number - 1] = _fixed64(buf, pos, end)
            pos += 8
        else:
            pos = _skip(buf, pos, end, number << 3 | wire_type, at, depth)


def _location(buf: bytes, pos: int, end: int, depth: int) -> Location:
    lat = lon = 0.0
    name = region_code = ""
    while pos < end:
        at = pos
        number, wire_type, pos = _field(buf, pos, end)
        if number <= 2 and wire_type == _FIXED64:
            if number == 1:
                lat = _fixed64(buf, pos, end)
            else:
                lon = _fixed64(buf, pos, end)
            pos += 8
        elif (number == 3 or number == 4) and wire_type == _LEN:
            size, pos = _length(buf, pos, end)
            if number == 3:
                name = _text(buf, pos, size, "locations.name")
            else:
                region_code = _text(buf, pos, size, "locations.region_code")
            pos += size
        else:
            pos = _skip(buf, pos, end, number << 3 | wire_type, at, depth)
    return Location(lat, lon, name, region_code)


def _timestamp(buf: bytes, pos: int, end: int, depth: int, values: list[int]) -> None:
    while pos < end:
        at = pos
        number, wire_type, pos = _field(buf, pos, end)
        if number <= 2 and wire_type == _VARINT:
            value, pos = _varint(buf, pos, end)
            values[number - 1] = _int64(value) if number == 1 else _int32(value)
        else:
            pos = _skip(buf, pos, end, number << 3 | wire_type, at, depth)


def _metric(buf: bytes, pos: int, end: int, depth: int, metrics: dict[str, float]) -> None:
    key = ""
    value = 0.0
    unknown = False
    while pos < end:
        at = pos
        number, wire_type, pos = _field(buf, pos, end)
        if number == 1 and wire_type == _LEN:
            size, pos = _length(buf, pos, end)
            key = _text(buf, pos, size, "source_metrics.key")
            pos += size
        elif number == 2 and wire_type == _FIXED64:
            value = _fixed64(buf, pos, end)
            pos += 8
        else:
            pos = _skip(buf, pos, end, number << 3 | wire_type, at, depth)
            unknown = True
    if not unknown:
        metrics[key] = value


def _event_fields(buf: bytes, pos: int, end: int, depth: int, ev: _Event) -> None:
    """Merge the RawSignalEvent fields in buf[pos:end] into `ev` (`depth`: the event's level)."""
    while pos < end:
        at = pos
        number, wire_type, pos = _field(buf, pos, end)
        if wire_type == _LEN and number in _LEN_FIELDS:
            size, pos = _length(buf, pos, end)
            stop = pos + size
            if number in _STRING_FIELDS:
                ev.strings[number] = _text(buf, pos, size, _STRING_FIELDS[number])
            elif number == 11:
                ev.keywords.append(_text(buf, pos, size, "keywords"))
            elif number == 18:
                ev.raw_payload = buf[pos:stop]
            elif number == 20:
                if size % 8:
                    raise _Malformed(
                        f"packed outcome_prices length {size} is not a multiple of 8", at
                    )
                ev.prices.extend(_double(buf, p)[0] for p in range(pos, stop, 8))
            else:
                inner = _enter(depth, at)
                if number == 7:
                    if ev.movement is None:
                        ev.movement = [0.0, 0.0, 0.0]
                    _movement(buf, pos, stop, inner, ev.movement)
                elif number == 12:
                    ev.locations.append(_location(buf, pos, stop, inner))
                elif number == 17:
                    _metric(buf, pos, stop, inner, ev.metrics)
                else:  # 14, 15, 16
                    slot = ev.times[number - 14]
                    if slot is None:
                        slot = ev.times[number - 14] = [0, 0]
                    _timestamp(buf, pos, stop, inner, slot)
            pos = stop
        elif wire_type == _FIXED64 and number in (6, 8, 9, 20):
            value = _fixed64(buf, pos, end)
            pos += 8
            if number == 6:
                ev.probability = value
            elif number == 8:
                ev.liquidity = value
            elif number == 9:
                ev.volume = value
            else:
                ev.prices.append(value)
        elif wire_type == _VARINT and (number == 10 or number == 19):
            value_int, pos = _varint(buf, pos, end)
            if number == 10:
                ev.num_traders = _int64(value_int)
            else:
                ev.market_state = _int32(value_int)
        else:
            pos = _skip(buf, pos, end, number << 3 | wire_type, at, depth)


def _time_ns(times: list[int] | None, path: str, out: list[FieldViolation]) -> int | None:
    if times is None:
        return None
    seconds, nanos = times
    if not _TS_MIN_SECONDS <= seconds <= _TS_MAX_SECONDS or not 0 <= nanos < _NS:
        out.append(
            FieldViolation(
                path,
                f"must be a valid timestamp (0001-01-01..9999-12-31), got "
                f"seconds={seconds} nanos={nanos}",
            )
        )
        return None
    return seconds * _NS + nanos


def _build(ev: _Event, received_at_ns: int, prefix: str) -> tuple[RawEvent, list[FieldViolation]]:
    """What convert.event_from_proto returns for the message `ev` holds."""
    out: list[FieldViolation] = []
    if ev.probability is None:
        out.append(FieldViolation(prefix + ".probability", "is required"))
    state = _STATES.get(ev.market_state)
    if state is None:
        out.append(FieldViolation(prefix + ".market_state", f"unknown value {ev.market_state}"))
        state = MarketState.UNSPECIFIED
    created = _time_ns(ev.times[0], prefix + ".created_at", out)
    resolution = _time_ns(ev.times[1], prefix + ".resolution_date", out)
    observed = _time_ns(ev.times[2], prefix + ".observed_at", out)
    strings = ev.strings
    event = RawEvent(
        event_id=strings[1],
        source=strings[2],
        market_id=strings[3],
        title=strings[4],
        description=strings[5],
        probability=ev.probability if ev.probability is not None else 0.0,
        movement=Movement(*ev.movement) if ev.movement is not None else None,
        liquidity_usd=ev.liquidity,
        volume_usd=ev.volume,
        num_traders=ev.num_traders,
        keywords=tuple(ev.keywords),
        locations=tuple(ev.locations),
        market_url=strings[13],
        created_at_ns=created,
        resolution_date_ns=resolution,
        observed_at_ns=observed if observed is not None else received_at_ns,
        source_metrics=tuple(sorted(ev.metrics.items())),
        raw_payload=ev.raw_payload,
        market_state=state,
        outcome_prices=tuple(ev.prices),
    )
    out.extend(validate_event(event, prefix))
    return event, out


def _stream_event(
    buf: bytes, pos: int, end: int, index: int, depth: int
) -> tuple[str, list[tuple[int, int]]]:
    """The correlation id and the (offset, length) of each occurrence of the event field."""
    correlation_id = ""
    spans: list[tuple[int, int]] = []
    try:
        while pos < end:
            at = pos
            number, wire_type, pos = _field(buf, pos, end)
            if number <= 2 and wire_type == _LEN:
                size, pos = _length(buf, pos, end)
                if number == 1:
                    correlation_id = _text(buf, pos, size, "correlation_id")
                else:
                    spans.append((pos, size))
                pos += size
            else:
                pos = _skip(buf, pos, end, number << 3 | wire_type, at, depth)
    except _Malformed as exc:
        raise WireError(
            f"malformed ProcessStreamRequest: {exc.what} in events[{index}] at byte {exc.offset}"
        ) from None
    return correlation_id, spans


def _decode_event(
    buf: bytes,
    spans: list[tuple[int, int]],
    depth: int,
    received_at_ns: int,
    path: str,
) -> tuple[RawEvent | None, list[FieldViolation]]:
    ev = _Event()
    for start, size in spans:
        try:
            _event_fields(buf, start, start + size, depth, ev)
        except _Malformed as exc:
            before = sum(s for p, s in spans if p < start)
            offset = before + exc.offset - start
            return None, [
                FieldViolation(path, f"is not a valid RawSignalEvent: {exc.what} at byte {offset}")
            ]
    return _build(ev, received_at_ns, path)


def decode_stream_request(
    data: bytes, received_at_ns: int, max_event_bytes: int
) -> list[tuple[str, RawEvent | None, list[FieldViolation]]]:
    """One (correlation_id, event, violations) per StreamEvent of the serialised request."""
    buf = bytes(data)
    pos, end = 0, len(buf)
    depth = MAX_DEPTH
    results: list[tuple[str, RawEvent | None, list[FieldViolation]]] = []
    while pos < end:
        at = pos
        try:
            number, wire_type, pos = _field(buf, pos, end)
            if number == 1 and wire_type == _LEN:
                size, pos = _length(buf, pos, end)
                inner = _enter(depth, at)
            else:
                pos = _skip(buf, pos, end, number << 3 | wire_type, at, depth)
                continue
        except _Malformed as exc:
            raise WireError(
                f"malformed ProcessStreamRequest: {exc.what} at byte {exc.offset}"
            ) from None
        index = len(results)
        correlation_id, spans = _stream_event(buf, pos, pos + size, index, inner)
        pos += size
        path = f"events[{index}].event"
        if not spans:
            results.append((correlation_id, None, [FieldViolation(path, "is required")]))
            continue
        total = sum(s for _, s in spans)
        if total > max_event_bytes:
            message = f"must be at most {max_event_bytes} bytes serialised, got {total}"
            results.append((correlation_id, None, [FieldViolation(path, message)]))
            continue
        # The event is one level below its StreamEvent (never too deep: levels 0-2 of 100).
        event, violations = _decode_event(buf, spans, inner - 1, received_at_ns, path)
        results.append((correlation_id, event, violations))
    return results


def request_view(data: bytes) -> int:
    """The request's `view` (field 2, an open enum: the last occurrence, wrapped to signed 32
    bits, 0 when absent), as upb parses it; WireError when the request's own framing is broken
    (the events' insides are not looked at: decode_stream_request checks those)."""
    buf = bytes(data)
    pos, end = 0, len(buf)
    view = 0
    while pos < end:
        at = pos
        try:
            number, wire_type, pos = _field(buf, pos, end)
            if number == 2 and wire_type == _VARINT:
                value, pos = _varint(buf, pos, end)
                view = _int32(value)
            else:
                pos = _skip(buf, pos, end, number << 3 | wire_type, at, MAX_DEPTH)
        except _Malformed as exc:
            raise WireError(
                f"malformed ProcessStreamRequest: {exc.what} at byte {exc.offset}"
            ) from None
    return view


__all__ = ["MAX_DEPTH", "WireError", "decode_stream_request", "request_view"]
