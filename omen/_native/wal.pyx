"""Compiled twin of wal_py.py: CRC-32C and the ledger's record framing (encode, decode, scan).

wal_py.py is the reference and documents the frame, the masking and the scan decision table:
this module must return identical values and bytes and raise the same exceptions
(tests/unit/test_wal_parity.py checks both). The exceptions, ScanStatus and ScanResult are the
twin's own classes, imported from it.

CRC-32C comes from crc32c.h: the SSE4.2 crc32 instruction, chosen at run time, or slicing-by-8
tables; CRC32C_IMPLEMENTATION says which, and crc32c_table() always takes the table path so tests
can check both. scan() verifies records on raw pointers without creating a Python object per
record, and releases the GIL when the range is at least WAL_GIL_RELEASE_BYTES long (the buffer
stays exported meanwhile, so a bytearray or mmap cannot be resized or closed under it).
"""

from cpython cimport array
from cpython.buffer cimport (
    PyBUF_FULL_RO,
    PyBuffer_IsContiguous,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.memoryview cimport PyMemoryView_FromObject, PyMemoryView_GET_BUFFER
from cpython.number cimport PyNumber_Index
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy

import array

from omen._native.wal_py import (
    CorruptRecordError,
    RecordError,
    ScanResult,
    ScanStatus,
    TornRecordError,
)

omen_crc32c_init()

MAX_RECORD_BYTES = WAL_MAX_RECORD_SIZE
HEADER_BYTES = WAL_HEADER_SIZE
CRC32C_IMPLEMENTATION = omen_crc32c_implementation().decode("ascii")

cdef array.array _OFFSETS_TEMPLATE = array.array("Q")
cdef array.array _TYPES_TEMPLATE = array.array("B")
cdef object _STATUS_OK = ScanStatus.OK
cdef object _STATUS_TORN = ScanStatus.TORN
cdef object _STATUS_CORRUPT = ScanStatus.CORRUPT

if _OFFSETS_TEMPLATE.itemsize != 8:  # pragma: no cover - every CPython platform has 8
    raise ImportError("array('Q') items are not 8 bytes on this platform")


# --- Arguments -----------------------------------------------------------------------------


cdef int acquire(object obj, Py_buffer *view) except -1:
    """The raw bytes of any C-contiguous buffer (the twin's _bytes_of); PyBuffer_Release it."""
    PyObject_GetBuffer(obj, view, PyBUF_FULL_RO)
    if not PyBuffer_IsContiguous(view, b"C"):
        PyBuffer_Release(view)
        raise BufferError("a C-contiguous buffer is required")
    return 0


cdef int to_u32(object value, str name, uint32_t *out) except -1:
    """operator.index(value), which must fit in u32, as the twin's _u32."""
    cdef int overflow = 0
    cdef long long x
    if not PyLong_CheckExact(value):
        value = PyNumber_Index(value)
    x = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or x < 0 or x > 0xFFFFFFFF:
        raise ValueError(f"{name} {value} is out of range 0..0xFFFFFFFF")
    out[0] = <uint32_t>x
    return 0


cdef int to_record_type(object value) except -1:
    cdef int overflow = 0
    cdef long long x
    if not PyLong_CheckExact(value):
        value = PyNumber_Index(value)
    x = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or x < 1 or x > 255:
        raise ValueError(f"record type {value} is out of range 1..255 (0 is reserved)")
    return <int>x


cdef str oversize(Py_ssize_t length):
    return f"record payload of {length} bytes exceeds MAX_RECORD_BYTES ({WAL_MAX_RECORD_SIZE})"


# --- CRC-32C and masking -------------------------------------------------------------------


cdef object _checksum(object data, object value, bint table):
    """Both public CRC functions: the dispatching implementation, or the table one."""
    cdef Py_buffer view
    cdef uint32_t crc = 0
    cdef const unsigned char *buf
    cdef size_t size
    acquire(data, &view)
    try:
        to_u32(value, "value", &crc)
        buf = <const unsigned char *>view.buf
        size = <size_t>view.len
        if view.len >= WAL_GIL_RELEASE_BYTES:
            with nogil:
                crc = omen_crc32c_sw(crc, buf, size) if table else omen_crc32c(crc, buf, size)
        else:
            crc = omen_crc32c_sw(crc, buf, size) if table else omen_crc32c(crc, buf, size)
    finally:
        PyBuffer_Release(&view)
    return crc


def crc32c(data, value=0):
    """CRC-32C of `data` (any C-contiguous buffer), continuing from the CRC `value`."""
    return _checksum(data, value, False)


def crc32c_table(data, value=0):
    """crc32c() by slicing-by-8 table lookups, whatever the CPU supports (for tests)."""
    return _checksum(data, value, True)


def mask(crc):
    """The form in which a CRC is stored: rotated right by 15 bits, plus a constant."""
    cdef uint32_t x = 0
    to_u32(crc, "crc", &x)
    return mask_crc(x)


def unmask(masked):
    """Inverse of mask()."""
    cdef uint32_t x = 0
    to_u32(masked, "masked", &x)
    return unmask_crc(x)


# --- Encoding ------------------------------------------------------------------------------


cdef void write_record(unsigned char *out, uint8_t record_type, const unsigned char *payload,
                       uint32_t length) noexcept nogil:
    store_le32(out, length)
    out[8] = record_type
    memcpy(out + WAL_HEADER_SIZE, payload, length)
    # Checksum the copy, not the source: what is stored is what is covered.
    store_le32(out + 4, frame_crc(out, length))


def encode(type, payload):
    """One framed record: header, then the payload."""
    cdef int record_type = to_record_type(type)
    cdef Py_buffer view
    cdef bytes out
    cdef unsigned char *target
    acquire(payload, &view)
    try:
        if view.len > WAL_MAX_RECORD_SIZE:
            raise ValueError(oversize(view.len))
        out = PyBytes_FromStringAndSize(NULL, WAL_HEADER_SIZE + view.len)
        target = <unsigned char *>PyBytes_AS_STRING(out)
        if view.len >= WAL_GIL_RELEASE_BYTES:
            with nogil:
                write_record(target, <uint8_t>record_type, <const unsigned char *>view.buf,
                             <uint32_t>view.len)
        else:
            write_record(target, <uint8_t>record_type, <const unsigned char *>view.buf,
                         <uint32_t>view.len)
    finally:
        PyBuffer_Release(&view)
    return out


cdef object held_bytes(object payload, const unsigned char **data, Py_ssize_t *length):
    """What keeps `payload`'s bytes alive and unchanged until it is dropped: an exact bytes
    object itself (immutable), anything else a memoryview exporting it (a bytearray cannot
    resize while exported). Sets *data and *length to its bytes."""
    cdef Py_buffer *view
    if PyBytes_CheckExact(payload):
        data[0] = <const unsigned char *>PyBytes_AS_STRING(payload)
        length[0] = PyBytes_GET_SIZE(payload)
        return payload
    held = PyMemoryView_FromObject(payload)
    view = PyMemoryView_GET_BUFFER(held)
    if not PyBuffer_IsContiguous(view, b"C"):
        raise BufferError("a C-contiguous buffer is required")
    data[0] = <const unsigned char *>view.buf
    length[0] = view.len
    return held


def encode_many(records):
    """encode() of each (type, payload) pair, concatenated; every record is checked first."""
    # Pass 1 checks every record and holds its bytes: exact bytes objects as they are (they are
    # immutable), anything else as a memoryview, whose export keeps a bytearray from resizing
    # until pass 2 has copied it. Pass 2 writes into one bytes object of the exact total size.
    cdef list held = []
    cdef bytearray kinds = bytearray()
    cdef Py_ssize_t total = 0
    cdef Py_ssize_t index = 0
    cdef Py_ssize_t length
    cdef Py_ssize_t i, count
    cdef int record_type
    cdef Py_buffer *view
    cdef bytes out
    cdef unsigned char *target
    cdef const unsigned char *data
    cdef object payload_obj
    for type_, payload in records:
        try:
            record_type = to_record_type(type_)
            payload_obj = held_bytes(payload, &data, &length)
            if length > WAL_MAX_RECORD_SIZE:
                raise ValueError(oversize(length))
        except ValueError as exc:
            raise ValueError(f"record {index}: {exc}") from None
        if total > PY_SSIZE_T_MAX - WAL_HEADER_SIZE - length:
            raise OverflowError("the encoded records would exceed PY_SSIZE_T_MAX bytes")
        total += WAL_HEADER_SIZE + length
        held.append(payload_obj)
        kinds.append(record_type)
        index += 1

    out = PyBytes_FromStringAndSize(NULL, total)
    target = <unsigned char *>PyBytes_AS_STRING(out)
    count = len(held)
    for i in range(count):
        payload_obj = held[i]
        if PyBytes_CheckExact(payload_obj):
            data = <const unsigned char *>PyBytes_AS_STRING(payload_obj)
            length = PyBytes_GET_SIZE(payload_obj)
            write_record(target, kinds[i], data, <uint32_t>length)
        else:
            view = PyMemoryView_GET_BUFFER(payload_obj)
            length = view.len
            write_record(target, kinds[i], <const unsigned char *>view.buf, <uint32_t>length)
        target += WAL_HEADER_SIZE + length
    return out


SEQUENCE_BYTES = WAL_SEQUENCE_BYTES


cdef void write_sequenced(unsigned char *out, uint8_t record_type, uint64_t sequence,
                          const unsigned char *body, uint32_t body_length) noexcept nogil:
    """write_record() of the payload sequence (u64 little-endian) + body, without building it."""
    cdef uint32_t length = WAL_SEQUENCE_BYTES + body_length
    cdef int i
    store_le32(out, length)
    out[8] = record_type
    for i in range(8):
        out[WAL_HEADER_SIZE + i] = <unsigned char>(sequence >> (8 * i))
    memcpy(out + WAL_HEADER_SIZE + WAL_SEQUENCE_BYTES, body, body_length)
    store_le32(out + 4, frame_crc(out, length))


ctypedef struct Sequenced:
    const unsigned char *body
    uint32_t length
    uint8_t record_type
    uint64_t sequence


def frame_sequenced(records, start, room, base, array.array offsets, array.array types):
    """The twin's frame_sequenced(): records[start:] framed while they fit in `room` bytes, each
    payload the sequence (u64 little-endian) then the body. Pass 1 checks every record and
    holds its bytes (as encode_many); pass 2 writes them, without the GIL when the frames are
    at least WAL_GIL_RELEASE_BYTES long: the bodies are immutable bytes or exported buffers."""
    cdef Py_ssize_t first = PyNumber_Index(start)
    cdef Py_ssize_t limit = PyNumber_Index(room)
    cdef Py_ssize_t at = PyNumber_Index(base)
    if first < 0 or limit < 0 or at < 0:
        raise ValueError(
            f"start {first}, room {limit} and base {at} must not be negative"
        )
    if offsets is None or offsets.ob_descr.typecode != b"Q":
        raise TypeError("offsets must be an array of typecode 'Q'")
    if types is None or types.ob_descr.typecode != b"B":
        raise TypeError("types must be an array of typecode 'B'")
    cdef list held = []
    cdef Sequenced *items = NULL
    cdef Sequenced *grown
    cdef Py_ssize_t capacity = 0
    cdef Py_ssize_t count = 0
    cdef Py_ssize_t total = 0
    cdef Py_ssize_t index = first
    cdef Py_ssize_t size, length, i
    cdef int record_type
    cdef uint64_t number
    cdef const unsigned char *data
    cdef bytes out
    cdef unsigned char *target
    cdef array.array new_offsets
    cdef array.array new_types
    try:
        while index < len(records):
            type_, body, sequence = records[index]
            try:
                record_type = to_record_type(type_)
                sequence = PyNumber_Index(sequence)
                if sequence < 0 or sequence > 0xFFFFFFFFFFFFFFFF:
                    raise ValueError(
                        f"sequence {sequence} is out of range 0..0xFFFFFFFFFFFFFFFF"
                    )
                number = <uint64_t>sequence
                payload_obj = held_bytes(body, &data, &length)
                if length > WAL_MAX_RECORD_SIZE - WAL_SEQUENCE_BYTES:
                    raise ValueError(oversize(WAL_SEQUENCE_BYTES + length))
            except ValueError as exc:
                raise ValueError(f"record {index}: {exc}") from None
            size = WAL_HEADER_SIZE + WAL_SEQUENCE_BYTES + length
            if size > limit - total:
                break
            if count == capacity:
                capacity = 16 if capacity == 0 else 2 * capacity
                grown = <Sequenced *>realloc(items, capacity * sizeof(Sequenced))
                if grown is NULL:
                    raise MemoryError()
                items = grown
            held.append(payload_obj)
            items[count].body = data
            items[count].length = <uint32_t>length
            items[count].record_type = <uint8_t>record_type
            items[count].sequence = number
            count += 1
            total += size
            index += 1

        out = PyBytes_FromStringAndSize(NULL, total)
        target = <unsigned char *>PyBytes_AS_STRING(out)
        new_offsets = array.clone(_OFFSETS_TEMPLATE, count, False)
        new_types = array.clone(_TYPES_TEMPLATE, count, False)
        size = 0
        for i in range(count):
            new_offsets.data.as_ulonglongs[i] = <unsigned long long>(at + size)
            new_types.data.as_uchars[i] = items[i].record_type
            size += WAL_HEADER_SIZE + WAL_SEQUENCE_BYTES + items[i].length
        if total >= WAL_GIL_RELEASE_BYTES:
            with nogil:
                _write_sequenced_all(target, items, count)
        else:
            _write_sequenced_all(target, items, count)
    finally:
        free(items)
    array.extend(offsets, new_offsets)
    array.extend(types, new_types)
    return out, index


cdef void _write_sequenced_all(unsigned char *target, const Sequenced *items,
                               Py_ssize_t count) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(count):
        write_sequenced(target, items[i].record_type, items[i].sequence, items[i].body,
                        items[i].length)
        target += WAL_HEADER_SIZE + WAL_SEQUENCE_BYTES + items[i].length


# --- Decoding and scanning -----------------------------------------------------------------


cdef RecordProblem check_record(const unsigned char *base, size_t p, size_t end,
                                RecordInfo *info) noexcept nogil:
    """What is wrong with the record at p, with bytes from `end` on unseen (decode() order)."""
    cdef const unsigned char *record = base + p
    info.length = 0
    info.type = 0
    info.stored = 0
    info.computed = 0
    if end - p < WAL_HEADER_SIZE:
        info.problem = RECORD_SHORT_HEADER
        return info.problem
    info.length = load_le32(record)
    info.stored = load_le32(record + 4)
    info.type = record[8]
    if info.type == 0:
        info.problem = RECORD_RESERVED_TYPE
    elif info.length > WAL_MAX_RECORD_SIZE:
        info.problem = RECORD_TOO_LONG
    elif info.length > end - p - WAL_HEADER_SIZE:
        info.problem = RECORD_SHORT_PAYLOAD
    else:
        info.computed = frame_crc(record, info.length)
        info.problem = RECORD_OK if info.computed == info.stored else RECORD_BAD_CHECKSUM
    return info.problem


cdef str describe(RecordInfo *info, size_t p, size_t end):
    """The twin's _describe(), word for word."""
    if info.problem == RECORD_SHORT_HEADER:
        return (
            f"incomplete record header: {end - p} of {WAL_HEADER_SIZE} bytes before the end "
            f"at {end}"
        )
    if info.problem == RECORD_RESERVED_TYPE:
        return "record type 0 is reserved (zero-filled space is not a record)"
    if info.problem == RECORD_TOO_LONG:
        return f"record length {info.length} exceeds MAX_RECORD_BYTES ({WAL_MAX_RECORD_SIZE})"
    if info.problem == RECORD_SHORT_PAYLOAD:
        return f"record payload of {info.length} bytes runs past the end at {end}"
    stored = <object>info.stored
    computed = <object>info.computed
    return f"checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"


def decode(buffer, offset=0):
    """(type, payload, offset of the next record) of the record at `offset`.

    Raises TornRecordError when the record runs past the end of the buffer, CorruptRecordError
    when it is complete but invalid, RecordError when `offset` is outside the buffer.
    """
    cdef Py_buffer view
    cdef RecordInfo info
    cdef size_t p, end
    cdef const unsigned char *base
    acquire(buffer, &view)
    try:
        offset = PyNumber_Index(offset)
        if offset < 0 or offset > view.len:
            raise RecordError(offset, f"offset {offset} is outside the buffer of {view.len} bytes")
        p = <size_t>offset
        end = <size_t>view.len
        base = <const unsigned char *>view.buf
        if check_record(base, p, end, &info) != RECORD_OK:
            reason = describe(&info, p, end)
            if info.problem == RECORD_SHORT_HEADER or info.problem == RECORD_SHORT_PAYLOAD:
                raise TornRecordError(offset, reason)
            raise CorruptRecordError(offset, reason)
        payload = PyBytes_FromStringAndSize(
            <const char *>(base + p + WAL_HEADER_SIZE), <Py_ssize_t>info.length
        )
        return info.type, payload, p + WAL_HEADER_SIZE + info.length
    finally:
        PyBuffer_Release(&view)


cdef inline uint64_t load_u64(const unsigned char *p) noexcept nogil:
    cdef uint64_t word
    memcpy(&word, p, 8)  # one load; memcpy keeps it free of aliasing and alignment issues
    return word


cdef Py_ssize_t first_nonzero(const unsigned char *base, size_t start, size_t end) noexcept nogil:
    """Offset of the first non-zero byte in [start, end), or -1."""
    cdef size_t p = start
    while p < end and (<size_t>(base + p) & 7) != 0:
        if base[p]:
            return <Py_ssize_t>p
        p += 1
    while end - p >= 32:
        # Four words per test: zero space is scanned at memory speed.
        if load_u64(base + p) | load_u64(base + p + 8) | load_u64(base + p + 16) | load_u64(
            base + p + 24
        ):
            break
        p += 32
    while p < end:
        if base[p]:
            return <Py_ssize_t>p
        p += 1
    return -1


cdef int push_record(ScanState *state, size_t offset, uint8_t record_type) noexcept nogil:
    cdef size_t capacity
    cdef uint64_t *offsets
    cdef uint8_t *types
    if state.count == state.capacity:
        capacity = state.capacity * 2 if state.capacity else 1024
        offsets = <uint64_t *>realloc(state.offsets, capacity * sizeof(uint64_t))
        if offsets is NULL:
            return -1
        state.offsets = offsets
        types = <uint8_t *>realloc(state.types, capacity * sizeof(uint8_t))
        if types is NULL:
            return -1
        state.types = types
        state.capacity = capacity
    state.offsets[state.count] = offset
    state.types[state.count] = record_type
    state.count += 1
    return 0


cdef inline uint32_t prefix_register(const unsigned char *base, size_t p,
                                     const uint32_t *checkpoints, size_t x) noexcept nogil:
    """The CRC register (from 0) of base[p:x], from the checkpoint at or before x."""
    cdef size_t index = (x - p) >> WAL_PREFIX_SHIFT
    cdef size_t start = p + (index << WAL_PREFIX_SHIFT)
    return omen_crc32c_register(checkpoints[index], base + start, x - start)


cdef int find_valid_record(const unsigned char *base, size_t p, size_t extent, size_t end,
                           size_t *found) noexcept nogil:
    """1 (and *found) for the first q in (p, extent) where a valid record ending by `end` starts,
    0 when there is none, -1 when out of memory; linear in end - p (see wal_py.py).

    register(s, data) = append_zeros(s, len(data)) ^ register(0, data): with a register of every
    64-byte prefix of base[p:end], each candidate's checksum costs a few table lookups, however
    long the payload it claims.
    """
    cdef size_t stop, q, i, count, start, finish
    cdef uint32_t *checkpoints = NULL
    cdef uint32_t length, reg
    if end < WAL_HEADER_SIZE:
        return 0
    stop = end - WAL_HEADER_SIZE + 1  # a candidate needs a whole header
    if extent < stop:
        stop = extent
    q = p + 1
    while q < stop:
        length = load_le32(base + q)
        if (base[q + 8] != 0 and length <= WAL_MAX_RECORD_SIZE
                and length <= end - q - WAL_HEADER_SIZE):
            if checkpoints is NULL:  # built at the first candidate: most tails have none
                count = ((end - p) >> WAL_PREFIX_SHIFT) + 1
                checkpoints = <uint32_t *>malloc(count * sizeof(uint32_t))
                if checkpoints is NULL:
                    return -1
                reg = 0
                checkpoints[0] = 0
                for i in range(1, count):
                    reg = omen_crc32c_register(
                        reg, base + p + ((i - 1) << WAL_PREFIX_SHIFT), 1 << WAL_PREFIX_SHIFT
                    )
                    checkpoints[i] = reg
            start = q + 8  # the type byte, then the payload
            finish = start + 1 + length
            reg = omen_crc32c_register(<uint32_t>0xFFFFFFFF, base + q, 4)  # the length bytes
            reg = omen_crc32c_append_zeros(
                reg ^ prefix_register(base, p, checkpoints, start), <uint32_t>(finish - start)
            ) ^ prefix_register(base, p, checkpoints, finish)
            if mask_crc(~reg) == load_le32(base + q + 4):
                found[0] = q
                free(checkpoints)
                return 1
        q += 1
    free(checkpoints)
    return 0


cdef void scan_records(const unsigned char *base, size_t start, size_t end,
                       ScanState *state) noexcept nogil:
    """The decision table of wal_py.py, on raw memory; the caller turns `state` into a result."""
    cdef size_t p = start
    cdef size_t extent
    cdef Py_ssize_t after
    cdef int found

    while p < end:
        if check_record(base, p, end, &state.record) != RECORD_OK:
            break
        if push_record(state, p, state.record.type) < 0:
            state.out_of_memory = True
            return
        p += WAL_HEADER_SIZE + state.record.length
    state.valid_end = p
    state.status = SCAN_OK
    if p == end or first_nonzero(base, p, end) < 0:
        return

    state.status = SCAN_CORRUPT
    if state.record.problem == RECORD_BAD_CHECKSUM:
        extent = p + WAL_HEADER_SIZE + state.record.length
    elif state.record.problem == RECORD_RESERVED_TYPE or state.record.problem == RECORD_TOO_LONG:
        extent = p + WAL_HEADER_SIZE
    else:
        extent = end
    after = first_nonzero(base, extent, end)
    if after >= 0:
        state.evidence = EVIDENCE_NONZERO
        state.evidence_offset = <size_t>after
        return
    # A valid record inside the extent means a damaged length, not a torn write.
    found = find_valid_record(base, p, extent, end, &state.evidence_offset)
    if found < 0:
        state.out_of_memory = True
    elif found:
        state.evidence = EVIDENCE_RECORD
    else:
        state.status = SCAN_TORN


def scan(buffer, offset=0, end=None):
    """Verify every record in [offset, end) and classify how the records end (see wal_py.py)."""
    cdef Py_buffer view
    cdef ScanState state
    cdef size_t start, stop, p
    cdef array.array offsets, types
    cdef Py_ssize_t size
    state.offsets = NULL
    state.types = NULL
    state.count = 0
    state.capacity = 0
    state.out_of_memory = False
    state.evidence = EVIDENCE_NONE
    state.evidence_offset = 0
    acquire(buffer, &view)
    try:
        size = view.len
        offset = PyNumber_Index(offset)
        end = size if end is None else PyNumber_Index(end)
        if not 0 <= offset <= end <= size:
            raise ValueError(
                f"need 0 <= offset <= end <= {size}, got offset {offset} and end {end}"
            )
        start = <size_t>offset
        stop = <size_t>end
        if stop - start >= WAL_GIL_RELEASE_BYTES:
            with nogil:
                scan_records(<const unsigned char *>view.buf, start, stop, &state)
        else:
            scan_records(<const unsigned char *>view.buf, start, stop, &state)
        if state.out_of_memory:
            raise MemoryError("cannot allocate the record offsets or prefix registers of a scan")

        offsets = array.clone(_OFFSETS_TEMPLATE, <Py_ssize_t>state.count, False)
        types = array.clone(_TYPES_TEMPLATE, <Py_ssize_t>state.count, False)
        if state.count:
            memcpy(offsets.data.as_voidptr, state.offsets, state.count * sizeof(uint64_t))
            memcpy(types.data.as_voidptr, state.types, state.count * sizeof(uint8_t))
        p = state.valid_end
        if state.status == SCAN_OK:
            return ScanResult(_STATUS_OK, offsets, types, p, None, "")
        what = describe(&state.record, p, stop)
        if state.status == SCAN_TORN:
            return ScanResult(_STATUS_TORN, offsets, types, p, p, f"torn tail: {what}")
        if state.evidence == EVIDENCE_NONZERO:
            reason = (
                f"corrupt record: {what}; a non-zero byte follows at offset "
                f"{state.evidence_offset}"
            )
        else:
            reason = (
                f"corrupt record: {what}; a valid record follows at offset "
                f"{state.evidence_offset}"
            )
        return ScanResult(_STATUS_CORRUPT, offsets, types, p, p, reason)
    finally:
        free(state.offsets)
        free(state.types)
        PyBuffer_Release(&view)
