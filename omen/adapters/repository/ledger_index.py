"""Signal index backed by the ledger: signals emitted by this process are held as objects;
signals restored at start-up are held as ledger positions and decoded on first use.

Rebuilding the index therefore parses no protobuf at all: a duplicate check needs only the
event hash, and GetSignal / ListSignals / a DUPLICATE answer decode the one signal they return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from omen.application.ports import SignalPage, SignalRepository
from omen.domain.signals import OmenSignal, SignalCategory

P = TypeVar("P")


class LedgerIndexedRepository(SignalRepository, Generic[P]):
    def __init__(self, load: Callable[[P], OmenSignal]):
        self._load = load
        self._entries: list[OmenSignal | P] = []  # emission order
        self._by_id: dict[str, int] = {}
        self._by_hash: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _put(self, event_hash: str, signal_id: str, entry: OmenSignal | P) -> None:
        if event_hash in self._by_hash:
            raise ValueError(f"a signal for event hash {event_hash} already exists")
        index = len(self._entries)
        self._entries.append(entry)
        self._by_id[signal_id] = index
        self._by_hash[event_hash] = index

    def add(self, signal: OmenSignal) -> None:
        self._put(signal.input_event_hash, signal.signal_id, signal)

    def restore(self, event_hash: str, signal_id: str, position: P) -> None:
        """Index a signal the ledger holds at `position` (decoded when first asked for)."""
        self._put(event_hash, signal_id, position)

    def _at(self, index: int) -> OmenSignal:
        entry = self._entries[index]
        if isinstance(entry, OmenSignal):
            return entry
        signal = self._load(entry)
        self._entries[index] = signal
        return signal

    def get(self, signal_id: str) -> OmenSignal | None:
        index = self._by_id.get(signal_id)
        return None if index is None else self._at(index)

    def get_by_event_hash(self, input_event_hash: str) -> OmenSignal | None:
        index = self._by_hash.get(input_event_hash)
        return None if index is None else self._at(index)

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
        total = len(self._entries)
        while index < total and len(found) < limit:
            signal = self._at(index)
            index += 1
            if (not wanted or signal.category in wanted) and (
                signal.confidence_score >= min_confidence
            ):
                found.append(signal)
        return SignalPage(tuple(found), index if index < total else None)
