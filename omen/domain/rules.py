"""Validation rules share one protocol; they run in a fixed order and the first failure decides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from omen.domain.analysis import EventContext
from omen.domain.signals import RuleStatus, ValidationResult

_FAILED = RuleStatus.FAILED


class Rule(Protocol):
    """A pure check of one analysed event: a name, a version, a result with a reason."""

    name: str
    version: str

    def evaluate(self, ctx: EventContext) -> ValidationResult: ...


def evaluate_rules(
    rules: Sequence[Rule], ctx: EventContext
) -> tuple[tuple[ValidationResult, ...], ValidationResult | None]:
    """Run every rule in order; return all results and the first failure (which decides)."""
    # A list comprehension and a plain loop: generators cost more than the five rules' checks.
    results = tuple([rule.evaluate(ctx) for rule in rules])
    for result in results:
        if result.status is _FAILED:
            return results, result
    return results, None
