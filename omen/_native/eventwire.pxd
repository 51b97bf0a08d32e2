# C-level declarations of omen._native.eventwire (asyncpg style, as wal.pxd): the wire types,
# the problems a reader records, and the readers of the protobuf wire format. Each reader returns
# the offset after what it read, or -1 with the problem recorded in an Err; eventwire_py.py, the
# reference, documents what upb accepts and what each problem is called.

from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy


cdef extern from "Python.h":
    # The str's UTF-8 form: its own bytes when it is ASCII, else made once and kept in the str
    # (NULL with MemoryError set if that allocation fails).
    const char *str_utf8 "PyUnicode_AsUTF8AndSize" (object text, Py_ssize_t *size) except NULL


cdef enum:
    MAX_DEPTH = 100
    WT_VARINT = 0
    WT_FIXED64 = 1
    WT_LEN = 2
    WT_START_GROUP = 3
    WT_END_GROUP = 4
    WT_FIXED32 = 5


# What went wrong (Err.code); wire_problem() words each as the twins do.
cdef enum:
    E_NONE = 0
    E_TRUNCATED_TAG
    E_INVALID_TAG
    E_TRUNCATED_VARINT
    E_LONG_VARINT
    E_TRUNCATED_LENGTH
    E_LONG_LENGTH
    E_LENGTH_BEYOND  # arg1: the length, arg2: the bytes left
    E_TRUNCATED_FIXED64
    E_TRUNCATED_FIXED32
    E_TOO_DEEP
    E_UNTERMINATED_GROUP  # arg1: field number
    E_END_GROUP  # arg1: field number
    E_WIRE_TYPE  # arg1: wire type
    E_FIELD_ZERO
    E_PACKED_LENGTH  # arg1: the length
    E_UTF8  # arg1: index in _TEXT_NAMES

# Names of the string fields in messages (E_UTF8's arg1).
cdef enum:
    N_CORRELATION_ID = 0
    N_EVENT_ID
    N_SOURCE
    N_MARKET_ID
    N_TITLE
    N_DESCRIPTION
    N_MARKET_URL
    N_KEYWORDS
    N_LOCATION_NAME
    N_LOCATION_REGION
    N_METRIC_KEY


# RawSignalEvent's length-delimited fields as a bit set by field number: 1-5, 7, 11-18 and 20
# (outcome_prices in its packed form).
cdef enum:
    LEN_FIELDS = 0x17F8BE


cdef struct Err:
    int code
    Py_ssize_t at  # offset in the request's bytes
    int64_t arg1
    int64_t arg2


cdef inline Py_ssize_t fail(Err *e, int code, Py_ssize_t at, int64_t arg1=0,
                            int64_t arg2=0) noexcept:
    e.code = code
    e.at = at
    e.arg1 = arg1
    e.arg2 = arg2
    return -1


cdef inline str wire_problem(Err *e, tuple text_names):
    """The twins' wording of the problem `e` records (without the offset); `text_names` names
    the string fields E_UTF8's arg1 indexes."""
    cdef int code = e.code
    if code == E_TRUNCATED_TAG:
        return "truncated tag"
    if code == E_INVALID_TAG:
        return "invalid tag"
    if code == E_TRUNCATED_VARINT:
        return "truncated varint"
    if code == E_LONG_VARINT:
        return "varint longer than 10 bytes"
    if code == E_TRUNCATED_LENGTH:
        return "truncated length"
    if code == E_LONG_LENGTH:
        return "length longer than 5 bytes"
    if code == E_LENGTH_BEYOND:
        return f"length {e.arg1} exceeds the {e.arg2} bytes left"
    if code == E_TRUNCATED_FIXED64:
        return "truncated fixed64"
    if code == E_TRUNCATED_FIXED32:
        return "truncated fixed32"
    if code == E_TOO_DEEP:
        return f"nesting deeper than {MAX_DEPTH} levels"
    if code == E_UNTERMINATED_GROUP:
        return f"group {e.arg1} not terminated"
    if code == E_END_GROUP:
        return f"unexpected end-group tag {e.arg1}"
    if code == E_WIRE_TYPE:
        return f"invalid wire type {e.arg1}"
    if code == E_FIELD_ZERO:
        return "field number 0"
    if code == E_PACKED_LENGTH:
        return f"packed outcome_prices length {e.arg1} is not a multiple of 8"
    if code == E_UTF8:
        return f"invalid UTF-8 in {text_names[e.arg1]}"
    raise AssertionError(f"no wire problem recorded (code {code})")


cdef inline Py_ssize_t read_tag(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                                uint32_t *tag, Err *e) noexcept:
    """A tag: at most 5 bytes and at most 2**32 - 1, as upb reads it."""
    cdef Py_ssize_t start = pos
    cdef uint64_t value = 0
    cdef uint64_t byte
    cdef int shift
    if pos < end and b[pos] < 0x80:
        tag[0] = b[pos]
        return pos + 1
    for shift in range(0, 35, 7):
        if pos >= end:
            return fail(e, E_TRUNCATED_TAG, start)
        byte = b[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value > 0xFFFFFFFFu:
                break
            tag[0] = <uint32_t>value
            return pos
    return fail(e, E_INVALID_TAG, start)


cdef inline Py_ssize_t read_varint(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                                   uint64_t *out, Err *e) noexcept:
    """A varint of at most 10 bytes; bits beyond 64 are dropped."""
    cdef Py_ssize_t start = pos
    cdef uint64_t value = 0
    cdef uint64_t byte
    cdef int shift
    if pos < end and b[pos] < 0x80:
        out[0] = b[pos]
        return pos + 1
    for shift in range(0, 70, 7):
        if pos >= end:
            return fail(e, E_TRUNCATED_VARINT, start)
        byte = b[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            out[0] = value
            return pos
    return fail(e, E_LONG_VARINT, start)


cdef inline Py_ssize_t read_length(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                                   Py_ssize_t *out, Err *e) noexcept:
    """A length of at most 5 bytes that fits in the bytes left before `end`."""
    cdef Py_ssize_t start = pos
    cdef uint64_t value = 0
    cdef uint64_t byte
    cdef int shift
    for shift in range(0, 35, 7):
        if pos >= end:
            return fail(e, E_TRUNCATED_LENGTH, start)
        byte = b[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value > <uint64_t>(end - pos):
                return fail(e, E_LENGTH_BEYOND, start, <int64_t>value, end - pos)
            out[0] = <Py_ssize_t>value
            return pos
    return fail(e, E_LONG_LENGTH, start)


cdef inline Py_ssize_t read_field(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                                  uint32_t *tag, Err *e) noexcept:
    """A message's next tag: not an end-group tag, not field number 0."""
    cdef Py_ssize_t after = read_tag(b, pos, end, tag, e)
    if after < 0:
        return -1
    if tag[0] & 7 == WT_END_GROUP:
        return fail(e, E_END_GROUP, pos, tag[0] >> 3)
    if tag[0] >> 3 == 0:
        return fail(e, E_FIELD_ZERO, pos)
    return after


cdef inline double load_double(const unsigned char *p) noexcept:
    cdef uint64_t bits = (
        (<uint64_t>p[0]) | (<uint64_t>p[1] << 8) | (<uint64_t>p[2] << 16)
        | (<uint64_t>p[3] << 24) | (<uint64_t>p[4] << 32) | (<uint64_t>p[5] << 40)
        | (<uint64_t>p[6] << 48) | (<uint64_t>p[7] << 56)
    )
    cdef double value
    memcpy(&value, &bits, 8)
    return value


# The offset after the value of an unknown field (`depth`: the nesting levels left).
cdef Py_ssize_t skip_value(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end, uint32_t tag,
                           Py_ssize_t tag_at, int depth, Err *e) noexcept


# --- Decoded strs kept for reuse (both decoders) ----------------------------------------------
#
# A feed repeats most of its strings (a market's question, description, ids and place names come
# again with every observation; a signal's rule names, kinds and regions with every signal). Each
# decoder keeps the strs of chosen fields in a direct-mapped table of strong references, indexed
# by text_slot() of their bytes, and hands out the same str when the bytes recur: a slot lookup
# and a memcmp instead of a UTF-8 decode, an allocation and, later, a deallocation, and the str's
# hash, once computed, is kept with it for every dict it is then looked up in. A str is entered
# with its UTF-8 form made (str_utf8), so comparing bytes with it never allocates. strs are
# immutable, so sharing one is invisible (except to `is`); a colliding str replaces the entry.

cdef inline uint64_t load_le64(const unsigned char *p) noexcept nogil:
    cdef uint64_t x = 0
    memcpy(&x, p, 8)
    return x


cdef inline Py_ssize_t text_slot(const unsigned char *p, Py_ssize_t size, int bits) noexcept nogil:
    """The slot (0 <= slot < 2**bits) of the `size` >= 2 bytes at p: a hash of their length and
    first, middle and last (up to) eight bytes."""
    cdef uint64_t head, middle = 0, tail
    if size >= 8:
        head = load_le64(p)
        tail = load_le64(p + size - 8)
        if size >= 24:
            middle = load_le64(p + size // 2 - 4)
    else:
        head = (<uint64_t>p[0]) | (<uint64_t>p[1] << 8) | (<uint64_t>p[size - 1] << 16)
        tail = (<uint64_t>p[size // 2] << 8) | <uint64_t>p[size - 2]
    cdef uint64_t h = (head * <uint64_t>0x9E3779B97F4A7C15) ^ (tail + <uint64_t>size)
    h = (h ^ middle) * <uint64_t>0xC2B2AE3D27D4EB4F
    return <Py_ssize_t>(h >> (64 - bits))


cdef inline bint same_text(PyObject *cached, const unsigned char *p, Py_ssize_t size) except -1:
    """Whether the str `cached` (entered with its UTF-8 form made) is the `size` bytes at p."""
    cdef Py_ssize_t n = 0
    cdef const char *data = str_utf8(<object>cached, &n)
    return n == size and memcmp(data, p, <size_t>size) == 0
