"""Validation rules: each has a name, a version, and gives a ValidationResult for an event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from omen.domain.events import RawEvent
from omen.domain.ruleset import LiquidityParams, Ruleset
from omen.domain.signals import RuleStatus, ValidationResult


class Rule(Protocol):
    """A pure check of one event."""

    name: str
    version: str

    def evaluate(self, event: RawEvent) -> ValidationResult: ...


class LiquidityRule:
    """Thin markets are cheap to move: require a minimum liquidity in USD."""

    name = "liquidity"
    version = "1.0.0"

    def __init__(self, params: LiquidityParams) -> None:
        self._min = params.min_usd
        self._full = params.full_score_usd

    def evaluate(self, event: RawEvent) -> ValidationResult:
        liquidity = event.liquidity_usd
        score = min(1.0, liquidity / self._full) if self._full > 0 else 1.0
        if liquidity >= self._min:
            return ValidationResult(
                self.name,
                self.version,
                RuleStatus.PASSED,
                score,
                f"liquidity ${liquidity:,.2f} >= ${self._min:,.2f}",
            )
        return ValidationResult(
            self.name,
            self.version,
            RuleStatus.FAILED,
            score,
            f"liquidity ${liquidity:,.2f} < ${self._min:,.2f}",
        )


def build_rules(ruleset: Ruleset) -> tuple[Rule, ...]:
    """The rules of a ruleset, in the fixed order they run."""
    return (LiquidityRule(ruleset.liquidity),)


def evaluate_rules(
    rules: Sequence[Rule], event: RawEvent
) -> tuple[tuple[ValidationResult, ...], ValidationResult | None]:
    """Run every rule in order; return all results and the first failure (which decides)."""
    results = tuple(rule.evaluate(event) for rule in rules)
    first_failure = next((r for r in results if r.failed), None)
    return results, first_failure
