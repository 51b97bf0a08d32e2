"""ProcessEvents: answers wait for the ledger (invariant 1), with a fake ledger."""

from __future__ import annotations

import asyncio

import pytest

from omen.application.ports import LedgerTicket, SignalLedger
from omen.application.process import ProcessEvents
from omen.domain.signals import OmenSignal, Outcome
from omen.errors import LedgerUnavailableError
from tests.support import make_pipeline, raw_event


class FakeDurable:
    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.error: Exception | None = None

    @property
    def done(self) -> bool:
        return self.event.is_set()

    async def wait_async(self) -> None:
        await self.event.wait()
        if self.error is not None:
            raise self.error

    def wait(self, timeout: float | None = None) -> None:
        raise NotImplementedError

    def complete(self, error: Exception | None = None) -> None:
        self.error = error
        self.event.set()


class FakeLedger(SignalLedger):
    def __init__(self) -> None:
        self.records: list[tuple] = []
        self.durables: list[FakeDurable] = []
        self._failed: Exception | None = None

    def _ticket(self) -> LedgerTicket:
        durable = FakeDurable()
        self.durables.append(durable)
        return LedgerTicket("2026-11-26", len(self.records), durable)

    def append_signal(self, signal: OmenSignal, market_key: str, probability: float):
        self.records.append(("signal", signal.signal_id, market_key, probability))
        return self._ticket()

    def append_observation(self, event_hash, market_key, probability, observed_at_ns):
        self.records.append(("observation", event_hash, market_key, probability))
        return self._ticket()

    @property
    def failed(self):
        return self._failed


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_emitted_is_answered_only_after_the_append_is_durable():
    async def scenario():
        ledger = FakeLedger()
        use_case = ProcessEvents(make_pipeline(), ledger)
        task = asyncio.create_task(use_case.process(raw_event()))
        await _settle()
        assert not task.done()
        assert ledger.records[0][0] == "signal"
        assert ledger.records[0][2:] == ("polymarket:m-1", 0.62)
        ledger.durables[0].complete()
        result = await task
        assert result.outcome is Outcome.EMITTED

    asyncio.run(scenario())


def test_a_duplicate_of_a_signal_not_yet_durable_waits_for_it_and_fails_with_it():
    async def scenario():
        ledger = FakeLedger()
        use_case = ProcessEvents(make_pipeline(), ledger)
        first = asyncio.create_task(use_case.process(raw_event()))
        second = asyncio.create_task(use_case.process(raw_event(event_id="pm-1")))
        await _settle()
        assert len(ledger.records) == 1  # the duplicate writes nothing
        assert not first.done() and not second.done()
        ledger.durables[0].complete(LedgerUnavailableError("disk full"))
        for task in (first, second):
            with pytest.raises(LedgerUnavailableError):
                await task

    asyncio.run(scenario())


def test_a_duplicate_of_a_durable_signal_answers_at_once():
    async def scenario():
        ledger = FakeLedger()
        use_case = ProcessEvents(make_pipeline(), ledger)
        first = asyncio.create_task(use_case.process(raw_event()))
        await _settle()
        ledger.durables[0].complete()
        original = await first
        again = await asyncio.wait_for(use_case.process(raw_event()), 1)
        assert again.outcome is Outcome.DUPLICATE
        assert again.duplicate_of == original.signal.signal_id

    asyncio.run(scenario())


def test_a_rejection_records_its_observation_for_the_statistics():
    async def scenario():
        ledger = FakeLedger()
        use_case = ProcessEvents(make_pipeline(), ledger)
        task = asyncio.create_task(use_case.process(raw_event(liquidity_usd=10.0, market_id="x")))
        await _settle()
        assert not task.done()
        kind, event_hash, key, probability = ledger.records[0]
        assert (kind, key, probability) == ("observation", "polymarket:x", 0.62)
        ledger.durables[0].complete()
        result = await task
        assert result.outcome is Outcome.REJECTED
        assert result.input_event_hash == event_hash

    asyncio.run(scenario())


def test_nothing_is_processed_once_the_ledger_failed():
    ledger = FakeLedger()
    ledger._failed = LedgerUnavailableError("failed closed")
    use_case = ProcessEvents(make_pipeline(), ledger)
    with pytest.raises(LedgerUnavailableError):
        use_case.submit(raw_event())
    assert ledger.records == []
