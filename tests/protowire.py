"""Building protobuf wire bytes by hand, for the parity tests of the compiled wire codecs: fields
in any order, repeated, unknown or malformed, which no generated class would write."""

from __future__ import annotations

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
