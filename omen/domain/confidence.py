"""Confidence in a signal: a documented weighted sum of four factors, with an interval.

    rules     = mean score of every rule that ran                       (each in [0, 1])
    liquidity = clamp(log10(L / floor) / log10(full / floor), 0, 1)     L = liquidity in USD
    evidence  = min(1, evidence items / evidence_full)
    source    = reliability of the event's source (ruleset table, default for unknown sources)

    score     = w_rules * rules + w_liquidity * liquidity
              + w_evidence * evidence + w_source * source   (weights sum to 1: score in [0, 1])
    interval  = score -/+ (base + spread * (1 - (liquidity + evidence) / 2)), clamped to [0, 1]:
                thin, poorly evidenced signals get wide bands.

Levels: HIGH >= level_high (.75), MEDIUM >= level_medium (.50), else LOW. Status: ACTIVE >= .70,
MONITORING >= .50, CANDIDATE >= .30; below status_candidate no signal is emitted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omen.domain.signals import (
    ConfidenceFactor,
    ConfidenceInterval,
    ConfidenceLevel,
    SignalStatus,
    ValidationResult,
)


def _fraction(data: Mapping[str, Any], key: str, path: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{path}.{key}: must be a number within [0, 1], got {value!r}")
    return float(value)


def _positive(data: Mapping[str, Any], key: str, path: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{path}.{key}: must be a number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class ConfidenceParams:
    """Weights, scales and thresholds of the confidence formula (see the module docstring)."""

    rules_weight: float = 0.40
    liquidity_weight: float = 0.20
    evidence_weight: float = 0.15
    source_weight: float = 0.25
    liquidity_floor_usd: float = 1_000.0
    liquidity_full_usd: float = 1_000_000.0
    evidence_full: float = 6.0
    interval_base: float = 0.03
    interval_spread: float = 0.15
    source_reliability: tuple[tuple[str, float], ...] = (("polymarket", 0.8),)
    default_source_reliability: float = 0.5
    level_high: float = 0.75
    level_medium: float = 0.50
    status_active: float = 0.70
    status_monitoring: float = 0.50
    status_candidate: float = 0.30
    _reliability: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_reliability", dict(self.source_reliability))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "confidence") -> ConfidenceParams:
        known = {f for f in cls.__dataclass_fields__ if not f.startswith("_")}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}.{unknown[0]}: unknown parameter")
        d = cls()
        reliability = data.get("source_reliability", dict(d.source_reliability))
        if not isinstance(reliability, Mapping):
            raise ValueError(f"{path}.source_reliability: must be a table of source = fraction")
        pairs = tuple(
            sorted(
                (str(k).lower(), _fraction(reliability, k, f"{path}.source_reliability", 0))
                for k in reliability
            )
        )
        params = cls(
            rules_weight=_fraction(data, "rules_weight", path, d.rules_weight),
            liquidity_weight=_fraction(data, "liquidity_weight", path, d.liquidity_weight),
            evidence_weight=_fraction(data, "evidence_weight", path, d.evidence_weight),
            source_weight=_fraction(data, "source_weight", path, d.source_weight),
            liquidity_floor_usd=_positive(data, "liquidity_floor_usd", path, d.liquidity_floor_usd),
            liquidity_full_usd=_positive(data, "liquidity_full_usd", path, d.liquidity_full_usd),
            evidence_full=_positive(data, "evidence_full", path, d.evidence_full),
            interval_base=_fraction(data, "interval_base", path, d.interval_base),
            interval_spread=_fraction(data, "interval_spread", path, d.interval_spread),
            source_reliability=pairs,
            default_source_reliability=_fraction(
                data, "default_source_reliability", path, d.default_source_reliability
            ),
            level_high=_fraction(data, "level_high", path, d.level_high),
            level_medium=_fraction(data, "level_medium", path, d.level_medium),
            status_active=_fraction(data, "status_active", path, d.status_active),
            status_monitoring=_fraction(data, "status_monitoring", path, d.status_monitoring),
            status_candidate=_fraction(data, "status_candidate", path, d.status_candidate),
        )
        weights = (
            params.rules_weight
            + params.liquidity_weight
            + params.evidence_weight
            + params.source_weight
        )
        if abs(weights - 1.0) > 1e-9:
            raise ValueError(f"{path}: the four weights must sum to 1, got {weights:g}")
        if not params.liquidity_floor_usd < params.liquidity_full_usd:
            raise ValueError(f"{path}.liquidity_full_usd: must be > liquidity_floor_usd")
        if not params.level_medium <= params.level_high:
            raise ValueError(f"{path}.level_medium: must be <= level_high")
        if not params.status_candidate <= params.status_monitoring <= params.status_active:
            raise ValueError(
                f"{path}: status thresholds must satisfy candidate <= monitoring <= active"
            )
        return params

    def reliability(self, source: str) -> float:
        return self._reliability.get(source.lower(), self.default_source_reliability)


@dataclass(slots=True)
class Confidence:
    score: float
    factors: tuple[ConfidenceFactor, ...]
    interval: ConfidenceInterval
    level: ConfidenceLevel
    status: SignalStatus | None  # None: below the candidate threshold, no signal


def liquidity_factor(liquidity_usd: float, params: ConfidenceParams) -> float:
    if liquidity_usd <= params.liquidity_floor_usd:
        return 0.0
    scale = math.log10(params.liquidity_full_usd / params.liquidity_floor_usd)
    return min(1.0, math.log10(liquidity_usd / params.liquidity_floor_usd) / scale)


def assess(
    results: Sequence[ValidationResult],
    liquidity_usd: float,
    evidence_count: int,
    source: str,
    params: ConfidenceParams,
) -> Confidence:
    """Apply the formula in the module docstring."""
    # Written out term by term (no generators, no intermediate lists): this runs for every
    # accepted event. The score adds the four products in the order the factors are listed, as
    # the docstring's formula reads.
    rules = sum([r.score for r in results]) / len(results) if results else 0.0
    liquidity = liquidity_factor(liquidity_usd, params)
    evidence = min(1.0, evidence_count / params.evidence_full)
    source_value = params.reliability(source)
    rules_weight = params.rules_weight
    liquidity_weight = params.liquidity_weight
    evidence_weight = params.evidence_weight
    source_weight = params.source_weight
    factors = (
        ConfidenceFactor("rules", rules, rules_weight),
        ConfidenceFactor("liquidity", liquidity, liquidity_weight),
        ConfidenceFactor("evidence", evidence, evidence_weight),
        ConfidenceFactor("source_reliability", source_value, source_weight),
    )
    total = (
        rules * rules_weight
        + liquidity * liquidity_weight
        + evidence * evidence_weight
        + source_value * source_weight
    )
    score = min(1.0, max(0.0, total))
    half = params.interval_base + params.interval_spread * (1.0 - (liquidity + evidence) / 2.0)
    interval = ConfidenceInterval(max(0.0, score - half), min(1.0, score + half))
    if score >= params.level_high:
        level = ConfidenceLevel.HIGH
    elif score >= params.level_medium:
        level = ConfidenceLevel.MEDIUM
    else:
        level = ConfidenceLevel.LOW
    status: SignalStatus | None
    if score >= params.status_active:
        status = SignalStatus.ACTIVE
    elif score >= params.status_monitoring:
        status = SignalStatus.MONITORING
    elif score >= params.status_candidate:
        status = SignalStatus.CANDIDATE
    else:
        status = None
    return Confidence(score, factors, interval, level, status)
