# C-level declarations of omen._native.signalwire (asyncpg style: the output buffer and the
# explicit little-endian packing are declared here, the encoders defined in signalwire.pyx). The
# wire format and the byte-identity contract with upb are documented in signalwire_py.py, which
# is the reference.

from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy


cdef enum:
    # Bytes of the stack buffer each call starts with; a typical signal (a few hundred bytes of
    # text, five rule results, a handful of evidence) encodes without a heap allocation.
    STACK_BYTES = 4096
    # Longest varint: a negative int32 or int64 sign-extended to 64 bits.
    MAX_VARINT = 10


# A growable output buffer: `data` is the caller's stack array until the first growth, then a
# PyMem_Malloc'd block (`heap`), which the caller frees.
cdef struct Writer:
    unsigned char *data
    Py_ssize_t length
    Py_ssize_t capacity
    bint heap


cdef inline Py_ssize_t varint_size(uint64_t x) noexcept nogil:
    cdef Py_ssize_t n = 1
    while x > 0x7F:
        x >>= 7
        n += 1
    return n


cdef inline Py_ssize_t store_varint(unsigned char *p, uint64_t x) noexcept nogil:
    # Writes x as a base-128 varint at p; returns the number of bytes written (1..10).
    cdef Py_ssize_t n = 0
    while x > 0x7F:
        p[n] = <unsigned char>((x & 0x7F) | 0x80)
        x >>= 7
        n += 1
    p[n] = <unsigned char>x
    return n + 1


# Explicit little-endian packing of a double's bits, independent of the host byte order
# (compilers turn this into one store on little-endian hosts). memcpy is the
# strict-aliasing-safe reinterpretation; every platform CPython supports stores doubles and
# 64-bit integers in the same byte order.
cdef inline uint64_t double_bits(double x) noexcept nogil:
    cdef uint64_t bits = 0
    memcpy(&bits, &x, sizeof(bits))
    return bits


cdef inline void store_le64(unsigned char *p, uint64_t x) noexcept nogil:
    p[0] = <uint8_t>x
    p[1] = <uint8_t>(x >> 8)
    p[2] = <uint8_t>(x >> 16)
    p[3] = <uint8_t>(x >> 24)
    p[4] = <uint8_t>(x >> 32)
    p[5] = <uint8_t>(x >> 40)
    p[6] = <uint8_t>(x >> 48)
    p[7] = <uint8_t>(x >> 56)


cdef inline void writer_start(Writer *w, unsigned char *stack) noexcept nogil:
    """An empty writer over the caller's stack array of STACK_BYTES (free w.data after use
    when w.heap)."""
    w.data = stack
    w.length = 0
    w.capacity = STACK_BYTES
    w.heap = False


# Tags (field number << 3 | wire type) of omen.v1.OmenSignal and its submessages.
cdef enum:
    WIRE_VARINT = 0
    WIRE_FIXED64 = 1
    WIRE_LEN = 2


cdef inline uint64_t tag(uint64_t field, uint64_t wire_type) noexcept nogil:
    return (field << 3) | wire_type


cdef int grow(Writer *w, Py_ssize_t extra) except -1


cdef inline int reserve(Writer *w, Py_ssize_t extra) except -1:
    if extra > w.capacity - w.length:
        return grow(w, extra)
    return 0


cdef inline void put_varint_unchecked(Writer *w, uint64_t x) noexcept nogil:
    w.length += store_varint(w.data + w.length, x)


cdef inline int put_varint(Writer *w, uint64_t x) except -1:
    reserve(w, MAX_VARINT)
    put_varint_unchecked(w, x)
    return 0


cdef inline int put_bytes(Writer *w, uint64_t tag_, const char *data, Py_ssize_t size) except -1:
    """A length-delimited field: tag, varint length, the bytes."""
    reserve(w, 2 * MAX_VARINT)
    put_varint_unchecked(w, tag_)
    put_varint_unchecked(w, <uint64_t>size)
    reserve(w, size)
    memcpy(w.data + w.length, data, <size_t>size)
    w.length += size
    return 0


cdef inline int put_double_c(Writer *w, uint64_t tag_, double x) except -1:
    """put_double() of a C double: omitted only when its bits are all zero (+0.0)."""
    cdef uint64_t bits = double_bits(x)
    if bits:
        reserve(w, MAX_VARINT + 8)
        put_varint_unchecked(w, tag_)
        store_le64(w.data + w.length, bits)
        w.length += 8
    return 0


cdef inline Py_ssize_t open_message(Writer *w, uint64_t tag_) except -1:
    """Write the tag and a one-byte length placeholder; returns where the body starts."""
    reserve(w, MAX_VARINT + 1)
    put_varint_unchecked(w, tag_)
    w.data[w.length] = 0
    w.length += 1
    return w.length


cdef int close_message(Writer *w, Py_ssize_t start) except -1
cdef int put_string(Writer *w, uint64_t tag, object value) except -1
cdef int put_strings(Writer *w, uint64_t tag, object values) except -1
cdef int put_double(Writer *w, uint64_t tag, object value) except -1
cdef int put_bool(Writer *w, uint64_t tag, object value) except -1
cdef int put_enum(Writer *w, uint64_t tag, object value) except -1
cdef int put_uint64(Writer *w, uint64_t tag, object value) except -1
cdef int put_timestamp(Writer *w, uint64_t tag, object ns) except -1
cdef int put_location(Writer *w, uint64_t tag_, object c) except -1
cdef int put_evidence(Writer *w, uint64_t tag_, object kind, object description, object value,
                      object url) except -1
cdef int put_validation_result(Writer *w, uint64_t tag_, object r) except -1
cdef int put_signal(Writer *w, object s) except -1
cdef int put_record_head(Writer *w, object event_hash, object signal_id, object probability,
                         object market_key) except -1
