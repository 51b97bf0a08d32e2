"""Turn an analysed, accepted event into an OmenSignal: identity, evidence, confidence, context."""

from __future__ import annotations

import hashlib

from omen.domain.analysis import EventContext
from omen.domain.classification import Classification
from omen.domain.confidence import ConfidenceParams, assess
from omen.domain.events import RawEvent
from omen.domain.signals import (
    Evidence,
    GeographicContext,
    ImpactHints,
    OmenSignal,
    TemporalContext,
    TimeHorizon,
    ValidationResult,
)

_NS_PER_DAY = 86_400 * 1_000_000_000


def signal_id_for(input_event_hash: str, ruleset_version: str) -> str:
    """'sig-' + 32 hex chars of SHA-256(ruleset_version NUL input_event_hash)."""
    digest = hashlib.sha256(f"{ruleset_version}\0{input_event_hash}".encode()).hexdigest()
    return "sig-" + digest[:32]


def temporal_of(event: RawEvent) -> TemporalContext:
    """Horizon buckets: <= 7 days IMMEDIATE, <= 30 SHORT_TERM, <= 180 MEDIUM_TERM, else LONG."""
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


def evidence_of(ctx: EventContext, classification: Classification) -> tuple[Evidence, ...]:
    """The facts behind a signal, in a fixed order; each is one item of the evidence factor."""
    event = ctx.event
    items = [
        Evidence(
            "market_probability",
            f"{event.source} market prices the event at {event.probability:.1%}",
            event.probability,
            event.market_url,
        ),
        Evidence(
            "liquidity", f"${event.liquidity_usd:,.0f} of liquidity (USD)", event.liquidity_usd
        ),
    ]
    if event.volume_usd > 0:
        items.append(Evidence("volume", f"${event.volume_usd:,.0f} traded (USD)", event.volume_usd))
    if event.num_traders > 0:
        items.append(Evidence("traders", f"{event.num_traders} traders", float(event.num_traders)))
    if event.movement is not None:
        m = event.movement
        items.append(
            Evidence(
                "movement",
                f"probability moved {m.delta * 100:+.1f} points over {m.window_hours:g} h",
                m.delta,
            )
        )
    if classification.keywords:
        items.append(
            Evidence(
                "topic_terms",
                "topic terms: " + ", ".join(classification.keywords),
                float(len(classification.keywords)),
            )
        )
    for hit in ctx.geo.chokepoints:
        if hit.via == "distance":
            text = f"a location is {hit.distance_km:,.1f} km from {hit.name}"
        else:
            text = f"{hit.name} is named in the market text"
        items.append(Evidence("chokepoint", text, hit.distance_km))
    history = ctx.history
    if history.zscore is not None:
        items.append(
            Evidence(
                "change_zscore",
                f"robust z-score {history.zscore:+.2f} of the probability change over "
                f"{history.points} earlier changes",
                history.zscore,
            )
        )
    return tuple(items)


def build_signal(
    ctx: EventContext,
    input_event_hash: str,
    results: tuple[ValidationResult, ...],
    classification: Classification,
    confidence_params: ConfidenceParams,
    ruleset_version: str,
    trace_id: str = "",
) -> tuple[OmenSignal | None, str]:
    """The signal for an accepted event, or (None, reason) when confidence is too low."""
    event = ctx.event
    evidence = evidence_of(ctx, classification)
    confidence = assess(
        results, event.liquidity_usd, len(evidence), event.source, confidence_params
    )
    if confidence.status is None:
        return None, (
            f"confidence {confidence.score:.2f} < {confidence_params.status_candidate:.2f}"
        )
    geo = ctx.geo
    category = classification.category
    return (
        OmenSignal(
            signal_id=signal_id_for(input_event_hash, ruleset_version),
            input_event_hash=input_event_hash,
            source_event_id=event.event_id,
            source=event.source,
            market_id=event.market_id,
            title=event.title,
            description=event.description,
            probability=event.probability,
            # Every supported source reports a traded price, not a model estimate.
            probability_is_estimate=False,
            confidence_score=confidence.score,
            confidence_level=confidence.level,
            confidence_factors=confidence.factors,
            confidence_interval=confidence.interval,
            category=category,
            signal_type=classification.signal_type,
            status=confidence.status,
            geographic=GeographicContext(
                regions=geo.regions,
                chokepoints=tuple(h.name for h in geo.chokepoints),
                coordinates=geo.coordinates,
            ),
            temporal=temporal_of(event),
            evidence=evidence,
            validation_results=results,
            impact_hints=ImpactHints(
                domains=classification.domains,
                direction=classification.direction,
                keywords=classification.keywords,
                routing_key=f"{category.name.lower()}:{event.market_id or event.event_id}",
            ),
            ruleset_version=ruleset_version,
            trace_id=trace_id,
            observed_at_ns=event.observed_at_ns,
            generated_at_ns=event.observed_at_ns,
        ),
        "",
    )
