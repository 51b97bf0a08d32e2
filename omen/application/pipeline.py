"""The Process use case: hash -> duplicate check -> analysis -> rules -> classification ->
confidence -> signal -> store, with every non-duplicate event recorded in its market's history."""

from __future__ import annotations

from collections.abc import Iterable

from omen.application.ports import EventHasher, SignalRepository
from omen.domain.analysis import EventContext, TextAnalyzer, TextMatcherFactory
from omen.domain.anomaly import ChangeStatistics, market_key
from omen.domain.decision import DeciderFactory, RulesetDecider
from omen.domain.events import RawEvent
from omen.domain.geography import lexicon_entries as place_terms
from omen.domain.rules import Rule
from omen.domain.ruleset import Ruleset
from omen.domain.semantic import irregular_forms
from omen.domain.semantic import lexicon_entries as topic_terms
from omen.domain.signals import Outcome, ProcessResult


class Pipeline:
    """Processes well-formed events (callers validate structure first: domain.validation).

    Every event that reaches the rules (not duplicates) is recorded in its market's history,
    emitted or rejected: recording only emitted events would compare a market that really moved
    with its old level forever and keep rejecting it. Rebuilding the statistics from the ledger
    therefore needs the rejected events' (market, probability) in ledger order too.
    """

    def __init__(
        self,
        ruleset: Ruleset,
        hasher: EventHasher,
        repository: SignalRepository,
        statistics: ChangeStatistics,
        text_matcher: TextMatcherFactory = TextAnalyzer,
        decider: DeciderFactory = RulesetDecider,
    ):
        """`text_matcher` builds the tokeniser and term matcher from the ruleset's terms, and
        `decider` the geography, rules, classification and signal building from the ruleset:
        the domain's references (TextAnalyzer, RulesetDecider) unless compiled ones are
        injected."""
        self._ruleset = ruleset
        self._repository = repository
        self._statistics = statistics
        self._analyzer = text_matcher(
            [*topic_terms(ruleset.semantic), *place_terms(ruleset.geographic)],
            irregular_forms(ruleset.semantic),
        )
        self._decider = decider(ruleset)
        # A RecordDecider's decide_record, for process_many(encoded=True); None: decide.
        self._decide_record = getattr(self._decider, "decide_record", None)
        # process_many's collaborators, bound once: a call for one event (Process, the unary
        # RPC) then costs no more than the event's own work.
        self._steps = (
            hasher,
            repository.signal_id_by_event_hash,
            repository.get_by_event_hash,
            self._analyzer.analyze,
            self._statistics.observe,
            self._statistics.record,
            self._decider.decide,
            repository.add,
        )

    @property
    def ruleset(self) -> Ruleset:
        return self._ruleset

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules in the fixed order they run; the first failure decides a rejection."""
        return self._decider.rules

    def analyze(self, event: RawEvent) -> EventContext:
        """Tokenise and match once, locate, and read the market's history (read-only)."""
        text = self._analyzer.analyze(event)
        geo = self._decider.locate(event, text)
        history = self._statistics.observe(market_key(event), event.probability)
        return EventContext(event, text, geo, history)

    def settle(self) -> None:
        """Call once the ledger has accepted the records of the signals processed so far."""
        self._repository.settle()

    def process(self, event: RawEvent, trace_id: str = "", original: bool = True) -> ProcessResult:
        """Decide one event. Synchronous, so the duplicate check, the store and the history
        update are atomic with respect to other calls on the same event loop.

        A DUPLICATE result carries the original signal and its rule results; with `original`
        False only the original's id (`duplicate_of`), which spares reading a signal the
        repository no longer holds in memory (a ledger read and a protobuf parse)."""
        results: list[ProcessResult] = []
        self.process_many((event,), trace_id, original, results, [])
        return results[0]

    def process_many(
        self,
        events: Iterable[RawEvent],
        trace_id: str,
        original: bool,
        results: list[ProcessResult],
        keys: list[str],
        encoded: bool = False,
    ) -> None:
        """process() of each event in order, appending its result to `results` and its market
        key to `keys` ("" for a duplicate, which touches no history). One call for a stream
        message: the per-event work without a Python call per event. `encoded`: with a
        RecordDecider, each EMITTED signal holds its ledger record for that key and the event's
        probability (decide_record), and builds its other fields only if they are read.

        When an event raises, the lists hold the results of the events before it: the index
        and the statistics hold those already, so the caller must still record them."""
        hasher, duplicate_id, duplicate_signal, analyze, observe, remember, decide, add = (
            self._steps
        )
        decide_record = self._decide_record if encoded else None
        duplicate = Outcome.DUPLICATE
        for event in events:
            event_hash = hasher(event)
            if not original:
                duplicate_of = duplicate_id(event_hash)
                if duplicate_of is not None:
                    results.append(ProcessResult(duplicate, event_hash, duplicate_of=duplicate_of))
                    keys.append("")
                    continue
            else:
                found = duplicate_signal(event_hash)
                if found is not None:
                    results.append(
                        ProcessResult(
                            duplicate,
                            event_hash,
                            found.validation_results,
                            signal=found,
                            duplicate_of=found.signal_id,
                        )
                    )
                    keys.append("")
                    continue
            key = market_key(event)
            probability = event.probability
            text = analyze(event)
            history = observe(key, probability)
            if decide_record is None:
                result = decide(event, text, history, event_hash, trace_id)
            else:
                result = decide_record(event, text, history, event_hash, trace_id, key)
            remember(key, probability)
            signal = result.signal
            if signal is not None:
                add(signal)
            results.append(result)
            keys.append(key)
