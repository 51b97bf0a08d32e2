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
        # Keyed by the raw bytes (16-byte id, 32-byte digest): a start-up rebuild of a million
        # signals then never formats a hex string.
        self._by_id: dict[bytes, int] = {}
        self._by_hash: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _put(self, digest: bytes, sid: bytes, entry: OmenSignal | P) -> None:
        if digest in self._by_hash:
            raise ValueError(f"a signal for event hash {digest.hex()} already exists")
        index = len(self._entries)
        self._entries.append(entry)
        self._by_id[sid] = index
        self._by_hash[digest] = index

    def add(self, signal: OmenSignal) -> None:
        self._put(_digest(signal.input_event_hash), _sid(signal.signal_id), signal)

    def restore(self, event_hash: str, signal_id: str, position: P) -> None:
        """Index a signal the ledger holds at `position` (decoded when first asked for)."""
        self._put(_digest(event_hash), _sid(signal_id), position)

    def restore_raw(self, digest: bytes, sid: bytes, position: P) -> None:
        """restore() with the raw 32-byte event digest and 16-byte id, as the ledger has them."""
        self._put(digest, sid, position)

    def _at(self, index: int) -> OmenSignal:
        entry = self._entries[index]
        if isinstance(entry, OmenSignal):
            return entry
        signal = self._load(entry)
        self._entries[index] = signal
        return signal

    def get(self, signal_id: str) -> OmenSignal | None:
        try:
            index = self._by_id.get(_sid(signal_id))
        except ValueError:
            return None
        return None if index is None else self._at(index)

    def get_by_event_hash(self, input_event_hash: str) -> OmenSignal | None:
        try:
            index = self._by_hash.get(_digest(input_event_hash))
        except ValueError:
            return None
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


def _digest(event_hash: str) -> bytes:
    return bytes.fromhex(event_hash)


def _sid(signal_id: str) -> bytes:
    return bytes.fromhex(signal_id.removeprefix("sig-"))
