"""Compiled twin of eventwire_py.py: decode a serialised omen.v1.ProcessStreamRequest straight
into the domain's RawEvent values.

eventwire_py.py is the reference and documents the contract (results, size rule, wire
semantics, errors): decode_stream_request() here returns equal values with equal reprs and the
same violations and messages, and raises the twin's WireError (imported from it, so one except
clause catches either). tests/unit/test_eventwire_parity.py checks both against upb +
omen.entrypoints.grpc.convert.event_from_proto.

The wire is read by C loops over the buffer, which keep the first problem in an Err (what, where)
instead of raising; a problem inside one event's bytes fails that event only. Strings are made by
PyUnicode_DecodeUTF8 (CPython's strict decoder: the same UTF-8 upb accepts), doubles are loaded
little-endian explicitly, and Movement, Location and RawEvent are built without running their
__init__ (slots.pxd: layout_init accepts these frozen dataclasses, whose generated __init__ only
stores each argument in its slot, through object.__setattr__).

validate_event (omen.domain.validation) costs more than the decoding, and almost every event
passes it. So clean() below checks the same conditions in C, conservatively: when it answers
True, validate_event would return no violation and is not called; in any doubt (a limit exceeded,
a value out of range, a required text starting with whitespace...) it answers False and
validate_event itself makes the violation list, so its messages are always the domain's. The
limits are read from omen.domain.validation at import. clean() mirrors validate_event: a new rule
there must be added here (tests/unit/test_eventwire_parity.py pins validate_event's source to
make that change visible).
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_SetItem
from cpython.list cimport PyList_Append, PyList_AsTuple, PyList_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_GET_ITEM
from cpython.unicode cimport PyUnicode_GET_LENGTH, PyUnicode_READ_CHAR
from libc.math cimport fabs, isfinite
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memcpy

from omen._native.slots cimport (
    Layout,
    layout_init,
    layout_make,
    layout_make3,
    layout_make4,
    layout_make_array,
    untracked_tuple,
)

import omen.domain.validation as _validation
from omen._native.eventwire_py import MAX_DEPTH as _TWIN_MAX_DEPTH
from omen._native.eventwire_py import WireError
from omen.domain.events import Location as _Location
from omen.domain.events import MarketState as _MarketState
from omen.domain.events import Movement as _Movement
from omen.domain.events import RawEvent as _RawEvent
from omen.domain.validation import FieldViolation as _FieldViolation
from omen.domain.validation import validate_event as _validate_event

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)
    bint Py_UNICODE_ISSPACE(Py_UCS4 ch)


assert MAX_DEPTH == _TWIN_MAX_DEPTH

# The names the problem E_UTF8 gives (Err.arg1: N_CORRELATION_ID...).
_TEXT_NAMES = (
    "correlation_id",
    "event_id",
    "source",
    "market_id",
    "title",
    "description",
    "market_url",
    "keywords",
    "locations.name",
    "locations.region_code",
    "source_metrics.key",
)


cdef inline str _what(Err *e):
    return wire_problem(e, _TEXT_NAMES)


# ------------------------------------------------------------------------------------------
# Reading the wire: the inline readers are in eventwire.pxd.


cdef Py_ssize_t skip_value(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end, uint32_t tag,
                           Py_ssize_t tag_at, int depth, Err *e) noexcept:
    """The offset after the value of an unknown field (`depth`: the levels left)."""
    cdef uint32_t wire_type = tag & 7
    cdef uint32_t inner
    cdef uint32_t end_tag
    cdef uint64_t ignored
    cdef Py_ssize_t size
    cdef Py_ssize_t inner_at
    if wire_type == WT_VARINT:
        return read_varint(b, pos, end, &ignored, e)
    if wire_type == WT_FIXED64:
        if end - pos < 8:
            return fail(e, E_TRUNCATED_FIXED64, pos)
        return pos + 8
    if wire_type == WT_LEN:
        pos = read_length(b, pos, end, &size, e)
        return pos + size if pos >= 0 else -1
    if wire_type == WT_FIXED32:
        if end - pos < 4:
            return fail(e, E_TRUNCATED_FIXED32, pos)
        return pos + 4
    if wire_type == WT_START_GROUP:
        depth -= 1
        if depth < 0:
            return fail(e, E_TOO_DEEP, tag_at)
        end_tag = (tag & ~(<uint32_t>7)) | WT_END_GROUP
        while pos < end:
            inner_at = pos
            pos = read_tag(b, pos, end, &inner, e)
            if pos < 0:
                return -1
            if inner == end_tag:
                return pos
            pos = skip_value(b, pos, end, inner, inner_at, depth, e)
            if pos < 0:
                return -1
        return fail(e, E_UNTERMINATED_GROUP, tag_at, tag >> 3)
    if wire_type == WT_END_GROUP:
        return fail(e, E_END_GROUP, tag_at, tag >> 3)
    return fail(e, E_WIRE_TYPE, tag_at, wire_type)


# The fields whose strs are kept for reuse (eventwire.pxd: text_slot, same_text): a market's
# question, description, ids, URL, keywords and places come again with each observation. Not
# the event and correlation ids, which are new in every event. Up to TEXT_MAX_BYTES each, in a
# table of 2**TEXT_BITS strong references (at most 8 MiB of text in all).
cdef enum:
    REUSED_TEXTS = (
        1 << N_SOURCE | 1 << N_MARKET_ID | 1 << N_TITLE | 1 << N_DESCRIPTION | 1 << N_MARKET_URL
        | 1 << N_KEYWORDS | 1 << N_LOCATION_NAME | 1 << N_LOCATION_REGION | 1 << N_METRIC_KEY
    )
    TEXT_MAX_BYTES = 4096
    TEXT_BITS = 11

cdef PyObject *_texts[1 << TEXT_BITS]


cdef object read_text(const unsigned char *b, Py_ssize_t pos, Py_ssize_t size, int name,
                      Err *e):
    """The str of b[pos:pos+size], or None with `e` set when it is not valid UTF-8."""
    cdef Py_ssize_t slot = -1
    cdef PyObject *cached
    cdef Py_ssize_t n = 0
    if (REUSED_TEXTS >> name) & 1 and 2 <= size <= TEXT_MAX_BYTES:
        slot = text_slot(b + pos, size, TEXT_BITS)
        cached = _texts[slot]
        if cached is not NULL and same_text(cached, b + pos, size):
            return <object>cached
    try:
        result = PyUnicode_DecodeUTF8(<const char *>b + pos, size, NULL)
    except UnicodeDecodeError as exc:
        fail(e, E_UTF8, pos + exc.start, name)
        return None
    if slot >= 0:
        str_utf8(result, &n)  # made now (ASCII: its own bytes), so that same_text never allocates
        Py_INCREF(result)
        Py_XDECREF(_texts[slot])  # a str: freeing one runs no Python code
        _texts[slot] = <PyObject *>result
    return result


# ------------------------------------------------------------------------------------------
# One RawSignalEvent.

# Built as their __init__ would build them, without running it, and left out of the cycle
# collector (slots.pxd): every field holds a str, a number, bytes, an enum member, None or a
# tuple of such values, or a Movement or Locations built before the event.
cdef Layout L_Movement
cdef Layout L_Location
cdef Layout L_RawEvent
layout_init(&L_Movement, _Movement, acyclic=True)
layout_init(&L_Location, _Location, acyclic=True)
layout_init(&L_RawEvent, _RawEvent, acyclic=True)

cdef tuple _STATES = tuple([_MarketState(i) for i in range(4)])
cdef object _UNSPECIFIED = _MarketState.UNSPECIFIED
cdef tuple _EMPTY = ()
cdef object _NS = 1_000_000_000
cdef int64_t TS_MIN_SECONDS = -62_135_596_800
cdef int64_t TS_MAX_SECONDS = 253_402_300_799

# validate_event's limits (read once: reassigning the domain's names later changes nothing here).
cdef Py_ssize_t MAX_ID_CHARS = _validation.MAX_ID_CHARS
cdef Py_ssize_t MAX_SOURCE_CHARS = _validation.MAX_SOURCE_CHARS
cdef Py_ssize_t MAX_TITLE_CHARS = _validation.MAX_TITLE_CHARS
cdef Py_ssize_t MAX_DESCRIPTION_CHARS = _validation.MAX_DESCRIPTION_CHARS
cdef Py_ssize_t MAX_URL_CHARS = _validation.MAX_URL_CHARS
cdef Py_ssize_t MAX_KEYWORDS = _validation.MAX_KEYWORDS
cdef Py_ssize_t MAX_KEYWORD_CHARS = _validation.MAX_KEYWORD_CHARS
cdef Py_ssize_t MAX_LOCATIONS = _validation.MAX_LOCATIONS
cdef Py_ssize_t MAX_LOCATION_NAME_CHARS = _validation.MAX_LOCATION_NAME_CHARS
cdef Py_ssize_t MAX_REGION_CODE_CHARS = _validation.MAX_REGION_CODE_CHARS
cdef Py_ssize_t MAX_SOURCE_METRICS = _validation.MAX_SOURCE_METRICS
cdef Py_ssize_t MAX_METRIC_KEY_CHARS = _validation.MAX_METRIC_KEY_CHARS
cdef Py_ssize_t MAX_OUTCOME_PRICES = _validation.MAX_OUTCOME_PRICES
cdef Py_ssize_t MAX_RAW_PAYLOAD_BYTES = _validation.MAX_RAW_PAYLOAD_BYTES
cdef double MOVEMENT_TOLERANCE = _validation.MOVEMENT_TOLERANCE


cdef inline bint text_ok(str value, Py_ssize_t limit, bint required) noexcept:
    """True when validate_event's _check_text surely passes `value` (False: maybe not)."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(value)
    if n > limit:
        return False
    # Not blank: the first character is not whitespace by the very test str.strip() makes.
    return not required or (n > 0 and not Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(value, 0)))


cdef inline bint in_range(double value, double low, double high) noexcept:
    return low <= value <= high  # False for NaN


@cython.final
cdef class _Event:
    """The fields of one RawSignalEvent as parsed so far (merged over occurrences)."""

    cdef object event_id, source, market_id, title, description, market_url, raw_payload
    cdef bint has_probability, has_movement
    cdef double probability, liquidity, volume
    cdef double movement[3]
    cdef int64_t num_traders
    cdef int32_t market_state
    cdef list keywords, locations, prices  # None while empty
    # A keyword, location or price validate_event may object to was appended (see clean()).
    cdef bint suspect
    cdef dict metrics  # None while empty
    cdef bint has_time[3]
    cdef int64_t seconds[3]
    cdef int32_t nanos[3]

    cdef void reset(self) noexcept:
        self.event_id = self.source = self.market_id = self.title = ""
        self.description = self.market_url = ""
        self.raw_payload = b""
        self.has_probability = self.has_movement = self.suspect = False
        self.probability = self.liquidity = self.volume = 0.0
        self.movement[0] = self.movement[1] = self.movement[2] = 0.0
        self.num_traders = 0
        self.market_state = 0
        self.keywords = self.locations = self.prices = None
        self.metrics = None
        self.has_time[0] = self.has_time[1] = self.has_time[2] = False
        self.seconds[0] = self.seconds[1] = self.seconds[2] = 0
        self.nanos[0] = self.nanos[1] = self.nanos[2] = 0


cdef Py_ssize_t movement_fields(_Event ev, const unsigned char *b, Py_ssize_t pos,
                                Py_ssize_t end, int depth, Err *e) noexcept:
    cdef uint32_t tag
    cdef Py_ssize_t at
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &tag, e)
        if pos < 0:
            return -1
        if tag & 7 == WT_FIXED64 and tag >> 3 <= 3:
            if end - pos < 8:
                return fail(e, E_TRUNCATED_FIXED64, pos)
            ev.movement[(tag >> 3) - 1] = load_double(b + pos)
            pos += 8
        else:
            pos = skip_value(b, pos, end, tag, at, depth, e)
            if pos < 0:
                return -1
    return pos


cdef Py_ssize_t timestamp_fields(_Event ev, int which, const unsigned char *b, Py_ssize_t pos,
                                 Py_ssize_t end, int depth, Err *e) noexcept:
    cdef uint32_t tag
    cdef Py_ssize_t at
    cdef uint64_t value
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &tag, e)
        if pos < 0:
            return -1
        if tag & 7 == WT_VARINT and tag >> 3 <= 2:
            pos = read_varint(b, pos, end, &value, e)
            if pos < 0:
                return -1
            if tag >> 3 == 1:
                ev.seconds[which] = <int64_t>value
            else:
                ev.nanos[which] = <int32_t><uint32_t>value
        else:
            pos = skip_value(b, pos, end, tag, at, depth, e)
            if pos < 0:
                return -1
    return pos


cdef Py_ssize_t location(_Event ev, const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                         int depth, Err *e) except -2:
    cdef uint32_t tag
    cdef Py_ssize_t at, size
    cdef double lat = 0.0
    cdef double lon = 0.0
    name = region_code = ""
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &tag, e)
        if pos < 0:
            return -1
        if tag & 7 == WT_FIXED64 and tag >> 3 <= 2:
            if end - pos < 8:
                return fail(e, E_TRUNCATED_FIXED64, pos)
            if tag >> 3 == 1:
                lat = load_double(b + pos)
            else:
                lon = load_double(b + pos)
            pos += 8
        elif tag & 7 == WT_LEN and (tag >> 3 == 3 or tag >> 3 == 4):
            pos = read_length(b, pos, end, &size, e)
            if pos < 0:
                return -1
            if tag >> 3 == 3:
                name = read_text(b, pos, size, N_LOCATION_NAME, e)
                if name is None:
                    return -1
            else:
                region_code = read_text(b, pos, size, N_LOCATION_REGION, e)
                if region_code is None:
                    return -1
            pos += size
        else:
            pos = skip_value(b, pos, end, tag, at, depth, e)
            if pos < 0:
                return -1
    if ev.locations is None:
        ev.locations = []
    PyList_Append(ev.locations, layout_make4(&L_Location, lat, lon, name, region_code))
    if not (
        in_range(lat, -90.0, 90.0)
        and in_range(lon, -180.0, 180.0)
        and text_ok(name, MAX_LOCATION_NAME_CHARS, False)
        and text_ok(region_code, MAX_REGION_CODE_CHARS, False)
    ):
        ev.suspect = True
    return pos


cdef Py_ssize_t metric(_Event ev, const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                       int depth, Err *e) except -2:
    cdef uint32_t tag
    cdef Py_ssize_t at, size
    cdef double value = 0.0
    cdef bint unknown = False
    key = ""
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &tag, e)
        if pos < 0:
            return -1
        if tag == (1 << 3 | WT_LEN):
            pos = read_length(b, pos, end, &size, e)
            if pos < 0:
                return -1
            key = read_text(b, pos, size, N_METRIC_KEY, e)
            if key is None:
                return -1
            pos += size
        elif tag == (2 << 3 | WT_FIXED64):
            if end - pos < 8:
                return fail(e, E_TRUNCATED_FIXED64, pos)
            value = load_double(b + pos)
            pos += 8
        else:
            pos = skip_value(b, pos, end, tag, at, depth, e)
            if pos < 0:
                return -1
            unknown = True
    if not unknown:
        if ev.metrics is None:
            ev.metrics = {}
        PyDict_SetItem(ev.metrics, key, value)
    return pos


cdef Py_ssize_t event_fields(_Event ev, const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                             int depth, Err *e) except -2:
    """Merge the RawSignalEvent fields in b[pos:end] into `ev` (`depth`: the event's level)."""
    cdef uint32_t tag, number, wire_type
    cdef Py_ssize_t at, size, stop, p
    cdef uint64_t value
    cdef double number_value
    cdef int inner
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &tag, e)
        if pos < 0:
            return -1
        number = tag >> 3
        wire_type = tag & 7
        if wire_type == WT_LEN and number <= 20 and (LEN_FIELDS >> number) & 1:
            pos = read_length(b, pos, end, &size, e)
            if pos < 0:
                return -1
            stop = pos + size
            if number <= 5 or number == 13:
                if number == 1:
                    text = ev.event_id = read_text(b, pos, size, N_EVENT_ID, e)
                elif number == 2:
                    text = ev.source = read_text(b, pos, size, N_SOURCE, e)
                elif number == 3:
                    text = ev.market_id = read_text(b, pos, size, N_MARKET_ID, e)
                elif number == 4:
                    text = ev.title = read_text(b, pos, size, N_TITLE, e)
                elif number == 5:
                    text = ev.description = read_text(b, pos, size, N_DESCRIPTION, e)
                else:
                    text = ev.market_url = read_text(b, pos, size, N_MARKET_URL, e)
                if text is None:
                    return -1
            elif number == 11:
                text = read_text(b, pos, size, N_KEYWORDS, e)
                if text is None:
                    return -1
                if ev.keywords is None:
                    ev.keywords = []
                PyList_Append(ev.keywords, text)
                if not text_ok(text, MAX_KEYWORD_CHARS, True):
                    ev.suspect = True
            elif number == 18:
                ev.raw_payload = PyBytes_FromStringAndSize(<const char *>b + pos, size)
            elif number == 20:
                if size & 7:
                    return fail(e, E_PACKED_LENGTH, at, size)
                if ev.prices is None:
                    ev.prices = []
                p = pos
                while p < stop:
                    number_value = load_double(b + p)
                    PyList_Append(ev.prices, number_value)
                    if not in_range(number_value, 0.0, 1.0):
                        ev.suspect = True
                    p += 8
            else:
                inner = depth - 1
                if inner < 0:
                    return fail(e, E_TOO_DEEP, at)
                if number == 7:
                    ev.has_movement = True
                    if movement_fields(ev, b, pos, stop, inner, e) < 0:
                        return -1
                elif number == 12:
                    if location(ev, b, pos, stop, inner, e) < 0:
                        return -1
                elif number == 17:
                    if metric(ev, b, pos, stop, inner, e) < 0:
                        return -1
                else:  # 14, 15, 16: created_at, resolution_date, observed_at
                    ev.has_time[number - 14] = True
                    if timestamp_fields(ev, number - 14, b, pos, stop, inner, e) < 0:
                        return -1
            pos = stop
        elif wire_type == WT_FIXED64 and (number == 6 or number == 8 or number == 9
                                          or number == 20):
            if end - pos < 8:
                return fail(e, E_TRUNCATED_FIXED64, pos)
            number_value = load_double(b + pos)
            pos += 8
            if number == 6:
                ev.has_probability = True
                ev.probability = number_value
            elif number == 8:
                ev.liquidity = number_value
            elif number == 9:
                ev.volume = number_value
            else:
                if ev.prices is None:
                    ev.prices = []
                PyList_Append(ev.prices, number_value)
                if not in_range(number_value, 0.0, 1.0):
                    ev.suspect = True
        elif wire_type == WT_VARINT and (number == 10 or number == 19):
            pos = read_varint(b, pos, end, &value, e)
            if pos < 0:
                return -1
            if number == 10:
                ev.num_traders = <int64_t>value
            else:
                ev.market_state = <int32_t><uint32_t>value
        else:
            pos = skip_value(b, pos, end, tag, at, depth, e)
            if pos < 0:
                return -1
    return pos


# ------------------------------------------------------------------------------------------
# The domain event and its violations, as convert.event_from_proto makes them.


cdef int clean(_Event ev) except -1:
    """True only when validate_event() would find nothing wrong with the event `ev` makes
    (checked in validate_event's order; see the module docstring)."""
    cdef Py_ssize_t n
    cdef double previous, delta, window, value
    if not (
        text_ok(ev.event_id, MAX_ID_CHARS, True)
        and text_ok(ev.source, MAX_SOURCE_CHARS, True)
        and text_ok(ev.market_id, MAX_ID_CHARS, False)
        and text_ok(ev.title, MAX_TITLE_CHARS, True)
        and text_ok(ev.description, MAX_DESCRIPTION_CHARS, False)
        and in_range(ev.probability, 0.0, 1.0)
    ):
        return False
    if ev.has_movement:
        previous = ev.movement[0]
        delta = ev.movement[1]
        window = ev.movement[2]
        if not (
            in_range(previous, 0.0, 1.0)
            and in_range(delta, -1.0, 1.0)
            and isfinite(window)
            and window > 0
            and not fabs(previous + delta - ev.probability) > MOVEMENT_TOLERANCE
        ):
            return False
    if not (
        isfinite(ev.liquidity)
        and ev.liquidity >= 0
        and isfinite(ev.volume)
        and ev.volume >= 0
        and ev.num_traders >= 0
    ):
        return False
    # Each keyword, location and outcome price was checked as it was appended (ev.suspect).
    if ev.suspect:
        return False
    if ev.keywords is not None and PyList_GET_SIZE(ev.keywords) > MAX_KEYWORDS:
        return False
    if ev.locations is not None and PyList_GET_SIZE(ev.locations) > MAX_LOCATIONS:
        return False
    if not text_ok(ev.market_url, MAX_URL_CHARS, False):
        return False
    if ev.metrics is not None:
        if len(ev.metrics) > MAX_SOURCE_METRICS:
            return False
        for key, metric_value in ev.metrics.items():
            n = PyUnicode_GET_LENGTH(key)
            value = metric_value
            if n == 0 or n > MAX_METRIC_KEY_CHARS or not isfinite(value):
                return False
    if PyBytes_GET_SIZE(ev.raw_payload) > MAX_RAW_PAYLOAD_BYTES:
        return False
    if ev.prices is not None and PyList_GET_SIZE(ev.prices) > MAX_OUTCOME_PRICES:
        return False
    return True


cdef inline str event_path(Py_ssize_t index):
    return f"events[{index}].event"


cdef object time_ns(_Event ev, int which, str field, Py_ssize_t index, list out):
    """The timestamp's integer nanoseconds, or None (unset, or invalid: then a violation)."""
    if not ev.has_time[which]:
        return None
    cdef int64_t seconds = ev.seconds[which]
    cdef int32_t nanos = ev.nanos[which]
    if not (TS_MIN_SECONDS <= seconds <= TS_MAX_SECONDS and 0 <= nanos < 1_000_000_000):
        out.append(
            _FieldViolation(
                event_path(index) + field,
                f"must be a valid timestamp (0001-01-01..9999-12-31), got "
                f"seconds={seconds} nanos={nanos}",
            )
        )
        return None
    if -9_000_000_000 <= seconds <= 9_000_000_000:  # no int64 overflow
        return seconds * 1_000_000_000 + nanos
    return seconds * _NS + nanos


cdef tuple build(_Event ev, object received_at_ns, Py_ssize_t index):
    """(event, violations) as convert.event_from_proto returns them for this event."""
    cdef list out = []
    cdef PyObject *values[20]
    cdef object probability, liquidity, volume, num_traders
    cdef int32_t state_number = ev.market_state
    if not ev.has_probability:
        out.append(_FieldViolation(event_path(index) + ".probability", "is required"))
    if 0 <= state_number <= 3:
        state = <object>PyTuple_GET_ITEM(_STATES, state_number)
    else:
        out.append(
            _FieldViolation(event_path(index) + ".market_state", f"unknown value {state_number}")
        )
        state = _UNSPECIFIED
    created = time_ns(ev, 0, ".created_at", index, out)
    resolution = time_ns(ev, 1, ".resolution_date", index, out)
    observed = time_ns(ev, 2, ".observed_at", index, out)
    movement = None
    if ev.has_movement:
        movement = layout_make3(&L_Movement, ev.movement[0], ev.movement[1], ev.movement[2])
    if ev.metrics is None:
        metrics = _EMPTY
    else:
        metrics = untracked_tuple(sorted(ev.metrics.items()))
    # Every value in a local first: the array holds borrowed references.
    at = observed if observed is not None else received_at_ns
    probability, liquidity, volume = ev.probability, ev.liquidity, ev.volume
    num_traders = ev.num_traders
    keywords = _EMPTY if ev.keywords is None else untracked_tuple(ev.keywords)
    locations = _EMPTY if ev.locations is None else untracked_tuple(ev.locations)
    prices = _EMPTY if ev.prices is None else untracked_tuple(ev.prices)
    values[:] = [
        <PyObject *>ev.event_id, <PyObject *>ev.source, <PyObject *>ev.title,
        <PyObject *>probability, <PyObject *>at, <PyObject *>ev.market_id,
        <PyObject *>ev.description, <PyObject *>movement, <PyObject *>liquidity,
        <PyObject *>volume, <PyObject *>num_traders, <PyObject *>keywords,
        <PyObject *>locations, <PyObject *>ev.market_url, <PyObject *>created,
        <PyObject *>resolution, <PyObject *>metrics, <PyObject *>ev.raw_payload,
        <PyObject *>state, <PyObject *>prices,
    ]
    event = layout_make_array(&L_RawEvent, values, 20)
    if not clean(ev):
        out.extend(_validate_event(event, event_path(index)))
    return event, out


# ------------------------------------------------------------------------------------------
# The request.


def fast_layouts():
    """Each value class -> True when it is built without running its __init__ (slots.pxd)."""
    return {"Movement": L_Movement.fast, "Location": L_Location.fast, "RawEvent": L_RawEvent.fast}


cdef object malformed_event(Err *e, Py_ssize_t offset, Py_ssize_t index):
    return [
        _FieldViolation(
            f"events[{index}].event",
            f"is not a valid RawSignalEvent: {_what(e)} at byte {offset}",
        )
    ]


def decode_stream_request(data, received_at_ns, max_event_bytes):
    """One (correlation_id, event, violations) per StreamEvent of the serialised request (see
    eventwire_py.py)."""
    cdef bytes buf = data if type(data) is bytes else bytes(data)
    # Any int, as in the twin (a limit beyond Py_ssize_t is no limit: no buffer is that long).
    cdef Py_ssize_t limit = min(max(max_event_bytes, -1), PY_SSIZE_T_MAX)
    cdef const unsigned char *b = <const unsigned char *>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(buf)
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t at, size, stop, se_at, span_size, total, first_pos, first_size, before
    cdef Py_ssize_t index = 0
    cdef uint32_t tag
    cdef Err e
    cdef int depth = MAX_DEPTH - 1  # a StreamEvent's level; its event is one below
    cdef _Event ev = _Event()
    cdef list results = []
    cdef list extra  # the spans of the event field's further occurrences, if any
    cdef Py_ssize_t r
    e.code = E_NONE
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &tag, &e)
        if pos >= 0:
            if tag == (1 << 3 | WT_LEN):
                pos = read_length(b, pos, end, &size, &e)
            else:
                pos = skip_value(b, pos, end, tag, at, MAX_DEPTH, &e)
                if pos >= 0:
                    continue
        if pos < 0:
            raise WireError(f"malformed ProcessStreamRequest: {_what(&e)} at byte {e.at}")
        # One StreamEvent in b[pos:stop].
        stop = pos + size
        correlation_id = ""
        first_pos = -1
        first_size = 0
        total = 0
        extra = None
        while pos < stop:
            se_at = pos
            pos = read_field(b, pos, stop, &tag, &e)
            if pos < 0:
                break
            if tag == (1 << 3 | WT_LEN) or tag == (2 << 3 | WT_LEN):
                pos = read_length(b, pos, stop, &span_size, &e)
                if pos < 0:
                    break
                if tag >> 3 == 1:
                    correlation_id = read_text(b, pos, span_size, N_CORRELATION_ID, &e)
                    if correlation_id is None:
                        pos = -1
                        break
                elif first_pos < 0:
                    first_pos = pos
                    first_size = span_size
                    total = span_size
                else:
                    if extra is None:
                        extra = []
                    extra.append((pos, span_size))
                    total += span_size
                pos += span_size
            else:
                pos = skip_value(b, pos, stop, tag, se_at, depth, &e)
                if pos < 0:
                    break
        if pos < 0:
            raise WireError(
                f"malformed ProcessStreamRequest: {_what(&e)} in events[{index}] at byte {e.at}"
            )
        if first_pos < 0:
            results.append(
                (correlation_id, None, [_FieldViolation(f"events[{index}].event", "is required")])
            )
        elif total > limit:
            results.append(
                (
                    correlation_id,
                    None,
                    [
                        _FieldViolation(
                            f"events[{index}].event",
                            f"must be at most {max_event_bytes} bytes serialised, got {total}",
                        )
                    ],
                )
            )
        else:
            ev.reset()
            r = event_fields(ev, b, first_pos, first_pos + first_size, depth - 1, &e)
            if r < 0:
                results.append(
                    (correlation_id, None, malformed_event(&e, e.at - first_pos, index))
                )
            else:
                before = first_size
                if extra is not None:
                    for span_pos, span_len in extra:
                        r = event_fields(ev, b, span_pos, span_pos + span_len, depth - 1, &e)
                        if r < 0:
                            break
                        before += <Py_ssize_t>span_len
                if r < 0:
                    results.append(
                        (
                            correlation_id,
                            None,
                            malformed_event(&e, before + e.at - <Py_ssize_t>span_pos, index),
                        )
                    )
                else:
                    event, violations = build(ev, received_at_ns, index)
                    results.append((correlation_id, event, violations))
        index += 1
    return results


def request_view(data):
    """ProcessStreamRequest.view of the serialised request (see eventwire_py.py)."""
    cdef bytes buf = data if type(data) is bytes else bytes(data)
    cdef const unsigned char *b = <const unsigned char *>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(buf)
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t at
    cdef uint32_t tag
    cdef uint64_t value
    cdef int32_t view = 0
    cdef Err e
    e.code = E_NONE
    while pos < end:
        at = pos
        pos = read_field(b, pos, end, &tag, &e)
        if pos >= 0:
            if tag == (2 << 3 | WT_VARINT):
                pos = read_varint(b, pos, end, &value, &e)
                if pos >= 0:
                    view = <int32_t><uint32_t>value
            else:
                pos = skip_value(b, pos, end, tag, at, MAX_DEPTH, &e)
        if pos < 0:
            raise WireError(f"malformed ProcessStreamRequest: {_what(&e)} at byte {e.at}")
    return view
