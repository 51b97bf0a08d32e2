"""Anomaly rule: extreme prices, jumps, thin markets and robust z-scores of per-market changes."""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from omen.domain.analysis import EventContext, MarketHistory
from omen.domain.events import RawEvent
from omen.domain.signals import RuleStatus, ValidationResult

# Scales a median absolute deviation to a standard deviation for normally distributed changes,
# so z-scores read like ordinary ones.
MAD_TO_SIGMA = 1.4826

# Probability differences carry float rounding (0.8 - 0.3 is 0.5000000000000001); without this
# slack a move of exactly jump_delta would count as a jump.
JUMP_SLACK = 1e-9

# One market as export_state() gives it: (last probability, recorded changes oldest first).
MarketSnapshot = tuple[float | None, tuple[float, ...]]


@dataclass(frozen=True, slots=True)
class AnomalyParams:
    """Thresholds of the anomaly rule and the risk each finding adds.

    risk = min(1, extreme + jump + thin + z) where each term is 0 unless its finding holds:
    extreme_risk when p < extreme_low or p > extreme_high; jump_risk when |movement.delta| or
    |change since the last recorded probability| > jump_delta (counted once); thin_risk when
    0 < num_traders < thin_traders_below and volume_usd >= thin_min_volume_usd; for the robust
    z-score, z_risk_min at |z| = z_warn rising linearly to z_risk_max at |z| >= z_reject.
    risk >= reject_risk fails the event; 0 < risk < reject_risk is a warning.
    """

    extreme_low: float = 0.05
    extreme_high: float = 0.95
    extreme_risk: float = 0.3
    jump_delta: float = 0.5
    jump_risk: float = 0.6
    thin_traders_below: int = 10
    thin_min_volume_usd: float = 100_000.0
    thin_risk: float = 0.5
    window: int = 64
    min_points: int = 8
    mad_floor: float = 0.01
    z_warn: float = 3.5
    z_reject: float = 6.0
    z_risk_min: float = 0.2
    z_risk_max: float = 0.6
    reject_risk: float = 0.5

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnomalyParams:
        """Parameters from the ruleset's `[anomaly]` table; missing keys keep their defaults.

        Raises ValueError naming the key path, e.g. "anomaly.window: must be an integer >= 2".
        """
        v = _read_section(cls(), "anomaly", data)
        _require(v["extreme_low"] >= 0.0, "anomaly.extreme_low", "must be within [0, 1]")
        _require(v["extreme_high"] <= 1.0, "anomaly.extreme_high", "must be within [0, 1]")
        _require(
            v["extreme_low"] < v["extreme_high"],
            "anomaly.extreme_high",
            f"must be greater than extreme_low ({v['extreme_low']:g})",
        )
        _require(0.0 < v["jump_delta"] <= 1.0, "anomaly.jump_delta", "must be within (0, 1]")
        _require(v["thin_traders_below"] >= 0, "anomaly.thin_traders_below", "must be >= 0")
        _require(v["thin_min_volume_usd"] >= 0.0, "anomaly.thin_min_volume_usd", "must be >= 0")
        _require(v["window"] >= 2, "anomaly.window", "must be an integer >= 2")
        _require(
            1 <= v["min_points"] <= v["window"],
            "anomaly.min_points",
            f"must be an integer within [1, window ({v['window']})]",
        )
        _require(v["mad_floor"] > 0.0, "anomaly.mad_floor", "must be > 0")
        _require(v["z_warn"] > 0.0, "anomaly.z_warn", "must be > 0")
        _require(
            v["z_reject"] > v["z_warn"],
            "anomaly.z_reject",
            f"must be greater than z_warn ({v['z_warn']:g})",
        )
        for key in ("extreme_risk", "jump_risk", "thin_risk", "z_risk_min", "z_risk_max"):
            _require(0.0 <= v[key] <= 1.0, f"anomaly.{key}", "must be within [0, 1]")
        _require(
            v["z_risk_min"] <= v["z_risk_max"],
            "anomaly.z_risk_max",
            f"must be >= z_risk_min ({v['z_risk_min']:g})",
        )
        _require(0.0 < v["reject_risk"] <= 1.0, "anomaly.reject_risk", "must be within (0, 1]")
        return cls(**v)


def _read_section(defaults: Any, section: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of the `defaults` dataclass, overridden by `data`, type-checked by hand.

    A field whose default is an int takes integers only; a float field takes any finite number
    (TOML writes 100000 and 100000.0 alike). bool is refused for both, though it is an int.
    """
    values: dict[str, Any] = {f.name: getattr(defaults, f.name) for f in fields(defaults)}
    for key in sorted(data):
        path = f"{section}.{key}"
        if key not in values:
            raise ValueError(f"{path}: unknown parameter")
        value = data[key]
        if isinstance(values[key], int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{path}: must be an integer, got {value!r}")
            values[key] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{path}: must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{path}: must be a finite number, got {value!r}")
            values[key] = float(value)
    return values


def _require(ok: bool, path: str, message: str) -> None:
    if not ok:
        raise ValueError(f"{path}: {message}")


def market_key(event: RawEvent) -> str:
    """The key under which an event's market keeps its change history.

    An event without a market_id is its own market (omen.v1.RawSignalEvent), so it falls back
    to the event id; the source is part of the key because market ids are only unique per source.
    """
    return f"{event.source}:{event.market_id or event.event_id}"


class ChangeStatistics(Protocol):
    """Per-market statistics of recorded probability changes: the port anomaly.pyx implements.

    The pipeline records every non-duplicate event, emitted or rejected, in processing order.

    A Protocol rather than an ABC because a Cython cdef class cannot inherit from an ABC. Every
    probability must be a finite number within [0, 1] (events are validated before they get here);
    anything else raises ValueError rather than poisoning a market's history. The state is a pure
    function of the ordered record() calls, so replaying the ledger rebuilds it exactly.
    """

    def observe(self, market_key: str, probability: float) -> MarketHistory:
        """What recording `probability` would look like, without recording it.

        The change is against the market's last recorded probability (None for an unseen
        market); the z-score is None until the market has min_points recorded changes.
        """
        ...

    def record(self, market_key: str, probability: float) -> None:
        """Append `probability`; a market's first probability records no change."""
        ...

    def export_state(self) -> dict[str, MarketSnapshot]:
        """market key -> (last probability, recorded changes oldest first), keys sorted."""
        ...

    def import_state(self, state: Mapping[str, MarketSnapshot]) -> None:
        """Replace all state with `state` as export_state() gives it."""
        ...

    def __len__(self) -> int:
        """Number of markets tracked."""
        ...


class _Market:
    """One market's history: changes in arrival order (to evict the oldest) and sorted (so that
    record() finds the median and MAD without sorting); center and scale are cached for
    observe()."""

    __slots__ = ("center", "changes", "last", "ordered", "scale")

    def __init__(self, window: int) -> None:
        self.last: float | None = None
        self.changes: deque[float] = deque(maxlen=window)
        self.ordered: list[float] = []
        self.center = 0.0
        self.scale = 0.0  # 0 until min_points changes exist: no z-score yet


def _median(ordered: list[float]) -> float:
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def _median_abs_deviation(ordered: list[float], center: float) -> float:
    """median(|x - center|) of a sorted, non-empty list, without building or sorting the
    deviations: a record() per processed event must stay within a few microseconds.

    The deviations left of `center` (A[t] = center - ordered[split - 1 - t]) and right of it
    (B[t] = ordered[split + t] - center) are two ascending sequences; a binary search finds how
    many of the m smallest deviations come from A (the classic k-th of two sorted arrays). The
    values are the same floats abs(x - center) gives, so the result equals the naive one.
    """
    n = len(ordered)
    split = bisect_left(ordered, center)
    len_a, len_b = split, n - split
    m = n // 2 + 1 if n % 2 else n // 2  # the median is the m-th smallest (or the m-th, m+1-th)
    lo, hi = max(0, m - len_b), min(m, len_a)
    while True:
        a = (lo + hi) // 2
        b = m - a
        if (
            a < len_a
            and b > 0
            and ordered[split + b - 1] - center > center - ordered[split - 1 - a]
        ):
            lo = a + 1  # B's largest taken exceeds A's smallest left out: take more from A
        elif a > 0 and b < len_b and center - ordered[split - a] > ordered[split + b] - center:
            hi = a - 1  # A's largest taken exceeds B's smallest left out: take fewer from A
        else:
            break
    taken = max(
        center - ordered[split - a] if a > 0 else 0.0,
        ordered[split + b - 1] - center if b > 0 else 0.0,
    )
    if n % 2:
        return taken
    following = min(
        center - ordered[split - 1 - a] if a < len_a else math.inf,
        ordered[split + b] - center if b < len_b else math.inf,
    )
    return (taken + following) / 2.0


def _check_probability(probability: float) -> None:
    # The comparison is False for NaN too, so one test covers range and finiteness.
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be a finite number within [0, 1], got {probability!r}")


class RollingRobustStatistics:
    """Median/MAD z-scores over each market's last `window` probability changes.

    z = (change - median) / (1.4826 * max(MAD, mad_floor)). The floor (default 0.01, one
    Polymarket price tick) keeps a flat history from turning any move into an infinite z-score:
    a spread finer than a tick is price rounding, not calm. Pure Python, no shared state: two
    instances never see each other's markets.
    """

    def __init__(self, window: int = 64, min_points: int = 8, mad_floor: float = 0.01) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        if not 1 <= min_points <= window:
            raise ValueError(f"min_points must be within [1, {window}], got {min_points}")
        if not (math.isfinite(mad_floor) and mad_floor > 0.0):
            raise ValueError(f"mad_floor must be a finite number > 0, got {mad_floor!r}")
        self._window = window
        self._min_points = min_points
        self._scale_floor = MAD_TO_SIGMA * mad_floor
        self._markets: dict[str, _Market] = {}

    @classmethod
    def from_params(cls, params: AnomalyParams) -> RollingRobustStatistics:
        return cls(params.window, params.min_points, params.mad_floor)

    def observe(self, market_key: str, probability: float) -> MarketHistory:
        _check_probability(probability)
        market = self._markets.get(market_key)
        if market is None:
            return MarketHistory(market_key)
        last = market.last
        points = len(market.changes)
        if last is None:
            return MarketHistory(market_key, points)
        change = probability - last
        if market.scale == 0.0:
            return MarketHistory(market_key, points, last, change)
        return MarketHistory(
            market_key, points, last, change, (change - market.center) / market.scale
        )

    def record(self, market_key: str, probability: float) -> None:
        _check_probability(probability)
        # -0.0 + 0.0 is +0.0: with no negative zero stored, the sorted copy and the deque always
        # hold the same floats, so a replay and an import give bit-identical state.
        probability += 0.0
        market = self._markets.get(market_key)
        if market is None:
            market = self._markets[market_key] = _Market(self._window)
        if market.last is not None:
            changes = market.changes
            change = probability - market.last
            if len(changes) == self._window:
                oldest = changes[0]
                del market.ordered[bisect_left(market.ordered, oldest)]
            changes.append(change)
            insort(market.ordered, change)
            self._refresh(market)
        market.last = probability

    def export_state(self) -> dict[str, MarketSnapshot]:
        return {
            key: (self._markets[key].last, tuple(self._markets[key].changes))
            for key in sorted(self._markets)
        }

    def import_state(self, state: Mapping[str, MarketSnapshot]) -> None:
        markets: dict[str, _Market] = {}
        for key in sorted(state):
            last, changes = state[key]
            if last is not None:
                try:
                    _check_probability(last)
                except ValueError as exc:
                    raise ValueError(f"market {key!r}: last {exc}") from None
            for change in changes:
                if not -1.0 <= change <= 1.0:
                    raise ValueError(
                        f"market {key!r}: change must be a finite number within [-1, 1], "
                        f"got {change!r}"
                    )
            market = _Market(self._window)
            market.last = None if last is None else last + 0.0
            # The deque keeps the newest `window` changes, as record() does.
            market.changes.extend(c + 0.0 for c in changes)
            market.ordered = sorted(market.changes)
            self._refresh(market)
            markets[key] = market
        self._markets = markets

    def __len__(self) -> int:
        return len(self._markets)

    def _refresh(self, market: _Market) -> None:
        if len(market.changes) < self._min_points:
            market.center, market.scale = 0.0, 0.0
            return
        center = _median(market.ordered)
        market.center = center
        market.scale = max(
            MAD_TO_SIGMA * _median_abs_deviation(market.ordered, center), self._scale_floor
        )


class AnomalyRule:
    """Suspected manipulation: extreme prices, jumps, thin markets and outlying changes.

    Each finding adds its risk (see AnomalyParams); score = 1 - risk.
    """

    name = "anomaly"
    version = "1.0.0"

    def __init__(self, params: AnomalyParams) -> None:
        self._p = params
        self._jump_limit = params.jump_delta + JUMP_SLACK
        # Most events pass; one shared immutable result spares building one per event.
        self._passed = ValidationResult(
            self.name, self.version, RuleStatus.PASSED, 1.0, "no anomaly"
        )

    def evaluate(self, ctx: EventContext) -> ValidationResult:
        p = self._p
        event = ctx.event
        history = ctx.history
        risk = 0.0
        findings: list[str] = []

        probability = event.probability
        if probability < p.extreme_low:
            risk += p.extreme_risk
            findings.append(f"extreme probability {probability:.4g} < {p.extreme_low:g}")
        elif probability > p.extreme_high:
            risk += p.extreme_risk
            findings.append(f"extreme probability {probability:.4g} > {p.extreme_high:g}")

        # The source's own movement and the change since our last recorded probability usually
        # describe the same move, so either or both count as one jump.
        jumps: list[str] = []
        movement = event.movement
        if movement is not None and abs(movement.delta) > self._jump_limit:
            jumps.append(f"|delta| {abs(movement.delta):.2f} > {p.jump_delta:.2f}")
        change = history.change
        if change is not None and abs(change) > self._jump_limit:
            since = history.last_probability
            jumps.append(
                f"|change| {abs(change):.2f} > {p.jump_delta:.2f}"
                + ("" if since is None else f" since the last recorded probability {since:.4g}")
            )
        if jumps:
            risk += p.jump_risk
            findings.append("jump " + ", ".join(jumps))

        # num_traders 0 means "unknown" on the wire, and an unknown count is no evidence of a
        # thin market.
        traders = event.num_traders
        if 0 < traders < p.thin_traders_below and event.volume_usd >= p.thin_min_volume_usd:
            risk += p.thin_risk
            findings.append(
                f"thin market: {traders} traders (< {p.thin_traders_below}) with "
                f"${event.volume_usd:,.0f} volume (>= ${p.thin_min_volume_usd:,.0f})"
            )

        z = history.zscore
        if z is not None and abs(z) >= p.z_warn:
            magnitude = abs(z)
            if magnitude >= p.z_reject:
                risk += p.z_risk_max
            else:
                fraction = (magnitude - p.z_warn) / (p.z_reject - p.z_warn)
                risk += p.z_risk_min + (p.z_risk_max - p.z_risk_min) * fraction
            findings.append(
                f"change z-score {z:+.2f} (|z| >= {p.z_warn:g}) over {history.points} changes"
            )

        if not findings:
            return self._passed
        # Rounded so that sums such as 0.3 + 0.6 read as 0.9 in every signal, not 0.8999999999.
        risk = round(min(1.0, risk), 9)
        detail = "; ".join(findings)
        if risk >= p.reject_risk:
            status, reason = RuleStatus.FAILED, f"suspected manipulation: {detail}"
        elif risk > 0.0:
            status, reason = RuleStatus.WARNING, f"possible anomaly: {detail}"
        else:
            # Findings whose risk is configured to 0 are reported but do not lower the score.
            status, reason = RuleStatus.PASSED, f"no anomaly risk: {detail}"
        return ValidationResult(
            self.name, self.version, status, round(1.0 - risk, 9), f"{reason} (risk {risk:.2f})"
        )
