"""Signal index backed by the ledger: an entry is a signal object or its ledger position.

Signals restored at start-up are held as positions, so rebuilding the index parses no protobuf
at all: a duplicate check needs only the event hash, and GetSignal / ListSignals / a DUPLICATE
answer decode the one signal they return. Signals emitted by this process start as objects; with
a `stored` callback (the server's), only the most recent `keep_objects` stay objects: older ones
are replaced by their position once the ledger holds their record, so memory per signal is a
position (~0.1 KB) instead of the signal (~5 KB with its texts), and signals loaded back are not
kept. Without the callback (tests, tools) every signal stays an object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from omen.application.ports import SignalPage, SignalRepository
from omen.domain.signals import OmenSignal, SignalCategory

P = TypeVar("P")


class LedgerIndexedRepository(SignalRepository, Generic[P]):
    def __init__(
        self,
        load: Callable[[P], OmenSignal],
        stored: Callable[[OmenSignal], P | None] | None = None,
        keep_objects: int = 65_536,
    ):
        """`load` reads a signal at a position; `stored` gives a signal's position once the
        ledger holds its record (None: not yet, or not in the ledger)."""
        self._load = load
        self._stored = stored
        self._keep = keep_objects
        self._objects_from = 0  # entries before this index are positions (once `stored`)
        self._entries: list[OmenSignal | P] = []  # emission order
        self._ids: list[bytes] = []  # each entry's raw signal id, so a duplicate check loads none
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
        self._ids.append(sid)
        self._by_id[sid] = index
        self._by_hash[digest] = index

    def add(self, signal: OmenSignal) -> None:
        self._put(_digest(signal.input_event_hash), _sid(signal.signal_id), signal)
        if self._stored is not None and len(self._entries) - self._objects_from > self._keep:
            self._demote()

    def _demote(self) -> None:
        """Replace the oldest objects beyond `keep_objects` by their positions, as far as the
        ledger holds them (the rest is tried again on a later add)."""
        stored, entries = self._stored, self._entries
        assert stored is not None
        index, end = self._objects_from, len(entries) - self._keep
        while index < end:
            entry = entries[index]
            if isinstance(entry, OmenSignal):
                position = stored(entry)
                if position is None:
                    break
                entries[index] = position
            index += 1
        self._objects_from = index

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
        if self._stored is None:  # no bound on objects: keep what was decoded
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

    def signal_id_by_event_hash(self, input_event_hash: str) -> str | None:
        try:
            index = self._by_hash.get(_digest(input_event_hash))
        except ValueError:
            return None
        return None if index is None else "sig-" + self._ids[index].hex()

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
