"""Stubs of the compiled omen._native.wal (same API as omen._native.wal_py)."""

from array import array
from collections.abc import Iterable, Sequence
from typing import Final, SupportsIndex

from typing_extensions import Buffer

from omen._native.wal_py import CorruptRecordError as CorruptRecordError
from omen._native.wal_py import RecordError as RecordError
from omen._native.wal_py import ScanResult as ScanResult
from omen._native.wal_py import ScanStatus as ScanStatus
from omen._native.wal_py import TornRecordError as TornRecordError

MAX_RECORD_BYTES: Final[int]
HEADER_BYTES: Final[int]
SEQUENCE_BYTES: Final[int]
CRC32C_IMPLEMENTATION: Final[str]  # "sse4.2" or "table"

def crc32c(data: Buffer, value: SupportsIndex = 0) -> int:
    """CRC-32C of `data` (any C-contiguous buffer), continuing from the CRC `value`."""

def crc32c_table(data: Buffer, value: SupportsIndex = 0) -> int:
    """crc32c() by slicing-by-8 table lookups, whatever the CPU supports (for tests)."""

def mask(crc: SupportsIndex) -> int:
    """The form in which a CRC is stored: rotated right by 15 bits, plus a constant."""

def unmask(masked: SupportsIndex) -> int:
    """Inverse of mask()."""

def encode(type: SupportsIndex, payload: Buffer) -> bytes:
    """One framed record: header, then the payload."""

def encode_many(records: Iterable[tuple[SupportsIndex, Buffer]]) -> bytes:
    """encode() of each (type, payload) pair, concatenated; every record is checked first."""

def frame_sequenced(
    records: Sequence[tuple[SupportsIndex, Buffer, SupportsIndex]],
    start: SupportsIndex,
    room: SupportsIndex,
    base: SupportsIndex,
    offsets: array[int],
    types: array[int],
) -> tuple[bytes, int]:
    """Frame records[start:] while they fit in `room` bytes (see wal_py.py)."""

def decode(buffer: Buffer, offset: SupportsIndex = 0) -> tuple[int, bytes, int]:
    """(type, payload, offset of the next record) of the record at `offset`."""

def scan(buffer: Buffer, offset: SupportsIndex = 0, end: SupportsIndex | None = None) -> ScanResult:
    """Verify every record in [offset, end) and classify how the records end (see wal_py.py)."""
