"""The outbox's backoff and circuit breaker, with a seeded RNG and a fake clock."""

from __future__ import annotations

import logging
import random

import pytest

from omen.application.outbox import (
    MAX_RETRY_AFTER_S,
    BreakerState,
    CircuitBreaker,
    DeliveryPolicy,
    backoff_delay,
)

POLICY = DeliveryPolicy(backoff_initial_s=0.2, backoff_max_s=30.0)


@pytest.mark.parametrize("seed", range(20))
def test_the_nth_failure_waits_between_the_initial_delay_and_the_capped_exponential(seed):
    rng = random.Random(seed)
    for failures in range(1, 40):
        ceiling = min(30.0, 0.2 * 2 ** (failures - 1))
        delay = backoff_delay(failures, POLICY, rng)
        assert 0.2 <= delay <= ceiling


def test_the_jitter_spreads_over_the_whole_range():
    rng = random.Random(1)
    delays = [backoff_delay(12, POLICY, rng) for _ in range(2000)]
    assert min(delays) < 3.0 and max(delays) > 27.0


def test_retry_after_is_a_minimum_and_is_capped():
    rng = random.Random(3)
    assert backoff_delay(1, POLICY, rng, retry_after_s=12.0) == 12.0
    assert backoff_delay(1, POLICY, rng, retry_after_s=10**9) == MAX_RETRY_AFTER_S
    assert 0.2 <= backoff_delay(1, POLICY, rng, retry_after_s=0.0) <= 0.2


def test_an_initial_delay_above_the_maximum_is_held_to_the_maximum():
    policy = DeliveryPolicy(backoff_initial_s=5.0, backoff_max_s=1.0)
    assert backoff_delay(3, policy, random.Random(0)) == 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_consecutive_failures_and_a_success_resets_the_count(caplog):
    clock = Clock()
    breaker = CircuitBreaker("hook", failures_to_open=3, reset_s=10.0, clock=clock)
    breaker.failure("a")
    breaker.failure("b")
    breaker.success()
    breaker.failure("c")
    breaker.failure("d")
    assert breaker.state is BreakerState.CLOSED and breaker.wait_s() == 0.0
    with caplog.at_level(logging.WARNING, logger="omen.outbox"):
        breaker.failure("HTTP 503")
    assert breaker.state is BreakerState.OPEN
    assert breaker.wait_s() == 10.0
    assert "publisher hook: circuit breaker closed -> open" in caplog.text
    assert "HTTP 503" in caplog.text


def test_after_the_cool_down_one_trial_decides():
    clock = Clock()
    breaker = CircuitBreaker("hook", failures_to_open=1, reset_s=10.0, clock=clock)
    breaker.failure("down")
    clock.now += 9.5
    assert breaker.state is BreakerState.OPEN and breaker.wait_s() == pytest.approx(0.5)
    clock.now += 0.5
    assert breaker.peek() is BreakerState.HALF_OPEN
    assert breaker.transitions == 1  # peek moves nothing
    assert breaker.state is BreakerState.HALF_OPEN and breaker.wait_s() == 0.0
    breaker.failure("still down")  # the trial failed: open again, for a whole cool-down
    assert breaker.state is BreakerState.OPEN and breaker.wait_s() == 10.0
    clock.now += 10
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.transitions == 5


def test_publisher_metrics_are_read_from_the_statuses_at_scrape_time():
    from prometheus_client import CollectorRegistry, generate_latest

    from omen.application.outbox import PublisherStatus
    from omen.observability import OutboxCollector

    statuses = [PublisherStatus("hook", "webhook", BreakerState.OPEN, 41, 7, 2.5, 30, 4, 1, "x")]
    registry = CollectorRegistry()
    registry.register(OutboxCollector(lambda: statuses))
    text = generate_latest(registry).decode()
    for line in (
        'omen_outbox_cursor_lsn{publisher="hook"} 41.0',
        'omen_outbox_lag_records{publisher="hook"} 7.0',
        'omen_outbox_lag_seconds{publisher="hook"} 2.5',
        'omen_outbox_breaker_state{publisher="hook"} 2.0',
        'omen_outbox_delivered_total{publisher="hook"} 30.0',
        'omen_outbox_retries_total{publisher="hook"} 4.0',
        'omen_outbox_dead_lettered_total{publisher="hook"} 1.0',
    ):
        assert line in text
