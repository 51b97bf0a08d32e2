"""Raw events as the domain sees them: immutable values converted from the wire at the edge."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class MarketState(enum.IntEnum):
    """Lifecycle state of a market (numbers match omen.v1.MarketState)."""

    UNSPECIFIED = 0
    OPEN = 1
    CLOSED = 2
    RESOLVED = 3


@dataclass(frozen=True, slots=True)
class Movement:
    """Change of probability over a window: previous value, delta and window length in hours."""

    previous: float
    delta: float
    window_hours: float


@dataclass(frozen=True, slots=True)
class Location:
    """A place in decimal degrees with an optional name and region code."""

    lat: float
    lon: float
    name: str = ""
    region_code: str = ""


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One observation of a market.

    Times are integer nanoseconds since the Unix epoch (UTC), or None when unknown, so that no
    precision is lost against google.protobuf.Timestamp and no clock is read here.
    """

    event_id: str
    source: str
    title: str
    probability: float
    observed_at_ns: int
    market_id: str = ""
    description: str = ""
    movement: Movement | None = None
    liquidity_usd: float = 0.0
    volume_usd: float = 0.0
    num_traders: int = 0
    keywords: tuple[str, ...] = ()
    locations: tuple[Location, ...] = ()
    market_url: str = ""
    created_at_ns: int | None = None
    resolution_date_ns: int | None = None
    source_metrics: tuple[tuple[str, float], ...] = ()
    raw_payload: bytes = b""
    market_state: MarketState = MarketState.UNSPECIFIED
    outcome_prices: tuple[float, ...] = ()
