"""Signals for the tests that encode them (signalwire parity, the outbox's JSON envelope): one
with every field of every message set, and hand-made events whose optional parts vary."""

from __future__ import annotations

from typing import Any

from omen.domain.events import Location, Movement, RawEvent
from omen.domain.signals import (
    ConfidenceFactor,
    ConfidenceInterval,
    ConfidenceLevel,
    Evidence,
    GeographicContext,
    ImpactDirection,
    ImpactHints,
    OmenSignal,
    RuleStatus,
    SignalCategory,
    SignalStatus,
    SignalType,
    TemporalContext,
    TimeHorizon,
    ValidationResult,
)
from tests.support import NS, raw_event

U64_MAX = 2**64 - 1

SHIPPING_TITLES = (
    "Will the Strait of Hormuz be closed to tankers before March?",
    "Will the Suez Canal close before July?",
    "Will a typhoon shut the Port of Shanghai in August?",
    "Will the US impose new sanctions on Iran's oil exports?",
    "Will dockworkers strike at the Port of Rotterdam?",
    "Will the EU raise tariffs on Chinese steel imports?",
    "Will the Panama Canal restrict transits because of drought?",
    "Will Houthi attacks disrupt shipping in the Red Sea in December?",
)


def varied_event(i: int, **fields: Any) -> RawEvent:
    """Event i of a hand-made series: its title, description (non-ASCII or empty), resolution
    date, movement, locations and keywords vary with i; `fields` override any of them."""
    values: dict[str, Any] = dict(
        title=SHIPPING_TITLES[i % len(SHIPPING_TITLES)],
        description="Détroit d'Ormuz: 🚢 résolution «oui» si fermé." if i % 2 else "",
        resolution_date_ns=None if i % 3 == 0 else (1_800_000_000 + 1_000 * i) * NS,
        movement=Movement(0.6, 0.02, 24) if i % 2 else None,
        locations=(Location(-12.5, -43.25, "Bab el-Mandeb", "YE"),) if i % 4 else (),
        keywords=("shipping", "red sea") if i % 5 else (),
    )
    values.update(fields)
    return raw_event(**values)


def full_signal(**overrides: Any) -> OmenSignal:
    """A signal with every field of every message set to a value that is not the default."""
    values: dict[str, Any] = dict(
        signal_id="sig-" + "0123456789abcdef" * 2,
        input_event_hash="ab" * 32,
        source_event_id="pm-1",
        source="polymarket",
        market_id="m-1",
        title="Will the Strait of Hormuz close? 🚢",
        description='Résolution: «oui». "quoted"\n\u2028\x00',
        probability=0.62,
        probability_is_estimate=True,
        confidence_score=0.81,
        confidence_level=ConfidenceLevel.HIGH,
        confidence_factors=(
            ConfidenceFactor("liquidity", 0.9, 0.25),
            ConfidenceFactor("", 0.0, 0.0),
        ),
        confidence_interval=ConfidenceInterval(0.7, 0.9),
        category=SignalCategory.SECURITY,
        signal_type=SignalType.UNCLASSIFIED,
        status=SignalStatus.ACTIVE,
        geographic=GeographicContext(
            ("IR", "OM"),
            ("Strait of Hormuz",),
            (Location(26.5, 56.25, "Hormuz", "IR"), Location(0.0, 0.0)),
        ),
        temporal=TemporalContext(TimeHorizon.UNKNOWN, 1_800_000_000 * NS + 5, -3.5, 40.25),
        evidence=(
            Evidence("market_probability", "probability 62%", 0.62, "https://x.test/e"),
            Evidence("keyword", "matched"),
        ),
        validation_results=(
            ValidationResult("liquidity", "1.0.0", RuleStatus.PASSED, 1.0, "ok"),
            ValidationResult("anomaly", "1.0.0", RuleStatus.SKIPPED, 0.0, ""),
        ),
        impact_hints=ImpactHints(
            ("energy", "shipping"), ImpactDirection.NEUTRAL, ("hormuz",), "6:m-1"
        ),
        ruleset_version="2026.11.0",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        observed_at_ns=1_795_000_000 * NS + 123,
        generated_at_ns=-1,
        ledger_partition="2026-11-26-late",
        ledger_sequence=U64_MAX,
    )
    values.update(overrides)
    return OmenSignal(**values)
