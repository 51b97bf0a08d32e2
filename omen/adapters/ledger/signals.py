"""The application's SignalLedger port on top of the ledger, and the start-up rebuild.

Signals are stored with empty ledger_partition / ledger_sequence: a record's position is where
it is, so the stored bytes do not depend on it; readers fill both in (`signal_at`).
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from omen.adapters.ledger.ledger import Entry, Ledger, Position
from omen.adapters.ledger.records import (
    EncodedSignal,
    RecordType,
    decode_signal,
    encode_observation,
    encode_signal,
)
from omen.adapters.proto_codec import (
    SignalWireMemo,
    signal_bytes,
    signal_from_bytes,
    signal_record,
)
from omen.application.ports import (
    LedgerTicket,
    ObservationRecord,
    SignalLedger,
    SignalRecord,
)
from omen.domain.anomaly import ChangeStatistics
from omen.domain.signals import OmenSignal

log = logging.getLogger("omen.ledger")

# The fixed prefixes of SIGNAL and OBSERVATION bodies (records.py).
_SIGNAL_HEAD = struct.Struct("<32s16sdH")
_OBSERVATION_HEAD = struct.Struct("<32sdH")


class LedgerSignalStore(SignalLedger):
    def __init__(self, ledger: Ledger, memo: SignalWireMemo | None = None):
        self.ledger = ledger
        # append_many leaves each signal's record body here for the stream response to take.
        self.memo = memo

    def append_signal(
        self, signal: OmenSignal, market_key: str, probability: float
    ) -> LedgerTicket:
        body = _record_body(signal, probability, market_key)
        appended = self.ledger.append(signal.observed_at_ns, RecordType.SIGNAL, body)
        signal.ledger_partition = appended.partition
        signal.ledger_sequence = appended.sequence
        return appended

    def append_observation(
        self, event_hash: str, market_key: str, probability: float, observed_at_ns: int
    ) -> LedgerTicket:
        body = encode_observation(event_hash, probability, market_key)
        return self.ledger.append(observed_at_ns, RecordType.OBSERVATION, body)

    def append_many(
        self, records: Sequence[SignalRecord | ObservationRecord]
    ) -> Sequence[LedgerTicket]:
        """One Ledger.append_many call: one lock, usually one group commit, in order."""
        encoded: list[tuple[int, int, bytes]] = []
        signal_ids: list[str] = []  # each SIGNAL record's signal id and body, in order
        bodies: list[bytes] = []
        signal_type, observation_type = RecordType.SIGNAL, RecordType.OBSERVATION
        for r in records:
            if isinstance(r, SignalRecord):
                signal = r.signal
                body = _record_body(signal, r.probability, r.market_key)
                encoded.append((signal.observed_at_ns, signal_type, body))
                signal_ids.append(signal.signal_id)
                bodies.append(body)
            else:
                body = encode_observation(r.event_hash, r.probability, r.market_key)
                encoded.append((r.observed_at_ns, observation_type, body))
        appended = self.ledger.append_many(encoded)
        for r, a in zip(records, appended, strict=True):
            if isinstance(r, SignalRecord):
                signal = r.signal
                signal.ledger_partition = a.partition
                signal.ledger_sequence = a.sequence
        if self.memo is not None and bodies:
            self.memo.put_many(signal_ids, bodies)
        return appended

    def refuses(self, observed_at_ns: int) -> str | None:
        return self.ledger.refuses(observed_at_ns)

    @property
    def failed(self) -> Exception | None:
        return self.ledger.failed


def _record_body(signal: OmenSignal, probability: float, market_key: str) -> bytes:
    """The SIGNAL record body of `signal`: the one an EncodedSignal holds, when made for this
    key and probability; else encoded in one pass; else (values not of the pipeline's form) by
    the reference, which says what is wrong."""
    body = signal.record(market_key, probability) if type(signal) is EncodedSignal else None
    if body is None:
        body = signal_record(signal, probability, market_key)
    if body is None:
        body = encode_signal(
            signal.input_event_hash,
            signal.signal_id,
            probability,
            market_key,
            signal_bytes(signal),
        )
    return body


def signal_of(entry: Entry) -> OmenSignal:
    """The signal a SIGNAL record holds, with its ledger position filled in."""
    signal = signal_from_bytes(decode_signal(entry.body).signal)
    signal.ledger_partition = entry.position.partition
    signal.ledger_sequence = entry.position.sequence
    return signal


#: Where the signal index keeps a signal it holds no object for: (partition, sequence). A plain
#: tuple, not a Position: a million of them are made at start-up, and a tuple of a str and an
#: int is cheap to build and leaves the cycle collector's view after its first pass.
IndexedPosition = tuple[str, int]


def ledger_position(signal: OmenSignal) -> IndexedPosition | None:
    """For the repository: the signal's ledger position once the ledger accepted its record
    (Ledger.get reads it from then on, from the writer's queue until it is written), else
    None."""
    partition = signal.ledger_partition
    return (partition, signal.ledger_sequence) if partition else None


def signal_at(ledger: Ledger) -> Callable[[IndexedPosition], OmenSignal]:
    """A loader for the repository: reads and decodes one signal by position."""

    def load(position: IndexedPosition) -> OmenSignal:
        return signal_of(ledger.get(Position(*position)))

    return load


@dataclass(frozen=True)
class RebuildReport:
    signals: int
    observations: int
    seconds: float


def rebuild(
    ledger: Ledger,
    index: Callable[[bytes, bytes, IndexedPosition], None],
    statistics: ChangeStatistics,
) -> RebuildReport:
    """Replay the ledger in LSN order into the duplicate index (`index(event digest, 16-byte
    signal id, position)`) and the anomaly statistics. Parses the records' fixed prefixes only
    (records.py), never a protobuf message."""
    started = time.perf_counter()
    signals = observations = 0
    record = statistics.record
    signal_head = _SIGNAL_HEAD.unpack_from
    observation_head = _OBSERVATION_HEAD.unpack_from
    signal_type, observation_type = int(RecordType.SIGNAL), int(RecordType.OBSERVATION)
    for _, rtype, partition, sequence, body in ledger.replay_raw():
        if rtype == signal_type:
            digest, sid, probability, n = signal_head(body)
            start = _SIGNAL_HEAD.size
            index(digest, sid, (partition, sequence))
            signals += 1
        elif rtype == observation_type:
            _, probability, n = observation_head(body)
            start = _OBSERVATION_HEAD.size
            observations += 1
        else:
            continue
        record(str(body[start : start + n], "utf-8"), probability)
    report = RebuildReport(signals, observations, time.perf_counter() - started)
    log.info(
        "ledger: rebuilt the duplicate index (%d signals) and anomaly statistics "
        "(%d rejected observations) in %.2fs",
        signals,
        observations,
        report.seconds,
    )
    return report
