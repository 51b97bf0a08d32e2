"""Pure-Python twin of anomaly.pyx: rolling median/MAD z-scores of probability changes.

This file is the reference: the compiled module must give the same results and raise the same
exceptions. The per-market statistics are omen.domain.anomaly.RollingRobustStatistics itself; the
batch scorers compute the median and MAD naively (sort the window, sort the deviations), as the
definition reads. score_batch_numpy() is a vectorised numpy version of score_batch() for
benchmarks.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, insort
from collections import deque
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from omen.domain.anomaly import MAD_TO_SIGMA, RollingRobustStatistics

FloatArray = npt.NDArray[np.float64]

# Rows of windows per numpy block in score_batch_numpy: a block of deviations is
# _NUMPY_BLOCK * window floats (32 MiB at window 64), whatever the input size.
_NUMPY_BLOCK = 65_536


class RollingStatistics(RollingRobustStatistics):
    """Median/MAD z-scores over each market's last `window` probability changes.

    Exactly the domain's RollingRobustStatistics, under the name the compiled module uses.
    """


def _scale_floor(window: int, min_points: int, mad_floor: float) -> float:
    """MAD_TO_SIGMA * mad_floor after RollingRobustStatistics' checks (and with its messages).

    window and min_points must be integers (TypeError otherwise), as the compiled module's
    C-typed parameters require.
    """
    RollingRobustStatistics(operator.index(window), operator.index(min_points), mad_floor)
    return MAD_TO_SIGMA * float(mad_floor)


def _as_changes(changes: npt.ArrayLike) -> FloatArray:
    values = np.asarray(changes, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"changes must be one-dimensional, got shape {values.shape}")
    return np.ascontiguousarray(values)


def _as_group_ids(group_ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
    ids = np.asarray(group_ids)
    if ids.ndim != 1:
        raise ValueError(f"group_ids must be one-dimensional, got shape {ids.shape}")
    if ids.size == 0:
        return np.empty(0, dtype=np.int64)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"group_ids must be integers, got dtype {ids.dtype}")
    return np.ascontiguousarray(ids.astype(np.int64, casting="safe", copy=False))


def _as_out(out: FloatArray | None, n: int) -> FloatArray:
    if out is None:
        return np.empty(n, dtype=np.float64)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray or None, got {type(out).__name__}")
    if out.dtype != np.float64 or out.shape != (n,):
        raise ValueError(
            f"out must be a float64 array of shape ({n},), got {out.dtype} {out.shape}"
        )
    if not out.flags.writeable:
        raise ValueError("out must be writable")
    return out


def _check_finite(values: FloatArray) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"changes[{i}] must be a finite number, got {float(values[i])!r}")


def _median(ordered: list[float]) -> float:
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def _zscore(x: float, ordered: list[float], scale_floor: float) -> float:
    center = _median(ordered)
    mad = _median(sorted(abs(v - center) for v in ordered))
    return (x - center) / max(MAD_TO_SIGMA * mad, scale_floor)


class _Window:
    """The newest `window` values in arrival order and sorted."""

    __slots__ = ("ordered", "recent")

    def __init__(self, window: int) -> None:
        self.recent: deque[float] = deque(maxlen=window)
        self.ordered: list[float] = []

    def push(self, x: float) -> None:
        # -0.0 + 0.0 is +0.0: the stored values never hold a negative zero, as in the domain.
        x += 0.0
        recent = self.recent
        if len(recent) == recent.maxlen:
            del self.ordered[bisect_left(self.ordered, recent[0])]
        recent.append(x)
        insort(self.ordered, x)


def score_batch(
    changes: npt.ArrayLike,
    window: int = 64,
    min_points: int = 8,
    mad_floor: float = 0.01,
    out: FloatArray | None = None,
) -> FloatArray:
    """Robust z-score of each change of one market against the up to `window` changes before it.

    NaN where fewer than min_points changes precede. Equals observe() before each record() of
    RollingStatistics(window, min_points, mad_floor) fed the same changes. Writes into `out`
    (which may be `changes` itself) when given and returns it.
    """
    # One market is the grouped case with a single group.
    values = _as_changes(changes)
    return score_batch_grouped(
        np.zeros(values.shape[0], dtype=np.int64), values, window, min_points, mad_floor, out
    )


def score_batch_grouped(
    group_ids: npt.ArrayLike,
    changes: npt.ArrayLike,
    window: int = 64,
    min_points: int = 8,
    mad_floor: float = 0.01,
    out: FloatArray | None = None,
) -> FloatArray:
    """score_batch() of many markets whose changes are interleaved in order.

    group_ids[i] (an integer >= 0) names the market of changes[i]; each market is scored against
    its own preceding changes only, so the result equals score_batch() of each market's
    subsequence. Ids index the compiled module's table of max(group_ids) + 1 windows: keep them
    dense (0..G-1).
    """
    scale_floor = _scale_floor(window, min_points, mad_floor)
    ids = _as_group_ids(group_ids)
    values = _as_changes(changes)
    if ids.shape[0] != values.shape[0]:
        raise ValueError(
            "group_ids and changes must have the same length, got "
            f"{ids.shape[0]} and {values.shape[0]}"
        )
    target = _as_out(out, values.shape[0])
    _check_finite(values)
    negative = np.flatnonzero(ids < 0)
    if negative.size:
        i = int(negative[0])
        raise ValueError(f"group_ids[{i}] must be >= 0, got {int(ids[i])}")
    windows: dict[int, _Window] = {}
    scores: list[float] = []
    for g, x in zip(ids.tolist(), values.tolist(), strict=True):
        w = windows.get(g)
        if w is None:
            w = windows[g] = _Window(window)
        ordered = w.ordered
        scores.append(_zscore(x, ordered, scale_floor) if len(ordered) >= min_points else np.nan)
        w.push(x)
    target[:] = scores
    return target


def score_batch_numpy(
    changes: npt.ArrayLike,
    window: int = 64,
    min_points: int = 8,
    mad_floor: float = 0.01,
    out: FloatArray | None = None,
) -> FloatArray:
    """score_batch() vectorised with numpy (sliding windows, np.median), for benchmarks.

    Agrees with score_batch() to within 1e-12; it is not a reference.
    """
    scale_floor = _scale_floor(window, min_points, mad_floor)
    values = _as_changes(changes)
    target = _as_out(out, values.shape[0])
    _check_finite(values)
    n = values.shape[0]
    scores = np.full(n, np.nan)
    stored = values + 0.0
    # Changes with fewer than `window` predecessors: at most window - 1 of them, one at a time.
    for i in range(min_points, min(window, n)):
        scores[i] = _numpy_zscores(stored[None, :i], values[i : i + 1], scale_floor)[0]
    # Row r of `windows` is stored[r : r + window], the window before change r + window.
    if n > window:
        windows = sliding_window_view(stored[:-1], window)
        for start in range(0, windows.shape[0], _NUMPY_BLOCK):
            block = windows[start : start + _NUMPY_BLOCK]
            first = window + start
            scores[first : first + block.shape[0]] = _numpy_zscores(
                block, values[first : first + block.shape[0]], scale_floor
            )
    target[:] = scores
    return target


def _numpy_zscores(windows: FloatArray, x: FloatArray, scale_floor: float) -> FloatArray:
    center = np.median(windows, axis=1)
    mad = np.median(np.abs(windows - center[:, None]), axis=1)
    result: Any = (x - center) / np.maximum(MAD_TO_SIGMA * mad, scale_floor)
    return np.asarray(result, dtype=np.float64)
