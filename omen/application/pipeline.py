"""The Process use case: hash -> duplicate check -> rules -> enrichment -> store."""

from __future__ import annotations

from omen.application.ports import EventHasher, SignalRepository
from omen.domain.enrichment import build_signal
from omen.domain.events import RawEvent
from omen.domain.rules import build_rules, evaluate_rules
from omen.domain.ruleset import Ruleset
from omen.domain.signals import Outcome, ProcessResult


class Pipeline:
    """Processes well-formed events; callers validate structure first (domain.validation)."""

    def __init__(self, ruleset: Ruleset, hasher: EventHasher, repository: SignalRepository):
        self._ruleset = ruleset
        self._rules = build_rules(ruleset)
        self._hasher = hasher
        self._repository = repository

    @property
    def ruleset(self) -> Ruleset:
        return self._ruleset

    def process(self, event: RawEvent, trace_id: str = "") -> ProcessResult:
        """Decide one event. Synchronous and free of awaits, so the duplicate check and the
        store happen atomically with respect to other calls on the same event loop."""
        event_hash = self._hasher(event)
        original = self._repository.get_by_event_hash(event_hash)
        if original is not None:
            return ProcessResult(
                Outcome.DUPLICATE,
                event_hash,
                original.validation_results,
                signal=original,
                duplicate_of=original.signal_id,
            )
        results, failure = evaluate_rules(self._rules, event)
        if failure is not None:
            return ProcessResult(
                Outcome.REJECTED,
                event_hash,
                results,
                reason=f"{failure.rule_name}: {failure.reason}",
            )
        signal, reason = build_signal(event, event_hash, results, self._ruleset, trace_id)
        if signal is None:
            return ProcessResult(Outcome.REJECTED, event_hash, results, reason=reason)
        self._repository.add(signal)
        return ProcessResult(Outcome.EMITTED, event_hash, results, signal=signal)
