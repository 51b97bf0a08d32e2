"""Deciding one analysed event: geography, the five rules, classification and the signal.

The pipeline hands every non-duplicate event's text analysis and market history to a Decider,
which locates the event, runs the rules in their fixed order, and for an accepted event
classifies it and builds its signal. RulesetDecider below is the reference, written with the
domain's own functions; omen._native.decision implements the same port compiled and must give
equal values for every input (same results, same reasons, same signal, field by field).
"""

from __future__ import annotations

from typing import Protocol

from omen.domain.analysis import EventContext, GeoFindings, MarketHistory, TextAnalysis
from omen.domain.anomaly import AnomalyRule
from omen.domain.classification import Classification, classify
from omen.domain.enrichment import build_signal
from omen.domain.events import RawEvent
from omen.domain.freshness import FreshnessRule
from omen.domain.geography import GeographicRule, locate
from omen.domain.liquidity import LiquidityRule
from omen.domain.rules import Rule, evaluate_rules
from omen.domain.ruleset import Ruleset
from omen.domain.semantic import SemanticRule
from omen.domain.signals import OmenSignal, Outcome, ProcessResult, ValidationResult


class Decider(Protocol):
    """Decides analysed events under one ruleset: the port omen._native.decision implements.

    A Protocol rather than an ABC because a Cython cdef class cannot inherit from an ABC. The
    stage methods exist so that each stage can be tested and measured on its own; decide() is
    what the pipeline calls and must equal running them in order.
    """

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The domain rules, in the order they run (for callers that list or run them)."""
        ...

    def locate(self, event: RawEvent, text: TextAnalysis) -> GeoFindings:
        """omen.domain.geography.locate under this decider's ruleset."""
        ...

    def evaluate(
        self, ctx: EventContext
    ) -> tuple[tuple[ValidationResult, ...], ValidationResult | None]:
        """Every rule's result in order, and the first failure (which decides)."""
        ...

    def classify(self, text: TextAnalysis, geo_has_chokepoint: bool) -> Classification:
        """omen.domain.classification.classify under this decider's ruleset."""
        ...

    def build_signal(
        self,
        ctx: EventContext,
        input_event_hash: str,
        results: tuple[ValidationResult, ...],
        classification: Classification,
        trace_id: str = "",
    ) -> tuple[OmenSignal | None, str]:
        """omen.domain.enrichment.build_signal under this decider's ruleset."""
        ...

    def decide(
        self,
        event: RawEvent,
        text: TextAnalysis,
        history: MarketHistory,
        input_event_hash: str,
        trace_id: str = "",
    ) -> ProcessResult:
        """REJECTED with every rule's result and the reason, or EMITTED with the signal."""
        ...


class RecordDecider(Decider, Protocol):
    """A Decider that can also hand over an emitted signal in its stored form: the deciders of
    omen._native (compiled, and the twin) are; the domain's reference is not (the form is the
    ledger's). The pipeline uses decide_record for batches whose signals are stored and
    acknowledged rather than read (a stream's)."""

    def decide_record(
        self,
        event: RawEvent,
        text: TextAnalysis,
        history: MarketHistory,
        input_event_hash: str,
        trace_id: str,
        market_key: str,
    ) -> ProcessResult:
        """decide(), an EMITTED signal being an OmenSignal that holds its ledger record for
        `market_key` and the event's probability, and reads its other fields from it when
        first asked (equal to decide()'s signal in every field)."""
        ...


class DeciderFactory(Protocol):
    """Builds a Decider from a ruleset (the pipeline builds its decider through one of these)."""

    def __call__(self, ruleset: Ruleset) -> Decider: ...


class RulesetDecider:
    """The reference Decider: the domain's functions, called in the pipeline's order."""

    def __init__(self, ruleset: Ruleset) -> None:
        self._ruleset = ruleset
        self._geographic = ruleset.geographic
        self._semantic = ruleset.semantic
        self._confidence = ruleset.confidence
        self._version = ruleset.version
        # The fixed order in which rules run; the first failure decides a rejection.
        self._rules: tuple[Rule, ...] = (
            LiquidityRule(ruleset.liquidity),
            SemanticRule(ruleset.semantic),
            GeographicRule(ruleset.geographic),
            AnomalyRule(ruleset.anomaly),
            FreshnessRule(ruleset.freshness),
        )

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def locate(self, event: RawEvent, text: TextAnalysis) -> GeoFindings:
        return locate(event, text, self._geographic)

    def evaluate(
        self, ctx: EventContext
    ) -> tuple[tuple[ValidationResult, ...], ValidationResult | None]:
        return evaluate_rules(self._rules, ctx)

    def classify(self, text: TextAnalysis, geo_has_chokepoint: bool) -> Classification:
        return classify(text, geo_has_chokepoint, self._semantic)

    def build_signal(
        self,
        ctx: EventContext,
        input_event_hash: str,
        results: tuple[ValidationResult, ...],
        classification: Classification,
        trace_id: str = "",
    ) -> tuple[OmenSignal | None, str]:
        return build_signal(
            ctx,
            input_event_hash,
            results,
            classification,
            self._confidence,
            self._version,
            trace_id,
        )

    def decide(
        self,
        event: RawEvent,
        text: TextAnalysis,
        history: MarketHistory,
        input_event_hash: str,
        trace_id: str = "",
    ) -> ProcessResult:
        # The stages above, in order: what the Decider port says decide() must equal.
        ctx = EventContext(event, text, self.locate(event, text), history)
        results, failure = self.evaluate(ctx)
        if failure is not None:
            reason = f"{failure.rule_name}: {failure.reason}"
            return ProcessResult(Outcome.REJECTED, input_event_hash, results, reason=reason)
        classification = self.classify(text, bool(ctx.geo.chokepoints))
        signal, reason = self.build_signal(ctx, input_event_hash, results, classification, trace_id)
        if signal is None:
            return ProcessResult(Outcome.REJECTED, input_event_hash, results, reason=reason)
        return ProcessResult(Outcome.EMITTED, input_event_hash, results, signal=signal)
