"""Stubs of the compiled omen._native.anomaly (same API as omen._native.anomaly_py)."""

from collections.abc import Mapping
from typing import Any, final

import numpy as np
import numpy.typing as npt

from omen.domain.analysis import MarketHistory
from omen.domain.anomaly import MarketSnapshot

@final
class MarketState:
    """One market's last probability and recorded changes; it has no Python-level methods."""

@final
class RollingStatistics:
    """Median/MAD z-scores over each market's last `window` probability changes.

    Implements omen.domain.anomaly.ChangeStatistics with RollingRobustStatistics' results.
    """

    def __init__(self, window: int = 64, min_points: int = 8, mad_floor: float = 0.01) -> None: ...
    @classmethod
    def from_params(cls, params: Any) -> RollingStatistics:
        """From anything with window, min_points and mad_floor (an AnomalyParams)."""
    def observe(self, market_key: str, probability: float) -> MarketHistory: ...
    def record(self, market_key: str, probability: float) -> None: ...
    def export_state(self) -> dict[str, MarketSnapshot]: ...
    def import_state(self, state: Mapping[str, MarketSnapshot]) -> None: ...
    def __len__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __setstate__(self, state: Mapping[str, MarketSnapshot]) -> None: ...

def score_batch(
    changes: npt.ArrayLike,
    window: int = 64,
    min_points: int = 8,
    mad_floor: float = 0.01,
    out: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """Robust z-score of each change of one market against the up to `window` changes before it;
    NaN where fewer than min_points precede. The loop runs without the GIL."""

def score_batch_grouped(
    group_ids: npt.ArrayLike,
    changes: npt.ArrayLike,
    window: int = 64,
    min_points: int = 8,
    mad_floor: float = 0.01,
    out: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """score_batch() of many markets interleaved in order; group_ids are dense ints >= 0."""
