"""Pure-Python twin of hashing.pyx: canonical encoding of a raw event and its SHA-256.

This file is the reference: the compiled module must produce identical bytes. The encoding is
documented on OmenSignal.input_event_hash in proto/omen/v1/signal.proto.

Events are duck-typed: any object with the attributes of omen.domain.events.RawEvent works.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from typing import Any

MAGIC = b"OMEN-EVENT-V1\n"
_NS = 1_000_000_000
_F64 = struct.Struct(">d")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_TS = struct.Struct(">qi")


def _f64(value: float) -> bytes:
    # Adding +0.0 maps -0.0 to +0.0 and leaves every other value unchanged.
    return _F64.pack(float(value) + 0.0)


def _str(value: str) -> bytes:
    raw = value.encode("utf-8")
    return _U32.pack(len(raw)) + raw


def _ts(value_ns: int | None) -> bytes:
    if value_ns is None:
        return b"\x00"
    seconds, nanos = divmod(int(value_ns), _NS)
    return b"\x01" + _TS.pack(seconds, nanos)


def canonical_encoding(event: Any) -> bytes:
    """The exact bytes hashed into input_event_hash.

    Raises ValueError when a length, count or integer does not fit its fixed-width field (u32 for
    lengths, counts and market_state; i64 for num_traders and timestamp seconds), as the compiled
    module does.
    """
    try:
        return _encode(event)
    except struct.error as exc:
        raise ValueError(f"a field is out of range for the canonical encoding: {exc}") from exc


def _encode(event: Any) -> bytes:
    parts = [
        MAGIC,
        b"\x01",
        _str(event.event_id),
        b"\x02",
        _str(event.source),
        b"\x03",
        _str(event.market_id),
        b"\x04",
        _str(event.title),
        b"\x05",
        _str(event.description),
        b"\x06",
        _f64(event.probability),
        b"\x07",
    ]
    movement = event.movement
    if movement is None:
        parts.append(b"\x00")
    else:
        parts += [
            b"\x01",
            _f64(movement.previous),
            _f64(movement.delta),
            _f64(movement.window_hours),
        ]
    parts += [
        b"\x08",
        _f64(event.liquidity_usd),
        b"\x09",
        _f64(event.volume_usd),
        b"\x0a",
        _I64.pack(int(event.num_traders)),
    ]
    keywords = sorted({k.encode("utf-8") for k in event.keywords})
    parts += [b"\x0b", _U32.pack(len(keywords))]
    for raw in keywords:
        parts += [_U32.pack(len(raw)), raw]
    locations = event.locations
    parts += [b"\x0c", _U32.pack(len(locations))]
    for loc in locations:
        parts += [_f64(loc.lat), _f64(loc.lon), _str(loc.name), _str(loc.region_code)]
    parts += [
        b"\x0d",
        _str(event.market_url),
        b"\x0e",
        _ts(event.created_at_ns),
        b"\x0f",
        _ts(event.resolution_date_ns),
    ]
    metrics = sorted((k.encode("utf-8"), v) for k, v in event.source_metrics)
    parts += [b"\x11", _U32.pack(len(metrics))]
    for key, value in metrics:
        parts += [_U32.pack(len(key)), key, _f64(value)]
    prices = event.outcome_prices
    parts += [b"\x13", _U32.pack(int(event.market_state)), b"\x14", _U32.pack(len(prices))]
    parts += [_f64(p) for p in prices]
    return b"".join(parts)


def event_hash(event: Any) -> str:
    """input_event_hash of one event: 64 lowercase hex chars."""
    return hashlib.sha256(canonical_encoding(event)).hexdigest()


def event_hashes(events: Iterable[Any]) -> list[str]:
    """input_event_hash of many events, in order."""
    return [hashlib.sha256(canonical_encoding(e)).hexdigest() for e in events]
