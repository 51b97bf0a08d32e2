"""The compiled omen._native.decision and its twin decision_py decide every event as the domain's
RulesetDecider does: the same geography, rule results and reasons, classification and signal.

Every test taking `impl` runs against both modules. When the compiled module cannot be imported
its tests are skipped, unless OMEN_REQUIRE_NATIVE=1 is set (as in CI): then they fail, so a broken
build can never pass by testing the twin against itself. Values are compared with == and with
repr(), which also tells -0.0 from 0.0 (a float that compares equal but serialises differently).
"""

from __future__ import annotations

import gc
import math
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omen._native.signalwire_py import encode_signal_record as reference_record
from omen.adapters.ledger.records import EncodedSignal
from omen.adapters.repository.memory import InMemorySignalRepository
from omen.adapters.ruleset_file import load_ruleset
from omen.application.pipeline import Pipeline, market_key
from omen.domain.analysis import EventContext, TextAnalyzer
from omen.domain.anomaly import RollingRobustStatistics
from omen.domain.decision import Decider, RulesetDecider
from omen.domain.events import Location, MarketState, Movement, RawEvent
from omen.domain.geography import lexicon_entries as place_terms
from omen.domain.semantic import irregular_forms
from omen.domain.semantic import lexicon_entries as topic_terms
from omen.domain.signals import OmenSignal, Outcome, RuleStatus
from omen.domain.text import inflections
from omen.domain.validation import validate_event
from tests.native_impls import parity_fixtures

NATIVE = "omen._native.decision"
TWIN = "omen._native.decision_py"
T0 = 1_795_000_000 * 1_000_000_000
DAY = 86_400 * 1_000_000_000

impl, native, twin = parity_fixtures(NATIVE, TWIN)

RULESET = load_ruleset()
ANALYZER = TextAnalyzer(
    [*topic_terms(RULESET.semantic), *place_terms(RULESET.geographic)],
    irregular_forms(RULESET.semantic),
)


def same(a: object, b: object) -> bool:
    return a == b and repr(a) == repr(b)


def event(title: str, description: str = "", **fields: Any) -> RawEvent:
    values: dict[str, Any] = dict(
        event_id="pm-1",
        source="polymarket",
        market_id="m-1",
        probability=0.62,
        observed_at_ns=T0,
        liquidity_usd=250_000.0,
        volume_usd=1_200_000.0,
        num_traders=420,
        market_url="https://polymarket.com/event/x",
        created_at_ns=T0 - 40 * DAY,
        resolution_date_ns=T0 + 90 * DAY,
        market_state=MarketState.OPEN,
        outcome_prices=(0.62, 0.38),
    )
    values.update(fields)
    return RawEvent(title=title, description=description, **values)


def contexts_of(events: list[RawEvent]) -> list[EventContext]:
    """Each event's context as the reference pipeline sees it (history recorded in order)."""
    statistics = RollingRobustStatistics.from_params(RULESET.anomaly)
    reference = RulesetDecider(RULESET)
    found = []
    for e in events:
        text = ANALYZER.analyze(e)
        history = statistics.observe(market_key(e), e.probability)
        found.append(EventContext(e, text, reference.locate(e, text), history))
        statistics.record(market_key(e), e.probability)
    return found


def assert_decides_like_the_reference(decider: Any, events: list[RawEvent]) -> None:
    reference = RulesetDecider(RULESET)
    for ctx in contexts_of(events):
        e, text, history = ctx.event, ctx.text, ctx.history
        assert same(decider.locate(e, text), ctx.geo), e
        results, failure = reference.evaluate(ctx)
        assert same(decider.evaluate(ctx), (results, failure)), e
        chokepoint = bool(ctx.geo.chokepoints)
        classification = reference.classify(text, chokepoint)
        assert same(decider.classify(text, chokepoint), classification), e
        if failure is None:
            built = reference.build_signal(ctx, "ab" * 32, results, classification, "trace")
            assert same(
                decider.build_signal(ctx, "ab" * 32, results, classification, "trace"), built
            ), e
        expected = reference.decide(e, text, history, "cd" * 32, "t")
        assert same(decider.decide(e, text, history, "cd" * 32, "t"), expected), e
        assert_records_like_the_reference(decider, ctx, expected)


def assert_records_like_the_reference(decider: Any, ctx: EventContext, expected: Any) -> None:
    """decide_record() is decide() with an EMITTED signal as the EncodedSignal of its record:
    the reference's record bytes, nothing else built until read, then equal to the signal."""
    e, key = ctx.event, market_key(ctx.event)
    got = decider.decide_record(e, ctx.text, ctx.history, "cd" * 32, "t", key)
    if expected.signal is None:
        assert same(got, expected), e
        return
    signal = got.signal
    assert type(signal) is EncodedSignal, e
    body = reference_record(expected.signal, e.probability, key)
    assert signal.record(key, e.probability) == body, e
    assert signal.record(key + "x", e.probability) is None
    assert signal.record(key, float(e.probability)) in (None, body)  # only the very object
    for field in ("title", "evidence", "validation_results", "confidence_score"):
        with pytest.raises(AttributeError):  # not built yet
            object.__getattribute__(signal, field)
    assert (signal.signal_id, signal.ledger_partition, signal.ledger_sequence) == (
        expected.signal.signal_id,
        "",
        0,
    )
    assert got == expected, e
    assert repr(got) == repr(expected).replace("OmenSignal(", "EncodedSignal(", 1), e


def bench_corpus(n: int, seed: int = 7) -> list[RawEvent]:
    root = Path(__file__).resolve().parent.parent.parent
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        from bench_pipeline import corpus
    finally:
        sys.path.remove(str(root / "benchmarks"))
    events: list[RawEvent] = corpus(n, seed)
    return events


# --- Known answers, on each implementation ----------------------------------------------------


def test_the_decider_is_the_domain_port_with_the_domain_rules(impl: ModuleType) -> None:
    decider: Decider = impl.Decider(RULESET)
    assert [r.name for r in decider.rules] == [
        "liquidity",
        "semantic",
        "geographic",
        "anomaly",
        "freshness",
    ]


def test_a_red_sea_market_is_emitted_with_its_reasons(impl: ModuleType) -> None:
    e = event(
        "Will shipping through the Red Sea be disrupted by Houthi attacks in December?",
        "Resolves YES if carriers suspend transits near Bab el-Mandeb.",
        locations=(Location(15.5, 42.0, "Red Sea", "YE"),),
        movement=Movement(0.6, 0.02, 24.0),
    )
    history = RollingRobustStatistics.from_params(RULESET.anomaly).observe("polymarket:m-1", 0.62)
    result = impl.Decider(RULESET).decide(e, ANALYZER.analyze(e), history, "ab" * 32)
    assert result.outcome is Outcome.EMITTED
    assert [r.status for r in result.validation_results] == [RuleStatus.PASSED] * 5
    assert result.validation_results[0].reason == "liquidity $250,000.00 >= $1,000.00"
    assert result.validation_results[4].reason == (
        "market live; resolves in 90.0 days; outcome prices sum to 1"
    )
    signal = result.signal
    assert signal is not None and signal.signal_id.startswith("sig-")
    assert signal.geographic.chokepoints == ("Bab el-Mandeb", "Suez Canal")
    assert [x.kind for x in signal.evidence][:2] == ["market_probability", "liquidity"]
    assert signal.evidence[0].description == "polymarket market prices the event at 62.0%"
    assert signal.evidence[1].description == "$250,000 of liquidity (USD)"
    assert same(result, RulesetDecider(RULESET).decide(e, ANALYZER.analyze(e), history, "ab" * 32))


@pytest.mark.parametrize(
    ("title", "fields", "rule"),
    [
        ("Will the Lakers win the NBA championship?", {}, "semantic"),
        ("Will shipping through the Red Sea be disrupted?", {"liquidity_usd": 999.99}, "liquidity"),
        ("Will it rain in Paris?", {}, "semantic"),
        ("Will a port strike close the ports of Paris?", {}, "geographic"),
        (
            "Will the Suez Canal close?",
            {"market_state": MarketState.RESOLVED, "outcome_prices": (1.0, 0.0)},
            "freshness",
        ),
        (
            "Will the Suez Canal close?",
            {"probability": 0.99, "movement": Movement(0.2, 0.79, 1.0), "num_traders": 3},
            "anomaly",
        ),
        (
            "Will the Suez Canal close?",
            {"resolution_date_ns": T0 - DAY},
            "freshness",
        ),
    ],
)
def test_rejections_name_the_deciding_rule_as_the_reference_does(
    impl: ModuleType, title: str, fields: dict[str, Any], rule: str
) -> None:
    e = event(title, **fields)
    history = RollingRobustStatistics.from_params(RULESET.anomaly).observe("polymarket:m-1", 0.5)
    result = impl.Decider(RULESET).decide(e, ANALYZER.analyze(e), history, "ab" * 32)
    assert result.outcome is Outcome.REJECTED
    assert result.reason.startswith(rule + ": ")
    assert same(result, RulesetDecider(RULESET).decide(e, ANALYZER.analyze(e), history, "ab" * 32))


@pytest.mark.parametrize(
    "fields",
    [
        {"outcome_prices": ()},
        {"outcome_prices": (0.7,)},
        {"outcome_prices": (), "resolution_date_ns": None},
        {"outcome_prices": (), "resolution_date_ns": T0 + 3_600 * 1_000_000_000},
        {"outcome_prices": (), "resolution_date_ns": T0 - DAY},
        {"outcome_prices": (), "market_state": MarketState.CLOSED},
    ],
    ids=["none", "one", "no-date", "soon", "past", "closed"],
)
def test_freshness_with_fewer_than_two_outcome_prices_is_the_references(
    impl: ModuleType, fields: dict[str, Any]
) -> None:
    e = event("Will the Suez Canal close?", **fields)
    history = RollingRobustStatistics.from_params(RULESET.anomaly).observe("polymarket:m-1", 0.5)
    result = impl.Decider(RULESET).decide(e, ANALYZER.analyze(e), history, "ab" * 32)
    assert same(result, RulesetDecider(RULESET).decide(e, ANALYZER.analyze(e), history, "ab" * 32))
    assert result.validation_results[4].rule_name == "freshness"


def test_deciding_the_same_market_again_gives_equal_results(impl: ModuleType) -> None:
    decider = impl.Decider(RULESET)
    events = [
        event("Will Iran close the Strait of Hormuz to oil tankers?", probability=p)
        for p in (0.1, 0.2, 0.1, 0.3)
    ]
    assert_decides_like_the_reference(decider, events * 2)


# --- Parity: compiled against the reference -------------------------------------------------


def test_every_value_class_is_built_by_the_compiled_fast_path(native: ModuleType) -> None:
    # A False here would mean the compiled module silently calls the classes instead.
    assert all(native.fast_layouts().values()), native.fast_layouts()


def test_every_field_read_is_read_straight_from_its_slot(native: ModuleType) -> None:
    # A False here would mean the compiled module silently reads that field through getattr().
    assert all(native.direct_fields().values()), native.direct_fields()


def test_an_event_of_another_class_is_read_through_its_attributes(native: ModuleType) -> None:
    # Slots are read directly only from exact RawEvent instances; any other object is read with
    # getattr(), as the reference reads it.
    e = event("Will the Suez Canal close?", locations=(Location(30.0, 32.5, "", "EG"),))
    other = SimpleNamespace(**{f: getattr(e, f) for f in RawEvent.__dataclass_fields__})
    history = RollingRobustStatistics.from_params(RULESET.anomaly).observe("polymarket:m-1", 0.5)
    got = native.Decider(RULESET).decide(other, ANALYZER.analyze(e), history, "ab" * 32)
    want = RulesetDecider(RULESET).decide(e, ANALYZER.analyze(e), history, "ab" * 32)
    assert got.signal is not None
    assert same(got, want)


def test_a_record_of_values_not_of_the_pipelines_form_is_a_plain_signal(impl) -> None:
    # decide_record() makes the record only for the form the ledger's one-pass encoder takes;
    # anything else gets decide()'s own signal (the ledger store then encodes it as ever).
    e = event("Will the Suez Canal close?", locations=(Location(30.0, 32.5, "", "EG"),))
    history = RollingRobustStatistics.from_params(RULESET.anomaly).observe("polymarket:m-1", 0.5)
    text = ANALYZER.analyze(e)
    want = RulesetDecider(RULESET).decide(e, text, history, "AB" * 32)
    assert want.signal is not None
    for event_hash, key in (("AB" * 32, "polymarket:m-1"), ("ab" * 32, "k" * 65_536)):
        got = impl.Decider(RULESET).decide_record(e, text, history, event_hash, "", key)
        if event_hash == "ab" * 32:
            want = RulesetDecider(RULESET).decide(e, text, history, event_hash)
        assert type(got.signal) is OmenSignal
        assert same(got, want)


@pytest.mark.parametrize(
    "fields",
    [
        {"source": "polymarket" + "é" * 600},  # a description longer than the compiled buffer
        {"num_traders": 2**70},  # an int past 64 bits
        {"num_traders": True},  # not exactly an int
        {"liquidity_usd": 1e305},  # more than 300 grouped digits
        {"volume_usd": 1e305},
        {"movement": Movement(0.5, -0.125, 0.0001)},  # "g" formatting, a signed delta
        {"description": "Hormuz and Suez and Panama and the Red Sea and Malacca"},
    ],
)
def test_records_of_unusual_evidence_are_the_references(impl: ModuleType, fields: Any) -> None:
    # decide_record() writes each evidence description from its pieces; what it cannot (too
    # long, an unusual number) it writes from the reference's f-strings. Either way: the bytes
    # the reference encoder writes for decide()'s signal.
    e = event("Will the Suez Canal close?", locations=(Location(30.0, 32.5, "", "EG"),), **fields)
    assert_decides_like_the_reference(impl.Decider(RULESET), [e, e])


def test_an_encoded_signal_is_freed_and_never_tracked(native: ModuleType) -> None:
    e = event("Will the Suez Canal close?", locations=(Location(30.0, 32.5, "", "EG"),))
    history = RollingRobustStatistics.from_params(RULESET.anomaly).observe("polymarket:m-1", 0.5)
    decider = native.Decider(RULESET)
    result = decider.decide_record(e, ANALYZER.analyze(e), history, "ab" * 32, "", "k")
    signal = result.signal
    assert type(signal) is EncodedSignal and not gc.is_tracked(signal)
    body = object.__getattribute__(signal, "_body")
    held = sys.getrefcount(body)
    del result, signal  # reference counting frees the signal, and with it its reference
    assert sys.getrefcount(body) == held - 1


def test_compiled_values_are_left_out_of_the_cycle_collector(native: ModuleType) -> None:
    # slots.pxd: none of these can be part of a reference cycle, so the collector never needs
    # to traverse them; they are still freed by reference counting.
    e = event("Will the Suez Canal close?", locations=(Location(30.0, 32.5, "", "EG"),))
    history = RollingRobustStatistics.from_params(RULESET.anomaly).observe("polymarket:m-1", 0.5)
    result = native.Decider(RULESET).decide(e, ANALYZER.analyze(e), history, "ab" * 32)
    signal = result.signal
    assert signal is not None
    values = [
        result,
        signal,
        result.validation_results,
        *result.validation_results,
        signal.evidence,
        *signal.evidence,
        signal.confidence_factors,
        *signal.confidence_factors,
        signal.confidence_interval,
        signal.geographic,
        signal.temporal,
        signal.impact_hints,
    ]
    assert not any(gc.is_tracked(v) for v in values)
    gc.collect()
    assert same(result, RulesetDecider(RULESET).decide(e, ANALYZER.analyze(e), history, "ab" * 32))


def test_every_benchmark_and_fixture_event_is_decided_identically(native: ModuleType) -> None:
    events = bench_corpus(1500) + bench_corpus(500, seed=11)
    assert_decides_like_the_reference(native.Decider(RULESET), events)


def test_a_market_seen_again_at_equal_locations_gets_its_own_coordinates(native) -> None:
    # The compiled decider keeps each (terms, locations) pair's geography: an event whose
    # locations compare equal to a remembered one's (another name, -0.0 for 0.0, an int for a
    # float) must still carry its own locations in its signal, and a region code spelled
    # otherwise is another key.
    text = "Will Houthi attacks close the Bab-el-Mandeb strait to shipping?"
    variants = [
        (Location(12.6, 43.3, "Bab-el-Mandeb", "YE"), Location(0.0, 45.0, "", "")),
        (Location(12.6, 43.3, "Mandeb strait", "YE"), Location(-0.0, 45.0, "", "")),
        (Location(12.6, 43.3, "", "YE"), Location(0, 45, "equator", "")),
        (Location(12.6, 43.3, "", " ye "), Location(0.0, 45.0, "", "")),
        (Location(12.6, 43.3, "", "YE"),),
        (),
    ]
    events = [
        event(text, event_id=f"e{i}", market_id=f"m{i}", locations=where)
        for i, where in enumerate(variants * 2)
    ]
    decider = native.Decider(RULESET)
    reference = RulesetDecider(RULESET)
    for ctx in contexts_of(events):
        args = (ctx.event, ctx.text, ctx.history, "ab" * 32)
        got, want = decider.decide(*args), reference.decide(*args)
        assert same(got, want), ctx.event.locations
        assert got.signal is not None
        assert got.signal.geographic.coordinates[: len(ctx.event.locations)] == tuple(
            ctx.event.locations
        )


def test_more_distinct_texts_than_the_memos_hold_are_decided_identically(native) -> None:
    topics = ["shipping", "sanctions", "tariffs", "strike", "drought", "typhoon", "blockade"]
    places = ["Red Sea", "Suez Canal", "Port of Shanghai", "Panama Canal", "Taiwan Strait", "Iran"]
    events = [
        event(f"Will {topics[i % 7]} hit the {places[i % 6]} {i} times?", market_id=f"m{i}")
        for i in range(5000)
    ]
    assert_decides_like_the_reference(native.Decider(RULESET), events[:200] + events[4800:])
    decider = native.Decider(RULESET)
    reference = RulesetDecider(RULESET)
    for ctx in contexts_of(events):
        args = (ctx.event, ctx.text, ctx.history, "ab" * 32)
        assert same(decider.decide(*args), reference.decide(*args))


def test_a_pipeline_given_the_compiled_decider_processes_as_the_reference_does(native) -> None:
    def run(decider: Any) -> list[Any]:
        statistics = RollingRobustStatistics.from_params(RULESET.anomaly)
        pipeline = Pipeline(
            RULESET,
            lambda e: e.event_id,
            InMemorySignalRepository(),
            statistics,
            TextAnalyzer,
            decider,
        )
        return [pipeline.process(e) for e in events]

    events = bench_corpus(2000)
    compiled = run(native.Decider)
    assert sum(r.signal is not None for r in compiled) > 500
    reference = run(RulesetDecider)
    assert compiled == reference
    assert repr(compiled) == repr(reference)


TERMS = sorted({term for term, _ in topic_terms(RULESET.semantic)}) + sorted(
    {term for term, _ in place_terms(RULESET.geographic)}
)
WORDS = sorted(
    {f for term in TERMS for f in inflections(term.split()[-1].lower())}
    | {"sport", "passport", "europe", "the", "of", "will", "nba", "oscar", "rain", "2026"}
)
words = st.lists(st.sampled_from(TERMS) | st.sampled_from(WORDS), max_size=25).map(" ".join)
unit = st.floats(0.0, 1.0, allow_nan=False)
money = st.floats(0.0, 1e9, allow_nan=False) | st.sampled_from([999.99, 1000.0, 1e4, 1e6])
times = st.none() | st.integers(T0 - 10**17, T0 + 10**17) | st.just(T0 + 3_600 * 10**9)
CHOKEPOINTS = RULESET.geographic.chokepoints


@st.composite
def locations(draw: Any) -> Location:
    code = draw(st.sampled_from(["", "YE", "us", " CN ", "MIDDLE_EAST", "ZZ"]))
    if draw(st.booleans()) and CHOKEPOINTS:
        c = draw(st.sampled_from(CHOKEPOINTS))
        lat = max(-90.0, min(90.0, c.lat + draw(st.floats(-6, 6))))
        lon = max(-180.0, min(180.0, c.lon + draw(st.floats(-6, 6))))
        return Location(lat, lon, "", code)
    return Location(draw(st.floats(-90, 90)), draw(st.floats(-180, 180)), "", code)


@st.composite
def events(draw: Any) -> RawEvent:
    probability = draw(unit | st.sampled_from([0.01, 0.97, 0.0, 1.0]))
    movement = None
    if draw(st.booleans()):
        previous = draw(unit)
        movement = Movement(previous, probability - previous, draw(st.floats(0.01, 1e4)))
    return RawEvent(
        event_id=draw(st.sampled_from(["e1", "e2", "e3"])),
        source=draw(st.sampled_from(["polymarket", "other", "PolyMarket"])),
        market_id=draw(st.sampled_from(["", "m1", "m2"])),
        title=draw(words.filter(str.strip)),
        description=draw(words),
        probability=probability,
        observed_at_ns=T0,
        movement=movement,
        liquidity_usd=draw(money),
        volume_usd=draw(money),
        num_traders=draw(st.sampled_from([0, 3, 500]) | st.integers(0, 10**6)),
        locations=tuple(draw(st.lists(locations(), max_size=3))),
        market_url=draw(st.sampled_from(["", "https://x"])),
        created_at_ns=draw(times),
        resolution_date_ns=draw(times),
        market_state=draw(st.sampled_from(list(MarketState))),
        outcome_prices=tuple(
            draw(st.lists(unit, max_size=3) | st.sampled_from([(0.5, 0.53), (0.5, 0.6)]))
        ),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=12))
def test_random_event_sequences_are_decided_identically(native, sequence) -> None:
    valid = [e for e in sequence if not validate_event(e)]
    assert_decides_like_the_reference(native.Decider(RULESET), valid * 2)


# --- numbers in texts ---------------------------------------------------------------------------
#
# The compiled decider writes "f" numbers of 0-3 decimals with integer arithmetic, and leaves
# values near a rounding tie (and everything else) to float.__format__'s routine; the twin's
# format_number is format() itself. These cover the tie band from both sides.

SPECIALS = [
    0.0, -0.0, 0.005, -0.005, 0.0049999999, 0.125, -0.125, 2.5, 3.5, 0.05, 1e-320, -1e-320,
    109_928.67, 2_153_781.31, 14.4, 55.1, 99.95, 999.5, 1_000.0,
    2.0**43, 2.0**43 / 10, 2.0**43 / 100, 2.0**43 / 1000, 2.0**43 - 0.5, 8_796_093_022_207.25,
    1e15, 1e300, float("inf"), float("-inf"), float("nan"),
]  # fmt: skip


def near_ties() -> list[float]:
    values = []
    for scale in (1, 10, 100, 1000):
        for k in (0, 1, 2, 7, 12_345, 99_999_999, 2**40):
            tie = (k + 0.5) / scale
            for v in (tie, -tie):
                values += [v, math.nextafter(v, math.inf), math.nextafter(v, -math.inf)]
                # Just outside the fast path's band (2**-9 of the scaled value) on both sides.
                values += [v + 0.0019 / scale, v - 0.0019 / scale, v + 0.002 / scale]
    return values


@pytest.mark.parametrize("value", SPECIALS + near_ties())
def test_numbers_near_rounding_ties_are_formatted_as_python_does(native, twin, value) -> None:
    for precision in range(6):
        for sign in (False, True):
            for group in (False, True):
                want = format(value, f"{'+' if sign else ''}{',' if group else ''}.{precision}f")
                assert twin.format_number(value, precision, sign, group) == want
                assert native.format_number(value, precision, sign, group) == want


@settings(max_examples=3000, deadline=None)
@given(
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=-1e13, max_value=1e13),
        st.integers(-(10**9), 10**9).map(lambda k: k / 100),
        st.integers(-(10**9), 10**9).map(lambda k: (k + 0.5) / 1000),
    ),
    precision=st.integers(0, 20),
    sign=st.booleans(),
    group=st.booleans(),
)
def test_numbers_are_formatted_as_python_does(native, twin, value, precision, sign, group):
    want = twin.format_number(value, precision, sign, group)
    assert native.format_number(value, precision, sign, group) == want


@pytest.mark.parametrize("precision", [-1, 21])
def test_a_precision_out_of_range_is_a_value_error(impl: ModuleType, precision: int) -> None:
    with pytest.raises(ValueError, match="precision must be 0 to 20"):
        impl.format_number(1.5, precision)
