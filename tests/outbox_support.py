"""Test helpers for the outbox: in-memory stores and publishers (subclasses of the real ports),
a fake clock, a ledger filled through the real pipeline, and the webhook receiver process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from omen.adapters.ledger.ledger import Ledger, LedgerOptions
from omen.adapters.ledger.records import RecordType
from omen.adapters.ledger.signals import LedgerSignalStore, signal_at
from omen.adapters.repository.ledger_index import LedgerIndexedRepository
from omen.application.outbox import DeliveryPolicy
from omen.application.ports import (
    CursorStore,
    DeadLetterStore,
    Delivery,
    DeliveryError,
    Publisher,
)
from omen.application.process import ProcessEvents
from omen.domain.signals import Outcome
from tests.support import NS, ROOT, T0_NS, make_pipeline, raw_event, wait_until

RECEIVER = ROOT / "tests" / "webhook_receiver.py"


class MemoryCursors(CursorStore):
    def __init__(self, initial: dict[str, int] | None = None, fail: bool = False):
        self.values = dict(initial or {})
        self.saves: list[tuple[str, int]] = []
        self.fail = fail

    def load(self, publisher: str) -> int:
        return self.values.get(publisher, 0)

    def save(self, publisher: str, lsn: int) -> None:
        if self.fail:
            raise OSError(28, "No space left on device")
        self.values[publisher] = lsn
        self.saves.append((publisher, lsn))


class MemoryDeadLetters(DeadLetterStore):
    def __init__(self) -> None:
        self.letters: list[tuple[str, int, str]] = []

    def add(self, publisher: str, delivery: Delivery, reason: str, failed_at_ns: int) -> None:
        self.letters.append((publisher, delivery.lsn, reason))


Plan = Callable[[Sequence[Delivery]], Awaitable[DeliveryError | None]]


class RecordingPublisher(Publisher):
    """Keeps every LSN it accepted; `plan` decides each call (None: accept all)."""

    kind = "memory"

    def __init__(self, name: str = "mem", plan: Plan | None = None):
        self.name = name
        self.plan = plan
        self.accepted: list[int] = []
        self.calls: list[list[int]] = []
        self.closed = False

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        self.calls.append([d.lsn for d in deliveries])
        error = await self.plan(deliveries) if self.plan is not None else None
        if error is None:
            self.accepted += [d.lsn for d in deliveries]
            return
        self.accepted += [d.lsn for d in deliveries[: error.delivered]]
        raise error

    async def close(self) -> None:
        self.closed = True


class FakeTime:
    """A monotonic clock that sleeping advances; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def policy(**overrides: Any) -> DeliveryPolicy:
    values: dict[str, Any] = dict(
        batch_size=10,
        backoff_initial_s=0.1,
        backoff_max_s=2.0,
        breaker_failures=3,
        breaker_reset_s=5.0,
    )
    values.update(overrides)
    return DeliveryPolicy(**values)


def open_ledger(root: Path) -> Ledger:
    return Ledger.open(root, LedgerOptions(segment_bytes=256 * 1024, seal_grace_s=None))


class Filler:
    """Puts events through the real pipeline into a ledger: emitted signals and (for thin
    markets) observations of rejected events, over two UTC dates."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        repository = LedgerIndexedRepository(signal_at(ledger))
        self.use_case = ProcessEvents(
            make_pipeline(repository=repository), LedgerSignalStore(ledger)
        )
        self.n = 0

    async def add(self, count: int, reject_every: int = 4) -> list[str]:
        """Process `count` new events; returns the emitted signal ids."""
        ids = []
        for _ in range(count):
            i = self.n
            self.n += 1
            event = raw_event(
                event_id=f"e-{i}",
                market_id=f"m-{i}",
                probability=0.5 + (i % 7) / 100,
                liquidity_usd=500.0 if reject_every and i % reject_every == 3 else 250_000.0,
                observed_at_ns=T0_NS + (i % 2) * 86_400 * NS + i * NS,
            )
            result = await self.use_case.process(event)
            if result.outcome is Outcome.EMITTED:
                assert result.signal is not None
                ids.append(result.signal.signal_id)
        return ids


def signal_lsns(ledger: Ledger, after: int = 0) -> list[int]:
    return [e.lsn for e in ledger.entries_after(after) if e.type == RecordType.SIGNAL]


async def until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `predicate` on the event loop until truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


class Receiver:
    """tests/webhook_receiver.py in its own process."""

    def __init__(self, record: Path | None, secret: str | None = None, port: int = 0):
        args = [sys.executable, str(RECEIVER), "--port", str(port)]
        if secret:
            args += ["--secret", secret]
        if record is not None:
            args += ["--record", str(record)]
        self.record = record
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._line: list[str] = []
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        try:
            line = wait_until(self._listening, 20, "the webhook receiver to listen")
        except BaseException:
            self.stop()
            raise
        self.port = int(line.rsplit(":", 1)[1])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        self._line.append(self.proc.stdout.readline())

    def _listening(self) -> str | None:
        if self._line and self._line[0].startswith("listening on"):
            return self._line[0].strip()
        if self.proc.poll() is not None:
            raise AssertionError(
                f"webhook receiver exited: {self.proc.stderr and self.proc.stderr.read()}"
            )
        return None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/omen"

    def control(self, **change: Any) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_control",
            data=json.dumps(change).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return dict(json.load(response))

    def requests(self) -> list[dict[str, Any]]:
        assert self.record is not None
        if not self.record.exists():
            return []
        lines = self.record.read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def accepted_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests() if 200 <= r["status"] < 300]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
