"""Process use case with durability: decide an event, append what it produced to the ledger,
answer only once that is durable (invariant 1: ledger first).

`submit` is synchronous: the pipeline's duplicate check, its history update and the ledger
append happen in one step, so the ledger's order is the order the statistics saw events in,
and replaying it rebuilds them exactly. `process` then awaits the group commit.
"""

from __future__ import annotations

from omen.application.pipeline import Pipeline
from omen.application.ports import Durable, SignalLedger
from omen.domain.anomaly import market_key
from omen.domain.events import RawEvent
from omen.domain.signals import Outcome, ProcessResult

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

    def submit(self, event: RawEvent, trace_id: str = "") -> tuple[ProcessResult, Durable | None]:
        """Decide `event` and queue its ledger record; the result may be reported once the
        returned Durable (None: nothing to wait for) completes."""
        failed = self._ledger.failed
        if failed is not None:
            raise failed
        self._submitted += 1
        if self._submitted % _PURGE_EVERY == 0:
            self._pending = {k: d for k, d in self._pending.items() if not d.done}
        result = self._pipeline.process(event, trace_id)
        if result.outcome is Outcome.EMITTED:
            signal = result.signal
            assert signal is not None
            ticket = self._ledger.append_signal(signal, market_key(event), event.probability)
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
        if durable is not None and not durable.done:
            await durable.wait_async()
        if result.outcome is Outcome.EMITTED and result.signal is not None:
            self._pending.pop(result.signal.signal_id, None)
        return result
