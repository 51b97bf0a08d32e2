"""Building protobuf wire bytes by hand, for the parity tests of the compiled wire codecs: fields
in any order, repeated, unknown or malformed, which no generated class would write; and
mutating valid encodings for the fuzz tests."""

from __future__ import annotations

import random
import struct


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def ld(number: int, body: bytes) -> bytes:
    return key(number, 2) + varint(len(body)) + body


def f64(number: int, value: float) -> bytes:
    return key(number, 1) + struct.pack("<d", value)


def vi(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def text(number: int, value: str) -> bytes:
    return ld(number, value.encode())


def group(number: int, body: bytes = b"") -> bytes:
    return key(number, 3) + body + key(number, 4)


def mutate(rng: random.Random, data: bytes) -> bytes:
    """1-4 of: a byte replaced, a bit flipped, bytes inserted, bytes deleted, the tail cut."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        at = rng.randrange(len(out) + 1)
        if kind == 0 and out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
        elif kind == 1 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif kind == 2:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 3)))
        elif kind == 3:
            del out[at : at + rng.randint(1, 3)]
        else:
            del out[at:]
    return bytes(out)
