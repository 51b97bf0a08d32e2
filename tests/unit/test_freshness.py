"""The freshness rule: market state, resolution date and outcome prices, with concrete reasons."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omen.domain.analysis import EventContext, GeoFindings, MarketHistory, TextAnalysis
from omen.domain.events import MarketState, RawEvent
from omen.domain.freshness import FreshnessParams, FreshnessRule, format_duration, format_time
from omen.domain.signals import RuleStatus
from tests.rulesets import section

NS = 1_000_000_000
HOUR = 3_600 * NS
DAY = 24 * HOUR
T0_NS = 1_795_000_000 * NS  # 2026-11-18T11:06:40Z
PARAMS = FreshnessParams.from_dict(section("freshness"))
RULE = FreshnessRule(PARAMS)
PASSED, WARNING, FAILED = RuleStatus.PASSED, RuleStatus.WARNING, RuleStatus.FAILED


def event(**overrides: Any) -> RawEvent:
    fields: dict[str, Any] = dict(
        event_id="pm-1",
        source="polymarket",
        market_id="m-1",
        title="Will the Suez Canal close to container traffic before July?",
        probability=0.62,
        observed_at_ns=T0_NS,
        market_state=MarketState.OPEN,
        resolution_date_ns=T0_NS + 30 * DAY,
        outcome_prices=(0.62, 0.38),
    )
    fields.update(overrides)
    return RawEvent(**fields)


def evaluate(ev: RawEvent, rule: FreshnessRule = RULE):
    return rule.evaluate(EventContext(ev, TextAnalysis((), ()), GeoFindings(), MarketHistory("k")))


# fmt: off
CASES = [
    # (id, event overrides, status, score, reason)
    ("a live market with a future resolution and consistent prices passes", {}, PASSED, 1.0,
     "market live; resolves in 30.0 days; outcome prices sum to 1"),
    ("an unspecified market state is treated as open", {"market_state": MarketState.UNSPECIFIED}, PASSED, 1.0,
     "market live; resolves in 30.0 days; outcome prices sum to 1"),
    ("a resolved market fails", {"market_state": MarketState.RESOLVED, "outcome_prices": (1.0, 0.0)}, FAILED, 0.0,
     "market resolved"),
    ("a closed market fails", {"market_state": MarketState.CLOSED}, FAILED, 0.0, "market closed"),
    ("a resolution date in the past fails", {"resolution_date_ns": T0_NS - int(3.2 * DAY)}, FAILED, 0.0,
     "resolution date 2026-11-15T06:18:40Z is 3.2 days before observation"),
    ("a resolution date one second in the past fails", {"resolution_date_ns": T0_NS - NS}, FAILED, 0.0,
     "resolution date 2026-11-18T11:06:39Z is 1.0 seconds before observation"),
    ("a resolution at the observation instant warns", {"resolution_date_ns": T0_NS}, WARNING, 0.7,
     "market resolves 2026-11-18T11:06:40Z, 0.0 seconds after observation (< 24 hours)"),
    ("a resolution within a day warns", {"resolution_date_ns": T0_NS + 5 * HOUR}, WARNING, 0.7,
     "market resolves 2026-11-18T16:06:40Z, 5.0 hours after observation (< 24 hours)"),
    ("a resolution exactly a day away passes", {"resolution_date_ns": T0_NS + DAY}, PASSED, 1.0,
     "market live; resolves in 1.0 days; outcome prices sum to 1"),
    ("a market without a resolution date passes", {"resolution_date_ns": None}, PASSED, 1.0,
     "market live; no resolution date; outcome prices sum to 1"),
    ("outcome prices far from 1 fail", {"outcome_prices": (0.62, 0.5)}, FAILED, 0.0,
     "outcome prices sum to 1.12, not 1 ± 0.05"),
    ("outcome prices far below 1 fail", {"outcome_prices": (0.5, 0.44)}, FAILED, 0.0,
     "outcome prices sum to 0.94, not 1 ± 0.05"),
    ("outcome prices at the reject tolerance only warn", {"outcome_prices": (0.52, 0.53)}, WARNING, 0.7,
     "outcome prices sum to 1.05, not 1 ± 0.02"),
    ("outcome prices between the tolerances warn", {"outcome_prices": (0.62, 0.41)}, WARNING, 0.7,
     "outcome prices sum to 1.03, not 1 ± 0.02"),
    ("outcome prices at the warning tolerance pass", {"outcome_prices": (0.51, 0.51)}, PASSED, 1.0,
     "market live; resolves in 30.0 days; outcome prices sum to 1.02"),
    ("a single outcome price is not checked", {"outcome_prices": (0.62,)}, PASSED, 1.0,
     "market live; resolves in 30.0 days"),
    ("no outcome prices are not checked", {"outcome_prices": ()}, PASSED, 1.0, "market live; resolves in 30.0 days"),
    ("three outcomes summing to 1 pass", {"outcome_prices": (0.2, 0.3, 0.5)}, PASSED, 1.0,
     "market live; resolves in 30.0 days; outcome prices sum to 1"),
    ("every failure is listed",
     {"market_state": MarketState.RESOLVED, "resolution_date_ns": T0_NS - 2 * HOUR, "outcome_prices": (1.0, 1.0)},
     FAILED, 0.0,
     "market resolved; resolution date 2026-11-18T09:06:40Z is 2.0 hours before observation; "
     "outcome prices sum to 2, not 1 ± 0.05"),
    ("a failure outweighs a warning", {"market_state": MarketState.CLOSED, "outcome_prices": (0.62, 0.41)},
     FAILED, 0.0, "market closed"),
    ("every warning is listed", {"resolution_date_ns": T0_NS + 90 * 60 * NS, "outcome_prices": (0.62, 0.41)},
     WARNING, 0.7,
     "market resolves 2026-11-18T12:36:40Z, 1.5 hours after observation (< 24 hours); "
     "outcome prices sum to 1.03, not 1 ± 0.02"),
]
# fmt: on


@pytest.mark.parametrize(
    ("overrides", "status", "score", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_check_gives_a_concrete_verdict(overrides, status, score, reason):
    result = evaluate(event(**overrides))
    assert (result.rule_name, result.rule_version) == ("freshness", "1.0.0")
    assert (result.status, result.score, result.reason) == (status, score, reason)


def test_the_warning_score_and_horizon_come_from_the_parameters():
    rule = FreshnessRule(FreshnessParams(resolves_soon_hours=0.0, warning_score=0.4))
    assert evaluate(event(resolution_date_ns=T0_NS + HOUR), rule).status is PASSED
    result = evaluate(event(outcome_prices=(0.62, 0.41)), rule)
    assert (result.status, result.score) == (WARNING, 0.4)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (T0_NS + 999_999_999, "2026-11-18T11:06:40Z"),
        (-1, "1969-12-31T23:59:59Z"),
        (10**30, "1000000000000000000000000000000 ns since the Unix epoch"),
    ],
)
def test_times_are_written_as_iso_utc_to_the_second(ns, text):
    assert format_time(ns) == text


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0.0 seconds"),
        (59 * NS, "59.0 seconds"),
        (90 * NS, "1.5 minutes"),
        (HOUR, "1.0 hours"),
        (36 * HOUR, "1.5 days"),
    ],
)
def test_durations_use_the_largest_unit_that_keeps_them_at_least_one(ns, text):
    assert format_duration(ns) == text


# --- parameters ---


def test_the_ruleset_section_holds_every_parameter_at_its_default():
    assert set(section("freshness")) == {f.name for f in dataclasses.fields(FreshnessParams)}
    assert FreshnessParams.from_dict(section("freshness")) == FreshnessParams()


def test_missing_parameters_keep_their_defaults():
    params = FreshnessParams.from_dict({"resolves_soon_hours": 6})
    assert params == dataclasses.replace(FreshnessParams(), resolves_soon_hours=6.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"price_sum_warn_tolerance": 0.1},
         "freshness.price_sum_warn_tolerance: must be within [0, price_sum_reject_tolerance (0.05)]"),
        ({"price_sum_reject_tolerance": -0.1}, "freshness.price_sum_reject_tolerance: must be within [0, 1]"),
        ({"resolves_soon_hours": -1}, "freshness.resolves_soon_hours: must be >= 0"),
        ({"warning_score": 1.5}, "freshness.warning_score: must be within [0, 1]"),
        ({"warning_score": False}, "freshness.warning_score: must be a number, got False"),
        ({"warning_score": math.inf}, "freshness.warning_score: must be a finite number, got inf"),
        ({"max_age_days": 3}, "freshness.max_age_days: unknown parameter"),
    ],
)  # fmt: skip
def test_invalid_parameters_are_named_by_their_key_path(data, message):
    with pytest.raises(ValueError) as err:
        FreshnessParams.from_dict(data)
    assert str(err.value) == message


# --- properties ---


@settings(max_examples=200, deadline=None)
@given(
    state=st.sampled_from(MarketState),
    observed=st.integers(-(2**63), 2**63 - 1),
    resolution=st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    prices=st.lists(st.floats(0.0, 1.0), max_size=8),
)
def test_any_event_gets_a_verdict_with_a_score_within_zero_and_one(
    state, observed, resolution, prices
):
    result = evaluate(
        event(
            market_state=state,
            observed_at_ns=observed,
            resolution_date_ns=resolution,
            outcome_prices=tuple(prices),
        )
    )
    assert 0.0 <= result.score <= 1.0
    assert result.reason
    assert result.status is FAILED or state not in (MarketState.CLOSED, MarketState.RESOLVED)
    if resolution is not None and resolution < observed:
        assert result.status is FAILED
