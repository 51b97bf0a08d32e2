"""Process use case with durability: decide an event, append what it produced to the ledger,
answer only once that is durable (invariant 1: ledger first).

`submit` is synchronous: the pipeline's duplicate check, its history update and the ledger
append happen in one step, so the ledger's order is the order the statistics saw events in,
and replaying it rebuilds them exactly. `process` then awaits the group commit. `submit_many`
does the same for a stream message: every event through the pipeline, in order, then one
ledger append for all of their records (one group commit, usually), before anything else runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from omen.application.pipeline import Pipeline
from omen.application.ports import (
    Durable,
    ObservationRecord,
    SignalLedger,
    SignalRecord,
)
from omen.domain.anomaly import market_key
from omen.domain.events import RawEvent
from omen.domain.signals import Outcome, ProcessResult
from omen.domain.validation import FieldViolation

_PURGE_EVERY = 4096


class ProcessEvents:
    def __init__(self, pipeline: Pipeline, ledger: SignalLedger):
        self._pipeline = pipeline
        self._ledger = ledger
        # Signals emitted but not yet durable, by id: a duplicate of one waits for it too, so
        # no answer ever refers to a signal that a crash could still lose.
        self._pending: dict[str, Durable] = {}
        self._submitted = 0

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline

    @property
    def failed(self) -> Exception | None:
        """Why the ledger failed closed, or None while it works."""
        return self._ledger.failed

    def refusal(self, event: RawEvent, prefix: str = "event") -> FieldViolation | None:
        """A violation when the ledger cannot record `event` (its date is sealed for good):
        such an event must fail before it is decided, or the index and the statistics would
        hold what the ledger does not."""
        reason = self._ledger.refuses(event.observed_at_ns)
        return None if reason is None else FieldViolation(prefix + ".observed_at", reason)

    def submit(self, event: RawEvent, trace_id: str = "") -> tuple[ProcessResult, Durable | None]:
        """Decide `event` and queue its ledger record; the result may be reported once the
        returned Durable (None: nothing to wait for) completes."""
        failed = self._ledger.failed
        if failed is not None:
            raise failed
        self._count(1)
        result = self._pipeline.process(event, trace_id)
        if result.outcome is Outcome.EMITTED:
            signal = result.signal
            assert signal is not None
            ticket = self._ledger.append_signal(signal, market_key(event), event.probability)
            self._pipeline.settle()
            if not ticket.durable.done:
                self._pending[signal.signal_id] = ticket.durable
            return result, ticket.durable
        if result.outcome is Outcome.REJECTED:
            ticket = self._ledger.append_observation(
                result.input_event_hash, market_key(event), event.probability, event.observed_at_ns
            )
            return result, ticket.durable
        durable = self._pending.get(result.duplicate_of)
        return result, durable

    async def process(self, event: RawEvent, trace_id: str = "") -> ProcessResult:
        result, durable = self.submit(event, trace_id)
        if durable is not None:
            # Also when already done: wait_async then raises if the commit failed.
            await durable.wait_async()
        if result.outcome is Outcome.EMITTED and result.signal is not None:
            self._pending.pop(result.signal.signal_id, None)
        return result

    def submit_many(
        self,
        events: Sequence[RawEvent],
        trace_id: str = "",
        originals: bool = True,
        encoded: bool = False,
    ) -> SubmittedBatch:
        """Decide `events` in order and queue their ledger records with one append; the
        results may be reported once `SubmittedBatch.durable()` returns. `originals`: as
        Pipeline.process's `original` (False: a DUPLICATE carries only the original's id).
        `encoded`: as Pipeline.process_many's (for a caller that stores and acknowledges the
        signals rather than reading them).

        Nothing awaits in between, so no other call's events interleave: the ledger's order
        stays the order the statistics saw events in.
        """
        failed = self._ledger.failed
        if failed is not None:
            raise failed
        self._count(len(events))
        results: list[ProcessResult] = []
        keys: list[str] = []
        try:
            self._pipeline.process_many(events, trace_id, originals, results, keys, encoded)
        except BaseException:
            # The index and the statistics already hold what was decided: so must the ledger.
            records, _ = self._records(events, results, keys)
            if records:
                self._ledger.append_many(records)
                self._pipeline.settle()
            raise
        records, waits = self._records(events, results, keys)
        tickets = self._ledger.append_many(records) if records else ()
        self._pipeline.settle()
        emitted: list[str] = []
        unsettled = self._pending
        last: Durable | None = None
        done = True
        for record, ticket in zip(records, tickets, strict=True):
            durable = ticket.durable
            if durable is not last:  # appends of one group commit share one Durable
                waits.append(durable)
                last = durable
                done = durable.done
            if not done and isinstance(record, SignalRecord):
                signal_id = record.signal.signal_id
                unsettled[signal_id] = durable
                emitted.append(signal_id)
        return SubmittedBatch(results, waits, emitted, self._pending)

    def _records(
        self, events: Sequence[RawEvent], results: list[ProcessResult], keys: list[str]
    ) -> tuple[list[SignalRecord | ObservationRecord], list[Durable]]:
        """The ledger records of `results` (those of the first events, when one raised) and the
        pending originals their duplicates wait for."""
        records: list[SignalRecord | ObservationRecord] = []
        waits: list[Durable] = []
        pending = self._pending
        emitted, rejected = Outcome.EMITTED, Outcome.REJECTED
        for event, result, key in zip(events, results, keys, strict=False):
            outcome = result.outcome
            if outcome is emitted:
                signal = result.signal
                assert signal is not None
                records.append(SignalRecord(signal, key, event.probability))
            elif outcome is rejected:
                records.append(
                    ObservationRecord(
                        result.input_event_hash, key, event.probability, event.observed_at_ns
                    )
                )
            else:
                # A duplicate of a signal emitted earlier in this message is covered by this
                # message's own commit; one of an earlier message may still be pending.
                original = pending.get(result.duplicate_of)
                if original is not None:
                    waits.append(original)
        return records, waits

    async def process_many(
        self, events: Sequence[RawEvent], trace_id: str = ""
    ) -> list[ProcessResult]:
        batch = self.submit_many(events, trace_id)
        await batch.durable()
        return batch.results

    def _count(self, events: int) -> None:
        before = self._submitted
        self._submitted = before + events
        if before // _PURGE_EVERY != self._submitted // _PURGE_EVERY:
            pending = self._pending
            for signal_id in [k for k, d in pending.items() if d.done]:
                del pending[signal_id]


class SubmittedBatch:
    """The results of one submit_many, in the events' order; report them only once
    `durable()` returned (it raises LedgerUnavailableError if they never will be durable)."""

    __slots__ = ("_emitted", "_pending", "_waits", "results")

    def __init__(
        self,
        results: list[ProcessResult],
        waits: list[Durable],
        emitted: list[str],
        pending: dict[str, Durable],
    ):
        self.results = results
        self._waits = waits
        self._emitted = emitted
        self._pending = pending

    def absorb(self, other: SubmittedBatch) -> None:
        """Add a later batch (its results dropped) to this one: `durable()` then waits for
        both."""
        self._waits.extend(other._waits)
        self._emitted.extend(other._emitted)

    def drop_results(self) -> None:
        """Forget the results (the caller has encoded its answer from them): a stream's batch
        waits in a queue for its group commit, and its signals must not live that long. Kept
        past the message that made them, their memory is reused cold (issue 6's notes)."""
        self.results = []

    async def durable(self) -> None:
        """Return once every record of the batch (and every pending original that one of its
        duplicates refers to) is durable. Cancelling the wait cancels no ledger work."""
        for durable in self._waits:
            await durable.wait_async()
        pending = self._pending
        for signal_id in self._emitted:
            pending.pop(signal_id, None)
