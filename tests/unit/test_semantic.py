"""Semantic relevance: topic weights, off-topic rejection, whole-word matching, ruleset loading."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from omen.domain.analysis import (
    ChokepointHit,
    EventContext,
    GeoFindings,
    MarketHistory,
    TextAnalyzer,
)
from omen.domain.events import RawEvent
from omen.domain.semantic import (
    DirectionTerm,
    OffTopicTerm,
    SemanticParams,
    SemanticRule,
    Topic,
    TopicTerm,
    irregular_forms,
    lexicon_entries,
)
from omen.domain.signals import ImpactDirection, RuleStatus, SignalCategory, SignalType
from omen.domain.text import inflections
from tests.rulesets import section

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "polymarket"
NO_TOPIC = "not about supply-chain or logistics risk: no topic terms"
SUEZ_BY_NAME = ChokepointHit("Suez Canal", 30.6, 32.3, via="name")
SUEZ_BY_DISTANCE = ChokepointHit("Suez Canal", 30.6, 32.3, via="distance", distance_km=120.0)


@pytest.fixture(scope="module")
def params() -> SemanticParams:
    return SemanticParams.from_dict(section("semantic"))


@pytest.fixture(scope="module")
def analyzer(params: SemanticParams) -> TextAnalyzer:
    return TextAnalyzer(lexicon_entries(params), irregular_forms(params))


@pytest.fixture(scope="module")
def rule(params: SemanticParams) -> SemanticRule:
    return SemanticRule(params)


def event(title: str, description: str = "") -> RawEvent:
    return RawEvent(
        event_id="e-1",
        source="polymarket",
        title=title,
        probability=0.4,
        observed_at_ns=0,
        description=description,
    )


def context(
    analyzer: TextAnalyzer,
    title: str,
    description: str = "",
    chokepoints: tuple[ChokepointHit, ...] = (),
) -> EventContext:
    raw = event(title, description)
    return EventContext(
        raw, analyzer.analyze(raw), GeoFindings(chokepoints=chokepoints), MarketHistory("m-1")
    )


def matched_terms(analyzer: TextAnalyzer, text: str) -> list[str]:
    return [m.term for m in analyzer.analyze(event(text)).matches]


# --- The lexicon --------------------------------------------------------------------------------


def test_the_lexicon_builds_without_ambiguous_inflections(params):
    analyzer = TextAnalyzer(lexicon_entries(params), irregular_forms(params))
    assert analyzer.analyze(event("Houthi attacks on shipping")).matches


def test_the_lexicon_lists_topics_off_topic_groups_and_direction_terms(params):
    entries = lexicon_entries(params)
    terms = {term for term, _ in entries}
    topical = {t for t, p in entries if isinstance(p, TopicTerm)}
    off_topic = {t for t, p in entries if isinstance(p, OffTopicTerm)}
    assert len(topical) >= 300
    assert {"shipping", "port", "houthi", "air strike", "tariff", "hurricane"} <= topical
    assert {"nba", "76ers", "oscar", "box office"} <= off_topic
    assert not topical & off_topic
    assert all(isinstance(p, TopicTerm | OffTopicTerm | DirectionTerm) for _, p in entries)
    assert len(terms) == len(TextAnalyzer(entries, irregular_forms(params))._lexicon)


def test_no_phrase_word_hides_an_inflection_of_another_term(params):
    # A listed word stands for itself: had "sanctions relief" been listed, the token "sanctions"
    # would no longer mean "sanction" anywhere.
    terms = {term for term, _ in lexicon_entries(params)}
    singles = {t for t in terms if " " not in t}
    heads = {t.split()[-1] for t in terms}
    words = {w for t in terms for w in t.split()}
    hidden = sorted(
        (w, h) for w in words - singles for h in heads if h != w and w in inflections(h)
    )
    assert hidden == []


def test_a_term_listed_in_two_topics_carries_both_payloads(params, analyzer):
    (match,) = analyzer.analyze(event("strike")).matches
    topics = [(p.topic, p.weight) for p in match.payloads if isinstance(p, TopicTerm)]
    assert topics == [("conflict", 0.5), ("labor", 0.5)]
    assert DirectionTerm(ImpactDirection.NEGATIVE, 1.0) in match.payloads


# --- Relevance ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "description", "status", "score", "reason"),
    [
        (
            "Red Sea shipping disruption due to Houthi attacks",
            "",
            RuleStatus.PASSED,
            1.0,
            "shipping (shipping); supply_chain (disruption); conflict (houthi, attack); weight 4.0 >= 1.0",
        ),
        (
            "Will Trump impose tariffs on Mexico?",
            "",
            RuleStatus.PASSED,
            1 / 3,
            "trade_policy (tariff); weight 1.0 >= 1.0",
        ),
        (
            "Will the US strike Iran?",
            "",
            RuleStatus.PASSED,
            1 / 3,
            "conflict (strike); labor (strike); weight 1.0 >= 1.0",
        ),
        (
            "Will the ILA go on strike?",
            "",
            RuleStatus.PASSED,
            2 / 3,
            "dock_labor (ila); labor (on strike); weight 2.0 >= 1.0",
        ),
        (
            "Russia x Ukraine ceasefire in 2025?",
            "",
            RuleStatus.PASSED,
            0.5,
            "diplomacy (ceasefire); weight 1.5 >= 1.0",
        ),
        (
            "Hurricane landfall in Texas?",
            "Resolves Yes if a hurricane makes landfall; the Houston port would close.",
            RuleStatus.PASSED,
            1.0,
            "weather (hurricane, landfall); ports (port); weight 3.0 >= 1.0",
        ),
        (
            "Oil above $100?",
            "",
            RuleStatus.PASSED,
            1 / 3,
            "energy_supply (oil); weight 1.0 >= 1.0",
        ),
        (
            "Will it rain in Paris?",
            "",
            RuleStatus.FAILED,
            0.5 / 3,
            "not about supply-chain or logistics risk: weight 0.5 < 1.0: weather (rain)",
        ),
        (
            "Highest temperature in NYC on Friday?",
            "",
            RuleStatus.FAILED,
            0.5 / 3,
            "not about supply-chain or logistics risk: weight 0.5 < 1.0: weather (temperature)",
        ),
        (
            "US recession in 2025?",
            "",
            RuleStatus.FAILED,
            0.5 / 3,
            "not about supply-chain or logistics risk: weight 0.5 < 1.0: macro (recession)",
        ),
        ("Who will win the Eurovision?", "", RuleStatus.FAILED, 0.0, "off-topic: entertainment (eurovision)"),
        ("Will the war movie win the Oscar?", "", RuleStatus.FAILED, 0.0, "off-topic: entertainment (movie, oscar)"),
        ("NBA playoffs: will the port city team win?", "", RuleStatus.FAILED, 0.0, "off-topic: sports (nba, playoff)"),
        (
            "Super Bowl halftime show: Taylor Swift?",
            "Resolves per the official NFL announcement.",
            RuleStatus.FAILED,
            0.0,
            "off-topic: sports (super bowl, nfl); entertainment (taylor swift)",
        ),
        ("Golden State Warriors win the title?", "", RuleStatus.FAILED, 0.0, NO_TOPIC),
        ("Will Europe adopt the euro?", "", RuleStatus.FAILED, 0.0, NO_TOPIC),
        ("Will the US passport fee rise?", "", RuleStatus.FAILED, 0.0, NO_TOPIC),
        ("", "", RuleStatus.FAILED, 0.0, NO_TOPIC),
    ],
)  # fmt: skip
def test_relevance(analyzer, rule, title, description, status, score, reason):
    result = rule.evaluate(context(analyzer, title, description))
    assert (result.rule_name, result.rule_version) == ("semantic", "1.0.0")
    assert result.status is status
    assert result.score == pytest.approx(score)
    assert result.reason == reason


def test_a_repeated_term_counts_once(analyzer, rule):
    once = rule.evaluate(context(analyzer, "Tariff on steel?"))
    again = rule.evaluate(context(analyzer, "Tariff on steel?", "The tariff. The tariffs."))
    assert once == again
    assert once.reason == "trade_policy (tariff); critical_goods (steel); weight 1.5 >= 1.0"


def test_the_score_saturates_at_one(analyzer, rule):
    result = rule.evaluate(
        context(analyzer, "War, blockade and sanctions close the strait to tankers and freight")
    )
    assert result.score == 1.0
    assert result.reason.endswith("weight 6.0 >= 1.0")


def test_a_chokepoint_named_in_the_text_counts_as_shipping_evidence(analyzer, rule):
    result = rule.evaluate(
        context(analyzer, "Will Egypt close it by June?", chokepoints=(SUEZ_BY_NAME,))
    )
    assert result.status is RuleStatus.PASSED
    assert result.reason == "chokepoint (Suez Canal); weight 1.0 >= 1.0"


def test_a_chokepoint_found_only_by_distance_does_not_make_an_event_relevant(analyzer, rule):
    result = rule.evaluate(
        context(analyzer, "Will Egypt close it by June?", chokepoints=(SUEZ_BY_DISTANCE,))
    )
    assert (result.status, result.reason) == (RuleStatus.FAILED, NO_TOPIC)


def test_a_chokepoint_tops_up_a_weak_term(analyzer, rule):
    result = rule.evaluate(
        context(analyzer, "Rain near the canal zone", chokepoints=(SUEZ_BY_NAME,))
    )
    assert result.status is RuleStatus.PASSED
    assert result.reason == (
        "weather (rain); shipping (canal); chokepoint (Suez Canal); weight 2.5 >= 1.0"
    )


def test_an_off_topic_term_beats_every_topic_and_chokepoint(analyzer, rule):
    result = rule.evaluate(
        context(
            analyzer,
            "Will the Houthi attack on shipping feature in a Netflix film?",
            chokepoints=(SUEZ_BY_NAME,),
        )
    )
    assert (result.status, result.score) == (RuleStatus.FAILED, 0.0)
    assert result.reason == "off-topic: entertainment (netflix, film)"


# --- Off-topic markets from the recorded Polymarket bodies ------------------------------------


def _fixture_texts() -> dict[str, str]:
    """Title or question -> description, for every market and event in the recorded bodies."""
    texts: dict[str, str] = {}

    def add(item: dict[str, Any]) -> None:
        for key in ("question", "title"):
            if item.get(key):
                texts.setdefault(item[key], item.get("description") or "")

    for name in ("gamma_markets_page.json", "gamma_events_page.json"):
        for item in json.loads((FIXTURES / name).read_text()):
            add(item)
            for nested in item.get("events", []) + item.get("markets", []):
                add(nested)
    for item in json.loads((FIXTURES / "clob_markets_page_excerpt.json").read_text())["data"]:
        add(item)
    return texts


FIXTURE_TEXTS = _fixture_texts()


@pytest.mark.parametrize(
    ("title", "reason"),
    [
        # No league word in the question: the team name is on the sports list, and the
        # description names the Lakers too.
        ("Will LeBron James play for the Philadelphia 76ers in 2026-27?", "off-topic: sports (76ers, lakers)"),
        ("NBA: LeBron James Next Team", "off-topic: sports (nba, lakers)"),
        ("Will there be no change in Fed interest rates after the July 2026 meeting?", NO_TOPIC),
        ("Fed Decision in July?", NO_TOPIC),
        ("Will Adanech Abiebie be the next Prime Minister of Ethiopia?", NO_TOPIC),
        ("Next Prime Minister of Ethiopia?", NO_TOPIC),
        ("Kraken IPO in 2025?", NO_TOPIC),
        ("Kraken IPO by ___ ?", NO_TOPIC),
        ("Macron out by October 31, 2025?", NO_TOPIC),
        ("Macron out by...?", NO_TOPIC),
        ("[Single Market] Will Donald J. Trump win the U.S. 2024 Republican presidential nomination?", NO_TOPIC),
        ("[Single Market] Will Kamala Harris win the U.S. 2024 Democratic presidential nomination?", NO_TOPIC),
    ],
)  # fmt: skip
def test_recorded_polymarket_markets_are_rejected(analyzer, rule, title, reason):
    result = rule.evaluate(context(analyzer, title, FIXTURE_TEXTS[title]))
    assert (result.status, result.reason) == (RuleStatus.FAILED, reason)


def test_every_recorded_polymarket_market_is_rejected(analyzer, rule):
    assert len(FIXTURE_TEXTS) >= 15
    passed = [
        title
        for title, description in FIXTURE_TEXTS.items()
        if not rule.evaluate(context(analyzer, title, description)).failed
    ]
    assert passed == []


# --- Whole words, inflections, phrases ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("Houthi attacks", ["houthi", "attack"]),
        ("ship attacked", ["ship", "attack"]),
        ("attacking tankers", ["attack", "tanker"]),
        ("sanctions and the sanctioned", ["sanction", "sanction"]),
        ("new tariffs", ["tariff"]),
        ("supply chain disruptions", ["supply chain", "disruption"]),
        ("ports blockaded", ["port", "blockade"]),
        ("shipping rerouted, cargoes lost, goods shipped", ["shipping", "reroute", "cargo", "ship"]),
        ("energy crises", ["energy crisis"]),
        ("debt crises", ["crisis"]),
        ("longshoremen walk out", ["longshoreman"]),
        ("Israel struck Iran", ["strike"]),
        ("embargoes and tornadoes", ["embargo", "tornado"]),
        ("sanction relief talks", ["sanction relief"]),
        ("sanctions relief", ["sanction relief"]),
        # The longest term wins and its words are not matched again.
        ("air strikes hit the port", ["air strike", "port"]),
        ("trade war", ["trade war"]),
        ("war risk premiums", ["war risk"]),
        ("dock strike", ["dock strike"]),
        # Whole words only.
        ("sport", ["sport"]),
        ("sports", ["sport"]),
        ("passport", []),
        ("transport", ["transport"]),
        ("airport", ["airport"]),
        ("supports", []),
        ("Golden State Warriors", []),
        ("Europe", []),
        ("chipotle", []),
        ("chips", ["chip"]),
        ("the 76ers", ["76ers"]),
    ],
)  # fmt: skip
def test_matching_is_whole_word_inflection_aware_and_longest_first(analyzer, text, terms):
    assert matched_terms(analyzer, text) == terms


def test_europe_never_matches_euro():
    euro = Topic("currency", 1.0, None, SignalCategory.ECONOMIC, ("trade",), ("euro",))
    params = SemanticParams(topics=(euro,))
    analyzer = TextAnalyzer(lexicon_entries(params), irregular_forms(params))
    rule = SemanticRule(params)
    assert matched_terms(analyzer, "Europe and the euro; euros") == ["euro", "euro"]
    assert rule.evaluate(context(analyzer, "Will Europe grow?")).reason == NO_TOPIC
    assert rule.evaluate(context(analyzer, "Will the euro fall?")).status is RuleStatus.PASSED


def test_no_phrase_spans_the_title_and_the_description(analyzer):
    text = analyzer.analyze(event("Will the air", "strike happen?"))
    assert [m.term for m in text.matches] == ["strike"]


# --- Loading the section ------------------------------------------------------------------------


def test_the_packaged_section_loads_with_its_documented_orders(params):
    assert params.min_weight == 1.0
    assert params.saturation_weight == 3.0
    assert params.type_order[:4] == (
        SignalType.SHIPPING_ROUTE_RISK,
        SignalType.PORT_OPERATIONS,
        SignalType.SUPPLY_CHAIN_DISRUPTION,
        SignalType.GEOPOLITICAL_CONFLICT,
    )
    assert params.category_order[0] is SignalCategory.INFRASTRUCTURE
    assert params.chokepoint.signal_type is SignalType.SHIPPING_ROUTE_RISK
    assert ("crises", "crisis") in params.irregular


def _broken(edit: str) -> dict[str, Any]:
    data = copy.deepcopy(section("semantic"))
    shipping = data["topics"]["shipping"]
    match edit:
        case "empty term":
            shipping["terms"][3] = ""
        case "wordless term":
            shipping["terms"][0] = "--"
        case "repeated term":
            shipping["terms"][1] = "Shipping"
        case "zero weight":
            shipping["weight"] = 0
        case "boolean weight":
            shipping["weight"] = True
        case "unclassified type":
            shipping["signal_type"] = "UNCLASSIFIED"
        case "unknown category":
            shipping["category"] = "SPORTS"
        case "unknown key":
            shipping["colour"] = "blue"
        case "empty domains":
            shipping["domains"] = []
        case "stray term weight":
            shipping["term_weights"]["rocket"] = 0.5
        case "missing min_weight":
            del data["min_weight"]
        case "saturation below min":
            data["saturation_weight"] = 0.5
        case "incomplete type order":
            data["type_order"].remove("GEOPOLITICAL_DIPLOMATIC")
        case "repeated category":
            data["category_order"][1] = "INFRASTRUCTURE"
        case "off-topic not a list":
            data["off_topic"]["sports"] = "nba"
        case "both directions":
            data["direction"]["positive"]["terms"].append("war")
        case "unknown direction":
            data["direction"]["sideways"] = {"weight": 1.0, "terms": ["meh"]}
        case "irregular to an unlisted word":
            data["irregular"]["mice"] = "mouse"
        case "topics not a table":
            data["topics"] = ["shipping"]
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("empty term", "semantic.topics.shipping.terms[3]: must be a non-empty string"),
        ("wordless term", "semantic.topics.shipping.terms[0]: has no words"),
        ("repeated term", "semantic.topics.shipping.terms[1]: 'shipping' is listed twice"),
        ("zero weight", "semantic.topics.shipping.weight: must be a positive finite number"),
        ("boolean weight", "semantic.topics.shipping.weight: must be a number"),
        ("unclassified type", "semantic.topics.shipping.signal_type: 'UNCLASSIFIED' is not one of"),
        ("unknown category", "semantic.topics.shipping.category: 'SPORTS' is not one of"),
        ("unknown key", "semantic.topics.shipping.colour: unknown key"),
        ("empty domains", "semantic.topics.shipping.domains: must not be empty"),
        ("stray term weight", "semantic.topics.shipping.term_weights.rocket: is not one of the terms"),
        ("missing min_weight", "semantic.min_weight: is required"),
        ("saturation below min", "semantic.saturation_weight: must be >= min_weight"),
        ("incomplete type order", "semantic.type_order: missing GEOPOLITICAL_DIPLOMATIC"),
        ("repeated category", "semantic.category_order[1]: INFRASTRUCTURE is listed twice"),
        ("off-topic not a list", "semantic.off_topic.sports: must be a list"),
        ("both directions", "semantic.direction.positive.terms: 'war' is also listed as negative"),
        ("unknown direction", "semantic.direction.sideways: unknown key"),
        ("irregular to an unlisted word", "semantic.irregular.mice: 'mouse' is not a word of any listed term"),
        ("topics not a table", "semantic.topics: must be a table"),
    ],
)  # fmt: skip
def test_from_dict_names_the_key_path_of_a_bad_value(edit, message):
    with pytest.raises(ValueError) as caught:
        SemanticParams.from_dict(_broken(edit))
    assert str(caught.value).startswith(message)


def test_params_built_by_hand_must_rank_every_type():
    with pytest.raises(ValueError, match="type_order"):
        SemanticParams(type_order=(SignalType.SHIPPING_ROUTE_RISK,))
