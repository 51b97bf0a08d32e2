"""The compiled omen._native.eventwire and its twin eventwire_py decode a serialised
ProcessStreamRequest into exactly what the server made of it with upb: for each StreamEvent the
correlation id, and the RawEvent and violations of convert.event_from_proto (or "is required",
the size limit), compared with == and with repr() (which also tells -0.0 from 0.0).

Every test taking `impl` runs against both modules. When the compiled module cannot be imported
its tests are skipped, unless OMEN_REQUIRE_NATIVE=1 is set (as in CI): then they fail. Tests
taking `native` and `twin` compare the two directly, error messages included.

Where upb rejects a whole request, the decoders reject less: one malformed event fails only
itself. The fuzz tests check that precisely: every event equals what upb makes of its
StreamEvent alone, and is marked malformed exactly when upb rejects that StreamEvent alone.
"""

from __future__ import annotations

import gc
import hashlib
import inspect
import json
import math
import random
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omen.domain.validation as validation
from omen._proto import service_pb2, signal_pb2
from omen.adapters.sources.polymarket import SourceFormatError, market_to_event
from omen.domain.events import MarketState, RawEvent
from omen.domain.validation import FieldViolation
from omen.entrypoints.grpc import convert
from tests.native_impls import parity_fixtures
from tests.protowire import f64, group, key, ld, mutate, text, varint, vi

NATIVE = "omen._native.eventwire"
TWIN = "omen._native.eventwire_py"
RECEIVED = 1_795_000_000_123_456_789
BIG = 1 << 40  # a size limit no test event reaches
ROOT = Path(__file__).resolve().parent.parent.parent

impl, native, twin = parity_fixtures(NATIVE, TWIN)

Result = list[tuple[str, RawEvent | None, list[FieldViolation]]]


# --- The reference: upb, then the server's per-event logic -------------------------------------


def reference(data: bytes, limit: int = BIG, first_index: int = 0) -> Result:
    """What SignalServicer._submit_message made of each StreamEvent (raises DecodeError)."""
    request = service_pb2.ProcessStreamRequest.FromString(data)
    out: Result = []
    for i, stream_event in enumerate(request.events, first_index):
        path = f"events[{i}].event"
        cid = stream_event.correlation_id
        if not stream_event.HasField("event"):
            out.append((cid, None, [FieldViolation(path, "is required")]))
            continue
        size = stream_event.event.ByteSize()
        if size > limit:
            message = f"must be at most {limit} bytes serialised, got {size}"
            out.append((cid, None, [FieldViolation(path, message)]))
            continue
        event, violations = convert.event_from_proto(stream_event.event, RECEIVED, path)
        out.append((cid, event, violations))
    return out


def same(a: object, b: object) -> bool:
    """Equal, and equal reprs (NaN compares unequal to itself: then the reprs decide)."""
    return repr(a) == repr(b) and (a == b or "nan" in repr(a))


def check(module: ModuleType, data: bytes, limit: int = BIG) -> Result:
    expected = reference(data, limit)
    got: Result = module.decode_stream_request(data, RECEIVED, limit)
    assert same(got, expected), (got, expected)
    return got


# --- Wire building -----------------------------------------------------------------------------


def stream_event(event: bytes | None, cid: str = "c") -> bytes:
    return text(1, cid) + (ld(2, event) if event is not None else b"")


def request(*stream_events: bytes) -> bytes:
    return b"".join(ld(1, s) for s in stream_events)


def one(event: bytes, cid: str = "c") -> bytes:
    return request(stream_event(event, cid))


def minimal() -> bytes:
    """A valid event's fields: id, source, title, probability."""
    return text(1, "pm-1") + text(2, "polymarket") + text(4, "Will it?") + f64(6, 0.5)


# --- Realistic events ---------------------------------------------------------------------------


def bench_pool() -> list[signal_pb2.RawSignalEvent]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_unary import event_pool
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    pool: list[signal_pb2.RawSignalEvent] = event_pool()
    return pool


def to_message(event: RawEvent) -> signal_pb2.RawSignalEvent:
    m = signal_pb2.RawSignalEvent(
        event_id=event.event_id,
        source=event.source,
        market_id=event.market_id,
        title=event.title,
        description=event.description,
        probability=event.probability,
        liquidity_usd=event.liquidity_usd,
        volume_usd=event.volume_usd,
        num_traders=event.num_traders,
        keywords=event.keywords,
        market_url=event.market_url,
        source_metrics=dict(event.source_metrics),
        raw_payload=event.raw_payload,
        market_state=int(event.market_state),
        outcome_prices=event.outcome_prices,
    )
    for loc in event.locations:
        m.locations.add(lat=loc.lat, lon=loc.lon, name=loc.name, region_code=loc.region_code)
    if event.movement is not None:
        mv = event.movement
        m.movement.SetInParent()
        m.movement.previous, m.movement.delta = mv.previous, mv.delta
        m.movement.window_hours = mv.window_hours
    for name, ns in (
        ("created_at", event.created_at_ns),
        ("resolution_date", event.resolution_date_ns),
        ("observed_at", event.observed_at_ns),
    ):
        if ns is not None:
            getattr(m, name).FromNanoseconds(ns)
    return m


def fixture_events() -> list[RawEvent]:
    folder = ROOT / "tests" / "fixtures" / "polymarket"
    markets = json.loads((folder / "gamma_markets_page.json").read_text())
    markets += [
        m for e in json.loads((folder / "gamma_events_page.json").read_text()) for m in e["markets"]
    ]
    events = []
    for market in markets:
        try:
            events.append(market_to_event(market, RECEIVED - 5))
        except SourceFormatError:
            continue
    return events


def test_the_benchmark_pool_decodes_as_upb_and_event_from_proto_do(impl: ModuleType) -> None:
    pool = bench_pool()
    message = service_pb2.ProcessStreamRequest()
    for i, event in enumerate(pool):
        item = message.events.add(correlation_id=f"corr-{i}")
        item.event.CopyFrom(event)
        item.event.event_id = f"pm-bench-{i:07d}"
    got = check(impl, message.SerializeToString())
    assert len(got) == len(pool) and all(not v and e is not None for _, e, v in got)


def test_the_stream_benchmark_encoding_with_the_id_last_decodes_too(impl: ModuleType) -> None:
    # benchmarks/bench_stream.py appends event_id after the other fields: out of order.
    bodies = [e.SerializeToString() for e in bench_pool()[:40]]
    data = request(
        *(
            stream_event(body + text(1, f"pm-stream-{n:09d}"), f"{n}")
            for n, body in enumerate(bodies)
        )
    )
    check(impl, data)


def test_the_recorded_polymarket_markets_round_trip(impl: ModuleType) -> None:
    events = fixture_events()
    assert len(events) >= 5
    data = request(*(stream_event(to_message(e).SerializeToString(), e.event_id) for e in events))
    got = check(impl, data)
    assert [e for _, e, _ in got] == events


def test_a_repeated_text_is_decoded_once_and_shared(native: ModuleType) -> None:
    # The compiled decoder keeps the strs of a market's repeating fields: the second event's
    # title, description (non-ASCII: compared through its UTF-8 form), source and keyword are
    # the first event's objects, while each event keeps its own id.
    def market(event_id: str) -> bytes:
        return (
            text(1, event_id)
            + text(2, "polymarket")
            + text(4, "Will the Suez Canal close?")
            + text(
                5,
                "R\u00e9solution: the canal\u2019s operator \u2014 or \u2018its\u2019 regulator. \U0001f6a2",
            )
            + f64(6, 0.5)
            + text(11, "shipping")
        )

    data = request(stream_event(market("pm-1"), "a"), stream_event(market("pm-2"), "b"))
    (_, first, _), (_, second, _) = check(native, data)
    assert first is not None and second is not None
    for name in ("title", "description", "source"):
        assert getattr(first, name) is getattr(second, name), name
    assert first.keywords[0] is second.keywords[0]
    assert (first.event_id, second.event_id) == ("pm-1", "pm-2")


def test_more_distinct_texts_than_the_decoder_keeps_decode_as_upb_does(native: ModuleType) -> None:
    # 3,000 titles (more than the table's 2,048 slots, so entries collide and are replaced),
    # of equal length and sharing their first and last bytes, then all of them again.
    titles = [f"Will market {i:05d} of the feed resolve YES?" for i in range(3000)]
    events = [stream_event(text(1, "e") + text(2, "pm") + text(4, t) + f64(6, 0.5)) for t in titles]
    for chunk in range(0, len(events) * 2, 500):
        check(native, request(*(events * 2)[chunk : chunk + 500]))


def test_every_field_set(impl: ModuleType) -> None:
    m = signal_pb2.RawSignalEvent(
        event_id="pm-9",
        source="polymarket",
        market_id="m-9",
        title="Will the Suez Canal close before July?",
        description="Resolution rules… ünïcode ✓ 𝄞",
        probability=0.25,
        liquidity_usd=1e6,
        volume_usd=2.5e6,
        num_traders=12345,
        keywords=["suez", "canal", "égypte"],
        market_url="https://polymarket.com/event/suez",
        source_metrics={"spread": 0.01, "best_bid": 0.24, "": 0.0},
        raw_payload=b"\x00\xff{}",
        market_state=signal_pb2.MARKET_STATE_RESOLVED,
        outcome_prices=[0.25, 0.75],
    )
    m.movement.previous, m.movement.delta, m.movement.window_hours = 0.2, 0.05, 24.0
    m.locations.add(lat=29.97, lon=32.55, name="Suez Canal", region_code="EG")
    m.locations.add()
    m.created_at.FromNanoseconds(1_700_000_000_123_456_789)
    m.resolution_date.FromSeconds(1_800_000_000)
    m.observed_at.FromNanoseconds(1_790_000_000_000_000_001)
    got = check(impl, one(m.SerializeToString(), "ü-id"))
    event = got[0][1]
    assert event is not None and event.observed_at_ns == 1_790_000_000_000_000_001
    assert event.source_metrics == (("", 0.0), ("best_bid", 0.24), ("spread", 0.01))


def test_every_field_absent_and_empty_submessages(impl: ModuleType) -> None:
    empty = signal_pb2.RawSignalEvent()
    empty.movement.SetInParent()
    empty.created_at.SetInParent()
    empty.resolution_date.SetInParent()
    empty.observed_at.SetInParent()
    got = check(
        impl,
        request(
            stream_event(b""),
            stream_event(empty.SerializeToString(), ""),
            stream_event(None, "no-event"),
            b"",
        ),
    )
    assert got[0][1] is not None and got[0][1].observed_at_ns == RECEIVED
    assert got[2] == ("no-event", None, [FieldViolation("events[2].event", "is required")])
    assert got[3] == ("", None, [FieldViolation("events[3].event", "is required")])
    assert impl.decode_stream_request(b"", RECEIVED, BIG) == []


VIOLATIONS = {
    "probability absent": minimal()[:-9],
    "probability nan": minimal() + f64(6, math.nan),
    "probability -0.0 is fine": minimal() + f64(6, -0.0),
    "market state unknown": minimal() + vi(19, 7),
    "market state negative": minimal() + vi(19, -5),
    "created_at too early": minimal() + ld(14, vi(1, -62_135_596_801)),
    "resolution nanos negative": minimal() + ld(15, vi(1, 5) + vi(2, -1)),
    "observed nanos 1e9": minimal() + ld(16, vi(2, 1_000_000_000)),
    "observed seconds max": minimal() + ld(16, vi(1, 253_402_300_799) + vi(2, 999_999_999)),
    "observed seconds huge": minimal() + ld(16, vi(1, 1 << 62)),
    "blank id": text(1, " \t") + minimal()[6:],
    "whitespace-led id is fine": minimal() + text(1, "\u2003x"),
    "file separator is whitespace": minimal() + text(1, "\x1c"),
    "long title": minimal() + text(4, "x" * 1_001),
    "title at limit": minimal() + text(4, "é" * 1_000),
    "movement off": minimal() + ld(7, f64(1, 0.4) + f64(2, 0.2) + f64(3, 24.0)),
    "movement zero window": minimal() + ld(7, f64(1, 0.4) + f64(2, 0.1)),
    "movement infinite": minimal() + ld(7, f64(1, math.inf)),
    "movement matches": minimal() + ld(7, f64(1, 0.4) + f64(2, 0.1) + f64(3, 1.0)),
    "negative liquidity": minimal() + f64(8, -1.0),
    "negative zero volume": minimal() + f64(9, -0.0),
    "negative traders": minimal() + vi(10, -3),
    "too many keywords": minimal() + b"".join(text(11, f"k{i}") for i in range(65)),
    "blank keyword": minimal() + text(11, "") + text(11, "ok"),
    "location out of range": minimal() + ld(12, f64(1, 91.0) + f64(2, -181.0)),
    "location long region": minimal() + ld(12, text(4, "X" * 17)),
    "too many locations": minimal() + ld(12, b"") * 65,
    "long url": minimal() + text(13, "u" * 2_049),
    "metric nan": minimal() + ld(17, text(1, "k") + f64(2, math.nan)),
    "metric empty key": minimal() + ld(17, f64(2, 1.0)),
    "metric long key": minimal() + ld(17, text(1, "k" * 129)),
    "too many metrics": minimal() + b"".join(ld(17, text(1, f"m{i}")) for i in range(65)),
    "payload too large": minimal() + ld(18, b"\x00" * (256 * 1024 + 1)),
    "price above one": minimal() + f64(20, 1.5),
    "too many prices": minimal() + ld(20, struct.pack("<65d", *[0.5] * 65)),
    "everything wrong": vi(19, 9) + ld(14, vi(2, -7)) + f64(8, math.inf) + f64(20, -0.5),
}


VALID = {
    "probability -0.0 is fine",
    "whitespace-led id is fine",
    "observed seconds max",
    "title at limit",
    "movement matches",
    "negative zero volume",
}


@pytest.mark.parametrize("name", list(VIOLATIONS))
def test_each_violation_kind(impl: ModuleType, name: str) -> None:
    got = check(impl, one(VIOLATIONS[name]))
    assert bool(got[0][2]) == (name not in VALID)


def test_the_event_size_limit_counts_the_bytes_on_the_wire(impl: ModuleType) -> None:
    m = bench_pool()[0]
    m.event_id = "pm-0"
    body = m.SerializeToString()
    m.event_id = "pm-0-longer"
    longer = m.SerializeToString()
    data = request(stream_event(body, "a"), stream_event(longer, "b"))
    got = check(impl, data, limit=len(body))
    assert not got[0][2] and got[1][1] is None
    assert got[1][2] == [
        FieldViolation(
            "events[1].event",
            f"must be at most {len(body)} bytes serialised, got {len(longer)}",
        )
    ]
    check(impl, data, limit=len(body) - 1)
    check(impl, data, limit=len(longer))


def test_non_canonical_events_are_measured_as_received(impl: ModuleType) -> None:
    # upb's ByteSize() would count event_id once (the re-encoded message): the decoders count
    # the bytes on the wire, both occurrences.
    body = minimal() + text(1, "pm-2")
    got = impl.decode_stream_request(one(body), RECEIVED, len(body) - 1)
    assert got[0][2][0].description == (
        f"must be at most {len(body) - 1} bytes serialised, got {len(body)}"
    )
    # An event field sent twice (merged) counts both occurrences; too large beats malformed.
    split = request(text(1, "c") + ld(2, body[:20]) + ld(2, body[20:]))
    assert impl.decode_stream_request(split, RECEIVED, len(body) - 1)[0][2][0].description == (
        f"must be at most {len(body) - 1} bytes serialised, got {len(body)}"
    )
    broken = one(b"\x0a\x05ab", "x")
    assert impl.decode_stream_request(broken, RECEIVED, 3)[0][2][0].description == (
        "must be at most 3 bytes serialised, got 4"
    )


# --- Non-canonical encodings ---------------------------------------------------------------------


NON_CANONICAL = {
    "scalars repeated, last wins": minimal()
    + text(1, "pm-2")
    + f64(6, 0.75)
    + f64(8, 1.0)
    + f64(8, 2.0)
    + vi(10, 5)
    + vi(10, 6)
    + vi(19, 2)
    + vi(19, 1)
    + ld(18, b"a")
    + ld(18, b"b")
    + text(13, "u1")
    + text(13, "u2"),
    "split movement merges": minimal()
    + ld(7, f64(1, 0.25))
    + ld(7, f64(2, 0.25) + f64(3, 2.0))
    + ld(7, b""),
    "split timestamps merge": minimal()
    + ld(14, vi(1, 100))
    + ld(14, vi(2, 7))
    + ld(16, vi(2, 9))
    + ld(16, vi(1, 1_700_000_000) + vi(1, 1_700_000_001)),
    "packed, unpacked and mixed prices": minimal()
    + ld(20, struct.pack("<2d", 0.1, 0.2))
    + f64(20, 0.3)
    + ld(20, b"")
    + ld(20, struct.pack("<d", 0.4)),
    "fields out of order": f64(6, 0.5) + text(4, "T") + vi(10, 1) + text(2, "s") + text(1, "i"),
    "unknown fields of every wire type": minimal()
    + vi(21, 1)
    + f64(22, 1.0)
    + ld(23, b"\xff\xfe")
    + group(24, vi(1, 1) + ld(2, b"x") + group(3, f64(4, 0.0)))
    + key(25, 5)
    + b"\x00\x00\x00\x00"
    + vi(536_870_911, 1)
    + group(26, vi(0, 5) + group(0)),
    "known fields with the wrong wire type are unknown": minimal()
    + vi(1, 5)
    + key(6, 5)
    + b"abcd"
    + ld(6, struct.pack("<d", 0.9))
    + vi(7, 1)
    + group(7)
    + ld(10, varint(5))
    + f64(19, 1.0)
    + vi(20, 1)
    + key(20, 5)
    + b"abcd"
    + group(12)
    + ld(12, vi(1, 5) + vi(3, 1) + f64(4, 1.0))
    + ld(14, f64(1, 1.0) + ld(2, b"\x01"))
    + ld(7, vi(1, 5) + ld(2, b"")),
    "map entries: missing key, missing value, duplicates, reversed": minimal()
    + ld(17, b"")
    + ld(17, text(1, "k") + f64(2, 0.5))
    + ld(17, f64(2, 0.25) + text(1, "k"))
    + ld(17, text(1, "v"))
    + ld(17, text(1, "a") + text(1, "b") + f64(2, 1.0) + f64(2, 2.0)),
    "map entries with unknown fields are dropped": minimal()
    + ld(17, text(1, "k") + f64(2, 0.5))
    + ld(17, text(1, "k") + f64(2, 0.75) + vi(3, 1))
    + ld(17, text(1, "x") + vi(2, 1))
    + ld(17, vi(1, 1) + f64(2, 1.0))
    + ld(17, text(1, "y") + group(5)),
    "varint extremes": minimal()
    + key(10, 0)
    + b"\xff" * 9
    + b"\x7f"
    + key(19, 0)
    + b"\xff\xff\xff\xff\x0f"
    + ld(14, vi(1, -1) + key(2, 0) + b"\x80\x80\x80\x80\x10")
    + ld(15, vi(1, 1 << 63) + vi(2, 0xFFFFFFFF)),
    "over-long but valid varints and lengths": minimal()
    + key(10, 0)
    + b"\x85\x80\x80\x80\x80\x80\x00"
    + key(4, 2)
    + b"\x81\x80\x80\x80\x00"
    + b"T"
    + b"\x88\x80\x80\x80\x00"
    + b"\x01",
    "the enum at the int32 edges": minimal() + vi(19, 2**31 - 1) + vi(19, -(2**31)),
}


@pytest.mark.parametrize("name", list(NON_CANONICAL))
def test_non_canonical_encodings(impl: ModuleType, name: str) -> None:
    check(impl, one(NON_CANONICAL[name]))


def test_an_event_field_sent_twice_merges(impl: ModuleType) -> None:
    # upb parses each occurrence alone (so each must be whole) and merges the second into the first.
    whole = bench_pool()[3]
    first = signal_pb2.RawSignalEvent()
    first.CopyFrom(whole)
    first.ClearField("description")
    del first.keywords[2:]
    second = signal_pb2.RawSignalEvent(description=whole.description, keywords=whole.keywords[2:])
    second.resolution_date.nanos = 5
    data = request(
        text(1, "c")
        + ld(2, first.SerializeToString())
        + text(1, "d")
        + vi(9, 1)
        + ld(2, second.SerializeToString()),
        ld(2, minimal()) + ld(2, text(4, "Other")) + ld(2, b""),
    )
    check(impl, data)


def test_unknown_fields_around_the_stream_events_are_skipped(impl: ModuleType) -> None:
    data = (
        vi(2, 1)
        + group(3, ld(1, b"\xff"))
        + ld(1, stream_event(minimal(), "a") + f64(3, 1.0) + group(4))
        + key(1, 0)
        + b"\x01"
        + ld(1, stream_event(minimal(), "b"))
    )
    assert [cid for cid, _, _ in check(impl, data)] == ["a", "b"]


# --- Malformed input -----------------------------------------------------------------------------


WIRE_ERRORS = {
    request(stream_event(minimal()))[:-1]: "length 42 exceeds the 41 bytes left at byte 1",
    b"\x0a": "truncated length at byte 1",
    b"\x0a\x80": "truncated length at byte 1",
    b"\x0a\x80\x80\x80\x80\x80\x00": "length longer than 5 bytes at byte 1",
    b"\x00\x01": "field number 0 at byte 0",
    b"\x08": "truncated varint at byte 1",
    b"\x08" + b"\xff" * 10 + b"\x01": "varint longer than 10 bytes at byte 1",
    b"\x0c": "unexpected end-group tag 1 at byte 0",
    b"\x0b": "group 1 not terminated at byte 0",
    b"\x0b\x14": "unexpected end-group tag 2 at byte 1",
    b"\x0e": "invalid wire type 6 at byte 0",
    b"\x0f": "invalid wire type 7 at byte 0",
    b"\x09\x00": "truncated fixed64 at byte 1",
    b"\x0d\x00\x00\x00": "truncated fixed32 at byte 1",
    b"\x88": "truncated tag at byte 0",
    b"\x88\x80\x80\x80\x80\x00": "invalid tag at byte 0",
    b"\x88\x80\x80\x80\x10": "invalid tag at byte 0",
    request(stream_event(minimal()), b"\x12\x02\x0a"): (
        "length 2 exceeds the 1 bytes left in events[1] at byte 47"
    ),
    request(text(1, "ok"), b"\x0a\x01\xff"): (
        "invalid UTF-8 in correlation_id in events[1] at byte 10"
    ),
    request(b"\x00"): "field number 0 in events[0] at byte 2",
    request(key(5, 3) * 100 + key(5, 4) * 100): (
        "nesting deeper than 100 levels in events[0] at byte 102"
    ),
}


@pytest.mark.parametrize("data", list(WIRE_ERRORS), ids=list(WIRE_ERRORS.values()))
def test_broken_framing_is_a_wire_error(impl: ModuleType, data: bytes) -> None:
    with pytest.raises(DecodeError):
        service_pb2.ProcessStreamRequest.FromString(data)
    with pytest.raises(impl.WireError) as caught:
        impl.decode_stream_request(data, RECEIVED, BIG)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == "malformed ProcessStreamRequest: " + WIRE_ERRORS[data]


def test_the_native_module_raises_the_twins_wire_error(
    native: ModuleType, twin: ModuleType
) -> None:
    assert native.WireError is twin.WireError


MALFORMED_EVENTS = {
    minimal() + b"\x0a\x05ab": "length 5 exceeds the 2 bytes left at byte 38",
    minimal() + ld(4, b"ok\xed\xa0\x80"): "invalid UTF-8 in title at byte 41",
    minimal() + ld(11, b"\xc0\x80"): "invalid UTF-8 in keywords at byte 39",
    minimal() + ld(12, ld(3, b"\xff")): "invalid UTF-8 in locations.name at byte 41",
    minimal() + ld(12, ld(4, b"a\xf4\x90\x80\x80")): (
        "invalid UTF-8 in locations.region_code at byte 42"
    ),
    minimal() + ld(17, ld(1, b"\x80") + vi(3, 1)): "invalid UTF-8 in source_metrics.key at byte 42",
    minimal()
    + ld(20, b"\x00" * 12): "packed outcome_prices length 12 is not a multiple of 8 at byte 37",
    minimal() + ld(7, vi(0, 1)): "field number 0 at byte 39",
    minimal() + ld(7, key(1, 1) + b"\x00"): "truncated fixed64 at byte 40",
    minimal() + ld(14, key(1, 0) + b"\xff"): "truncated varint at byte 40",
    minimal() + f64(6, 0.5)[:5]: "truncated fixed64 at byte 38",
    minimal() + key(30, 3) * 98 + key(30, 4) * 98: "",  # deep but allowed
    minimal() + key(30, 3) * 99 + key(30, 4) * 99: "nesting deeper than 100 levels at byte 233",
    minimal() + ld(14, key(30, 3) * 97 + key(30, 4) * 97): "",
    minimal()
    + ld(14, key(30, 3) * 98 + key(30, 4) * 98): "nesting deeper than 100 levels at byte 234",
    minimal() + key(30, 3) + key(31, 4): "unexpected end-group tag 31 at byte 39",
    minimal() + key(1, 7): "invalid wire type 7 at byte 37",
}


@pytest.mark.parametrize("event", list(MALFORMED_EVENTS), ids=range(len(MALFORMED_EVENTS)))
def test_a_malformed_event_fails_only_itself(impl: ModuleType, event: bytes) -> None:
    good = bench_pool()[5].SerializeToString()
    data = request(
        stream_event(good, "before"), stream_event(event, "bad"), stream_event(good, "after")
    )
    problem = MALFORMED_EVENTS[event]
    if not problem:
        check(impl, data)
        return
    with pytest.raises(DecodeError):
        service_pb2.ProcessStreamRequest.FromString(data)
    got = impl.decode_stream_request(data, RECEIVED, BIG)
    assert got[1] == (
        "bad",
        None,
        [FieldViolation("events[1].event", "is not a valid RawSignalEvent: " + problem)],
    )
    alone = reference(request(stream_event(good, "before")))[0]
    assert same(got[0], alone)
    assert same(got[2], reference(request(stream_event(good, "after")), first_index=2)[0])


def test_the_offset_of_a_problem_counts_the_earlier_occurrences(impl: ModuleType) -> None:
    data = request(text(1, "c") + ld(2, minimal()) + ld(2, f64(8, 1.0) + b"\x0f"))
    got = impl.decode_stream_request(data, RECEIVED, BIG)
    assert (
        got[0][2][0].description == "is not a valid RawSignalEvent: invalid wire type 7 at byte 46"
    )


# --- Hypothesis: events with every field type and extreme values --------------------------------

LIMITS = {
    "event_id": validation.MAX_ID_CHARS,
    "source": validation.MAX_SOURCE_CHARS,
    "market_id": validation.MAX_ID_CHARS,
    "title": validation.MAX_TITLE_CHARS,
    "description": validation.MAX_DESCRIPTION_CHARS,
    "market_url": validation.MAX_URL_CHARS,
}


def texts(limit: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=12),
        st.sampled_from(["", " ", " a", "\u2003b", "\x1cc", "a ", "pm-1", "polymarket"]),
        st.builds(
            lambda n, c: c * n,
            st.sampled_from([limit - 1, limit, limit + 1]),
            st.sampled_from(["x", "é", " "]),
        ),
    )


unit = st.floats(0.0, 1.0) | st.sampled_from([0.0, 1.0, -0.0])
extreme = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.0000000000000002, -1e-300]
)
int64s = st.integers(-(2**63), 2**63 - 1) | st.sampled_from([0, -1, 2**63 - 1, -(2**63)])
seconds = st.integers(-(2**63), 2**63 - 1) | st.sampled_from(
    [-62_135_596_800, -62_135_596_801, 253_402_300_799, 253_402_300_800, 0, 9_000_000_001]
)
nanos = st.integers(-(2**31), 2**31 - 1) | st.sampled_from([0, 999_999_999, 1_000_000_000, -1])


@st.composite
def messages(draw: st.DrawFn) -> signal_pb2.RawSignalEvent:
    """A RawSignalEvent, valid but for the fields drawn from the extreme strategies."""
    wild = draw(st.sets(st.sampled_from(range(12)), max_size=3))
    m = signal_pb2.RawSignalEvent()
    for name, limit in LIMITS.items():
        default = {"event_id": "pm-1", "source": "polymarket", "title": "Will it?"}.get(name, "")
        setattr(m, name, draw(texts(limit)) if 0 in wild else default)
    probability = draw(extreme if 1 in wild else unit)
    if not (2 in wild and draw(st.booleans())):
        m.probability = probability
    if draw(st.booleans()):
        m.movement.SetInParent()
        if 2 in wild:
            m.movement.previous, m.movement.delta = draw(extreme), draw(extreme)
            m.movement.window_hours = draw(extreme)
        elif math.isfinite(probability):
            delta = draw(st.floats(-1.0, 1.0))
            m.movement.previous, m.movement.delta = probability - delta, delta
            m.movement.window_hours = draw(st.floats(0.1, 1e6))
    m.liquidity_usd = draw(extreme if 3 in wild else st.floats(0.0, 1e9))
    m.volume_usd = draw(extreme if 3 in wild else st.floats(0.0, 1e9))
    m.num_traders = draw(int64s if 4 in wild else st.integers(0, 10**6))
    many = st.integers(0, 3) if 5 not in wild else st.sampled_from([0, 1, 64, 65])
    m.keywords.extend(
        draw(texts(validation.MAX_KEYWORD_CHARS)) if 5 in wild else f"k{i}"
        for i in range(draw(many))
    )
    for _ in range(draw(many)):
        if 6 in wild:
            m.locations.add(
                lat=draw(extreme),
                lon=draw(extreme),
                name=draw(texts(validation.MAX_LOCATION_NAME_CHARS)),
                region_code=draw(texts(validation.MAX_REGION_CODE_CHARS)),
            )
        else:
            m.locations.add(lat=draw(st.floats(-90, 90)), lon=draw(st.floats(-180, 180)), name="P")
    for name in ("created_at", "resolution_date", "observed_at"):
        if draw(st.booleans()):
            ts = getattr(m, name)
            ts.SetInParent()
            if 7 in wild:
                ts.seconds, ts.nanos = draw(seconds), draw(nanos)
            else:
                ts.seconds = draw(st.integers(0, 4_000_000_000))
                ts.nanos = draw(st.integers(0, 999_999_999))
    for i in range(draw(many)):
        if 8 in wild:
            m.source_metrics[draw(texts(validation.MAX_METRIC_KEY_CHARS))] = draw(extreme)
        else:
            m.source_metrics[f"m{i}"] = draw(st.floats(-1e9, 1e9))
    if 9 in wild:
        m.raw_payload = draw(st.binary(max_size=8) | st.just(b"\x01" * (256 * 1024 + 1)))
    else:
        m.raw_payload = draw(st.binary(max_size=8))
    m.market_state = draw(st.integers(-(2**31), 2**31 - 1) if 10 in wild else st.integers(0, 3))
    m.outcome_prices.extend(draw(extreme if 11 in wild else unit) for _ in range(draw(many)))
    return m


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(messages(), min_size=1, max_size=3), cid=st.text(max_size=5))
def test_hypothesis_events(
    impl: ModuleType, events: list[signal_pb2.RawSignalEvent], cid: str
) -> None:
    check(impl, request(*(stream_event(m.SerializeToString(), cid) for m in events)))


# --- Hypothesis: hand-built non-canonical wire ---------------------------------------------------


def wire_value(draw: st.DrawFn, number: int, wire_type: int, depth: int) -> bytes:
    if wire_type == 0:
        value = draw(st.integers(0, 2**64 - 1) | st.sampled_from([0, 1, 3, 2**31, 2**63]))
        return key(number, 0) + varint(value)
    if wire_type == 1:
        return key(number, 1) + struct.pack("<d", draw(extreme | unit))
    if wire_type == 5:
        return key(number, 5) + draw(st.binary(min_size=4, max_size=4))
    if wire_type == 3:
        return group(number, draw(wire_fields(depth + 1, (1, 2, 3, 4, 9))))
    if number in (7, 12, 14, 15, 16, 17) and depth == 0 and draw(st.booleans()):
        body = draw(wire_fields(depth + 1, (1, 2, 3, 4, 5)))
    elif draw(st.booleans()):
        body = draw(st.text(max_size=6)).encode()
    else:
        body = draw(st.binary(max_size=16))
    return ld(number, body)


@st.composite
def wire_fields(
    draw: st.DrawFn, depth: int = 0, numbers: tuple[int, ...] = tuple(range(1, 23))
) -> bytes:
    """Fields with random numbers, wire types and values (some not parseable at all)."""
    if depth > 2:
        return b""
    parts = []
    for _ in range(draw(st.integers(0, 8 if depth == 0 else 3))):
        number = draw(st.sampled_from(numbers))
        wire_type = draw(st.sampled_from([0, 1, 2, 2, 2, 3, 5]))
        parts.append(wire_value(draw, number, wire_type, depth))
    return b"".join(parts)


def decode_or_error(module: ModuleType, data: bytes) -> Result | str:
    try:
        result: Result = module.decode_stream_request(data, RECEIVED, BIG)
    except module.WireError as exc:
        return f"WireError: {exc}"
    return result


def split_stream_events(data: bytes) -> list[bytes]:
    """The bytes of each StreamEvent of a request whose framing parses (independent of the
    decoders: a minimal wire walker)."""

    def read(pos: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, pos

    def skip(pos: int, tag: int) -> int:
        wire_type = tag & 7
        if wire_type == 0:
            return read(pos)[1]
        if wire_type in (1, 5):
            return pos + (8 if wire_type == 1 else 4)
        if wire_type == 2:
            size, pos = read(pos)
            return pos + size
        assert wire_type == 3
        while True:
            inner, pos = read(pos)
            if inner == tag + 1:
                return pos
            pos = skip(pos, inner)

    spans, pos = [], 0
    while pos < len(data):
        tag, pos = read(pos)
        if tag == 0x0A:
            size, pos = read(pos)
            spans.append(data[pos : pos + size])
            pos += size
        else:
            pos = skip(pos, tag)
    return spans


def malformed(entry: tuple[str, RawEvent | None, list[FieldViolation]]) -> bool:
    return (
        entry[1] is None
        and len(entry[2]) == 1
        and entry[2][0].description.startswith("is not a valid RawSignalEvent: ")
    )


def assert_isolated(native: ModuleType, twin: ModuleType, data: bytes) -> None:
    """Native and twin agree exactly; each event is what upb makes of its StreamEvent alone,
    or malformed exactly when upb rejects it alone; the whole request equals the reference
    whenever upb parses it, and a WireError only comes with a request upb rejects."""
    got = decode_or_error(native, data)
    assert same(got, decode_or_error(twin, data)), data
    try:
        expected: Result | None = reference(data)
    except DecodeError:
        expected = None
    if isinstance(got, str):
        assert expected is None, (got, data)
        return
    if expected is not None:
        assert same(got, expected), (got, expected, data)
    spans = split_stream_events(data)
    assert len(spans) == len(got)
    for i, span in enumerate(spans):
        try:
            alone = reference(request(span), first_index=i)[0]
        except DecodeError:
            assert malformed(got[i]), (i, got[i], data)
        else:
            assert same(got[i], alone), (i, got[i], alone, data)
    assert (expected is None) == any(malformed(entry) for entry in got)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(wire_fields(), min_size=1, max_size=3), extra=wire_fields(1, (1, 2, 3, 5)))
def test_hypothesis_wire(
    native: ModuleType, twin: ModuleType, events: list[bytes], extra: bytes
) -> None:
    good = minimal()
    data = request(
        stream_event(good, "first"),
        *(stream_event(good + e, f"e{i}") for i, e in enumerate(events)),
        stream_event(good, "last") + extra,
    )
    assert_isolated(native, twin, data)


# ASCII, continuation bytes and the lead bytes at the edges of UTF-8's ranges (overlong forms,
# surrogates, beyond U+10FFFF).
UTF8_BYTES = st.lists(
    st.sampled_from(bytes.fromhex("41 80 8f 90 9f a0 bf c0 c1 c2 df e0 ed ef f0 f4 f5 ff")),
    max_size=6,
).map(bytes)


@settings(max_examples=300, deadline=None)
@given(title=UTF8_BYTES, keyword=UTF8_BYTES, name=UTF8_BYTES, metric=UTF8_BYTES)
def test_hypothesis_utf8_is_checked_as_upb_checks_it(
    native: ModuleType, twin: ModuleType, title: bytes, keyword: bytes, name: bytes, metric: bytes
) -> None:
    event = minimal() + ld(4, title) + ld(11, keyword) + ld(12, ld(3, name)) + ld(17, ld(1, metric))
    assert_isolated(native, twin, request(stream_event(minimal()), stream_event(event)))


# --- Fuzz: mutations and truncations of valid requests -------------------------------------------


FUZZ_POOL = bench_pool()[:8]


def valid_request(rng: random.Random, pool: list[signal_pb2.RawSignalEvent]) -> bytes:
    items = []
    for i in range(rng.randint(1, 4)):
        m = signal_pb2.RawSignalEvent()
        m.CopyFrom(rng.choice(pool))
        m.event_id = f"pm-{i}"
        if rng.random() < 0.5:
            m.movement.previous, m.movement.delta, m.movement.window_hours = 0.1, 0.2, 3.0
            m.source_metrics["spread"] = 0.5
            m.observed_at.FromSeconds(1_700_000_000)
            m.outcome_prices.extend([0.3, 0.7])
            m.market_state = 2
            m.num_traders = 7
            m.raw_payload = b"raw"
        items.append(stream_event(m.SerializeToString(), f"id-{i}"))
    return request(*items)


@settings(max_examples=2000, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_fuzz_mutated_requests(native: ModuleType, twin: ModuleType, seed: int) -> None:
    rng = random.Random(seed)
    data = mutate(rng, valid_request(rng, FUZZ_POOL))
    assert_isolated(native, twin, data)


@settings(max_examples=1500, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_fuzz_a_mutated_event_between_valid_ones(
    native: ModuleType, twin: ModuleType, seed: int
) -> None:
    rng = random.Random(seed)
    body = rng.choice(FUZZ_POOL).SerializeToString()
    broken = mutate(rng, body)
    good = FUZZ_POOL[0].SerializeToString()
    data = request(stream_event(good, "a"), stream_event(broken, "b"), stream_event(good, "c"))
    assert_isolated(native, twin, data)
    got = native.decode_stream_request(data, RECEIVED, BIG)
    assert same(got[0], reference(request(stream_event(good, "a")))[0])
    assert same(got[2], reference(request(stream_event(good, "c")), first_index=2)[0])


def test_every_truncation_of_a_request(native: ModuleType, twin: ModuleType) -> None:
    data = valid_request(random.Random(3), FUZZ_POOL)
    for end in range(len(data) + 1):
        assert_isolated(native, twin, data[:end])


# --- The request's view ------------------------------------------------------------------------


VIEWS = {
    "absent": request(stream_event(minimal())),
    "empty request": b"",
    "basic": request(stream_event(minimal())) + vi(2, 2),
    "full, before the events": vi(2, 1) + request(stream_event(minimal())),
    "the last occurrence wins": vi(2, 2) + request(stream_event(minimal())) + vi(2, 1),
    "an unknown number": vi(2, 7),
    "wrapped to signed 32 bits": vi(2, (1 << 64) - 1),
    "the low 32 bits of a wide varint": vi(2, (1 << 40) + 2),
    "as another wire type it is an unknown field": vi(2, 2) + ld(2, b"\x02") + f64(2, 1.0),
    "among unknown fields and groups": group(3, vi(2, 1)) + vi(2, 2) + key(7, 5) + b"\0\0\0\0",
}


@pytest.mark.parametrize("data", list(VIEWS.values()), ids=list(VIEWS))
def test_the_request_view_is_upbs(impl: ModuleType, data: bytes) -> None:
    assert impl.request_view(data) == service_pb2.ProcessStreamRequest.FromString(data).view
    assert impl.request_view(bytearray(data)) == impl.request_view(memoryview(data))


# The request's own framing (the view reader does not look inside the events).
REQUEST_ERRORS = {data: what for data, what in WIRE_ERRORS.items() if " in events[" not in what}


@pytest.mark.parametrize("data", list(REQUEST_ERRORS), ids=list(REQUEST_ERRORS.values()))
def test_the_request_view_of_broken_framing_is_a_wire_error(impl: ModuleType, data: bytes) -> None:
    with pytest.raises(impl.WireError) as caught:
        impl.request_view(data)
    assert str(caught.value) == "malformed ProcessStreamRequest: " + WIRE_ERRORS[data]


@settings(max_examples=500, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), view=st.integers(-(2**31), 2**64 - 1))
def test_fuzz_the_request_view(native: ModuleType, twin: ModuleType, seed: int, view: int) -> None:
    rng = random.Random(seed)
    data = mutate(rng, valid_request(rng, FUZZ_POOL) + vi(2, view))
    try:
        expected: int | None = service_pb2.ProcessStreamRequest.FromString(data).view
    except DecodeError:
        expected = None  # upb also rejects a malformed event; the view reader skips events
    outcomes = []
    for module in (native, twin):
        try:
            outcomes.append(module.request_view(data))
        except module.WireError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]
    if expected is not None:
        assert outcomes[0] == expected


# --- The compiled module's shortcuts ---------------------------------------------------------------


def test_values_are_built_without_init_and_untracked(native: ModuleType) -> None:
    assert all(native.fast_layouts().values()), native.fast_layouts()
    event = native.decode_stream_request(
        one(NON_CANONICAL["split movement merges"] + ld(12, b"")), 0, BIG
    )[0][1]
    assert isinstance(event, RawEvent) and isinstance(event.market_state, MarketState)
    assert not gc.is_tracked(event) and not gc.is_tracked(event.movement)
    assert not any(gc.is_tracked(v) for v in (event.locations, *event.locations, event.keywords))
    gc.collect()


def validate_event_source() -> str:
    parts = [
        validation._check_text,
        validation._check_range,
        validation._check_non_negative,
        validation.validate_event,
    ]
    return "".join(inspect.getsource(f) for f in parts)


def test_validate_event_is_the_one_eventwire_mirrors() -> None:
    """eventwire.pyx's clean() skips validate_event when it surely finds nothing. It mirrors
    the rules below: when this fails, bring clean() in line with the change, then update the
    digest."""
    digest = hashlib.sha256(validate_event_source().encode()).hexdigest()[:16]
    assert digest == "100b9baaec76221d", digest


def test_any_int_limit(native: ModuleType, twin: ModuleType) -> None:
    data = one(minimal())
    for limit in (2**100, 37, 36, 0, -5):
        got = native.decode_stream_request(data, RECEIVED, limit)
        assert same(got, twin.decode_stream_request(data, RECEIVED, limit))
        assert same(got, reference(data, limit))


def test_received_at_is_any_int_and_data_any_bytes_like(impl: ModuleType) -> None:
    data = one(minimal())
    for received in (0, -1, 2**80):
        assert (
            impl.decode_stream_request(bytearray(data), received, BIG)[0][1].observed_at_ns
            == received
        )
    assert same(impl.decode_stream_request(memoryview(data), RECEIVED, BIG), reference(data))
