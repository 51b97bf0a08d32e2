"""Pure-Python twin of wal.pyx: CRC-32C and the ledger's record framing (encode, decode, scan).

This file is the reference: the compiled module must return identical values and bytes and raise
the same exceptions (tests/unit/test_wal_parity.py checks both). The exception classes, ScanStatus
and ScanResult are defined here only; the compiled module imports them, so `except` clauses and
isinstance checks work whichever implementation omen.native selects.

CRC-32C
-------
crc32c(data, value=0) is CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and
final xor 0xFFFFFFFF), chained like zlib.crc32: crc32c(b, crc32c(a)) == crc32c(a + b). Here it is a
byte-at-a-time table loop (about 10 MB/s); the compiled module uses the SSE4.2 crc32 instruction
when the CPU has it and slicing-by-8 tables otherwise.

Masking
-------
The stored checksum is mask(crc) = rotate_right(crc, 15) + 0xA282EAD8 (mod 2**32), as in LevelDB
and TFRecord. A CRC stored next to the bytes it covers is weak when those bytes are checksummed
again: appending a message's CRC to the message gives a CRC that is the same constant for every
message, and a ledger record's payload may itself hold framed records (a repair salvage, a nested
batch), and whole segments are checksummed again when sealed. Masking breaks that algebra at the
cost of an add and a rotate.

Record frame
------------
    offset  size  field
    0       4     length: payload length in bytes, u32 little-endian, at most MAX_RECORD_BYTES
    4       4     mask(CRC-32C of bytes 0..3, byte 8 and the payload), u32 little-endian
    8       1     type: 1..255; 0 is reserved, so zero-filled (preallocated) space is never a record
    9       n     payload

encode() raises ValueError for a payload longer than MAX_RECORD_BYTES or a type outside 1..255:
never truncation. decode() checks a record in this order and raises the first failure:
    offset < 0 or offset > len(buffer)                    RecordError
    (a) fewer than 9 bytes from offset to the end         TornRecordError   (incomplete header)
    (b) type 0, or length > MAX_RECORD_BYTES              CorruptRecordError (invalid header)
    (c) the payload runs past the end                     TornRecordError   (incomplete payload)
    (d) stored checksum != mask(computed)                 CorruptRecordError (checksum mismatch)

Scanning: the decision table
----------------------------
scan(buffer, offset, end) verifies records from `offset` on and stops at `end` or at the first
position p where the bytes do not start a valid record; it returns the offsets and types of the
valid records, valid_end (= p: where the next record goes, or where to truncate) and a status:

    bytes in [p, end)                                                   status   error_offset
    none (p == end), or only zero bytes (preallocated space)            OK       None
    otherwise take the record at p, classified (a)..(d) as in decode(),
    and its extent E: (a) end, (b) p + 9, (c) end, (d) p + 9 + length:
        a non-zero byte in [E, end)                                     CORRUPT  p
        a valid record starts at some q with p < q < E                  CORRUPT  p
        neither of the above                                            TORN     p

TORN means that everything from p on may be the remains of a write that never completed, hence
was never acknowledged: an incomplete header or payload at the end, a bad record followed only by
zeros (a preallocated file whose last pages never reached the disk), a half-written header
followed by zeros. Recovery truncates (and zeroes) from valid_end. CORRUPT means that something
that was written follows the damage: truncating could discard acknowledged records, so recovery
refuses to open the segment and names error_offset. The search for a valid record inside the
extent catches a damaged length field: a bit flip that makes a record in the middle of a segment
claim to run past the end would otherwise look like a torn tail, and truncation would silently
drop every record after it.

The search is exact: it checks every q in (p, E) with a complete header, type != 0, length <=
MAX_RECORD_BYTES and a payload that ends by `end`, in ascending order, and stops at the first that
verifies. Checksumming each candidate's range directly would cost O(R**3) on random binary data
(about R**2 / 2**33 candidates of about R / 2 bytes each, for R bytes after p), so neither
implementation does: CRC-32C is linear over GF(2), so the CRC of any range follows in constant
time from CRC registers of prefixes (kept every 64 bytes, one pass over [p, end)) and operators
that append 2**k zero bytes. The search is linear in end - p. Reasons are part of the result and
identical in both implementations.

Limits, stated so recovery can account for them: damage inside the last record of a segment
(bit rot) is indistinguishable from a torn write and reads TORN (sealed segments are covered by
the next segment's header, which holds the CRC of this segment's last record); a payload that
itself contains a complete framed record can turn a torn tail into CORRUPT; and a batch whose
pages reached the disk out of order before a crash (a zero hole followed by complete records)
reads CORRUPT, because it cannot be told apart from a lost write among acknowledged records.
"""

from __future__ import annotations

import enum
import functools
import operator
import re
import struct
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, SupportsIndex

from omen.errors import OmenError

if TYPE_CHECKING:
    from typing_extensions import Buffer

#: Largest payload one record may carry (64 MiB); encode() raises ValueError beyond it.
MAX_RECORD_BYTES = 64 * 1024 * 1024
#: Bytes before the payload: length (4), masked CRC (4), type (1).
HEADER_BYTES = 9
#: The sequence number frame_sequenced() puts before each record's body.
SEQUENCE_BYTES = 8
#: Which CRC-32C code computes checksums: "python" here; "sse4.2" or "table" when compiled.
CRC32C_IMPLEMENTATION = "python"

_MASK_DELTA = 0xA282EAD8
_U32_MAX = 0xFFFFFFFF
_POLY = 0x82F63B78  # 0x1EDC6F41 bit-reversed
_HEADER = struct.Struct("<IIB")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_U64_MAX = 0xFFFFFFFFFFFFFFFF
_ZERO_CHUNK = memoryview(bytes(64 * 1024))
_PREFIX_STEP = 64  # bytes between the prefix registers of the search (see _Prefixes)


class RecordError(OmenError, ValueError):
    """A record cannot be read at `offset`; `reason` says why (subclasses say how)."""

    def __init__(self, offset: int, reason: str):
        self.offset = offset
        self.reason = reason
        super().__init__(f"{reason} (record at offset {offset})")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.offset, self.reason)


class TornRecordError(RecordError):
    """The record's header or payload runs past the end of the buffer (an incomplete write)."""


class CorruptRecordError(RecordError):
    """The record is complete but invalid: checksum mismatch, type 0 or an impossible length."""


class ScanStatus(enum.IntEnum):
    """How a scan ended; see the decision table in the module docstring."""

    OK = 0
    TORN = 1
    CORRUPT = 2


class ScanResult(NamedTuple):
    """Every valid record up to the first problem, and what the problem is."""

    status: ScanStatus
    #: Absolute offsets of the valid records, in order: array("Q").
    offsets: array[int]
    #: Their types: array("B"), parallel to offsets.
    types: array[int]
    #: Just past the last valid record (`offset` when there is none): append or truncate here.
    valid_end: int
    #: Offset of the record that failed (== valid_end); None when the status is OK.
    error_offset: int | None
    #: Why the scan stopped; "" when the status is OK.
    reason: str


def _make_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


@contextmanager
def _bytes_of(data: Buffer) -> Iterator[memoryview]:
    """The raw bytes of any C-contiguous buffer as a 1-D memoryview of unsigned bytes.

    The export ends with the `with` block, also when it raises (a traceback keeps the frame's
    locals alive, and a live export would stop a bytearray from resizing), as the compiled
    module releases its Py_buffer in a `finally`.
    """
    with memoryview(data) as view:
        if not view.c_contiguous:
            raise BufferError("a C-contiguous buffer is required")
        try:
            flat = view.cast("B")
        except (TypeError, ValueError):  # a format cast() does not know: copy the raw bytes
            flat = memoryview(view.tobytes())
        with flat:
            yield flat


def _u32(value: SupportsIndex, name: str) -> int:
    value = operator.index(value)
    if not 0 <= value <= _U32_MAX:
        raise ValueError(f"{name} {value} is out of range 0..0xFFFFFFFF")
    return value


def _record_type(value: SupportsIndex) -> int:
    value = operator.index(value)
    if not 1 <= value <= 255:
        raise ValueError(f"record type {value} is out of range 1..255 (0 is reserved)")
    return value


def _update(crc: int, view: memoryview) -> int:
    """Feed bytes to the raw (not inverted) CRC register."""
    table = _TABLE
    for byte in view:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def crc32c(data: Buffer, value: SupportsIndex = 0) -> int:
    """CRC-32C of `data` (any C-contiguous buffer), continuing from the CRC `value`."""
    with _bytes_of(data) as view:
        crc = _u32(value, "value")
        return _update(crc ^ _U32_MAX, view) ^ _U32_MAX


def crc32c_table(data: Buffer, value: SupportsIndex = 0) -> int:
    """crc32c() by table lookups only (the compiled module's fallback path; here the same code)."""
    return crc32c(data, value)


def mask(crc: SupportsIndex) -> int:
    """The form in which a CRC is stored: rotated right by 15 bits, plus a constant."""
    crc = _u32(crc, "crc")
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32_MAX


def unmask(masked: SupportsIndex) -> int:
    """Inverse of mask()."""
    rot = (_u32(masked, "masked") - _MASK_DELTA) & _U32_MAX
    return ((rot >> 17) | (rot << 15)) & _U32_MAX


def _frame_crc(view: memoryview, start: int, length: int) -> int:
    """Masked CRC of the record at `start`: bytes 0..3, then byte 8 and the payload."""
    crc = _update(_U32_MAX, view[start : start + 4])
    crc = _update(crc, view[start + 8 : start + HEADER_BYTES + length])
    return mask(crc ^ _U32_MAX)


def _oversize(length: int) -> str:
    return f"record payload of {length} bytes exceeds MAX_RECORD_BYTES ({MAX_RECORD_BYTES})"


def _write(out: bytearray, pos: int, record_type: int, payload: memoryview) -> int:
    """Frame one record into out[pos:]; the offset just past it."""
    length = payload.nbytes
    end = pos + HEADER_BYTES + length
    _HEADER.pack_into(out, pos, length, 0, record_type)
    out[pos + HEADER_BYTES : end] = payload
    with memoryview(out) as target:
        _U32.pack_into(out, pos + 4, _frame_crc(target, pos, length))
    return end


def encode(type: SupportsIndex, payload: Buffer) -> bytes:
    """One framed record: header, then the payload."""
    record_type = _record_type(type)
    with _bytes_of(payload) as view:
        if view.nbytes > MAX_RECORD_BYTES:
            raise ValueError(_oversize(view.nbytes))
        out = bytearray(HEADER_BYTES + view.nbytes)
        _write(out, 0, record_type, view)
    return bytes(out)


def encode_many(records: Iterable[tuple[SupportsIndex, Buffer]]) -> bytes:
    """encode() of each (type, payload) pair, concatenated; every record is checked first.

    Every payload stays exported until the output is written, so none can change size between
    the check and the copy.
    """
    with ExitStack() as exports:
        checked = []
        total = 0
        for index, (type_, payload) in enumerate(records):
            try:
                record_type = _record_type(type_)
                view = exports.enter_context(_bytes_of(payload))
                if view.nbytes > MAX_RECORD_BYTES:
                    raise ValueError(_oversize(view.nbytes))
            except ValueError as exc:
                raise ValueError(f"record {index}: {exc}") from None
            checked.append((record_type, view))
            total += HEADER_BYTES + view.nbytes
        out = bytearray(total)
        pos = 0
        for record_type, view in checked:
            pos = _write(out, pos, record_type, view)
    return bytes(out)


def frame_sequenced(
    records: Sequence[tuple[SupportsIndex, Buffer, SupportsIndex]],
    start: SupportsIndex,
    room: SupportsIndex,
    base: SupportsIndex,
    offsets: array[int],
    types: array[int],
) -> tuple[bytes, int]:
    """Frame records[start:] for as long as they fit in `room` bytes, the ledger's way: each
    (type, body, sequence) is one record whose payload is the sequence (u64 little-endian)
    followed by the body.

    Returns the frames, concatenated, and the index just past the last record framed (`start`
    when the first does not fit). Appends each framed record's offset (`base` plus its position
    in the frames) to `offsets` (an array "Q") and its type to `types` (an array "B"). Every
    record framed is checked before anything is written or appended, as by encode_many(); an
    error names the record's index in `records`.
    """
    start, room, base = operator.index(start), operator.index(room), operator.index(base)
    if start < 0 or room < 0 or base < 0:
        raise ValueError(f"start {start}, room {room} and base {base} must not be negative")
    if not isinstance(offsets, array) or offsets.typecode != "Q":
        raise TypeError("offsets must be an array of typecode 'Q'")
    if not isinstance(types, array) or types.typecode != "B":
        raise TypeError("types must be an array of typecode 'B'")
    with ExitStack() as exports:
        checked = []
        total = 0
        index = start
        while index < len(records):
            type_, body, sequence = records[index]
            try:
                record_type = _record_type(type_)
                number = operator.index(sequence)
                if not 0 <= number <= _U64_MAX:
                    raise ValueError(f"sequence {number} is out of range 0..0xFFFFFFFFFFFFFFFF")
                view = exports.enter_context(_bytes_of(body))
                if SEQUENCE_BYTES + view.nbytes > MAX_RECORD_BYTES:
                    raise ValueError(_oversize(SEQUENCE_BYTES + view.nbytes))
            except ValueError as exc:
                raise ValueError(f"record {index}: {exc}") from None
            size = HEADER_BYTES + SEQUENCE_BYTES + view.nbytes
            if total + size > room:
                break
            checked.append((record_type, number, view))
            total += size
            index += 1
        out = bytearray(total)
        framed = []
        pos = 0
        for record_type, number, view in checked:
            framed.append(base + pos)
            payload = memoryview(_U64.pack(number) + view.tobytes())
            pos = _write(out, pos, record_type, payload)
    offsets.extend(framed)
    types.extend(record_type for record_type, _, _ in checked)
    return bytes(out), index


# Problems a record can have (decode() order), with the exception decode() raises for each.
_OK, _SHORT_HEADER, _RESERVED_TYPE, _TOO_LONG, _SHORT_PAYLOAD, _BAD_CHECKSUM = range(6)


def _check(view: memoryview, p: int, end: int) -> tuple[int, int, int, int, int]:
    """(problem, length, type, stored, computed) of the record at p; bytes from `end` on unseen.

    The checksum is computed (computed != 0 is meaningful) only when the problem is _OK or
    _BAD_CHECKSUM.
    """
    if end - p < HEADER_BYTES:
        return _SHORT_HEADER, 0, 0, 0, 0
    length, stored, record_type = _HEADER.unpack_from(view, p)
    if record_type == 0:
        return _RESERVED_TYPE, length, 0, stored, 0
    if length > MAX_RECORD_BYTES:
        return _TOO_LONG, length, record_type, stored, 0
    if length > end - p - HEADER_BYTES:
        return _SHORT_PAYLOAD, length, record_type, stored, 0
    computed = _frame_crc(view, p, length)
    if computed != stored:
        return _BAD_CHECKSUM, length, record_type, stored, computed
    return _OK, length, record_type, stored, computed


def _describe(problem: int, p: int, end: int, length: int, stored: int, computed: int) -> str:
    if problem == _SHORT_HEADER:
        return (
            f"incomplete record header: {end - p} of {HEADER_BYTES} bytes before the end at {end}"
        )
    if problem == _RESERVED_TYPE:
        return "record type 0 is reserved (zero-filled space is not a record)"
    if problem == _TOO_LONG:
        return f"record length {length} exceeds MAX_RECORD_BYTES ({MAX_RECORD_BYTES})"
    if problem == _SHORT_PAYLOAD:
        return f"record payload of {length} bytes runs past the end at {end}"
    return f"checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"


def decode(buffer: Buffer, offset: SupportsIndex = 0) -> tuple[int, bytes, int]:
    """(type, payload, offset of the next record) of the record at `offset`.

    Raises TornRecordError when the record runs past the end of the buffer, CorruptRecordError
    when it is complete but invalid, RecordError when `offset` is outside the buffer.
    """
    with _bytes_of(buffer) as view:
        offset = operator.index(offset)
        end = view.nbytes
        if not 0 <= offset <= end:
            raise RecordError(offset, f"offset {offset} is outside the buffer of {end} bytes")
        problem, length, record_type, stored, computed = _check(view, offset, end)
        if problem != _OK:
            reason = _describe(problem, offset, end, length, stored, computed)
            torn = problem in (_SHORT_HEADER, _SHORT_PAYLOAD)
            raise (TornRecordError if torn else CorruptRecordError)(offset, reason)
        start = offset + HEADER_BYTES
        return record_type, view[start : start + length].tobytes(), start + length


def _first_nonzero(view: memoryview, start: int, stop: int) -> int:
    """Offset of the first non-zero byte in [start, stop), or -1."""
    step = len(_ZERO_CHUNK)
    for chunk_start in range(start, stop, step):
        chunk = view[chunk_start : min(chunk_start + step, stop)]
        if chunk != _ZERO_CHUNK[: chunk.nbytes]:
            raw = chunk.tobytes()
            return chunk_start + len(raw) - len(raw.lstrip(b"\x00"))
    return -1


def _apply(operator_: tuple[tuple[int, ...], ...], reg: int) -> int:
    return (
        operator_[0][reg & 0xFF]
        ^ operator_[1][(reg >> 8) & 0xFF]
        ^ operator_[2][(reg >> 16) & 0xFF]
        ^ operator_[3][reg >> 24]
    )


@functools.cache
def _zeros_operator(level: int) -> tuple[tuple[int, ...], ...]:
    """The linear map appending 2**level zero bytes to a CRC register, one table per byte."""
    if level == 0:  # one table step with a zero input byte
        return tuple(
            tuple(_TABLE[(n << 8 * j) & 0xFF] ^ ((n << 8 * j) >> 8) for n in range(256))
            for j in range(4)
        )
    half = _zeros_operator(level - 1)  # 2**level zero bytes are 2**(level-1) zero bytes twice
    return tuple(
        tuple(_apply(half, _apply(half, n << 8 * j)) for n in range(256)) for j in range(4)
    )


def _append_zeros(reg: int, count: int) -> int:
    """The CRC register after `count` zero bytes: one operator per set bit of count."""
    level = 0
    while count:
        if count & 1:
            reg = _apply(_zeros_operator(level), reg)
        count >>= 1
        level += 1
    return reg


class _Prefixes:
    """CRC registers (from 0) of view[p:x] for any x in [p, end], from one pass over the range.

    register(s, data) = append_zeros(s, len(data)) ^ register(0, data), so the register of any
    range [a, b) is at(b) ^ append_zeros(at(a), b - a).
    """

    def __init__(self, view: memoryview, p: int, end: int):
        self._view = view
        self._p = p
        checkpoints = [0]
        reg = 0
        for start in range(p, end - _PREFIX_STEP + 1, _PREFIX_STEP):
            reg = _update(reg, view[start : start + _PREFIX_STEP])
            checkpoints.append(reg)
        self._checkpoints = checkpoints

    def at(self, x: int) -> int:
        index = (x - self._p) // _PREFIX_STEP
        start = self._p + index * _PREFIX_STEP
        return _update(self._checkpoints[index], self._view[start:x])


def _valid_at(view: memoryview, q: int, length: int, stored: int, prefixes: _Prefixes) -> bool:
    """_frame_crc(view, q, length) == stored, in constant time from the prefix registers."""
    start = q + 8  # the type byte, then the payload
    stop = start + 1 + length
    reg = _update(_U32_MAX, view[q : q + 4])  # the length bytes, from the initial value
    reg = _append_zeros(reg ^ prefixes.at(start), stop - start) ^ prefixes.at(stop)
    return mask(reg ^ _U32_MAX) == stored


@functools.cache
def _candidates(top: int) -> re.Pattern[bytes]:
    """Matches (empty) where a header has a non-zero type and a length below (top + 1) << 24."""
    return re.compile(rb"(?s)(?=...[\x00-\x%02x]....[^\x00])" % top)


def _probe(view: memoryview, p: int, extent: int, end: int) -> int:
    """The first q in (p, extent) where a valid record (ending by `end`) starts, else -1."""
    stop = min(extent, end - HEADER_BYTES + 1)  # a candidate needs a whole header
    if stop <= p + 1:
        return -1
    prefixes = None  # built at the first candidate: most tails have none
    # The regular expression only skips offsets that the checks below would skip (a zero type
    # byte, or a length whose top byte is too big to fit), at C speed.
    top = min(MAX_RECORD_BYTES, end - p - 1 - HEADER_BYTES) >> 24
    for match in _candidates(top).finditer(view, p + 1, end):
        q = match.start()
        if q >= stop:
            break
        length, stored, record_type = _HEADER.unpack_from(view, q)
        if record_type == 0 or length > MAX_RECORD_BYTES or length > end - q - HEADER_BYTES:
            continue
        if prefixes is None:
            prefixes = _Prefixes(view, p, end)
        if _valid_at(view, q, length, stored, prefixes):
            return q
    return -1


def scan(buffer: Buffer, offset: SupportsIndex = 0, end: SupportsIndex | None = None) -> ScanResult:
    """Verify every record in [offset, end) and classify how the records end (module docstring)."""
    with _bytes_of(buffer) as view:
        return _scan(view, offset, end)


def _scan(view: memoryview, offset: SupportsIndex, end: SupportsIndex | None) -> ScanResult:
    size = view.nbytes
    offset = operator.index(offset)
    end = size if end is None else operator.index(end)
    if not 0 <= offset <= end <= size:
        raise ValueError(f"need 0 <= offset <= end <= {size}, got offset {offset} and end {end}")
    offsets = array("Q")
    types = array("B")
    p = offset
    while p < end:
        problem, length, record_type, stored, computed = _check(view, p, end)
        if problem != _OK:
            break
        offsets.append(p)
        types.append(record_type)
        p += HEADER_BYTES + length
    else:
        return ScanResult(ScanStatus.OK, offsets, types, p, None, "")
    if _first_nonzero(view, p, end) < 0:
        return ScanResult(ScanStatus.OK, offsets, types, p, None, "")
    what = _describe(problem, p, end, length, stored, computed)
    if problem in (_SHORT_HEADER, _SHORT_PAYLOAD):
        extent = end
    elif problem == _BAD_CHECKSUM:
        extent = p + HEADER_BYTES + length
    else:
        extent = p + HEADER_BYTES
    after = _first_nonzero(view, extent, end)
    if after >= 0:
        reason = f"corrupt record: {what}; a non-zero byte follows at offset {after}"
        return ScanResult(ScanStatus.CORRUPT, offsets, types, p, p, reason)
    found = _probe(view, p, extent, end)
    if found >= 0:
        reason = f"corrupt record: {what}; a valid record follows at offset {found}"
        return ScanResult(ScanStatus.CORRUPT, offsets, types, p, p, reason)
    return ScanResult(ScanStatus.TORN, offsets, types, p, p, f"torn tail: {what}")
