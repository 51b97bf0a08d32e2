"""Compiled twin of hashing_py.py: canonical encoding of a raw event and its SHA-256.

hashing_py.py is the reference: this module must produce identical bytes and raise the same
exception types (tests/unit/test_hashing_parity.py checks both). The encoding is documented on
OmenSignal.input_event_hash in proto/omen/v1/signal.proto.

The event is encoded into one growable C buffer (big-endian packing in C, strings copied from their
cached UTF-8 form) and hashed by hashlib's SHA-256 straight from that buffer. Events are
duck-typed: any object with the attributes of omen.domain.events.RawEvent works, and every field
is converted as the twin converts it (float(), int(), str.encode("utf-8")), with a fast path for
exact floats, ints and strs.
"""

cimport cython
from cpython.buffer cimport PyBuffer_FillInfo
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.number cimport PyNumber_Float, PyNumber_Long
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_AsUTF8String, PyUnicode_CheckExact
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from omen._native.sha256 cimport omen_sha256, omen_sha256_hw, omen_sha256_init
from omen._native.slots cimport Field, field_of, get

from hashlib import sha256 as _sha256

from omen.domain.events import Location as _Location
from omen.domain.events import Movement as _Movement
from omen.domain.events import RawEvent as _RawEvent

MAGIC = b"OMEN-EVENT-V1\n"

# C-level copy: reassigning the module attribute cannot change the encoding.
cdef bytes _MAGIC = MAGIC
cdef int64_t _NS = 1000000000
cdef object _NS_OBJ = 1000000000
cdef uint64_t _U32_MAX = 0xFFFFFFFF


@cython.final
@cython.auto_pickle(False)
@cython.freelist(8)  # buffers kept for reuse: event_hash() allocates nothing for typical events
cdef class WriteBuffer:
    """Growable byte buffer used by the encoder; it has no Python-level methods."""

    def __cinit__(self):
        self._buf = self._smallbuf
        self._size = BUFFER_INITIAL_SIZE
        self._length = 0
        self._view_count = 0
        self._smallbuf_inuse = True

    def __dealloc__(self):
        if self._buf is not NULL and not self._smallbuf_inuse:
            PyMem_Free(self._buf)
        self._buf = NULL
        self._size = 0
        self._length = 0

    def __getbuffer__(self, Py_buffer *buffer, int flags):
        PyBuffer_FillInfo(buffer, self, self._buf, self._length, 1, flags)
        self._view_count += 1

    def __releasebuffer__(self, Py_buffer *buffer):
        self._view_count -= 1

    cdef inline int _check_readonly(self) except -1:
        if self._view_count:
            raise BufferError("the buffer is exported and cannot be modified")
        return 0

    cdef inline int _ensure_alloced(self, Py_ssize_t extra_length) except -1:
        if extra_length > self._size - self._length:
            self._reallocate(self._length + extra_length)
        return 0

    cdef int _reallocate(self, Py_ssize_t needed) except -1:
        # `needed` cannot overflow: write_raw checks length + extra against PY_SSIZE_T_MAX and
        # the other writers add at most 8 bytes. Grow by doubling, capped at PY_SSIZE_T_MAX.
        cdef Py_ssize_t new_size = self._size
        cdef char *new_buf
        while new_size < needed:
            if new_size > PY_SSIZE_T_MAX // 2:
                new_size = needed
                break
            new_size *= 2
        if self._smallbuf_inuse:
            new_buf = <char *>PyMem_Malloc(<size_t>new_size)
            if new_buf is NULL:
                raise MemoryError(f"cannot allocate {new_size} bytes for the canonical encoding")
            memcpy(new_buf, self._buf, <size_t>self._length)
            self._smallbuf_inuse = False
        else:
            new_buf = <char *>PyMem_Realloc(self._buf, <size_t>new_size)
            if new_buf is NULL:
                raise MemoryError(f"cannot allocate {new_size} bytes for the canonical encoding")
        self._buf = new_buf
        self._size = new_size
        return 0

    cdef int reset(self) except -1:
        """Empty the buffer, keeping its allocation for the next event."""
        self._check_readonly()
        self._length = 0
        return 0

    cdef int write_byte(self, uint8_t b) except -1:
        self._check_readonly()
        self._ensure_alloced(1)
        self._buf[self._length] = <char>b
        self._length += 1
        return 0

    cdef int write_raw(self, const char *data, Py_ssize_t length) except -1:
        self._check_readonly()
        if length > PY_SSIZE_T_MAX - self._length:
            raise MemoryError("the canonical encoding is larger than PY_SSIZE_T_MAX bytes")
        self._ensure_alloced(length)
        memcpy(self._buf + self._length, data, <size_t>length)
        self._length += length
        return 0

    cdef int write_u32(self, uint32_t value) except -1:
        self._check_readonly()
        self._ensure_alloced(4)
        pack_u32(self._buf + self._length, value)
        self._length += 4
        return 0

    cdef int write_i32(self, int32_t value) except -1:
        self._check_readonly()
        self._ensure_alloced(4)
        # Two's complement: the bit pattern of the signed value.
        pack_u32(self._buf + self._length, <uint32_t>value)
        self._length += 4
        return 0

    cdef int write_i64(self, int64_t value) except -1:
        self._check_readonly()
        self._ensure_alloced(8)
        pack_u64(self._buf + self._length, <uint64_t>value)
        self._length += 8
        return 0

    cdef int write_f64(self, double value) except -1:
        self._check_readonly()
        self._ensure_alloced(8)
        pack_f64(self._buf + self._length, value)
        self._length += 8
        return 0

    cdef int write_len_prefixed(self, const char *data, Py_ssize_t length, str field) except -1:
        """A string field: u32 big-endian byte length, then the bytes."""
        check_u32(length, field)
        self.write_u32(<uint32_t>length)
        self.write_raw(data, length)
        return 0

    cdef bytes to_bytes(self):
        return PyBytes_FromStringAndSize(self._buf, self._length)


cdef int check_u32(Py_ssize_t value, str field) except -1:
    # Lengths and counts are never negative; compare unsigned 64-bit so that a 32-bit
    # Py_ssize_t cannot truncate the limit.
    if <uint64_t>value > _U32_MAX:
        raise ValueError(
            f"{field} is out of range for the canonical encoding: {value} does not fit in u32"
        )
    return 0


cdef bytes utf8_bytes(object value):
    """value.encode("utf-8") as the twin calls it; exact str objects skip the method lookup."""
    if PyUnicode_CheckExact(value):
        return PyUnicode_AsUTF8String(value)
    return value.encode("utf-8")


cdef int encode_str(WriteBuffer buf, object value, str field) except -1:
    cdef const char *data
    cdef Py_ssize_t length = 0
    cdef bytes raw
    if PyUnicode_CheckExact(value):
        # Points into the str's cached UTF-8 form (no copy for ASCII strings); raises
        # UnicodeEncodeError for lone surrogates, as str.encode("utf-8") does.
        data = PyUnicode_AsUTF8AndSize(value, &length)
        return buf.write_len_prefixed(data, length, field)
    raw = utf8_bytes(value)
    return buf.write_len_prefixed(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), field)


cdef int encode_f64(WriteBuffer buf, object value) except -1:
    cdef double x
    if PyFloat_CheckExact(value):
        x = PyFloat_AS_DOUBLE(value)
    else:
        # float(value): the same conversion as the twin (ints, numpy scalars, __float__, str).
        x = PyFloat_AS_DOUBLE(PyNumber_Float(value))
    # Adding +0.0 maps -0.0 to +0.0 and leaves every other value unchanged.
    return buf.write_f64(x + 0.0)


cdef inline object _as_int(object value):
    """int(value), as the twin calls it."""
    if PyLong_CheckExact(value):
        return value
    return PyNumber_Long(value)


cdef int encode_i64(WriteBuffer buf, object value, str field) except -1:
    cdef int overflow = 0
    cdef long long x
    value = _as_int(value)
    x = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow:
        raise ValueError(
            f"{field} is out of range for the canonical encoding: {value} does not fit in i64"
        )
    return buf.write_i64(<int64_t>x)


cdef int encode_u32(WriteBuffer buf, object value, str field) except -1:
    cdef int overflow = 0
    cdef long long x
    value = _as_int(value)
    x = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or x < 0 or <uint64_t>x > _U32_MAX:
        raise ValueError(
            f"{field} is out of range for the canonical encoding: {value} does not fit in u32"
        )
    return buf.write_u32(<uint32_t>x)


cdef int encode_timestamp(WriteBuffer buf, object value_ns, str field) except -1:
    """None: byte 0. Else byte 1, then floor-divmod by 10**9 as i64 seconds and i32 nanos."""
    cdef int overflow = 0
    cdef long long ns
    cdef int64_t seconds
    cdef int64_t nanos
    if value_ns is None:
        return buf.write_byte(0)
    value_ns = _as_int(value_ns)
    ns = PyLong_AsLongLongAndOverflow(value_ns, &overflow)
    if not overflow:
        # cdivision=True: C division truncates toward zero; Python floors. Adjust negatives so
        # that nanos is always in [0, 10**9) and seconds = floor(ns / 10**9). No step can
        # overflow: |seconds| <= 2**63 / 10**9.
        seconds = ns // _NS
        nanos = ns % _NS
        if nanos < 0:
            nanos += _NS
            seconds -= 1
    else:
        # Outside i64 nanoseconds: Python ints for the division (seconds may still fit i64).
        py_seconds, py_nanos = divmod(value_ns, _NS_OBJ)
        seconds = PyLong_AsLongLongAndOverflow(py_seconds, &overflow)
        if overflow:
            raise ValueError(
                f"{field} is out of range for the canonical encoding: {value_ns} ns gives "
                f"{py_seconds} seconds, which does not fit in i64"
            )
        nanos = <int64_t>PyLong_AsLongLongAndOverflow(py_nanos, &overflow)
    buf.write_byte(1)
    buf.write_i64(seconds)
    buf.write_i32(<int32_t>nanos)
    return 0


# --- Reading the event's slots directly -------------------------------------------------------
#
# The event and its parts are slots dataclasses: slots.pxd's get() loads a field's pointer when
# the object is exactly the class the offset was taken from, and reads the attribute otherwise
# (any other object, duck-typed or a subclass), so the values, and the order of the reads, are
# the twin's. Attribute reads were ~40% of encoding a typical event.

cdef list _FIELD_NAMES = []
cdef dict _DIRECT = {}


cdef inline Field _field(object cls, str name) except *:
    return field_of(cls, name, _FIELD_NAMES, _DIRECT)


cdef Field E_event_id = _field(_RawEvent, "event_id")
cdef Field E_source = _field(_RawEvent, "source")
cdef Field E_market_id = _field(_RawEvent, "market_id")
cdef Field E_title = _field(_RawEvent, "title")
cdef Field E_description = _field(_RawEvent, "description")
cdef Field E_probability = _field(_RawEvent, "probability")
cdef Field E_movement = _field(_RawEvent, "movement")
cdef Field E_liquidity_usd = _field(_RawEvent, "liquidity_usd")
cdef Field E_volume_usd = _field(_RawEvent, "volume_usd")
cdef Field E_num_traders = _field(_RawEvent, "num_traders")
cdef Field E_keywords = _field(_RawEvent, "keywords")
cdef Field E_locations = _field(_RawEvent, "locations")
cdef Field E_market_url = _field(_RawEvent, "market_url")
cdef Field E_created_at_ns = _field(_RawEvent, "created_at_ns")
cdef Field E_resolution_date_ns = _field(_RawEvent, "resolution_date_ns")
cdef Field E_source_metrics = _field(_RawEvent, "source_metrics")
cdef Field E_outcome_prices = _field(_RawEvent, "outcome_prices")
cdef Field E_market_state = _field(_RawEvent, "market_state")
cdef Field M_previous = _field(_Movement, "previous")
cdef Field M_delta = _field(_Movement, "delta")
cdef Field M_window_hours = _field(_Movement, "window_hours")
cdef Field L_lat = _field(_Location, "lat")
cdef Field L_lon = _field(_Location, "lon")
cdef Field L_name = _field(_Location, "name")
cdef Field L_region_code = _field(_Location, "region_code")


def direct_fields():
    """Each field the encoder reads, "Class.field" -> True when it is read from its slot."""
    return dict(_DIRECT)


cdef list sorted_keywords(object keywords):
    """The distinct keywords, sorted by their UTF-8 bytes, as str when every one is an exact
    str (UTF-8 preserves code point order, so sorting the strs sorts their encodings, and two
    strs are equal exactly when their encodings are), else as their encodings. Sorted first,
    then each run of equal ones kept once: no set, so no str of a new event is hashed."""
    cdef list ordered
    cdef list out
    cdef Py_ssize_t i
    for k in keywords:
        if not PyUnicode_CheckExact(k):
            return sorted({utf8_bytes(k) for k in keywords})
    ordered = sorted(keywords)
    if len(ordered) < 2:
        return ordered
    out = [ordered[0]]
    for i in range(1, len(ordered)):
        if ordered[i] != ordered[i - 1]:
            out.append(ordered[i])
    return out


cdef int encode_event(WriteBuffer buf, object event) except -1:
    """Append the canonical encoding of `event`; attributes are read in the twin's order."""
    cdef Py_ssize_t count
    cdef bytes raw
    cdef list keywords
    cdef list metrics

    buf.write_raw(PyBytes_AS_STRING(_MAGIC), PyBytes_GET_SIZE(_MAGIC))
    buf.write_byte(0x01)
    encode_str(buf, get(event, &E_event_id), "event_id")
    buf.write_byte(0x02)
    encode_str(buf, get(event, &E_source), "source")
    buf.write_byte(0x03)
    encode_str(buf, get(event, &E_market_id), "market_id")
    buf.write_byte(0x04)
    encode_str(buf, get(event, &E_title), "title")
    buf.write_byte(0x05)
    encode_str(buf, get(event, &E_description), "description")
    buf.write_byte(0x06)
    encode_f64(buf, get(event, &E_probability))

    buf.write_byte(0x07)
    movement = get(event, &E_movement)
    if movement is None:
        buf.write_byte(0)
    else:
        buf.write_byte(1)
        encode_f64(buf, get(movement, &M_previous))
        encode_f64(buf, get(movement, &M_delta))
        encode_f64(buf, get(movement, &M_window_hours))

    buf.write_byte(0x08)
    encode_f64(buf, get(event, &E_liquidity_usd))
    buf.write_byte(0x09)
    encode_f64(buf, get(event, &E_volume_usd))
    buf.write_byte(0x0A)
    encode_i64(buf, get(event, &E_num_traders), "num_traders")

    # Keywords: UTF-8, de-duplicated, sorted by bytes.
    keywords = sorted_keywords(get(event, &E_keywords))
    count = len(keywords)
    check_u32(count, "keywords")
    buf.write_byte(0x0B)
    buf.write_u32(<uint32_t>count)
    for keyword in keywords:
        if PyUnicode_CheckExact(keyword):
            encode_str(buf, keyword, "keywords")
        else:
            raw = keyword
            buf.write_len_prefixed(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), "keywords")

    # Locations: in the given order; the count is len(), as in the twin.
    locations = get(event, &E_locations)
    count = len(locations)
    check_u32(count, "locations")
    buf.write_byte(0x0C)
    buf.write_u32(<uint32_t>count)
    for loc in locations:
        encode_f64(buf, get(loc, &L_lat))
        encode_f64(buf, get(loc, &L_lon))
        encode_str(buf, get(loc, &L_name), "locations.name")
        encode_str(buf, get(loc, &L_region_code), "locations.region_code")

    buf.write_byte(0x0D)
    encode_str(buf, get(event, &E_market_url), "market_url")
    buf.write_byte(0x0E)
    encode_timestamp(buf, get(event, &E_created_at_ns), "created_at_ns")
    buf.write_byte(0x0F)
    encode_timestamp(buf, get(event, &E_resolution_date_ns), "resolution_date_ns")

    # Source metrics: (key bytes, value) pairs sorted as tuples, exactly as the twin sorts them.
    metrics = sorted([(utf8_bytes(k), v) for k, v in get(event, &E_source_metrics)])
    count = len(metrics)
    check_u32(count, "source_metrics")
    buf.write_byte(0x11)
    buf.write_u32(<uint32_t>count)
    for raw, value in metrics:
        buf.write_len_prefixed(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), "source_metrics")
        encode_f64(buf, value)

    prices = get(event, &E_outcome_prices)
    buf.write_byte(0x13)
    encode_u32(buf, get(event, &E_market_state), "market_state")
    count = len(prices)
    check_u32(count, "outcome_prices")
    buf.write_byte(0x14)
    buf.write_u32(<uint32_t>count)
    for price in prices:
        encode_f64(buf, price)
    return 0


omen_sha256_init()

cdef const char *HEX = b"0123456789abcdef"


cdef str hex_sha256(const unsigned char *data, Py_ssize_t size):
    """The lowercase hex SHA-256 of data[0:size] (sha256.h; only when omen_sha256_hw())."""
    cdef unsigned char digest[32]
    cdef char text[64]
    cdef int i
    omen_sha256(data, <size_t>size, digest)
    for i in range(32):
        text[2 * i] = HEX[digest[i] >> 4]
        text[2 * i + 1] = HEX[digest[i] & 15]
    return text[:64].decode("ascii")


cdef str hexdigest(WriteBuffer buf):
    if omen_sha256_hw():
        return hex_sha256(<const unsigned char *>buf._buf, buf._length)
    # hashlib (OpenSSL) reads the buffer in place through the buffer protocol; the view is
    # released before sha256() returns, so the buffer can be reset for the next event.
    return _sha256(buf).hexdigest()


def sha256_implementation():
    """"sha-extensions" when this CPU hashes with the x86 SHA instructions (sha256.h), else
    "hashlib"."""
    return "sha-extensions" if omen_sha256_hw() else "hashlib"


def sha256_hexdigest(data):
    """hashlib.sha256(data).hexdigest() of bytes, by the implementation event_hash uses (for
    the parity tests of sha256.h)."""
    cdef bytes raw = bytes(data)
    if omen_sha256_hw():
        return hex_sha256(<const unsigned char *>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
    return _sha256(raw).hexdigest()


def canonical_encoding(event) -> bytes:
    """The exact bytes hashed into input_event_hash."""
    cdef WriteBuffer buf = WriteBuffer()
    encode_event(buf, event)
    return buf.to_bytes()


def event_hash(event) -> str:
    """input_event_hash of one event: 64 lowercase hex chars."""
    cdef WriteBuffer buf = WriteBuffer()
    encode_event(buf, event)
    return hexdigest(buf)


def event_hashes(events) -> list:
    """input_event_hash of many events, in order (one buffer reused across events)."""
    cdef WriteBuffer buf = WriteBuffer()
    cdef list out = []
    for event in events:
        buf.reset()
        encode_event(buf, event)
        out.append(hexdigest(buf))
    return out
