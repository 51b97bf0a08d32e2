# C-level declarations of omen._native.anomaly (asyncpg style: the window structure and the cdef
# classes are declared here and defined in anomaly.pyx, whose window helpers are private inline
# functions). The semantics are those of omen.domain.anomaly.RollingRobustStatistics;
# anomaly_py.py is the reference.


cdef struct RollingWindow:
    # The newest `capacity` values twice: in arrival order (a ring once full) and sorted, so that
    # the median and the MAD are read off without sorting. Both arrays hold the same floats.
    double *ring
    double *ordered
    Py_ssize_t count     # values held, <= capacity
    Py_ssize_t head      # ring index of the oldest value; 0 until the ring is full
    Py_ssize_t capacity
    Py_ssize_t mad_hint  # where the last MAD search ended (any value is correct, this is fast)


cdef class MarketState:
    # One market of RollingStatistics: its last probability and its recorded changes. The window
    # grows by doubling up to the configured size, so a market seen once costs no buffer.
    cdef:
        RollingWindow changes
        double last
        bint has_last
        # Cached on every record() for observe(); scale is 0 until min_points changes exist.
        double center
        double scale

    cdef int reserve(self, Py_ssize_t capacity) except -1
    cdef int push(self, double change, Py_ssize_t window) except -1
    cdef void refresh(self, Py_ssize_t min_points, double scale_floor) noexcept
    cdef tuple values(self)


cdef class RollingStatistics:
    cdef:
        Py_ssize_t _window
        Py_ssize_t _min_points
        double _scale_floor
        object _mad_floor  # as given, for __reduce__
        dict _markets      # market key -> MarketState
