"""ProcessEvents: answers wait for the ledger (invariant 1), with a fake ledger."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from omen.application.ports import SignalLedger
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


@dataclass
class FakeTicket:
    partition: str
    sequence: int
    durable: FakeDurable


class FakeLedger(SignalLedger):
    def __init__(self) -> None:
        self.records: list[tuple] = []
        self.durables: list[FakeDurable] = []
        self.batches: list[int] = []  # records per append_many call
        self._failed: Exception | None = None

    def _ticket(self) -> FakeTicket:
        durable = FakeDurable()
        self.durables.append(durable)
        return FakeTicket("2026-11-26", len(self.records), durable)

    def append_signal(self, signal: OmenSignal, market_key: str, probability: float):
        self.records.append(("signal", signal.signal_id, market_key, probability))
        return self._ticket()

    def append_observation(self, event_hash, market_key, probability, observed_at_ns):
        self.records.append(("observation", event_hash, market_key, probability))
        return self._ticket()

    def append_many(self, records):
        self.batches.append(len(records))
        return super().append_many(records)

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


def test_a_stream_message_is_decided_in_order_and_appended_with_one_call():
    async def scenario():
        ledger = FakeLedger()
        use_case = ProcessEvents(make_pipeline(), ledger)
        batch = use_case.submit_many(
            [
                raw_event(event_id="a"),
                raw_event(event_id="thin", market_id="thin", liquidity_usd=10.0),
                raw_event(event_id="a"),  # the same event again, in the same message
                raw_event(event_id="b", market_id="m-2"),
            ]
        )
        assert [r.outcome for r in batch.results] == [
            Outcome.EMITTED,
            Outcome.REJECTED,
            Outcome.DUPLICATE,
            Outcome.EMITTED,
        ]
        assert ledger.batches == [3]  # one append for the message; the duplicate writes nothing
        assert [(r[0], r[2]) for r in ledger.records] == [
            ("signal", "polymarket:m-1"),
            ("observation", "polymarket:thin"),
            ("signal", "polymarket:m-2"),
        ]
        assert batch.results[2].duplicate_of == batch.results[0].signal.signal_id
        waiting = asyncio.create_task(batch.durable())
        await _settle()
        assert not waiting.done()
        for durable in ledger.durables:
            durable.complete()
        await asyncio.wait_for(waiting, 1)

    asyncio.run(scenario())


def test_an_event_that_raises_mid_message_leaves_the_earlier_ones_recorded():
    """What the index and the statistics hold, the ledger must hold: the events decided before
    the one that raised are appended (one call) before the error propagates."""
    from omen._native import hashing_py

    def hasher(event):
        if event.event_id == "boom":
            raise RuntimeError("hasher failed")
        return hashing_py.event_hash(event)

    ledger = FakeLedger()
    use_case = ProcessEvents(make_pipeline(hasher=hasher), ledger)
    with pytest.raises(RuntimeError, match="hasher failed"):
        use_case.submit_many(
            [
                raw_event(event_id="a"),
                raw_event(event_id="thin", market_id="thin", liquidity_usd=10.0),
                raw_event(event_id="boom", market_id="m-3"),
                raw_event(event_id="never", market_id="m-4"),
            ]
        )
    assert ledger.batches == [2]
    assert [(r[0], r[2]) for r in ledger.records] == [
        ("signal", "polymarket:m-1"),
        ("observation", "polymarket:thin"),
    ]
    # The same events again are duplicates of what was recorded, not new signals.
    again = use_case.submit_many([raw_event(event_id="a")])
    assert [r.outcome for r in again.results] == [Outcome.DUPLICATE]


def test_a_message_is_reportable_only_once_every_one_of_its_records_is_durable():
    async def scenario():
        ledger = FakeLedger()
        use_case = ProcessEvents(make_pipeline(), ledger)
        batch = use_case.submit_many([raw_event(event_id="x"), raw_event(event_id="y")])
        waiting = asyncio.create_task(batch.durable())
        ledger.durables[1].complete()
        await _settle()
        assert not waiting.done()  # the first record is not durable yet
        ledger.durables[0].complete()
        await asyncio.wait_for(waiting, 1)

    asyncio.run(scenario())


def test_a_duplicate_of_a_signal_still_pending_from_an_earlier_message_waits_for_it():
    async def scenario():
        ledger = FakeLedger()
        use_case = ProcessEvents(make_pipeline(), ledger)
        first = use_case.submit_many([raw_event()])
        second = use_case.submit_many([raw_event()])
        assert second.results[0].outcome is Outcome.DUPLICATE
        assert ledger.batches == [1]  # the second message appended nothing
        waiting = asyncio.create_task(second.durable())
        await _settle()
        assert not waiting.done()
        ledger.durables[0].complete(LedgerUnavailableError("disk full"))
        for task in (waiting, asyncio.create_task(first.durable())):
            with pytest.raises(LedgerUnavailableError):
                await task

    asyncio.run(scenario())


def test_a_message_of_duplicates_of_durable_signals_is_reportable_at_once():
    async def scenario():
        ledger = FakeLedger()
        use_case = ProcessEvents(make_pipeline(), ledger)
        first = use_case.submit_many([raw_event()])
        ledger.durables[0].complete()
        await first.durable()
        again = await asyncio.wait_for(use_case.process_many([raw_event(), raw_event()]), 1)
        assert [r.outcome for r in again] == [Outcome.DUPLICATE, Outcome.DUPLICATE]

    asyncio.run(scenario())


def test_ledger_order_across_messages_is_the_order_the_events_were_submitted():
    ledger = FakeLedger()
    use_case = ProcessEvents(make_pipeline(), ledger)
    use_case.submit_many([raw_event(event_id=f"o-{i}", market_id=f"o-{i}") for i in range(3)])
    use_case.submit(raw_event(event_id="single", market_id="single"))
    use_case.submit_many([raw_event(event_id=f"p-{i}", market_id=f"p-{i}") for i in range(2)])
    assert [r[2] for r in ledger.records] == [
        "polymarket:o-0",
        "polymarket:o-1",
        "polymarket:o-2",
        "polymarket:single",
        "polymarket:p-0",
        "polymarket:p-1",
    ]


def test_a_message_is_refused_whole_once_the_ledger_failed():
    ledger = FakeLedger()
    ledger._failed = LedgerUnavailableError("failed closed")
    use_case = ProcessEvents(make_pipeline(), ledger)
    with pytest.raises(LedgerUnavailableError):
        use_case.submit_many([raw_event(), raw_event(event_id="other")])
    assert ledger.records == []


@pytest.mark.parametrize("decider", ["compiled", "twin", "reference"])
def test_an_encoded_message_decides_and_records_as_a_plain_one(decider: str) -> None:
    """submit_many(encoded=True), a stream's: with a RecordDecider each EMITTED signal is the
    EncodedSignal of its record, equal to the signal a plain submit gives; the domain's
    reference decider has no record form, and its signals are plain."""
    from omen import native
    from omen._native import decision_py
    from omen.adapters.ledger.records import EncodedSignal
    from omen.adapters.repository.memory import InMemorySignalRepository
    from omen.adapters.ruleset_file import load_ruleset
    from omen.application.pipeline import Pipeline
    from omen.domain.anomaly import RollingRobustStatistics
    from omen.domain.decision import RulesetDecider

    factory = {
        "compiled": native.decision.Decider,
        "twin": decision_py.Decider,
        "reference": RulesetDecider,
    }[decider]

    def pipeline() -> Pipeline:
        ruleset = load_ruleset()
        return Pipeline(
            ruleset,
            native.hashing.event_hash,
            InMemorySignalRepository(),
            RollingRobustStatistics.from_params(ruleset.anomaly),
            decider=factory,
        )

    events = [
        raw_event(event_id="a"),
        raw_event(event_id="thin", market_id="thin", liquidity_usd=10.0),
        raw_event(event_id="a"),
        raw_event(event_id="b", market_id="m-2", probability=0.7),
    ]
    plain = ProcessEvents(pipeline(), FakeLedger()).submit_many(events).results
    ledger = FakeLedger()
    encoded = ProcessEvents(pipeline(), ledger).submit_many(events, encoded=True).results
    assert encoded == plain
    emitted = [r.signal for r in encoded if r.outcome is Outcome.EMITTED]
    assert len(emitted) == 2
    kinds = {type(s) for s in emitted}
    assert kinds == ({OmenSignal} if decider == "reference" else {EncodedSignal})
    assert [r[1] for r in ledger.records if r[0] == "signal"] == [s.signal_id for s in emitted]
