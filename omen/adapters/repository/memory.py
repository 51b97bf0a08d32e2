"""In-memory signal index: fast, bounded only by memory, and empty after a restart."""

from __future__ import annotations

from collections.abc import Sequence

from omen.application.ports import SignalPage, SignalRepository
from omen.domain.signals import OmenSignal, SignalCategory


class InMemorySignalRepository(SignalRepository):
    def __init__(self) -> None:
        self._ordered: list[OmenSignal] = []
        self._by_id: dict[str, OmenSignal] = {}
        self._by_hash: dict[str, OmenSignal] = {}

    def __len__(self) -> int:
        return len(self._ordered)

    def add(self, signal: OmenSignal) -> None:
        if signal.input_event_hash in self._by_hash:
            raise ValueError(f"a signal for event hash {signal.input_event_hash} already exists")
        self._ordered.append(signal)
        self._by_id[signal.signal_id] = signal
        self._by_hash[signal.input_event_hash] = signal

    def get(self, signal_id: str) -> OmenSignal | None:
        return self._by_id.get(signal_id)

    def get_by_event_hash(self, input_event_hash: str) -> OmenSignal | None:
        return self._by_hash.get(input_event_hash)

    def page(
        self,
        offset: int,
        limit: int,
        categories: Sequence[SignalCategory] = (),
        min_confidence: float = 0.0,
    ) -> SignalPage:
        wanted = set(categories)
        found: list[OmenSignal] = []
        index = offset
        while index < len(self._ordered) and len(found) < limit:
            signal = self._ordered[index]
            index += 1
            if (
                not wanted or signal.category in wanted
            ) and signal.confidence_score >= min_confidence:
                found.append(signal)
        return SignalPage(tuple(found), index if index < len(self._ordered) else None)
