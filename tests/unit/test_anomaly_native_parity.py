"""The compiled omen._native.anomaly and its twin anomaly_py give RollingRobustStatistics' results.

Every test taking `impl` runs against both modules. When the compiled module cannot be imported
its tests are skipped, unless OMEN_REQUIRE_NATIVE=1 is set (as in CI): then they fail, so a broken
build can never pass by testing the twin against itself.

The reference is omen.domain.anomaly.RollingRobustStatistics: per-market results must equal its
MarketHistory field for field and bit for bit, and its export_state() structure must move freely
between implementations. The batch scorers must give the z-scores observe() gives before each
record() of the same changes.
"""

from __future__ import annotations

import copy
import itertools
import math
import pickle
import struct
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omen.domain.analysis import MarketHistory
from omen.domain.anomaly import AnomalyParams, ChangeStatistics, RollingRobustStatistics
from tests.native_impls import parity_fixtures

NATIVE = "omen._native.anomaly"
TWIN = "omen._native.anomaly_py"

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)

KEY = "polymarket:m-1"
KEYS = ("polymarket:a", "polymarket:b", "polymarket:c")
# Calm, symmetric changes: median 0, MAD 0.015 (above the 0.01 floor).
CALM = (0.01, -0.01, 0.02, -0.02, 0.01, -0.01, 0.03, -0.03)


# Each implementation in turn (`impl`), or one of them; a missing compiled module fails under
# OMEN_REQUIRE_NATIVE=1 and skips with the reason otherwise.
impl, native, twin = parity_fixtures(NATIVE, TWIN)


# --- Helpers --------------------------------------------------------------------------------


def _bits(value: float | None) -> bytes | None:
    """A float's exact bits (so 0.0 and -0.0 differ), or None."""
    return None if value is None else struct.pack("<d", value)


def exact(history: MarketHistory) -> tuple[Any, ...]:
    """Every MarketHistory field, floats as their bits."""
    return (
        history.market_key,
        type(history.points),
        history.points,
        _bits(history.last_probability),
        _bits(history.change),
        _bits(history.zscore),
    )


def exact_state(state: dict[str, tuple[float | None, tuple[float, ...]]]) -> list[Any]:
    """export_state() with every float as its bits, in order: a sorted dict of tuples."""
    assert type(state) is dict
    out = []
    for key, (last, changes) in state.items():
        assert type(changes) is tuple
        out.append((key, _bits(last), [_bits(c) for c in changes]))
    return out


def same_scores(actual: Any, expected: Any) -> None:
    """Same float64 shape, NaN in the same places, and the same bits everywhere else."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype == np.float64
    assert actual.shape == expected.shape
    nan = np.isnan(expected)
    assert np.array_equal(np.isnan(actual), nan)
    assert actual[~nan].tobytes() == expected[~nan].tobytes()


def walk(changes: Sequence[float], start: float = 0.5) -> list[float]:
    """Probabilities whose successive differences are `changes`."""
    out = [start]
    for c in changes:
        out.append(out[-1] + c)
    return out


def reference_scores(
    probabilities: Sequence[float], window: int, min_points: int, mad_floor: float
) -> tuple[list[float], list[float]]:
    """(recorded changes, z-score observe() gives for each) from RollingRobustStatistics."""
    stats = RollingRobustStatistics(window, min_points, mad_floor)
    scores = []
    for i, p in enumerate(probabilities):
        if i:  # the first probability has no change to score
            z = stats.observe(KEY, p).zscore
            scores.append(math.nan if z is None else z)
        stats.record(KEY, p)
    recorded = [b - a for a, b in itertools.pairwise(p + 0.0 for p in probabilities)]
    return recorded, scores


# --- Strategies -----------------------------------------------------------------------------

# Repeated values give ties and zero changes, the cases where median and MAD are easy to get
# wrong; the full range covers the rest.
probabilities = st.one_of(
    st.floats(0.0, 1.0), st.sampled_from([0.0, 0.49, 0.5, 0.51, 0.52, 0.6, 1.0])
)
changes_in_range = st.one_of(
    st.floats(-1.0, 1.0), st.sampled_from([-0.02, -0.01, -0.0, 0.0, 0.01, 0.02])
)


@st.composite
def statistics_settings(draw: st.DrawFn) -> tuple[int, int, float]:
    """(window, min_points, mad_floor); windows above 8 make the native buffers grow."""
    window = draw(st.integers(2, 12))
    min_points = draw(st.integers(1, window))
    mad_floor = draw(st.sampled_from([1e-9, 0.001, 0.01, 0.05]))
    return window, min_points, mad_floor


operations = st.lists(
    st.tuples(st.sampled_from(["observe", "record"]), st.sampled_from(KEYS), probabilities),
    max_size=120,
)


def apply(
    reference: ChangeStatistics, stats: ChangeStatistics, ops: list[tuple[str, str, float]]
) -> None:
    """Run `ops` on both, asserting identical observations, lengths and exported states."""
    for op, key, p in ops:
        if op == "observe":
            assert exact(stats.observe(key, p)) == exact(reference.observe(key, p))
        else:
            reference.record(key, p)
            stats.record(key, p)
            assert len(stats) == len(reference)
    assert exact_state(stats.export_state()) == exact_state(reference.export_state())
    for key in (*KEYS, "polymarket:unseen"):
        for p in (0.0, 0.5, 0.93, 1.0):
            assert exact(stats.observe(key, p)) == exact(reference.observe(key, p))


# --- The per-market API ---------------------------------------------------------------------


def test_both_modules_implement_the_change_statistics_port(impl: ModuleType) -> None:
    stats: ChangeStatistics = impl.RollingStatistics()
    assert len(stats) == 0
    assert stats.observe(KEY, 0.4) == MarketHistory(KEY)
    assert stats.export_state() == {}


def test_the_defaults_are_those_of_the_reference(impl: ModuleType) -> None:
    stats, reference = impl.RollingStatistics(), RollingRobustStatistics()
    apply(reference, stats, [("record", KEY, p) for p in walk(CALM * 9)])


def test_settings_come_from_the_anomaly_parameters(impl: ModuleType) -> None:
    params = AnomalyParams(window=4, min_points=2, mad_floor=0.02)
    stats = impl.RollingStatistics.from_params(params)
    reference = RollingRobustStatistics.from_params(params)
    apply(reference, stats, [("record", KEY, p) for p in walk(CALM)])
    assert len(stats.export_state()[KEY][1]) == 4


@PROPERTY_SETTINGS
@given(config=statistics_settings(), ops=operations)
def test_random_observe_and_record_sequences_match_the_reference_bit_for_bit(
    impl: ModuleType, config: tuple[int, int, float], ops: list[tuple[str, str, float]]
) -> None:
    apply(RollingRobustStatistics(*config), impl.RollingStatistics(*config), ops)


def test_a_long_history_at_the_default_window_matches_the_reference(impl: ModuleType) -> None:
    # Past the window many times over, with ticks (ties) and a few spikes, in three markets.
    rng = np.random.default_rng(20261126)
    ops: list[tuple[str, str, float]] = []
    level = dict.fromkeys(KEYS, 0.5)
    for _ in range(1_500):
        key = KEYS[int(rng.integers(0, 3))]
        step = float(np.round(rng.normal(0.0, 0.01), 3)) if rng.random() > 0.02 else 0.3
        level[key] = min(1.0, max(0.0, level[key] + step))
        ops.append(("observe", key, level[key]))
        ops.append(("record", key, level[key]))
    apply(RollingRobustStatistics(), impl.RollingStatistics(), ops)


def test_a_markets_first_probability_records_no_change(impl: ModuleType) -> None:
    stats = impl.RollingStatistics()
    stats.record(KEY, 0.5)
    assert stats.export_state() == {KEY: (0.5, ())}
    assert exact(stats.observe(KEY, 0.6)) == exact(MarketHistory(KEY, 0, 0.5, 0.6 - 0.5, None))


def test_ints_and_numpy_floats_are_probabilities_too(impl: ModuleType) -> None:
    ops = [("record", KEY, p) for p in (1, np.float64(0.25), 0, 0.5, np.float64(1.0), 0.75)]
    ops += [("observe", KEY, p) for p in (0, 1, np.float64(0.3))]
    apply(RollingRobustStatistics(min_points=2), impl.RollingStatistics(min_points=2), ops)


def test_a_negative_zero_is_stored_as_zero(impl: ModuleType) -> None:
    stats = impl.RollingStatistics(min_points=2)
    for p in (0.0, -0.0, 0.0, -0.0):
        stats.record(KEY, p)
    last, changes = stats.export_state()[KEY]
    assert math.copysign(1.0, last) == 1.0
    assert all(math.copysign(1.0, c) == 1.0 for c in changes)
    stats.import_state({KEY: (-0.0, (-0.0, 0.0, -0.0))})
    assert exact_state(stats.export_state()) == exact_state({KEY: (0.0, (0.0, 0.0, 0.0))})


@pytest.mark.parametrize(
    "probability", [-0.01, 1.01, math.nan, math.inf, -math.inf, 10**400, np.float64(1.5)]
)
def test_probabilities_outside_zero_to_one_are_refused_as_by_the_reference(
    impl: ModuleType, probability: Any
) -> None:
    stats, reference = impl.RollingStatistics(), RollingRobustStatistics()
    for s in (stats, reference):
        for p in walk(CALM):
            s.record(KEY, p)
    before = stats.export_state()
    for method in ("record", "observe"):
        with pytest.raises(ValueError) as expected:
            getattr(reference, method)(KEY, probability)
        with pytest.raises(ValueError) as err:
            getattr(stats, method)(KEY, probability)
        assert str(err.value) == str(expected.value)
        assert str(err.value).startswith("probability must be a finite number within [0, 1]")
    assert stats.export_state() == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 1}, "window must be >= 2, got 1"),
        ({"window": -5}, "window must be >= 2, got -5"),
        ({"window": 8, "min_points": 9}, "min_points must be within [1, 8], got 9"),
        ({"min_points": 0}, "min_points must be within [1, 64], got 0"),
        ({"mad_floor": 0.0}, "mad_floor must be a finite number > 0, got 0.0"),
        ({"mad_floor": -1}, "mad_floor must be a finite number > 0, got -1"),
        ({"mad_floor": math.nan}, "mad_floor must be a finite number > 0, got nan"),
        ({"mad_floor": math.inf}, "mad_floor must be a finite number > 0, got inf"),
    ],
)
def test_impossible_settings_are_refused_everywhere_as_by_the_reference(
    impl: ModuleType, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as expected:
        RollingRobustStatistics(**kwargs)
    assert str(expected.value) == message
    with pytest.raises(ValueError) as err:
        impl.RollingStatistics(**kwargs)
    assert str(err.value) == message
    with pytest.raises(ValueError) as err:
        impl.score_batch([0.1, 0.2], **kwargs)
    assert str(err.value) == message
    with pytest.raises(ValueError) as err:
        impl.score_batch_grouped([0, 0], [0.1, 0.2], **kwargs)
    assert str(err.value) == message


def test_two_instances_do_not_share_state(impl: ModuleType) -> None:
    first, second = impl.RollingStatistics(), impl.RollingStatistics()
    for p in walk(CALM):
        first.record(KEY, p)
    assert len(second) == 0
    assert second.observe(KEY, 0.6) == MarketHistory(KEY)


# --- State: export, import, and moving between implementations ------------------------------


@PROPERTY_SETTINGS
@given(config=statistics_settings(), first=operations, then=operations)
def test_state_exported_by_one_implementation_imports_into_the_other(
    impl: ModuleType,
    config: tuple[int, int, float],
    first: list[tuple[str, str, float]],
    then: list[tuple[str, str, float]],
) -> None:
    recorded = [("record", key, p) for _, key, p in first]
    for make_source, make_target in (
        (impl.RollingStatistics, RollingRobustStatistics),
        (RollingRobustStatistics, impl.RollingStatistics),
        (impl.RollingStatistics, impl.RollingStatistics),
    ):
        source = make_source(*config)
        for _, key, p in recorded:
            source.record(key, p)
        target = make_target(*config)
        target.import_state(source.export_state())
        assert exact_state(target.export_state()) == exact_state(source.export_state())
        apply(source, target, then)


def test_a_market_imported_without_a_last_probability_starts_again_from_its_next_one(
    impl: ModuleType,
) -> None:
    state = {KEY: (None, CALM)}
    stats, reference = impl.RollingStatistics(min_points=2), RollingRobustStatistics(min_points=2)
    stats.import_state(state)
    reference.import_state(state)
    assert exact(stats.observe(KEY, 0.5)) == exact(MarketHistory(KEY, 8))
    apply(reference, stats, [("record", KEY, 0.5), ("record", KEY, 0.7), ("observe", KEY, 0.2)])


def test_import_keeps_only_the_newest_window_changes(impl: ModuleType) -> None:
    stats = impl.RollingStatistics(window=4, min_points=2)
    stats.import_state({KEY: (0.5, (0.1, 0.2, 0.3, 0.01, 0.02, 0.03, 0.04))})
    assert stats.export_state() == {KEY: (0.5, (0.01, 0.02, 0.03, 0.04))}


def test_import_accepts_lists_and_ints_and_stores_floats(impl: ModuleType) -> None:
    stats = impl.RollingStatistics(min_points=2)
    stats.import_state({KEY: (1, [0, 1, -1, 0.5])})
    assert exact_state(stats.export_state()) == exact_state({KEY: (1.0, (0.0, 1.0, -1.0, 0.5))})


def test_import_replaces_all_earlier_state(impl: ModuleType) -> None:
    stats = impl.RollingStatistics()
    for p in walk(CALM):
        stats.record("polymarket:old", p)
    stats.import_state({"polymarket:q": (0.4, (0.01, -0.01))})
    assert stats.export_state() == {"polymarket:q": (0.4, (0.01, -0.01))}
    assert len(stats) == 1


@pytest.mark.parametrize(
    "state",
    [
        {KEY: (1.5, ())},
        {KEY: (math.nan, ())},
        {KEY: (0.5, (0.1, math.nan))},
        {KEY: (0.5, (2.0,))},
        {KEY: (0.5, (-1.5,))},
        {"polymarket:a": (0.5, (0.1,)), "polymarket:b": (0.5, (0.1, -math.inf))},
    ],
)
def test_import_refuses_impossible_values_as_the_reference_and_keeps_the_old_state(
    impl: ModuleType, state: dict[str, Any]
) -> None:
    stats = impl.RollingStatistics()
    for p in walk(CALM):
        stats.record(KEY, p)
    before = stats.export_state()
    with pytest.raises(ValueError) as expected:
        RollingRobustStatistics().import_state(state)
    with pytest.raises(ValueError) as err:
        stats.import_state(state)
    assert str(err.value) == str(expected.value)
    assert stats.export_state() == before


def _pickled(stats: Any) -> Any:
    return pickle.loads(pickle.dumps(stats))


def test_statistics_survive_pickle_and_deepcopy(impl: ModuleType) -> None:
    stats = impl.RollingStatistics(window=6, min_points=3, mad_floor=0.02)
    for key, p in zip(itertools.cycle(KEYS), walk(CALM * 3), strict=False):
        stats.record(key, p)
    for make_clone in (_pickled, copy.deepcopy):
        clone = make_clone(stats)
        assert type(clone) is type(stats)
        apply(stats, clone, [("record", KEY, 0.3), ("observe", KEY, 0.9)])


# --- Batch scoring --------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(config=statistics_settings(), sequence=st.lists(probabilities, max_size=60))
def test_batch_scores_equal_the_z_scores_observe_gives_before_each_record(
    impl: ModuleType, config: tuple[int, int, float], sequence: list[float]
) -> None:
    recorded, expected = reference_scores(sequence, *config)
    same_scores(impl.score_batch(np.array(recorded), *config), np.array(expected))


def test_batch_scores_at_the_default_window_equal_the_reference(impl: ModuleType) -> None:
    rng = np.random.default_rng(7)
    sequence = np.clip(0.5 + np.cumsum(np.round(rng.normal(0.0, 0.01, 2_000), 3)), 0.0, 1.0)
    recorded, expected = reference_scores(sequence.tolist(), 64, 8, 0.01)
    same_scores(impl.score_batch(recorded), np.array(expected))
    same_scores(impl.score_batch(recorded, 64, 8, 0.01), np.array(expected))


@PROPERTY_SETTINGS
@given(config=statistics_settings(), changes=st.lists(changes_in_range, max_size=80))
def test_native_and_twin_score_any_changes_bit_for_bit(
    native: ModuleType, twin: ModuleType, config: tuple[int, int, float], changes: list[float]
) -> None:
    # Negative zeros included: they are scored as given and stored as +0.0 by both.
    same_scores(native.score_batch(changes, *config), twin.score_batch(changes, *config))


@PROPERTY_SETTINGS
@given(
    config=statistics_settings(),
    events=st.lists(st.tuples(st.integers(0, 5), changes_in_range), max_size=120),
)
def test_grouped_scores_equal_the_batch_scores_of_each_group(
    impl: ModuleType, config: tuple[int, int, float], events: list[tuple[int, float]]
) -> None:
    ids = np.array([g for g, _ in events], dtype=np.int64)
    changes = np.array([c for _, c in events], dtype=np.float64)
    scores = impl.score_batch_grouped(ids, changes, *config)
    assert scores.shape == changes.shape
    for g in range(6):  # some ids may be unused
        mine = ids == g
        same_scores(scores[mine], impl.score_batch(changes[mine], *config))


def test_grouped_scores_of_many_interleaved_markets_equal_each_markets_batch(
    impl: ModuleType,
) -> None:
    rng = np.random.default_rng(11)
    ids = rng.integers(0, 40, 8_000)
    changes = np.round(rng.normal(0.0, 0.02, 8_000), 3)
    scores = impl.score_batch_grouped(ids, changes)
    for g in range(40):
        same_scores(scores[ids == g], impl.score_batch(changes[ids == g]))


@settings(max_examples=100, deadline=None)
@given(config=statistics_settings(), changes=st.lists(changes_in_range, max_size=60))
def test_the_numpy_baseline_agrees_within_1e_12(
    impl: ModuleType, twin: ModuleType, config: tuple[int, int, float], changes: list[float]
) -> None:
    scores = impl.score_batch(changes, *config)
    baseline = twin.score_batch_numpy(changes, *config)
    assert np.array_equal(np.isnan(baseline), np.isnan(scores))
    np.testing.assert_allclose(baseline, scores, rtol=0.0, atol=1e-12)


def test_the_numpy_baseline_agrees_past_the_window_and_across_its_blocks(
    impl: ModuleType, twin: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twin, "_NUMPY_BLOCK", 100)  # several blocks from a small input
    changes = np.round(np.random.default_rng(3).normal(0.0, 0.02, 1_000), 3)
    scores = impl.score_batch(changes, 64, 8, 0.01)
    baseline = twin.score_batch_numpy(changes, 64, 8, 0.01)
    assert np.array_equal(np.isnan(baseline), np.isnan(scores))
    np.testing.assert_allclose(baseline, scores, rtol=0.0, atol=1e-12)


def test_batch_scores_are_nan_until_min_points_changes_precede(impl: ModuleType) -> None:
    scores = impl.score_batch(CALM * 2, 16, 8, 0.01)
    assert np.isnan(scores[:8]).all()
    assert not np.isnan(scores[8:]).any()
    assert scores[8] == pytest.approx(0.01 / (1.4826 * 0.015), rel=1e-12)  # median 0, MAD 0.015


def test_batch_scoring_of_nothing_gives_empty_arrays(impl: ModuleType) -> None:
    for scores in (impl.score_batch([]), impl.score_batch_grouped([], [])):
        assert scores.dtype == np.float64
        assert scores.shape == (0,)


def test_batch_scores_go_into_out_which_may_be_the_changes_themselves(impl: ModuleType) -> None:
    changes = np.array(walk(CALM * 3, start=0.0)[1:]) * 0.1
    expected = impl.score_batch(changes.copy(), 8, 2, 0.001)
    out = np.full(changes.shape, 7.0)
    assert impl.score_batch(changes, 8, 2, 0.001, out=out) is out
    same_scores(out, expected)
    ids = np.arange(changes.size) % 2
    grouped = impl.score_batch_grouped(ids, changes, 8, 2, 0.001)
    in_place = changes.copy()
    assert impl.score_batch_grouped(ids, in_place, 8, 2, 0.001, out=in_place) is in_place
    same_scores(in_place, grouped)
    in_place = changes.copy()
    assert impl.score_batch(in_place, 8, 2, 0.001, out=in_place) is in_place
    same_scores(in_place, expected)


def test_batch_scoring_accepts_lists_ints_and_strided_arrays(impl: ModuleType) -> None:
    values = np.array([0.0, 0.01, -0.01, 0.02, 0.0, 0.01, 1.0, -1.0])
    expected = impl.score_batch(values, 4, 2)
    same_scores(impl.score_batch(values.tolist(), 4, 2), expected)
    same_scores(impl.score_batch(np.repeat(values, 2)[::2], 4, 2), expected)
    same_scores(
        impl.score_batch([0, 1, -1, 0], 4, 2), impl.score_batch([0.0, 1.0, -1.0, 0.0], 4, 2)
    )
    ids = np.zeros(values.size, dtype=np.uint8)
    same_scores(impl.score_batch_grouped(ids, values, 4, 2), expected)
    same_scores(impl.score_batch_grouped(ids.tolist(), values.tolist(), 4, 2), expected)


# (call, exception type, message or None for the library's own wording), one case per line.
BAD_BATCH_ARGUMENTS = [
    (lambda m: m.score_batch([0.1, math.nan]), ValueError, "changes[1] must be a finite number, got nan"),
    (lambda m: m.score_batch([0.1, 0.2, -math.inf]), ValueError, "changes[2] must be a finite number, got -inf"),
    (lambda m: m.score_batch([[0.1, 0.2]]), ValueError, "changes must be one-dimensional, got shape (1, 2)"),
    (lambda m: m.score_batch(0.1), ValueError, "changes must be one-dimensional, got shape ()"),
    (lambda m: m.score_batch([0.1], out=np.empty(2)), ValueError, "out must be a float64 array of shape (1,), got float64 (2,)"),
    (lambda m: m.score_batch([0.1], out=np.empty(1, dtype=np.float32)), ValueError, "out must be a float64 array of shape (1,), got float32 (1,)"),
    (lambda m: m.score_batch([0.1], out=[0.0]), TypeError, "out must be a numpy.ndarray or None, got list"),
    (lambda m: m.score_batch([0.1], window=2.5), TypeError, None),
    (lambda m: m.score_batch_grouped([0], [0.1, 0.2]), ValueError, "group_ids and changes must have the same length, got 1 and 2"),
    (lambda m: m.score_batch_grouped([0, -3, -1], [0.1, 0.2, 0.3]), ValueError, "group_ids[1] must be >= 0, got -3"),
    (lambda m: m.score_batch_grouped([0.0, 1.0], [0.1, 0.2]), TypeError, "group_ids must be integers, got dtype float64"),
    (lambda m: m.score_batch_grouped(np.array([0, 2**63], dtype=np.uint64), [0.1, 0.2]), TypeError, None),
    (lambda m: m.score_batch_grouped([[0]], [0.1]), ValueError, "group_ids must be one-dimensional, got shape (1, 1)"),
    (lambda m: m.score_batch_grouped([0, 1], [0.1, math.nan]), ValueError, "changes[1] must be a finite number, got nan"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "message"), BAD_BATCH_ARGUMENTS)
def test_impossible_batch_arguments_are_refused_alike(
    impl: ModuleType, call: Any, error: type[Exception], message: str | None
) -> None:
    with pytest.raises(error) as err:
        call(impl)
    if message is not None:
        assert str(err.value) == message


def test_a_read_only_out_is_refused(impl: ModuleType) -> None:
    out = np.empty(2)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writable"):
        impl.score_batch([0.1, 0.2], out=out)
