"""Compiled twin of decision_py.py: geography, the five rules, classification, confidence and
the signal of one analysed event, in one call.

decision_py.py (omen.domain.decision.RulesetDecider: the domain's locate(), rules, classify() and
build_signal()) is the reference. Every method here returns values equal to the reference's,
field by field, down to each reason's characters (tests/unit/test_decision_parity.py). The
arithmetic is the reference's, operation by operation and in the same order, so every float is
the same double; what the compiled code saves is the interpreter: one pass over the matches per
event (each distinct term's payloads are summarised once and cached), parameters held in C
fields, reasons assembled from pieces formatted by the same routine float.__format__ uses, and
the domain's value objects built without running their __init__ (slots.pxd). Integer nanosecond
arithmetic stays on Python ints (true division of two ints is correctly rounded there, not in C).

A feed observes each market again and again with the same question, so the two results that
depend only on the terms matched (the semantic rule's, and the classification) are kept for the
latest MEMO_ENTRIES distinct term lists and returned again (shared: the domain never changes a
result after building it, and the reference already shares the anomaly rule's "no anomaly").
The geography and the geographic rule's result, functions of the terms and of the locations'
coordinates and region codes, are kept likewise (Decider._place), around each event's own
locations.
"""

cimport cython
from cpython.dict cimport PyDict_GetItem
from cpython.list cimport PyList_AsTuple, PyList_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.object cimport Py_TYPE, PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from libc.math cimport asin, cos, fabs, floor, isfinite, log10, signbit, sin, sqrt
from libc.stdio cimport snprintf
from libc.string cimport memcpy, strlen

from omen._native.eventwire cimport str_utf8
from omen._native.signalwire cimport (
    STACK_BYTES,
    writer_start,
    put_bytes,
    WIRE_FIXED64,
    WIRE_LEN,
    WIRE_VARINT,
    Writer,
    close_message,
    open_message,
    put_double,
    put_double_c,
    put_enum,
    put_evidence,
    put_location,
    put_record_head,
    put_string,
    put_strings,
    put_timestamp,
    put_validation_result,
    tag,
)
from omen._native.sha256 cimport omen_sha256, omen_sha256_hw, omen_sha256_init
from omen._native.slots cimport (
    Field,
    Layout,
    PyMemberDescrObject,
    PyObject_GC_UnTrack,
    PyType_GenericAlloc,
    field_of,
    get,
    layout_init,
    layout_make2,
    layout_make3,
    layout_make4,
    layout_make5,
    layout_make_array,
    untracked_tuple,
)

omen_sha256_init()

cdef enum:
    # A ruleset version, a NUL and a 64-character event hash fit many times over; a longer
    # input (a very long version string) goes to hashlib.
    SIGNAL_ID_INPUT_MAX = 512

import builtins as _builtins
import hashlib as _hashlib
import math as _math
import sys as _sys

from omen.domain import classification as _classification
from omen.domain import geography as _geography
from omen.domain.analysis import ChokepointHit as _ChokepointHit
from omen.domain.analysis import GeoFindings as _GeoFindings
from omen.domain.analysis import MarketHistory as _MarketHistory
from omen.domain.analysis import TextAnalysis as _TextAnalysis
from omen.domain.decision import RulesetDecider as _RulesetDecider
from omen.domain.events import Location as _Location
from omen.domain.events import MarketState as _MarketState
from omen.domain.events import Movement as _Movement
from omen.domain.events import RawEvent as _RawEvent
from omen.domain.geography import Chokepoint as _Chokepoint
from omen.domain.geography import PlaceTerm as _PlaceTerm
from omen.domain.semantic import DirectionTerm as _DirectionTerm
from omen.domain.semantic import OffTopicTerm as _OffTopicTerm
from omen.domain.semantic import TopicTerm as _TopicTerm
from omen.domain.text import TermMatch as _TermMatch
from omen.domain.signals import ConfidenceFactor as _ConfidenceFactor
from omen.domain.signals import ConfidenceInterval as _ConfidenceInterval
from omen.domain.signals import ConfidenceLevel as _ConfidenceLevel
from omen.domain.signals import Evidence as _Evidence
from omen.domain.signals import GeographicContext as _GeographicContext
from omen.domain.signals import ImpactDirection as _ImpactDirection
from omen.domain.signals import ImpactHints as _ImpactHints
from omen.domain.signals import OmenSignal as _OmenSignal
from omen.domain.signals import Outcome as _Outcome
from omen.domain.signals import ProcessResult as _ProcessResult
from omen.domain.signals import RuleStatus as _RuleStatus
from omen.domain.signals import SignalCategory as _SignalCategory
from omen.domain.signals import SignalStatus as _SignalStatus
from omen.domain.signals import SignalType as _SignalType
from omen.domain.signals import TemporalContext as _TemporalContext
from omen.domain.signals import TimeHorizon as _TimeHorizon
from omen.domain.signals import ValidationResult as _ValidationResult
from omen.domain.classification import Classification as _Classification
from omen.adapters.ledger.records import EncodedSignal as _EncodedSignal

cdef extern from "Python.h":
    char *PyOS_double_to_string(double val, char format_code, int precision, int flags,
                                int *type) except NULL
    int Py_DTSF_SIGN


# The domain's value classes, built as their __init__ would build them and left out of the
# cycle collector (slots.pxd: none of them can ever be part of a reference cycle). GeoFindings
# stays tracked: it holds the event's own locations tuple.
cdef object _CLASSES = (
    _ValidationResult,
    _ProcessResult,
    _GeoFindings,
    _ChokepointHit,
    _Classification,
    _ConfidenceFactor,
    _ConfidenceInterval,
    _Evidence,
    _GeographicContext,
    _ImpactHints,
    _TemporalContext,
    _OmenSignal,
)
cdef Layout L_ValidationResult
cdef Layout L_ProcessResult
cdef Layout L_GeoFindings
cdef Layout L_ChokepointHit
cdef Layout L_Classification
cdef Layout L_ConfidenceFactor
cdef Layout L_ConfidenceInterval
cdef Layout L_Evidence
cdef Layout L_GeographicContext
cdef Layout L_ImpactHints
cdef Layout L_TemporalContext
cdef Layout L_OmenSignal
layout_init(&L_ValidationResult, _ValidationResult, acyclic=True)
layout_init(&L_ProcessResult, _ProcessResult, acyclic=True)
layout_init(&L_GeoFindings, _GeoFindings)
layout_init(&L_ChokepointHit, _ChokepointHit, acyclic=True)
layout_init(&L_Classification, _Classification, acyclic=True)
layout_init(&L_ConfidenceFactor, _ConfidenceFactor, acyclic=True)
layout_init(&L_ConfidenceInterval, _ConfidenceInterval, acyclic=True)
layout_init(&L_Evidence, _Evidence, acyclic=True)
layout_init(&L_GeographicContext, _GeographicContext, acyclic=True)
layout_init(&L_ImpactHints, _ImpactHints, acyclic=True)
layout_init(&L_TemporalContext, _TemporalContext, acyclic=True)
layout_init(&L_OmenSignal, _OmenSignal, acyclic=True)


def fast_layouts():
    """Each value class -> True when it is built without running its __init__ (slots.pxd)."""
    cdef Layout *layouts[12]
    layouts[:] = [
        &L_ValidationResult, &L_ProcessResult, &L_GeoFindings, &L_ChokepointHit,
        &L_Classification, &L_ConfidenceFactor, &L_ConfidenceInterval, &L_Evidence,
        &L_GeographicContext, &L_ImpactHints, &L_TemporalContext, &L_OmenSignal,
    ]
    return {cls.__name__: layouts[i].fast for i, cls in enumerate(_CLASSES)}


cdef str _NO_PARTITION = ""  # OmenSignal's ledger position until the ledger sets it
cdef object _NO_SEQUENCE = 0


# decide_record()'s EncodedSignal is built as slots.pxd builds the value objects, except that
# only the slots it holds are stored (an empty one reads as unset: records.py decodes it).
cdef Py_ssize_t _slot_offset(object cls, str name) except -1:
    import types
    descriptor = cls.__dict__.get(name)
    if type(descriptor) is not types.MemberDescriptorType:
        raise TypeError(f"{cls.__name__}.{name} is not a member slot")
    return (<PyMemberDescrObject *><PyObject *>descriptor).d_member.offset


if (
    _EncodedSignal.__getattribute__ is not object.__getattribute__
    or _EncodedSignal.__new__ is not object.__new__
    or _EncodedSignal.__dictoffset__ != 0
):
    raise TypeError("EncodedSignal cannot be built from its slots")
cdef Py_ssize_t ES_signal_id = _slot_offset(_OmenSignal, "signal_id")
cdef Py_ssize_t ES_input_event_hash = _slot_offset(_OmenSignal, "input_event_hash")
cdef Py_ssize_t ES_observed_at_ns = _slot_offset(_OmenSignal, "observed_at_ns")
cdef Py_ssize_t ES_generated_at_ns = _slot_offset(_OmenSignal, "generated_at_ns")
cdef Py_ssize_t ES_ledger_partition = _slot_offset(_OmenSignal, "ledger_partition")
cdef Py_ssize_t ES_ledger_sequence = _slot_offset(_OmenSignal, "ledger_sequence")
cdef Py_ssize_t ES_body = _slot_offset(_EncodedSignal, "_body")
cdef Py_ssize_t ES_market_key = _slot_offset(_EncodedSignal, "_market_key")
cdef Py_ssize_t ES_probability = _slot_offset(_EncodedSignal, "_probability")


cdef inline void _set_slot(object obj, Py_ssize_t offset, object value):
    """Store a new reference to `value` in the empty slot at `offset` of `obj`."""
    Py_INCREF(value)
    (<PyObject **>(<char *><PyObject *>obj + offset))[0] = <PyObject *>value


cdef int _put_factor(Writer *w, str name, double value, double weight) except -1:
    """One omen.v1.ConfidenceFactor (OmenSignal field 12)."""
    cdef Py_ssize_t start = open_message(w, tag(12, WIRE_LEN))
    put_string(w, tag(1, WIRE_LEN), name)
    put_double_c(w, tag(2, WIRE_FIXED64), value)
    put_double_c(w, tag(3, WIRE_FIXED64), weight)
    close_message(w, start)
    return 0


cdef inline object ValidationResult(a0, a1, a2, a3, a4):
    return layout_make5(&L_ValidationResult, a0, a1, a2, a3, a4)


cdef inline object ProcessResult(a0, a1, a2, a3, a4, a5):
    cdef PyObject *values[6]
    values[:] = [<PyObject *>a0, <PyObject *>a1, <PyObject *>a2, <PyObject *>a3, <PyObject *>a4,
                 <PyObject *>a5]
    return layout_make_array(&L_ProcessResult, values, 6)


cdef inline object GeoFindings(a0, a1, a2, a3):
    return layout_make4(&L_GeoFindings, a0, a1, a2, a3)


cdef inline object ChokepointHit(a0, a1, a2, a3, a4):
    return layout_make5(&L_ChokepointHit, a0, a1, a2, a3, a4)


cdef inline object Classification(a0, a1, a2, a3, a4):
    return layout_make5(&L_Classification, a0, a1, a2, a3, a4)


cdef inline object ConfidenceFactor(a0, a1, a2):
    return layout_make3(&L_ConfidenceFactor, a0, a1, a2)


cdef inline object ConfidenceInterval(a0, a1):
    return layout_make2(&L_ConfidenceInterval, a0, a1)


cdef inline object Evidence(a0, a1, a2, a3):
    return layout_make4(&L_Evidence, a0, a1, a2, a3)


cdef inline object GeographicContext(a0, a1, a2):
    return layout_make3(&L_GeographicContext, a0, a1, a2)


cdef inline object ImpactHints(a0, a1, a2, a3):
    return layout_make4(&L_ImpactHints, a0, a1, a2, a3)


cdef inline object TemporalContext(a0, a1, a2, a3):
    return layout_make4(&L_TemporalContext, a0, a1, a2, a3)


cdef inline object OmenSignal(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24):
    # ledger_partition and ledger_sequence keep their defaults until the ledger sets them.
    cdef PyObject *values[27]
    values[:] = [<PyObject *>a0, <PyObject *>a1, <PyObject *>a2, <PyObject *>a3, <PyObject *>a4,
                 <PyObject *>a5, <PyObject *>a6, <PyObject *>a7, <PyObject *>a8, <PyObject *>a9,
                 <PyObject *>a10, <PyObject *>a11, <PyObject *>a12, <PyObject *>a13,
                 <PyObject *>a14, <PyObject *>a15, <PyObject *>a16, <PyObject *>a17,
                 <PyObject *>a18, <PyObject *>a19, <PyObject *>a20, <PyObject *>a21,
                 <PyObject *>a22, <PyObject *>a23, <PyObject *>a24, <PyObject *>_NO_PARTITION,
                 <PyObject *>_NO_SEQUENCE]
    return layout_make_array(&L_OmenSignal, values, 27)

# --- Reading the domain's slots directly ------------------------------------------------------
#
# Every value decide() reads (the event, its locations and movement, the history, the text's
# matches, and the findings and results built here) is a slots dataclass instance, so each of its
# fields is one PyObject* at the offset its member descriptor records. A Python attribute read of
# one goes through the type's lookup cache, the descriptor and PyMember_GetOne; a profile put
# those reads at a sixth of decide(). slots.pxd's get() loads the pointer itself when the object
# is exactly the class the offset was taken from, and falls back to getattr() otherwise, so what
# it returns is always what the attribute read would return.


cdef list _FIELD_NAMES = []
cdef dict _DIRECT = {}


cdef inline Field _field(object cls, str name) except *:
    return field_of(cls, name, _FIELD_NAMES, _DIRECT)


# The fields decide() reads, by class.
cdef Field E_event_id = _field(_RawEvent, "event_id")
cdef Field E_source = _field(_RawEvent, "source")
cdef Field E_title = _field(_RawEvent, "title")
cdef Field E_probability = _field(_RawEvent, "probability")
cdef Field E_observed_at_ns = _field(_RawEvent, "observed_at_ns")
cdef Field E_market_id = _field(_RawEvent, "market_id")
cdef Field E_description = _field(_RawEvent, "description")
cdef Field E_movement = _field(_RawEvent, "movement")
cdef Field E_liquidity_usd = _field(_RawEvent, "liquidity_usd")
cdef Field E_volume_usd = _field(_RawEvent, "volume_usd")
cdef Field E_num_traders = _field(_RawEvent, "num_traders")
cdef Field E_locations = _field(_RawEvent, "locations")
cdef Field E_market_url = _field(_RawEvent, "market_url")
cdef Field E_created_at_ns = _field(_RawEvent, "created_at_ns")
cdef Field E_resolution_date_ns = _field(_RawEvent, "resolution_date_ns")
cdef Field E_market_state = _field(_RawEvent, "market_state")
cdef Field E_outcome_prices = _field(_RawEvent, "outcome_prices")
cdef Field M_delta = _field(_Movement, "delta")
cdef Field M_window_hours = _field(_Movement, "window_hours")
cdef Field LOC_lat = _field(_Location, "lat")
cdef Field LOC_lon = _field(_Location, "lon")
cdef Field LOC_region_code = _field(_Location, "region_code")
cdef Field TXT_matches = _field(_TextAnalysis, "matches")
cdef Field TM_term = _field(_TermMatch, "term")
cdef Field TM_payloads = _field(_TermMatch, "payloads")
cdef Field MH_points = _field(_MarketHistory, "points")
cdef Field MH_change = _field(_MarketHistory, "change")
cdef Field MH_zscore = _field(_MarketHistory, "zscore")
cdef Field GF_chokepoints = _field(_GeoFindings, "chokepoints")
cdef Field GF_regions = _field(_GeoFindings, "regions")
cdef Field GF_places = _field(_GeoFindings, "places")
cdef Field GF_coordinates = _field(_GeoFindings, "coordinates")
cdef Field CH_name = _field(_ChokepointHit, "name")
cdef Field CH_lat = _field(_ChokepointHit, "lat")
cdef Field CH_lon = _field(_ChokepointHit, "lon")
cdef Field CH_via = _field(_ChokepointHit, "via")
cdef Field CH_distance_km = _field(_ChokepointHit, "distance_km")
cdef Field CP_name = _field(_Chokepoint, "name")
cdef Field CP_regions = _field(_Chokepoint, "regions")
cdef Field VR_rule_name = _field(_ValidationResult, "rule_name")
cdef Field VR_status = _field(_ValidationResult, "status")
cdef Field VR_score = _field(_ValidationResult, "score")
cdef Field VR_reason = _field(_ValidationResult, "reason")
cdef Field C_category = _field(_Classification, "category")
cdef Field C_signal_type = _field(_Classification, "signal_type")
cdef Field C_direction = _field(_Classification, "direction")
cdef Field C_domains = _field(_Classification, "domains")
cdef Field C_keywords = _field(_Classification, "keywords")


def direct_fields():
    """Each field get() reads, "Class.field" -> True when it is read straight from its slot."""
    return dict(_DIRECT)


# C-level copies of the domain's names: reassigning them at run time cannot change this module.
cdef object TopicTerm = _TopicTerm
cdef object OffTopicTerm = _OffTopicTerm
cdef object DirectionTerm = _DirectionTerm
cdef object PlaceTerm = _PlaceTerm
cdef object _fsum = _math.fsum
cdef object _sum = _builtins.sum
cdef bint PLAIN_FLOAT_SUM = _sys.version_info < (3, 12)  # _sum_scores()
cdef object _round = _builtins.round
# round(x, 1) of a float x, without round()'s special-method lookup and bound method: the
# distances are floats made here, so float.__round__ is what round() would call.
cdef object _float_round = float.__round__
cdef object _sha256 = _hashlib.sha256

cdef object PASSED = _RuleStatus.PASSED
cdef object FAILED = _RuleStatus.FAILED
cdef object WARNING = _RuleStatus.WARNING
cdef object EMITTED = _Outcome.EMITTED
cdef object REJECTED = _Outcome.REJECTED
cdef object RESOLVED = _MarketState.RESOLVED
cdef object CLOSED = _MarketState.CLOSED
cdef object NEGATIVE = _ImpactDirection.NEGATIVE
cdef object POSITIVE = _ImpactDirection.POSITIVE
cdef object NEUTRAL = _ImpactDirection.NEUTRAL
cdef object CATEGORY_OTHER = _SignalCategory.OTHER
cdef object TYPE_UNCLASSIFIED = _SignalType.UNCLASSIFIED
cdef object LEVEL_HIGH = _ConfidenceLevel.HIGH
cdef object LEVEL_MEDIUM = _ConfidenceLevel.MEDIUM
cdef object LEVEL_LOW = _ConfidenceLevel.LOW
cdef object STATUS_ACTIVE = _SignalStatus.ACTIVE
cdef object STATUS_MONITORING = _SignalStatus.MONITORING
cdef object STATUS_CANDIDATE = _SignalStatus.CANDIDATE
cdef object H_IMMEDIATE = _TimeHorizon.IMMEDIATE
cdef object H_SHORT = _TimeHorizon.SHORT_TERM
cdef object H_MEDIUM = _TimeHorizon.MEDIUM_TERM
cdef object H_LONG = _TimeHorizon.LONG_TERM
cdef object H_UNKNOWN = _TimeHorizon.UNKNOWN

# The shared values the reference returns for "nothing found".
cdef object _NOWHERE = _geography._NOWHERE
cdef object _NOTHING = _classification._NOTHING
cdef tuple _PLACE_KINDS = tuple(_geography.PLACE_KINDS)
cdef tuple _EMPTY = ()

cdef const char *HEX_DIGITS = b"0123456789abcdef"  # as hexdigest() writes them
cdef double EARTH_RADIUS_KM = _geography.EARTH_RADIUS_KM
# math.radians() multiplies by this same constant (Py_MATH_PI / 180.0).
cdef double DEG_TO_RAD = 3.14159265358979323846264338327950288 / 180.0
cdef double TOLERANCE = 1e-9  # omen.domain.semantic.TOLERANCE
cdef double JUMP_SLACK = 1e-9  # omen.domain.anomaly.JUMP_SLACK
cdef double PRICE_SLACK = 1e-9  # omen.domain.freshness.PRICE_SLACK
cdef long long TWO_53 = 9_007_199_254_740_992  # 2**53
cdef object NS_PER_SECOND = 1_000_000_000
cdef object NS_PER_HOUR = 3_600 * 1_000_000_000
cdef object NS_PER_DAY = 86_400 * 1_000_000_000

def _constants_match():
    from omen.domain import anomaly, enrichment, freshness, semantic

    return (
        semantic.TOLERANCE == TOLERANCE
        and anomaly.JUMP_SLACK == JUMP_SLACK
        and freshness.PRICE_SLACK == PRICE_SLACK
        and freshness.NS_PER_SECOND == NS_PER_SECOND
        and freshness.NS_PER_HOUR == NS_PER_HOUR
        and enrichment._NS_PER_DAY == NS_PER_DAY
    )


if not _constants_match():
    raise ImportError("omen._native.decision is out of step with the domain's constants")


# --- Number formatting: the routine float.__format__ calls, without parsing a spec ----------
#
# Most numbers in a signal's texts are "f" with 0 to 2 decimals of ordinary magnitudes (dollars,
# km, percentages, hours). fixed() writes those with integer arithmetic; PyOS_double_to_string
# (what float.__format__ calls; exact decimal expansion of the binary value, ties to even) does
# the rest: other codes and precisions, |x| * 10**p of 2**43 or more, non-finite values, and
# values whose scaled fraction lies within 2**-9 of one half, where the rounding error of
# x * 10**p (at most 2**-11 below 2**43) could decide the rounding. Outside that band, rounding
# the computed product to the nearest integer rounds the exact one the same way.

cdef enum:
    FIXED_MAX = 32  # sign, 13 digits, point, 3 decimals, NUL: fits

cdef double FIXED_LIMIT = 8796093022208.0  # 2**43
cdef double FIXED_MARGIN = 0.001953125  # 2**-9
cdef double *POW10 = [1.0, 10.0, 100.0, 1000.0]


cdef Py_ssize_t fixed(double value, int precision, bint sign, char *out) noexcept:
    """format(value, f".{precision}f"), f"+.{precision}f" with `sign`, into out (FIXED_MAX
    bytes, NUL-terminated): its length, or -1 when PyOS_double_to_string must do it (above)."""
    cdef double scaled, fraction
    cdef unsigned long long rounded, whole, scale
    cdef char digits[24]
    cdef Py_ssize_t n = 0, k = 0, i
    if precision < 0 or precision > 3 or not isfinite(value):
        return -1
    scaled = fabs(value) * POW10[precision]
    if not scaled < FIXED_LIMIT:
        return -1
    fraction = scaled - floor(scaled)
    if fabs(fraction - 0.5) < FIXED_MARGIN:
        return -1
    rounded = <unsigned long long>floor(scaled + 0.5)
    scale = <unsigned long long>POW10[precision]
    if signbit(value):  # also -0.0 and what rounds to 0: "-0.00", as Python writes them
        out[n] = b"-"
        n += 1
    elif sign:
        out[n] = b"+"
        n += 1
    whole = rounded // scale
    while True:
        digits[k] = <char>(48 + whole % 10)
        k += 1
        whole //= 10
        if whole == 0:
            break
    for i in range(k):
        out[n + i] = digits[k - 1 - i]
    n += k
    if precision:
        out[n] = b"."
        whole = rounded % scale
        for i in range(precision, 0, -1):
            out[n + i] = <char>(48 + whole % 10)
            whole //= 10
        n += precision + 1
    out[n] = 0
    return n


cdef str fmt(double value, char code, int precision, bint sign=False):
    """format(value, f".{precision}{code}") for code in "f", "g", "e"; f"+.{precision}{code}"
    with `sign`."""
    cdef char out[FIXED_MAX]
    cdef Py_ssize_t n = fixed(value, precision, sign, out) if code == b"f" else -1
    if n >= 0:
        return out[:n].decode("ascii")
    cdef char *buf = PyOS_double_to_string(value, code, precision, Py_DTSF_SIGN if sign else 0,
                                           NULL)
    try:
        return buf.decode("ascii")
    finally:
        PyMem_Free(buf)


cdef inline str fmt_signed(double value, int precision):
    """format(value, f"+.{precision}f")."""
    return fmt(value, b"f", precision, True)


cdef Py_ssize_t group_digits(const char *buf, char *out) noexcept:
    """buf ("f" output, NUL-terminated) with the digits left of the point grouped by threes,
    into out (at least 512 bytes): its length, or -1 past 300 such digits."""
    cdef Py_ssize_t i = 0, j = 0, digits = 0, k
    if buf[0] == b"-" or buf[0] == b"+":
        out[0] = buf[0]
        i = j = 1
    k = i
    while b"0" <= buf[k] <= b"9":
        k += 1
    digits = k - i
    if digits > 300:
        return -1
    while i < k:
        out[j] = buf[i]
        j += 1
        i += 1
        digits -= 1
        if digits > 0 and digits % 3 == 0:
            out[j] = b","
            j += 1
    while buf[i] != 0:
        out[j] = buf[i]
        j += 1
        i += 1
    return j


cdef Py_ssize_t grouped(double value, int precision, bint sign, char *out) except -2:
    """format(value, f",.{precision}f") (f"+,.{precision}f" with `sign`) into out (512 bytes):
    its length, or -1 past 300 digits left of the point."""
    cdef char fast[FIXED_MAX]
    cdef char *buf
    if fixed(value, precision, sign, fast) >= 0:
        return group_digits(fast, out)
    buf = PyOS_double_to_string(value, b"f", precision, Py_DTSF_SIGN if sign else 0, NULL)
    try:
        return group_digits(buf, out)
    finally:
        PyMem_Free(buf)


cdef str fmt_grouped(double value, int precision):
    """format(value, f",.{precision}f"): digits left of the point grouped by threes."""
    cdef char out[512]
    cdef Py_ssize_t j = grouped(value, precision, False, out)
    if j < 0:  # astronomically large: let Python do it
        return format(value, f",.{precision}f")
    return out[:j].decode("ascii")


def format_number(double value, int precision, bint sign=False, bint group=False):
    """format(value, f"{'+' if sign else ''}{',' if group else ''}.{precision}f") for a
    precision of 0 to 20 (else ValueError), as the decider's texts write numbers."""
    cdef char out[512]
    cdef Py_ssize_t j
    if not 0 <= precision <= 20:
        raise ValueError(f"precision must be 0 to 20, not {precision}")
    if group:
        j = grouped(value, precision, sign, out)
        if j < 0:
            return format(value, f"{'+' if sign else ''},.{precision}f")
        return out[:j].decode("ascii")
    return fmt_signed(value, precision) if sign else fmt(value, b"f", precision)


# --- Texts written straight into a record ------------------------------------------------------
#
# decide_record() writes each evidence description into the record from its pieces (the UTF-8
# of a str, a number formatted as fmt() formats it, literal text), with no str made for it. A
# description that does not fit in a Text (TEXT_MAX bytes), or a piece this path does not
# format (an integer that is not an exact int of 64 bits), marks the Text full: the caller then
# writes the evidence of _evidence_items() instead, whose f-strings are the reference's.

cdef enum:
    TEXT_MAX = 1024


ctypedef struct Text:
    char data[TEXT_MAX]
    Py_ssize_t length
    bint full


cdef inline void text_add(Text *t, const char *p, Py_ssize_t n) noexcept:
    if t.full or n > TEXT_MAX - t.length:
        t.full = True
        return
    memcpy(t.data + t.length, p, <size_t>n)
    t.length += n


cdef inline void text_lit(Text *t, const char *p) noexcept:
    text_add(t, p, <Py_ssize_t>strlen(p))


cdef inline int text_str(Text *t, object value) except -1:
    """The UTF-8 of a str (f"{value}" of one); anything else marks the Text full."""
    cdef Py_ssize_t n = 0
    cdef const char *p
    if type(value) is not str:
        t.full = True
        return 0
    p = str_utf8(value, &n)  # UnicodeEncodeError for a lone surrogate, as the encoder raises
    text_add(t, p, n)
    return 0


cdef int text_double(Text *t, double value, char code, int precision, int flags) except -1:
    """fmt() / fmt_signed() of value."""
    cdef char out[FIXED_MAX]
    cdef char *buf
    if (
        code == b"f"
        and (flags == 0 or flags == Py_DTSF_SIGN)
        and fixed(value, precision, flags == Py_DTSF_SIGN, out) >= 0
    ):
        text_lit(t, out)
        return 0
    buf = PyOS_double_to_string(value, code, precision, flags, NULL)
    try:
        text_lit(t, buf)
    finally:
        PyMem_Free(buf)
    return 0


cdef int text_grouped(Text *t, double value, int precision) except -1:
    """fmt_grouped() of value."""
    cdef char out[512]
    cdef Py_ssize_t j = grouped(value, precision, False, out)
    if j < 0:
        t.full = True
    else:
        text_add(t, out, j)
    return 0


cdef inline int text_dollars(Text *t, double value, const char *after) except -1:
    """f"${fmt_grouped(value, 0)}" and the text after it."""
    text_lit(t, b"$")
    text_grouped(t, value, 0)
    text_lit(t, after)
    return 0


cdef int text_int(Text *t, object value) except -1:
    """f"{value}" of an exact int of 64 bits; anything else marks the Text full."""
    cdef int overflow = 0
    cdef long long x
    cdef char buf[32]
    if type(value) is not int:
        t.full = True
        return 0
    x = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow:
        t.full = True
        return 0
    text_add(t, buf, snprintf(buf, sizeof(buf), "%lld", x))
    return 0


cdef bint put_text_evidence(Writer *w, str kind, Text *t, object value, object url) except -1:
    """One omen.v1.Evidence (OmenSignal field 19) with t as its description; False (nothing
    written) when t is full."""
    cdef Py_ssize_t start
    if t.full:
        return False
    start = open_message(w, tag(19, WIRE_LEN))
    put_string(w, tag(1, WIRE_LEN), kind)
    if t.length:
        put_bytes(w, tag(2, WIRE_LEN), t.data, t.length)
    put_double(w, tag(3, WIRE_FIXED64), value)
    put_string(w, tag(4, WIRE_LEN), url)
    close_message(w, start)
    t.length = 0
    return True


cdef str fmt_weight(double value):
    """omen.domain.semantic.fmt_weight: 1.0 -> "1.0", 0.25 -> "0.25"."""
    cdef str text = fmt(value, b"f", 2)
    return text[:len(text) - 1] if text.endswith("0") else text


cdef str _groups(dict found):
    cdef list parts = []
    for key, terms in found.items():
        parts.append(f"{key} ({', '.join(terms)})")
    return "; ".join(parts)


cdef inline double dmin1(double x):
    # min(1.0, x): x only when it is below 1.0 (so NaN gives 1.0, as min() does).
    return x if x < 1.0 else 1.0


cdef inline double dmax0(double x):
    # max(0.0, x): x only when it is above 0.0 (so NaN and -0.0 give 0.0, as max() does).
    return x if x > 0.0 else 0.0


# --- Per-term summaries ----------------------------------------------------------------------


@cython.final
@cython.freelist(8)
cdef class _Term:
    """What one matched term's payloads say, by kind, in payload order."""

    def __cinit__(self, str term, object payloads):
        self.term = term
        self.payloads = payloads
        self.place_keys = []
        self.place_regions = []
        self.named = []
        self.topics = []
        self.topic_weights = []
        self.topic_keys = []
        self.vote_keys = []
        self.topic_domains = []
        self.off_groups = []
        self.negative = []
        self.positive = []
        self.port = False
        for payload in payloads:
            kind = type(payload)
            if isinstance(payload, PlaceTerm):
                self.place_keys.append(payload.key)
                self.place_regions.append(payload.regions)
                if payload.kind == "chokepoint":
                    self.named.append(payload.key)
                if kind is PlaceTerm and payload.kind == "port":
                    self.port = True
            if kind is TopicTerm:
                self.topics.append(payload)
                self.topic_weights.append(payload.weight)
                self.topic_keys.append(payload.topic)
                self.vote_keys.append((payload.signal_type, payload.category))
                self.topic_domains.append(payload.domains)
            elif kind is OffTopicTerm:
                self.off_groups.append(payload.group)
            elif kind is DirectionTerm:
                if payload.direction is NEGATIVE:
                    self.negative.append(payload.weight)
                else:
                    self.positive.append(payload.weight)


# --- Geography -------------------------------------------------------------------------------


cdef inline double _haversine(double phi1, double cos1, double lon1, double phi2, double cos2,
                              double lon2) noexcept:
    cdef double s_phi = sin((phi2 - phi1) / 2.0)
    cdef double s_lam = sin(((lon2 - lon1) * DEG_TO_RAD) / 2.0)
    cdef double a = s_phi * s_phi + cos1 * cos2 * s_lam * s_lam
    a = a if a < 1.0 else 1.0  # min(1.0, a), NaN included
    return 2.0 * EARTH_RADIUS_KM * asin(sqrt(a))


@cython.final
@cython.auto_pickle(False)
cdef class Decider:
    """Decides analysed events under one ruleset; omen.domain.decision.Decider, compiled."""

    def __cinit__(self):
        self._lat = self._cos = self._lon = self._radius = NULL

    def __dealloc__(self):
        PyMem_Free(self._lat)
        PyMem_Free(self._cos)
        PyMem_Free(self._lon)
        PyMem_Free(self._radius)

    def __init__(self, ruleset):
        cdef Py_ssize_t i
        self._reference = _RulesetDecider(ruleset)
        self._terms = {}
        self._distinct_memo = {}
        self._semantic_memo = {}
        self._classify_memo = {}
        self._place_memo = {}
        geo = ruleset.geographic
        index = geo._index
        self._region_codes = index.region_codes
        self._name_hits = index.name_hits
        self._points = index.points
        self._kinds_of = index.kinds_of
        self._rows = list(index.distance_table)
        self._nrows = len(self._rows)
        n = max(1, self._nrows)
        PyMem_Free(self._lat)  # __init__ may run again on the same object
        PyMem_Free(self._cos)
        PyMem_Free(self._lon)
        PyMem_Free(self._radius)
        self._lat = <double *>PyMem_Malloc(n * sizeof(double))
        self._cos = <double *>PyMem_Malloc(n * sizeof(double))
        self._lon = <double *>PyMem_Malloc(n * sizeof(double))
        self._radius = <double *>PyMem_Malloc(n * sizeof(double))
        if not (self._lat and self._cos and self._lon and self._radius):
            raise MemoryError()
        for i in range(self._nrows):
            chokepoint, phi, cos_phi = self._rows[i]
            self._lat[i] = phi
            self._cos[i] = cos_phi
            self._lon[i] = chokepoint.lon
            # `chokepoint.radius_km or limit`, as the reference reads it.
            self._radius[i] = chokepoint.radius_km or geo.distance_km
        self._max_dlat = index.max_dlat
        self._distance_km = geo.distance_km
        scores = geo.scores
        self._geo_chokepoint = scores.chokepoint
        self._geo_location = scores.location
        self._score_of = {
            "port": scores.port,
            "sea": scores.sea,
            "area": scores.area,
            "country": scores.country,
        }
        reason = (
            "no logistics geography: no chokepoint, port, sea, area or country named in the text"
        )
        self._nothing_none = reason + ", and no event locations"
        self._nothing_some = (
            f"{reason}, and none of {{}} location(s) is within {geo.distance_km:g} km of a"
            " chokepoint or has a known region code"
        )
        liquidity = ruleset.liquidity
        self._liq_min = liquidity.min_usd
        self._liq_full = liquidity.full_score_usd
        self._liq_passed = f" >= ${liquidity.min_usd:,.2f}"
        self._liq_failed = f" < ${liquidity.min_usd:,.2f}"
        semantic = ruleset.semantic
        self._semantic = semantic
        self._sem_min = semantic.min_weight
        self._sem_min_text = fmt_weight(semantic.min_weight)
        self._sem_saturation = semantic.saturation_weight
        self._sem_chokepoint = semantic.chokepoint.weight
        anomaly = ruleset.anomaly
        self._anomaly = anomaly
        self._jump_limit = anomaly.jump_delta + JUMP_SLACK
        self._an_low = anomaly.extreme_low
        self._an_high = anomaly.extreme_high
        self._an_thin_below = anomaly.thin_traders_below
        self._an_thin_volume = anomaly.thin_min_volume_usd
        self._an_z_warn = anomaly.z_warn
        self._anomaly_passed = ValidationResult("anomaly", "1.0.0", PASSED, 1.0, "no anomaly")
        freshness = ruleset.freshness
        self._fresh_warn_gap = freshness.price_sum_warn_tolerance + PRICE_SLACK
        self._fresh_soon_ns = freshness.resolves_soon_hours * NS_PER_HOUR
        c = ruleset.confidence
        self._version = ruleset.version
        self._version_prefix = ruleset.version + "\0"
        self._version_prefix_utf8 = self._version_prefix.encode()
        self._routing_prefix = {
            category: category.name.lower() + ":" for category in _SignalCategory
        }
        self._reliability = dict(c.source_reliability)
        self._default_reliability = c.default_source_reliability
        self._w_rules = c.rules_weight
        self._w_liquidity = c.liquidity_weight
        self._w_evidence = c.evidence_weight
        self._w_source = c.source_weight
        self._liq_floor = c.liquidity_floor_usd
        self._liq_scale = log10(c.liquidity_full_usd / c.liquidity_floor_usd)
        self._evidence_full = c.evidence_full
        self._interval_base = c.interval_base
        self._interval_spread = c.interval_spread
        self._level_high = c.level_high
        self._level_medium = c.level_medium
        self._status_active = c.status_active
        self._status_monitoring = c.status_monitoring
        self._status_candidate = c.status_candidate
        names = [rule.name for rule in self._reference.rules]
        versions = [rule.version for rule in self._reference.rules]
        if names != ["liquidity", "semantic", "geographic", "anomaly", "freshness"] or set(
            versions
        ) != {"1.0.0"}:
            raise ValueError(f"the compiled decider implements other rules than {names}")

    @property
    def rules(self):
        return self._reference.rules

    # --- the port ----------------------------------------------------------------------------

    def locate(self, event, text):
        return self._locate(event, self._distinct(text.matches))

    def evaluate(self, ctx):
        event, geo = ctx.event, ctx.geo
        results = self._evaluate(
            event, self._distinct(ctx.text.matches), geo, ctx.history,
            self._geographic(event, geo),
        )
        for result in results:
            if (<object>result).status is FAILED:
                return results, result
        return results, None

    def classify(self, text, geo_has_chokepoint):
        return self._classify(self._distinct(text.matches), geo_has_chokepoint)

    def build_signal(self, ctx, input_event_hash, results, classification, trace_id=""):
        return self._build_signal(
            ctx.event, ctx.geo, ctx.history, input_event_hash, results, classification, trace_id
        )

    def decide(self, event, text, history, input_event_hash, trace_id=""):
        return self._decide(event, text, history, input_event_hash, trace_id, None)

    def decide_record(self, event, text, history, input_event_hash, trace_id, market_key):
        """decide(), except that an EMITTED signal is made straight into its ledger record for
        `market_key` and the event's probability: an EncodedSignal (adapters.ledger.records)
        whose record is encode_signal_record(s, event.probability, market_key) of decide()'s
        signal s, and which equals s. When those values are not of the pipeline's form (see
        signalwire.encode_signal_record), decide()'s result itself."""
        return self._decide(event, text, history, input_event_hash, trace_id, market_key)

    cdef object _decide(self, object event, object text, object history,
                        object input_event_hash, object trace_id, object market_key):
        """decide(); with a market key (not None), decide_record()."""
        cdef list terms = self._distinct(get(text, &TXT_matches))
        geo, geographic = self._place(event, terms)
        cdef tuple results = self._evaluate(event, terms, geo, history, geographic)
        for result in results:
            if get(result, &VR_status) is FAILED:
                return ProcessResult(
                    REJECTED,
                    input_event_hash,
                    results,
                    None,
                    f"{get(result, &VR_rule_name)}: {get(result, &VR_reason)}",
                    "",
                )
        classification = self._classify(terms, bool(get(geo, &GF_chokepoints)))
        signal = None
        if market_key is not None:
            signal = self._encoded_signal(
                event, geo, history, input_event_hash, results, classification, trace_id,
                market_key,
            )
            if type(signal) is str:
                return ProcessResult(REJECTED, input_event_hash, results, None, signal, "")
        if signal is None:
            signal, reason = self._build_signal(
                event, geo, history, input_event_hash, results, classification, trace_id
            )
            if signal is None:
                return ProcessResult(REJECTED, input_event_hash, results, None, reason, "")
        return ProcessResult(EMITTED, input_event_hash, results, signal, "", "")

    cdef object _encoded_signal(self, object event, object geo, object history,
                                object input_event_hash, object results,
                                object classification, object trace_id, object market_key):
        """The EncodedSignal of _write_signal()'s record, its rejection reason (a str), or
        None when the record's values are not of the pipeline's form."""
        cdef unsigned char stack[STACK_BYTES]
        cdef Writer w
        writer_start(&w, stack)
        try:
            signal_id = self._write_signal(
                &w, event, geo, history, input_event_hash, results, classification, trace_id,
                market_key,
            )
            if w.length == 0:
                return signal_id  # None, or the rejection's reason
            body = PyBytes_FromStringAndSize(<char *>w.data, w.length)
        finally:
            if w.heap:
                PyMem_Free(w.data)
        observed = get(event, &E_observed_at_ns)
        signal = PyType_GenericAlloc(<PyTypeObject *>_EncodedSignal, 0)
        _set_slot(signal, ES_signal_id, signal_id)
        _set_slot(signal, ES_input_event_hash, input_event_hash)
        _set_slot(signal, ES_observed_at_ns, observed)
        _set_slot(signal, ES_generated_at_ns, observed)
        _set_slot(signal, ES_ledger_partition, _NO_PARTITION)
        _set_slot(signal, ES_ledger_sequence, _NO_SEQUENCE)
        _set_slot(signal, ES_body, body)
        _set_slot(signal, ES_market_key, market_key)
        _set_slot(signal, ES_probability, get(event, &E_probability))
        PyObject_GC_UnTrack(<void *><PyObject *>signal)  # holds str, int, float and bytes only
        return signal

    # --- stages ------------------------------------------------------------------------------

    cdef list _distinct(self, object matches):
        """Each distinct matched term's summary, in order of first occurrence (never changed
        by a caller: a text seen again gets the same list). The text matcher returns the same
        matches for a text it has seen recently: the memo holds each matches object it keys
        by id, so no other object can take that id while its entry lives."""
        if type(matches) is not tuple:  # only an immutable sequence can be remembered
            return self._distinct_terms(matches)
        key = id(matches)
        cdef PyObject *cached = PyDict_GetItem(self._distinct_memo, key)
        if cached is not NULL and (<tuple>cached)[0] is matches:
            return <list>(<tuple>cached)[1]
        cdef list out = self._distinct_terms(matches)
        _remember(self._distinct_memo, key, (matches, out))
        return out

    cdef list _distinct_terms(self, object matches):
        cdef list out = []
        cdef set seen = set()
        cdef PyObject *cached
        cdef _Term info
        for match in matches:
            term = get(match, &TM_term)
            if term in seen:
                continue
            seen.add(term)
            payloads = get(match, &TM_payloads)
            cached = PyDict_GetItem(self._terms, term)
            if cached is not NULL and (<_Term>cached).payloads is payloads:
                info = <_Term>cached
            else:
                info = _Term(term, payloads)
                if len(self._terms) < 100_000:
                    self._terms[term] = info
            out.append(info)
        return out

    cdef object _locate(self, object event, list terms):
        cdef dict places = {}
        cdef set regions = set()
        cdef list named = []
        cdef _Term info
        cdef Py_ssize_t j, lo, hi, mid
        cdef double phi, cos_phi, lon, km, low, high
        for info in terms:
            for key in info.place_keys:
                places[key] = None
            for codes in info.place_regions:
                regions.update(codes)
            named.extend(info.named)
        locations = get(event, &E_locations)
        if not places and not locations:
            return _NOWHERE
        cdef dict nearest = {}
        cdef dict region_codes = self._region_codes
        for loc in locations:
            code = get(loc, &LOC_region_code)
            if code:
                known = region_codes.get(code) or region_codes.get(code.strip().upper())
                if known:
                    regions.update(known)
            phi = <double>get(loc, &LOC_lat) * DEG_TO_RAD
            # bisect_left(latitudes, phi - max_dlat), then bisect_right(..., phi + max_dlat, lo)
            low = phi - self._max_dlat
            lo, hi = 0, self._nrows
            while lo < hi:
                mid = (lo + hi) // 2
                if self._lat[mid] < low:
                    lo = mid + 1
                else:
                    hi = mid
            high = phi + self._max_dlat
            j, hi = lo, self._nrows
            while j < hi:
                mid = (j + hi) // 2
                if high < self._lat[mid]:
                    hi = mid
                else:
                    j = mid + 1
            if lo == hi:
                continue
            cos_phi = cos(phi)
            lon = get(loc, &LOC_lon)
            for j in range(lo, hi):
                km = _haversine(phi, cos_phi, lon, self._lat[j], self._cos[j], self._lon[j])
                if km <= self._radius[j]:
                    chokepoint = self._rows[j][0]
                    name = get(chokepoint, &CP_name)
                    previous = nearest.get(name)
                    if previous is None or km < <double>previous:
                        nearest[name] = km
                    regions.update(get(chokepoint, &CP_regions))
        if not named and not nearest:
            return GeoFindings(
                _EMPTY, untracked_tuple(sorted(regions)), untracked_tuple(places), locations
            )
        cdef list hits = []
        cdef list points = []
        for name in sorted({*named, *nearest}):
            hit = self._name_hits.get(name)
            if hit is None:
                continue  # a term from another gazetteer than these params'
            distance = nearest.get(name)
            if distance is not None:
                via = "name" if name in named else "distance"
                hit = ChokepointHit(
                    name, get(hit, &CH_lat), get(hit, &CH_lon), via, _float_round(distance, 1)
                )
            hits.append(hit)
            points.append(self._points[name])
        return GeoFindings(
            untracked_tuple(hits),
            untracked_tuple(sorted(regions)),
            untracked_tuple(places),
            locations + tuple(points),
        )

    cdef tuple _place(self, object event, list terms):
        """(_locate(event, terms), the geographic rule's result for it), memoised.

        Both are functions of the distinct terms and of each location's latitude, longitude
        and region code (a location's name is only carried along, in the coordinates): a market
        observed again with the same text and locations finds them in the memo. Equal keys give
        the same computation: the floats are compared by value, and -0.0 and 0.0, the only
        distinct doubles that compare equal, give equal distances and bins. On a hit, the
        findings are rebuilt around this event's own locations (the coordinates start with
        them), so its names and exact values are the ones its signal carries.
        """
        locations = get(event, &E_locations)
        cdef Py_ssize_t n = len(locations)
        cdef list where = []  # flat: lat, lon, region code of each location in turn
        for loc in locations:
            where.append(get(loc, &LOC_lat))
            where.append(get(loc, &LOC_lon))
            where.append(get(loc, &LOC_region_code))
        key = (PyList_AsTuple(terms), PyList_AsTuple(where))
        cdef PyObject *cached = PyDict_GetItem(self._place_memo, key)
        if cached is not NULL:
            geo, geographic = <tuple>cached
            coordinates = get(geo, &GF_coordinates)
            if n == 0 or coordinates is locations:
                return <tuple>cached
            return (
                GeoFindings(
                    get(geo, &GF_chokepoints),
                    get(geo, &GF_regions),
                    get(geo, &GF_places),
                    locations + coordinates[n:] if len(coordinates) > n else locations,
                ),
                geographic,
            )
        geo = self._locate(event, terms)
        result = (geo, self._geographic(event, geo))
        _remember(self._place_memo, key, result)
        return result

    cdef tuple _evaluate(self, object event, list terms, object geo, object history,
                         object geographic):
        # A tuple literal: untracked_tuple() keeps it as it is (no list copied into a tuple).
        return untracked_tuple(
            (
                self._liquidity(event),
                self._semantic_rule(terms, geo),
                geographic,
                self._anomaly_rule(event, history),
                self._freshness_rule(event),
            )
        )

    # --- the five rules ----------------------------------------------------------------------

    cdef object _liquidity(self, object event):
        liquidity = get(event, &E_liquidity_usd)
        cdef double score = dmin1(liquidity / self._liq_full)
        if liquidity >= self._liq_min:
            return ValidationResult(
                "liquidity",
                "1.0.0",
                PASSED,
                score,
                f"liquidity ${fmt_grouped(liquidity, 2)}{self._liq_passed}",
            )
        return ValidationResult(
            "liquidity",
            "1.0.0",
            FAILED,
            score,
            f"liquidity ${fmt_grouped(liquidity, 2)}{self._liq_failed}",
        )

    cdef object _semantic_rule(self, list terms, object geo):
        # A function of the distinct terms (each _Term stands for its payloads) and the
        # chokepoints the text names: re-observed markets find their result in the memo.
        cdef list named = [
            get(c, &CH_name) for c in get(geo, &GF_chokepoints) if get(c, &CH_via) == "name"
        ]
        key = (PyList_AsTuple(terms), PyList_AsTuple(named))
        cdef PyObject *cached = PyDict_GetItem(self._semantic_memo, key)
        if cached is not NULL:
            return <object>cached
        result = self._semantic_result(terms, named)
        _remember(self._semantic_memo, key, result)
        return result

    cdef object _semantic_result(self, list terms, list named):
        cdef list weights = []
        cdef dict topics = {}
        cdef dict off_topic = {}
        cdef _Term info
        cdef list bucket
        for info in terms:
            term = info.term
            weights.extend(info.topic_weights)
            for key in info.topic_keys:
                bucket = topics.get(key)
                if bucket is None:
                    topics[key] = [term]
                else:
                    bucket.append(term)
            for group in info.off_groups:
                bucket = off_topic.get(group)
                if bucket is None:
                    off_topic[group] = [term]
                else:
                    bucket.append(term)
        if off_topic:
            return ValidationResult(
                "semantic", "1.0.0", FAILED, 0.0, "off-topic: " + _groups(off_topic)
            )
        if named:
            weights.append(self._sem_chokepoint)
        elif not weights:
            return ValidationResult(
                "semantic",
                "1.0.0",
                FAILED,
                0.0,
                "not about supply-chain or logistics risk: no topic terms",
            )
        cdef double total = _fsum(weights)
        cdef double score = dmin1(total / self._sem_saturation)
        cdef str found = _groups(topics)
        if named:
            found = (found + "; " if found else "") + "chokepoint (" + ", ".join(named) + ")"
        if total < self._sem_min - TOLERANCE:
            return ValidationResult(
                "semantic",
                "1.0.0",
                FAILED,
                score,
                "not about supply-chain or logistics risk: weight "
                + fmt_weight(total) + " < " + self._sem_min_text + ": " + found,
            )
        return ValidationResult(
            "semantic",
            "1.0.0",
            PASSED,
            score,
            found + "; weight " + fmt_weight(total) + " >= " + self._sem_min_text,
        )

    cdef object _geographic(self, object event, object geo):
        chokepoints = get(geo, &GF_chokepoints)
        places = get(geo, &GF_places)
        regions = get(geo, &GF_regions)
        cdef Py_ssize_t n
        if not (chokepoints or places or regions):
            n = len(get(event, &E_locations))
            return ValidationResult(
                "geographic",
                "1.0.0",
                FAILED,
                0.0,
                self._nothing_none if n == 0 else self._nothing_some.format(n),
            )
        cdef double best = self._geo_chokepoint if chokepoints else 0.0
        cdef double value
        if regions and self._geo_location > best:
            best = self._geo_location
        cdef list parts = []
        cdef list described
        cdef dict by_kind
        if chokepoints:
            described = []
            for h in chokepoints:
                described.append(f"{get(h, &CH_name)} ({_how(h)})")
            parts.append(f"{_label('chokepoint', len(chokepoints))} {', '.join(described)}")
        if places:
            by_kind = {}
            for place in places:
                for kind in self._kinds_of.get(place, _EMPTY):
                    score = self._score_of.get(kind)
                    if score is not None:
                        by_kind.setdefault(kind, []).append(place)
                        value = score
                        if value > best:
                            best = value
            for kind in _PLACE_KINDS:
                names = by_kind.get(kind)
                if names:
                    parts.append(f"{_label(kind, len(names))} {', '.join(names)}")
        if regions:
            parts.append("regions " + ", ".join(regions))
        return ValidationResult("geographic", "1.0.0", PASSED, dmin1(best), "; ".join(parts))

    cdef object _anomaly_rule(self, object event, object history):
        # Most events have no finding: the checks below, on parameters held in C, decide that
        # without formatting anything (the same comparisons as the findings below make).
        cdef double probability = get(event, &E_probability)
        movement = get(event, &E_movement)
        change = get(history, &MH_change)
        z = get(history, &MH_zscore)
        traders = get(event, &E_num_traders)
        if (
            not (probability < self._an_low or probability > self._an_high)
            and (movement is None or not abs(<double>get(movement, &M_delta)) > self._jump_limit)
            and (change is None or not abs(<double>change) > self._jump_limit)
            and not (
                0 < traders < self._an_thin_below
                and get(event, &E_volume_usd) >= self._an_thin_volume
            )
            and (z is None or not abs(<double>z) >= self._an_z_warn)
        ):
            return self._anomaly_passed
        return self._anomaly_findings(event, history)

    cdef object _anomaly_findings(self, object event, object history):
        p = self._anomaly
        cdef double risk = 0.0
        cdef double probability = event.probability
        cdef list findings = []
        cdef double magnitude, fraction
        if probability < p.extreme_low:
            risk += p.extreme_risk
            findings.append(f"extreme probability {probability:.4g} < {p.extreme_low:g}")
        elif probability > p.extreme_high:
            risk += p.extreme_risk
            findings.append(f"extreme probability {probability:.4g} > {p.extreme_high:g}")
        cdef list jumps = []
        movement = event.movement
        if movement is not None and abs(movement.delta) > self._jump_limit:
            jumps.append(f"|delta| {abs(movement.delta):.2f} > {p.jump_delta:.2f}")
        change = history.change
        if change is not None and abs(change) > self._jump_limit:
            since = history.last_probability
            jumps.append(
                f"|change| {abs(change):.2f} > {p.jump_delta:.2f}"
                + ("" if since is None else f" since the last recorded probability {since:.4g}")
            )
        if jumps:
            risk += p.jump_risk
            findings.append("jump " + ", ".join(jumps))
        traders = event.num_traders
        if 0 < traders < p.thin_traders_below and event.volume_usd >= p.thin_min_volume_usd:
            risk += p.thin_risk
            findings.append(
                f"thin market: {traders} traders (< {p.thin_traders_below}) with "
                f"${event.volume_usd:,.0f} volume (>= ${p.thin_min_volume_usd:,.0f})"
            )
        z = history.zscore
        if z is not None and abs(z) >= p.z_warn:
            magnitude = abs(z)
            if magnitude >= p.z_reject:
                risk += p.z_risk_max
            else:
                fraction = (magnitude - p.z_warn) / (p.z_reject - p.z_warn)
                risk += p.z_risk_min + (p.z_risk_max - p.z_risk_min) * fraction
            findings.append(
                f"change z-score {z:+.2f} (|z| >= {p.z_warn:g}) over {history.points} changes"
            )
        if not findings:
            return self._anomaly_passed
        rounded = _round(dmin1(risk), 9)
        detail = "; ".join(findings)
        if rounded >= p.reject_risk:
            status, reason = FAILED, f"suspected manipulation: {detail}"
        elif rounded > 0.0:
            status, reason = WARNING, f"possible anomaly: {detail}"
        else:
            status, reason = PASSED, f"no anomaly risk: {detail}"
        return ValidationResult(
            "anomaly",
            "1.0.0",
            status,
            _round(1.0 - <double>rounded, 9),
            f"{reason} (risk {rounded:.2f})",
        )

    cdef object _freshness_rule(self, object event):
        state = get(event, &E_market_state)
        resolution = get(event, &E_resolution_date_ns)
        prices = get(event, &E_outcome_prices)
        cdef double total
        if (
            state is not RESOLVED
            and state is not CLOSED
            and resolution is not None
            and len(prices) == 2
        ):
            gap = resolution - get(event, &E_observed_at_ns)
            if gap >= self._fresh_soon_ns:
                total = _sum2(prices)
                if abs(total - 1.0) <= self._fresh_warn_gap:
                    return ValidationResult(
                        "freshness",
                        "1.0.0",
                        PASSED,
                        1.0,
                        f"market live; resolves in {_duration(gap)}; outcome prices sum to "
                        f"{fmt(total, b'g', 4)}",
                    )
        # A live market that reports fewer than two outcome prices (nothing to sum): passes
        # with only the resolution note, when there is no date or it is not soon.
        if state is not RESOLVED and state is not CLOSED and len(prices) < 2:
            if resolution is None:
                return ValidationResult(
                    "freshness", "1.0.0", PASSED, 1.0, "market live; no resolution date"
                )
            gap = resolution - get(event, &E_observed_at_ns)
            if gap >= 0 and gap >= self._fresh_soon_ns:
                return ValidationResult(
                    "freshness", "1.0.0", PASSED, 1.0, "market live; resolves in " + _duration(gap)
                )
        # Anything else (closed, past, soon, inconsistent prices): the reference rule's
        # general path, which this module does not duplicate.
        return self._reference.rules[4]._evaluate(event)

    # --- classification ----------------------------------------------------------------------

    cdef object _classify(self, list terms, bint geo_has_chokepoint):
        # A function of the distinct terms and the flag, memoised as the semantic result is.
        key = (PyList_AsTuple(terms), geo_has_chokepoint)
        cdef PyObject *cached = PyDict_GetItem(self._classify_memo, key)
        if cached is not NULL:
            return <object>cached
        result = self._classification(terms, geo_has_chokepoint)
        _remember(self._classify_memo, key, result)
        return result

    cdef object _classification(self, list terms, bint geo_has_chokepoint):
        cdef list keywords = []
        cdef dict votes = {}
        cdef set domain_sets = set()
        cdef list negative = []
        cdef list positive = []
        cdef bint port_named = False
        cdef _Term info
        cdef list weights
        cdef Py_ssize_t j
        for info in terms:
            for j in range(PyList_GET_SIZE(info.topics)):
                key = info.vote_keys[j]
                weights = votes.get(key)
                if weights is None:
                    votes[key] = [info.topic_weights[j]]
                else:
                    weights.append(info.topic_weights[j])
                domain_sets.add(info.topic_domains[j])
            if info.port:
                port_named = True
            negative.extend(info.negative)
            positive.extend(info.positive)
            if info.topics:
                keywords.append(info.term)
        params = self._semantic
        if geo_has_chokepoint:
            chokepoint = params.chokepoint
            votes.setdefault((chokepoint.signal_type, chokepoint.category), []).append(
                chokepoint.weight
            )
            domain_sets.add(chokepoint.domains)
        if port_named:
            port = params.port
            votes.setdefault((port.signal_type, port.category), []).append(port.weight)
            domain_sets.add(port.domains)
        if not votes and not negative and not positive:
            return _NOTHING
        cdef dict by_type = {}
        for (kind_of, _), weights in votes.items():
            if kind_of is not None:
                by_type.setdefault(kind_of, []).extend(weights)
        signal_type = _winner(by_type, params.type_order)
        cdef dict by_category = {}
        for (kind_of, category_of), weights in votes.items():
            if category_of is not None and kind_of is signal_type:
                by_category.setdefault(category_of, []).extend(weights)
        if not by_category:
            for (_, category_of), weights in votes.items():
                if category_of is not None:
                    by_category.setdefault(category_of, []).extend(weights)
        category = _winner(by_category, params.category_order)
        direction = NEUTRAL
        cdef double down, up
        if negative or positive:
            down = _fsum(negative)
            up = _fsum(positive)
            if down > up + TOLERANCE:
                direction = NEGATIVE
            elif up > down + TOLERANCE:
                direction = POSITIVE
        cdef set domains = set()
        for group in domain_sets:
            domains.update(group)
        return Classification(
            category if category is not None else CATEGORY_OTHER,
            signal_type if signal_type is not None else TYPE_UNCLASSIFIED,
            direction,
            untracked_tuple(sorted(domains)),
            untracked_tuple(keywords),
        )

    # --- confidence and the signal -----------------------------------------------------------

    cdef object _assess(self, object event, object results, Py_ssize_t evidence, double *v):
        """confidence.assess(), term by term: v[0..5] = the rules, liquidity, evidence and
        source reliability factors, the score and the interval's half width. Returns (status,
        level), or the rejection's reason (a str) when the score is below a candidate's."""
        cdef Py_ssize_t n_results = len(results)
        cdef double rules = _sum_scores(results) / n_results if n_results else 0.0
        liquidity_usd = get(event, &E_liquidity_usd)
        cdef double liquidity = 0.0
        if not liquidity_usd <= self._liq_floor:
            liquidity = dmin1(log10(liquidity_usd / self._liq_floor) / self._liq_scale)
        cdef double evidence_value = dmin1(evidence / self._evidence_full)
        reliability = self._reliability.get(get(event, &E_source).lower())
        cdef double source_value = (
            self._default_reliability if reliability is None else <double>reliability
        )
        cdef double total = (
            rules * self._w_rules
            + liquidity * self._w_liquidity
            + evidence_value * self._w_evidence
            + source_value * self._w_source
        )
        cdef double score = dmin1(dmax0(total))
        cdef double half = self._interval_base + self._interval_spread * (
            1.0 - (liquidity + evidence_value) / 2.0
        )
        if score >= self._status_active:
            status = STATUS_ACTIVE
        elif score >= self._status_monitoring:
            status = STATUS_MONITORING
        elif score >= self._status_candidate:
            status = STATUS_CANDIDATE
        else:
            return f"confidence {score:.2f} < {self._status_candidate:.2f}"
        if score >= self._level_high:
            level = LEVEL_HIGH
        elif score >= self._level_medium:
            level = LEVEL_MEDIUM
        else:
            level = LEVEL_LOW
        v[0], v[1], v[2] = rules, liquidity, evidence_value
        v[3], v[4], v[5] = source_value, score, half
        return (status, level)

    cdef tuple _build_signal(self, object event, object geo, object history,
                             object input_event_hash, object results, object classification,
                             object trace_id):
        cdef list items = self._evidence_items(event, geo, history, classification)
        cdef Py_ssize_t n = len(items) // 4
        cdef double v[6]
        assessed = self._assess(event, results, n, v)
        if type(assessed) is str:
            return None, assessed
        status, level = <tuple>assessed
        cdef double score = v[4], half = v[5]
        evidence = untracked_tuple(
            [Evidence(items[4 * i], items[4 * i + 1], items[4 * i + 2], items[4 * i + 3])
             for i in range(n)]
        )
        factors = untracked_tuple(
            [
                ConfidenceFactor("rules", v[0], self._w_rules),
                ConfidenceFactor("liquidity", v[1], self._w_liquidity),
                ConfidenceFactor("evidence", v[2], self._w_evidence),
                ConfidenceFactor("source_reliability", v[3], self._w_source),
            ]
        )
        interval = ConfidenceInterval(dmax0(score - half), dmin1(score + half))
        category = get(classification, &C_category)
        observed = get(event, &E_observed_at_ns)
        market_id = get(event, &E_market_id)
        event_id = get(event, &E_event_id)
        signal_id = self._signal_id_of(input_event_hash)
        cdef list names = [get(h, &CH_name) for h in get(geo, &GF_chokepoints)]
        return (
            OmenSignal(
                signal_id,
                input_event_hash,
                event_id,
                get(event, &E_source),
                market_id,
                get(event, &E_title),
                get(event, &E_description),
                get(event, &E_probability),
                False,
                score,
                level,
                factors,
                interval,
                category,
                get(classification, &C_signal_type),
                status,
                GeographicContext(
                    get(geo, &GF_regions), untracked_tuple(names), get(geo, &GF_coordinates)
                ),
                _temporal(event),
                evidence,
                results,
                ImpactHints(
                    get(classification, &C_domains),
                    get(classification, &C_direction),
                    get(classification, &C_keywords),
                    self._routing_prefix[category] + (market_id or event_id),
                ),
                self._version,
                trace_id,
                observed,
                observed,
            ),
            "",
        )

    cdef object _write_signal(self, Writer *w, object event, object geo, object history,
                              object input_event_hash, object results, object classification,
                              object trace_id, object market_key):
        """_build_signal()'s signal as its SIGNAL record body (encode_signal_record of it, byte
        for byte), written to the empty `w` without building the signal: its id, or the
        rejection's reason (a str, nothing written) as _build_signal() gives it, or None
        (nothing written) when the record's values are not of the pipeline's form (see
        signalwire.put_record_head; the caller then builds the signal)."""
        cdef Py_ssize_t n = self._evidence_count(event, geo, history, classification)
        cdef Py_ssize_t i, start, mark
        cdef double v[6]
        cdef double days_to_resolution, age
        assessed = self._assess(event, results, n, v)
        if type(assessed) is str:
            return assessed
        status, level = <tuple>assessed
        cdef double score = v[4], half = v[5]
        signal_id = self._signal_id_of(input_event_hash)
        probability = get(event, &E_probability)
        if put_record_head(w, input_event_hash, signal_id, probability, market_key):
            return None
        # omen.v1.OmenSignal's fields in field-number order, as signalwire.put_signal writes
        # the signal _build_signal() makes.
        category = get(classification, &C_category)
        observed = get(event, &E_observed_at_ns)
        market_id = get(event, &E_market_id)
        event_id = get(event, &E_event_id)
        put_string(w, tag(1, WIRE_LEN), signal_id)
        put_string(w, tag(2, WIRE_LEN), input_event_hash)
        put_string(w, tag(3, WIRE_LEN), event_id)
        put_string(w, tag(4, WIRE_LEN), get(event, &E_source))
        put_string(w, tag(5, WIRE_LEN), market_id)
        put_string(w, tag(6, WIRE_LEN), get(event, &E_title))
        put_string(w, tag(7, WIRE_LEN), get(event, &E_description))
        put_double(w, tag(8, WIRE_FIXED64), probability)
        # 9, probability_is_estimate: False, not written
        put_double_c(w, tag(10, WIRE_FIXED64), score)
        put_enum(w, tag(11, WIRE_VARINT), level)
        _put_factor(w, "rules", v[0], self._w_rules)
        _put_factor(w, "liquidity", v[1], self._w_liquidity)
        _put_factor(w, "evidence", v[2], self._w_evidence)
        _put_factor(w, "source_reliability", v[3], self._w_source)
        start = open_message(w, tag(13, WIRE_LEN))  # ConfidenceInterval
        put_double_c(w, tag(1, WIRE_FIXED64), dmax0(score - half))
        put_double_c(w, tag(2, WIRE_FIXED64), dmin1(score + half))
        close_message(w, start)
        put_enum(w, tag(14, WIRE_VARINT), category)
        put_enum(w, tag(15, WIRE_VARINT), get(classification, &C_signal_type))
        put_enum(w, tag(16, WIRE_VARINT), status)
        start = open_message(w, tag(17, WIRE_LEN))  # GeographicContext
        put_strings(w, tag(1, WIRE_LEN), get(geo, &GF_regions))
        for h in get(geo, &GF_chokepoints):
            put_strings(w, tag(2, WIRE_LEN), (get(h, &CH_name),))
        for c in get(geo, &GF_coordinates):
            put_location(w, tag(3, WIRE_LEN), c)
        close_message(w, start)
        start = open_message(w, tag(18, WIRE_LEN))  # TemporalContext
        horizon = _horizon(event, &days_to_resolution, &age)
        put_enum(w, tag(1, WIRE_VARINT), horizon)
        resolution = get(event, &E_resolution_date_ns)
        if resolution is not None:
            put_timestamp(w, tag(2, WIRE_LEN), resolution)
        put_double_c(w, tag(3, WIRE_FIXED64), days_to_resolution)
        put_double_c(w, tag(4, WIRE_FIXED64), age)
        close_message(w, start)
        mark = w.length
        if not self._put_evidence(w, event, geo, history, classification):
            w.length = mark  # a description did not fit: the f-strings' evidence instead
            items = self._evidence_items(event, geo, history, classification)
            for i in range(n):
                put_evidence(
                    w, tag(19, WIRE_LEN), items[4 * i], items[4 * i + 1], items[4 * i + 2],
                    items[4 * i + 3],
                )
        for r in results:
            put_validation_result(w, tag(20, WIRE_LEN), r)
        start = open_message(w, tag(21, WIRE_LEN))  # ImpactHints
        put_strings(w, tag(1, WIRE_LEN), get(classification, &C_domains))
        put_enum(w, tag(2, WIRE_VARINT), get(classification, &C_direction))
        put_strings(w, tag(3, WIRE_LEN), get(classification, &C_keywords))
        put_string(w, tag(4, WIRE_LEN), self._routing_prefix[category] + (market_id or event_id))
        close_message(w, start)
        put_string(w, tag(22, WIRE_LEN), self._version)
        put_string(w, tag(23, WIRE_LEN), trace_id)
        put_timestamp(w, tag(24, WIRE_LEN), observed)
        put_timestamp(w, tag(25, WIRE_LEN), observed)
        # 26 and 27, the ledger position: not in a record
        return signal_id

    cdef Py_ssize_t _evidence_count(self, object event, object geo, object history,
                                    object classification) except -1:
        """len(_evidence_items(...)) // 4, without making the descriptions."""
        cdef Py_ssize_t n = 2
        if get(event, &E_volume_usd) > 0:
            n += 1
        if get(event, &E_num_traders) > 0:
            n += 1
        if get(event, &E_movement) is not None:
            n += 1
        if get(classification, &C_keywords):
            n += 1
        n += len(get(geo, &GF_chokepoints))
        if get(history, &MH_zscore) is not None:
            n += 1
        return n

    cdef bint _put_evidence(self, Writer *w, object event, object geo, object history,
                            object classification) except -1:
        """_evidence_items()'s evidence written into w as OmenSignal field 19, each description
        from its pieces (see Text); False when one did not fit (the caller rewinds w)."""
        cdef Text t
        t.length = 0
        t.full = False
        probability = get(event, &E_probability)
        text_str(&t, get(event, &E_source))
        text_lit(&t, b" market prices the event at ")
        text_double(&t, <double>probability * 100.0, b"f", 1, 0)
        text_lit(&t, b"%")
        if not put_text_evidence(
            w, "market_probability", &t, probability, get(event, &E_market_url)
        ):
            return False
        liquidity = get(event, &E_liquidity_usd)
        text_dollars(&t, liquidity, b" of liquidity (USD)")
        if not put_text_evidence(w, "liquidity", &t, liquidity, ""):
            return False
        volume = get(event, &E_volume_usd)
        if volume > 0:
            text_dollars(&t, volume, b" traded (USD)")
            if not put_text_evidence(w, "volume", &t, volume, ""):
                return False
        traders = get(event, &E_num_traders)
        if traders > 0:
            text_int(&t, traders)
            text_lit(&t, b" traders")
            if not put_text_evidence(w, "traders", &t, float(traders), ""):
                return False
        m = get(event, &E_movement)
        if m is not None:
            delta = get(m, &M_delta)
            text_lit(&t, b"probability moved ")
            text_double(&t, <double>delta * 100.0, b"f", 1, Py_DTSF_SIGN)
            text_lit(&t, b" points over ")
            text_double(&t, get(m, &M_window_hours), b"g", 6, 0)
            text_lit(&t, b" h")
            if not put_text_evidence(w, "movement", &t, delta, ""):
                return False
        keywords = get(classification, &C_keywords)
        if keywords:
            text_lit(&t, b"topic terms: ")
            first = True
            for keyword in keywords:
                if not first:
                    text_lit(&t, b", ")
                first = False
                text_str(&t, keyword)
            if not put_text_evidence(w, "topic_terms", &t, float(len(keywords)), ""):
                return False
        for hit in get(geo, &GF_chokepoints):
            if get(hit, &CH_via) == "distance":
                text_lit(&t, b"a location is ")
                text_grouped(&t, get(hit, &CH_distance_km), 1)
                text_lit(&t, b" km from ")
                text_str(&t, get(hit, &CH_name))
            else:
                text_str(&t, get(hit, &CH_name))
                text_lit(&t, b" is named in the market text")
            if not put_text_evidence(w, "chokepoint", &t, get(hit, &CH_distance_km), ""):
                return False
        zscore = get(history, &MH_zscore)
        if zscore is not None:
            text_lit(&t, b"robust z-score ")
            text_double(&t, zscore, b"f", 2, Py_DTSF_SIGN)
            text_lit(&t, b" of the probability change over ")
            text_int(&t, get(history, &MH_points))
            text_lit(&t, b" earlier changes")
            if not put_text_evidence(w, "change_zscore", &t, zscore, ""):
                return False
        return True

    cdef list _evidence_items(self, object event, object geo, object history,
                              object classification):
        """The signal's evidence, flat: kind, description, value and url of each in turn.

        The descriptions are the reference's f-strings, each number formatted by the routine
        float.__format__ runs for its spec (fmt(): "{:.1%}" is "f" of the value times 100 with
        a "%" after it, "{:+.2f}" is "f" with the sign flag, "{:g}" is "g" to 6 digits)."""
        probability = get(event, &E_probability)
        liquidity = get(event, &E_liquidity_usd)
        cdef list items = [
            "market_probability",
            f"{get(event, &E_source)} market prices the event at "
            f"{fmt(<double>probability * 100.0, b'f', 1)}%",
            probability,
            get(event, &E_market_url),
            "liquidity",
            f"${fmt_grouped(liquidity, 0)} of liquidity (USD)",
            liquidity,
            "",
        ]
        volume = get(event, &E_volume_usd)
        if volume > 0:
            items += ["volume", f"${fmt_grouped(volume, 0)} traded (USD)", volume, ""]
        traders = get(event, &E_num_traders)
        if traders > 0:
            items += ["traders", f"{traders} traders", float(traders), ""]
        m = get(event, &E_movement)
        if m is not None:
            delta = get(m, &M_delta)
            items += [
                "movement",
                f"probability moved {fmt_signed(<double>delta * 100.0, 1)} points over "
                f"{fmt(get(m, &M_window_hours), b'g', 6)} h",
                delta,
                "",
            ]
        keywords = get(classification, &C_keywords)
        if keywords:
            items += [
                "topic_terms", "topic terms: " + ", ".join(keywords), float(len(keywords)), ""
            ]
        for hit in get(geo, &GF_chokepoints):
            if get(hit, &CH_via) == "distance":
                text = (
                    f"a location is {fmt_grouped(get(hit, &CH_distance_km), 1)} km from "
                    f"{get(hit, &CH_name)}"
                )
            else:
                text = f"{get(hit, &CH_name)} is named in the market text"
            items += ["chokepoint", text, get(hit, &CH_distance_km), ""]
        zscore = get(history, &MH_zscore)
        if zscore is not None:
            items += [
                "change_zscore",
                f"robust z-score {fmt_signed(zscore, 2)} of the probability change over "
                f"{get(history, &MH_points)} earlier changes",
                zscore,
                "",
            ]
        return items


    cdef str _signal_id_of(self, object input_event_hash):
        """omen.domain.enrichment's signal id: "sig-" and 32 hex digits of the SHA-256 of the
        ruleset version, a NUL and the event hash (UTF-8). With the SHA instructions
        (sha256.h) the bytes are hashed from a stack buffer, else by hashlib."""
        cdef const char *text
        cdef Py_ssize_t size = 0
        cdef Py_ssize_t head = len(self._version_prefix_utf8)
        cdef unsigned char buffer[SIGNAL_ID_INPUT_MAX]
        cdef unsigned char digest[32]
        if omen_sha256_hw() and type(input_event_hash) is str:
            text = str_utf8(input_event_hash, &size)
            if head + size <= SIGNAL_ID_INPUT_MAX:
                memcpy(buffer, <const char *>self._version_prefix_utf8, <size_t>head)
                memcpy(buffer + head, text, <size_t>size)
                omen_sha256(buffer, <size_t>(head + size), digest)
                return _signal_id(digest)
        data = _sha256((self._version_prefix + input_event_hash).encode()).digest()
        return _signal_id(<const unsigned char *><const char *>data)


cdef double _sum_scores(object results) except? -1.0:
    """sum([r.score for r in results]). Python 3.11's sum() of floats is 0 + the first, then
    each next one added in C doubles, left to right: the loop below when every score is a
    float. Other scores, and a Python whose sum() compensates rounding (3.12), keep sum()."""
    cdef double total = 0.0
    if PLAIN_FLOAT_SUM and type(results) is tuple:
        for result in <tuple>results:
            score = get(result, &VR_score)
            if type(score) is not float:
                break
            total += <double>score
        else:
            return total
    return _sum([get(r, &VR_score) for r in results])


cdef str _signal_id(const unsigned char *raw):
    """"sig-" + the first 32 characters of the 32-byte digest's hexdigest(), in one string."""
    cdef char out[36]
    cdef Py_ssize_t i
    out[0], out[1], out[2], out[3] = b"s", b"i", b"g", b"-"
    for i in range(16):
        out[4 + 2 * i] = HEX_DIGITS[raw[i] >> 4]
        out[5 + 2 * i] = HEX_DIGITS[raw[i] & 15]
    return out[:36].decode("ascii")


cdef int _remember(dict memo, object key, object value) except -1:
    if len(memo) >= MEMO_ENTRIES:
        memo.clear()  # bounded, and never worse than no memo at all
    memo[key] = value
    return 0


cdef double _ns_ratio(object ns, object divisor, double exact_divisor) except? -1.0:
    """ns / divisor, two Python ints (exact_divisor: the divisor as a double, exactly).

    Python's int division is correctly rounded. When |ns| <= 2**53 both operands are exact
    doubles, so one C division (correctly rounded by IEEE 754) gives the same double without
    the Python call and float object; larger values keep Python's division.
    """
    cdef int overflow = 0
    cdef long long n
    if type(ns) is int:
        n = PyLong_AsLongLongAndOverflow(ns, &overflow)
        if overflow == 0 and -TWO_53 <= n <= TWO_53:
            return <double>n / exact_divisor
    return ns / divisor


cdef double _sum2(object prices) except? -1.0:
    """math.fsum(prices) for two prices: fsum's correctly rounded sum of two finite floats is
    their IEEE sum. Zeros (fsum drops the sign of zero) and anything not finite keep fsum."""
    cdef double total
    if type(prices) is not tuple:
        return _fsum(prices)
    a = (<tuple>prices)[0]
    b = (<tuple>prices)[1]
    if type(a) is float and type(b) is float:
        total = <double>a + <double>b
        if total != 0.0 and isfinite(total):
            return total
    return _fsum(prices)


cdef str _duration(object ns):
    """omen.domain.freshness.format_duration."""
    cdef double seconds = _ns_ratio(ns, NS_PER_SECOND, 1e9)
    if seconds >= 86_400.0:
        return fmt(seconds / 86_400.0, b"f", 1) + " days"
    if seconds >= 3_600.0:
        return fmt(seconds / 3_600.0, b"f", 1) + " hours"
    if seconds >= 60.0:
        return fmt(seconds / 60.0, b"f", 1) + " minutes"
    return fmt(seconds, b"f", 1) + " seconds"


cdef object _horizon(object event, double *days_to_resolution, double *age):
    """omen.domain.enrichment.temporal_of's horizon; its days to resolution and market age in
    the two doubles."""
    days_to_resolution[0] = 0.0
    horizon = H_UNKNOWN
    resolution = get(event, &E_resolution_date_ns)
    observed = get(event, &E_observed_at_ns)
    if resolution is not None:
        days_to_resolution[0] = _ns_ratio(resolution - observed, NS_PER_DAY, 86_400e9)
        if days_to_resolution[0] <= 7:
            horizon = H_IMMEDIATE
        elif days_to_resolution[0] <= 30:
            horizon = H_SHORT
        elif days_to_resolution[0] <= 180:
            horizon = H_MEDIUM
        else:
            horizon = H_LONG
    age[0] = 0.0
    created = get(event, &E_created_at_ns)
    if created is not None:
        age[0] = dmax0(_ns_ratio(observed - created, NS_PER_DAY, 86_400e9))
    return horizon


cdef object _temporal(object event):
    """omen.domain.enrichment.temporal_of."""
    cdef double days_to_resolution, age
    horizon = _horizon(event, &days_to_resolution, &age)
    return TemporalContext(
        horizon, get(event, &E_resolution_date_ns), days_to_resolution, age
    )


cdef str _how(object hit):
    distance = get(hit, &CH_distance_km)
    if get(hit, &CH_via) == "name":
        return f"by name, {fmt(distance, b'f', 1)} km" if distance else "by name"
    return f"by distance, {fmt(distance, b'f', 1)} km"


cdef str _label(str kind, Py_ssize_t count):
    if count == 1:
        return kind
    return "countries" if kind == "country" else kind + "s"


cdef object _winner(dict votes, object order):
    """The key with the highest total; equal totals go to the key listed first in `order`."""
    if len(votes) < 2:
        return next(iter(votes), None)
    cdef dict totals = {k: _fsum(ws) for k, ws in votes.items()}
    cdef double top = <double>max(totals.values()) - TOLERANCE
    return min([k for k, total in totals.items() if total >= top], key=order.index)
