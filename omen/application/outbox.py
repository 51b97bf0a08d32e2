"""The outbox dispatcher: every publisher follows the ledger from its durable cursor.

One task per publisher reads acknowledged signals after its cursor in LSN order (batches of
`batch_size`), publishes them, then advances the cursor and saves it (after every batch that
delivered something). When it has caught up it waits for the ledger's next group commit. So
each publisher sees every signal at least once (a crash between a delivery and the cursor save
repeats that batch; receivers dedupe by signal_id), in ledger order (hence in order per key).

Failures (DeliveryError from the publisher):

- retryable (timeout, 5xx, 429, broker down): the delivered prefix is kept (the cursor moves
  over it), the rest is retried after a backoff: the n-th consecutive failure waits a uniformly
  random time between `backoff_initial_s` and min(`backoff_max_s`, `backoff_initial_s` *
  2^(n-1)) (full jitter, floored at the initial delay), and at least the receiver's
  `retry_after_s` (capped at MAX_RETRY_AFTER_S).
- not retryable (a 4xx, a message the broker refuses): the signal is written to the dead-letter
  store with the reason, the cursor moves past it, delivery goes on.

A circuit breaker per publisher: CLOSED; after `breaker_failures` consecutive retryable
failures OPEN (no attempt for `breaker_reset_s`); then HALF_OPEN: one trial delivery of one
signal decides (delivered or refused for good: CLOSED; failed again: OPEN). Every transition
is logged at WARNING with the publisher's name.

This module does no I/O of its own: it reads through the SignalFeed port and saves through the
CursorStore and DeadLetterStore ports (in a thread, since they may block).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from omen.application.ports import (
    CursorStore,
    DeadLetterStore,
    Delivery,
    DeliveryError,
    Publisher,
    SignalFeed,
)

log = logging.getLogger("omen.outbox")

#: A receiver's Retry-After is honoured up to this many seconds (a bogus "retry in a year"
#: must not stall a publisher silently).
MAX_RETRY_AFTER_S = 3600.0
_NS = 1_000_000_000


class BreakerState(enum.IntEnum):
    """Numbers match omen.v1.BreakerState."""

    CLOSED = 1
    OPEN = 2
    HALF_OPEN = 3


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How one publisher is driven (from its PublisherSettings)."""

    batch_size: int = 100
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 30.0
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0


@dataclass(frozen=True, slots=True)
class PublisherStatus:
    """What ListPublishers and the metrics show of one publisher."""

    name: str
    kind: str
    breaker_state: BreakerState
    #: The durable cursor: LSN of the last record the publisher is done with.
    cursor_lsn: int
    #: Acknowledged signals after the cursor (exact: counted from the ledger).
    lag_records: int
    #: Age of the oldest undelivered signal (generated_at to now), 0 without a backlog.
    lag_seconds: float
    delivered: int
    retries: int
    dead_lettered: int
    last_error: str


def backoff_delay(
    failures: int,
    policy: DeliveryPolicy,
    rng: random.Random,
    retry_after_s: float | None = None,
) -> float:
    """Seconds to wait after the `failures`-th consecutive failure (see the module docstring)."""
    ceiling = min(policy.backoff_max_s, policy.backoff_initial_s * 2.0 ** max(0, failures - 1))
    floor = min(policy.backoff_initial_s, ceiling)
    delay = rng.uniform(floor, ceiling)
    if retry_after_s is not None and retry_after_s > 0:
        delay = max(delay, min(retry_after_s, MAX_RETRY_AFTER_S))
    return delay


class CircuitBreaker:
    """closed -> open after `failures_to_open` consecutive failures -> half-open after
    `reset_s` -> one trial: closed on success, open again on failure."""

    def __init__(
        self,
        name: str,
        failures_to_open: int,
        reset_s: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.failures_to_open = failures_to_open
        self.reset_s = reset_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self.transitions = 0

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose cool-down is over reads HALF_OPEN)."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_s:
            self._move(BreakerState.HALF_OPEN, "cool-down over, one trial delivery decides")
        return self._state

    def peek(self) -> BreakerState:
        """The state now, without moving it (safe from another thread)."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_s:
            return BreakerState.HALF_OPEN
        return self._state

    def wait_s(self) -> float:
        """Seconds until an attempt may be made (0: now)."""
        if self.state is BreakerState.OPEN:
            return max(0.0, self._opened_at + self.reset_s - self._clock())
        return 0.0

    def success(self) -> None:
        self._failures = 0
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED, "the trial delivery went through")

    def failure(self, reason: str) -> None:
        self._failures += 1
        state = self.state
        if state is BreakerState.HALF_OPEN:
            self._open(f"the trial delivery failed: {reason}")
        elif state is BreakerState.CLOSED and self._failures >= self.failures_to_open:
            self._open(f"{self._failures} consecutive failures, the last: {reason}")

    def _open(self, why: str) -> None:
        self._opened_at = self._clock()
        self._move(BreakerState.OPEN, f"{why}; next trial in {self.reset_s:g}s")

    def _move(self, state: BreakerState, why: str) -> None:
        log.warning(
            "outbox: publisher %s: circuit breaker %s -> %s (%s)",
            self.name,
            self._state.name.lower(),
            state.name.lower(),
            why,
        )
        self._state = state
        self.transitions += 1


class _Run:
    """One publisher's state inside the dispatcher."""

    def __init__(self, publisher: Publisher, policy: DeliveryPolicy, breaker: CircuitBreaker):
        self.publisher = publisher
        self.policy = policy
        self.breaker = breaker
        self.cursor = 0  # in memory: the last LSN done with
        self.saved = 0  # durable
        self.head_ns: int | None = None  # generated_at of the oldest undelivered signal held
        self.failures = 0
        self.delivered = 0
        self.retries = 0
        self.dead_lettered = 0
        self.last_error = ""
        self.busy = False  # publishing or recording an outcome: stop lets it finish
        self.task: asyncio.Task[None] | None = None


Sleep = Callable[[float], Awaitable[None]]


class Outbox:
    """Runs every configured publisher against the ledger (see the module docstring)."""

    def __init__(
        self,
        feed: SignalFeed,
        cursors: CursorStore,
        dead_letters: DeadLetterStore,
        publishers: Sequence[tuple[Publisher, DeliveryPolicy]],
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ):
        self._feed = feed
        self._cursors = cursors
        self._dead_letters = dead_letters
        self._clock = clock
        self._wall_ns = wall_ns
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._runs = [
            _Run(
                p,
                policy,
                CircuitBreaker(p.name, policy.breaker_failures, policy.breaker_reset_s, clock),
            )
            for p, policy in publishers
        ]
        self._loaded = False
        self._stopping = False

    @property
    def publishers(self) -> tuple[Publisher, ...]:
        return tuple(r.publisher for r in self._runs)

    def load_cursors(self) -> None:
        """Read every publisher's durable cursor (errors surface at start-up). A cursor beyond
        the ledger's end (the ledger was repaired or replaced) is moved back to that end."""
        acked = self._feed.acked_lsn
        for run in self._runs:
            lsn = self._cursors.load(run.publisher.name)
            if lsn > acked:
                log.warning(
                    "outbox: publisher %s: cursor %d is beyond the ledger's last record %d; "
                    "continuing from %d",
                    run.publisher.name,
                    lsn,
                    acked,
                    acked,
                )
                lsn = acked
            run.cursor = run.saved = lsn
        self._loaded = True

    async def start(self) -> None:
        """Start one delivery task per publisher (on the running loop)."""
        if not self._runs:
            return
        if not self._loaded:
            self.load_cursors()
        self._stopping = False
        self._feed.open(min(r.cursor for r in self._runs))
        for run in self._runs:
            run.task = asyncio.create_task(self._deliver(run), name=f"outbox-{run.publisher.name}")
        log.info(
            "outbox: delivering to %s",
            ", ".join(
                f"{r.publisher.name} ({r.publisher.kind}) from LSN {r.cursor}" for r in self._runs
            ),
        )

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop delivering: a batch being published gets `timeout_s` to finish, then it is
        abandoned (its cursor never moved past it). Saves cursors, closes publishers."""
        self._stopping = True
        tasks = [r.task for r in self._runs if r.task is not None]
        for run in self._runs:
            if run.task is not None and not run.busy:
                run.task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for run in self._runs:
            run.task = None
            if run.cursor != run.saved:  # moved over non-signal records only
                with contextlib.suppress(OSError):
                    await self._save(run)
            try:
                await run.publisher.close()
            except Exception:
                log.exception("outbox: publisher %s: close failed", run.publisher.name)
        if self._runs:
            self._feed.close()

    def statuses(self) -> list[PublisherStatus]:
        """Every publisher's status, in configuration order. May read the ledger (the lag
        count): call it off the event loop."""
        now_ns = self._wall_ns()
        out = []
        for run in self._runs:
            lag = self._feed.signals_after(run.cursor)
            head = run.head_ns
            out.append(
                PublisherStatus(
                    name=run.publisher.name,
                    kind=run.publisher.kind,
                    breaker_state=run.breaker.peek(),
                    cursor_lsn=run.saved,
                    lag_records=lag,
                    lag_seconds=max(0.0, (now_ns - head) / _NS) if lag and head else 0.0,
                    delivered=run.delivered,
                    retries=run.retries,
                    dead_lettered=run.dead_lettered,
                    last_error=run.last_error,
                )
            )
        return out

    # ------------------------------------------------------------------ the delivery loop

    async def _deliver(self, run: _Run) -> None:
        name = run.publisher.name
        try:
            await self._start_publisher(run)
            pending: list[Delivery] = []
            scanned = run.cursor
            while not self._stopping:
                if not pending:
                    if self._feed.acked_lsn <= run.cursor:
                        run.head_ns = None
                        # Caught up; moves over observations alone are saved now, once.
                        await self._moved(run, [], run.cursor, force=True)
                        await self._feed.wait_beyond(run.cursor)
                        continue
                    try:
                        batch = await asyncio.to_thread(
                            self._feed.read_after, run.cursor, run.policy.batch_size
                        )
                    except Exception as exc:  # e.g. an archived partition's copy went away
                        log.error(
                            "outbox: publisher %s: cannot read the ledger after LSN %d: %s",
                            name,
                            run.cursor,
                            exc,
                        )
                        await self._sleep(run.policy.backoff_max_s)
                        continue
                    pending, scanned = list(batch.deliveries), batch.scanned_lsn
                    if not pending:  # only observations of rejected events: nothing to send
                        run.head_ns = None
                        self._advance(run, scanned)
                        continue
                    run.head_ns = pending[0].signal.generated_at_ns
                wait = run.breaker.wait_s()
                if wait > 0:
                    await self._sleep(wait)
                    continue
                run.busy = True
                try:
                    pending = await self._attempt(run, pending, scanned)
                finally:
                    run.busy = False
                if pending:
                    run.head_ns = pending[0].signal.generated_at_ns
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug, not a delivery failure (those are handled above): say so loudly; the
            # cursor is still at the last delivered record, so a restart loses nothing.
            log.exception("outbox: publisher %s: delivery stopped by an unexpected error", name)
            raise

    async def _start_publisher(self, run: _Run) -> None:
        while True:
            try:
                await run.publisher.start()
                return
            except DeliveryError as exc:
                reason = exc.reason
            except Exception as exc:  # a connect that failed: retried like a delivery
                reason = f"start failed: {exc!r}"
            await self._failed(run, reason, None)

    async def _attempt(self, run: _Run, pending: list[Delivery], scanned: int) -> list[Delivery]:
        """One publish of `pending` (one signal when half-open); returns what is left."""
        trial = run.breaker.state is BreakerState.HALF_OPEN
        batch = pending[:1] if trial else pending
        error: DeliveryError | None = None
        try:
            await run.publisher.publish(batch)
            done = len(batch)
        except DeliveryError as exc:
            error = exc
            done = min(max(exc.delivered, 0), len(batch) - 1)
        except Exception as exc:
            # A publisher bug: nothing is known to have arrived. Retried (never skipped), and
            # logged with its traceback so that it gets fixed.
            log.exception("outbox: publisher %s: publish raised", run.publisher.name)
            error = DeliveryError(f"publish raised {exc!r}", retryable=True)
            done = 0
        if done:
            run.delivered += done
            pending = pending[done:]
        if error is not None and not error.retryable:
            # pending[0] is the refused signal: dead-letter it and go on.
            refused = pending[0]
            try:
                await asyncio.to_thread(
                    self._dead_letters.add,
                    run.publisher.name,
                    refused,
                    error.reason,
                    self._wall_ns(),
                )
            except OSError as exc:
                # Not recorded, so not skipped: retried like a failed delivery.
                await self._moved(run, pending, scanned)
                await self._failed(run, f"cannot write its dead letter: {exc}", None)
                return pending
            log.warning(
                "outbox: publisher %s: dead-lettered signal %s (LSN %d): %s",
                run.publisher.name,
                refused.signal.signal_id,
                refused.lsn,
                error.reason,
            )
            run.dead_lettered += 1
            run.last_error = error.reason
            pending = pending[1:]
            run.failures = 0
            run.breaker.success()  # the receiver answered: it is up
            error = None
        if error is None:
            run.failures = 0
            run.breaker.success()
            await self._moved(run, pending, scanned, force=True)
            return pending
        await self._moved(run, pending, scanned)
        await self._failed(run, error.reason, error.retry_after_s)
        return pending

    async def _moved(
        self, run: _Run, pending: list[Delivery], scanned: int, force: bool = False
    ) -> None:
        """Advance the cursor over what is done (all of the read when nothing is pending)."""
        target = scanned if not pending else pending[0].lsn - 1
        if target > run.cursor or (force and run.cursor != run.saved):
            self._advance(run, max(target, run.cursor))
            try:
                await self._save(run)
            except OSError as exc:
                # The deliveries happened; an unsaved cursor only means they repeat after a
                # crash (at least once). The next save tries again.
                log.error(
                    "outbox: publisher %s: cannot save its cursor: %s", run.publisher.name, exc
                )

    def _advance(self, run: _Run, lsn: int) -> None:
        run.cursor = lsn
        low = min(r.cursor for r in self._runs)
        self._feed.forget_through(low)

    async def _save(self, run: _Run) -> None:
        lsn = run.cursor
        await asyncio.to_thread(self._cursors.save, run.publisher.name, lsn)
        run.saved = max(run.saved, lsn)

    async def _failed(self, run: _Run, reason: str, retry_after_s: float | None) -> None:
        run.failures += 1
        run.retries += 1
        run.last_error = reason
        run.breaker.failure(reason)
        delay = backoff_delay(run.failures, run.policy, self._rng, retry_after_s)
        delay = max(delay, run.breaker.wait_s())
        log.info(
            "outbox: publisher %s: delivery failed (%s); retrying in %.2fs",
            run.publisher.name,
            reason,
            delay,
        )
        await self._sleep(delay)
