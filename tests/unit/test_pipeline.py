"""The Process use case end to end over the default ruleset: table-driven outcomes, the deciding
rule, classification, identity and determinism."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from omen.adapters.repository.memory import InMemorySignalRepository
from omen.adapters.ruleset_file import load_ruleset
from omen.adapters.sources.polymarket import market_to_event, parse_time_ns
from omen.domain.enrichment import signal_id_for
from omen.domain.events import Location, MarketState, Movement
from omen.domain.signals import (
    ConfidenceLevel,
    ImpactDirection,
    Outcome,
    RuleStatus,
    SignalCategory,
    SignalStatus,
    SignalType,
    TimeHorizon,
)
from tests.support import NS, T0_NS, make_pipeline, raw_event

DAY = 86_400 * NS
RULESET = load_ruleset()
RULE_ORDER = ["liquidity", "semantic", "geographic", "anomaly", "freshness"]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "polymarket"


def event_about(title: str, description: str = "", **overrides):
    return raw_event(title=title, description=description, locations=(), keywords=(), **overrides)


E, R = Outcome.EMITTED, Outcome.REJECTED
T, C, D = SignalType, SignalCategory, ImpactDirection

# (title, outcome, deciding rule, signal type, category, direction)
TITLES = [
    (
        "Will shipping through the Red Sea be disrupted by Houthi attacks in December?",
        E,
        None,
        T.SHIPPING_ROUTE_RISK,
        C.INFRASTRUCTURE,
        D.NEGATIVE,
    ),
    (
        "Will Iran close the Strait of Hormuz to oil tankers before March?",
        E,
        None,
        T.SHIPPING_ROUTE_RISK,
        C.INFRASTRUCTURE,
        D.NEUTRAL,
    ),
    (
        "Will the EU impose new sanctions on Russian oil exports?",
        E,
        None,
        T.GEOPOLITICAL_SANCTIONS,
        C.GEOPOLITICAL,
        D.NEGATIVE,
    ),
    (
        "Will US dockworkers strike at East Coast ports in October?",
        E,
        None,
        T.LABOR_DISRUPTION,
        C.ECONOMIC,
        D.NEGATIVE,
    ),
    (
        "Will a typhoon force the Port of Shanghai to suspend operations?",
        E,
        None,
        T.PORT_OPERATIONS,
        C.INFRASTRUCTURE,
        D.NEGATIVE,
    ),
    (
        "Will an earthquake disrupt chip production in Taiwan?",
        E,
        None,
        T.SUPPLY_CHAIN_DISRUPTION,
        C.ECONOMIC,
        D.NEGATIVE,
    ),
    (
        "Will the Panama Canal restrict transits due to drought?",
        E,
        None,
        T.SHIPPING_ROUTE_RISK,
        C.INFRASTRUCTURE,
        D.NEGATIVE,
    ),
    (
        "Will the United States raise tariffs on semiconductor imports from China?",
        E,
        None,
        T.REGULATORY_CHANGE,
        C.ECONOMIC,
        D.NEGATIVE,
    ),
    (
        "Will Israel and Hamas agree to a ceasefire in Gaza?",
        E,
        None,
        T.GEOPOLITICAL_DIPLOMATIC,
        C.GEOPOLITICAL,
        D.POSITIVE,
    ),
    (
        "Will the Suez Canal reopen to container ships by June?",
        E,
        None,
        T.SHIPPING_ROUTE_RISK,
        C.INFRASTRUCTURE,
        D.POSITIVE,
    ),
    (
        "Will a strike shut the port of Rotterdam?",
        E,
        None,
        T.PORT_OPERATIONS,
        C.INFRASTRUCTURE,
        D.NEGATIVE,
    ),
    (
        "Will China announce a naval blockade of Taiwan?",
        E,
        None,
        T.GEOPOLITICAL_CONFLICT,
        C.GEOPOLITICAL,
        D.NEGATIVE,
    ),
    (
        "Will a hurricane make landfall near Houston and close the Houston Ship Channel?",
        E,
        None,
        T.CLIMATE_EVENT,
        C.WEATHER,
        D.NEGATIVE,
    ),
    ("Will India ban rice exports?", E, None, T.REGULATORY_CHANGE, C.ECONOMIC, D.NEGATIVE),
    (
        "Will Germany face a gas shortage this winter?",
        E,
        None,
        T.SUPPLY_CHAIN_DISRUPTION,
        C.ECONOMIC,
        D.NEGATIVE,
    ),
    (
        "Will the Bosphorus be closed to tankers?",
        E,
        None,
        T.SHIPPING_ROUTE_RISK,
        C.INFRASTRUCTURE,
        D.NEUTRAL,
    ),
    (
        "Will Somali pirates hijack a ship in the Gulf of Aden?",
        E,
        None,
        T.SHIPPING_ROUTE_RISK,
        C.INFRASTRUCTURE,
        D.NEGATIVE,
    ),
    (
        "Will freight rates from Shanghai to Rotterdam double?",
        E,
        None,
        T.SHIPPING_ROUTE_RISK,
        C.INFRASTRUCTURE,
        D.NEUTRAL,
    ),
    (
        "Will Japan and South Korea sign a trade agreement?",
        E,
        None,
        T.REGULATORY_CHANGE,
        C.ECONOMIC,
        D.POSITIVE,
    ),
    (
        "Will the Strait of Malacca see a collision between tankers?",
        E,
        None,
        T.SHIPPING_ROUTE_RISK,
        C.INFRASTRUCTURE,
        D.NEUTRAL,
    ),
    (
        "Will Taiwan Straits tensions halt container shipping?",
        E,
        None,
        T.SHIPPING_ROUTE_RISK,
        C.INFRASTRUCTURE,
        D.NEGATIVE,
    ),
    ("Will the Lakers win the NBA championship?", R, "semantic", None, None, None),
    ("Will Taylor Swift release a new album?", R, "semantic", None, None, None),
    ("Who will win the Oscar for Best Picture?", R, "semantic", None, None, None),
    ("Will it rain in Paris?", R, "semantic", None, None, None),
    ("Will the new sports arena open in Singapore?", R, "semantic", None, None, None),
    ("Will Europe see record summer temperatures?", R, "semantic", None, None, None),
    ("Will the euro fall below parity with the dollar?", R, "semantic", None, None, None),
    (
        "Will the Super Bowl be moved because of a hurricane in New Orleans?",
        R,
        "semantic",
        None,
        None,
        None,
    ),
    ("Will OPEC cut oil production in 2027?", R, "geographic", None, None, None),
    ("Will oil tankers face new sanctions?", R, "geographic", None, None, None),
    ("Will a volcano eruption close airports in Iceland?", R, "geographic", None, None, None),
]


@pytest.mark.parametrize(
    ("title", "outcome", "decider", "signal_type", "category", "direction"), TITLES
)
def test_market_titles_are_decided_and_classified(
    title, outcome, decider, signal_type, category, direction
):
    result = make_pipeline().process(event_about(title))
    assert result.outcome is outcome, result.reason
    assert [r.rule_name for r in result.validation_results] == RULE_ORDER
    failed = [r.rule_name for r in result.validation_results if r.status is RuleStatus.FAILED]
    if decider is None:
        assert failed == [] and result.reason == ""
        signal = result.signal
        assert (signal.signal_type, signal.category, signal.impact_hints.direction) == (
            signal_type,
            category,
            direction,
        )
    else:
        assert failed[0] == decider
        assert result.reason.startswith(f"{decider}: ")
        assert result.signal is None


RED_SEA = "Will shipping through the Red Sea be disrupted by Houthi attacks in December?"

# (overrides of the Red Sea event, outcome, deciding rule, fragment of the reason)
VARIATIONS = [
    ({"liquidity_usd": 999.99}, R, "liquidity", "liquidity $999.99 < $1,000.00"),
    ({"liquidity_usd": 0.0}, R, "liquidity", "< $1,000.00"),
    ({"liquidity_usd": 1000.0}, E, None, ""),
    ({"probability": 0.97, "outcome_prices": (0.97, 0.03)}, E, None, ""),
    ({"probability": 0.62, "movement": Movement(0.02, 0.6, 24)}, R, "anomaly", "jump"),
    ({"num_traders": 4, "volume_usd": 250_000.0}, R, "anomaly", "thin market"),
    ({"num_traders": 4, "volume_usd": 50_000.0}, E, None, ""),
    (
        {"probability": 0.97, "num_traders": 4, "volume_usd": 250_000.0},
        R,
        "anomaly",
        "suspected manipulation",
    ),
    ({"market_state": MarketState.RESOLVED}, R, "freshness", "resolved"),
    ({"market_state": MarketState.CLOSED}, R, "freshness", "closed"),
    ({"resolution_date_ns": T0_NS - 3 * DAY}, R, "freshness", "before observation"),
    ({"outcome_prices": (0.62, 0.60)}, R, "freshness", "outcome prices sum to 1.22"),
    ({"outcome_prices": (0.62, 0.38)}, E, None, ""),
    ({"liquidity_usd": 500.0, "market_state": MarketState.RESOLVED}, R, "liquidity", "liquidity"),
    (
        {"title": "Will the Lakers win the NBA title?", "market_state": MarketState.RESOLVED},
        R,
        "semantic",
        "off-topic",
    ),
    (
        {"title": "Will oil tankers face new sanctions?", "locations": (Location(26.0, 56.0),)},
        E,
        None,
        "",
    ),
    (
        {"title": "Will oil tankers face new sanctions?", "locations": (Location(39.7, -104.9),)},
        R,
        "geographic",
        "no logistics geography",
    ),
    (
        {
            "title": "Will oil tankers face new sanctions?",
            "locations": (Location(39.7, -104.9, "Denver", "US"),),
        },
        E,
        None,
        "",
    ),
]


@pytest.mark.parametrize(("overrides", "outcome", "decider", "reason"), VARIATIONS)
def test_each_rule_can_decide_and_the_first_failure_wins(overrides, outcome, decider, reason):
    fields = {"title": RED_SEA, "description": "", "locations": (), "keywords": (), **overrides}
    result = make_pipeline().process(raw_event(**fields))
    assert result.outcome is outcome, result.reason
    assert len(result.validation_results) == 5
    if decider is not None:
        assert result.reason.startswith(f"{decider}: ")
        assert reason in result.reason


def recorded_markets() -> list[dict]:
    markets = json.loads((FIXTURES / "gamma_markets_page.json").read_text())
    events = json.loads((FIXTURES / "gamma_events_page.json").read_text())
    return [
        m for m in markets + [m for e in events for m in e["markets"]] if m.get("outcomePrices")
    ]


@pytest.mark.parametrize(
    ("question", "decider"),
    [
        ("Will Adanech Abiebie be the next Prime Minister of Ethiopia?", "semantic"),
        ("Will there be no change in Fed interest rates after the July 2026 meeting?", "semantic"),
        ("Will LeBron James play for the Philadelphia 76ers in 2026-27?", "semantic"),
        ("Kraken IPO in 2025?", "liquidity"),
        ("Kraken IPO by March 31, 2026?", "liquidity"),
        ("Kraken IPO by December 31, 2026?", "semantic"),
        ("Macron out in 2025?", "liquidity"),
        ("Macron out by July 31, 2026?", "semantic"),
        ("Macron out by June 30, 2026?", "liquidity"),
        ("Macron out by October 31, 2025?", "liquidity"),
    ],
)
def test_every_recorded_polymarket_market_is_rejected_for_a_stated_reason(question, decider):
    market = next(m for m in recorded_markets() if m["question"] == question)
    result = make_pipeline().process(market_to_event(market, T0_NS))
    assert result.outcome is Outcome.REJECTED
    assert result.reason.startswith(f"{decider}: ")


def test_a_recorded_market_reworded_as_a_logistics_question_is_emitted():
    fed = next(m for m in recorded_markets() if "Fed" in m["question"])
    market = {
        **fed,
        "question": "Will Houthi attacks force container lines to avoid the Red Sea after July?",
        "description": "Resolves YES if Maersk and MSC announce a suspension of Suez Canal transits.",
    }
    # Observed while the recorded market was still open (it resolves 2026-07-29).
    observed = parse_time_ns("2026-01-15T00:00:00Z")
    result = make_pipeline().process(market_to_event(market, observed))
    assert result.outcome is Outcome.EMITTED, result.reason
    signal = result.signal
    assert signal.geographic.chokepoints == ("Bab el-Mandeb", "Suez Canal")
    assert "MIDDLE_EAST" in signal.geographic.regions
    assert signal.temporal.horizon is TimeHorizon.LONG_TERM
    assert signal.impact_hints.routing_key == f"infrastructure:{fed['id']}"


def test_the_full_signal_of_the_red_sea_market():
    result = make_pipeline().process(raw_event())
    signal = result.signal
    assert result.outcome is Outcome.EMITTED
    assert signal.signal_id == signal_id_for(result.input_event_hash, RULESET.version)
    assert signal.ruleset_version == RULESET.version == "2026.11.2"
    assert signal.geographic.chokepoints == ("Bab el-Mandeb", "Suez Canal")
    assert signal.geographic.regions == ("AFRICA", "MIDDLE_EAST", "YE")
    assert signal.impact_hints.keywords == (
        "shipping",
        "disrupt",
        "houthi",
        "attack",
        "carrier",
        "transit",
    )
    assert signal.impact_hints.domains == ("logistics", "security", "shipping")
    assert [e.kind for e in signal.evidence] == [
        "market_probability",
        "liquidity",
        "volume",
        "traders",
        "topic_terms",
        "chokepoint",
        "chokepoint",
    ]
    factors = {f.name: (f.value, f.weight) for f in signal.confidence_factors}
    assert factors["rules"] == (1.0, 0.40)
    assert factors["evidence"] == (1.0, 0.15)
    assert factors["source_reliability"] == (0.8, 0.25)
    assert factors["liquidity"][0] == pytest.approx(0.79931, abs=1e-5)  # log10(250)/log10(1000)
    assert signal.confidence_score == pytest.approx(0.4 + 0.2 * 0.7993133 + 0.15 + 0.2)
    assert (signal.status, signal.confidence_level) == (SignalStatus.ACTIVE, ConfidenceLevel.HIGH)
    assert (
        signal.confidence_interval.lower
        < signal.confidence_score
        < signal.confidence_interval.upper
    )


def test_the_same_event_observed_later_is_a_duplicate_of_the_original():
    repository = InMemorySignalRepository()
    pipeline = make_pipeline(repository=repository)
    first = pipeline.process(raw_event())
    again = pipeline.process(raw_event(observed_at_ns=T0_NS + DAY, raw_payload=b"{}"))
    assert again.outcome is Outcome.DUPLICATE
    assert again.duplicate_of == first.signal.signal_id
    assert again.validation_results == first.validation_results
    assert len(repository) == 1


def test_a_duplicate_without_its_original_carries_only_the_originals_id():
    repository = InMemorySignalRepository()
    pipeline = make_pipeline(repository=repository)
    first = pipeline.process(raw_event())
    again = pipeline.process(raw_event(observed_at_ns=T0_NS + DAY), original=False)
    assert (again.outcome, again.duplicate_of) == (Outcome.DUPLICATE, first.signal.signal_id)
    assert (again.signal, again.validation_results) == (None, ())
    assert again.input_event_hash == first.input_event_hash
    # Not a duplicate: decided as usual, whatever the flag.
    other = pipeline.process(raw_event(event_id="other"), original=False)
    assert other.outcome is Outcome.EMITTED and len(repository) == 2


def test_low_confidence_is_rejected_and_says_why(tmp_path):
    override = tmp_path / "strict.toml"
    override.write_text(
        'version = "strict-1"\n[confidence]\ndefault_source_reliability = 0.0\nstatus_candidate = 0.5\n'
        "status_monitoring = 0.6\nstatus_active = 0.9\n"
    )
    strict = load_ruleset(override)
    result = make_pipeline(strict).process(
        event_about(
            "Will oil tankers face new sanctions in the Red Sea?",
            source="unknown-feed",
            liquidity_usd=1000.0,
        )
    )
    assert result.outcome is Outcome.REJECTED
    assert result.reason.startswith("confidence 0.4")
    assert result.reason.endswith("< 0.50")


def test_a_market_that_really_moved_is_rejected_once_then_accepted_at_its_new_level():
    pipeline = make_pipeline()
    decisions = [
        pipeline.process(event_about(RED_SEA, event_id=f"e{i}", probability=p)).outcome
        for i, p in enumerate([0.2, 0.21, 0.8, 0.81, 0.8])
    ]
    assert decisions == [E, E, R, E, E]


def test_the_same_inputs_give_equal_results_in_separate_pipelines():
    events = [event_about(title, event_id=f"e{i}") for i, (title, *_rest) in enumerate(TITLES)]
    runs = [[make_pipeline().process(e) for e in events] for _ in range(2)]
    assert runs[0] == runs[1]


def test_a_new_ruleset_version_gives_a_new_signal_id(tmp_path):
    override = tmp_path / "v2.toml"
    override.write_text('version = "2026.12.0"\n')
    a = make_pipeline().process(raw_event())
    b = make_pipeline(load_ruleset(override)).process(raw_event())
    assert a.input_event_hash == b.input_event_hash
    assert a.signal.signal_id != b.signal.signal_id
    assert b.signal.ruleset_version == "2026.12.0"


def test_the_trace_id_is_stamped_into_the_signal():
    assert make_pipeline().process(raw_event(), trace_id="ab" * 16).signal.trace_id == "ab" * 16


def test_the_repository_refuses_a_second_signal_for_one_hash():
    repository = InMemorySignalRepository()
    signal = make_pipeline(repository=repository).process(raw_event()).signal
    with pytest.raises(ValueError, match="already exists"):
        repository.add(dataclasses.replace(signal, signal_id="sig-other"))
