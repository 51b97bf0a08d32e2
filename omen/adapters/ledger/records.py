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
from dataclasses import dataclass, fields
from typing import Any

from omen.domain.signals import OmenSignal

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


#: The signal's fields, in declaration order (an EncodedSignal decodes those it does not hold).
_SIGNAL_FIELDS = tuple(f.name for f in fields(OmenSignal))
#: The fields an EncodedSignal holds from the start: what the ledger and a stream read.
_EAGER_FIELDS = (
    "signal_id",
    "input_event_hash",
    "observed_at_ns",
    "generated_at_ns",
    "ledger_partition",
    "ledger_sequence",
)


class EncodedSignal(OmenSignal):
    """An emitted signal made straight into its SIGNAL record (the decider's decide_record):
    the record body, and of the signal only what the ledger and a stream read before they are
    done with it: signal_id, input_event_hash, observed_at_ns, generated_at_ns and the ledger
    position. Every other field is decoded from the body the first time one is read, so to any
    reader it is the OmenSignal the body holds (equal to it, field by field); a stream that
    only stores and acknowledges it never builds the twenty-odd value objects of a signal, nor
    frees them, nor encodes them.

    Made by the compiled decider without running __init__ (the unread fields' slots stay
    empty); an instance built by __init__ (dataclasses.replace) is an ordinary signal with
    every field set and no record.
    """

    __slots__ = ("_body", "_market_key", "_probability")
    _body: bytes
    _market_key: str
    _probability: float

    @classmethod
    def of(
        cls, signal: OmenSignal, body: bytes, market_key: str, probability: float
    ) -> EncodedSignal:
        """The EncodedSignal of `signal`, whose SIGNAL record for `market_key` and
        `probability` is `body`, holding what the compiled decider's holds (the reference's
        way to make one; the other fields decode from `body`)."""
        made = object.__new__(cls)
        for name in _EAGER_FIELDS:
            object.__setattr__(made, name, getattr(signal, name))
        made._body, made._market_key, made._probability = body, market_key, probability
        return made

    def record(self, market_key: str, probability: float) -> bytes | None:
        """The SIGNAL record body, when it was made for this very market key and probability
        (the objects the pipeline passes on, compared by identity), else None."""
        try:
            body: bytes = self._body
        except AttributeError:  # built by __init__: no record
            return None
        if market_key is self._market_key and probability is self._probability:
            return body
        return None

    def __getattr__(self, name: str) -> Any:
        # Reached only for an attribute that is not set: an unread field decodes them all.
        if name not in _SIGNAL_FIELDS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        body = self._body
        from omen.adapters.proto_codec import signal_from_bytes  # imports the compiled modules

        decoded = signal_from_bytes(body[signal_offset(body) :])
        held = object.__getattribute__
        for field in _SIGNAL_FIELDS:
            try:
                held(self, field)
            except AttributeError:
                object.__setattr__(self, field, getattr(decoded, field))
        return held(self, name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OmenSignal):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _SIGNAL_FIELDS)


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
