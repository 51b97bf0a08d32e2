"""Map Polymarket Gamma market records (as JSON-decoded dicts) to RawEvents.

The formats and pitfalls are in docs/polymarket-api.md: arrays encoded as JSON strings,
prices as decimal strings, absent-is-not-zero, five time formats, resolved prices of "0"/"1".
The HTTP client that fetches these records is a separate adapter; this module only parses.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from omen.domain.events import MarketState, Movement, RawEvent
from omen.errors import OmenError

SOURCE = "polymarket"
_NS = 1_000_000_000
_FRACTION = re.compile(r"\.(\d+)")
# Numeric source metrics kept as evidence when present (absent is not zero: absent stays absent).
_METRICS = (
    ("bestBid", "best_bid"),
    ("bestAsk", "best_ask"),
    ("spread", "spread"),
    ("lastTradePrice", "last_trade_price"),
    ("volume24hr", "volume_24h_usd"),
    ("oneDayPriceChange", "one_day_price_change"),
    ("oneWeekPriceChange", "one_week_price_change"),
)


class SourceFormatError(OmenError):
    """A source record does not have the shape the adapter expects; names the field."""

    def __init__(self, record_id: str, field: str, problem: str):
        self.record_id, self.field, self.problem = record_id, field, problem
        super().__init__(f"polymarket market {record_id or '?'}: {field}: {problem}")


def parse_time_ns(value: str) -> int:
    """ISO 8601 ('...Z' with 0-9 fraction digits, or '+00:00'), Postgres '... +00', or a date."""
    text = value.strip()
    if len(text) == 10:
        text += "T00:00:00+00:00"
    text = text.replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d\d$", text):
        text += ":00"
    nanos = 0
    fraction = _FRACTION.search(text)
    if fraction:
        digits = fraction.group(1)
        nanos = int(digits[:9].ljust(9, "0"))
        text = text[: fraction.start()] + text[fraction.end() :]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp()) * _NS + nanos


def _decode_list(market: Mapping[str, Any], key: str, record_id: str) -> list[Any] | None:
    raw = market.get(key)
    if raw is None:
        return None
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise SourceFormatError(record_id, key, f"not a JSON array: {exc.msg}") from None
    if not isinstance(value, list):
        raise SourceFormatError(record_id, key, "not an array")
    return value


def _number(market: Mapping[str, Any], key: str, record_id: str) -> float | None:
    raw = market.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = float(Decimal(str(raw)))
    except (InvalidOperation, ValueError):
        raise SourceFormatError(record_id, key, f"not a number: {raw!r}") from None
    if not math.isfinite(value):
        raise SourceFormatError(record_id, key, f"not finite: {raw!r}")
    return value


def _state(market: Mapping[str, Any], prices: list[float]) -> MarketState:
    if market.get("closed"):
        settled = len(prices) >= 2 and all(p in (0.0, 1.0) for p in prices)
        return MarketState.RESOLVED if settled else MarketState.CLOSED
    if market.get("active") is False:
        return MarketState.CLOSED
    return MarketState.OPEN


def market_to_event(market: Mapping[str, Any], observed_at_ns: int) -> RawEvent:
    """One Gamma market as a RawEvent observed at `observed_at_ns`.

    event_id is stable per market ("pm-<id>"), so re-polling an unchanged market yields the same
    input_event_hash (a duplicate) while any meaningful change yields a new event.
    """
    record_id = str(market.get("id") or "")
    if not record_id:
        raise SourceFormatError("", "id", "missing")
    question = market.get("question")
    if not isinstance(question, str) or not question.strip():
        raise SourceFormatError(record_id, "question", "missing")
    outcomes = [str(o) for o in (_decode_list(market, "outcomes", record_id) or [])]
    price_texts = _decode_list(market, "outcomePrices", record_id) or []
    try:
        prices = [float(Decimal(str(p))) for p in price_texts]
    except (InvalidOperation, ValueError):
        raise SourceFormatError(
            record_id, "outcomePrices", f"not decimals: {price_texts}"
        ) from None
    if not prices:
        raise SourceFormatError(record_id, "outcomePrices", "missing: no price to report")
    yes = next((i for i, o in enumerate(outcomes) if o.strip().lower() == "yes"), 0)
    if yes >= len(prices):
        raise SourceFormatError(record_id, "outcomePrices", "fewer prices than outcomes")
    probability = prices[yes]
    movement = None
    change = _number(market, "oneDayPriceChange", record_id)
    if change is not None and 0.0 <= probability - change <= 1.0:
        movement = Movement(previous=probability - change, delta=change, window_hours=24.0)
    liquidity = _number(market, "liquidityNum", record_id)
    if liquidity is None:
        liquidity = _number(market, "liquidity", record_id) or 0.0
    volume = _number(market, "volumeNum", record_id)
    if volume is None:
        volume = _number(market, "volume", record_id) or 0.0
    events = market.get("events") or []
    tags: list[str] = []
    for event in events:
        for tag in event.get("tags") or []:
            label = str(tag.get("label") or "").strip()
            if label and label not in tags:
                tags.append(label)
    slug = (events[0].get("slug") if events else None) or market.get("slug") or ""
    url = f"https://polymarket.com/event/{slug}" if slug else ""
    times: dict[str, int | None] = {}
    for key in ("createdAt", "endDate"):
        raw = market.get(key)
        try:
            times[key] = parse_time_ns(raw) if isinstance(raw, str) and raw else None
        except ValueError:
            raise SourceFormatError(record_id, key, f"not a time: {raw!r}") from None
    metrics = tuple(
        sorted(
            (name, value)
            for key, name in _METRICS
            if (value := _number(market, key, record_id)) is not None
        )
    )
    return RawEvent(
        event_id=f"pm-{record_id}",
        source=SOURCE,
        market_id=record_id,
        title=question.strip(),
        description=str(market.get("description") or ""),
        probability=probability,
        observed_at_ns=observed_at_ns,
        movement=movement,
        liquidity_usd=max(0.0, liquidity),
        volume_usd=max(0.0, volume),
        keywords=tuple(tags[:64]),
        market_url=url,
        created_at_ns=times["createdAt"],
        resolution_date_ns=times["endDate"],
        source_metrics=metrics,
        raw_payload=json.dumps(market, sort_keys=True, separators=(",", ":")).encode(),
        market_state=_state(market, prices),
        outcome_prices=tuple(prices),
    )
