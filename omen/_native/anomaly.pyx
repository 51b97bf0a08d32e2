"""Compiled twin of anomaly_py.py: rolling median/MAD z-scores of probability changes.

anomaly_py.py is the reference: RollingStatistics behaves as
omen.domain.anomaly.RollingRobustStatistics (same MarketHistory values bit for bit, same
export_state() structure, same ValueError messages), and the batch scorers return the same floats
as the twin's (tests/unit/test_anomaly_native_parity.py checks both).

Each window keeps its values twice, in arrival order (a ring) and sorted: a new value takes the
oldest one's place in the sorted copy and moves to its own as in an insertion sort, the median is
read off the middle, and the MAD is found by a walk over the deviations on either side of the
median that starts where the previous one ended; a step costs O(window) memory moves at worst and
a few dozen comparisons at window 64. The batch scorers run the whole loop over typed memoryviews
with the GIL released; numpy is used only to allocate and convert arrays, so no numpy headers are
needed to build this module.
"""

cimport cython
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.math cimport NAN, isfinite
from libc.stdint cimport int64_t

import numpy as np

from omen.domain.analysis import MarketHistory
from omen.domain.anomaly import MAD_TO_SIGMA as _DOMAIN_MAD_TO_SIGMA

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define OMEN_PREFETCH(p) __builtin_prefetch(p)
    #else
    #define OMEN_PREFETCH(p) ((void)(p))
    #endif
    """
    # A hint to load the cache line at p; it never faults and does nothing without GCC or Clang.
    void OMEN_PREFETCH(const void *p) noexcept nogil

# C-level copy of the domain's constant, so that both compute the same scale.
cdef double _MAD_TO_SIGMA = _DOMAIN_MAD_TO_SIGMA

# Capacity of a market's first change buffer; it doubles up to the window.
cdef Py_ssize_t _INITIAL_CAPACITY = 8


# --- Sorted-window helpers (no Python objects: callable without the GIL) ---------------------
#
# The batch loops are bound by the latency of dependent loads and by mispredicted branches, not by
# arithmetic, so the helpers prefer independent comparisons (count_below) and short walks from a
# good starting point over binary searches.

@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline Py_ssize_t count_below(const double *o, Py_ssize_t n, double x) noexcept nogil:
    # How many of the sorted o[0:n] are < x (bisect.bisect_left), in two rounds of independent
    # comparisons: the last value of each block of `size` tells how many whole blocks lie below
    # x, then the values of the next block are counted. size ~ sqrt(n), at least 8 (8 at 64).
    cdef Py_ssize_t size = 8
    cdef Py_ssize_t k, end
    cdef Py_ssize_t blocks = 0
    cdef Py_ssize_t within = 0
    while size * size < n:
        size *= 2
    k = size - 1
    while k < n:
        blocks += o[k] < x
        k += size
    k = blocks * size
    end = k + size if k + size < n else n
    while k < end:
        within += o[k] < x
        k += 1
    return blocks * size + within


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline double sorted_median(const double *ordered, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t mid = n >> 1
    if n & 1:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2.0


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline double window_mad(RollingWindow *w, double center) noexcept nogil:
    # median(|x - center|) by the method of omen.domain.anomaly._median_abs_deviation: the
    # deviations left of `center` (A[t] = center - o[split - 1 - t]) and right of it
    # (B[t] = o[split + t] - center) are two ascending sequences, and the m smallest deviations
    # are the a smallest of A and the m - a smallest of B for the least a at which B's largest
    # taken does not exceed A's smallest left out. Every value is a float abs(x - center) gives
    # (a - b is exactly -(b - a) in IEEE arithmetic), so the result is the naive median's to the
    # bit. One change moves the window's a by little, so the search walks from the last a
    # instead of bisecting: a few well-predicted steps instead of a chain of dependent loads.
    cdef const double *o = w.ordered
    cdef Py_ssize_t n = w.count
    cdef Py_ssize_t split = n >> 1
    cdef Py_ssize_t len_a, len_b, m, lo, hi, a, b
    cdef double taken, from_a, from_b, following
    # center is the median, so the first value >= center sits at n // 2 or just before it (the
    # forward walk only matters if a sum of two huge values overflowed to infinity).
    while split < n and o[split] < center:
        split += 1
    while split > 0 and o[split - 1] >= center:
        split -= 1
    len_a = split
    len_b = n - split
    m = (n >> 1) + 1 if n & 1 else n >> 1
    lo = m - len_b if m > len_b else 0
    hi = m if m < len_a else len_a
    a = w.mad_hint
    if a < lo:
        a = lo
    elif a > hi:
        a = hi
    # For lo <= a < hi, "take more from A" is B[m - a - 1] > A[a]; it holds for small a only.
    if a < hi and o[split + m - a - 1] - center > center - o[split - 1 - a]:
        a += 1
        while a < hi and o[split + m - a - 1] - center > center - o[split - 1 - a]:
            a += 1
    else:
        while a > lo and not (o[split + m - a] - center > center - o[split - a]):
            a -= 1
    w.mad_hint = a
    b = m - a
    # max() and min() as Python's builtins pick (the first unless the second is larger/smaller).
    from_a = center - o[split - a] if a > 0 else 0.0
    from_b = o[split + b - 1] - center if b > 0 else 0.0
    taken = from_b if from_b > from_a else from_a
    if n & 1:
        return taken
    if a < len_a:
        following = center - o[split - 1 - a]
        if b < len_b and o[split + b] - center < following:
            following = o[split + b] - center
    else:
        following = o[split + b] - center
    return (taken + following) / 2.0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline void window_push(RollingWindow *w, double x) noexcept nogil:
    # x goes before the values equal to it, where bisect.insort puts it after them: they are the
    # same floats (no -0.0 is ever stored), so the sorted contents are identical.
    cdef double *o = w.ordered
    cdef Py_ssize_t n = w.count
    cdef Py_ssize_t j
    cdef double oldest
    if n < w.capacity:
        w.ring[n] = x  # not full: head is 0 and the values sit at ring[0:n]
        j = n
        while j > 0 and o[j - 1] > x:
            o[j] = o[j - 1]
            j -= 1
        o[j] = x
        w.count = n + 1
        return
    oldest = w.ring[w.head]
    w.ring[w.head] = x
    w.head += 1
    if w.head == n:
        w.head = 0
    # x takes oldest's slot, then moves towards its place as in an insertion sort, shifting the
    # values it passes: one pass over the values between the two, no search for x's place.
    j = count_below(o, n, oldest)  # o[j] == oldest
    if x > oldest:
        while j + 1 < n and o[j + 1] < x:
            o[j] = o[j + 1]
            j += 1
    else:
        while j > 0 and o[j - 1] > x:
            o[j] = o[j - 1]
            j -= 1
    o[j] = x


@cython.cdivision(True)
cdef inline double window_zscore(RollingWindow *w, double x, double scale_floor) noexcept nogil:
    cdef double center = sorted_median(w.ordered, w.count)
    cdef double scale = _MAD_TO_SIGMA * window_mad(w, center)
    if scale_floor > scale:
        scale = scale_floor
    return (x - center) / scale


# --- Argument checks (the twin's messages) ------------------------------------------------------

cdef double _settings_scale_floor(
    Py_ssize_t window, Py_ssize_t min_points, object mad_floor
) except? -1.0:
    """MAD_TO_SIGMA * mad_floor after RollingRobustStatistics' checks and messages."""
    cdef double floor
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    if not 1 <= min_points <= window:
        raise ValueError(f"min_points must be within [1, {window}], got {min_points}")
    floor = mad_floor  # float(), as math.isfinite() converts in the twin
    if not (isfinite(floor) and floor > 0.0):
        raise ValueError(f"mad_floor must be a finite number > 0, got {mad_floor!r}")
    return _MAD_TO_SIGMA * floor


cdef inline bint _within(object value, double lo, double hi, double *out) except -1:
    """True, with *out = float(value), when lo <= value <= hi (never for NaN).

    Floats (numpy.float64 included) are compared in C; anything else as the twin compares it, so
    that an int too large for a double is refused as out of range, not with an OverflowError.
    """
    cdef double x
    if PyFloat_Check(value):
        x = PyFloat_AS_DOUBLE(value)
        if lo <= x <= hi:
            out[0] = x
            return True
        return False
    if lo <= value <= hi:
        out[0] = value
        return True
    return False


cdef inline double _probability(object probability) except? -1.0:
    cdef double x = 0.0
    if not _within(probability, 0.0, 1.0, &x):
        raise ValueError(
            f"probability must be a finite number within [0, 1], got {probability!r}"
        )
    return x


def _as_changes(changes):
    """changes as a contiguous 1-D float64 array (no copy when it already is one)."""
    values = np.asarray(changes, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"changes must be one-dimensional, got shape {values.shape}")
    return np.ascontiguousarray(values)


def _as_group_ids(group_ids):
    """group_ids as a contiguous 1-D int64 array; only integer dtypes that fit are accepted."""
    ids = np.asarray(group_ids)
    if ids.ndim != 1:
        raise ValueError(f"group_ids must be one-dimensional, got shape {ids.shape}")
    if ids.size == 0:
        return np.empty(0, dtype=np.int64)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"group_ids must be integers, got dtype {ids.dtype}")
    return np.ascontiguousarray(ids.astype(np.int64, casting="safe", copy=False))


def _as_out(out, Py_ssize_t n):
    """The array the z-scores go to: a new one, or `out` when it is a writable float64 (n,)."""
    if out is None:
        return np.empty(n, dtype=np.float64)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray or None, got {type(out).__name__}")
    if out.dtype != np.float64 or out.shape != (n,):
        raise ValueError(f"out must be a float64 array of shape ({n},), got {out.dtype} {out.shape}")
    if not out.flags.writeable:
        raise ValueError("out must be writable")
    return out


@cython.boundscheck(False)
@cython.wraparound(False)
cdef Py_ssize_t _first_non_finite(const double[::1] xs) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(xs.shape[0]):
        if not isfinite(xs[i]):
            return i
    return -1


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int _check_finite(const double[::1] xs) except -1:
    cdef Py_ssize_t bad
    with nogil:
        bad = _first_non_finite(xs)
    if bad >= 0:
        value = xs[bad]
        raise ValueError(f"changes[{bad}] must be a finite number, got {value!r}")
    return 0


# --- Per-market statistics ----------------------------------------------------------------------

@cython.final
@cython.auto_pickle(False)
cdef class MarketState:
    """One market's last probability and recorded changes (internal to RollingStatistics)."""

    def __dealloc__(self):
        PyMem_Free(self.changes.ring)
        PyMem_Free(self.changes.ordered)

    cdef int reserve(self, Py_ssize_t capacity) except -1:
        # Only called while the ring has not wrapped (head == 0), so a realloc keeps its order.
        cdef double *grown
        if capacity <= self.changes.capacity:
            return 0
        grown = <double *>PyMem_Realloc(self.changes.ring, <size_t>capacity * sizeof(double))
        if grown is NULL:
            raise MemoryError()
        self.changes.ring = grown
        grown = <double *>PyMem_Realloc(self.changes.ordered, <size_t>capacity * sizeof(double))
        if grown is NULL:
            raise MemoryError()
        self.changes.ordered = grown
        self.changes.capacity = capacity
        return 0

    cdef int push(self, double change, Py_ssize_t window) except -1:
        cdef Py_ssize_t capacity = self.changes.capacity
        if self.changes.count == capacity and capacity < window:
            capacity = 2 * capacity if capacity >= _INITIAL_CAPACITY else _INITIAL_CAPACITY
            self.reserve(capacity if capacity < window else window)
        window_push(&self.changes, change)
        return 0

    cdef void refresh(self, Py_ssize_t min_points, double scale_floor) noexcept:
        cdef double scale
        if self.changes.count < min_points:
            self.center = 0.0
            self.scale = 0.0
            return
        self.center = sorted_median(self.changes.ordered, self.changes.count)
        scale = _MAD_TO_SIGMA * window_mad(&self.changes, self.center)
        self.scale = scale_floor if scale_floor > scale else scale

    cdef tuple values(self):
        """The recorded changes, oldest first."""
        cdef Py_ssize_t k, i
        cdef Py_ssize_t count = self.changes.count
        cdef list out = []
        for k in range(count):
            i = self.changes.head + k
            if i >= count:
                i -= count  # the ring wraps only when full, i.e. count == capacity
            out.append(self.changes.ring[i])
        return tuple(out)


@cython.final
@cython.auto_pickle(False)
cdef class RollingStatistics:
    """Median/MAD z-scores over each market's last `window` probability changes.

    The compiled ChangeStatistics of omen.domain.anomaly: every result equals
    RollingRobustStatistics', and export_state()/import_state() use its structure, so state moves
    freely between the two.
    """

    def __init__(self, Py_ssize_t window=64, Py_ssize_t min_points=8, mad_floor=0.01):
        self._scale_floor = _settings_scale_floor(window, min_points, mad_floor)
        self._window = window
        self._min_points = min_points
        self._mad_floor = mad_floor
        self._markets = {}

    @classmethod
    def from_params(cls, params):
        return cls(params.window, params.min_points, params.mad_floor)

    def observe(self, market_key, probability):
        cdef double p = _probability(probability)
        cdef MarketState market
        cdef double change
        found = self._markets.get(market_key)
        if found is None:
            return MarketHistory(market_key)
        market = <MarketState>found
        points = market.changes.count
        if not market.has_last:
            return MarketHistory(market_key, points)
        change = p - market.last
        if market.scale == 0.0:
            return MarketHistory(market_key, points, market.last, change)
        return MarketHistory(
            market_key, points, market.last, change, (change - market.center) / market.scale
        )

    def record(self, market_key, probability):
        # -0.0 + 0.0 is +0.0: no negative zero is ever stored, as in the twin.
        cdef double p = _probability(probability) + 0.0
        cdef MarketState market
        found = self._markets.get(market_key)
        if found is None:
            market = MarketState.__new__(MarketState)
            self._markets[market_key] = market
        else:
            market = <MarketState>found
        if market.has_last:
            market.push(p - market.last, self._window)
            market.refresh(self._min_points, self._scale_floor)
        market.last = p
        market.has_last = True

    def export_state(self):
        cdef dict out = {}
        cdef MarketState market
        for key in sorted(self._markets):
            market = <MarketState>self._markets[key]
            out[key] = (market.last if market.has_last else None, market.values())
        return out

    def import_state(self, state):
        cdef dict markets = {}
        cdef MarketState market
        cdef double x = 0.0
        cdef list kept
        cdef Py_ssize_t start
        for key in sorted(state):
            last, changes = state[key]
            market = MarketState.__new__(MarketState)
            if last is not None:
                if not _within(last, 0.0, 1.0, &x):
                    raise ValueError(
                        f"market {key!r}: last probability must be a finite number within "
                        f"[0, 1], got {last!r}"
                    )
                market.last = x + 0.0
                market.has_last = True
            kept = []
            for change in changes:
                if not _within(change, -1.0, 1.0, &x):
                    raise ValueError(
                        f"market {key!r}: change must be a finite number within [-1, 1], "
                        f"got {change!r}"
                    )
                kept.append(x + 0.0)
            # Only the newest `window` changes are kept, as record() keeps them.
            start = len(kept) - self._window if len(kept) > self._window else 0
            market.reserve(len(kept) - start)
            for change in kept[start:]:
                window_push(&market.changes, change)
            market.refresh(self._min_points, self._scale_floor)
            markets[key] = market
        self._markets = markets

    def __len__(self):
        return len(self._markets)

    def __reduce__(self):
        return (
            RollingStatistics,
            (self._window, self._min_points, self._mad_floor),
            self.export_state(),
        )

    def __setstate__(self, state):
        self.import_state(state)


# --- Batch scoring ------------------------------------------------------------------------------

@cython.boundscheck(False)
@cython.wraparound(False)
def score_batch(changes, Py_ssize_t window=64, Py_ssize_t min_points=8, mad_floor=0.01, out=None):
    """Robust z-score of each change of one market against the up to `window` changes before it.

    NaN where fewer than min_points changes precede. Equals observe() before each record() of
    RollingStatistics(window, min_points, mad_floor) fed the same changes. Writes into `out`
    (which may be `changes` itself) when given and returns it.
    """
    cdef double scale_floor = _settings_scale_floor(window, min_points, mad_floor)
    values = _as_changes(changes)
    target = _as_out(out, values.shape[0])
    cdef const double[::1] xs = values
    cdef double[:] zs = target
    cdef Py_ssize_t n = xs.shape[0]
    cdef Py_ssize_t capacity = n if n < window else window
    cdef Py_ssize_t i
    cdef double x
    cdef RollingWindow w
    _check_finite(xs)
    if n == 0:
        return target
    w.ring = <double *>PyMem_Malloc(2 * <size_t>capacity * sizeof(double))
    if w.ring is NULL:
        raise MemoryError()
    w.ordered = w.ring + capacity
    w.count = 0
    w.head = 0
    w.capacity = capacity
    w.mad_hint = 0
    try:
        with nogil:
            for i in range(n):
                x = xs[i]  # read before zs[i] is written: out may alias changes
                zs[i] = window_zscore(&w, x, scale_floor) if w.count >= min_points else NAN
                window_push(&w, x + 0.0)
    finally:
        PyMem_Free(w.ring)
    return target


@cython.boundscheck(False)
@cython.wraparound(False)
def score_batch_grouped(
    group_ids, changes, Py_ssize_t window=64, Py_ssize_t min_points=8, mad_floor=0.01, out=None
):
    """score_batch() of many markets whose changes are interleaved in order.

    group_ids[i] (an integer >= 0) names the market of changes[i]; each market is scored against
    its own preceding changes only, so the result equals score_batch() of each market's
    subsequence. Ids index an internal table of max(group_ids) + 1 windows: keep them dense
    (0..G-1); the memory is O(G + len(changes)).
    """
    cdef double scale_floor = _settings_scale_floor(window, min_points, mad_floor)
    ids_array = _as_group_ids(group_ids)
    values = _as_changes(changes)
    if ids_array.shape[0] != values.shape[0]:
        raise ValueError(
            "group_ids and changes must have the same length, got "
            f"{ids_array.shape[0]} and {values.shape[0]}"
        )
    target = _as_out(out, values.shape[0])
    cdef const int64_t[::1] ids = ids_array
    cdef const double[::1] xs = values
    cdef double[:] zs = target
    cdef Py_ssize_t n = xs.shape[0]
    cdef Py_ssize_t i, g, k
    cdef Py_ssize_t bad = -1
    cdef int64_t largest = -1
    cdef int64_t gid
    cdef Py_ssize_t groups, total, offset, capacity
    cdef RollingWindow *windows = NULL
    cdef RollingWindow *w
    cdef double *arena = NULL
    cdef double x
    _check_finite(xs)
    with nogil:
        for i in range(n):
            gid = ids[i]
            if gid < 0:
                bad = i
                break
            if gid > largest:
                largest = gid
    if bad >= 0:
        raise ValueError(f"group_ids[{bad}] must be >= 0, got {ids[bad]}")
    if n == 0:
        return target
    if largest >= PY_SSIZE_T_MAX // <Py_ssize_t>sizeof(RollingWindow):
        raise MemoryError(f"group id {largest} is too large for a table of windows")
    groups = <Py_ssize_t>largest + 1
    windows = <RollingWindow *>PyMem_Calloc(<size_t>groups, sizeof(RollingWindow))
    if windows is NULL:
        raise MemoryError()
    try:
        # Each group gets min(its number of changes, window) slots, so the arena never exceeds
        # twice the input, however many groups there are.
        with nogil:
            for i in range(n):
                windows[ids[i]].capacity += 1
            total = 0
            for g in range(groups):
                if windows[g].capacity > window:
                    windows[g].capacity = window
                total += windows[g].capacity
        arena = <double *>PyMem_Malloc(2 * <size_t>total * sizeof(double))
        if arena is NULL:
            raise MemoryError()
        with nogil:
            offset = 0
            for g in range(groups):
                capacity = windows[g].capacity
                windows[g].ring = arena + offset
                windows[g].ordered = arena + offset + capacity
                offset += 2 * capacity
            for i in range(n):
                # With many groups their windows fall out of the cache; ask for the lines that a
                # few changes ahead will read (its window's table entry first, then its values).
                if i + 8 < n:
                    OMEN_PREFETCH(&windows[ids[i + 8]])
                if i + 3 < n:
                    w = &windows[ids[i + 3]]
                    OMEN_PREFETCH(w.ring + w.head)
                    for k in range(0, w.capacity, 8):  # 8 doubles: one 64-byte line
                        OMEN_PREFETCH(w.ordered + k)
                w = &windows[ids[i]]
                x = xs[i]
                zs[i] = window_zscore(w, x, scale_floor) if w.count >= min_points else NAN
                window_push(w, x + 0.0)
    finally:
        PyMem_Free(arena)
        PyMem_Free(windows)
    return target
