"""The application's SignalLedger port on top of the ledger, and the start-up rebuild.

Signals are stored with empty ledger_partition / ledger_sequence: a record's position is where
it is, so the stored bytes do not depend on it; readers fill both in (`signal_at`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from omen.adapters.ledger.ledger import Entry, Ledger, Position
from omen.adapters.ledger.records import (
    RecordType,
    decode_observation,
    decode_signal,
    decode_signal_head,
    encode_observation,
    encode_signal,
)
from omen.adapters.proto_codec import signal_from_bytes, signal_to_proto
from omen.application.ports import LedgerTicket, SignalLedger
from omen.domain.anomaly import ChangeStatistics
from omen.domain.signals import OmenSignal

log = logging.getLogger("omen.ledger")


class LedgerSignalStore(SignalLedger):
    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def append_signal(
        self, signal: OmenSignal, market_key: str, probability: float
    ) -> LedgerTicket:
        body = encode_signal(
            signal.input_event_hash,
            signal.signal_id,
            probability,
            market_key,
            signal_to_proto(signal).SerializeToString(deterministic=True),
        )
        appended = self.ledger.append(signal.observed_at_ns, RecordType.SIGNAL, body)
        signal.ledger_partition = appended.partition
        signal.ledger_sequence = appended.sequence
        return LedgerTicket(appended.partition, appended.sequence, appended.commit)

    def append_observation(
        self, event_hash: str, market_key: str, probability: float, observed_at_ns: int
    ) -> LedgerTicket:
        body = encode_observation(event_hash, probability, market_key)
        appended = self.ledger.append(observed_at_ns, RecordType.OBSERVATION, body)
        return LedgerTicket(appended.partition, appended.sequence, appended.commit)

    @property
    def failed(self) -> Exception | None:
        return self.ledger.failed


def signal_of(entry: Entry) -> OmenSignal:
    """The signal a SIGNAL record holds, with its ledger position filled in."""
    signal = signal_from_bytes(decode_signal(entry.body).signal)
    signal.ledger_partition = entry.position.partition
    signal.ledger_sequence = entry.position.sequence
    return signal


def signal_at(ledger: Ledger) -> Callable[[Position], OmenSignal]:
    """A loader for the repository: reads and decodes one signal by position."""

    def load(position: Position) -> OmenSignal:
        return signal_of(ledger.get(position))

    return load


@dataclass(frozen=True)
class RebuildReport:
    signals: int
    observations: int
    seconds: float


def rebuild(
    ledger: Ledger,
    index: Callable[[str, str, Position], None],
    statistics: ChangeStatistics,
) -> RebuildReport:
    """Replay the ledger in LSN order into the duplicate index and the anomaly statistics."""
    started = time.perf_counter()
    signals = observations = 0
    record = statistics.record
    for _, rtype, partition, sequence, body in ledger.replay_raw():
        if rtype == RecordType.SIGNAL:
            event_hash, signal_id, probability, key, _ = decode_signal_head(body)
            index(event_hash, signal_id, Position(partition, sequence))
            signals += 1
        elif rtype == RecordType.OBSERVATION:
            observation = decode_observation(body)
            probability, key = observation.probability, observation.market_key
            observations += 1
        else:
            continue
        record(key, probability)
    report = RebuildReport(signals, observations, time.perf_counter() - started)
    log.info(
        "ledger: rebuilt the duplicate index (%d signals) and anomaly statistics "
        "(%d rejected observations) in %.2fs",
        signals,
        observations,
        report.seconds,
    )
    return report
