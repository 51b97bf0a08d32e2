"""Turn a validated event into an OmenSignal: identity, confidence, context, evidence, routing.

This is the provisional enrichment of the walking skeleton: confidence combines the rule scores
with the source's reliability; category and type are OTHER / UNCLASSIFIED until the
classification rules land.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from omen.domain.events import RawEvent
from omen.domain.ruleset import ConfidenceParams, Ruleset
from omen.domain.signals import (
    ConfidenceFactor,
    ConfidenceInterval,
    ConfidenceLevel,
    Evidence,
    GeographicContext,
    ImpactDirection,
    ImpactHints,
    OmenSignal,
    SignalCategory,
    SignalStatus,
    SignalType,
    TemporalContext,
    TimeHorizon,
    ValidationResult,
)

_NS_PER_DAY = 86_400 * 1_000_000_000


def signal_id_for(input_event_hash: str, ruleset_version: str) -> str:
    """'sig-' + 32 hex chars of SHA-256(ruleset_version NUL input_event_hash)."""
    digest = hashlib.sha256(f"{ruleset_version}\0{input_event_hash}".encode()).hexdigest()
    return "sig-" + digest[:32]


def confidence_of(
    event: RawEvent, results: Sequence[ValidationResult], params: ConfidenceParams
) -> tuple[float, tuple[ConfidenceFactor, ...], ConfidenceInterval]:
    """score = rules_weight * mean(rule scores) + source_weight * source reliability."""
    rules_score = sum(r.score for r in results) / len(results) if results else 0.0
    reliability = dict(params.source_reliability).get(
        event.source.lower(), params.default_source_reliability
    )
    factors = (
        ConfidenceFactor("rules", rules_score, params.rules_weight),
        ConfidenceFactor("source_reliability", reliability, params.source_weight),
    )
    total_weight = sum(f.weight for f in factors)
    score = sum(f.value * f.weight for f in factors) / total_weight if total_weight else 0.0
    score = min(1.0, max(0.0, score))
    # The band narrows as the evidence strengthens: +-0.05 at score 1, +-0.20 at score 0.
    half = 0.05 + 0.15 * (1.0 - score)
    interval = ConfidenceInterval(max(0.0, score - half), min(1.0, score + half))
    return score, factors, interval


def level_of(score: float, params: ConfidenceParams) -> ConfidenceLevel:
    if score >= params.level_high:
        return ConfidenceLevel.HIGH
    if score >= params.level_medium:
        return ConfidenceLevel.MEDIUM
    return ConfidenceLevel.LOW


def status_of(score: float, params: ConfidenceParams) -> SignalStatus | None:
    """Status from confidence; None below the candidate threshold (no signal is emitted)."""
    if score >= params.status_active:
        return SignalStatus.ACTIVE
    if score >= params.status_monitoring:
        return SignalStatus.MONITORING
    if score >= params.status_candidate:
        return SignalStatus.CANDIDATE
    return None


def temporal_of(event: RawEvent) -> TemporalContext:
    days_to_resolution = 0.0
    horizon = TimeHorizon.UNKNOWN
    if event.resolution_date_ns is not None:
        days_to_resolution = (event.resolution_date_ns - event.observed_at_ns) / _NS_PER_DAY
        if days_to_resolution <= 7:
            horizon = TimeHorizon.IMMEDIATE
        elif days_to_resolution <= 30:
            horizon = TimeHorizon.SHORT_TERM
        elif days_to_resolution <= 180:
            horizon = TimeHorizon.MEDIUM_TERM
        else:
            horizon = TimeHorizon.LONG_TERM
    age = 0.0
    if event.created_at_ns is not None:
        age = max(0.0, (event.observed_at_ns - event.created_at_ns) / _NS_PER_DAY)
    return TemporalContext(horizon, event.resolution_date_ns, days_to_resolution, age)


def build_signal(
    event: RawEvent,
    input_event_hash: str,
    results: tuple[ValidationResult, ...],
    ruleset: Ruleset,
    trace_id: str = "",
) -> tuple[OmenSignal | None, str]:
    """The signal for a validated event, or (None, reason) when confidence is too low."""
    params = ruleset.confidence
    score, factors, interval = confidence_of(event, results, params)
    status = status_of(score, params)
    if status is None:
        return None, f"confidence {score:.2f} < {params.status_candidate:.2f}"
    category = SignalCategory.OTHER
    evidence = (
        Evidence(
            "market_probability",
            f"{event.source} market prices the event at {event.probability:.1%}",
            event.probability,
            event.market_url,
        ),
        Evidence(
            "liquidity", f"${event.liquidity_usd:,.2f} of liquidity (USD)", event.liquidity_usd
        ),
    )
    signal = OmenSignal(
        signal_id=signal_id_for(input_event_hash, ruleset.version),
        input_event_hash=input_event_hash,
        source_event_id=event.event_id,
        source=event.source,
        market_id=event.market_id,
        title=event.title,
        description=event.description,
        probability=event.probability,
        probability_is_estimate=False,
        confidence_score=score,
        confidence_level=level_of(score, params),
        confidence_factors=factors,
        confidence_interval=interval,
        category=category,
        signal_type=SignalType.UNCLASSIFIED,
        status=status,
        geographic=GeographicContext(
            regions=tuple(sorted({loc.region_code for loc in event.locations if loc.region_code})),
            chokepoints=(),
            coordinates=event.locations,
        ),
        temporal=temporal_of(event),
        evidence=evidence,
        validation_results=results,
        impact_hints=ImpactHints(
            domains=(),
            direction=ImpactDirection.NEUTRAL,
            keywords=(),
            routing_key=f"{category.name.lower()}:{event.market_id or event.event_id}",
        ),
        ruleset_version=ruleset.version,
        trace_id=trace_id,
        observed_at_ns=event.observed_at_ns,
        generated_at_ns=event.observed_at_ns,
    )
    return signal, ""
