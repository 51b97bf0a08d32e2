"""Structural validation of raw events: every violation is reported, each naming its field."""

from __future__ import annotations

import math
from dataclasses import dataclass

from omen.domain.events import RawEvent

# Limits documented on omen.v1.RawSignalEvent; changing one changes the contract.
MAX_ID_CHARS = 256
MAX_SOURCE_CHARS = 64
MAX_TITLE_CHARS = 1_000
MAX_DESCRIPTION_CHARS = 20_000
MAX_URL_CHARS = 2_048
MAX_KEYWORDS = 64
MAX_KEYWORD_CHARS = 128
MAX_LOCATIONS = 64
MAX_LOCATION_NAME_CHARS = 256
MAX_REGION_CODE_CHARS = 16
MAX_SOURCE_METRICS = 64
MAX_METRIC_KEY_CHARS = 128
MAX_OUTCOME_PRICES = 64
MAX_RAW_PAYLOAD_BYTES = 256 * 1024
MOVEMENT_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid field: a dotted path as on the wire (e.g. "event.probability") and why."""

    field: str
    description: str


def _check_text(
    out: list[FieldViolation], path: str, value: str, limit: int, *, required: bool = False
) -> None:
    if required and not value.strip():
        out.append(FieldViolation(path, "is required and must not be blank"))
    elif len(value) > limit:
        out.append(FieldViolation(path, f"must be at most {limit} characters, got {len(value)}"))


def _check_range(
    out: list[FieldViolation], path: str, value: float, low: float, high: float
) -> None:
    if not math.isfinite(value):
        out.append(
            FieldViolation(path, f"must be a finite number within [{low:g}, {high:g}], got {value}")
        )
    elif not low <= value <= high:
        out.append(FieldViolation(path, f"must be within [{low:g}, {high:g}], got {value:g}"))


def _check_non_negative(out: list[FieldViolation], path: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        out.append(FieldViolation(path, f"must be a finite number >= 0, got {value:g}"))


def validate_event(event: RawEvent, prefix: str = "event") -> list[FieldViolation]:
    """Every structural problem of `event`, in field order. Empty when the event is well-formed."""
    out: list[FieldViolation] = []
    p = prefix + "."
    _check_text(out, p + "event_id", event.event_id, MAX_ID_CHARS, required=True)
    _check_text(out, p + "source", event.source, MAX_SOURCE_CHARS, required=True)
    _check_text(out, p + "market_id", event.market_id, MAX_ID_CHARS)
    _check_text(out, p + "title", event.title, MAX_TITLE_CHARS, required=True)
    _check_text(out, p + "description", event.description, MAX_DESCRIPTION_CHARS)
    _check_range(out, p + "probability", event.probability, 0.0, 1.0)
    if event.movement is not None:
        m = event.movement
        _check_range(out, p + "movement.previous", m.previous, 0.0, 1.0)
        _check_range(out, p + "movement.delta", m.delta, -1.0, 1.0)
        if not math.isfinite(m.window_hours) or m.window_hours <= 0:
            out.append(
                FieldViolation(p + "movement.window_hours", f"must be > 0, got {m.window_hours:g}")
            )
        if (
            math.isfinite(m.previous)
            and math.isfinite(m.delta)
            and math.isfinite(event.probability)
            and abs(m.previous + m.delta - event.probability) > MOVEMENT_TOLERANCE
        ):
            out.append(
                FieldViolation(
                    p + "movement.delta",
                    f"previous + delta ({m.previous + m.delta:g}) must equal probability "
                    f"({event.probability:g})",
                )
            )
    _check_non_negative(out, p + "liquidity_usd", event.liquidity_usd)
    _check_non_negative(out, p + "volume_usd", event.volume_usd)
    if event.num_traders < 0:
        out.append(FieldViolation(p + "num_traders", f"must be >= 0, got {event.num_traders}"))
    if len(event.keywords) > MAX_KEYWORDS:
        out.append(
            FieldViolation(
                p + "keywords",
                f"must have at most {MAX_KEYWORDS} entries, got {len(event.keywords)}",
            )
        )
    for i, keyword in enumerate(event.keywords[:MAX_KEYWORDS]):
        _check_text(out, f"{p}keywords[{i}]", keyword, MAX_KEYWORD_CHARS, required=True)
    if len(event.locations) > MAX_LOCATIONS:
        out.append(
            FieldViolation(
                p + "locations",
                f"must have at most {MAX_LOCATIONS} entries, got {len(event.locations)}",
            )
        )
    for i, loc in enumerate(event.locations[:MAX_LOCATIONS]):
        base = f"{p}locations[{i}]."
        _check_range(out, base + "lat", loc.lat, -90.0, 90.0)
        _check_range(out, base + "lon", loc.lon, -180.0, 180.0)
        _check_text(out, base + "name", loc.name, MAX_LOCATION_NAME_CHARS)
        _check_text(out, base + "region_code", loc.region_code, MAX_REGION_CODE_CHARS)
    _check_text(out, p + "market_url", event.market_url, MAX_URL_CHARS)
    if len(event.source_metrics) > MAX_SOURCE_METRICS:
        out.append(
            FieldViolation(
                p + "source_metrics",
                f"must have at most {MAX_SOURCE_METRICS} entries, got {len(event.source_metrics)}",
            )
        )
    seen_keys: set[str] = set()
    for key, value in event.source_metrics[:MAX_SOURCE_METRICS]:
        path = f'{p}source_metrics["{key[:MAX_METRIC_KEY_CHARS]}"]'
        if key in seen_keys:
            out.append(FieldViolation(path, "key appears more than once"))
        seen_keys.add(key)
        if not key or len(key) > MAX_METRIC_KEY_CHARS:
            out.append(FieldViolation(path, f"key must be 1 to {MAX_METRIC_KEY_CHARS} characters"))
        if not math.isfinite(value):
            out.append(FieldViolation(path, f"must be finite, got {value}"))
    if len(event.raw_payload) > MAX_RAW_PAYLOAD_BYTES:
        out.append(
            FieldViolation(
                p + "raw_payload",
                f"must be at most {MAX_RAW_PAYLOAD_BYTES} bytes, got {len(event.raw_payload)}",
            )
        )
    if len(event.outcome_prices) > MAX_OUTCOME_PRICES:
        out.append(
            FieldViolation(
                p + "outcome_prices",
                f"must have at most {MAX_OUTCOME_PRICES} entries, got {len(event.outcome_prices)}",
            )
        )
    for i, price in enumerate(event.outcome_prices[:MAX_OUTCOME_PRICES]):
        _check_range(out, f"{p}outcome_prices[{i}]", price, 0.0, 1.0)
    return out
