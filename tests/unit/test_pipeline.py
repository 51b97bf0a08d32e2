"""The Process use case with in-memory adapters: outcomes, identity, determinism."""

from __future__ import annotations

import dataclasses

import pytest

from omen._native import hashing_py
from omen.adapters.repository.memory import InMemorySignalRepository
from omen.application.pipeline import Pipeline
from omen.domain.enrichment import signal_id_for
from omen.domain.ruleset import LiquidityParams, Ruleset
from omen.domain.signals import (
    ConfidenceLevel,
    Outcome,
    RuleStatus,
    SignalStatus,
    TimeHorizon,
)
from tests.support import NS, T0_NS, raw_event

DAY = 86_400 * NS


@pytest.fixture
def repository() -> InMemorySignalRepository:
    return InMemorySignalRepository()


@pytest.fixture
def pipeline(repository) -> Pipeline:
    return Pipeline(Ruleset(version="test-1"), hashing_py.event_hash, repository)


def test_a_liquid_event_is_emitted_and_stored(pipeline, repository):
    result = pipeline.process(raw_event())
    assert result.outcome is Outcome.EMITTED
    assert result.signal is not None
    assert repository.get(result.signal.signal_id) == result.signal
    assert repository.get_by_event_hash(result.input_event_hash) == result.signal
    assert result.signal.signal_id == signal_id_for(result.input_event_hash, "test-1")


def test_the_same_event_observed_later_is_a_duplicate_of_the_original(pipeline, repository):
    first = pipeline.process(raw_event())
    again = pipeline.process(raw_event(observed_at_ns=T0_NS + DAY, raw_payload=b"{}"))
    assert again.outcome is Outcome.DUPLICATE
    assert again.duplicate_of == first.signal.signal_id
    assert again.signal is first.signal
    assert again.validation_results == first.validation_results
    assert len(repository) == 1


def test_a_rejected_event_is_not_stored_and_is_rejected_again(pipeline, repository):
    thin = raw_event(liquidity_usd=999.99)
    first = pipeline.process(thin)
    second = pipeline.process(thin)
    assert first.outcome is second.outcome is Outcome.REJECTED
    assert first.reason == "liquidity: liquidity $999.99 < $1,000.00"
    assert first.validation_results[0].status is RuleStatus.FAILED
    assert len(repository) == 0


@pytest.mark.parametrize(
    ("liquidity", "source", "outcome", "status", "level"),
    [
        (250_000.0, "polymarket", Outcome.EMITTED, SignalStatus.ACTIVE, ConfidenceLevel.HIGH),
        (10_000.0, "polymarket", Outcome.EMITTED, SignalStatus.ACTIVE, ConfidenceLevel.HIGH),
        (5_000.0, "polymarket", Outcome.EMITTED, SignalStatus.MONITORING, ConfidenceLevel.MEDIUM),
        (1_000.0, "polymarket", Outcome.EMITTED, SignalStatus.CANDIDATE, ConfidenceLevel.LOW),
        (1_000.0, "other-feed", Outcome.REJECTED, None, None),
        (999.0, "polymarket", Outcome.REJECTED, None, None),
    ],
)
def test_confidence_sets_status_and_level(pipeline, liquidity, source, outcome, status, level):
    result = pipeline.process(raw_event(liquidity_usd=liquidity, source=source))
    assert result.outcome is outcome
    if status is None:
        assert result.signal is None
    else:
        assert (result.signal.status, result.signal.confidence_level) == (status, level)


def test_the_confidence_formula_is_the_documented_weighted_sum(pipeline):
    signal = pipeline.process(raw_event(liquidity_usd=5_000.0)).signal
    # 0.7 * liquidity score (0.5) + 0.3 * polymarket reliability (0.8)
    assert signal.confidence_score == pytest.approx(0.59)
    assert [(f.name, f.value, f.weight) for f in signal.confidence_factors] == [
        ("rules", 0.5, 0.7),
        ("source_reliability", 0.8, 0.3),
    ]
    assert signal.confidence_interval.lower == pytest.approx(0.59 - 0.1115)
    assert signal.confidence_interval.upper == pytest.approx(0.59 + 0.1115)


@pytest.mark.parametrize(
    ("days", "horizon"),
    [
        (None, TimeHorizon.UNKNOWN),
        (-1, TimeHorizon.IMMEDIATE),
        (7, TimeHorizon.IMMEDIATE),
        (8, TimeHorizon.SHORT_TERM),
        (30, TimeHorizon.SHORT_TERM),
        (31, TimeHorizon.MEDIUM_TERM),
        (181, TimeHorizon.LONG_TERM),
    ],
)
def test_the_horizon_comes_from_the_resolution_date(pipeline, days, horizon):
    resolution = None if days is None else T0_NS + days * DAY
    signal = pipeline.process(raw_event(resolution_date_ns=resolution)).signal
    assert signal.temporal.horizon is horizon
    assert signal.temporal.days_to_resolution == pytest.approx(0 if days is None else days)


def test_the_same_inputs_give_equal_signals_in_separate_pipelines():
    events = [raw_event(event_id=f"e{i}", liquidity_usd=1000.0 + 997 * i) for i in range(20)]
    runs = []
    for _ in range(2):
        p = Pipeline(Ruleset(version="v"), hashing_py.event_hash, InMemorySignalRepository())
        runs.append([p.process(e) for e in events])
    assert runs[0] == runs[1]


def test_a_new_ruleset_version_gives_a_new_signal_id(repository):
    event = raw_event()
    a = Pipeline(Ruleset(version="a"), hashing_py.event_hash, repository).process(event)
    b = Pipeline(Ruleset(version="b"), hashing_py.event_hash, InMemorySignalRepository()).process(
        event
    )
    assert a.input_event_hash == b.input_event_hash
    assert a.signal.signal_id != b.signal.signal_id


def test_liquidity_thresholds_come_from_the_ruleset(repository):
    strict = Ruleset(version="strict", liquidity=LiquidityParams(min_usd=1e6, full_score_usd=2e6))
    result = Pipeline(strict, hashing_py.event_hash, repository).process(raw_event())
    assert result.outcome is Outcome.REJECTED
    assert result.validation_results[0].score == pytest.approx(0.125)


def test_the_trace_id_is_stamped_into_the_signal(pipeline):
    signal = pipeline.process(raw_event(), trace_id="ab" * 16).signal
    assert signal.trace_id == "ab" * 16


def test_the_repository_refuses_a_second_signal_for_one_hash(pipeline, repository):
    signal = pipeline.process(raw_event()).signal
    with pytest.raises(ValueError, match="already exists"):
        repository.add(dataclasses.replace(signal, signal_id="sig-other"))
