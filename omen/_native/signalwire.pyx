"""Compiled twin of signalwire_py.py: the protobuf wire encoding of a domain OmenSignal and of
the stream's EMITTED results, written straight from the domain objects; and decode_signal(),
which reads a serialised omen.v1.OmenSignal straight into the domain objects (see "Decoding"
below).

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

cimport cython
from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_Check,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.dict cimport PyDict_GetItem
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
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_New
from cpython.unicode cimport PyUnicode_AsUTF8String, PyUnicode_Check
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy, memmove

from omen._native.eventwire cimport (
    E_NONE,
    E_TOO_DEEP,
    E_TRUNCATED_FIXED64,
    E_UTF8,
    MAX_DEPTH,
    Err,
    fail,
    load_double,
    read_field,
    read_length,
    read_varint,
    same_text,
    skip_value,
    text_slot,
    wire_problem,
)
from omen._native.slots cimport (
    Field,
    Layout,
    PyObject_GC_UnTrack,
    field_of,
    get,
    layout_init,
    layout_make,
    layout_make2,
    layout_make3,
    layout_make4,
    layout_make5,
)

from omen.domain.events import Location as _Location
from omen.domain.signals import ConfidenceFactor as _ConfidenceFactor
from omen.domain.signals import ConfidenceInterval as _ConfidenceInterval
from omen.domain.signals import Evidence as _Evidence
from omen.domain.signals import GeographicContext as _GeographicContext
from omen.domain.signals import ImpactHints as _ImpactHints
from omen.domain.signals import OmenSignal as _OmenSignal
from omen.domain.signals import Outcome as _Outcome
from omen.domain.signals import ProcessResult as _ProcessResult
from omen.domain.signals import TemporalContext as _TemporalContext
from omen.domain.signals import ValidationResult as _ValidationResult
from omen.domain.signals import ConfidenceLevel as _ConfidenceLevel
from omen.domain.signals import ImpactDirection as _ImpactDirection
from omen.domain.signals import RuleStatus as _RuleStatus
from omen.domain.signals import SignalCategory as _SignalCategory
from omen.domain.signals import SignalStatus as _SignalStatus
from omen.domain.signals import SignalType as _SignalType
from omen.domain.signals import TimeHorizon as _TimeHorizon
from omen._native.eventwire_py import MAX_DEPTH as _TWIN_MAX_DEPTH
from omen._native.signalwire_py import SignalDecodeError


cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)
    # The same function, its result unchecked: a new reference, or NULL with an exception set.
    PyObject *decode_utf8_or_null "PyUnicode_DecodeUTF8" (
        const char *s, Py_ssize_t size, const char *errors
    )
    void PyErr_Clear()
    int gc_is_object "PyObject_IS_GC" (PyObject *obj)
    int gc_is_tracked "PyObject_GC_IsTracked" (PyObject *obj)
    void tuple_set_item "PyTuple_SET_ITEM" (PyObject *p, Py_ssize_t pos, PyObject *o)
    bint PyUnicode_IS_ASCII(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)


cdef long long _NS = 1_000_000_000
cdef object _NS_OBJ = 1_000_000_000
cdef long long _INT32_MIN = -2147483648
cdef long long _INT32_MAX = 2147483647
cdef uint64_t _MAX_FIELD_NUMBER = (1 << 29) - 1

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
    if value is None:
        return 0
    if PyFloat_CheckExact(value):
        x = PyFloat_AS_DOUBLE(value)
    else:
        x = PyFloat_AsDouble(value)  # as upb converts: __float__ or __index__, else TypeError
    return put_double_c(w, tag_, x)


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
    _ProcessResult,
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
cdef Field PR_outcome = _field(_ProcessResult, "outcome")
cdef Field PR_validation_results = _field(_ProcessResult, "validation_results")
cdef Field PR_signal = _field(_ProcessResult, "signal")
cdef Field PR_reason = _field(_ProcessResult, "reason")
cdef Field PR_duplicate_of = _field(_ProcessResult, "duplicate_of")

cdef object _EMITTED = _Outcome.EMITTED
cdef object _DUPLICATE = _Outcome.DUPLICATE
cdef object _REJECTED = _Outcome.REJECTED


def direct_fields():
    """Each field encode_signal() reads, "Class.field" -> True when it is read straight from its
    slot (for an object of exactly that class)."""
    return dict(_DIRECT)


# --- Messages --------------------------------------------------------------------------------


cdef int put_location(Writer *w, uint64_t tag_, object c) except -1:
    """One omen.v1.Location submessage (GeographicContext.coordinates)."""
    cdef Py_ssize_t start = open_message(w, tag_)
    put_double(w, tag(1, WIRE_FIXED64), get(c, &LOC_lat))
    put_double(w, tag(2, WIRE_FIXED64), get(c, &LOC_lon))
    put_string(w, tag(3, WIRE_LEN), get(c, &LOC_name))
    put_string(w, tag(4, WIRE_LEN), get(c, &LOC_region_code))
    close_message(w, start)
    return 0


cdef int put_evidence(Writer *w, uint64_t tag_, object kind, object description, object value,
                      object url) except -1:
    """One omen.v1.Evidence submessage, from its four fields."""
    cdef Py_ssize_t start = open_message(w, tag_)
    put_string(w, tag(1, WIRE_LEN), kind)
    put_string(w, tag(2, WIRE_LEN), description)
    put_double(w, tag(3, WIRE_FIXED64), value)
    put_string(w, tag(4, WIRE_LEN), url)
    close_message(w, start)
    return 0


cdef int put_validation_result(Writer *w, uint64_t tag_, object r) except -1:
    """One omen.v1.ValidationResult submessage (in a signal: field 20; in a StreamResult: 6)."""
    cdef Py_ssize_t start = open_message(w, tag_)
    put_string(w, tag(1, WIRE_LEN), get(r, &VR_rule_name))
    put_string(w, tag(2, WIRE_LEN), get(r, &VR_rule_version))
    put_enum(w, tag(3, WIRE_VARINT), get(r, &VR_status))
    put_double(w, tag(4, WIRE_FIXED64), get(r, &VR_score))
    put_string(w, tag(5, WIRE_LEN), get(r, &VR_reason))
    close_message(w, start)
    return 0


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
        put_location(w, tag(3, WIRE_LEN), c)
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
        put_evidence(
            w,
            tag(19, WIRE_LEN),
            get(e, &EV_kind),
            get(e, &EV_description),
            get(e, &EV_value),
            get(e, &EV_url),
        )
    for r in get(s, &S_validation_results):  # ValidationResult
        put_validation_result(w, tag(20, WIRE_LEN), r)
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
    writer_start(&w, stack)
    try:
        put_signal(&w, signal)
        return PyBytes_FromStringAndSize(<char *>w.data, w.length)
    finally:
        if w.heap:
            PyMem_Free(w.data)


cdef enum:
    # encode_stream_results' first estimate of a result's size, by view.
    RESULT_ROOM_FULL = 2304
    RESULT_ROOM_BASIC = 128


cdef enum:
    # The ledger's SIGNAL record head (omen.adapters.ledger.records): the event's raw 32-byte
    # digest, the raw 16-byte signal id, the probability (f64 LE), the market key's length (u16).
    RECORD_HEAD = 58
    MARKET_KEY_MAX = 65535


# Each byte's value as a lowercase hex digit, or -1: a table, not a branch per digit (hex
# digits of hashes are random, and mispredicted branches were most of the cost).
cdef signed char LOWER_HEX[256]
for _c in range(256):
    LOWER_HEX[_c] = -1
for _c in range(10):
    LOWER_HEX[48 + _c] = _c  # "0".."9"
for _c in range(6):
    LOWER_HEX[97 + _c] = 10 + _c  # "a".."f"


cdef bint unhex(object text, Py_ssize_t start, Py_ssize_t digits, unsigned char *out):
    """out[0:digits/2] from text[start:start+digits] (an ASCII str), lowercase hex digits only
    (False else)."""
    cdef Py_ssize_t i
    cdef int hi, lo
    cdef int bad = 0
    cdef const unsigned char *p = <const unsigned char *>PyUnicode_DATA(text) + start
    for i in range(digits // 2):
        hi = LOWER_HEX[p[2 * i]]
        lo = LOWER_HEX[p[2 * i + 1]]
        bad |= hi | lo  # negative once any digit is not one
        out[i] = <unsigned char>((hi << 4) | (lo & 15))
    return bad >= 0


cdef int put_record_head(Writer *w, object event_hash, object signal_id, object probability,
                         object market_key) except -1:
    """Append the SIGNAL record head and market key (records.py) to `w`: 0, or 1 without
    writing anything when the values are not of the pipeline's form (an event hash of 64
    lowercase hex digits, an id of "sig-" and 32, a float probability, a str market key of at
    most 65,535 UTF-8 bytes)."""
    cdef unsigned char ids[48]  # the raw event digest, then the raw signal id
    cdef const char *key
    cdef Py_ssize_t key_size = 0
    cdef unsigned char *p
    if not (
        type(event_hash) is str
        and PyUnicode_IS_ASCII(event_hash)
        and PyUnicode_GET_LENGTH(event_hash) == 64
        and type(signal_id) is str
        and PyUnicode_IS_ASCII(signal_id)
        and PyUnicode_GET_LENGTH(signal_id) == 36
        and (<str>signal_id).startswith("sig-")
        and type(probability) is float
        and type(market_key) is str
    ):
        return 1
    if not (unhex(event_hash, 0, 64, ids) and unhex(signal_id, 4, 32, ids + 32)):
        return 1
    owner = utf8(market_key, &key, &key_size)
    if key_size > MARKET_KEY_MAX:
        return 1
    reserve(w, RECORD_HEAD + key_size)
    p = w.data + w.length
    memcpy(p, ids, 48)
    store_le64(p + 48, double_bits(PyFloat_AS_DOUBLE(probability)))
    p[56] = <unsigned char>(key_size & 0xFF)
    p[57] = <unsigned char>(key_size >> 8)
    memcpy(p + RECORD_HEAD, key, <size_t>key_size)
    w.length += RECORD_HEAD + key_size
    return 0


def encode_signal_record(signal, probability, market_key):
    """The ledger's SIGNAL record body for `signal`: records.encode_signal of its event hash,
    id, `probability`, `market_key` and encode_signal(signal), made in one pass (the encoded
    signal is its tail, from records.signal_offset(body)). For the form the pipeline gives
    them: an event hash of 64 lowercase hex digits, an id of "sig-" and 32, a float probability
    and a str market key of at most 65,535 UTF-8 bytes; anything else returns None, and the
    caller uses records.encode_signal (the reference, which also says what is wrong)."""
    cdef unsigned char stack[STACK_BYTES]
    cdef Writer w
    writer_start(&w, stack)
    try:
        if put_record_head(
            &w,
            get(signal, &S_input_event_hash),
            get(signal, &S_signal_id),
            probability,
            market_key,
        ):
            return None
        put_signal(&w, signal)
        return PyBytes_FromStringAndSize(<char *>w.data, w.length)
    finally:
        if w.heap:
            PyMem_Free(w.data)


cdef int put_emitted(Writer *w, object correlation_id, object signal_id, object signal_bytes,
                     object partition, object sequence) except -1:
    """encode_emitted_result()'s StreamResult (its body, without a tag or length) at the end of
    `w`."""
    if signal_bytes is None:
        return put_emitted_from(w, correlation_id, signal_id, NULL, 0, partition, sequence)
    if not PyBytes_Check(signal_bytes):
        raise TypeError(f"expected bytes, got {type(signal_bytes).__name__}")
    return put_emitted_from(
        w,
        correlation_id,
        signal_id,
        PyBytes_AS_STRING(signal_bytes),
        PyBytes_GET_SIZE(signal_bytes),
        partition,
        sequence,
    )


cdef int put_emitted_from(Writer *w, object correlation_id, object signal_id,
                          const char *signal_data, Py_ssize_t signal_size, object partition,
                          object sequence) except -1:
    """put_emitted() of the signal encoding at signal_data (signal_size bytes; NULL: none)."""
    cdef const char *part
    cdef Py_ssize_t part_size
    cdef uint64_t seq = 0
    cdef Py_ssize_t position_size
    cdef Py_ssize_t tail_size = 0
    cdef bint with_signal = signal_data is not NULL
    part_owner = utf8(partition, &part, &part_size)
    to_uint64(sequence, &seq)
    if part_size:
        tail_size += 2 + varint_size(<uint64_t>part_size) + part_size
    if seq:
        tail_size += 2 + varint_size(seq)
    put_string(w, tag(1, WIRE_LEN), correlation_id)
    put_varint(w, tag(2, WIRE_VARINT))
    put_varint(w, 1)  # OUTCOME_EMITTED
    put_string(w, tag(3, WIRE_LEN), signal_id)
    if part_size:
        position_size = 1 + varint_size(<uint64_t>part_size) + part_size
        if seq:
            position_size += 1 + varint_size(seq)
        put_varint(w, tag(5, WIRE_LEN))
        put_varint(w, <uint64_t>position_size)
        put_bytes(w, tag(1, WIRE_LEN), part, part_size)
        if seq:
            put_varint(w, tag(2, WIRE_VARINT))
            put_varint(w, seq)
    if not with_signal:
        return 0
    put_varint(w, tag(9, WIRE_LEN))
    put_varint(w, <uint64_t>(signal_size + tail_size))
    reserve(w, signal_size)
    memcpy(w.data + w.length, signal_data, <size_t>signal_size)
    w.length += signal_size
    if part_size:
        put_bytes(w, tag(26, WIRE_LEN), part, part_size)
    if seq:
        put_varint(w, tag(27, WIRE_VARINT))
        put_varint(w, seq)
    return 0


def encode_emitted_result(correlation_id, signal_id, signal_bytes, partition, sequence):
    """The serialised omen.v1.StreamResult reporting an EMITTED signal: correlation_id (1),
    outcome EMITTED (2), signal_id (3), ledger_position (5, only when `partition` is not ""),
    and the signal (9): `signal_bytes` followed by ledger_partition (26) and ledger_sequence
    (27). `signal_bytes` must be encode_signal() of the signal without its ledger position;
    None leaves the signal out (RESULT_VIEW_BASIC)."""
    cdef unsigned char stack[STACK_BYTES]
    cdef Writer w
    writer_start(&w, stack)
    try:
        put_emitted(&w, correlation_id, signal_id, signal_bytes, partition, sequence)
        return PyBytes_FromStringAndSize(<char *>w.data, w.length)
    finally:
        if w.heap:
            PyMem_Free(w.data)


cdef int put_stream_result(Writer *w, object correlation_id, object result, object take,
                           object left_out, dict records) except -1:
    """The StreamResult of one ProcessResult (body only), as signalwire_py._stream_result."""
    cdef PyObject *held
    cdef Py_ssize_t size, offset
    outcome = get(result, &PR_outcome)
    signal = get(result, &PR_signal)
    if outcome is _EMITTED and signal is not None:
        signal_id = get(signal, &S_signal_id)
        data = None
        if take is not None:
            held = PyDict_GetItem(records, signal_id) if records is not None else NULL
            if held is not NULL and PyBytes_CheckExact(<object>held):
                body = <object>held  # a SIGNAL record: its signal is its tail
                del records[signal_id]
                size = PyBytes_GET_SIZE(body)
                if size >= RECORD_HEAD:
                    offset = RECORD_HEAD + (
                        <unsigned char>PyBytes_AS_STRING(body)[56]
                        | (<Py_ssize_t><unsigned char>PyBytes_AS_STRING(body)[57] << 8)
                    )
                    if offset <= size:
                        return put_emitted_from(
                            w,
                            correlation_id,
                            signal_id,
                            PyBytes_AS_STRING(body) + offset,
                            size - offset,
                            get(signal, &S_ledger_partition),
                            get(signal, &S_ledger_sequence),
                        )
                raise ValueError(f"not a SIGNAL record ({size} bytes) for {signal_id}")
            data = take(signal)
        elif left_out is not None:
            left_out.append(signal_id)
        return put_emitted(
            w,
            correlation_id,
            signal_id,
            data,
            get(signal, &S_ledger_partition),
            get(signal, &S_ledger_sequence),
        )
    put_string(w, tag(1, WIRE_LEN), correlation_id)
    put_enum(w, tag(2, WIRE_VARINT), outcome)
    if outcome is _DUPLICATE:
        duplicate_of = get(result, &PR_duplicate_of)
        put_string(w, tag(3, WIRE_LEN), duplicate_of)
        put_string(w, tag(4, WIRE_LEN), duplicate_of)
        return 0
    for r in get(result, &PR_validation_results):
        put_validation_result(w, tag(6, WIRE_LEN), r)
    put_string(w, tag(7, WIRE_LEN), get(result, &PR_reason))
    return 0


def encode_stream_results(correlation_ids, items, take, left_out, outcomes, records=None):
    """One omen.v1.ProcessStreamResponse (its results field, repeated), one result per entry of
    `items` with the correlation id at the same index: an entry that is bytes is a serialised
    StreamResult written as it is (its correlation id unused); a domain ProcessResult is
    written as convert.fill_stream_result describes it, except an EMITTED signal: the bytes
    `take(signal)` returns (encode_signal() of it without its ledger position, see
    encode_emitted_result), or when `take` is None no signal (RESULT_VIEW_BASIC) and its id
    appended to `left_out` (unless None). Each ProcessResult's outcome is counted in the dict
    `outcomes`. `records` (a dict, or None): SIGNAL record bodies by signal id; a signal found
    there is taken out and written from its record's tail, without calling `take`."""
    cdef list ids = list(correlation_ids)
    cdef list entries = list(items)
    cdef Py_ssize_t count = len(entries)
    cdef Py_ssize_t i
    cdef Py_ssize_t start
    cdef Py_ssize_t emitted = 0, duplicate = 0, rejected = 0
    cdef unsigned char stack[STACK_BYTES]
    cdef Writer w
    if len(ids) != count:
        raise ValueError(f"{len(ids)} correlation ids for {count} results")
    if not isinstance(outcomes, dict):
        raise TypeError(f"outcomes: expected a dict, got {type(outcomes).__name__}")
    if records is not None and type(records) is not dict:
        raise TypeError(f"records: expected a dict, got {type(records).__name__}")
    writer_start(&w, stack)
    try:
        # Room for the usual results at once (a full view's are ~2 KB each): growing by
        # doubling would copy what is written so far each time.
        reserve(&w, count * (RESULT_ROOM_FULL if take is not None else RESULT_ROOM_BASIC))
        for i in range(count):
            item = entries[i]
            if PyBytes_Check(item):
                put_bytes(&w, tag(1, WIRE_LEN), PyBytes_AS_STRING(item), PyBytes_GET_SIZE(item))
                continue
            start = open_message(&w, tag(1, WIRE_LEN))
            put_stream_result(&w, ids[i], item, take, left_out, records)
            close_message(&w, start)
            outcome = get(item, &PR_outcome)
            if outcome is _EMITTED:
                emitted += 1
            elif outcome is _DUPLICATE:
                duplicate += 1
            elif outcome is _REJECTED:
                rejected += 1
            else:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if emitted:
            outcomes[_EMITTED] = outcomes.get(_EMITTED, 0) + emitted
        if duplicate:
            outcomes[_DUPLICATE] = outcomes.get(_DUPLICATE, 0) + duplicate
        if rejected:
            outcomes[_REJECTED] = outcomes.get(_REJECTED, 0) + rejected
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


# --- Decoding --------------------------------------------------------------------------------
#
# decode_signal(data) is signal_from_proto(m) after m.ParseFromString(data) (proto_codec), for
# every input, without the upb message in between; signalwire_py.py is the reference and
# documents the contract (wire semantics, types, errors). The wire is read with eventwire's
# readers (eventwire.pxd: the first problem is kept in an Err, what and where, instead of being
# raised), strings are made by PyUnicode_DecodeUTF8 (CPython's strict decoder accepts exactly
# the UTF-8 upb accepts), doubles are loaded little-endian explicitly, and every domain object is
# built as its __init__ would build it, without running it, and left out of the cycle collector
# (slots.pxd: layout_make, acyclic), as decision.pyx builds the signals it emits.
#
# Singular submessages merge over occurrences, so their fields (and all top-level ones) are
# collected in a _Parts and the objects built once the whole input has parsed; each occurrence
# of a repeated submessage is built as soon as it has parsed. An enum number the domain lacks is
# found by the tables below; the ValueError is then raised by the enum class itself, after the
# parse and in signal_from_proto's order, so the exception and message are the reference's.

assert MAX_DEPTH == _TWIN_MAX_DEPTH

# Each message's tags (field number << 3 | wire type) that decode_signal reads.
cdef enum:
    K_SIGNAL_ID = 1 << 3 | 2
    K_INPUT_EVENT_HASH = 2 << 3 | 2
    K_SOURCE_EVENT_ID = 3 << 3 | 2
    K_SOURCE = 4 << 3 | 2
    K_MARKET_ID = 5 << 3 | 2
    K_TITLE = 6 << 3 | 2
    K_DESCRIPTION = 7 << 3 | 2
    K_PROBABILITY = 8 << 3 | 1
    K_ESTIMATE = 9 << 3 | 0
    K_CONFIDENCE_SCORE = 10 << 3 | 1
    K_CONFIDENCE_LEVEL = 11 << 3 | 0
    K_CONFIDENCE_FACTORS = 12 << 3 | 2
    K_CONFIDENCE_INTERVAL = 13 << 3 | 2
    K_CATEGORY = 14 << 3 | 0
    K_SIGNAL_TYPE = 15 << 3 | 0
    K_STATUS = 16 << 3 | 0
    K_GEOGRAPHIC = 17 << 3 | 2
    K_TEMPORAL = 18 << 3 | 2
    K_EVIDENCE = 19 << 3 | 2
    K_VALIDATION_RESULTS = 20 << 3 | 2
    K_IMPACT_HINTS = 21 << 3 | 2
    K_RULESET_VERSION = 22 << 3 | 2
    K_TRACE_ID = 23 << 3 | 2
    K_OBSERVED_AT = 24 << 3 | 2
    K_GENERATED_AT = 25 << 3 | 2
    K_LEDGER_PARTITION = 26 << 3 | 2
    K_LEDGER_SEQUENCE = 27 << 3 | 0
    # The submessages' fields by wire type: LEN_n, F64_n (fixed64) and VARINT_n for field n.
    LEN_1 = 1 << 3 | 2
    LEN_2 = 2 << 3 | 2
    LEN_3 = 3 << 3 | 2
    LEN_4 = 4 << 3 | 2
    LEN_5 = 5 << 3 | 2
    F64_1 = 1 << 3 | 1
    F64_2 = 2 << 3 | 1
    F64_3 = 3 << 3 | 1
    F64_4 = 4 << 3 | 1
    VARINT_1 = 1 << 3 | 0
    VARINT_2 = 2 << 3 | 0
    VARINT_3 = 3 << 3 | 0

# The string fields E_UTF8 names (Err.arg1 indexes _TEXT_NAMES).
cdef enum:
    N_SIGNAL_ID = 0
    N_INPUT_EVENT_HASH
    N_SOURCE_EVENT_ID
    N_SOURCE
    N_MARKET_ID
    N_TITLE
    N_DESCRIPTION
    N_FACTOR_NAME
    N_REGIONS
    N_CHOKEPOINTS
    N_COORDINATE_NAME
    N_COORDINATE_REGION_CODE
    N_EVIDENCE_KIND
    N_EVIDENCE_DESCRIPTION
    N_EVIDENCE_URL
    N_RULE_NAME
    N_RULE_VERSION
    N_RULE_REASON
    N_DOMAINS
    N_KEYWORDS
    N_ROUTING_KEY
    N_RULESET_VERSION
    N_TRACE_ID
    N_LEDGER_PARTITION

_TEXT_NAMES = (
    "signal_id",
    "input_event_hash",
    "source_event_id",
    "source",
    "market_id",
    "title",
    "description",
    "confidence_factors.name",
    "geographic.regions",
    "geographic.chokepoints",
    "geographic.coordinates.name",
    "geographic.coordinates.region_code",
    "evidence.kind",
    "evidence.description",
    "evidence.url",
    "validation_results.rule_name",
    "validation_results.rule_version",
    "validation_results.reason",
    "impact_hints.domains",
    "impact_hints.keywords",
    "impact_hints.routing_key",
    "ruleset_version",
    "trace_id",
    "ledger_partition",
)


cdef inline str _what(Err *e):
    return wire_problem(e, _TEXT_NAMES)


cdef Layout L_ConfidenceFactor
cdef Layout L_ConfidenceInterval
cdef Layout L_GeographicContext
cdef Layout L_Location
cdef Layout L_TemporalContext
cdef Layout L_Evidence
cdef Layout L_ValidationResult
cdef Layout L_ImpactHints
cdef Layout L_OmenSignal
layout_init(&L_ConfidenceFactor, _ConfidenceFactor, acyclic=True)
layout_init(&L_ConfidenceInterval, _ConfidenceInterval, acyclic=True)
layout_init(&L_GeographicContext, _GeographicContext, acyclic=True)
layout_init(&L_Location, _Location, acyclic=True)
layout_init(&L_TemporalContext, _TemporalContext, acyclic=True)
layout_init(&L_Evidence, _Evidence, acyclic=True)
layout_init(&L_ValidationResult, _ValidationResult, acyclic=True)
layout_init(&L_ImpactHints, _ImpactHints, acyclic=True)
layout_init(&L_OmenSignal, _OmenSignal, acyclic=True)


def fast_layouts():
    """Each class decode_signal() builds -> True when it is built without running its __init__
    (slots.pxd)."""
    cdef Layout *layouts[9]
    layouts[:] = [
        &L_OmenSignal, &L_ConfidenceFactor, &L_ConfidenceInterval, &L_GeographicContext,
        &L_Location, &L_TemporalContext, &L_Evidence, &L_ValidationResult, &L_ImpactHints,
    ]
    return {cls.__name__: layouts[i].fast for i, cls in enumerate(_CLASSES)}


cdef tuple _members(object cls):
    """The members of the IntEnum `cls` by number (None where it has none)."""
    table = [None] * (max([int(m) for m in cls]) + 1)
    for m in cls:
        table[int(m)] = m
    return tuple(table)


cdef tuple _CONFIDENCE_LEVELS = _members(_ConfidenceLevel)
cdef tuple _SIGNAL_CATEGORIES = _members(_SignalCategory)
cdef tuple _SIGNAL_TYPES = _members(_SignalType)
cdef tuple _SIGNAL_STATUSES = _members(_SignalStatus)
cdef tuple _TIME_HORIZONS = _members(_TimeHorizon)
cdef tuple _RULE_STATUSES = _members(_RuleStatus)
cdef tuple _IMPACT_DIRECTIONS = _members(_ImpactDirection)
cdef str _EMPTY_STR = ""
cdef tuple _EMPTY_TUPLE = ()


cdef inline object member(tuple table, int32_t number):
    """The member numbered `number`, or None."""
    if 0 <= number < len(table):
        return table[number]
    return None


cdef object enum_of(tuple table, object cls, int32_t number):
    """cls(number): the member, or the ValueError the enum class raises for a number it lacks."""
    found = member(table, number)
    if found is None:
        return cls(number)
    return found


cdef object ns_of(int64_t seconds, int32_t nanos):
    """seconds * 10**9 + nanos, as proto_codec._ns computes it (Python ints: never overflows)."""
    if -9_000_000_000 <= seconds <= 9_000_000_000:  # no int64 overflow
        return seconds * 1_000_000_000 + nanos
    return seconds * _NS_OBJ + nanos


# The entries of a repeated field, collected without a list: references held in a buffer inside
# the _Parts (on the heap beyond INLINE_ITEMS entries) and moved into the field's tuple at the end.
cdef enum:
    INLINE_ITEMS = 8


cdef struct Items:
    Py_ssize_t n
    Py_ssize_t capacity  # of `heap`; 0 while the entries are in `inline_`
    PyObject **heap
    PyObject *inline_[INLINE_ITEMS]


cdef inline PyObject **items_data(Items *items) noexcept:
    return items.heap if items.heap is not NULL else items.inline_


cdef int items_append(Items *items, object value) except -1:
    """Append a new reference to `value`."""
    cdef Py_ssize_t capacity = items.capacity if items.heap is not NULL else INLINE_ITEMS
    cdef PyObject **data
    if items.n == capacity:
        if capacity > PY_SSIZE_T_MAX // (2 * <Py_ssize_t>sizeof(PyObject *)):
            raise MemoryError()
        data = <PyObject **>PyMem_Malloc(<size_t>(2 * capacity) * sizeof(PyObject *))
        if data is NULL:
            raise MemoryError()
        memcpy(data, items_data(items), <size_t>capacity * sizeof(PyObject *))
        if items.heap is not NULL:
            PyMem_Free(items.heap)
        items.heap = data
        items.capacity = 2 * capacity
    Py_INCREF(value)
    items_data(items)[items.n] = <PyObject *>value
    items.n += 1
    return 0


cdef tuple items_tuple(Items *items):
    """The entries as a tuple (their references moved into it), untracked by the collector when
    every entry is atomic or untracked itself, as slots.untracked_tuple() decides."""
    cdef Py_ssize_t i
    cdef Py_ssize_t n = items.n
    cdef PyObject **data = items_data(items)
    cdef bint atomic = True
    if n == 0:
        return _EMPTY_TUPLE
    result = PyTuple_New(n)
    for i in range(n):
        if atomic and gc_is_object(data[i]) and gc_is_tracked(data[i]):
            atomic = False
        tuple_set_item(<PyObject *>result, i, data[i])
    items.n = 0
    if atomic:
        PyObject_GC_UnTrack(<void *><PyObject *>result)
    return result


cdef void items_release(Items *items) noexcept:
    cdef Py_ssize_t i
    cdef PyObject **data = items_data(items)
    for i in range(items.n):
        Py_XDECREF(data[i])
    items.n = 0
    if items.heap is not NULL:
        PyMem_Free(items.heap)
        items.heap = NULL


cdef inline str text_or_empty(object text):
    return _EMPTY_STR if text is None else text


# The strings of the fields that hold a small vocabulary (rule names and versions, evidence kinds,
# factor names, regions, domains, keywords, the source...) repeat from signal to signal: some
# thirty of a signal's fifty strings. They are kept in a table of decoded strs (eventwire.pxd:
# text_slot, same_text), so a repeated one costs a hash and a memcmp instead of an allocation, a
# decode and, later, a deallocation (and the signals held in memory share one copy). Only ASCII
# strings of 2 to VOCABULARY_MAX_BYTES bytes are kept.
cdef enum:
    VOCABULARY = (
        1 << N_SOURCE | 1 << N_FACTOR_NAME | 1 << N_REGIONS | 1 << N_CHOKEPOINTS
        | 1 << N_COORDINATE_NAME | 1 << N_COORDINATE_REGION_CODE | 1 << N_EVIDENCE_KIND
        | 1 << N_RULE_NAME | 1 << N_RULE_VERSION | 1 << N_DOMAINS | 1 << N_KEYWORDS
        | 1 << N_RULESET_VERSION | 1 << N_LEDGER_PARTITION
    )
    VOCABULARY_MAX_BYTES = 64
    VOCABULARY_BITS = 10

# Strong references (never released: at most 2**VOCABULARY_BITS short strings).
cdef PyObject *_vocabulary[1 << VOCABULARY_BITS]


cdef inline object text_at(const unsigned char *b, Py_ssize_t pos, Py_ssize_t size, int name,
                           Err *e):
    """The str of b[pos:pos+size], or None with `e` set when it is not valid UTF-8."""
    cdef Py_ssize_t slot = -1
    cdef PyObject *cached
    if (VOCABULARY >> name) & 1 and 2 <= size <= VOCABULARY_MAX_BYTES:
        slot = text_slot(b + pos, size, VOCABULARY_BITS)
        cached = _vocabulary[slot]
        if cached is not NULL and same_text(cached, b + pos, size):
            return <object>cached
    cdef PyObject *text = decode_utf8_or_null(<const char *>b + pos, size, NULL)
    if text is NULL:
        PyErr_Clear()
        return invalid_text(b, pos, size, name, e)
    result = <object>text  # a second reference: drop the one the call returned
    Py_DECREF(result)
    if slot >= 0 and PyUnicode_IS_ASCII(result):
        Py_INCREF(result)
        Py_XDECREF(_vocabulary[slot])  # a str: freeing one runs no Python code
        _vocabulary[slot] = <PyObject *>result
    return result


cdef object invalid_text(const unsigned char *b, Py_ssize_t pos, Py_ssize_t size, int name,
                         Err *e):
    """text_at() once the decoder has failed: decoded again, so that the problem is recorded
    (None returned) or any other exception (MemoryError) raised."""
    try:
        return PyUnicode_DecodeUTF8(<const char *>b + pos, size, NULL)
    except UnicodeDecodeError as exc:
        fail(e, E_UTF8, pos + exc.start, name)
        return None


# Domain objects are built by slots.pxd's layout_make2..5, without a tuple of their values
# (some twenty objects per signal).


cdef object text_field(const unsigned char *b, Py_ssize_t *pos, Py_ssize_t end, int name,
                       Err *e):
    """The string field whose length is at b[pos[0]]: its str, with pos[0] moved past it; None
    with `e` set and pos[0] = -1 when it cannot be read."""
    cdef Py_ssize_t size
    cdef Py_ssize_t start = read_length(b, pos[0], end, &size, e)
    if start < 0:
        pos[0] = -1
        return None
    text = text_at(b, start, size, name, e)
    pos[0] = -1 if text is None else start + size
    return text


cdef inline Py_ssize_t double_field(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                                    double *out, Err *e) noexcept:
    if end - pos < 8:
        return fail(e, E_TRUNCATED_FIXED64, pos)
    out[0] = load_double(b + pos)
    return pos + 8


cdef inline Py_ssize_t int32_field(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                                   int32_t *out, Err *e) noexcept:
    """An int32 or enum varint: its low 32 bits, signed."""
    cdef uint64_t value = 0
    pos = read_varint(b, pos, end, &value, e)
    if pos >= 0:
        out[0] = <int32_t><uint32_t>value
    return pos


cdef inline int enter(int depth, Py_ssize_t at, Err *e) noexcept:
    """The depth left inside a submessage whose tag is at `at` (-1 with `e` set: too deep)."""
    if depth < 1:
        fail(e, E_TOO_DEEP, at)
        return -1
    return depth - 1


@cython.final
cdef class _Parts:
    """omen.v1.OmenSignal's fields as parsed so far (merged over occurrences). None stands for
    "" (a string) or an empty list; numbers start at zero."""

    cdef object signal_id, input_event_hash, source_event_id, source, market_id, title
    cdef object description, ruleset_version, trace_id, ledger_partition, routing_key
    cdef Items factors, evidence, results, regions, chokepoints, coordinates, domains, keywords
    cdef double probability, confidence_score, lower, upper, days_to_resolution, market_age_days
    cdef bint estimate, has_resolution, bad_rule_status
    cdef int32_t level, category, signal_type, status, horizon, direction, first_bad_rule_status
    cdef int64_t resolution_seconds, observed_seconds, generated_seconds
    cdef int32_t resolution_nanos, observed_nanos, generated_nanos
    cdef uint64_t sequence

    def __dealloc__(self):
        items_release(&self.factors)
        items_release(&self.evidence)
        items_release(&self.results)
        items_release(&self.regions)
        items_release(&self.chokepoints)
        items_release(&self.coordinates)
        items_release(&self.domains)
        items_release(&self.keywords)


cdef Py_ssize_t timestamp_fields(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                                 int depth, int64_t *seconds, int32_t *nanos, Err *e) noexcept:
    """A google.protobuf.Timestamp's fields merged into seconds[0] and nanos[0]."""
    cdef Py_ssize_t at
    cdef uint32_t key
    cdef uint64_t value = 0
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &key, e)
        if pos < 0:
            return -1
        if key == VARINT_1:
            pos = read_varint(b, pos, end, &value, e)
            seconds[0] = <int64_t>value
        elif key == VARINT_2:
            pos = int32_field(b, pos, end, nanos, e)
        else:
            pos = skip_value(b, pos, end, key, at, depth, e)
        if pos < 0:
            return -1
    return pos


cdef object factor(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end, int depth, Err *e):
    """The ConfidenceFactor in b[pos:end], or None with `e` set."""
    cdef Py_ssize_t at
    cdef uint32_t key
    cdef double value = 0.0
    cdef double weight = 0.0
    name = _EMPTY_STR
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &key, e)
        if pos < 0:
            return None
        if key == LEN_1:
            name = text_field(b, &pos, end, N_FACTOR_NAME, e)
            if name is None:
                return None
        elif key == F64_2:
            pos = double_field(b, pos, end, &value, e)
        elif key == F64_3:
            pos = double_field(b, pos, end, &weight, e)
        else:
            pos = skip_value(b, pos, end, key, at, depth, e)
        if pos < 0:
            return None
    return layout_make3(&L_ConfidenceFactor, name, value, weight)


cdef Py_ssize_t interval_fields(_Parts p, const unsigned char *b, Py_ssize_t pos,
                                Py_ssize_t end, int depth, Err *e) noexcept:
    cdef Py_ssize_t at
    cdef uint32_t key
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &key, e)
        if pos < 0:
            return -1
        if key == F64_1:
            pos = double_field(b, pos, end, &p.lower, e)
        elif key == F64_2:
            pos = double_field(b, pos, end, &p.upper, e)
        else:
            pos = skip_value(b, pos, end, key, at, depth, e)
        if pos < 0:
            return -1
    return pos


cdef object location(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end, int depth, Err *e):
    """The Location in b[pos:end], or None with `e` set."""
    cdef Py_ssize_t at
    cdef uint32_t key
    cdef double lat = 0.0
    cdef double lon = 0.0
    name = _EMPTY_STR
    region_code = _EMPTY_STR
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &key, e)
        if pos < 0:
            return None
        if key == F64_1:
            pos = double_field(b, pos, end, &lat, e)
        elif key == F64_2:
            pos = double_field(b, pos, end, &lon, e)
        elif key == LEN_3:
            name = text_field(b, &pos, end, N_COORDINATE_NAME, e)
            if name is None:
                return None
        elif key == LEN_4:
            region_code = text_field(b, &pos, end, N_COORDINATE_REGION_CODE, e)
            if region_code is None:
                return None
        else:
            pos = skip_value(b, pos, end, key, at, depth, e)
        if pos < 0:
            return None
    return layout_make4(&L_Location, lat, lon, name, region_code)


cdef Py_ssize_t geographic_fields(_Parts p, const unsigned char *b, Py_ssize_t pos,
                                  Py_ssize_t end, int depth, Err *e) except -2:
    cdef Py_ssize_t at, size, start
    cdef uint32_t key
    cdef int inner
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &key, e)
        if pos < 0:
            return -1
        if key == LEN_1 or key == LEN_2:
            text = text_field(b, &pos, end, N_REGIONS if key == LEN_1 else N_CHOKEPOINTS, e)
            if text is None:
                return -1
            if key == LEN_1:
                items_append(&p.regions, text)
            else:
                items_append(&p.chokepoints, text)
        elif key == LEN_3:
            start = read_length(b, pos, end, &size, e)
            if start < 0:
                return -1
            inner = enter(depth, at, e)
            if inner < 0:
                return -1
            item = location(b, start, start + size, inner, e)
            if item is None:
                return -1
            items_append(&p.coordinates, item)
            pos = start + size
        else:
            pos = skip_value(b, pos, end, key, at, depth, e)
            if pos < 0:
                return -1
    return pos


cdef Py_ssize_t temporal_fields(_Parts p, const unsigned char *b, Py_ssize_t pos,
                                Py_ssize_t end, int depth, Err *e) noexcept:
    cdef Py_ssize_t at, size, start
    cdef uint32_t key
    cdef int inner
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &key, e)
        if pos < 0:
            return -1
        if key == VARINT_1:
            pos = int32_field(b, pos, end, &p.horizon, e)
        elif key == LEN_2:
            start = read_length(b, pos, end, &size, e)
            if start < 0:
                return -1
            inner = enter(depth, at, e)
            if inner < 0:
                return -1
            p.has_resolution = True
            pos = timestamp_fields(
                b, start, start + size, inner, &p.resolution_seconds, &p.resolution_nanos, e
            )
        elif key == F64_3:
            pos = double_field(b, pos, end, &p.days_to_resolution, e)
        elif key == F64_4:
            pos = double_field(b, pos, end, &p.market_age_days, e)
        else:
            pos = skip_value(b, pos, end, key, at, depth, e)
        if pos < 0:
            return -1
    return pos


cdef object evidence(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end, int depth, Err *e):
    """The Evidence in b[pos:end], or None with `e` set."""
    cdef Py_ssize_t at
    cdef uint32_t key
    cdef double value = 0.0
    kind = _EMPTY_STR
    description = _EMPTY_STR
    url = _EMPTY_STR
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &key, e)
        if pos < 0:
            return None
        if key == LEN_1:
            kind = text_field(b, &pos, end, N_EVIDENCE_KIND, e)
            if kind is None:
                return None
        elif key == LEN_2:
            description = text_field(b, &pos, end, N_EVIDENCE_DESCRIPTION, e)
            if description is None:
                return None
        elif key == F64_3:
            pos = double_field(b, pos, end, &value, e)
        elif key == LEN_4:
            url = text_field(b, &pos, end, N_EVIDENCE_URL, e)
            if url is None:
                return None
        else:
            pos = skip_value(b, pos, end, key, at, depth, e)
        if pos < 0:
            return None
    return layout_make4(&L_Evidence, kind, description, value, url)


cdef object validation_result(_Parts p, const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                              int depth, Err *e):
    """The ValidationResult in b[pos:end], or None with `e` set. A status the domain lacks is
    kept as its number and recorded in `p` (decode_signal raises once the parse is complete)."""
    cdef Py_ssize_t at
    cdef uint32_t key
    cdef int32_t status = 0
    cdef double score = 0.0
    rule_name = _EMPTY_STR
    rule_version = _EMPTY_STR
    reason = _EMPTY_STR
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &key, e)
        if pos < 0:
            return None
        if key == LEN_1:
            rule_name = text_field(b, &pos, end, N_RULE_NAME, e)
            if rule_name is None:
                return None
        elif key == LEN_2:
            rule_version = text_field(b, &pos, end, N_RULE_VERSION, e)
            if rule_version is None:
                return None
        elif key == VARINT_3:
            pos = int32_field(b, pos, end, &status, e)
        elif key == F64_4:
            pos = double_field(b, pos, end, &score, e)
        elif key == LEN_5:
            reason = text_field(b, &pos, end, N_RULE_REASON, e)
            if reason is None:
                return None
        else:
            pos = skip_value(b, pos, end, key, at, depth, e)
        if pos < 0:
            return None
    status_member = member(_RULE_STATUSES, status)
    if status_member is None:
        if not p.bad_rule_status:
            p.bad_rule_status = True
            p.first_bad_rule_status = status
        status_member = status
    return layout_make5(&L_ValidationResult, rule_name, rule_version, status_member, score, reason)


cdef Py_ssize_t hints_fields(_Parts p, const unsigned char *b, Py_ssize_t pos,
                             Py_ssize_t end, int depth, Err *e) except -2:
    cdef Py_ssize_t at
    cdef uint32_t key
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &key, e)
        if pos < 0:
            return -1
        if key == LEN_1 or key == LEN_3:
            text = text_field(b, &pos, end, N_DOMAINS if key == LEN_1 else N_KEYWORDS, e)
            if text is None:
                return -1
            if key == LEN_1:
                items_append(&p.domains, text)
            else:
                items_append(&p.keywords, text)
        elif key == VARINT_2:
            pos = int32_field(b, pos, end, &p.direction, e)
        elif key == LEN_4:
            p.routing_key = text_field(b, &pos, end, N_ROUTING_KEY, e)
            if p.routing_key is None:
                return -1
        else:
            pos = skip_value(b, pos, end, key, at, depth, e)
        if pos < 0:
            return -1
    return pos


cdef Py_ssize_t submessage(_Parts p, uint32_t key, const unsigned char *b, Py_ssize_t pos,
                           Py_ssize_t end, int depth, Py_ssize_t at, Err *e) except -2:
    """The submessage field `key` (of the signal, at level 0) whose length is at b[pos]: parsed
    into `p`; the offset after it, or -1 with `e` set."""
    cdef Py_ssize_t size
    cdef Py_ssize_t start = read_length(b, pos, end, &size, e)
    cdef Py_ssize_t stop
    cdef Py_ssize_t r
    cdef int inner
    if start < 0:
        return -1
    inner = enter(depth, at, e)
    if inner < 0:
        return -1
    stop = start + size
    if key == K_CONFIDENCE_FACTORS:
        item = factor(b, start, stop, inner, e)
        if item is None:
            return -1
        items_append(&p.factors, item)
    elif key == K_EVIDENCE:
        item = evidence(b, start, stop, inner, e)
        if item is None:
            return -1
        items_append(&p.evidence, item)
    elif key == K_VALIDATION_RESULTS:
        item = validation_result(p, b, start, stop, inner, e)
        if item is None:
            return -1
        items_append(&p.results, item)
    else:
        if key == K_CONFIDENCE_INTERVAL:
            r = interval_fields(p, b, start, stop, inner, e)
        elif key == K_GEOGRAPHIC:
            r = geographic_fields(p, b, start, stop, inner, e)
        elif key == K_TEMPORAL:
            r = temporal_fields(p, b, start, stop, inner, e)
        elif key == K_IMPACT_HINTS:
            r = hints_fields(p, b, start, stop, inner, e)
        elif key == K_OBSERVED_AT:
            r = timestamp_fields(
                b, start, stop, inner, &p.observed_seconds, &p.observed_nanos, e
            )
        else:  # K_GENERATED_AT
            r = timestamp_fields(
                b, start, stop, inner, &p.generated_seconds, &p.generated_nanos, e
            )
        if r < 0:
            return -1
    return stop


cdef Py_ssize_t signal_fields(_Parts p, const unsigned char *b, Py_ssize_t end,
                              Err *e) except -2:
    """Parse all of b[0:end], an OmenSignal, into `p`; -1 with `e` set when it cannot be."""
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t at
    cdef uint32_t key
    cdef uint64_t value = 0
    cdef int depth = MAX_DEPTH
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &key, e)
        if pos < 0:
            return -1
        if key == K_SIGNAL_ID:
            p.signal_id = text_field(b, &pos, end, N_SIGNAL_ID, e)
        elif key == K_INPUT_EVENT_HASH:
            p.input_event_hash = text_field(b, &pos, end, N_INPUT_EVENT_HASH, e)
        elif key == K_SOURCE_EVENT_ID:
            p.source_event_id = text_field(b, &pos, end, N_SOURCE_EVENT_ID, e)
        elif key == K_SOURCE:
            p.source = text_field(b, &pos, end, N_SOURCE, e)
        elif key == K_MARKET_ID:
            p.market_id = text_field(b, &pos, end, N_MARKET_ID, e)
        elif key == K_TITLE:
            p.title = text_field(b, &pos, end, N_TITLE, e)
        elif key == K_DESCRIPTION:
            p.description = text_field(b, &pos, end, N_DESCRIPTION, e)
        elif key == K_RULESET_VERSION:
            p.ruleset_version = text_field(b, &pos, end, N_RULESET_VERSION, e)
        elif key == K_TRACE_ID:
            p.trace_id = text_field(b, &pos, end, N_TRACE_ID, e)
        elif key == K_LEDGER_PARTITION:
            p.ledger_partition = text_field(b, &pos, end, N_LEDGER_PARTITION, e)
        elif (
            key == K_CONFIDENCE_FACTORS
            or key == K_CONFIDENCE_INTERVAL
            or key == K_GEOGRAPHIC
            or key == K_TEMPORAL
            or key == K_EVIDENCE
            or key == K_VALIDATION_RESULTS
            or key == K_IMPACT_HINTS
            or key == K_OBSERVED_AT
            or key == K_GENERATED_AT
        ):
            pos = submessage(p, key, b, pos, end, depth, at, e)
            if pos < 0:
                return -1
            continue
        elif key == K_PROBABILITY:
            pos = double_field(b, pos, end, &p.probability, e)
        elif key == K_CONFIDENCE_SCORE:
            pos = double_field(b, pos, end, &p.confidence_score, e)
        elif key == K_ESTIMATE or key == K_LEDGER_SEQUENCE:
            pos = read_varint(b, pos, end, &value, e)
            if key == K_ESTIMATE:
                p.estimate = value != 0
            else:
                p.sequence = value
        elif key == K_CONFIDENCE_LEVEL:
            pos = int32_field(b, pos, end, &p.level, e)
        elif key == K_CATEGORY:
            pos = int32_field(b, pos, end, &p.category, e)
        elif key == K_SIGNAL_TYPE:
            pos = int32_field(b, pos, end, &p.signal_type, e)
        elif key == K_STATUS:
            pos = int32_field(b, pos, end, &p.status, e)
        else:
            pos = skip_value(b, pos, end, key, at, depth, e)
        if pos < 0:
            return -1
    return pos


cdef object build(_Parts p):
    """The OmenSignal signal_from_proto makes of the parsed message (its enum conversions in its
    order: the first number the domain lacks raises that enum's ValueError)."""
    level = enum_of(_CONFIDENCE_LEVELS, _ConfidenceLevel, p.level)
    category = enum_of(_SIGNAL_CATEGORIES, _SignalCategory, p.category)
    signal_type = enum_of(_SIGNAL_TYPES, _SignalType, p.signal_type)
    status = enum_of(_SIGNAL_STATUSES, _SignalStatus, p.status)
    horizon = enum_of(_TIME_HORIZONS, _TimeHorizon, p.horizon)
    if p.bad_rule_status:
        enum_of(_RULE_STATUSES, _RuleStatus, p.first_bad_rule_status)
    direction = enum_of(_IMPACT_DIRECTIONS, _ImpactDirection, p.direction)
    return layout_make(
        &L_OmenSignal,
        (
            text_or_empty(p.signal_id),
            text_or_empty(p.input_event_hash),
            text_or_empty(p.source_event_id),
            text_or_empty(p.source),
            text_or_empty(p.market_id),
            text_or_empty(p.title),
            text_or_empty(p.description),
            p.probability,
            p.estimate,
            p.confidence_score,
            level,
            items_tuple(&p.factors),
            layout_make2(&L_ConfidenceInterval, p.lower, p.upper),
            category,
            signal_type,
            status,
            layout_make3(
                &L_GeographicContext,
                items_tuple(&p.regions),
                items_tuple(&p.chokepoints),
                items_tuple(&p.coordinates),
            ),
            layout_make4(
                &L_TemporalContext,
                horizon,
                ns_of(p.resolution_seconds, p.resolution_nanos) if p.has_resolution else None,
                p.days_to_resolution,
                p.market_age_days,
            ),
            items_tuple(&p.evidence),
            items_tuple(&p.results),
            layout_make4(
                &L_ImpactHints,
                items_tuple(&p.domains),
                direction,
                items_tuple(&p.keywords),
                text_or_empty(p.routing_key),
            ),
            text_or_empty(p.ruleset_version),
            text_or_empty(p.trace_id),
            ns_of(p.observed_seconds, p.observed_nanos),
            ns_of(p.generated_seconds, p.generated_nanos),
            text_or_empty(p.ledger_partition),
            p.sequence,
        ),
    )


def decode_signal(data):
    """The domain OmenSignal of a serialised omen.v1.OmenSignal: equal to signal_from_proto(m)
    after m.ParseFromString(data) (omen.adapters.proto_codec) for every input upb parses.

    Raises ValueError otherwise: SignalDecodeError (a ValueError subclass, "malformed
    OmenSignal: <what> at byte <offset>") where upb rejects the bytes, or the ValueError
    signal_from_proto raises for an enum number the domain lacks. TypeError when `data` is not
    bytes-like. See signalwire_py.py for the contract."""
    cdef bytes buf = data if type(data) is bytes else bytes(memoryview(data))
    cdef Err e
    cdef _Parts p = _Parts.__new__(_Parts)
    e.code = E_NONE
    if signal_fields(
        p, <const unsigned char *>PyBytes_AS_STRING(buf), PyBytes_GET_SIZE(buf), &e
    ) < 0:
        raise SignalDecodeError(f"malformed OmenSignal: {_what(&e)} at byte {e.at}")
    return build(p)
