"""Compiled twin of signalwire_py.py: the protobuf wire encoding of a domain OmenSignal and of
the stream's EMITTED results, written straight from the domain objects.

Why: an emitted signal is serialised for its ledger record and again for the stream response
that reports it, and building the omen.v1.OmenSignal message to do so (some twenty upb objects)
cost far more than the bytes. Here one pass over the signal writes the bytes into a stack buffer
(grown on the heap when needed), and the ledger record and the response share them: the record
holds encode_signal() of the signal without its ledger position, and encode_emitted_result()
appends the position (fields 26 and 27 come last in omen.v1.OmenSignal).

The contract is byte identity with signal_to_proto(s).SerializeToString(deterministic=True)
for every signal: field order, implicit presence (a double is omitted only when its bits are all
zero, so -0.0 and NaN are written), always-present submessages, ten-byte negative varints,
Timestamp as floor divmod, None as "not set", and the exception types the reference raises.
signalwire_py.py is the reference and documents each rule; tests/unit/test_signalwire_parity.py
checks this module and the twin against upb.

The domain objects' fields are read straight from their slots when an object is exactly the
domain class, through getattr() otherwise (see get() below), so any other object encodes as the
reference would encode it.

A submessage is written with a one-byte length placeholder and, in the rare case that its body
reaches 128 bytes, moved forward by the extra length bytes once it is complete: one pass, no
size precomputation.
"""

from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_Check,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_AsDouble, PyFloat_CheckExact
from cpython.long cimport (
    PyLong_AsLongLongAndOverflow,
    PyLong_AsUnsignedLongLong,
    PyLong_Check,
    PyLong_CheckExact,
)
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.number cimport PyNumber_Index, PyNumber_Long
from cpython.object cimport Py_TYPE, PyObject, PyTypeObject
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.unicode cimport PyUnicode_AsUTF8String, PyUnicode_Check
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy, memmove

from omen._native.slots cimport Field, field_of, get

from omen.domain.events import Location as _Location
from omen.domain.signals import ConfidenceFactor as _ConfidenceFactor
from omen.domain.signals import ConfidenceInterval as _ConfidenceInterval
from omen.domain.signals import Evidence as _Evidence
from omen.domain.signals import GeographicContext as _GeographicContext
from omen.domain.signals import ImpactHints as _ImpactHints
from omen.domain.signals import OmenSignal as _OmenSignal
from omen.domain.signals import TemporalContext as _TemporalContext
from omen.domain.signals import ValidationResult as _ValidationResult


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)


cdef long long _NS = 1_000_000_000
cdef object _NS_OBJ = 1_000_000_000
cdef long long _INT32_MIN = -2147483648
cdef long long _INT32_MAX = 2147483647
cdef uint64_t _MAX_FIELD_NUMBER = (1 << 29) - 1

# Tags (field number << 3 | wire type) of omen.v1.OmenSignal and its submessages.
cdef enum:
    WIRE_VARINT = 0
    WIRE_FIXED64 = 1
    WIRE_LEN = 2


cdef inline uint64_t tag(uint64_t field, uint64_t wire_type) noexcept nogil:
    return (field << 3) | wire_type


# --- The buffer ------------------------------------------------------------------------------


cdef int grow(Writer *w, Py_ssize_t extra) except -1:
    """Make room for `extra` more bytes: double the capacity (moving off the stack the first
    time)."""
    cdef Py_ssize_t needed
    cdef Py_ssize_t capacity = w.capacity
    cdef unsigned char *data
    if extra > PY_SSIZE_T_MAX - w.length:
        raise MemoryError()
    needed = w.length + extra
    while capacity < needed:
        capacity = needed if capacity > PY_SSIZE_T_MAX // 2 else capacity * 2
    if w.heap:
        data = <unsigned char *>PyMem_Realloc(w.data, <size_t>capacity)
        if data is NULL:
            raise MemoryError()
    else:
        data = <unsigned char *>PyMem_Malloc(<size_t>capacity)
        if data is NULL:
            raise MemoryError()
        memcpy(data, w.data, <size_t>w.length)
        w.heap = True
    w.data = data
    w.capacity = capacity
    return 0


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


cdef inline Py_ssize_t open_message(Writer *w, uint64_t tag_) except -1:
    """Write the tag and a one-byte length placeholder; returns where the body starts."""
    reserve(w, MAX_VARINT + 1)
    put_varint_unchecked(w, tag_)
    w.data[w.length] = 0
    w.length += 1
    return w.length


cdef int close_message(Writer *w, Py_ssize_t start) except -1:
    """Write the length of the body that started at `start`, moving the body forward when the
    length takes more than the one byte reserved for it."""
    cdef Py_ssize_t size = w.length - start
    cdef Py_ssize_t extra
    if size < 0x80:
        w.data[start - 1] = <unsigned char>size
        return 0
    extra = varint_size(<uint64_t>size) - 1
    reserve(w, extra)
    memmove(w.data + start + extra, w.data + start, <size_t>size)
    store_varint(w.data + start - 1, <uint64_t>size)
    w.length += extra
    return 0


# --- Values ----------------------------------------------------------------------------------


cdef object utf8(object value, const char **data, Py_ssize_t *size):
    """The UTF-8 bytes of the str `value` at data[0] (size[0] of them), and the object that owns
    them (keep it alive while using them): the str itself when ASCII, else a new bytes object.
    UnicodeEncodeError for a lone surrogate, as str.encode("utf-8"); TypeError for a non-str."""
    cdef bytes encoded
    if not PyUnicode_Check(value):
        raise TypeError(f"expected str, got {type(value).__name__}")
    if PyUnicode_IS_ASCII(value):
        data[0] = <const char *>PyUnicode_DATA(value)
        size[0] = PyUnicode_GET_LENGTH(value)
        return value
    encoded = PyUnicode_AsUTF8String(value)
    data[0] = PyBytes_AS_STRING(encoded)
    size[0] = PyBytes_GET_SIZE(encoded)
    return encoded


cdef int put_string(Writer *w, uint64_t tag_, object value) except -1:
    """A string field: omitted when "" (or None)."""
    cdef const char *data
    cdef Py_ssize_t size
    if value is None:
        return 0
    owner = utf8(value, &data, &size)
    if size:
        put_bytes(w, tag_, data, size)
    return 0


cdef int put_strings(Writer *w, uint64_t tag_, object values) except -1:
    """A repeated string field: every entry, "" included."""
    cdef const char *data
    cdef Py_ssize_t size
    if values is None:
        return 0
    for value in values:
        owner = utf8(value, &data, &size)
        put_bytes(w, tag_, data, size)
    return 0


cdef int put_double(Writer *w, uint64_t tag_, object value) except -1:
    """A double field: omitted only when its bits are all zero (+0.0)."""
    cdef double x
    cdef uint64_t bits
    if value is None:
        return 0
    if PyFloat_CheckExact(value):
        x = PyFloat_AS_DOUBLE(value)
    else:
        x = PyFloat_AsDouble(value)  # as upb converts: __float__ or __index__, else TypeError
    bits = double_bits(x)
    if bits:
        reserve(w, MAX_VARINT + 8)
        put_varint_unchecked(w, tag_)
        store_le64(w.data + w.length, bits)
        w.length += 8
    return 0


cdef int put_bool(Writer *w, uint64_t tag_, object value) except -1:
    cdef bint truth
    if value is None:
        return 0
    if value is True or value is False:
        truth = value is True
    else:
        truth = PyNumber_Index(value) != 0
    if truth:
        reserve(w, MAX_VARINT + 1)
        put_varint_unchecked(w, tag_)
        put_varint_unchecked(w, 1)
    return 0


cdef int put_enum(Writer *w, uint64_t tag_, object value) except -1:
    """An enum field from int(value): int32, negatives sign-extended to ten bytes."""
    cdef int overflow = 0
    cdef long long x
    if not PyLong_Check(value):
        value = PyNumber_Long(value)
    x = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or x < _INT32_MIN or x > _INT32_MAX:
        raise ValueError(f"Value out of range: {int(value)}")
    if x:
        reserve(w, 2 * MAX_VARINT)
        put_varint_unchecked(w, tag_)
        put_varint_unchecked(w, <uint64_t>x)
    return 0


cdef int to_uint64(object value, uint64_t *out) except -1:
    """operator.index(value) in [0, 2**64); TypeError for a bool, as upb."""
    cdef int overflow = 0
    cdef long long x
    if value is True or value is False:
        raise TypeError("Expected an int, got a boolean.")
    if not PyLong_Check(value):
        value = PyNumber_Index(value)
    x = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow == 0 and x >= 0:
        out[0] = <uint64_t>x
        return 0
    if overflow > 0:
        try:
            out[0] = PyLong_AsUnsignedLongLong(value)
            return 0
        except OverflowError:
            pass
    raise ValueError(f"Value out of range: {int(value)}")


cdef int put_uint64(Writer *w, uint64_t tag_, object value) except -1:
    cdef uint64_t x = 0
    if value is None:
        return 0
    to_uint64(value, &x)
    if x:
        reserve(w, 2 * MAX_VARINT)
        put_varint_unchecked(w, tag_)
        put_varint_unchecked(w, x)
    return 0


cdef int put_timestamp(Writer *w, uint64_t tag_, object ns) except -1:
    """A google.protobuf.Timestamp of `ns` nanoseconds: divmod(ns, 10**9), as
    proto_codec.timestamp() computes it."""
    cdef int overflow = 0
    cdef long long x = 0
    cdef int64_t seconds
    cdef int64_t nanos
    cdef Py_ssize_t length_at
    if PyLong_Check(ns):
        x = PyLong_AsLongLongAndOverflow(ns, &overflow)
    if PyLong_Check(ns) and not overflow:
        # cdivision=True: C division truncates toward zero, Python's floors; adjust negatives
        # so that nanos is in [0, 10**9). No step can overflow.
        seconds = x // _NS
        nanos = x % _NS
        if nanos < 0:
            nanos += _NS
            seconds -= 1
    else:
        # Outside int64 nanoseconds (seconds may still fit int64), or not an int at all.
        py_seconds, py_nanos = divmod(ns, _NS_OBJ)
        if not (PyLong_Check(py_seconds) and PyLong_Check(py_nanos)):
            raise TypeError(
                f"'{type(py_seconds).__name__}' object cannot be interpreted as an integer"
            )
        seconds = PyLong_AsLongLongAndOverflow(py_seconds, &overflow)
        if overflow:
            raise ValueError(f"Value out of range: {py_seconds}")
        nanos = PyLong_AsLongLongAndOverflow(py_nanos, &overflow)
    reserve(w, 3 * MAX_VARINT + 2)
    put_varint_unchecked(w, tag_)
    length_at = w.length
    w.length += 1
    if seconds:
        put_varint_unchecked(w, tag(1, WIRE_VARINT))
        put_varint_unchecked(w, <uint64_t>seconds)
    if nanos:
        put_varint_unchecked(w, tag(2, WIRE_VARINT))
        put_varint_unchecked(w, <uint64_t>nanos)
    w.data[length_at] = <unsigned char>(w.length - length_at - 1)  # <= 17: one byte
    return 0


# --- Reading the domain's slots directly -----------------------------------------------------
#
# A signal and every part of it are slots dataclass instances, so each field is one PyObject* at
# the offset its member descriptor records. Some 120 Python attribute reads per signal (type
# lookup cache, descriptor, PyMember_GetOne) were most of encode_signal()'s time. slots.pxd's
# get() loads the pointer itself when the object is exactly the class the offset was taken from,
# and falls back to getattr() otherwise, so an object of any other class is encoded exactly as
# before (decision.pyx reads the domain's objects the same way).


cdef list _FIELD_NAMES = []
cdef dict _DIRECT = {}
# Strong references to the classes whose layouts the Fields record.
cdef tuple _CLASSES = (
    _OmenSignal,
    _ConfidenceFactor,
    _ConfidenceInterval,
    _GeographicContext,
    _Location,
    _TemporalContext,
    _Evidence,
    _ValidationResult,
    _ImpactHints,
)


cdef inline Field _field(object cls, str name) except *:
    return field_of(cls, name, _FIELD_NAMES, _DIRECT)


# The fields put_signal() reads, by class.
cdef Field S_signal_id = _field(_OmenSignal, "signal_id")
cdef Field S_input_event_hash = _field(_OmenSignal, "input_event_hash")
cdef Field S_source_event_id = _field(_OmenSignal, "source_event_id")
cdef Field S_source = _field(_OmenSignal, "source")
cdef Field S_market_id = _field(_OmenSignal, "market_id")
cdef Field S_title = _field(_OmenSignal, "title")
cdef Field S_description = _field(_OmenSignal, "description")
cdef Field S_probability = _field(_OmenSignal, "probability")
cdef Field S_probability_is_estimate = _field(_OmenSignal, "probability_is_estimate")
cdef Field S_confidence_score = _field(_OmenSignal, "confidence_score")
cdef Field S_confidence_level = _field(_OmenSignal, "confidence_level")
cdef Field S_confidence_factors = _field(_OmenSignal, "confidence_factors")
cdef Field S_confidence_interval = _field(_OmenSignal, "confidence_interval")
cdef Field S_category = _field(_OmenSignal, "category")
cdef Field S_signal_type = _field(_OmenSignal, "signal_type")
cdef Field S_status = _field(_OmenSignal, "status")
cdef Field S_geographic = _field(_OmenSignal, "geographic")
cdef Field S_temporal = _field(_OmenSignal, "temporal")
cdef Field S_evidence = _field(_OmenSignal, "evidence")
cdef Field S_validation_results = _field(_OmenSignal, "validation_results")
cdef Field S_impact_hints = _field(_OmenSignal, "impact_hints")
cdef Field S_ruleset_version = _field(_OmenSignal, "ruleset_version")
cdef Field S_trace_id = _field(_OmenSignal, "trace_id")
cdef Field S_observed_at_ns = _field(_OmenSignal, "observed_at_ns")
cdef Field S_generated_at_ns = _field(_OmenSignal, "generated_at_ns")
cdef Field S_ledger_partition = _field(_OmenSignal, "ledger_partition")
cdef Field S_ledger_sequence = _field(_OmenSignal, "ledger_sequence")
cdef Field CF_name = _field(_ConfidenceFactor, "name")
cdef Field CF_value = _field(_ConfidenceFactor, "value")
cdef Field CF_weight = _field(_ConfidenceFactor, "weight")
cdef Field CI_lower = _field(_ConfidenceInterval, "lower")
cdef Field CI_upper = _field(_ConfidenceInterval, "upper")
cdef Field G_regions = _field(_GeographicContext, "regions")
cdef Field G_chokepoints = _field(_GeographicContext, "chokepoints")
cdef Field G_coordinates = _field(_GeographicContext, "coordinates")
cdef Field LOC_lat = _field(_Location, "lat")
cdef Field LOC_lon = _field(_Location, "lon")
cdef Field LOC_name = _field(_Location, "name")
cdef Field LOC_region_code = _field(_Location, "region_code")
cdef Field T_horizon = _field(_TemporalContext, "horizon")
cdef Field T_resolution_date_ns = _field(_TemporalContext, "resolution_date_ns")
cdef Field T_days_to_resolution = _field(_TemporalContext, "days_to_resolution")
cdef Field T_market_age_days = _field(_TemporalContext, "market_age_days")
cdef Field EV_kind = _field(_Evidence, "kind")
cdef Field EV_description = _field(_Evidence, "description")
cdef Field EV_value = _field(_Evidence, "value")
cdef Field EV_url = _field(_Evidence, "url")
cdef Field VR_rule_name = _field(_ValidationResult, "rule_name")
cdef Field VR_rule_version = _field(_ValidationResult, "rule_version")
cdef Field VR_status = _field(_ValidationResult, "status")
cdef Field VR_score = _field(_ValidationResult, "score")
cdef Field VR_reason = _field(_ValidationResult, "reason")
cdef Field IH_domains = _field(_ImpactHints, "domains")
cdef Field IH_direction = _field(_ImpactHints, "direction")
cdef Field IH_keywords = _field(_ImpactHints, "keywords")
cdef Field IH_routing_key = _field(_ImpactHints, "routing_key")


def direct_fields():
    """Each field encode_signal() reads, "Class.field" -> True when it is read straight from its
    slot (for an object of exactly that class)."""
    return dict(_DIRECT)


# --- Messages --------------------------------------------------------------------------------


cdef int put_signal(Writer *w, object s) except -1:
    """omen.v1.OmenSignal's fields, in field-number order (see signalwire_py.encode_signal)."""
    cdef Py_ssize_t start
    cdef Py_ssize_t inner
    put_string(w, tag(1, WIRE_LEN), get(s, &S_signal_id))
    put_string(w, tag(2, WIRE_LEN), get(s, &S_input_event_hash))
    put_string(w, tag(3, WIRE_LEN), get(s, &S_source_event_id))
    put_string(w, tag(4, WIRE_LEN), get(s, &S_source))
    put_string(w, tag(5, WIRE_LEN), get(s, &S_market_id))
    put_string(w, tag(6, WIRE_LEN), get(s, &S_title))
    put_string(w, tag(7, WIRE_LEN), get(s, &S_description))
    put_double(w, tag(8, WIRE_FIXED64), get(s, &S_probability))
    put_bool(w, tag(9, WIRE_VARINT), get(s, &S_probability_is_estimate))
    put_double(w, tag(10, WIRE_FIXED64), get(s, &S_confidence_score))
    put_enum(w, tag(11, WIRE_VARINT), get(s, &S_confidence_level))
    for f in get(s, &S_confidence_factors):  # ConfidenceFactor
        start = open_message(w, tag(12, WIRE_LEN))
        put_string(w, tag(1, WIRE_LEN), get(f, &CF_name))
        put_double(w, tag(2, WIRE_FIXED64), get(f, &CF_value))
        put_double(w, tag(3, WIRE_FIXED64), get(f, &CF_weight))
        close_message(w, start)
    interval = get(s, &S_confidence_interval)  # ConfidenceInterval
    start = open_message(w, tag(13, WIRE_LEN))
    put_double(w, tag(1, WIRE_FIXED64), get(interval, &CI_lower))
    put_double(w, tag(2, WIRE_FIXED64), get(interval, &CI_upper))
    close_message(w, start)
    put_enum(w, tag(14, WIRE_VARINT), get(s, &S_category))
    put_enum(w, tag(15, WIRE_VARINT), get(s, &S_signal_type))
    put_enum(w, tag(16, WIRE_VARINT), get(s, &S_status))
    g = get(s, &S_geographic)  # GeographicContext
    start = open_message(w, tag(17, WIRE_LEN))
    put_strings(w, tag(1, WIRE_LEN), get(g, &G_regions))
    put_strings(w, tag(2, WIRE_LEN), get(g, &G_chokepoints))
    for c in get(g, &G_coordinates):  # Location
        inner = open_message(w, tag(3, WIRE_LEN))
        put_double(w, tag(1, WIRE_FIXED64), get(c, &LOC_lat))
        put_double(w, tag(2, WIRE_FIXED64), get(c, &LOC_lon))
        put_string(w, tag(3, WIRE_LEN), get(c, &LOC_name))
        put_string(w, tag(4, WIRE_LEN), get(c, &LOC_region_code))
        close_message(w, inner)
    close_message(w, start)
    t = get(s, &S_temporal)  # TemporalContext
    start = open_message(w, tag(18, WIRE_LEN))
    put_enum(w, tag(1, WIRE_VARINT), get(t, &T_horizon))
    resolution = get(t, &T_resolution_date_ns)
    if resolution is not None:
        put_timestamp(w, tag(2, WIRE_LEN), resolution)
    put_double(w, tag(3, WIRE_FIXED64), get(t, &T_days_to_resolution))
    put_double(w, tag(4, WIRE_FIXED64), get(t, &T_market_age_days))
    close_message(w, start)
    for e in get(s, &S_evidence):  # Evidence
        start = open_message(w, tag(19, WIRE_LEN))
        put_string(w, tag(1, WIRE_LEN), get(e, &EV_kind))
        put_string(w, tag(2, WIRE_LEN), get(e, &EV_description))
        put_double(w, tag(3, WIRE_FIXED64), get(e, &EV_value))
        put_string(w, tag(4, WIRE_LEN), get(e, &EV_url))
        close_message(w, start)
    for r in get(s, &S_validation_results):  # ValidationResult
        start = open_message(w, tag(20, WIRE_LEN))
        put_string(w, tag(1, WIRE_LEN), get(r, &VR_rule_name))
        put_string(w, tag(2, WIRE_LEN), get(r, &VR_rule_version))
        put_enum(w, tag(3, WIRE_VARINT), get(r, &VR_status))
        put_double(w, tag(4, WIRE_FIXED64), get(r, &VR_score))
        put_string(w, tag(5, WIRE_LEN), get(r, &VR_reason))
        close_message(w, start)
    h = get(s, &S_impact_hints)  # ImpactHints
    start = open_message(w, tag(21, WIRE_LEN))
    put_strings(w, tag(1, WIRE_LEN), get(h, &IH_domains))
    put_enum(w, tag(2, WIRE_VARINT), get(h, &IH_direction))
    put_strings(w, tag(3, WIRE_LEN), get(h, &IH_keywords))
    put_string(w, tag(4, WIRE_LEN), get(h, &IH_routing_key))
    close_message(w, start)
    put_string(w, tag(22, WIRE_LEN), get(s, &S_ruleset_version))
    put_string(w, tag(23, WIRE_LEN), get(s, &S_trace_id))
    put_timestamp(w, tag(24, WIRE_LEN), get(s, &S_observed_at_ns))
    put_timestamp(w, tag(25, WIRE_LEN), get(s, &S_generated_at_ns))
    put_string(w, tag(26, WIRE_LEN), get(s, &S_ledger_partition))
    put_uint64(w, tag(27, WIRE_VARINT), get(s, &S_ledger_sequence))
    return 0


def encode_signal(signal):
    """`signal_to_proto(signal).SerializeToString(deterministic=True)`, byte for byte."""
    cdef unsigned char stack[STACK_BYTES]
    cdef Writer w
    w.data = stack
    w.length = 0
    w.capacity = STACK_BYTES
    w.heap = False
    try:
        put_signal(&w, signal)
        return PyBytes_FromStringAndSize(<char *>w.data, w.length)
    finally:
        if w.heap:
            PyMem_Free(w.data)


def encode_emitted_result(correlation_id, signal_id, signal_bytes, partition, sequence):
    """The serialised omen.v1.StreamResult reporting an EMITTED signal: correlation_id (1),
    outcome EMITTED (2), signal_id (3), ledger_position (5, only when `partition` is not ""),
    and the signal (9): `signal_bytes` followed by ledger_partition (26) and ledger_sequence
    (27). `signal_bytes` must be encode_signal() of the signal without its ledger position;
    None leaves the signal out (RESULT_VIEW_BASIC)."""
    cdef unsigned char stack[STACK_BYTES]
    cdef Writer w
    cdef const char *part
    cdef Py_ssize_t part_size
    cdef uint64_t seq = 0
    cdef Py_ssize_t position_size
    cdef Py_ssize_t tail_size = 0
    cdef Py_ssize_t signal_size
    cdef bint with_signal = signal_bytes is not None
    if with_signal and not PyBytes_Check(signal_bytes):
        raise TypeError(f"expected bytes, got {type(signal_bytes).__name__}")
    part_owner = utf8(partition, &part, &part_size)
    to_uint64(sequence, &seq)
    if part_size:
        tail_size += 2 + varint_size(<uint64_t>part_size) + part_size
    if seq:
        tail_size += 2 + varint_size(seq)
    signal_size = PyBytes_GET_SIZE(signal_bytes) if with_signal else 0
    w.data = stack
    w.length = 0
    w.capacity = STACK_BYTES
    w.heap = False
    try:
        put_string(&w, tag(1, WIRE_LEN), correlation_id)
        put_varint(&w, tag(2, WIRE_VARINT))
        put_varint(&w, 1)  # OUTCOME_EMITTED
        put_string(&w, tag(3, WIRE_LEN), signal_id)
        if part_size:
            position_size = 1 + varint_size(<uint64_t>part_size) + part_size
            if seq:
                position_size += 1 + varint_size(seq)
            put_varint(&w, tag(5, WIRE_LEN))
            put_varint(&w, <uint64_t>position_size)
            put_bytes(&w, tag(1, WIRE_LEN), part, part_size)
            if seq:
                put_varint(&w, tag(2, WIRE_VARINT))
                put_varint(&w, seq)
        if not with_signal:
            return PyBytes_FromStringAndSize(<char *>w.data, w.length)
        put_varint(&w, tag(9, WIRE_LEN))
        put_varint(&w, <uint64_t>(signal_size + tail_size))
        reserve(&w, signal_size)
        memcpy(w.data + w.length, PyBytes_AS_STRING(signal_bytes), <size_t>signal_size)
        w.length += signal_size
        if part_size:
            put_bytes(&w, tag(26, WIRE_LEN), part, part_size)
        if seq:
            put_varint(&w, tag(27, WIRE_VARINT))
            put_varint(&w, seq)
        return PyBytes_FromStringAndSize(<char *>w.data, w.length)
    finally:
        if w.heap:
            PyMem_Free(w.data)


cdef uint64_t field_tag(object field_number) except? 0:
    cdef int overflow = 0
    cdef long long x
    field_number = PyNumber_Index(field_number)
    x = PyLong_AsLongLongAndOverflow(field_number, &overflow)
    if overflow or x < 1 or <uint64_t>x > _MAX_FIELD_NUMBER:
        raise ValueError(f"field number out of range: {field_number}")
    return tag(<uint64_t>x, WIRE_LEN)


def encode_delimited(field_number, payload):
    """`payload` as a length-delimited field: tag (wire type 2), varint length, payload."""
    cdef uint64_t tag_ = field_tag(field_number)
    cdef Py_ssize_t size
    cdef unsigned char header[2 * MAX_VARINT]
    cdef Py_ssize_t n
    cdef bytes out
    cdef char *target
    if not PyBytes_Check(payload):
        raise TypeError(f"expected bytes, got {type(payload).__name__}")
    size = PyBytes_GET_SIZE(payload)
    n = store_varint(header, tag_)
    n += store_varint(header + n, <uint64_t>size)
    out = PyBytes_FromStringAndSize(NULL, n + size)
    target = PyBytes_AS_STRING(out)
    memcpy(target, header, <size_t>n)
    memcpy(target + n, PyBytes_AS_STRING(payload), <size_t>size)
    return out


def encode_results(results):
    """One omen.v1.ProcessStreamResponse: encode_delimited(1, r) of each serialised
    StreamResult `r`, concatenated."""
    # A private copy: nothing can change it between the passes (a finaliser run by an
    # allocation could change the caller's list).
    cdef list items = list(results)
    cdef Py_ssize_t total = 0
    cdef Py_ssize_t size
    cdef bytes out
    cdef unsigned char *target
    for result in items:
        if not PyBytes_Check(result):
            raise TypeError(f"expected bytes, got {type(result).__name__}")
        size = PyBytes_GET_SIZE(result)
        total += 1 + varint_size(<uint64_t>size) + size
    out = PyBytes_FromStringAndSize(NULL, total)
    target = <unsigned char *>PyBytes_AS_STRING(out)
    for result in items:
        size = PyBytes_GET_SIZE(result)
        target[0] = 0x0A  # field 1, wire type 2
        target += 1
        target += store_varint(target, <uint64_t>size)
        memcpy(target, PyBytes_AS_STRING(result), <size_t>size)
        target += size
    return out
