"""The anomaly rule and the per-market robust statistics of probability changes behind it."""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omen.domain.analysis import EventContext, GeoFindings, MarketHistory, TextAnalysis
from omen.domain.anomaly import (
    AnomalyParams,
    AnomalyRule,
    ChangeStatistics,
    RollingRobustStatistics,
    market_key,
)
from omen.domain.events import Movement, RawEvent
from omen.domain.signals import RuleStatus
from tests.rulesets import section

T0_NS = 1_795_000_000 * 1_000_000_000
KEY = "polymarket:m-1"
PARAMS = AnomalyParams.from_dict(section("anomaly"))
RULE = AnomalyRule(PARAMS)
PASSED, WARNING, FAILED = RuleStatus.PASSED, RuleStatus.WARNING, RuleStatus.FAILED
# Calm, symmetric changes: median 0, MAD 0.015 (above the 0.01 floor).
CALM = (0.01, -0.01, 0.02, -0.02, 0.01, -0.01, 0.03, -0.03)


def event(**overrides: Any) -> RawEvent:
    fields: dict[str, Any] = dict(
        event_id="pm-1",
        source="polymarket",
        market_id="m-1",
        title="Will Houthi attacks halt Red Sea container shipping in December?",
        probability=0.5,
        observed_at_ns=T0_NS,
        liquidity_usd=250_000.0,
        volume_usd=1_200_000.0,
        num_traders=420,
    )
    fields.update(overrides)
    return RawEvent(**fields)


def context(ev: RawEvent, history: MarketHistory | None = None) -> EventContext:
    return EventContext(ev, TextAnalysis((), ()), GeoFindings(), history or MarketHistory(KEY))


def history(
    change: float | None = None,
    zscore: float | None = None,
    last: float | None = None,
    points: int = 12,
) -> MarketHistory:
    return MarketHistory(KEY, points, last, change, zscore)


def fed(probabilities: list[float], key: str = KEY, **kwargs: Any) -> RollingRobustStatistics:
    stats = RollingRobustStatistics(**kwargs)
    for p in probabilities:
        stats.record(key, p)
    return stats


def walk(changes: tuple[float, ...], start: float = 0.5) -> list[float]:
    """Probabilities whose successive differences are `changes`."""
    out = [start]
    for c in changes:
        out.append(out[-1] + c)
    return out


# --- the rule: each component alone, at and around its threshold, and in combination ---

# fmt: off
RULE_CASES = [
    # (id, event overrides, history, status, score, reason)
    ("a calm event passes", {}, None, PASSED, 1.0, "no anomaly"),
    ("probability at the low bound is not extreme", {"probability": 0.05}, None, PASSED, 1.0, "no anomaly"),
    ("probability just under the low bound warns", {"probability": 0.0499}, None, WARNING, 0.7,
     "possible anomaly: extreme probability 0.0499 < 0.05 (risk 0.30)"),
    ("probability zero warns", {"probability": 0.0}, None, WARNING, 0.7,
     "possible anomaly: extreme probability 0 < 0.05 (risk 0.30)"),
    ("probability at the high bound is not extreme", {"probability": 0.95}, None, PASSED, 1.0, "no anomaly"),
    ("probability just over the high bound warns", {"probability": 0.951}, None, WARNING, 0.7,
     "possible anomaly: extreme probability 0.951 > 0.95 (risk 0.30)"),
    ("a movement of exactly the jump delta is no jump",
     {"probability": 0.5, "movement": Movement(0.0, 0.5, 24)}, None, PASSED, 1.0, "no anomaly"),
    ("a movement just over the jump delta fails",
     {"probability": 0.51, "movement": Movement(0.0, 0.51, 24)}, None, FAILED, 0.4,
     "suspected manipulation: jump |delta| 0.51 > 0.50 (risk 0.60)"),
    ("a downward jump counts like an upward one",
     {"probability": 0.2, "movement": Movement(0.82, -0.62, 24)}, None, FAILED, 0.4,
     "suspected manipulation: jump |delta| 0.62 > 0.50 (risk 0.60)"),
    ("a jump since the last recorded probability fails",
     {"probability": 0.82}, history(change=0.82 - 0.2, last=0.2), FAILED, 0.4,
     "suspected manipulation: jump |change| 0.62 > 0.50 since the last recorded probability 0.2 (risk 0.60)"),
    ("a change of exactly the jump delta is no jump despite float rounding",
     {"probability": 0.8}, history(change=0.8 - 0.3, last=0.3), PASSED, 1.0, "no anomaly"),
    ("a jump seen in both movement and history counts once",
     {"probability": 0.82, "movement": Movement(0.2, 0.62, 24)}, history(change=0.82 - 0.25, last=0.25),
     FAILED, 0.4,
     "suspected manipulation: jump |delta| 0.62 > 0.50, |change| 0.57 > 0.50 since the last recorded probability 0.25 (risk 0.60)"),
    ("a thin market with high volume fails", {"num_traders": 4, "volume_usd": 250_000.0}, None, FAILED, 0.5,
     "suspected manipulation: thin market: 4 traders (< 10) with $250,000 volume (>= $100,000) (risk 0.50)"),
    ("ten traders are not a thin market", {"num_traders": 10, "volume_usd": 250_000.0}, None, PASSED, 1.0, "no anomaly"),
    ("nine traders at exactly the volume bound are a thin market", {"num_traders": 9, "volume_usd": 100_000.0},
     None, FAILED, 0.5,
     "suspected manipulation: thin market: 9 traders (< 10) with $100,000 volume (>= $100,000) (risk 0.50)"),
    ("few traders with low volume are not suspicious", {"num_traders": 9, "volume_usd": 99_999.0}, None, PASSED, 1.0,
     "no anomaly"),
    ("an unknown trader count is no evidence of a thin market", {"num_traders": 0, "volume_usd": 5_000_000.0},
     None, PASSED, 1.0, "no anomaly"),
    ("no z-score without enough history passes", {}, history(change=0.3, last=0.2, points=3), PASSED, 1.0, "no anomaly"),
    ("a z-score just under the warning threshold passes", {}, history(change=0.05, zscore=3.49), PASSED, 1.0, "no anomaly"),
    ("a z-score at the warning threshold warns", {}, history(change=0.05, zscore=3.5), WARNING, 0.8,
     "possible anomaly: change z-score +3.50 (|z| >= 3.5) over 12 changes (risk 0.20)"),
    ("a negative z-score halfway to the reject threshold warns more", {}, history(change=-0.05, zscore=-4.75),
     WARNING, 0.6, "possible anomaly: change z-score -4.75 (|z| >= 3.5) over 12 changes (risk 0.40)"),
    ("a z-score of 5.375 reaches the reject risk", {}, history(change=0.05, zscore=5.375), FAILED, 0.5,
     "suspected manipulation: change z-score +5.38 (|z| >= 3.5) over 12 changes (risk 0.50)"),
    ("a z-score at the reject threshold fails", {}, history(change=0.05, zscore=6.0), FAILED, 0.4,
     "suspected manipulation: change z-score +6.00 (|z| >= 3.5) over 12 changes (risk 0.60)"),
    ("a huge z-score adds no more than the reject threshold", {}, history(change=0.05, zscore=60.0), FAILED, 0.4,
     "suspected manipulation: change z-score +60.00 (|z| >= 3.5) over 12 changes (risk 0.60)"),
    ("an extreme probability and a warning z-score add up to a rejection",
     {"probability": 0.97}, history(change=0.04, zscore=3.5), FAILED, 0.5,
     "suspected manipulation: extreme probability 0.97 > 0.95; change z-score +3.50 (|z| >= 3.5) over 12 changes (risk 0.50)"),
    ("an extreme probability in a thin market adds up",
     {"probability": 0.03, "num_traders": 4, "volume_usd": 250_000.0}, None, FAILED, 0.2,
     "suspected manipulation: extreme probability 0.03 < 0.05; thin market: 4 traders (< 10) with $250,000 volume (>= $100,000) (risk 0.80)"),
    ("an extreme probability reached by a jump adds up",
     {"probability": 0.97, "movement": Movement(0.3, 0.67, 24)}, None, FAILED, 0.1,
     "suspected manipulation: extreme probability 0.97 > 0.95; jump |delta| 0.67 > 0.50 (risk 0.90)"),
    ("every component at once is capped at risk 1",
     {"probability": 0.97, "movement": Movement(0.3, 0.67, 24), "num_traders": 4, "volume_usd": 250_000.0},
     history(change=0.67, zscore=9.0, last=0.3), FAILED, 0.0,
     "suspected manipulation: extreme probability 0.97 > 0.95; jump |delta| 0.67 > 0.50, |change| 0.67 > 0.50 "
     "since the last recorded probability 0.3; thin market: 4 traders (< 10) with $250,000 volume (>= $100,000); "
     "change z-score +9.00 (|z| >= 3.5) over 12 changes (risk 1.00)"),
]
# fmt: on


@pytest.mark.parametrize(
    ("overrides", "hist", "status", "score", "reason"),
    [case[1:] for case in RULE_CASES],
    ids=[case[0] for case in RULE_CASES],
)
def test_each_finding_adds_its_documented_risk(overrides, hist, status, score, reason):
    result = RULE.evaluate(context(event(**overrides), hist))
    assert (result.rule_name, result.rule_version) == ("anomaly", "1.0.0")
    assert (result.status, result.score, result.reason) == (status, score, reason)


def test_a_finding_whose_risk_is_configured_to_zero_is_reported_but_passes():
    rule = AnomalyRule(AnomalyParams.from_dict({"extreme_risk": 0}))
    result = rule.evaluate(context(event(probability=0.99)))
    assert result.status is PASSED
    assert result.score == 1.0
    assert result.reason == "no anomaly risk: extreme probability 0.99 > 0.95 (risk 0.00)"


# --- the statistics ---


def test_the_pure_python_statistics_implement_the_port():
    stats: ChangeStatistics = RollingRobustStatistics()
    assert len(stats) == 0


def test_an_unseen_market_has_no_history():
    assert RollingRobustStatistics().observe(KEY, 0.4) == MarketHistory(KEY)


def test_a_markets_first_probability_records_no_change():
    stats = fed([0.5])
    assert stats.observe(KEY, 0.6) == MarketHistory(KEY, 0, 0.5, pytest.approx(0.1), None)
    assert stats.export_state() == {KEY: (0.5, ())}


def test_observe_does_not_record():
    stats = fed(walk(CALM))
    before = stats.export_state()
    stats.observe(KEY, 0.9)
    stats.observe("polymarket:other", 0.9)
    assert stats.export_state() == before
    assert len(stats) == 1


@pytest.mark.parametrize(("changes", "has_z"), [(0, False), (7, False), (8, True), (20, True)])
def test_the_z_score_appears_only_once_min_points_changes_exist(changes, has_z):
    stats = fed(walk(tuple(0.01 * (-1) ** i for i in range(changes))), min_points=8)
    observed = stats.observe(KEY, 0.55)
    assert observed.points == changes
    assert (observed.zscore is not None) is has_z


def test_the_z_score_is_the_change_against_median_over_scaled_mad():
    stats = fed(walk(CALM))  # ends at 0.5
    observed = stats.observe(KEY, 0.6)
    # median of CALM is 0, MAD 0.015: z = 0.1 / (1.4826 * 0.015)
    assert observed.zscore == pytest.approx(0.1 / (1.4826 * 0.015), rel=1e-9)
    assert observed.points == 8


def test_a_flat_history_uses_the_mad_floor_instead_of_an_infinite_z_score():
    stats = fed([0.5] * 9, mad_floor=0.01)
    assert stats.observe(KEY, 0.5).zscore == 0.0
    assert stats.observe(KEY, 0.51).zscore == pytest.approx(0.01 / (1.4826 * 0.01))
    assert stats.observe(KEY, 0.6).zscore == pytest.approx(0.1 / (1.4826 * 0.01))


def test_a_normal_drift_passes_and_a_spike_is_rejected():
    drift = (0.01, -0.02, 0.01, 0.02, -0.01, 0.0, 0.01, -0.01, 0.02, -0.02, 0.01, 0.01)
    stats = fed(walk(drift))
    last = walk(drift)[-1]
    normal = stats.observe(KEY, last + 0.02)
    assert abs(normal.zscore) < 3.5
    assert RULE.evaluate(context(event(probability=last + 0.02), normal)).status is PASSED
    spike = stats.observe(KEY, last + 0.15)
    assert spike.zscore >= 6.0
    result = RULE.evaluate(context(event(probability=last + 0.15), spike))
    assert result.status is FAILED
    assert result.reason.startswith("suspected manipulation: change z-score +")


def test_only_the_last_window_changes_are_kept():
    changes = tuple(0.001 * i for i in range(30))
    stats = fed(walk(changes, start=0.1), window=16, min_points=4)
    last, kept = stats.export_state()[KEY]
    assert last == pytest.approx(walk(changes, start=0.1)[-1])
    assert len(kept) == 16
    assert kept == pytest.approx(changes[-16:])
    assert stats.observe(KEY, 0.5).points == 16


def test_a_spike_older_than_the_window_no_longer_counts():
    window = 8
    calm = walk(CALM)
    spiked = fed([0.1, 0.9, *calm], window=window, min_points=4)  # 0.9 - 0.1 spike, then calm
    clean = fed([0.9, *calm], window=window, min_points=4)
    # After `window` calm changes, both markets remember the same changes.
    assert spiked.export_state() == clean.export_state()
    assert spiked.observe(KEY, 0.6) == clean.observe(KEY, 0.6)


def test_markets_do_not_share_state():
    stats = fed(walk(CALM), key="polymarket:a")
    for p in (0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1):
        stats.record("polymarket:b", p)
    alone = fed(walk(CALM), key="polymarket:a")
    assert stats.observe("polymarket:a", 0.6) == alone.observe("polymarket:a", 0.6)
    assert len(stats) == 2


def test_two_instances_do_not_share_state():
    first, second = RollingRobustStatistics(), RollingRobustStatistics()
    for p in walk(CALM):
        first.record(KEY, p)
    assert len(second) == 0
    assert second.observe(KEY, 0.6) == MarketHistory(KEY)
    assert second.export_state() == {}


SEQUENCE = [
    ("polymarket:a", 0.5), ("polymarket:b", 0.2), ("polymarket:a", 0.52), ("polymarket:a", 0.49),
    ("polymarket:b", 0.25), ("polymarket:a", 0.55), ("polymarket:c", 0.9), ("polymarket:a", 0.51),
    ("polymarket:a", 0.53), ("polymarket:b", 0.21), ("polymarket:a", 0.5), ("polymarket:a", 0.56),
    ("polymarket:a", 0.54), ("polymarket:b", 0.3), ("polymarket:a", 0.57), ("polymarket:a", 0.52),
]  # fmt: skip
PROBES = [
    (key, p)
    for key in ("polymarket:a", "polymarket:b", "polymarket:c", "polymarket:z")
    for p in (0.0, 0.5, 0.93)
]


def replay(sequence: list[tuple[str, float]], **kwargs: Any) -> RollingRobustStatistics:
    stats = RollingRobustStatistics(**kwargs)
    for key, p in sequence:
        stats.record(key, p)
    return stats


def test_replaying_the_same_records_rebuilds_identical_state():
    first, second = replay(SEQUENCE, min_points=4), replay(SEQUENCE, min_points=4)
    assert first.export_state() == second.export_state()
    assert [first.observe(k, p) for k, p in PROBES] == [second.observe(k, p) for k, p in PROBES]
    assert first.observe("polymarket:a", 0.93).zscore is not None


def test_export_lists_markets_in_sorted_order():
    assert list(replay(SEQUENCE).export_state()) == ["polymarket:a", "polymarket:b", "polymarket:c"]


def test_an_exported_state_imports_into_a_fresh_instance_unchanged():
    original = replay(SEQUENCE, min_points=4)
    restored = RollingRobustStatistics(min_points=4)
    restored.import_state(original.export_state())
    assert restored.export_state() == original.export_state()
    assert [restored.observe(k, p) for k, p in PROBES] == [
        original.observe(k, p) for k, p in PROBES
    ]
    # and both go on identically
    for stats in (original, restored):
        stats.record("polymarket:a", 0.6)
    assert restored.export_state() == original.export_state()


def test_import_replaces_all_earlier_state():
    stats = replay(SEQUENCE)
    stats.import_state({"polymarket:q": (0.4, (0.01, -0.01))})
    assert stats.export_state() == {"polymarket:q": (0.4, (0.01, -0.01))}
    assert len(stats) == 1


def test_import_keeps_only_the_newest_window_changes():
    stats = RollingRobustStatistics(window=4, min_points=2)
    stats.import_state({KEY: (0.5, (0.1, 0.2, 0.3, 0.01, 0.02, 0.03, 0.04))})
    assert stats.export_state() == {KEY: (0.5, (0.01, 0.02, 0.03, 0.04))}


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            {KEY: (1.5, ())},
            "market 'polymarket:m-1': last probability must be a finite number within [0, 1], got 1.5",
        ),
        (
            {KEY: (0.5, (0.1, math.nan))},
            "market 'polymarket:m-1': change must be a finite number within [-1, 1], got nan",
        ),
        (
            {KEY: (0.5, (2.0,))},
            "market 'polymarket:m-1': change must be a finite number within [-1, 1], got 2.0",
        ),
    ],
)
def test_import_refuses_impossible_values_and_keeps_the_old_state(state, message):
    stats = replay(SEQUENCE)
    before = stats.export_state()
    with pytest.raises(ValueError) as err:
        stats.import_state(state)
    assert str(err.value) == message
    assert stats.export_state() == before


@pytest.mark.parametrize("probability", [-0.01, 1.01, math.nan, math.inf])
def test_probabilities_outside_zero_to_one_are_refused(probability):
    stats = fed(walk(CALM))
    with pytest.raises(ValueError, match="probability must be a finite number within"):
        stats.record(KEY, probability)
    with pytest.raises(ValueError, match="probability must be a finite number within"):
        stats.observe(KEY, probability)
    assert stats.export_state() == fed(walk(CALM)).export_state()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 1}, "window must be >= 2, got 1"),
        ({"window": 8, "min_points": 9}, "min_points must be within [1, 8], got 9"),
        ({"min_points": 0}, "min_points must be within [1, 64], got 0"),
        ({"mad_floor": 0.0}, "mad_floor must be a finite number > 0, got 0.0"),
    ],
)
def test_impossible_statistics_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError) as err:
        RollingRobustStatistics(**kwargs)
    assert str(err.value) == message


def test_statistics_take_their_settings_from_the_parameters():
    params = AnomalyParams(window=4, min_points=2)
    stats = RollingRobustStatistics.from_params(params)
    for p in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        stats.record(KEY, p)
    assert len(stats.export_state()[KEY][1]) == 4


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({}, "polymarket:m-1"),
        ({"market_id": ""}, "polymarket:pm-1"),
        ({"source": "stub", "market_id": "m-1"}, "stub:m-1"),
    ],
)
def test_a_market_is_keyed_by_source_and_market_id_or_else_event_id(overrides, key):
    assert market_key(event(**overrides)) == key


# --- parameters ---


def test_the_ruleset_section_holds_every_parameter_at_its_default():
    assert set(section("anomaly")) == {f.name for f in dataclasses.fields(AnomalyParams)}
    assert AnomalyParams.from_dict(section("anomaly")) == AnomalyParams()


def test_missing_parameters_keep_their_defaults_and_integers_are_numbers():
    params = AnomalyParams.from_dict({"thin_min_volume_usd": 50_000, "window": 32})
    assert params == dataclasses.replace(AnomalyParams(), thin_min_volume_usd=50_000.0, window=32)
    assert isinstance(params.thin_min_volume_usd, float)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"window": 1}, "anomaly.window: must be an integer >= 2"),
        ({"window": 8.0}, "anomaly.window: must be an integer, got 8.0"),
        ({"min_points": 65}, "anomaly.min_points: must be an integer within [1, window (64)]"),
        ({"extreme_low": 0.96}, "anomaly.extreme_high: must be greater than extreme_low (0.96)"),
        ({"extreme_high": 1.2}, "anomaly.extreme_high: must be within [0, 1]"),
        ({"jump_delta": True}, "anomaly.jump_delta: must be a number, got True"),
        ({"jump_delta": "0.5"}, "anomaly.jump_delta: must be a number, got '0.5'"),
        ({"mad_floor": math.nan}, "anomaly.mad_floor: must be a finite number, got nan"),
        ({"mad_floor": 0}, "anomaly.mad_floor: must be > 0"),
        ({"z_reject": 3.0}, "anomaly.z_reject: must be greater than z_warn (3.5)"),
        ({"z_risk_min": 0.7}, "anomaly.z_risk_max: must be >= z_risk_min (0.7)"),
        ({"thin_risk": 1.5}, "anomaly.thin_risk: must be within [0, 1]"),
        ({"reject_risk": 0}, "anomaly.reject_risk: must be within (0, 1]"),
        ({"thin_traders_below": -1}, "anomaly.thin_traders_below: must be >= 0"),
        ({"z_threshold": 3}, "anomaly.z_threshold: unknown parameter"),
    ],
)
def test_invalid_parameters_are_named_by_their_key_path(data, message):
    with pytest.raises(ValueError) as err:
        AnomalyParams.from_dict(data)
    assert str(err.value) == message


# --- properties ---

probabilities = st.floats(0.0, 1.0)
finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(st.tuples(st.integers(0, 2), probabilities), max_size=80),
    probe=probabilities,
    delta=finite,
    traders=st.integers(0, 1_000),
    volume=st.floats(0.0, 1e12),
)
def test_observe_never_raises_and_risk_and_score_stay_within_zero_and_one(
    records, probe, delta, traders, volume
):
    stats = RollingRobustStatistics(window=16, min_points=3)
    for market, p in records:
        stats.record(f"m{market}", p)
    for market in range(4):
        observed = stats.observe(f"m{market}", probe)
        assert observed.zscore is None or math.isfinite(observed.zscore)
        assert 0 <= observed.points <= 16
        ev = event(
            probability=probe,
            movement=Movement(0.5, delta, 1),
            num_traders=traders,
            volume_usd=volume,
        )
        result = RULE.evaluate(context(ev, observed))
        assert 0.0 <= result.score <= 1.0
        if result.status is FAILED:
            assert result.score <= 1.0 - PARAMS.reject_risk + 1e-9
        else:
            assert result.score >= 1.0 - PARAMS.reject_risk - 1e-9


@settings(max_examples=200, deadline=None)
@given(
    change=st.one_of(st.none(), finite),
    zscore=st.one_of(st.none(), finite),
    probability=probabilities,
)
def test_any_finite_history_gives_a_score_within_zero_and_one(change, zscore, probability):
    result = RULE.evaluate(context(event(probability=probability), history(change, zscore)))
    assert 0.0 <= result.score <= 1.0
    assert result.status in (PASSED, WARNING, FAILED)


@settings(max_examples=300, deadline=None)
@given(
    probabilities=st.lists(
        st.one_of(probabilities, st.sampled_from([0.5, 0.51, 0.49, 0.52])), min_size=2, max_size=30
    ),
    window=st.integers(2, 9),
    probe=probabilities,
)
def test_the_z_score_matches_a_naive_median_and_mad(probabilities, window, probe):
    stats = fed(probabilities, window=window, min_points=1)
    changes = [b - a for a, b in itertools.pairwise(probabilities)][-window:]
    center = statistics.median(changes)
    mad = statistics.median([abs(c - center) for c in changes])
    expected = (probe - probabilities[-1] - center) / max(1.4826 * mad, 1.4826 * 0.01)
    assert stats.observe(KEY, probe).zscore == expected


def test_a_negative_zero_is_stored_as_zero_so_replay_and_import_agree():
    stats = fed([0.0, -0.0, 0.0, -0.0], min_points=2)
    assert all(math.copysign(1.0, c) == 1.0 for c in stats.export_state()[KEY][1])
    assert math.copysign(1.0, stats.export_state()[KEY][0]) == 1.0
    restored = RollingRobustStatistics(min_points=2)
    restored.import_state({KEY: (-0.0, (-0.0, 0.0, -0.0))})
    assert restored.export_state() == {KEY: (0.0, (0.0, 0.0, 0.0))}
    assert math.copysign(1.0, restored.export_state()[KEY][1][0]) == 1.0
