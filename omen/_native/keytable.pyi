"""Stubs of the compiled omen._native.keytable (same API as omen._native.keytable_py)."""

from typing import NoReturn, SupportsIndex

class KeyTable:
    """Fixed-width `bytes` keys numbered 0, 1, 2... in insertion order (see keytable_py.py)."""

    def __init__(self, width: SupportsIndex) -> None:
        """Keys are `bytes` of exactly `width` bytes, 1 <= width <= 64 (else ValueError)."""

    def add(self, key: bytes) -> int:
        """Append `key` and return its index; KeyError if it is already in the table, TypeError
        if it is not exactly `bytes`, ValueError if its length is not the table's width."""

    def find(self, key: bytes) -> int:
        """The index of `key`, or -1 if it is absent (a key of the wrong length always is);
        TypeError if it is not exactly `bytes`."""

    def add_hex(self, text: str, start: SupportsIndex) -> int:
        """add() of the key spelt by text[start:] in hex: exactly 2 * width digits of either
        case (ValueError otherwise; TypeError for a text that is not a str)."""

    def find_hex(self, text: str, start: SupportsIndex) -> int:
        """find() of the key spelt by text[start:] in hex (as add_hex)."""

    def add_hex_with(
        self,
        text: str,
        start: SupportsIndex,
        other: KeyTable,
        other_text: str,
        other_start: SupportsIndex,
    ) -> int:
        """add_hex(text, start) here and other.add_hex(other_text, other_start) in `other`,
        both or neither (see keytable_py.KeyTable.add_hex_with)."""

    def key_at(self, index: SupportsIndex) -> bytes:
        """The key stored at `index` (0 <= index < len(self), else IndexError)."""

    def __len__(self) -> int: ...
    @property
    def width(self) -> int:
        """The length in bytes of every key."""

    @property
    def nbytes(self) -> int:
        """Bytes of the C blocks (keys, slots and, while growing, the previous slots), capacity
        included."""

    def __reduce__(self) -> NoReturn: ...
