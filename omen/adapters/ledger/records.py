"""Bodies of the ledger's record types (after the 8-byte LSN every record starts with).

SIGNAL (type 1): an emitted signal::

    0     32  input_event_hash, raw SHA-256 digest
    32    16  signal_id: the 32 hex digits after "sig-", as 16 raw bytes
    48    8   the event's probability, f64 little-endian (replayed into the anomaly statistics)
    56    2   market key length k, u16
    58    k   market key, UTF-8 (omen.domain.anomaly.market_key)
    58+k  ..  the signal: serialised omen.v1.OmenSignal

OBSERVATION (type 2): an event that reached the rules and was rejected. The anomaly statistics
record every such event (omen.application.pipeline), so rebuilding them needs these too::

    0     32  input_event_hash, raw SHA-256 digest
    32    8   probability, f64
    40    2   market key length k, u16
    42    k   market key, UTF-8

The fixed-width prefix lets start-up rebuild the duplicate index and the statistics without
parsing a single protobuf message.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

SIGNAL_ID_PREFIX = "sig-"

_SIGNAL = struct.Struct("<32s16sdH")
_OBSERVATION = struct.Struct("<32sdH")


class RecordType(enum.IntEnum):
    SIGNAL = 1
    OBSERVATION = 2


@dataclass(frozen=True, slots=True)
class SignalRecord:
    event_hash: str
    signal_id: str
    probability: float
    market_key: str
    signal: bytes  # serialised omen.v1.OmenSignal


@dataclass(frozen=True, slots=True)
class ObservationRecord:
    event_hash: str
    probability: float
    market_key: str


def encode_signal(
    event_hash: str, signal_id: str, probability: float, market_key: str, signal: bytes
) -> bytes:
    key = market_key.encode("utf-8")
    head = _SIGNAL.pack(
        bytes.fromhex(event_hash),
        bytes.fromhex(signal_id.removeprefix(SIGNAL_ID_PREFIX)),
        probability,
        len(key),
    )
    return head + key + signal


def encode_observation(event_hash: str, probability: float, market_key: str) -> bytes:
    key = market_key.encode("utf-8")
    return _OBSERVATION.pack(bytes.fromhex(event_hash), probability, len(key)) + key


def decode_signal_head(body: bytes | memoryview) -> tuple[str, str, float, str, int]:
    """(event hash, signal id, probability, market key, offset of the serialised signal)."""
    digest, sid, probability, n = _SIGNAL.unpack_from(body, 0)
    start = _SIGNAL.size
    key = bytes(body[start : start + n]).decode("utf-8")
    return digest.hex(), SIGNAL_ID_PREFIX + sid.hex(), probability, key, start + n


def signal_offset(body: bytes | memoryview) -> int:
    """Where a SIGNAL record's serialised signal starts: after its head and market key."""
    return _SIGNAL.size + int.from_bytes(body[_SIGNAL.size - 2 : _SIGNAL.size], "little")


def decode_signal(body: bytes | memoryview) -> SignalRecord:
    event_hash, signal_id, probability, key, start = decode_signal_head(body)
    return SignalRecord(event_hash, signal_id, probability, key, bytes(body[start:]))


def decode_observation(body: bytes | memoryview) -> ObservationRecord:
    digest, probability, n = _OBSERVATION.unpack_from(body, 0)
    start = _OBSERVATION.size
    return ObservationRecord(
        digest.hex(), probability, bytes(body[start : start + n]).decode("utf-8")
    )


def signal_id_of(body: bytes | memoryview) -> str:
    return SIGNAL_ID_PREFIX + bytes(body[32:48]).hex()


def set_fingerprint(signal_ids: Iterable[str]) -> str:
    """SHA-256 hex over the partition's signal ids, sorted, one per line ("\\n"-terminated).

    Order-independent, so a downstream consumer can compute it from its own inventory.
    """
    digest = hashlib.sha256()
    for signal_id in sorted(signal_ids):
        digest.update(signal_id.encode("ascii") + b"\n")
    return digest.hexdigest()
