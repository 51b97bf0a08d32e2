"""Reading segments: load (plain or zstd-compressed), check the header, scan the records.

Used by recovery (omen.adapters.ledger.ledger), by verification and by the offline commands.
Nothing here writes.
"""

from __future__ import annotations

import os
from array import array
from dataclasses import dataclass, field

from omen import native
from omen.adapters.ledger import compression
from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.format import (
    HEADER_BYTES,
    LedgerCorruptError,
    SegmentHeader,
    parse_segment_name,
    unpack_lsn,
)

ScanStatus = native.wal.ScanStatus
_U32_AT_4 = slice(4, 8)


@dataclass(slots=True)
class Segment:
    """One segment file and what its scan found."""

    path: str
    number: int
    compressed: bool
    header: SegmentHeader
    #: Offsets of the records in the (decompressed) segment bytes, in order.
    offsets: array[int] = field(default_factory=lambda: array("Q"))
    types: array[int] = field(default_factory=lambda: array("B"))
    #: Just past the last record: where the next one goes.
    valid_end: int = HEADER_BYTES
    #: Bytes of the file on disk (including preallocated zeros).
    file_size: int = 0
    #: Masked CRC field of the last record (0 when the segment has none).
    last_crc: int = 0
    first_lsn: int = 0
    last_lsn: int = 0

    @property
    def count(self) -> int:
        return len(self.offsets)

    @property
    def first_sequence(self) -> int:
        return self.header.first_sequence

    @property
    def next_sequence(self) -> int:
        return self.header.first_sequence + len(self.offsets)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


@dataclass(frozen=True, slots=True)
class ScannedSegment:
    segment: Segment
    data: bytes
    status: int  # ScanStatus
    error_offset: int | None
    reason: str


def load_bytes(files: FileLayer, path: str) -> bytes:
    """The segment's bytes, decompressed when the file is a .wal.zst."""
    raw = files.read_file(path)
    if path.endswith(".zst"):
        try:
            return compression.decompress_frames(raw)
        except compression.CompressionError as exc:
            raise LedgerCorruptError(path, exc.offset, str(exc)) from None
    return raw


def scan_segment(files: FileLayer, path: str, data: bytes | None = None) -> ScannedSegment:
    """Check the header and scan every record of one segment file."""
    parsed = parse_segment_name(os.path.basename(path))
    if parsed is None:
        raise ValueError(f"{path} is not a segment file name")
    number, compressed = parsed
    if data is None:
        data = load_bytes(files, path)
    header = SegmentHeader.unpack(data, path)
    if header.segment != number:
        raise LedgerCorruptError(
            path, 0, f"header says segment {header.segment}, the file name says {number}"
        )
    result = native.wal.scan(data, HEADER_BYTES)
    segment = Segment(
        path,
        number,
        compressed,
        header,
        result.offsets,
        result.types,
        result.valid_end,
        os.path.getsize(path),
    )
    if len(result.offsets):
        last = result.offsets[-1]
        segment.last_crc = int.from_bytes(data[last + 4 : last + 8], "little")
        segment.first_lsn = unpack_lsn(data[result.offsets[0] + 9 : result.offsets[0] + 17])
        segment.last_lsn = unpack_lsn(data[last + 9 : last + 17])
    return ScannedSegment(segment, data, result.status, result.error_offset, result.reason)


def record_at(data: bytes | memoryview, offset: int) -> tuple[int, int, memoryview]:
    """(type, LSN, body) of the record framed at `offset` (already verified by a scan)."""
    length = int.from_bytes(data[offset : offset + 4], "little")
    view = memoryview(data)[offset + 9 : offset + 9 + length]
    return data[offset + 8], unpack_lsn(view), view[8:]
