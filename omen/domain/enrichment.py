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
    SignalCategory,
    TemporalContext,
    TimeHorizon,
    ValidationResult,
)

_NS_PER_DAY = 86_400 * 1_000_000_000
#: "category:" of every routing key, built once rather than per signal.
_ROUTING_PREFIX = {category: category.name.lower() + ":" for category in SignalCategory}


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
    probability = event.probability
    liquidity = event.liquidity_usd
    items = [
        Evidence(
            "market_probability",
            f"{event.source} market prices the event at {probability:.1%}",
            probability,
            event.market_url,
        ),
        Evidence("liquidity", f"${liquidity:,.0f} of liquidity (USD)", liquidity),
    ]
    volume = event.volume_usd
    if volume > 0:
        items.append(Evidence("volume", f"${volume:,.0f} traded (USD)", volume))
    traders = event.num_traders
    if traders > 0:
        items.append(Evidence("traders", f"{traders} traders", float(traders)))
    m = event.movement
    if m is not None:
        items.append(
            Evidence(
                "movement",
                f"probability moved {m.delta * 100:+.1f} points over {m.window_hours:g} h",
                m.delta,
            )
        )
    keywords = classification.keywords
    if keywords:
        items.append(
            Evidence("topic_terms", "topic terms: " + ", ".join(keywords), float(len(keywords)))
        )
    for hit in ctx.geo.chokepoints:
        if hit.via == "distance":
            text = f"a location is {hit.distance_km:,.1f} km from {hit.name}"
        else:
            text = f"{hit.name} is named in the market text"
        items.append(Evidence("chokepoint", text, hit.distance_km))
    history = ctx.history
    zscore = history.zscore
    if zscore is not None:
        items.append(
            Evidence(
                "change_zscore",
                f"robust z-score {zscore:+.2f} of the probability change over "
                f"{history.points} earlier changes",
                zscore,
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
    status = confidence.status
    if status is None:
        return None, (
            f"confidence {confidence.score:.2f} < {confidence_params.status_candidate:.2f}"
        )
    geo = ctx.geo
    category = classification.category
    observed = event.observed_at_ns
    # Positional arguments, in OmenSignal's field order: keyword arguments cost this call
    # (one per accepted event) three times as much.
    return (
        OmenSignal(
            signal_id_for(input_event_hash, ruleset_version),  # signal_id
            input_event_hash,
            event.event_id,  # source_event_id
            event.source,
            event.market_id,
            event.title,
            event.description,
            event.probability,
            # probability_is_estimate: every supported source reports a traded price, not a
            # model estimate.
            False,
            confidence.score,
            confidence.level,
            confidence.factors,
            confidence.interval,
            category,
            classification.signal_type,
            status,
            GeographicContext(
                geo.regions, tuple([h.name for h in geo.chokepoints]), geo.coordinates
            ),
            temporal_of(event),
            evidence,
            results,  # validation_results
            ImpactHints(
                classification.domains,
                classification.direction,
                classification.keywords,
                _ROUTING_PREFIX[category] + (event.market_id or event.event_id),
            ),
            ruleset_version,
            trace_id,
            observed,  # observed_at_ns
            observed,  # generated_at_ns
        ),
        "",
    )
