"""Classification: signal type and category by summed weights, tie-breaks, direction, hints."""

from __future__ import annotations

import dataclasses

import pytest

from omen.domain.analysis import TextAnalyzer
from omen.domain.classification import Classification, classify
from omen.domain.events import RawEvent
from omen.domain.semantic import (
    DirectionGroup,
    SemanticParams,
    Topic,
    irregular_forms,
    lexicon_entries,
)
from omen.domain.signals import ImpactDirection, SignalCategory, SignalType
from tests.rulesets import section

T = SignalType
C = SignalCategory
D = ImpactDirection


@pytest.fixture(scope="module")
def params() -> SemanticParams:
    return SemanticParams.from_dict(section("semantic"))


@pytest.fixture(scope="module")
def analyzer(params: SemanticParams) -> TextAnalyzer:
    return TextAnalyzer(lexicon_entries(params), irregular_forms(params))


def event(title: str, description: str = "") -> RawEvent:
    return RawEvent(
        event_id="e-1",
        source="polymarket",
        title=title,
        probability=0.4,
        observed_at_ns=0,
        description=description,
    )


def classified(
    analyzer: TextAnalyzer,
    params: SemanticParams,
    title: str,
    description: str = "",
    chokepoint: bool = False,
) -> Classification:
    return classify(analyzer.analyze(event(title, description)), chokepoint, params)


@pytest.mark.parametrize(
    ("title", "chokepoint", "signal_type", "category", "direction"),
    [
        # shipping 1 + chokepoint 1 ties conflict (houthi 1 + attack 1): type_order puts
        # SHIPPING_ROUTE_RISK first, and its evidence is all INFRASTRUCTURE.
        ("Red Sea shipping disruption due to Houthi attacks", True, T.SHIPPING_ROUTE_RISK, C.INFRASTRUCTURE, D.NEGATIVE),
        # Without the chokepoint, conflict (2.0) outweighs shipping (1.0).
        ("Red Sea shipping disruption due to Houthi attacks", False, T.GEOPOLITICAL_CONFLICT, C.GEOPOLITICAL, D.NEGATIVE),
        # A bare "strike" is half labour, half conflict; the tie reads as conflict.
        ("Will the US strike Iran?", False, T.GEOPOLITICAL_CONFLICT, C.GEOPOLITICAL, D.NEGATIVE),
        ("Israel struck Iran", False, T.GEOPOLITICAL_CONFLICT, C.GEOPOLITICAL, D.NEGATIVE),
        # dockworker 1 + strike 0.5 (labour) beats port 1 and strike 0.5 (conflict).
        ("Will dockworkers strike at East Coast ports?", False, T.LABOR_DISRUPTION, C.ECONOMIC, D.NEGATIVE),
        ("Will the ILA go on strike?", False, T.LABOR_DISRUPTION, C.ECONOMIC, D.NEGATIVE),
        ("Israeli air strike on Iran's oil terminal?", False, T.GEOPOLITICAL_CONFLICT, C.GEOPOLITICAL, D.NEGATIVE),
        # ceasefire 1.5 outweighs war 1.0, in type and in direction.
        ("Russia x Ukraine war ceasefire in 2025?", False, T.GEOPOLITICAL_DIPLOMATIC, C.GEOPOLITICAL, D.POSITIVE),
        ("US lifts sanctions on Syria?", False, T.GEOPOLITICAL_SANCTIONS, C.GEOPOLITICAL, D.POSITIVE),
        ("Will Trump impose tariffs on Mexico?", False, T.REGULATORY_CHANGE, C.ECONOMIC, D.NEGATIVE),
        # tariff 1 (negative) against agreement 1 (positive): neutral.
        ("Tariff agreement with Japan?", False, T.REGULATORY_CHANGE, C.ECONOMIC, D.NEUTRAL),
        ("Chip export controls on China?", False, T.GEOPOLITICAL_SANCTIONS, C.GEOPOLITICAL, D.NEGATIVE),
        ("OPEC+ production cut in December?", False, T.ENERGY_SUPPLY, C.ECONOMIC, D.NEGATIVE),
        # hurricane 1 ties refinery 1: ENERGY_INFRASTRUCTURE is listed before CLIMATE_EVENT.
        ("Hurricane hits Gulf refineries?", False, T.ENERGY_INFRASTRUCTURE, C.INFRASTRUCTURE, D.NEGATIVE),
        ("Magnitude 7 earthquake in Japan?", False, T.NATURAL_DISASTER, C.WEATHER, D.NEGATIVE),
        ("Will the strait reopen to tankers?", True, T.SHIPPING_ROUTE_RISK, C.INFRASTRUCTURE, D.POSITIVE),
        # pirate 1 + hijack 1 (SECURITY) outvote tanker 1 (INFRASTRUCTURE) inside the shipping type.
        ("Somali pirates hijack a tanker", False, T.SHIPPING_ROUTE_RISK, C.SECURITY, D.NEGATIVE),
        ("Port congestion at Rotterdam", False, T.PORT_OPERATIONS, C.INFRASTRUCTURE, D.NEGATIVE),
        # Macro words carry a category but no type.
        ("US recession and inflation in 2025?", False, T.UNCLASSIFIED, C.ECONOMIC, D.NEGATIVE),
        ("Fed Decision in July?", False, T.UNCLASSIFIED, C.OTHER, D.NEUTRAL),
        # A chokepoint alone is shipping evidence.
        ("Will Egypt close it by June?", True, T.SHIPPING_ROUTE_RISK, C.INFRASTRUCTURE, D.NEUTRAL),
    ],
)  # fmt: skip
def test_classification(analyzer, params, title, chokepoint, signal_type, category, direction):
    result = classified(analyzer, params, title, chokepoint=chokepoint)
    assert (result.signal_type, result.category, result.direction) == (
        signal_type,
        category,
        direction,
    )


def test_hints_for_the_red_sea_case(analyzer, params):
    result = classified(
        analyzer, params, "Red Sea shipping disruption due to Houthi attacks", chokepoint=True
    )
    assert result == Classification(
        category=C.INFRASTRUCTURE,
        signal_type=T.SHIPPING_ROUTE_RISK,
        direction=D.NEGATIVE,
        domains=("logistics", "security", "shipping"),
        keywords=("shipping", "disruption", "houthi", "attack"),
    )


def test_keywords_are_canonical_unique_and_in_title_then_description_order(analyzer, params):
    result = classified(
        analyzer,
        params,
        "Port strike: will dockworkers halt ports?",
        "Longshoremen at the port may walk out; shipping and strikes would follow. Tariffs too.",
    )
    # "halt" is a direction word, not a topic: it is no keyword.
    assert result.keywords == (
        "port strike",
        "dockworker",
        "port",
        "longshoreman",
        "shipping",
        "strike",
        "tariff",
    )
    assert result.domains == ("labor", "logistics", "ports", "security", "shipping", "trade")
    assert list(result.domains) == sorted(set(result.domains))


def test_a_chokepoint_adds_the_shipping_domain(analyzer, params):
    without = classified(analyzer, params, "Will tariffs rise?")
    with_chokepoint = classified(analyzer, params, "Will tariffs rise?", chokepoint=True)
    assert without.domains == ("trade",)
    assert with_chokepoint.domains == ("shipping", "trade")
    # tariff 1.0 ties the chokepoint 1.0; SHIPPING_ROUTE_RISK is listed first.
    assert with_chokepoint.signal_type is T.SHIPPING_ROUTE_RISK
    assert with_chokepoint.keywords == ("tariff",)


def test_nothing_matched_is_unclassified_other_and_neutral(analyzer, params):
    assert classified(analyzer, params, "Kraken IPO in 2025?") == Classification(
        C.OTHER, T.UNCLASSIFIED, D.NEUTRAL, (), ()
    )


def test_repetition_does_not_outweigh_distinct_evidence(analyzer, params):
    # "war" three times is still one term (1.0); ceasefire (1.5) wins.
    result = classified(analyzer, params, "War, war, war: ceasefire?")
    assert (result.signal_type, result.direction) == (T.GEOPOLITICAL_DIPLOMATIC, D.POSITIVE)


# --- Tie-breaking on hand-built parameters ---------------------------------------------------


def tie_params(
    alpha: float = 1.0, beta: tuple[float, ...] = (1.0,), reverse: bool = False
) -> SemanticParams:
    beta_terms = ("beta", "gamma", "delta")[: len(beta)]
    weather = Topic("weather", alpha, T.CLIMATE_EVENT, C.WEATHER, ("logistics",), ("alpha",))
    labor = Topic(
        "labor",
        1.0,
        T.LABOR_DISRUPTION,
        C.ECONOMIC,
        ("labor",),
        beta_terms,
        tuple(zip(beta_terms, beta, strict=True)),
    )
    base = SemanticParams(topics=(weather, labor))
    if not reverse:
        return base
    return dataclasses.replace(
        base,
        type_order=tuple(reversed(base.type_order)),
        category_order=tuple(reversed(base.category_order)),
    )


@pytest.mark.parametrize("text", ["alpha beta", "beta alpha", "alpha. beta alpha beta"])
def test_an_equal_weight_tie_goes_to_the_type_listed_first_whatever_the_word_order(text):
    params = tie_params()
    # The default order is the enum's: LABOR_DISRUPTION (9) before CLIMATE_EVENT (10).
    assert params.type_order.index(T.LABOR_DISRUPTION) < params.type_order.index(T.CLIMATE_EVENT)
    analyzer = TextAnalyzer(lexicon_entries(params))
    result = classify(analyzer.analyze(event(text)), False, params)
    assert (result.signal_type, result.category) == (T.LABOR_DISRUPTION, C.ECONOMIC)
    assert result.domains == ("labor", "logistics")


@pytest.mark.parametrize("text", ["alpha beta", "beta alpha"])
def test_reversing_the_type_order_reverses_the_tie(text):
    params = tie_params(reverse=True)
    analyzer = TextAnalyzer(lexicon_entries(params))
    result = classify(analyzer.analyze(event(text)), False, params)
    assert (result.signal_type, result.category) == (T.CLIMATE_EVENT, C.WEATHER)


@pytest.mark.parametrize("text", ["alpha beta gamma", "gamma beta alpha", "beta alpha gamma"])
def test_a_tie_survives_float_rounding_in_any_order(text):
    # 0.1 + 0.2 is 0.30000000000000004 in floats; it still ties 0.3.
    params = tie_params(alpha=0.3, beta=(0.1, 0.2), reverse=True)
    analyzer = TextAnalyzer(lexicon_entries(params))
    result = classify(analyzer.analyze(event(text)), False, params)
    assert result.signal_type is T.CLIMATE_EVENT


def test_a_heavier_type_wins_regardless_of_order():
    params = tie_params(alpha=1.5, reverse=False)
    analyzer = TextAnalyzer(lexicon_entries(params))
    result = classify(analyzer.analyze(event("beta alpha")), False, params)
    assert result.signal_type is T.CLIMATE_EVENT


@pytest.mark.parametrize(
    ("text", "direction"),
    [
        ("bad", D.NEGATIVE),
        ("good", D.POSITIVE),
        ("bad good", D.NEUTRAL),
        ("bad worse good", D.NEGATIVE),
        ("great bad", D.POSITIVE),
        ("nothing", D.NEUTRAL),
    ],
)
def test_direction_compares_negative_and_positive_weights(text, direction):
    params = SemanticParams(
        direction=(
            DirectionGroup(D.NEGATIVE, 1.0, ("bad", "worse")),
            DirectionGroup(D.POSITIVE, 1.0, ("good", "great"), (("great", 1.5),)),
        )
    )
    analyzer = TextAnalyzer(lexicon_entries(params))
    result = classify(analyzer.analyze(event(text)), False, params)
    assert result.direction is direction
    assert (result.signal_type, result.keywords) == (T.UNCLASSIFIED, ())
