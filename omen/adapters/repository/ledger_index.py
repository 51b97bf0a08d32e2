"""Signal index backed by the ledger: an entry is a signal object or its ledger position.

Signals restored at start-up are held as positions, so rebuilding the index parses no protobuf
at all: a duplicate check needs only the event hash, and GetSignal / ListSignals / a DUPLICATE
answer decode the one signal they return. Signals emitted by this process start as objects; with
a `stored` callback (the server's), `settle` (called once the ledger has accepted their records,
at the end of each message) replaces all but the `keep_objects` most recent (none, by default)
by their positions: the ledger reads a record still waiting for its writer thread from its
queue. Signals loaded back are not kept. Without the callback (tests, tools) every signal stays
an object.

No object outlives its message on purpose. Keeping a signal's object graph (~30 objects, ~4 KB
with its texts) alive for longer means its memory is reused long after it was last touched:
every later allocation of the pipeline then lands in cold memory. Measured in two processes side
by side (issue 6's notes), keeping the 1,024 most recent signals as objects cost ~25% more CPU
per event than keeping 64, from the first second on and with the cycle collector off as well;
65,536 cost the same as 1,024; holding objects until the writer had written their records cost
~20%.

Nothing is kept per signal as a Python object, beyond the object window: the event digests and
signal ids live in two compiled key tables (omen._native.keytable: the keys side by side in one
buffer, no object per key), the positions in two arrays. A million signals take ~0.1 KB each.
Holding a few small objects per signal for good instead (bytes keys, ints, position tuples) cost
~0.3 KB each and scattered them through the allocator's pools, with the same effect.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence

from omen import native
from omen.adapters.ledger.records import SIGNAL_ID_PREFIX
from omen.adapters.ledger.signals import IndexedPosition as Position
from omen.application.ports import SignalPage, SignalRepository
from omen.domain.signals import OmenSignal, SignalCategory

_NO_PARTITION = 0xFFFFFFFF  # an entry that is (still) an object
#: How many of the most recent signals the server's index keeps as objects once the ledger has
#: accepted their records (until then, every signal is one).
KEEP_OBJECTS = 0


class LedgerIndexedRepository(SignalRepository):
    def __init__(
        self,
        load: Callable[[Position], OmenSignal],
        stored: Callable[[OmenSignal], Position | None] | None = None,
        keep_objects: int = KEEP_OBJECTS,
    ):
        """`load` reads a signal at a position; `stored` gives a signal's position once the
        ledger has accepted its record and `load` can read it (None: not yet)."""
        self._load = load
        self._stored = stored
        self._keep = keep_objects
        self._objects_from = 0  # entries before this index are positions (once `stored`)
        # Entry i is the i-th signal indexed (emission order): its raw 32-byte event digest and
        # 16-byte id are key i of these tables, its position parts[i] / sequences[i], and it
        # is objects[i] while held as an object.
        self._by_hash = native.keytable.KeyTable(32)
        self._by_id = native.keytable.KeyTable(16)
        self._parts = array("I")
        self._sequences = array("Q")
        self._partition_names: list[str] = []
        self._partition_numbers: dict[str, int] = {}
        self._objects: dict[int, OmenSignal] = {}

    def __len__(self) -> int:
        return len(self._by_hash)

    @property
    def objects_held(self) -> int:
        """How many signals are held as objects (the rest as positions)."""
        return len(self._objects)

    def _put(self, digest: bytes, sid: bytes, position: Position) -> None:
        if self._by_id.find(sid) >= 0:
            raise ValueError(f"a signal with id sig-{sid.hex()} already exists")
        try:
            self._by_hash.add(digest)
        except KeyError:
            raise ValueError(f"a signal for event hash {digest.hex()} already exists") from None
        self._by_id.add(sid)
        self._parts.append(self._partition_number(position[0]))
        self._sequences.append(position[1])

    def _partition_number(self, name: str) -> int:
        number = self._partition_numbers.get(name)
        if number is None:
            number = len(self._partition_names)
            self._partition_names.append(name)
            self._partition_numbers[name] = number
        return number

    def add(self, signal: OmenSignal) -> None:
        # _put, with the keys read straight from their hex (no bytes object per key) and both
        # tables' adds in one call: called once per emitted event.
        signal_id, event_hash = signal.signal_id, signal.input_event_hash
        if not signal_id.startswith(SIGNAL_ID_PREFIX):
            raise ValueError(f"not a signal id: {signal_id!r}")
        try:
            index = self._by_hash.add_hex_with(
                event_hash, 0, self._by_id, signal_id, len(SIGNAL_ID_PREFIX)
            )
        except KeyError:  # neither was added; the id is checked first, as in _put
            if self._by_id.find_hex(signal_id, len(SIGNAL_ID_PREFIX)) >= 0:
                raise ValueError(f"a signal with id {signal_id} already exists") from None
            raise ValueError(f"a signal for event hash {event_hash} already exists") from None
        self._parts.append(_NO_PARTITION)
        self._sequences.append(0)
        self._objects[index] = signal

    def settle(self) -> None:
        """Replace the oldest objects beyond `keep_objects` by their positions, as far as the
        ledger has accepted them (the rest is tried again on the next settle)."""
        stored, objects = self._stored, self._objects
        if stored is None or len(self._by_hash) - self._objects_from <= self._keep:
            return
        index, end = self._objects_from, len(self._by_hash) - self._keep
        parts, sequences, number = self._parts, self._sequences, self._partition_number
        name, part = None, 0  # a message's signals mostly share one partition: look it up once
        while index < end:
            signal = objects.pop(index, None)
            if signal is not None:
                position = stored(signal)
                if position is None:
                    objects[index] = signal
                    break
                if position[0] != name:
                    name = position[0]
                    part = number(name)
                parts[index] = part
                sequences[index] = position[1]
            index += 1
        self._objects_from = index

    def restore(self, event_hash: str, signal_id: str, position: Position) -> None:
        """Index a signal the ledger holds at `position` (decoded when first asked for)."""
        self._put(_digest(event_hash), _sid(signal_id), position)

    def restore_raw(self, digest: bytes, sid: bytes, position: Position) -> None:
        """restore() with the raw 32-byte event digest and 16-byte id, as the ledger has them."""
        self._put(digest, sid, position)

    def _at(self, index: int) -> OmenSignal:
        signal = self._objects.get(index)
        if signal is not None:
            return signal
        part = self._parts[index]
        if part == _NO_PARTITION:  # pragma: no cover - an object until it has a position
            raise AssertionError(f"index entry {index} has neither an object nor a position")
        signal = self._load((self._partition_names[part], self._sequences[index]))
        if self._stored is None:  # no bound on objects: keep what was decoded
            self._objects[index] = signal
        return signal

    def get(self, signal_id: str) -> OmenSignal | None:
        index = _find(self._by_id, _sid, signal_id)
        return None if index < 0 else self._at(index)

    def get_by_event_hash(self, input_event_hash: str) -> OmenSignal | None:
        index = _find(self._by_hash, _digest, input_event_hash)
        return None if index < 0 else self._at(index)

    def signal_id_by_event_hash(self, input_event_hash: str) -> str | None:
        # The duplicate check of every streamed event: the key read straight from its hex (an
        # event hash is 64 hex digits; anything else is no event hash, and has no signal).
        try:
            index = self._by_hash.find_hex(input_event_hash, 0)
        except ValueError:
            return None
        return None if index < 0 else "sig-" + self._by_id.key_at(index).hex()

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
        total = len(self._by_hash)
        while index < total and len(found) < limit:
            signal = self._at(index)
            index += 1
            if (not wanted or signal.category in wanted) and (
                signal.confidence_score >= min_confidence
            ):
                found.append(signal)
        return SignalPage(tuple(found), index if index < total else None)


def _find(table: native.KeyTable, raw: Callable[[str], bytes], text: str) -> int:
    """The index of the key `raw(text)` in `table`; -1 when absent or `text` is not hex."""
    try:
        return int(table.find(raw(text)))
    except ValueError:
        return -1


def _digest(event_hash: str) -> bytes:
    return bytes.fromhex(event_hash)


def _sid(signal_id: str) -> bytes:
    return bytes.fromhex(signal_id.removeprefix("sig-"))
