"""On-disk format of the ledger: partition and segment names, the segment header, record types.

Layout under the ledger root::

    <root>/LOCK                                  one writer at a time (flock; pid inside)
    <root>/<YYYY-MM-DD>/signals-<NNNNNN>.wal     records of events observed on that UTC date
    <root>/<YYYY-MM-DD>-late/...                 records for a date whose partition was sealed
    <root>/<partition>/MANIFEST.json             written when the partition is sealed

Segment file::

    offset  size  field
    0       8     magic b"OMENSEG\\x00"
    8       2     format version (1), u16 little-endian
    10      2     header length (64), u16
    12      4     segment number NNNNNN, u32
    16      8     sequence of the segment's first record (partition sequences start at 1), u64
    24      4     masked CRC field of the previous segment's last record (0: none), u32
    28      4     reserved, zero
    32      24    partition name, ASCII, NUL-padded
    56      4     reserved, zero
    60      4     masked CRC-32C of bytes 0..59, u32
    64      ...   records framed by omen.native.wal, then zero bytes up to the preallocated size

The previous segment's last CRC chains segments: damage inside a segment's last record reads as
a torn tail to the record scan, and the next segment's header is what tells it apart.

Record payload (inside the native frame)::

    0       8     log sequence number (LSN), u64: one counter across all partitions, so replay
                  restores the exact order in which the writer accepted records
    8       ...   body, by record type (omen.adapters.ledger.records)
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from dataclasses import dataclass

from omen import native
from omen.errors import LedgerUnavailableError, OmenError

MAGIC = b"OMENSEG\x00"
FORMAT_VERSION = 1
HEADER_BYTES = 64
LSN_BYTES = native.wal.SEQUENCE_BYTES  # what frame_sequenced() puts before each body
#: Bytes a record takes on disk besides its body: frame header and LSN.
RECORD_OVERHEAD = native.wal.HEADER_BYTES + LSN_BYTES
SEGMENT_SUFFIX = ".wal"
COMPRESSED_SUFFIX = ".wal.zst"
MANIFEST_NAME = "MANIFEST.json"
LOCK_NAME = "LOCK"

_HEADER = struct.Struct("<8sHHIQII24sI")  # up to the header CRC (60 bytes)
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_PARTITION = re.compile(r"^(\d{4}-\d{2}-\d{2})(-late)?$")
_SEGMENT = re.compile(r"^signals-(\d{6})\.wal(\.zst)?$")

NS_PER_DAY = 86_400 * 1_000_000_000


class LedgerError(OmenError):
    """The ledger cannot do what was asked; the message says what and where."""


class LedgerCorruptError(LedgerError):
    """Damage that recovery must not truncate away: names the file and byte offset."""

    def __init__(self, path: str, offset: int, reason: str):
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(
            f"{path}: {reason} at offset {offset}; the ledger was not opened "
            "(`omen ledger repair` salvages the records before the damage)"
        )


class LedgerLockedError(LedgerError):
    """Another writer holds the ledger."""


class LedgerFailedError(LedgerError, LedgerUnavailableError):
    """A write or fsync failed earlier; the ledger acknowledges nothing more (fail closed)."""


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    partition: str
    segment: int
    first_sequence: int
    prev_crc: int

    def pack(self) -> bytes:
        head = _HEADER.pack(
            MAGIC,
            FORMAT_VERSION,
            HEADER_BYTES,
            self.segment,
            self.first_sequence,
            self.prev_crc,
            0,
            self.partition.encode("ascii"),
            0,
        )
        return head + _U32.pack(native.wal.mask(native.crc32c(head)))

    @classmethod
    def unpack(cls, data: bytes | memoryview, path: str) -> SegmentHeader:
        if len(data) < HEADER_BYTES:
            raise LedgerCorruptError(path, 0, f"segment header is {len(data)} bytes, not 64")
        head = bytes(data[: HEADER_BYTES - 4])
        (stored,) = _U32.unpack_from(data, HEADER_BYTES - 4)
        if native.wal.mask(native.crc32c(head)) != stored:
            raise LedgerCorruptError(path, 0, "segment header checksum mismatch")
        magic, version, length, segment, first, prev, _, name, _ = _HEADER.unpack(head)
        if magic != MAGIC:
            raise LedgerCorruptError(path, 0, f"not a ledger segment (magic {magic!r})")
        if version != FORMAT_VERSION or length != HEADER_BYTES:
            raise LedgerCorruptError(
                path, 0, f"unsupported segment format version {version} (header {length} B)"
            )
        return cls(name.rstrip(b"\x00").decode("ascii"), segment, first, prev)


def segment_name(number: int, compressed: bool = False) -> str:
    return f"signals-{number:06d}" + (COMPRESSED_SUFFIX if compressed else SEGMENT_SUFFIX)


def parse_segment_name(name: str) -> tuple[int, bool] | None:
    """(number, compressed) of a segment file name, or None for any other file."""
    match = _SEGMENT.match(name)
    return (int(match.group(1)), match.group(2) is not None) if match else None


def is_partition_name(name: str) -> bool:
    match = _PARTITION.match(name)
    if not match:
        return False
    try:
        dt.date.fromisoformat(match.group(1))
    except ValueError:
        return False
    return True


def partition_date(name: str) -> dt.date:
    """The UTC date a partition holds ("2026-11-26" and "2026-11-26-late" both hold that day)."""
    return dt.date.fromisoformat(name[:10])


def is_late(name: str) -> bool:
    return name.endswith("-late")


def date_of(timestamp_ns: int) -> str:
    """The partition (UTC date) of an event observed at `timestamp_ns`."""
    day = timestamp_ns // NS_PER_DAY
    name = _DAY_NAMES.get(day)
    if name is None:
        name = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
        if len(_DAY_NAMES) < 4096:
            _DAY_NAMES[day] = name
    return name


_DAY_NAMES: dict[int, str] = {}


def unpack_lsn(payload: bytes | memoryview) -> int:
    return int(_U64.unpack_from(payload, 0)[0])
