"""Recorded Polymarket Gamma bodies map to RawEvents, with every format pitfall handled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omen.adapters.sources.polymarket import SourceFormatError, market_to_event, parse_time_ns
from omen.domain.events import MarketState, Movement
from omen.domain.validation import validate_event
from tests.support import NS, T0_NS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "polymarket"


def gamma_markets() -> list[dict]:
    return json.loads((FIXTURES / "gamma_markets_page.json").read_text())


def gamma_event_markets() -> list[dict]:
    events = json.loads((FIXTURES / "gamma_events_page.json").read_text())
    return [m for e in events for m in e["markets"]]


def test_an_active_market_maps_every_field():
    fed = next(m for m in gamma_markets() if "Fed" in m["question"])
    event = market_to_event(fed, T0_NS)
    assert event.event_id == f"pm-{fed['id']}" and event.market_id == fed["id"]
    assert event.source == "polymarket"
    assert (
        event.title == "Will there be no change in Fed interest rates after the July 2026 meeting?"
    )
    assert event.probability == 0.7355  # outcomePrices is a JSON string of decimal strings
    assert event.outcome_prices == (0.7355, 0.2645)
    assert event.liquidity_usd == pytest.approx(354721.99651)
    assert event.movement == Movement(
        previous=pytest.approx(0.7405), delta=-0.005, window_hours=24.0
    )
    assert event.market_state is MarketState.OPEN
    assert event.resolution_date_ns == parse_time_ns("2026-07-29T00:00:00Z")
    assert dict(event.source_metrics)["spread"] == pytest.approx(0.003)
    assert event.market_url.startswith("https://polymarket.com/event/")
    assert validate_event(event) == []


def test_every_recorded_market_with_prices_maps_to_a_valid_event():
    mapped = 0
    for market in gamma_markets() + gamma_event_markets():
        if market.get("outcomePrices") is None:
            continue
        assert validate_event(market_to_event(market, T0_NS)) == [], market["question"]
        mapped += 1
    assert mapped == 10


def test_resolved_markets_are_marked_resolved_with_zero_liquidity():
    resolved = [m for m in gamma_event_markets() if m.get("closed")]
    assert resolved
    for market in resolved:
        event = market_to_event(market, T0_NS)
        assert event.market_state is MarketState.RESOLVED
        assert event.liquidity_usd == 0.0  # absent on closed markets: absent is not a number
        assert set(event.outcome_prices) <= {0.0, 1.0}


def test_an_undeployed_market_without_prices_is_a_clear_format_error():
    undeployed = next(m for m in gamma_event_markets() if m.get("outcomePrices") is None)
    with pytest.raises(SourceFormatError) as error:
        market_to_event(undeployed, T0_NS)
    assert error.value.field == "outcomePrices"
    assert undeployed["id"] in str(error.value)


def test_re_polling_an_unchanged_market_gives_the_same_event_apart_from_observed_at():
    fed = gamma_markets()[1]
    first, later = market_to_event(fed, T0_NS), market_to_event(fed, T0_NS + 60 * NS)
    assert first.event_id == later.event_id
    assert first.observed_at_ns != later.observed_at_ns


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-07-29T00:00:00Z", 1_785_283_200 * NS),
        ("2026-07-29T00:00:00.5Z", 1_785_283_200 * NS + 500_000_000),
        ("2026-07-29T00:00:00.123456Z", 1_785_283_200 * NS + 123_456_000),
        ("2026-01-01 07:30:39+00", 1_767_252_639 * NS),
        ("2026-07-29", 1_785_283_200 * NS),
        ("2026-07-29T02:00:00+02:00", 1_785_283_200 * NS),
    ],
)
def test_every_time_format_the_api_uses_parses_exactly(text, expected):
    assert parse_time_ns(text) == expected


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"id": ""}, "id", "missing"),
        ({"question": ""}, "question", "missing"),
        ({"outcomePrices": "[0.5"}, "outcomePrices", "not a JSON array"),
        ({"outcomePrices": '["abc", "0.5"]'}, "outcomePrices", "not decimals"),
        ({"liquidityNum": "lots"}, "liquidityNum", "not a number"),
        ({"endDate": "next tuesday"}, "endDate", "not a time"),
    ],
)
def test_malformed_records_name_the_field(change, field, problem):
    market = {**gamma_markets()[1], **change}
    with pytest.raises(SourceFormatError) as error:
        market_to_event(market, T0_NS)
    assert error.value.field == field
    assert problem in error.value.problem
