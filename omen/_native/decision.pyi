"""Stubs of the compiled omen._native.decision (same API as omen._native.decision_py)."""

from typing import final

from omen.domain.analysis import EventContext, GeoFindings, MarketHistory, TextAnalysis
from omen.domain.classification import Classification
from omen.domain.events import RawEvent
from omen.domain.rules import Rule
from omen.domain.ruleset import Ruleset
from omen.domain.signals import OmenSignal, ProcessResult, ValidationResult

@final
class Decider:
    """Decides analysed events under one ruleset.

    Implements omen.domain.decision.Decider with RulesetDecider's results.
    """

    def __init__(self, ruleset: Ruleset) -> None: ...
    @property
    def rules(self) -> tuple[Rule, ...]: ...
    def locate(self, event: RawEvent, text: TextAnalysis) -> GeoFindings: ...
    def evaluate(
        self, ctx: EventContext
    ) -> tuple[tuple[ValidationResult, ...], ValidationResult | None]: ...
    def classify(self, text: TextAnalysis, geo_has_chokepoint: bool) -> Classification: ...
    def build_signal(
        self,
        ctx: EventContext,
        input_event_hash: str,
        results: tuple[ValidationResult, ...],
        classification: Classification,
        trace_id: str = "",
    ) -> tuple[OmenSignal | None, str]: ...
    def decide(
        self,
        event: RawEvent,
        text: TextAnalysis,
        history: MarketHistory,
        input_event_hash: str,
        trace_id: str = "",
    ) -> ProcessResult: ...

def format_number(value: float, precision: int, sign: bool = False, group: bool = False) -> str:
    """format(value, f"{'+' if sign else ''}{',' if group else ''}.{precision}f") for a
    precision of 0 to 20 (else ValueError), as the decider's texts write numbers."""

def fast_layouts() -> dict[str, bool]:
    """Each value class -> True when it is built without running its __init__ (slots.pxd)."""

def direct_fields() -> dict[str, bool]:
    """Each field read from a domain object, "Class.field" -> True when it is read straight
    from its slot (compiled module only; the twin has no such path)."""
