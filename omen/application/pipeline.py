"""The Process use case: hash -> duplicate check -> analysis -> rules -> classification ->
confidence -> signal -> store, with per-market history recorded only for emitted signals."""

from __future__ import annotations

from omen.application.ports import EventHasher, SignalRepository
from omen.domain.analysis import EventContext, TextAnalyzer, TextMatcherFactory
from omen.domain.anomaly import AnomalyRule, ChangeStatistics, market_key
from omen.domain.classification import classify
from omen.domain.enrichment import build_signal
from omen.domain.events import RawEvent
from omen.domain.freshness import FreshnessRule
from omen.domain.geography import GeographicRule, locate
from omen.domain.geography import lexicon_entries as place_terms
from omen.domain.liquidity import LiquidityRule
from omen.domain.rules import Rule, evaluate_rules
from omen.domain.ruleset import Ruleset
from omen.domain.semantic import SemanticRule, irregular_forms
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
    ):
        """`text_matcher` builds the tokeniser and term matcher from the ruleset's terms: the
        domain's TextAnalyzer (the reference) unless a compiled one is injected."""
        self._ruleset = ruleset
        self._hasher = hasher
        self._repository = repository
        self._statistics = statistics
        self._analyzer = text_matcher(
            [*topic_terms(ruleset.semantic), *place_terms(ruleset.geographic)],
            irregular_forms(ruleset.semantic),
        )
        # The fixed order in which rules run; the first failure decides a rejection.
        self._rules: tuple[Rule, ...] = (
            LiquidityRule(ruleset.liquidity),
            SemanticRule(ruleset.semantic),
            GeographicRule(ruleset.geographic),
            AnomalyRule(ruleset.anomaly),
            FreshnessRule(ruleset.freshness),
        )

    @property
    def ruleset(self) -> Ruleset:
        return self._ruleset

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def analyze(self, event: RawEvent) -> EventContext:
        """Tokenise and match once, locate, and read the market's history (read-only)."""
        text = self._analyzer.analyze(event)
        geo = locate(event, text, self._ruleset.geographic)
        history = self._statistics.observe(market_key(event), event.probability)
        return EventContext(event, text, geo, history)

    def process(self, event: RawEvent, trace_id: str = "") -> ProcessResult:
        """Decide one event. Synchronous, so the duplicate check, the store and the history
        update are atomic with respect to other calls on the same event loop."""
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
        # analyze(), inlined: this runs for every event that is not a duplicate.
        key = market_key(event)
        text = self._analyzer.analyze(event)
        ctx = EventContext(
            event,
            text,
            locate(event, text, self._ruleset.geographic),
            self._statistics.observe(key, event.probability),
        )
        results, failure = evaluate_rules(self._rules, ctx)
        self._statistics.record(key, event.probability)
        if failure is not None:
            return ProcessResult(
                Outcome.REJECTED,
                event_hash,
                results,
                reason=f"{failure.rule_name}: {failure.reason}",
            )
        classification = classify(ctx.text, bool(ctx.geo.chokepoints), self._ruleset.semantic)
        signal, reason = build_signal(
            ctx,
            event_hash,
            results,
            classification,
            self._ruleset.confidence,
            self._ruleset.version,
            trace_id,
        )
        if signal is None:
            return ProcessResult(Outcome.REJECTED, event_hash, results, reason=reason)
        self._repository.add(signal)
        return ProcessResult(Outcome.EMITTED, event_hash, results, signal=signal)
