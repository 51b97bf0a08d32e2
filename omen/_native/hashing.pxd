# C-level declarations of omen._native.hashing (asyncpg style: the buffer and the encoder
# helpers are declared here, defined in hashing.pyx). The encoding is documented on
# OmenSignal.input_event_hash in proto/omen/v1/signal.proto; hashing_py.py is the reference.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy


cdef enum:
    # Bytes stored inline in every WriteBuffer; a typical event (description of a few hundred
    # characters) encodes without a heap allocation.
    BUFFER_INITIAL_SIZE = 2048


# Explicit big-endian packing, independent of the host byte order (compilers turn these into a
# byte swap and one store).

cdef inline void pack_u32(char *p, uint32_t x) noexcept nogil:
    cdef uint8_t *out = <uint8_t *>p
    out[0] = <uint8_t>(x >> 24)
    out[1] = <uint8_t>(x >> 16)
    out[2] = <uint8_t>(x >> 8)
    out[3] = <uint8_t>x


cdef inline void pack_u64(char *p, uint64_t x) noexcept nogil:
    pack_u32(p, <uint32_t>(x >> 32))
    pack_u32(p + 4, <uint32_t>x)


cdef inline void pack_f64(char *p, double x) noexcept nogil:
    # IEEE-754 binary64: reinterpret the bits (memcpy is the strict-aliasing-safe way).
    cdef uint64_t bits = 0
    memcpy(&bits, &x, sizeof(bits))
    pack_u64(p, bits)


cdef class WriteBuffer:
    # Growable byte buffer. Exports its contents through the buffer protocol (read-only), so
    # hashlib reads it without a copy; it refuses to change while a view is exported.
    cdef:
        char *_buf
        Py_ssize_t _size
        Py_ssize_t _length
        Py_ssize_t _view_count
        bint _smallbuf_inuse
        char _smallbuf[BUFFER_INITIAL_SIZE]

    cdef inline int _check_readonly(self) except -1
    cdef inline int _ensure_alloced(self, Py_ssize_t extra_length) except -1
    cdef int _reallocate(self, Py_ssize_t needed) except -1

    cdef int reset(self) except -1
    cdef int write_byte(self, uint8_t b) except -1
    cdef int write_raw(self, const char *data, Py_ssize_t length) except -1
    cdef int write_u32(self, uint32_t value) except -1
    cdef int write_i32(self, int32_t value) except -1
    cdef int write_i64(self, int64_t value) except -1
    cdef int write_f64(self, double value) except -1
    cdef int write_len_prefixed(self, const char *data, Py_ssize_t length, str field) except -1
    cdef bytes to_bytes(self)


# Field encoders: each converts exactly as the twin does (float(), int(), str.encode("utf-8"))
# and raises ValueError when a value does not fit its fixed-width field.
cdef int check_u32(Py_ssize_t value, str field) except -1
cdef bytes utf8_bytes(object value)
cdef int encode_str(WriteBuffer buf, object value, str field) except -1
cdef int encode_f64(WriteBuffer buf, object value) except -1
cdef int encode_i64(WriteBuffer buf, object value, str field) except -1
cdef int encode_u32(WriteBuffer buf, object value, str field) except -1
cdef int encode_timestamp(WriteBuffer buf, object value_ns, str field) except -1
cdef int encode_event(WriteBuffer buf, object event) except -1
cdef str hexdigest(WriteBuffer buf)
