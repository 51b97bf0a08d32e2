"""The outbox dispatcher over a real ledger (in tmp_path) with in-memory publishers and stores:
order, at least once, backoff, the circuit breaker, dead letters, cursors across restarts."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from omen.adapters.ledger.signals import signal_of
from omen.adapters.outbox.ledger_feed import LedgerFeed
from omen.application.outbox import BreakerState, Outbox
from omen.application.ports import Delivery, DeliveryError
from tests.outbox_support import (
    FakeTime,
    Filler,
    MemoryCursors,
    MemoryDeadLetters,
    RecordingPublisher,
    open_ledger,
    policy,
    signal_lsns,
    until,
)
from tests.support import NS


def _outbox(ledger, publisher, cursors=None, dead=None, time_=None, wall_ns=None, **pol):
    time_ = time_ or FakeTime()
    kwargs = {}
    if wall_ns is not None:
        kwargs["wall_ns"] = wall_ns
    return Outbox(
        LedgerFeed(ledger),
        cursors if cursors is not None else MemoryCursors(),
        dead if dead is not None else MemoryDeadLetters(),
        [(publisher, policy(**pol))],
        clock=time_.clock,
        sleep=time_.sleep,
        rng=random.Random(7),
        **kwargs,
    )


def test_every_signal_is_delivered_once_in_lsn_order_and_the_cursor_passes_observations(
    tmp_path: Path,
):
    async def main() -> None:
        with open_ledger(tmp_path) as ledger:
            filler = Filler(ledger)
            await filler.add(120)
            expected = signal_lsns(ledger)
            assert 0 < len(expected) < ledger.acked_lsn  # observations are in between
            assert len(ledger.partition_names()) == 2
            publisher = RecordingPublisher()
            cursors = MemoryCursors()
            outbox = _outbox(ledger, publisher, cursors, batch_size=7)
            await outbox.start()
            # Signals committed while it runs arrive too, woken by the commit listener.
            await until(lambda: len(publisher.accepted) >= len(expected), 10, "the backlog")
            await filler.add(40)
            expected = signal_lsns(ledger)
            await until(lambda: publisher.accepted == expected, 10, "the live tail")
            await until(lambda: cursors.values.get("mem") == ledger.acked_lsn, 10, "the cursor")
            assert max(len(c) for c in publisher.calls) == 7
            [status] = await asyncio.to_thread(outbox.statuses)
            assert (status.cursor_lsn, status.lag_records, status.lag_seconds) == (
                ledger.acked_lsn,
                0,
                0.0,
            )
            assert status.delivered == len(expected)
            assert status.breaker_state is BreakerState.CLOSED
            await outbox.stop()
            assert publisher.closed

    asyncio.run(main())


def test_a_restart_continues_after_the_saved_cursor_and_nothing_is_skipped(tmp_path: Path):
    async def main() -> None:
        with open_ledger(tmp_path) as ledger:
            filler = Filler(ledger)
            await filler.add(30)
            cursors = MemoryCursors()
            first = RecordingPublisher()
            outbox = _outbox(ledger, first, cursors)
            await outbox.start()
            await until(lambda: first.accepted == signal_lsns(ledger), 10, "the first run")
            await outbox.stop()
            saved = cursors.values["mem"]
            await filler.add(30)
            second = RecordingPublisher()
            outbox = _outbox(ledger, second, cursors)
            await outbox.start()
            await until(lambda: second.accepted == signal_lsns(ledger, saved), 10, "the rest")
            await outbox.stop()
            assert first.accepted + second.accepted == signal_lsns(ledger)

    asyncio.run(main())


def test_a_cursor_that_was_not_saved_repeats_deliveries_and_never_loses_one(tmp_path: Path):
    """The crash window: delivered but the cursor save failed (or the process died)."""

    async def main() -> None:
        with open_ledger(tmp_path) as ledger:
            filler = Filler(ledger)
            await filler.add(40)
            cursors = MemoryCursors({"mem": 0})
            cursors.fail = True
            first = RecordingPublisher()
            outbox = _outbox(ledger, first, cursors)
            await outbox.start()
            await until(lambda: first.accepted == signal_lsns(ledger), 10, "the first run")
            await outbox.stop()
            assert cursors.values["mem"] == 0
            cursors.fail = False
            second = RecordingPublisher()
            outbox = _outbox(ledger, second, cursors)
            await outbox.start()
            await until(lambda: second.accepted == signal_lsns(ledger), 10, "the redelivery")
            await outbox.stop()

    asyncio.run(main())


def test_retryable_failures_keep_the_delivered_prefix_and_back_off_within_bounds(tmp_path: Path):
    failures = 6

    async def plan(batch: Sequence[Delivery]) -> DeliveryError | None:
        nonlocal failures
        if failures and len(batch) > 1:
            failures -= 1
            return DeliveryError("HTTP 503", retryable=True, delivered=1)
        return None

    async def main() -> None:
        with open_ledger(tmp_path) as ledger:
            await Filler(ledger).add(60, reject_every=0)
            publisher = RecordingPublisher(plan=plan)
            clock = FakeTime()
            # The breaker never opens here: its threshold is above the failures.
            outbox = _outbox(ledger, publisher, time_=clock, breaker_failures=100)
            await outbox.start()
            await until(lambda: publisher.accepted == signal_lsns(ledger), 10, "delivery")
            [status] = await asyncio.to_thread(outbox.statuses)
            await outbox.stop()
            # Exactly once here: each failure kept the one delivery before it.
            assert status.retries == 6 and status.last_error == "HTTP 503"
            # The n-th consecutive failed attempt (a partial delivery is still a failed
            # attempt) waits within [0.1, min(2.0, 0.1 * 2^(n-1))].
            assert len(clock.sleeps) == 6
            for n, slept in enumerate(clock.sleeps, 1):
                assert 0.1 <= slept <= min(2.0, 0.1 * 2 ** (n - 1)), clock.sleeps

    asyncio.run(main())


def test_consecutive_failures_grow_the_backoff_and_retry_after_is_the_minimum(tmp_path: Path):
    answers = [DeliveryError("down", retryable=True)] * 5 + [
        DeliveryError("slow down", retryable=True, retry_after_s=7.5)
    ]

    async def plan(batch: Sequence[Delivery]) -> DeliveryError | None:
        return answers.pop(0) if answers else None

    async def main() -> None:
        with open_ledger(tmp_path) as ledger:
            await Filler(ledger).add(5, reject_every=0)
            publisher = RecordingPublisher(plan=plan)
            clock = FakeTime()
            outbox = _outbox(ledger, publisher, time_=clock, breaker_failures=100)
            await outbox.start()
            await until(lambda: publisher.accepted == signal_lsns(ledger), 10, "delivery")
            await outbox.stop()
            bounds = [(0.1, 0.1), (0.1, 0.2), (0.1, 0.4), (0.1, 0.8), (0.1, 1.6)]
            for (low, high), slept in zip(bounds, clock.sleeps, strict=False):
                assert low <= slept <= high
            assert clock.sleeps[5] == 7.5  # Retry-After beats the jittered 0.1..2.0
            assert len(clock.sleeps) == 6

    asyncio.run(main())


def test_the_breaker_opens_waits_and_one_trial_decides(tmp_path: Path, caplog):
    down = True

    async def plan(batch: Sequence[Delivery]) -> DeliveryError | None:
        return DeliveryError("connection refused", retryable=True) if down else None

    async def main() -> None:
        nonlocal down
        with open_ledger(tmp_path) as ledger:
            await Filler(ledger).add(20, reject_every=0)
            publisher = RecordingPublisher(name="hook", plan=plan)
            clock = FakeTime()
            outbox = _outbox(ledger, publisher, time_=clock, breaker_failures=3, breaker_reset_s=5)
            await outbox.start()
            # 3 failures open it; the trial after the cool-down fails and reopens it.
            await until(lambda: len(publisher.calls) >= 5, 10, "attempts")
            down = False
            await until(lambda: publisher.accepted == signal_lsns(ledger), 10, "recovery")
            [status] = await asyncio.to_thread(outbox.statuses)
            await outbox.stop()
            sizes = [len(c) for c in publisher.calls]
            # Closed: whole batches. Half-open: one signal decides. Closed again: batches.
            assert sizes[:3] == [10, 10, 10]
            assert sizes[3] == 1 and sizes[4] == 1, sizes
            assert max(sizes[5:]) == 10
            # Each open period waited out the full cool-down.
            assert sum(1 for s in clock.sleeps if s >= 5.0) >= 2
            assert status.breaker_state is BreakerState.CLOSED

    with caplog.at_level(logging.WARNING, logger="omen.outbox"):
        asyncio.run(main())
    moves = [
        r.getMessage().split("circuit breaker ")[1].split(" (")[0]
        for r in caplog.records
        if "circuit breaker" in r.getMessage()
    ]
    assert all(
        "publisher hook" in r.getMessage() for r in caplog.records if "breaker" in r.getMessage()
    )
    assert moves[:3] == ["closed -> open", "open -> half_open", "half_open -> open"]
    assert moves[-2:] == ["open -> half_open", "half_open -> closed"]


def test_the_breaker_state_is_visible_while_open(tmp_path: Path):
    async def plan(batch: Sequence[Delivery]) -> DeliveryError | None:
        return DeliveryError("HTTP 503", retryable=True)

    async def main() -> None:
        with open_ledger(tmp_path) as ledger:
            await Filler(ledger).add(3, reject_every=0)
            publisher = RecordingPublisher(plan=plan)
            # Real sleeping, long cool-down: the breaker stays open while we look.
            outbox = Outbox(
                LedgerFeed(ledger),
                MemoryCursors(),
                MemoryDeadLetters(),
                [
                    (
                        publisher,
                        policy(
                            backoff_initial_s=0.001,
                            backoff_max_s=0.001,
                            breaker_failures=2,
                            breaker_reset_s=60,
                        ),
                    )
                ],
            )
            await outbox.start()
            await until(lambda: len(publisher.calls) >= 2, 10, "two failures")
            await until(lambda: outbox.statuses()[0].breaker_state is BreakerState.OPEN, 10, "open")
            status = outbox.statuses()[0]
            assert status.lag_records == 3 and status.last_error == "HTTP 503"
            await outbox.stop(timeout_s=1)
            assert len(publisher.calls) == 2

    asyncio.run(main())


def test_a_refused_signal_is_dead_lettered_and_delivery_goes_on(tmp_path: Path):
    async def main() -> None:
        with open_ledger(tmp_path) as ledger:
            await Filler(ledger).add(30)
            lsns = signal_lsns(ledger)
            bad = {lsns[4], lsns[11]}

            async def plan(batch: Sequence[Delivery]) -> DeliveryError | None:
                for i, d in enumerate(batch):
                    if d.lsn in bad:
                        return DeliveryError(f"HTTP 400 for {d.lsn}", retryable=False, delivered=i)
                return None

            publisher = RecordingPublisher(plan=plan)
            dead = MemoryDeadLetters()
            cursors = MemoryCursors()
            outbox = _outbox(ledger, publisher, cursors, dead)
            await outbox.start()
            good = [x for x in lsns if x not in bad]
            await until(lambda: publisher.accepted == good, 10, "the good ones")
            await until(lambda: cursors.values.get("mem") == ledger.acked_lsn, 10, "cursor")
            [status] = await asyncio.to_thread(outbox.statuses)
            await outbox.stop()
            assert dead.letters == [("mem", b, f"HTTP 400 for {b}") for b in sorted(bad)]
            assert status.dead_lettered == 2 and status.retries == 0

    asyncio.run(main())


def test_stop_abandons_an_in_flight_batch_without_moving_the_cursor(tmp_path: Path):
    gate = asyncio.Event()

    async def plan(batch: Sequence[Delivery]) -> DeliveryError | None:
        await gate.wait()  # never set: the receiver hangs
        return None

    async def main() -> None:
        with open_ledger(tmp_path) as ledger:
            await Filler(ledger).add(12, reject_every=0)
            publisher = RecordingPublisher(plan=plan)
            cursors = MemoryCursors()
            outbox = _outbox(ledger, publisher, cursors)
            await outbox.start()
            await until(lambda: publisher.calls, 10, "the first publish")
            await outbox.stop(timeout_s=0.05)
            assert cursors.values.get("mem", 0) == 0
            assert publisher.closed

    asyncio.run(main())


def test_lag_is_the_count_and_age_of_undelivered_signals(tmp_path: Path):
    gate = asyncio.Event()

    async def plan(batch: Sequence[Delivery]) -> DeliveryError | None:
        await gate.wait()
        return None

    async def main() -> None:
        with open_ledger(tmp_path) as ledger:
            filler = Filler(ledger)
            await filler.add(25)
            expected = len(signal_lsns(ledger))
            publisher = RecordingPublisher(plan=plan)
            outbox = _outbox(ledger, publisher, wall_ns=lambda: now_ns[0], batch_size=5)
            await outbox.start()
            await until(lambda: publisher.calls, 10, "the first publish")
            first = publisher.calls[0][0]
            first_signal = next(iter(ledger.entries_after(first - 1)))
            generated = signal_of(first_signal).generated_at_ns
            now_ns[0] = generated + 42 * NS
            [status] = await asyncio.to_thread(outbox.statuses)
            assert status.lag_records == expected
            assert status.lag_seconds == pytest.approx(42.0)
            gate.set()
            await until(lambda: outbox.statuses()[0].lag_records == 0, 10, "drained")
            await filler.add(8, reject_every=0)
            await until(lambda: outbox.statuses()[0].lag_records == 0, 10, "drained again")
            assert outbox.statuses()[0].lag_seconds == 0.0
            await outbox.stop()

    now_ns = [0]
    asyncio.run(main())


def test_a_cursor_beyond_the_ledger_end_is_moved_back_to_it(tmp_path: Path, caplog):
    async def main() -> None:
        with open_ledger(tmp_path) as ledger:
            await Filler(ledger).add(4, reject_every=0)
            end = ledger.acked_lsn
            publisher = RecordingPublisher()
            outbox = _outbox(ledger, publisher, MemoryCursors({"mem": end + 50}))
            await outbox.start()
            assert outbox.statuses()[0].cursor_lsn == end
            await outbox.stop()

    with caplog.at_level(logging.WARNING, logger="omen.outbox"):
        asyncio.run(main())
    assert "beyond the ledger's last record" in caplog.text
