"""The publishers' JSON equals protobuf's own json_format, field for field and key for key:
message_json(m) == MessageToDict(m), and signal_json(s) == MessageToDict(signal_to_proto(s)) with
the keys in the same order, so the envelope's bytes (which webhook signatures cover) are the ones
the protobuf path writes."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import replace
from typing import Any

import pytest
from google.protobuf import json_format, timestamp_pb2
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from omen._proto import service_pb2, signal_pb2
from omen.adapters.outbox.envelope import (
    delivery_body,
    delivery_from_json,
    delivery_json,
    dumps,
    message_json,
    signal_json,
)
from omen.adapters.proto_codec import signal_to_proto
from omen.application.ports import Delivery
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
from tests.signal_samples import U64_MAX, full_signal, varied_event
from tests.support import NS, make_pipeline

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECONDS_MIN, SECONDS_MAX = -62_135_596_800, 253_402_300_799  # Timestamp's range: years 1-9999


def _reference(message):
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def ordered(value: Any) -> Any:
    """`value` with every dict as its list of items, so == also compares key order."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


def assert_same_json(signal: OmenSignal) -> None:
    expected = _reference(signal_to_proto(signal))
    got = signal_json(signal)
    assert ordered(got) == ordered(expected)
    assert dumps(got) == dumps(expected)  # also NaN-proof: equal bytes, not equal values
    assert dumps(got) == dumps(message_json(signal_to_proto(signal)))


def old_body(d: Delivery) -> bytes:
    """delivery_body as it was: the signal through upb and message_json."""
    envelope = {
        "lsn": d.lsn,
        "partition": d.partition,
        "sequence": d.sequence,
        "signal": message_json(signal_to_proto(d.signal)),
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


@functools.cache
def real_signals() -> tuple[OmenSignal, ...]:
    """Pipeline signals: traced and untraced, with and without resolution dates (sub-second
    ones too), movements, locations and non-ASCII text."""
    pipeline = make_pipeline()
    signals = []
    for i in range(160):
        event = varied_event(
            i,
            event_id=f"e-{i}",
            market_id=f"m-{i}",
            probability=0.3 + (i % 60) / 100,
            observed_at_ns=1_795_000_000 * NS + i * 1_234_567,
            resolution_date_ns=None if i % 3 == 0 else 1_800_000_000 * NS + 1_000 * i,
        )
        result = pipeline.process(event, trace_id="0af7651916cd43dd8448eb211c80319c" * (i % 2))
        if result.signal is not None:
            signals.append(result.signal)
    return tuple(signals)


# --- message_json ---------------------------------------------------------------------------


def test_signals_encode_exactly_as_json_format_does():
    for signal in real_signals():
        message = signal_to_proto(signal)
        assert ordered(message_json(message)) == ordered(_reference(message))


@pytest.mark.parametrize(
    "message",
    [
        signal_pb2.RawSignalEvent(),
        signal_pb2.RawSignalEvent(
            event_id="e",
            probability=math.nan,
            liquidity_usd=math.inf,
            volume_usd=-math.inf,
            num_traders=-(2**40),
            source_metrics={"spread": 0.01, "b": -2.5},
            raw_payload=b"\x00\xffraw",
            keywords=["a", "b"],
            observed_at=timestamp_pb2.Timestamp(seconds=1_795_000_000, nanos=5_000),
        ),
        signal_pb2.OmenSignal(ledger_sequence=2**63, confidence_level=999, signal_id="x"),
        service_pb2.PublisherStatus(breaker_state=2, lag_seconds=1.5, cursor_lsn=7),
    ],
)
def test_edge_values_encode_exactly_as_json_format_does(message):
    assert message_json(message) == _reference(message)


# --- signal_json: real signals --------------------------------------------------------------


def test_the_real_signals_are_varied():
    signals = real_signals()
    assert len(signals) > 100
    assert len({s.category for s in signals}) >= 3
    assert {s.temporal.resolution_date_ns is None for s in signals} == {True, False}
    assert {bool(s.trace_id) for s in signals} == {True, False}
    assert any(s.geographic.coordinates for s in signals)
    assert any(not s.description.isascii() for s in signals)
    assert any(e.value == 0.0 for s in signals for e in s.evidence)


def test_real_signals_convert_exactly_as_json_format_does():
    for i, s in enumerate(real_signals()):
        assert_same_json(s)
        assert_same_json(replace(s, ledger_partition="2026-11-26", ledger_sequence=i + 1))


def test_real_delivery_bodies_are_byte_for_byte_the_protobuf_path_ones():
    for i, s in enumerate(real_signals()):
        placed = replace(s, ledger_partition="2026-11-26", ledger_sequence=i)
        d = Delivery(100 + i, "2026-11-26", i, placed)
        assert delivery_body(d) == old_body(d)
        assert delivery_from_json(json.loads(delivery_body(d))) == d


# --- signal_json: every field, and the edges of each type -----------------------------------


def test_every_field_in_field_number_order():
    s = full_signal()
    assert_same_json(s)
    names = [f.name for f in signal_pb2.OmenSignal.DESCRIPTOR.fields]
    assert list(signal_json(s)) == names


def test_defaults_are_left_out_but_the_always_set_submessages_are_written_empty():
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
        confidence_factors=(ConfidenceFactor("", 0.0, 0.0),),
        confidence_interval=ConfidenceInterval(0.0, 0.0),
        category=0,
        signal_type=0,
        status=0,
        geographic=GeographicContext(),
        temporal=TemporalContext(0, None, 0.0, 0.0),
        evidence=(),
        validation_results=(),
        impact_hints=ImpactHints((), 0, (), ""),
        ruleset_version="",
        trace_id="",
        observed_at_ns=0,
        generated_at_ns=0,
        ledger_partition="",
        ledger_sequence=0,
    )
    assert_same_json(s)
    assert signal_json(s) == {
        "confidence_factors": [{}],
        "confidence_interval": {},
        "geographic": {},
        "temporal": {},
        "impact_hints": {},
        "observed_at": "1970-01-01T00:00:00Z",
        "generated_at": "1970-01-01T00:00:00Z",
    }


@pytest.mark.parametrize(
    "value",
    [-0.0, math.nan, -math.nan, math.inf, -math.inf, 5e-324, -5e-324, 2.2250738585072014e-308,
     1.7976931348623157e308, -1.7976931348623157e308, 1e16, 1e17, 0.1 + 0.2, 1, -1, 0, 2**53 + 1,
     True, False],
)  # fmt: skip
def test_double_edges(value):
    assert_same_json(
        full_signal(
            probability=value,
            confidence_score=value,
            confidence_factors=(ConfidenceFactor("f", value, value),),
            confidence_interval=ConfidenceInterval(value, value),
            geographic=GeographicContext((), (), (Location(value, value),)),
            temporal=TemporalContext(TimeHorizon.LONG_TERM, None, value, value),
            evidence=(Evidence("k", "d", value),),
            validation_results=(ValidationResult("r", "1", RuleStatus.PASSED, value, ""),),
        )
    )


@pytest.mark.parametrize(
    "ns",
    [0, -1, 1, 999_999_999, 1_000_000, 1_000, 123_000_000, 123_456_000, 123_456_789, -NS,
     -NS + 1_000_000, -86_400 * NS - 1, SECONDS_MIN * NS, SECONDS_MAX * NS + NS - 1,
     951_782_400 * NS, 4_107_542_400 * NS + 1, -11_644_473_600 * NS + 10_000],
)  # fmt: skip
def test_timestamp_edges(ns):
    assert_same_json(full_signal(observed_at_ns=ns, generated_at_ns=ns))
    assert_same_json(full_signal(temporal=TemporalContext(TimeHorizon.SHORT_TERM, ns, 1.0, 2.0)))
    seconds, nanos = divmod(ns, NS)
    expected = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos).ToJsonString()
    assert signal_json(full_signal(observed_at_ns=ns))["observed_at"] == expected


@pytest.mark.parametrize("ns", [SECONDS_MIN * NS - 1, (SECONDS_MAX + 1) * NS, -(2**80), 2**80])
def test_a_timestamp_out_of_range_is_refused_on_both_paths(ns):
    s = full_signal(generated_at_ns=ns)
    with pytest.raises(ValueError):
        message_json(signal_to_proto(s))
    with pytest.raises(ValueError):
        signal_json(s)


def test_every_enum_value_and_numbers_without_a_name():
    for level, category, kind, status, horizon, direction, rule in zip(
        [*ConfidenceLevel] * 13,
        [*SignalCategory] * 2,
        SignalType,
        [*SignalStatus] * 5,
        [*TimeHorizon] * 3,
        [*ImpactDirection] * 5,
        [*RuleStatus] * 4,
        strict=False,
    ):
        assert_same_json(enum_signal(level, category, kind, status, horizon, direction, rule))
    for number in (0, 1, 99, -1, 2**31 - 1, -(2**31)):
        assert_same_json(enum_signal(*[number] * 7))


def enum_signal(level, category, kind, status, horizon, direction, rule) -> OmenSignal:
    return full_signal(
        confidence_level=level,
        category=category,
        signal_type=kind,
        status=status,
        temporal=TemporalContext(horizon, None, 1.0, 2.0),
        impact_hints=ImpactHints(("d",), direction, ("k",), "r"),
        validation_results=(ValidationResult("r", "1", rule, 1.0, ""),),
    )


@pytest.mark.parametrize("field", ["confidence_level", "category"])
@pytest.mark.parametrize("number", [2**31, -(2**31) - 1])
def test_an_enum_number_beyond_int32_is_refused_on_both_paths(field, number):
    s = full_signal(**{field: number})
    with pytest.raises(ValueError):
        signal_to_proto(s)
    with pytest.raises(ValueError):
        signal_json(s)


@pytest.mark.parametrize("sequence", [-1, 2**64])
def test_a_ledger_sequence_beyond_uint64_is_refused_on_both_paths(sequence):
    s = full_signal(ledger_sequence=sequence)
    with pytest.raises(ValueError):
        signal_to_proto(s)
    with pytest.raises(ValueError):
        signal_json(s)


# --- signal_json: generated signals ---------------------------------------------------------

texts = st.text(max_size=12)
doubles = st.one_of(
    st.floats(),
    st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, 1.7976931348623157e308]),
    st.integers(-(2**53), 2**53),
)
finite = st.floats(allow_nan=False)
nanos = st.one_of(
    st.just(0),
    st.integers(1, 999).map(lambda n: n * 1_000_000),  # 3 digits
    st.integers(1, 999_999).map(lambda n: n * 1_000),  # 6 digits
    st.integers(1, 999_999_999),  # 9 digits
)
timestamps = st.builds(
    lambda seconds, nanos: seconds * NS + nanos,
    st.one_of(
        st.integers(SECONDS_MIN, SECONDS_MAX),
        st.integers(-(10**9), 4 * 10**9),
        st.sampled_from([SECONDS_MIN, SECONDS_MAX, -1, 0, 1, 86_399, 86_400]),
    ),
    nanos,
)


def enums(kind: Any, named_only: bool) -> st.SearchStrategy[Any]:
    members = st.sampled_from(list(kind))
    return members if named_only else st.one_of(members, st.integers(-(2**31), 2**31 - 1))


def signals(floats: st.SearchStrategy[Any], named_only: bool) -> st.SearchStrategy[OmenSignal]:
    def tuples(of: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
        return st.lists(of, max_size=3).map(tuple)

    return st.builds(
        OmenSignal,
        signal_id=texts,
        input_event_hash=texts,
        source_event_id=texts,
        source=texts,
        market_id=texts,
        title=texts,
        description=st.text(),
        probability=floats,
        probability_is_estimate=st.booleans(),
        confidence_score=floats,
        confidence_level=enums(ConfidenceLevel, named_only),
        confidence_factors=tuples(st.builds(ConfidenceFactor, texts, floats, floats)),
        confidence_interval=st.builds(ConfidenceInterval, floats, floats),
        category=enums(SignalCategory, named_only),
        signal_type=enums(SignalType, named_only),
        status=enums(SignalStatus, named_only),
        geographic=st.builds(
            GeographicContext,
            tuples(texts),
            tuples(texts),
            tuples(st.builds(Location, floats, floats, texts, texts)),
        ),
        temporal=st.builds(
            TemporalContext,
            enums(TimeHorizon, named_only),
            st.none() | timestamps,
            floats,
            floats,
        ),
        evidence=tuples(st.builds(Evidence, texts, texts, floats, texts)),
        validation_results=tuples(
            st.builds(ValidationResult, texts, texts, enums(RuleStatus, named_only), floats, texts)
        ),
        impact_hints=st.builds(
            ImpactHints, tuples(texts), enums(ImpactDirection, named_only), tuples(texts), texts
        ),
        ruleset_version=texts,
        trace_id=texts,
        observed_at_ns=timestamps,
        generated_at_ns=timestamps,
        ledger_partition=st.just("") | texts,
        ledger_sequence=st.just(0) | st.integers(0, U64_MAX),
    )


@PROPERTY
@given(signals(doubles, named_only=False))
@example(full_signal())
def test_generated_signals_convert_exactly_as_json_format_does(s):
    assert_same_json(s)


@PROPERTY
@given(
    signals(finite, named_only=True),
    st.integers(0, 2**63 - 1),
    st.just("") | texts,
    st.integers(0, U64_MAX),
)
def test_generated_deliveries_keep_their_bytes_and_round_trip(s, lsn, partition, sequence):
    d = Delivery(
        lsn, partition, sequence, replace(s, ledger_partition=partition, ledger_sequence=sequence)
    )
    body = delivery_body(d)
    assert body == old_body(d)
    assert json.loads(body) == delivery_json(d)
    assert delivery_from_json(json.loads(body)) == d
