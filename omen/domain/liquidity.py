"""The liquidity rule: thin markets are cheap to move, so require a minimum liquidity in USD."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omen.domain.analysis import EventContext
from omen.domain.signals import RuleStatus, ValidationResult


@dataclass(frozen=True, slots=True)
class LiquidityParams:
    """Pass at >= min_usd; score = min(1, liquidity / full_score_usd)."""

    min_usd: float = 1_000.0
    full_score_usd: float = 10_000.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "liquidity") -> LiquidityParams:
        unknown = sorted(set(data) - {"min_usd", "full_score_usd"})
        if unknown:
            raise ValueError(f"{path}.{unknown[0]}: unknown parameter")
        values: dict[str, float] = {}
        for key, default in (("min_usd", 1_000.0), ("full_score_usd", 10_000.0)):
            value = data.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{path}.{key}: must be a number >= 0, got {value!r}")
            values[key] = float(value)
        if values["full_score_usd"] <= 0:
            raise ValueError(f"{path}.full_score_usd: must be > 0")
        return cls(**values)


class LiquidityRule:
    name = "liquidity"
    version = "1.0.0"

    def __init__(self, params: LiquidityParams) -> None:
        self._min = params.min_usd
        self._full = params.full_score_usd
        # The threshold's half of every reason, formatted once.
        self._passed = f" >= ${params.min_usd:,.2f}"
        self._failed = f" < ${params.min_usd:,.2f}"

    def evaluate(self, ctx: EventContext) -> ValidationResult:
        liquidity = ctx.event.liquidity_usd
        score = min(1.0, liquidity / self._full)
        if liquidity >= self._min:
            return ValidationResult(
                self.name,
                self.version,
                RuleStatus.PASSED,
                score,
                f"liquidity ${liquidity:,.2f}{self._passed}",
            )
        return ValidationResult(
            self.name,
            self.version,
            RuleStatus.FAILED,
            score,
            f"liquidity ${liquidity:,.2f}{self._failed}",
        )
