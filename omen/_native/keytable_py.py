"""Pure-Python twin of keytable.pyx: a table of fixed-width byte keys numbered in insertion order.

This file is the reference for the semantics: the compiled KeyTable returns the same values and
raises the same exceptions with the same messages (tests/unit/test_keytable_parity.py checks
both). It is not the reference for memory: here every key is a `bytes` object kept alive in a
dict and a list, which is exactly what the compiled module exists to avoid (long-lived small
objects fragment pymalloc's pools; the compiled table keeps the keys in one C buffer and an
open-addressing table of int64 slots, with no Python object per key).

API
---
KeyTable(width)
    Keys are `bytes` of exactly `width` bytes, 1 <= width <= 64 (else ValueError; a width that
    is not an integer: TypeError, as operator.index raises it).
add(key) -> int
    Appends `key` and returns its index: 0, 1, 2... in insertion order. KeyError if the key is
    already in the table ("key <hex> is already in the table").
find(key) -> int
    The index of `key`, or -1 if absent. A `bytes` key of the wrong length is never present: -1.
add_hex(text, start), find_hex(text, start)
    add / find of the key spelt in hex by text[start:].
add_hex_with(text, start, other, other_text, other_start) -> int
    add_hex here and in `other` (a table numbering the same entries), both or neither.
key_at(index) -> bytes
    The key stored at `index`; IndexError when index < 0 or index >= len(table) (no negative
    indexing). An index that is not an integer: TypeError (operator.index).
len(table)
    The number of keys.
width
    The key width given to the constructor.
nbytes
    Bytes of memory the table holds. Here an estimate: sys.getsizeof of the dict, the list, every
    key and every index int (objects shared with the caller are counted too). The compiled
    module reports its C buffers exactly. The two are not equal and not part of the parity.

Argument checks, in order, for add and find: a key whose type is not exactly `bytes` (a
subclass, bytearray, memoryview, str...) raises TypeError ("key must be bytes, not <type>"); then
a key of the wrong length raises ValueError for add ("key must be <width> bytes long, not <n>")
and gives -1 for find.

Tables cannot be pickled or copied (TypeError): the compiled one holds C buffers.
"""

from __future__ import annotations

import operator
import sys
from typing import NoReturn, SupportsIndex

MAX_WIDTH = 64
_HEX = "0123456789abcdefABCDEF"


def _check_key(key: object) -> bytes:
    if type(key) is not bytes:
        raise TypeError(f"key must be bytes, not {type(key).__name__}")
    return key


class KeyTable:
    """Fixed-width `bytes` keys numbered 0, 1, 2... in insertion order (see the module doc)."""

    __slots__ = ("_index", "_keys", "_width")

    def __init__(self, width: SupportsIndex) -> None:
        w = operator.index(width)
        if w < 1 or w > MAX_WIDTH:
            raise ValueError(f"width must be between 1 and {MAX_WIDTH}, not {w}")
        self._width = w
        self._index: dict[bytes, int] = {}
        self._keys: list[bytes] = []

    @property
    def width(self) -> int:
        """The length in bytes of every key."""
        return self._width

    def add(self, key: bytes) -> int:
        """Append `key` and return its index; KeyError if it is already in the table."""
        k = _check_key(key)
        if len(k) != self._width:
            raise ValueError(f"key must be {self._width} bytes long, not {len(k)}")
        if k in self._index:
            raise KeyError(f"key {k.hex()} is already in the table")
        i = len(self._keys)
        self._index[k] = i
        self._keys.append(k)
        return i

    def find(self, key: bytes) -> int:
        """The index of `key`, or -1 if it is absent (a key of the wrong length always is)."""
        k = _check_key(key)
        return self._index.get(k, -1) if len(k) == self._width else -1

    def add_hex(self, text: str, start: SupportsIndex) -> int:
        """add() of the key spelt by text[start:] in hex: exactly 2 * width digits, of either
        case (ValueError otherwise; TypeError for a text that is not a str). For keys held as
        hex strings (event hashes, signal ids), without a bytes object per key."""
        return self.add(self._hex_key(text, start))

    def find_hex(self, text: str, start: SupportsIndex) -> int:
        """find() of the key spelt by text[start:] in hex (as add_hex)."""
        return self.find(self._hex_key(text, start))

    def add_hex_with(
        self,
        text: str,
        start: SupportsIndex,
        other: KeyTable,
        other_text: str,
        other_start: SupportsIndex,
    ) -> int:
        """add_hex(text, start) here and other.add_hex(other_text, other_start) in `other`,
        both or neither, for two tables numbering the same entries (one call per entry instead
        of a look-up and two adds). Checks, in order: `other` is a KeyTable (TypeError) and
        not this one (ValueError); other_text, then text, as add_hex does; the tables hold as
        many keys (ValueError); other's key, then this one's, is absent (KeyError as add's).
        Returns the index both keys get."""
        if not isinstance(other, KeyTable):
            raise TypeError(f"other must be a KeyTable, not {type(other).__name__}")
        if other is self:
            raise ValueError("other must be another table")
        other_key = other._hex_key(other_text, other_start)
        key = self._hex_key(text, start)
        if len(self._keys) != len(other._keys):
            raise ValueError(
                f"the tables hold {len(self._keys)} and {len(other._keys)} keys, "
                "not the same number"
            )
        if other_key in other._index:
            raise KeyError(f"key {other_key.hex()} is already in the table")
        if key in self._index:
            raise KeyError(f"key {key.hex()} is already in the table")
        other.add(other_key)
        return self.add(key)

    def _hex_key(self, text: str, start: SupportsIndex) -> bytes:
        if type(text) is not str:
            raise TypeError(f"text must be str, not {type(text).__name__}")
        s = operator.index(start)
        digits = 2 * self._width
        if not 0 <= s <= len(text) or len(text) - s != digits or text[s:].strip(_HEX):
            raise ValueError(f"text[{s}:] must be {digits} hex digits")
        return bytes.fromhex(text[s:])

    def key_at(self, index: SupportsIndex) -> bytes:
        """The key stored at `index` (0 <= index < len(self), else IndexError)."""
        i = operator.index(index)
        n = len(self._keys)
        if i < 0 or i >= n:
            raise IndexError(f"index {i} out of range for a table of {n} keys")
        return self._keys[i]

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def nbytes(self) -> int:
        """An estimate of the bytes this table holds (see the module doc); O(len) to compute."""
        size = sys.getsizeof(self._index) + sys.getsizeof(self._keys)
        for k, i in self._index.items():
            size += sys.getsizeof(k) + sys.getsizeof(i)
        return size

    def __reduce__(self) -> NoReturn:
        raise TypeError("KeyTable objects cannot be pickled or copied")

    def __repr__(self) -> str:
        return f"KeyTable(width={self._width}, len={len(self._keys)})"
