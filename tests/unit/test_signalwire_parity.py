"""The compiled omen._native.signalwire and its twin signalwire_py write exactly the bytes upb
writes: encode_signal(s) == signal_to_proto(s).SerializeToString(deterministic=True), and the
stream's EMITTED results and response bodies equal the messages built and serialised by upb.

Every test taking `impl` runs against both modules. When the compiled module cannot be imported
its tests are skipped, unless OMEN_REQUIRE_NATIVE=1 is set (as in CI): then they fail. Bytes are
compared, never parsed values, so a dropped, duplicated or reordered field, a -0.0 written as
+0.0 or a NaN with other bits all fail.
"""

from __future__ import annotations

import functools
import math
import struct
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omen._proto import service_pb2, signal_pb2
from omen.adapters.ledger.records import signal_offset
from omen.adapters.proto_codec import signal_from_proto, signal_to_proto
from omen.domain.events import Location, RawEvent
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
from omen.domain.validation import FieldViolation
from omen.entrypoints.grpc.convert import fill_invalid_stream_result, fill_stream_result
from tests.native_impls import parity_fixtures
from tests.signal_samples import SHIPPING_TITLES, U64_MAX, full_signal, varied_event
from tests.support import NS, make_pipeline

impl, native, twin = parity_fixtures("omen._native.signalwire", "omen._native.signalwire_py")

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Values outside the domain's declared types, which the encoders must treat as upb does.
ZERO: Any = 0
MINUS_FIVE: Any = -5
NONE: Any = None
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference(signal: OmenSignal) -> bytes:
    data: bytes = signal_to_proto(signal).SerializeToString(deterministic=True)
    return data


def outcome(fn: Callable[..., bytes], *args: Any) -> tuple[str, Any]:
    """("ok", the bytes) or ("raises", the exception's type)."""
    try:
        return "ok", fn(*args)
    except Exception as exc:
        return "raises", type(exc)


# --- Real signals --------------------------------------------------------------------------


def bench_corpus(n: int, seed: int) -> list[RawEvent]:
    root = Path(__file__).resolve().parent.parent.parent
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        from bench_pipeline import corpus
    finally:
        sys.path.remove(str(root / "benchmarks"))
    events: list[RawEvent] = corpus(n, seed)
    return events


@functools.cache
def real_signals() -> tuple[OmenSignal, ...]:
    """Signals of the benchmark corpus (Polymarket fixtures, random walks, duplicates) and of
    hand-made events: traced and untraced, with and without resolution dates and locations."""
    pipeline = make_pipeline()
    events = bench_corpus(1200, 7) + bench_corpus(300, 11)
    events += [
        varied_event(i, event_id=f"h-{i}", market_id=f"hm-{i}") for i in range(len(SHIPPING_TITLES))
    ]
    signals = []
    for i, e in enumerate(events):
        result = pipeline.process(e, trace_id="0af7651916cd43dd8448eb211c80319c" if i % 2 else "")
        if result.signal is not None:
            signals.append(result.signal)
    return tuple(signals)


def test_the_real_signals_are_varied() -> None:
    signals = real_signals()
    assert len(signals) > 500
    assert len({s.category for s in signals}) >= 4
    assert any(s.temporal.resolution_date_ns is None for s in signals)
    assert any(s.temporal.resolution_date_ns is not None for s in signals)
    assert any(s.trace_id for s in signals) and any(not s.trace_id for s in signals)
    assert any(s.geographic.coordinates for s in signals)
    assert any(not s.description.isascii() for s in signals)


def test_real_signals_encode_as_upb_does(impl: ModuleType) -> None:
    for s in real_signals():
        assert impl.encode_signal(s) == reference(s), s.signal_id


def test_real_signals_with_a_ledger_position_encode_as_upb_does(impl: ModuleType) -> None:
    for i, s in enumerate(real_signals()):
        placed = replace(s, ledger_partition="2026-11-26" + "-late" * (i % 2), ledger_sequence=i)
        data = impl.encode_signal(placed)
        assert data == reference(placed), s.signal_id
        # The position is appended: fields 26 and 27 are the last ones.
        assert data.startswith(impl.encode_signal(s))


def test_real_signals_round_trip_through_upb(impl: ModuleType) -> None:
    for s in real_signals():
        data = impl.encode_signal(s)
        message = signal_pb2.OmenSignal.FromString(data)
        assert signal_from_proto(message) == s
        assert message.SerializeToString(deterministic=True) == data


def test_native_and_twin_agree_on_real_signals(native: ModuleType, twin: ModuleType) -> None:
    for s in real_signals():
        assert native.encode_signal(s) == twin.encode_signal(s)


# --- Reading the domain's slots (compiled module) -----------------------------------------------

SIGNAL_CLASSES = (
    OmenSignal,
    ConfidenceFactor,
    ConfidenceInterval,
    GeographicContext,
    Location,
    TemporalContext,
    Evidence,
    ValidationResult,
    ImpactHints,
)


def test_every_field_is_read_straight_from_its_slot(native: ModuleType) -> None:
    # A False (or a missing field) here would mean the compiled module silently reads that
    # field of a real signal (or of a stream's ProcessResult) through getattr().
    want = {f"{cls.__name__}.{name}" for cls in SIGNAL_CLASSES for name in cls.__slots__}
    want |= {
        f"ProcessResult.{name}"
        for name in ProcessResult.__slots__
        if name != "input_event_hash"  # a stream result does not report it
    }
    assert native.direct_fields() == dict.fromkeys(want, True)


def duck(value: Any) -> Any:
    """`value` with every domain object replaced by a SimpleNamespace of the same fields."""
    if isinstance(value, tuple):
        return tuple(duck(v) for v in value)
    if type(value) in SIGNAL_CLASSES:
        return SimpleNamespace(**{f: duck(getattr(value, f)) for f in type(value).__slots__})
    return value


def test_duck_typed_signals_are_read_through_their_attributes(native: ModuleType) -> None:
    for s in real_signals()[:200]:
        assert native.encode_signal(duck(s)) == reference(s), s.signal_id
    s = full_signal()
    assert native.encode_signal(duck(s)) == reference(s)


class RoundedInterval(ConfidenceInterval):
    """A subclass whose `upper` is a property: only getattr() sees it, not the slot below."""

    __slots__ = ()

    @property
    def upper(self) -> float:  # type: ignore[override]
        return 0.75


class LabelledSignal(OmenSignal):
    __slots__ = ("label",)


def test_subclass_instances_are_read_through_their_attributes(native: ModuleType) -> None:
    s = full_signal()
    interval = object.__new__(RoundedInterval)
    ConfidenceInterval.__dict__["lower"].__set__(interval, 0.5)
    ConfidenceInterval.__dict__["upper"].__set__(interval, 0.25)
    got = native.encode_signal(replace(s, confidence_interval=interval))
    assert got == reference(replace(s, confidence_interval=ConfidenceInterval(0.5, 0.75)))
    for real in (s, *real_signals()[:50]):
        labelled = LabelledSignal(**{f: getattr(real, f) for f in OmenSignal.__slots__})
        assert native.encode_signal(labelled) == reference(real)


def test_an_unset_slot_raises_attribute_error_as_getattr_does(native: ModuleType) -> None:
    s = full_signal()
    interval = object.__new__(ConfidenceInterval)
    ConfidenceInterval.__dict__["lower"].__set__(interval, 0.5)
    with pytest.raises(AttributeError):
        native.encode_signal(replace(s, confidence_interval=interval))


# --- Every field, and the edges of each type ---------------------------------------------------


def test_every_field_is_written_in_field_number_order(impl: ModuleType) -> None:
    s = full_signal()
    data = impl.encode_signal(s)
    assert data == reference(s)
    message = signal_pb2.OmenSignal.FromString(data)
    numbers = [field.number for field, _ in message.ListFields()]
    assert numbers == list(range(1, 28))
    assert signal_from_proto(message) == s
    # The top-level tags, read off the bytes, come in ascending order with no repeats except
    # the repeated fields (12, 19, 20).
    tags = []
    offset = 0
    while offset < len(data):
        key, offset = read_varint(data, offset)
        field, wire_type = key >> 3, key & 7
        tags.append(field)
        if wire_type == 0:
            _, offset = read_varint(data, offset)
        elif wire_type == 1:
            offset += 8
        else:
            size, offset = read_varint(data, offset)
            offset += size
    assert tags == sorted(tags)
    assert tags == [n for n in range(1, 28) for _ in range(2 if n in (12, 19, 20) else 1)]


def read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, offset


def test_empty_submessages_are_written_as_tag_and_length_zero(impl: ModuleType) -> None:
    s = full_signal(
        signal_id="",
        input_event_hash="",
        source_event_id="",
        source="",
        market_id="",
        title="",
        description="",
        probability=0.0,
        probability_is_estimate=False,
        confidence_score=0.0,
        confidence_level=0,
        confidence_factors=(),
        confidence_interval=ConfidenceInterval(0.0, 0.0),
        category=0,
        signal_type=0,
        status=0,
        geographic=GeographicContext(),
        temporal=TemporalContext(ZERO, None, 0.0, 0.0),
        evidence=(),
        validation_results=(),
        impact_hints=ImpactHints((), ZERO, (), ""),
        ruleset_version="",
        trace_id="",
        observed_at_ns=0,
        generated_at_ns=0,
        ledger_partition="",
        ledger_sequence=0,
    )
    expected = bytes.fromhex("6a008a0100920100aa0100c20100ca0100")
    assert reference(s) == expected
    assert impl.encode_signal(s) == expected


def test_large_submessages_and_signals_beyond_the_stack_buffer(impl: ModuleType) -> None:
    # Submessage lengths of one, two and three varint bytes (127, 128, 16_383, 16_384 and more),
    # nested (a Location inside GeographicContext), and a signal of megabytes.
    for size in (0, 1, 100, 118, 119, 120, 127, 128, 16_370, 16_384, 20_000, 2_100_000):
        text = "x" * size
        s = full_signal(
            description=text,
            evidence=(Evidence("k", text, -0.0, text[: size // 3]),),
            geographic=GeographicContext(
                tuple(f"R{i}" for i in range(size // 500)),
                (text,),
                (Location(1.0, 2.0, text, "ZZ"), Location(-0.0, math.inf, "", "")),
            ),
            impact_hints=ImpactHints(("d",) * (size // 1000), ImpactDirection.NEGATIVE, (), text),
        )
        assert impl.encode_signal(s) == reference(s), size


def test_doubles_keep_their_bits(impl: ModuleType) -> None:
    # upb omits a double only when all its bits are zero: -0.0 and every NaN are written as-is.
    cases = [0.0, -0.0, math.nan, -math.nan, math.inf, -math.inf, 5e-324, -1.7976931348623157e308]
    cases += [
        struct.unpack("<d", bytes.fromhex(h))[0] for h in ("010000000000f07f", "0100000000f0ffff")
    ]
    for x in cases:
        s = full_signal(probability=x, temporal=TemporalContext(TimeHorizon.SHORT_TERM, None, x, x))
        data = impl.encode_signal(s)
        assert data == reference(s), x
        assert (struct.pack("<d", x) in data) == (struct.pack("<d", x) != bytes(8))


# --- Edge cases against upb, one at a time ---------------------------------------------------------


def with_temporal(**fields: Any) -> Callable[[OmenSignal], OmenSignal]:
    return lambda s: replace(s, temporal=replace(s.temporal, **fields))


def with_geographic(**fields: Any) -> Callable[[OmenSignal], OmenSignal]:
    return lambda s: replace(s, geographic=replace(s.geographic, **fields))


def with_hints(**fields: Any) -> Callable[[OmenSignal], OmenSignal]:
    return lambda s: replace(s, impact_hints=replace(s.impact_hints, **fields))


def with_field(**fields: Any) -> Callable[[OmenSignal], OmenSignal]:
    return lambda s: replace(s, **fields)


SURROGATE = "a\ud800b"
EDGE_CASES: list[tuple[str, Callable[[OmenSignal], OmenSignal]]] = [
    # Lone surrogates cannot be UTF-8 encoded: UnicodeEncodeError wherever they are.
    ("surrogate signal_id", with_field(signal_id="\udfff")),
    ("surrogate title", with_field(title=SURROGATE)),
    ("surrogate description", with_field(description="🚢" + SURROGATE)),
    ("surrogate factor", with_field(confidence_factors=(ConfidenceFactor(SURROGATE, 1.0, 1.0),))),
    ("surrogate region", with_geographic(regions=("IR", SURROGATE))),
    ("surrogate location", with_geographic(coordinates=(Location(1.0, 2.0, SURROGATE),))),
    ("surrogate evidence", with_field(evidence=(Evidence("k", "d", 1.0, SURROGATE),))),
    (
        "surrogate reason",
        with_field(
            validation_results=(ValidationResult("r", "1", RuleStatus.PASSED, 1.0, SURROGATE),)
        ),
    ),
    ("surrogate keyword", with_hints(keywords=(SURROGATE,))),
    ("surrogate routing_key", with_hints(routing_key=SURROGATE)),
    ("surrogate ledger_partition", with_field(ledger_partition=SURROGATE)),
    # Enums: int(value), int32; negative values take ten bytes.
    ("enum -1", with_field(confidence_level=-1)),
    ("enum int32 min", with_field(category=INT32_MIN)),
    ("enum int32 max", with_field(signal_type=INT32_MAX)),
    ("enum beyond int32", with_field(status=INT32_MAX + 1)),
    ("enum below int32", with_field(status=INT32_MIN - 1)),
    ("enum from a float", with_field(confidence_level=2.7)),
    ("enum None", with_field(category=None)),
    (
        "rule status negative",
        with_field(validation_results=(ValidationResult("r", "1", MINUS_FIVE, 0.5, ""),)),
    ),
    ("horizon None", with_temporal(horizon=None)),
    ("direction -2", with_hints(direction=-2)),
    # Timestamps: divmod by 10**9, int64 seconds.
    ("resolution -1 ns", with_temporal(resolution_date_ns=-1)),
    ("resolution 0", with_temporal(resolution_date_ns=0)),
    ("resolution -10**9", with_temporal(resolution_date_ns=-NS)),
    ("resolution int64 min ns", with_temporal(resolution_date_ns=INT64_MIN)),
    ("resolution int64 max ns", with_temporal(resolution_date_ns=INT64_MAX)),
    ("resolution beyond int64 ns", with_temporal(resolution_date_ns=INT64_MAX * NS + NS - 1)),
    ("resolution below int64 ns", with_temporal(resolution_date_ns=INT64_MIN * NS)),
    ("resolution beyond int64 s", with_temporal(resolution_date_ns=(INT64_MAX + 1) * NS)),
    ("resolution below int64 s", with_temporal(resolution_date_ns=INT64_MIN * NS - 1)),
    ("resolution a float", with_temporal(resolution_date_ns=1.5e18)),
    ("resolution True", with_temporal(resolution_date_ns=True)),
    ("observed_at None", with_field(observed_at_ns=None)),
    ("generated_at huge", with_field(generated_at_ns=10**40)),
    # ledger_sequence: uint64.
    ("sequence max", with_field(ledger_sequence=U64_MAX)),
    ("sequence beyond", with_field(ledger_sequence=U64_MAX + 1)),
    ("sequence negative", with_field(ledger_sequence=-1)),
    ("sequence True", with_field(ledger_sequence=True)),
    ("sequence float", with_field(ledger_sequence=1.0)),
    ("sequence None", with_field(ledger_sequence=None)),
    # Doubles and bools convert as upb converts them.
    ("double from an int", with_field(probability=1, confidence_score=-(2**60))),
    ("double from a huge int", with_field(probability=10**400)),
    ("double from a str", with_field(probability="0.5")),
    ("double from a bool", with_temporal(days_to_resolution=True)),
    ("bool from 2", with_field(probability_is_estimate=2)),
    ("bool from a float", with_field(probability_is_estimate=1.0)),
    # None in a field passed straight to the message constructor: not set, as upb reads it.
    ("str None", with_field(title=None, trace_id=None)),
    (
        "double None",
        with_field(probability=None, confidence_interval=ConfidenceInterval(NONE, 1.0)),
    ),
    ("bool None", with_field(probability_is_estimate=None)),
    ("repeated None", with_geographic(regions=None, chokepoints=None)),
    ("repeated entry None", with_hints(domains=("a", None))),
    ("repeated from a str", with_hints(keywords="ab")),
    ("repeated from a list", with_geographic(regions=["a", ""])),
    ("empty strings repeated", with_hints(domains=("", "", ""))),
]


@pytest.mark.parametrize("mutate", [m for _, m in EDGE_CASES], ids=[n for n, _ in EDGE_CASES])
def test_edge_cases_encode_or_fail_as_upb_does(
    impl: ModuleType, mutate: Callable[..., Any]
) -> None:
    s = mutate(full_signal())
    expected = outcome(reference, s)
    assert outcome(impl.encode_signal, s) == expected


def test_a_lone_surrogate_raises_unicode_encode_error(impl: ModuleType) -> None:
    with pytest.raises(UnicodeEncodeError):
        reference(full_signal(title=SURROGATE))
    with pytest.raises(UnicodeEncodeError):
        impl.encode_signal(full_signal(title=SURROGATE))
    with pytest.raises(UnicodeEncodeError):
        impl.encode_signal(
            full_signal(impact_hints=ImpactHints((), ImpactDirection.NEGATIVE, (SURROGATE,), ""))
        )


# --- Generated signals -----------------------------------------------------------------------


texts = (
    st.sampled_from(["", "a", "é", "€", "😀", "\x00", "\U0010ffff", "x" * 130])
    | st.text(max_size=40)
    | st.text(st.characters(min_codepoint=0x80, codec="utf-8"), max_size=12)
)
bit_patterns = st.binary(min_size=8, max_size=8).map(lambda b: struct.unpack("<d", b)[0])
doubles = (
    st.floats()
    | st.sampled_from([0.0, -0.0, math.nan, -math.nan, math.inf, -math.inf, 5e-324, 1e308])
    | bit_patterns
)
ns_times = (
    st.integers(INT64_MIN, INT64_MAX)
    | st.integers(INT64_MIN * NS, INT64_MAX * NS + NS - 1)
    | st.sampled_from([0, 1, -1, NS - 1, NS, -NS, -NS - 1, INT64_MIN, INT64_MAX])
)


def enums(cls: Any, valid: bool) -> st.SearchStrategy[Any]:
    members = st.sampled_from(list(cls))
    if valid:
        return members
    return members | st.integers(INT32_MIN, INT32_MAX) | st.sampled_from([0, -1, INT32_MIN])


def repeated(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
    """A few entries, or many copies of one (cheaper to generate than many distinct ones)."""
    many = st.tuples(strategy, st.integers(20, 150)).map(lambda pair: (pair[0],) * pair[1])
    return st.lists(strategy, max_size=4).map(tuple) | many


@st.composite
def signals(draw: st.DrawFn, valid: bool = False) -> OmenSignal:
    """Any signal the domain types allow (`valid`: enums only members, doubles never NaN, so
    that signal_from_proto gives it back)."""
    d = st.floats(allow_nan=False) if valid else doubles
    return OmenSignal(
        signal_id=draw(texts),
        input_event_hash=draw(texts),
        source_event_id=draw(texts),
        source=draw(texts),
        market_id=draw(texts),
        title=draw(texts),
        description=draw(
            texts | st.tuples(texts, st.integers(10, 3000)).map(lambda p: p[0] * p[1])
        ),
        probability=draw(d),
        probability_is_estimate=draw(st.booleans()),
        confidence_score=draw(d),
        confidence_level=draw(enums(ConfidenceLevel, valid)),
        confidence_factors=draw(repeated(st.builds(ConfidenceFactor, texts, d, d))),
        confidence_interval=ConfidenceInterval(draw(d), draw(d)),
        category=draw(enums(SignalCategory, valid)),
        signal_type=draw(enums(SignalType, valid)),
        status=draw(enums(SignalStatus, valid)),
        geographic=GeographicContext(
            draw(repeated(texts)),
            draw(repeated(texts)),
            draw(repeated(st.builds(Location, d, d, texts, texts))),
        ),
        temporal=TemporalContext(
            draw(enums(TimeHorizon, valid)), draw(st.none() | ns_times), draw(d), draw(d)
        ),
        evidence=draw(repeated(st.builds(Evidence, texts, texts, d, texts))),
        validation_results=draw(
            repeated(st.builds(ValidationResult, texts, texts, enums(RuleStatus, valid), d, texts))
        ),
        impact_hints=ImpactHints(
            draw(repeated(texts)),
            draw(enums(ImpactDirection, valid)),
            draw(repeated(texts)),
            draw(texts),
        ),
        ruleset_version=draw(texts),
        trace_id=draw(texts),
        observed_at_ns=draw(ns_times),
        generated_at_ns=draw(ns_times),
        ledger_partition=draw(texts),
        ledger_sequence=draw(st.integers(0, U64_MAX) | st.sampled_from([0, 1, 127, 128, U64_MAX])),
    )


@PROPERTY
@given(signal=signals())
def test_generated_signals_encode_as_upb_does(impl: ModuleType, signal: OmenSignal) -> None:
    assert impl.encode_signal(signal) == reference(signal)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signal=signals(valid=True))
def test_generated_signals_round_trip_through_upb(impl: ModuleType, signal: OmenSignal) -> None:
    data = impl.encode_signal(signal)
    back = signal_from_proto(signal_pb2.OmenSignal.FromString(data))
    assert back == signal
    assert impl.encode_signal(back) == data


# --- Stream results and responses ------------------------------------------------------------


def emitted_reference(cid: str, sid: str, data: bytes, partition: str, sequence: int) -> bytes:
    r = service_pb2.StreamResult(
        correlation_id=cid, outcome=service_pb2.OUTCOME_EMITTED, signal_id=sid
    )
    sig = signal_pb2.OmenSignal.FromString(data)
    sig.ledger_partition = partition
    sig.ledger_sequence = sequence
    if partition:
        r.ledger_position.partition = partition
        r.ledger_position.sequence = sequence
    r.signal.CopyFrom(sig)
    result: bytes = r.SerializeToString(deterministic=True)
    return result


def test_emitted_results_of_real_signals_are_upb_results(impl: ModuleType) -> None:
    for i, s in enumerate(real_signals()[:300]):
        data = impl.encode_signal(s)
        partition = ("2026-11-26", "", "2026-11-26-late")[i % 3]
        args = (f"c-{i}", s.signal_id, data, partition, i)
        result = impl.encode_emitted_result(*args)
        assert result == emitted_reference(*args)
        signal = service_pb2.StreamResult.FromString(result).signal
        placed = replace(s, ledger_partition=partition, ledger_sequence=i)
        assert signal.SerializeToString(deterministic=True) == impl.encode_signal(placed)


@PROPERTY
@given(
    cid=texts,
    sid=texts,
    partition=st.just("") | texts,
    sequence=st.integers(0, U64_MAX) | st.sampled_from([0, 1, 127, 128, 2**63, U64_MAX]),
    index=st.integers(0, 10**6),
    size=st.sampled_from([0, 1, 100, 130, 20_000]),
)
def test_emitted_results_are_upb_results(
    impl: ModuleType, cid: str, sid: str, partition: str, sequence: int, index: int, size: int
) -> None:
    signals = real_signals()
    s = signals[index % len(signals)]
    data = impl.encode_signal(replace(s, title="t" * size))
    args = (cid, sid, data, partition, sequence)
    assert impl.encode_emitted_result(*args) == emitted_reference(*args)


def test_emitted_results_of_edge_values_are_upb_results(impl: ModuleType) -> None:
    data = impl.encode_signal(real_signals()[0])
    cases: list[tuple[Any, ...]] = [
        ("", "", data, "", 0),
        ("", "", b"", "", 0),  # an empty signal is still present: tag and length 0
        ("😀", "sig-é", data, "2026-11-26", 0),
        ("c", "s", data, "", U64_MAX),
        ("c", "s", b"", "p", 1),
        (None, None, data, "p", 3),  # None is "not set" in the reference's constructor
        (SURROGATE, "s", data, "p", 1),
        ("c", SURROGATE, data, "p", 1),
        ("c", "s", data, SURROGATE, 1),
        ("c", "s", data, "p", -1),
        ("c", "s", data, "p", U64_MAX + 1),
        ("c", "s", data, "p", True),
        ("c", "s", data, "p", None),
        ("c", "s", data, None, 1),
    ]
    for args in cases:
        assert outcome(impl.encode_emitted_result, *args) == outcome(emitted_reference, *args), args


def test_basic_emitted_results_leave_the_signal_out(impl: ModuleType) -> None:
    for i, partition in enumerate(("2026-11-26", "", "2026-11-26-late")):
        args = (f"c-{i}", f"sig-{i}", None, partition, i)
        expected = service_pb2.StreamResult(
            correlation_id=f"c-{i}", outcome=service_pb2.OUTCOME_EMITTED, signal_id=f"sig-{i}"
        )
        if partition:
            expected.ledger_position.partition = partition
            expected.ledger_position.sequence = i
        result = impl.encode_emitted_result(*args)
        assert result == expected.SerializeToString(deterministic=True)
        assert not service_pb2.StreamResult.FromString(result).HasField("signal")


def response_reference(results: list[bytes]) -> bytes:
    response = service_pb2.ProcessStreamResponse(
        results=[service_pb2.StreamResult.FromString(r) for r in results]
    )
    data: bytes = response.SerializeToString(deterministic=True)
    return data


def test_response_bodies_are_upb_responses(impl: ModuleType) -> None:
    signals = real_signals()
    results = [
        impl.encode_emitted_result(f"c-{i}", s.signal_id, impl.encode_signal(s), "p", i + 1)
        for i, s in enumerate(signals[:200])
    ]
    rejected = service_pb2.StreamResult(
        correlation_id="r", outcome=service_pb2.OUTCOME_REJECTED, reason="low"
    ).SerializeToString(deterministic=True)
    for batch in ([], results[:1], [rejected], results, [*results[:3], rejected, *results[3:9]]):
        body = impl.encode_results(batch)
        assert body == response_reference(batch)
        assert impl.encode_results(iter(batch)) == body
        assert body == b"".join(impl.encode_delimited(1, r) for r in batch)


def placed(signal: OmenSignal, partition: str, sequence: int) -> OmenSignal:
    return replace(signal, ledger_partition=partition, ledger_sequence=sequence)


def unplaced_bytes(impl: ModuleType) -> Callable[[OmenSignal], bytes]:
    """A memo's take(): the signal's encoding without its ledger position."""

    def take(signal: OmenSignal) -> bytes:
        data: bytes = impl.encode_signal(placed(signal, "", 0))
        return data

    return take


def invalid_bytes(cid: str, reason: str) -> bytes:
    out = service_pb2.StreamResult()
    fill_invalid_stream_result(
        out, cid, [FieldViolation("events[0].event.title", "required")], reason
    )
    data: bytes = out.SerializeToString(deterministic=True)
    return data


def stream_reference(cids: list[str], items: list[Any], full: bool) -> bytes:
    """The response upb serialises from convert.fill_stream_result (basic: without signals)."""
    response = service_pb2.ProcessStreamResponse()
    for cid, item in zip(cids, items, strict=True):
        if isinstance(item, bytes):
            response.results.add().MergeFromString(item)
            continue
        out = response.results.add()
        fill_stream_result(out, cid, item)
        if not full:
            out.ClearField("signal")
    data: bytes = response.SerializeToString(deterministic=True)
    return data


def mixed_results(count: int, seed: int) -> tuple[list[str], list[Any]]:
    """`count` results of every kind a stream reports, in a mixed order: EMITTED (placed and
    not), DUPLICATE, REJECTED (with a signal's rule results, or none), INVALID (bytes)."""
    signals = real_signals()
    cids: list[str] = []
    items: list[Any] = []
    for i in range(count):
        s = signals[(seed * 31 + i) % len(signals)]
        kind = (seed + i * 7) % 6
        cid = ("", "c", "é", "😀" * 40)[i % 4] + str(i)
        if kind <= 1:
            item: Any = ProcessResult(
                Outcome.EMITTED,
                s.input_event_hash,
                s.validation_results,
                placed(s, ("2026-11-26", "")[kind], i * 131),
            )
        elif kind == 2:
            item = ProcessResult(Outcome.DUPLICATE, s.input_event_hash, duplicate_of=s.signal_id)
        elif kind == 3:
            reason = "liquidity: $12.00 < $1,000.00" * (1 + i % 3)
            item = ProcessResult(
                Outcome.REJECTED, s.input_event_hash, s.validation_results, None, reason
            )
        elif kind == 4:
            item = ProcessResult(Outcome.REJECTED, s.input_event_hash, (), None, "")
        else:
            item = invalid_bytes(cid, "the event is not valid; nothing of it was processed")
        cids.append(cid)
        items.append(item)
    return cids, items


@pytest.mark.parametrize("count", [0, 1, 3, 100, 400])
@pytest.mark.parametrize("full", [True, False])
def test_stream_results_are_upb_responses(impl: ModuleType, count: int, full: bool) -> None:
    for seed in range(3):
        cids, items = mixed_results(count, seed)
        left_out: list[str] = []
        outcomes: Counter[Any] = Counter()
        take = unplaced_bytes(impl) if full else None
        data = impl.encode_stream_results(cids, items, take, left_out, outcomes)
        assert data == stream_reference(cids, items, full)
        results = [r for r in items if not isinstance(r, bytes)]
        assert outcomes == Counter(r.outcome for r in results)
        emitted = [r.signal.signal_id for r in results if r.outcome is Outcome.EMITTED]
        assert left_out == ([] if full else emitted)
        # Results of several parts one after the other are one response.
        half = count // 2
        parts = [
            impl.encode_stream_results(cids[:half], items[:half], take, None, Counter()),
            impl.encode_stream_results(iter(cids[half:]), iter(items[half:]), take, None, {}),
        ]
        assert b"".join(parts) == data


def test_stream_results_take_signals_from_their_records(impl: ModuleType) -> None:
    # The full view's fast path: a signal whose SIGNAL record the memo holds is written from
    # the record's tail and taken out of it; the others come from take().
    cids, items = mixed_results(120, 5)
    emitted = [r.signal for r in items if not isinstance(r, bytes) and r.outcome is Outcome.EMITTED]
    keys = ["polymarket:m-1", "", "polymarket:é-市场-" + "k" * 300]
    records: dict[str, Any] = {}
    for i, s in enumerate(emitted[::2]):
        records[s.signal_id] = impl.encode_signal_record(placed(s, "", 0), 0.25, keys[i % 3])
    records["sig-not-in-this-message"] = b"kept"
    taken: list[str] = []
    take = unplaced_bytes(impl)

    def counting_take(signal: OmenSignal) -> bytes:
        taken.append(signal.signal_id)
        return take(signal)

    data = impl.encode_stream_results(cids, items, counting_take, None, {}, records)
    assert data == stream_reference(cids, items, True)
    assert taken == [s.signal_id for s in emitted[1::2]]
    assert records == {"sig-not-in-this-message": b"kept"}


@pytest.mark.parametrize("body", [b"", b"\x00" * 57, b"\x00" * 56 + b"\xff\x00" + b"x" * 10])
def test_a_record_too_short_for_its_head_fails_the_call(impl: ModuleType, body: bytes) -> None:
    cids, items = mixed_results(1, 0)  # one EMITTED result
    signal = items[0].signal
    with pytest.raises(ValueError, match="not a SIGNAL record"):
        impl.encode_stream_results(
            cids, items, unplaced_bytes(impl), None, {}, {signal.signal_id: body}
        )


def test_a_record_that_is_not_bytes_is_left_to_take(impl: ModuleType) -> None:
    cids, items = mixed_results(1, 0)
    signal = items[0].signal
    records: dict[str, Any] = {signal.signal_id: bytearray(b"x" * 100)}
    data = impl.encode_stream_results(cids, items, unplaced_bytes(impl), None, {}, records)
    assert data == stream_reference(cids, items, True)
    assert signal.signal_id in records
    with pytest.raises(TypeError):
        impl.encode_stream_results(cids, items, unplaced_bytes(impl), None, {}, [])


@PROPERTY
@given(
    cid=texts,
    reason=texts,
    duplicate_of=texts,
    index=st.integers(0, 10**6),
    size=st.sampled_from([0, 1, 100, 130, 5_000]),
    full=st.booleans(),
)
def test_any_stream_result_is_the_upb_result(
    impl: ModuleType, cid: str, reason: str, duplicate_of: str, index: int, size: int, full: bool
) -> None:
    signals = real_signals()
    s = replace(signals[index % len(signals)], title="t" * size)
    items: list[Any] = [
        ProcessResult(Outcome.EMITTED, "", (), placed(s, "p", index)),
        ProcessResult(Outcome.DUPLICATE, "", duplicate_of=duplicate_of),
        ProcessResult(Outcome.REJECTED, "", s.validation_results, None, reason * (1 + size // 100)),
        invalid_bytes(cid, reason),
    ]
    cids = [cid] * len(items)
    take = unplaced_bytes(impl) if full else None
    data = impl.encode_stream_results(cids, items, take, [], {})
    assert data == stream_reference(cids, items, full)


def test_stream_results_count_into_the_callers_counts(impl: ModuleType) -> None:
    cids, items = mixed_results(12, 0)
    outcomes: Counter[Any] = Counter({Outcome.INVALID: 2, Outcome.EMITTED: 5})
    impl.encode_stream_results(cids, items, None, None, outcomes)
    results = [r for r in items if not isinstance(r, bytes)]
    expected = Counter({Outcome.INVALID: 2, Outcome.EMITTED: 5})
    expected.update(r.outcome for r in results)
    assert outcomes == expected


def test_a_failing_take_fails_the_call(impl: ModuleType) -> None:
    cids, items = mixed_results(6, 0)

    def take(signal: OmenSignal) -> bytes:
        raise LookupError(signal.signal_id)

    with pytest.raises(LookupError):
        impl.encode_stream_results(cids, items, take, None, {})
    with pytest.raises(TypeError):
        impl.encode_stream_results(cids, items, lambda s: "not bytes", None, {})


@pytest.mark.parametrize("field", [1, 2, 15, 16, 2047, 2048, 2**29 - 1])
@pytest.mark.parametrize("size", [0, 1, 127, 128, 16_383, 16_384, 2_097_152])
def test_encode_delimited_frames_any_field(impl: ModuleType, field: int, size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    data = impl.encode_delimited(field, payload)
    key, offset = read_varint(data, 0)
    length, offset = read_varint(data, offset)
    assert (key, length, data[offset:]) == ((field << 3) | 2, size, payload)
    assert offset == len(data) - size
    if field == 1:
        result = service_pb2.StreamResult(reason="x" * size).SerializeToString()
        assert impl.encode_delimited(1, result) == response_reference([result])


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda m: m.encode_delimited(0, b""), ValueError),
        (lambda m: m.encode_delimited(2**29, b""), ValueError),
        (lambda m: m.encode_delimited(-1, b""), ValueError),
        (lambda m: m.encode_delimited(1.0, b""), TypeError),
        (lambda m: m.encode_delimited(1, "x"), TypeError),
        (lambda m: m.encode_delimited(1, None), TypeError),
        (lambda m: m.encode_results([b"", "x"]), TypeError),
        (lambda m: m.encode_results(None), TypeError),
        (lambda m: m.encode_emitted_result("c", "s", "x", "p", 1), TypeError),
        (lambda m: m.encode_emitted_result("c", "s", bytearray(), "p", 1), TypeError),
        (lambda m: m.encode_signal(None), AttributeError),
        (lambda m: m.encode_stream_results(["a"], [], None, None, {}), ValueError),
        (lambda m: m.encode_stream_results([], [], None, None, None), TypeError),
        (lambda m: m.encode_stream_results(["a"], [None], None, None, {}), AttributeError),
        (lambda m: m.encode_stream_results(None, [], None, None, {}), TypeError),
    ],
)
def test_wrong_arguments_raise(impl: ModuleType, call: Callable[[Any], Any], error: type) -> None:
    with pytest.raises(error):
        call(impl)


# --- The ledger's SIGNAL record, in one pass ----------------------------------------------------


def record_reference(signal: OmenSignal, probability: Any, market_key: Any) -> bytes:
    """omen.adapters.ledger.records.encode_signal, the format's reference."""
    from omen.adapters.ledger.records import encode_signal

    return encode_signal(
        signal.input_event_hash, signal.signal_id, probability, market_key, reference(signal)
    )


def test_real_signal_records_are_the_reference_bytes(impl: ModuleType) -> None:
    keys = ["polymarket:m-1", "polymarket:é-市场", "k" * 65_535, ""]
    for i, signal in enumerate(real_signals()):
        key, probability = keys[i % len(keys)], signal.probability
        made = impl.encode_signal_record(signal, probability, key)
        assert made == record_reference(signal, probability, key), i
        assert made[signal_offset(made) :] == reference(signal), i


def test_a_record_bigger_than_the_stack_buffer(impl: ModuleType) -> None:
    signal = real_signals()[0]
    big = replace(signal, description="x" * 10_000)
    made = impl.encode_signal_record(big, 0.25, "polymarket:" + "m" * 3_000)
    assert made == record_reference(big, 0.25, "polymarket:" + "m" * 3_000)
    assert made[signal_offset(made) :] == reference(big)


@pytest.mark.parametrize(
    ("change", "probability", "key"),
    [
        ({"input_event_hash": "AB" * 32}, 0.5, "k"),  # uppercase: fromhex's, not the pipeline's
        ({"input_event_hash": "ab" * 31}, 0.5, "k"),
        ({"input_event_hash": "zz" * 32}, 0.5, "k"),
        ({"input_event_hash": "ab" * 31 + "aG"}, 0.5, "k"),  # one digit off, the last
        ({"input_event_hash": "/" + "a" * 63}, 0.5, "k"),  # the byte before "0"
        ({"signal_id": "sig-" + "ab" * 15 + ":0"}, 0.5, "k"),  # the byte after "9"
        ({"signal_id": "sig-" + "AB" * 16}, 0.5, "k"),
        ({"signal_id": "xyz-" + "ab" * 16}, 0.5, "k"),
        ({"signal_id": "sig-" + "ab" * 15}, 0.5, "k"),
        ({}, 1, "k"),  # an int probability
        ({}, 0.5, b"k"),
        ({}, 0.5, "k" * 65_536),  # longer than the u16 length
    ],
)
def test_values_not_of_the_pipelines_form_are_left_to_the_reference(
    impl: ModuleType, change: dict[str, Any], probability: Any, key: Any
) -> None:
    signal = replace(real_signals()[0], **change)
    assert impl.encode_signal_record(signal, probability, key) is None


def test_a_lone_surrogate_in_the_market_key_raises_as_the_reference_does(
    impl: ModuleType,
) -> None:
    signal = real_signals()[0]
    with pytest.raises(UnicodeEncodeError):
        record_reference(signal, 0.5, SURROGATE)
    with pytest.raises(UnicodeEncodeError):
        impl.encode_signal_record(signal, 0.5, SURROGATE)
