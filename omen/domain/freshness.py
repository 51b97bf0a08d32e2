"""Freshness rule: closed or resolved markets, past resolution dates, outcome prices off 1."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from omen.domain.analysis import EventContext
from omen.domain.events import MarketState, RawEvent
from omen.domain.signals import RuleStatus, ValidationResult

NS_PER_SECOND = 1_000_000_000
NS_PER_HOUR = 3_600 * NS_PER_SECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Price sums carry float rounding (0.52 + 0.53 is 1.0500000000000000444); without this slack a
# sum exactly at a tolerance would count as outside it.
PRICE_SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class FreshnessParams:
    """Tolerances of the freshness rule.

    Fails: a CLOSED or RESOLVED market (its prices are no longer live probabilities), a
    resolution date before the observation, or >= 2 outcome prices whose sum is off 1 by more
    than price_sum_reject_tolerance. Polymarket's binary markets price YES and NO to sum to 1
    up to rounding, so a larger gap means stale or inconsistent prices. Warns (score
    warning_score): a sum off 1 by more than price_sum_warn_tolerance, or a resolution within
    resolves_soon_hours of the observation (little time left for anyone to act on the signal).
    """

    price_sum_reject_tolerance: float = 0.05
    price_sum_warn_tolerance: float = 0.02
    resolves_soon_hours: float = 24.0
    warning_score: float = 0.7

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FreshnessParams:
        """Parameters from the ruleset's `[freshness]` table; missing keys keep their defaults.

        Raises ValueError naming the key path, e.g. "freshness.warning_score: must be within
        [0, 1]".
        """
        values: dict[str, float] = {f.name: getattr(cls(), f.name) for f in fields(cls)}
        for key in sorted(data):
            path = f"freshness.{key}"
            if key not in values:
                raise ValueError(f"{path}: unknown parameter")
            value = data[key]
            # bool is an int, but `true` for a tolerance is a typo, not 1.
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{path}: must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{path}: must be a finite number, got {value!r}")
            values[key] = float(value)
        reject = values["price_sum_reject_tolerance"]
        if not 0.0 <= reject <= 1.0:
            raise ValueError("freshness.price_sum_reject_tolerance: must be within [0, 1]")
        if not 0.0 <= values["price_sum_warn_tolerance"] <= reject:
            raise ValueError(
                "freshness.price_sum_warn_tolerance: must be within "
                f"[0, price_sum_reject_tolerance ({reject:g})]"
            )
        if values["resolves_soon_hours"] < 0.0:
            raise ValueError("freshness.resolves_soon_hours: must be >= 0")
        if not 0.0 <= values["warning_score"] <= 1.0:
            raise ValueError("freshness.warning_score: must be within [0, 1]")
        return cls(**values)


def format_time(ns: int) -> str:
    """An instant in nanoseconds since the epoch as ISO 8601 UTC, to the second.

    A conversion of a value carried by the event: no clock is read.
    """
    try:
        moment = _EPOCH + timedelta(seconds=ns // NS_PER_SECOND)
    except OverflowError:
        return f"{ns} ns since the Unix epoch"
    return moment.replace(tzinfo=None).isoformat() + "Z"


def format_duration(ns: int) -> str:
    """A non-negative span in the largest unit that keeps it >= 1, to one decimal."""
    seconds = ns / NS_PER_SECOND
    if seconds >= 86_400.0:
        return f"{seconds / 86_400.0:.1f} days"
    if seconds >= 3_600.0:
        return f"{seconds / 3_600.0:.1f} hours"
    if seconds >= 60.0:
        return f"{seconds / 60.0:.1f} minutes"
    return f"{seconds:.1f} seconds"


class FreshnessRule:
    """Only live markets with a future resolution and consistent prices make signals."""

    name = "freshness"
    version = "1.0.0"

    def __init__(self, params: FreshnessParams) -> None:
        self._p = params
        self._reject_gap = params.price_sum_reject_tolerance + PRICE_SLACK
        self._warn_gap = params.price_sum_warn_tolerance + PRICE_SLACK
        self._soon_ns = params.resolves_soon_hours * NS_PER_HOUR

    def evaluate(self, ctx: EventContext) -> ValidationResult:
        event = ctx.event
        # The common case first, with the reason the general path below would give: a live
        # market resolving later than resolves_soon_hours, with two consistent outcome prices.
        state = event.market_state
        resolution = event.resolution_date_ns
        prices = event.outcome_prices
        if (
            state is not MarketState.RESOLVED
            and state is not MarketState.CLOSED
            and resolution is not None
            and len(prices) == 2
        ):
            gap = resolution - event.observed_at_ns
            if gap >= self._soon_ns:
                total = math.fsum(prices)
                if abs(total - 1.0) <= self._warn_gap:
                    return ValidationResult(
                        self.name,
                        self.version,
                        RuleStatus.PASSED,
                        1.0,
                        f"market live; resolves in {format_duration(gap)}; "
                        f"outcome prices sum to {total:.4g}",
                    )
        return self._evaluate(event)

    def _evaluate(self, event: RawEvent) -> ValidationResult:
        p = self._p
        failures: list[str] = []
        warnings: list[str] = []
        notes: list[str] = []

        if event.market_state is MarketState.RESOLVED:
            failures.append("market resolved")
        elif event.market_state is MarketState.CLOSED:
            failures.append("market closed")

        resolution = event.resolution_date_ns
        if resolution is None:
            notes.append("no resolution date")
        else:
            gap = resolution - event.observed_at_ns
            if gap < 0:
                failures.append(
                    f"resolution date {format_time(resolution)} is {format_duration(-gap)} "
                    "before observation"
                )
            elif gap < self._soon_ns:
                warnings.append(
                    f"market resolves {format_time(resolution)}, {format_duration(gap)} after "
                    f"observation (< {p.resolves_soon_hours:g} hours)"
                )
            else:
                # No timestamp in a pass: formatting one would cost more than the whole check.
                notes.append(f"resolves in {format_duration(gap)}")

        prices = event.outcome_prices
        if len(prices) >= 2:
            total = math.fsum(prices)
            off = abs(total - 1.0)
            if off > self._reject_gap:
                failures.append(
                    f"outcome prices sum to {total:.4g}, not 1 ± {p.price_sum_reject_tolerance:g}"
                )
            elif off > self._warn_gap:
                warnings.append(
                    f"outcome prices sum to {total:.4g}, not 1 ± {p.price_sum_warn_tolerance:g}"
                )
            else:
                notes.append(f"outcome prices sum to {total:.4g}")

        if failures:
            return ValidationResult(
                self.name, self.version, RuleStatus.FAILED, 0.0, "; ".join(failures)
            )
        if warnings:
            return ValidationResult(
                self.name, self.version, RuleStatus.WARNING, p.warning_score, "; ".join(warnings)
            )
        return ValidationResult(
            self.name, self.version, RuleStatus.PASSED, 1.0, "market live; " + "; ".join(notes)
        )
