"""Signals and results as the domain produces them (enum numbers match omen.v1).

The value objects made per event are slots dataclasses that nothing mutates after construction.
They are not frozen=True on purpose: a frozen dataclass assigns every field through
object.__setattr__, which measured 3.7x slower to construct here (631 ns against 171 ns for
five fields), and a signal and its parts are some twenty objects per event on the hot path.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from omen.domain.events import Location


class Outcome(enum.IntEnum):
    EMITTED = 1
    DUPLICATE = 2
    REJECTED = 3
    INVALID = 4


class RuleStatus(enum.IntEnum):
    PASSED = 1
    FAILED = 2
    WARNING = 3
    SKIPPED = 4


class ConfidenceLevel(enum.IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3


class SignalStatus(enum.IntEnum):
    CANDIDATE = 1
    MONITORING = 2
    ACTIVE = 3


class SignalCategory(enum.IntEnum):
    GEOPOLITICAL = 1
    INFRASTRUCTURE = 2
    WEATHER = 3
    ECONOMIC = 4
    REGULATORY = 5
    SECURITY = 6
    OTHER = 7


class SignalType(enum.IntEnum):
    GEOPOLITICAL_CONFLICT = 1
    GEOPOLITICAL_SANCTIONS = 2
    GEOPOLITICAL_DIPLOMATIC = 3
    SUPPLY_CHAIN_DISRUPTION = 4
    SHIPPING_ROUTE_RISK = 5
    PORT_OPERATIONS = 6
    ENERGY_SUPPLY = 7
    ENERGY_INFRASTRUCTURE = 8
    LABOR_DISRUPTION = 9
    CLIMATE_EVENT = 10
    NATURAL_DISASTER = 11
    REGULATORY_CHANGE = 12
    UNCLASSIFIED = 13


class ImpactDirection(enum.IntEnum):
    NEGATIVE = 1
    POSITIVE = 2
    NEUTRAL = 3


class TimeHorizon(enum.IntEnum):
    IMMEDIATE = 1
    SHORT_TERM = 2
    MEDIUM_TERM = 3
    LONG_TERM = 4
    UNKNOWN = 5


@dataclass(slots=True)
class ValidationResult:
    """One rule's verdict: score in [0, 1], higher is better."""

    rule_name: str
    rule_version: str
    status: RuleStatus
    score: float
    reason: str

    @property
    def failed(self) -> bool:
        return self.status is RuleStatus.FAILED


@dataclass(slots=True)
class ConfidenceFactor:
    name: str
    value: float
    weight: float


@dataclass(slots=True)
class ConfidenceInterval:
    lower: float
    upper: float


@dataclass(slots=True)
class GeographicContext:
    regions: tuple[str, ...] = ()
    chokepoints: tuple[str, ...] = ()
    coordinates: tuple[Location, ...] = ()


@dataclass(slots=True)
class TemporalContext:
    horizon: TimeHorizon
    resolution_date_ns: int | None
    days_to_resolution: float
    market_age_days: float


@dataclass(slots=True)
class Evidence:
    kind: str
    description: str
    value: float = 0.0
    url: str = ""


@dataclass(slots=True)
class ImpactHints:
    domains: tuple[str, ...]
    direction: ImpactDirection
    keywords: tuple[str, ...]
    routing_key: str


@dataclass(slots=True)
class OmenSignal:
    """A validated, enriched signal; a pure function of its event and the ruleset."""

    signal_id: str
    input_event_hash: str
    source_event_id: str
    source: str
    market_id: str
    title: str
    description: str
    probability: float
    probability_is_estimate: bool
    confidence_score: float
    confidence_level: ConfidenceLevel
    confidence_factors: tuple[ConfidenceFactor, ...]
    confidence_interval: ConfidenceInterval
    category: SignalCategory
    signal_type: SignalType
    status: SignalStatus
    geographic: GeographicContext
    temporal: TemporalContext
    evidence: tuple[Evidence, ...]
    validation_results: tuple[ValidationResult, ...]
    impact_hints: ImpactHints
    ruleset_version: str
    trace_id: str
    observed_at_ns: int
    generated_at_ns: int
    ledger_partition: str = ""
    ledger_sequence: int = 0


@dataclass(slots=True)
class ProcessResult:
    """What happened to one event. A rejection is a result, not an error."""

    outcome: Outcome
    input_event_hash: str
    validation_results: tuple[ValidationResult, ...] = ()
    signal: OmenSignal | None = None
    reason: str = ""
    duplicate_of: str = ""
