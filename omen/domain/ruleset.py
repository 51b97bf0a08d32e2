"""Ruleset parameters: every threshold the rules and the confidence formula use, with a version."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LiquidityParams:
    """Pass at >= min_usd; score = min(1, liquidity / full_score_usd)."""

    min_usd: float = 1_000.0
    full_score_usd: float = 10_000.0


@dataclass(frozen=True, slots=True)
class ConfidenceParams:
    """Weights of the provisional confidence formula and the level / status thresholds."""

    rules_weight: float = 0.7
    source_weight: float = 0.3
    # Reliability of each source in [0, 1]; sources not listed get default_source_reliability.
    source_reliability: tuple[tuple[str, float], ...] = (("polymarket", 0.8),)
    default_source_reliability: float = 0.5
    level_high: float = 0.75
    level_medium: float = 0.50
    status_active: float = 0.70
    status_monitoring: float = 0.50
    status_candidate: float = 0.30


@dataclass(frozen=True, slots=True)
class Ruleset:
    """A named, versioned set of parameters; the version is stamped into every signal."""

    version: str
    liquidity: LiquidityParams = field(default_factory=LiquidityParams)
    confidence: ConfidenceParams = field(default_factory=ConfidenceParams)
