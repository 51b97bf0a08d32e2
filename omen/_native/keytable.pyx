"""Compiled twin of keytable_py.py: a table of fixed-width byte keys numbered in insertion order,
holding no Python object per key.

keytable_py.py is the reference and documents the contract (results, errors and their
messages): KeyTable here returns the same values and raises the same exceptions.
tests/unit/test_keytable_parity.py checks both.

Why: a dict of `bytes` keys keeps one small object per key alive forever, and such long-lived
small objects fragment pymalloc's pools, slowing every later allocation in the process. Here a
table owns two C blocks whatever its length (three while growing, see below):

- keys: every key, `width` bytes each, back to back in insertion order (key i at i * width);
  grown by PyMem_Realloc, doubling.
- slots: an open-addressing hash table of int64_t, power-of-two length, at most half full;
  a slot holds index + 1 of the key it points to in its low 40 bits and 23 further bits of the
  key's hash above them (its tag), 0 when empty. Linear probing; a key is compared (memcmp
  against the keys block) only where the tag matches, so a probe past other keys reads no key:
  in a big table each key read is a cache miss. Growing doubles the slots and rehashes in C
  from the stored keys (no key is ever moved, so an index never changes).

Growing is incremental, so no add() pauses its caller for the whole table (rehashing 4 million
keys at once took ~0.3 s, 8 million ~0.7 s: every stream of the server stalled that long). The
doubled slots start empty; the previous slots stay as they were, read-only, holding every key
added before the growth. Each add() then moves the next MIGRATE_STEP of those keys (in index
order, rehashed from the keys block) into the new slots, and a lookup that misses in the new
slots looks in the previous ones while any key is left to move. The new slots are at most
half full again when the next growth is due: growing at n keys leaves n more adds before the
next growth, and moving n keys takes n / MIGRATE_STEP of them, so one migration always ends
before the next begins. During a migration the previous slots are still allocated (nbytes
counts them). The keys block still doubles by realloc: below glibc's mmap threshold (at most
32 MiB) that copies it, a few ms at worst; above it, realloc remaps pages without a copy.

The probe start is the key's first 8 bytes (all of them when width < 8) read little-endian,
multiplied by 2**64 / golden ratio (Fibonacci hashing) and shifted right to keep the top bits.
The keys are SHA-256 output in practice, but nothing relies on it: keys that differ anywhere in
their first 8 bytes spread over the table. Keys sharing their first 8 bytes share a probe start;
they stay correct (memcmp decides) but probing for them is linear in their number.

Only the values add/find/key_at return are Python objects (key_at makes a new bytes each call).
Everything runs with the GIL held, so a table is safe to share between threads.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Realloc
from cpython.number cimport PyNumber_Index
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcmp, memcpy

from omen._native.keytable_py import MAX_WIDTH as _TWIN_MAX_WIDTH

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    bint PyUnicode_IS_ASCII(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    # operator.index(o) clipped to the Py_ssize_t range (exc NULL: never OverflowError).
    Py_ssize_t clipped_index "PyNumber_AsSsize_t" (object o, PyObject *exc) except? -1

cdef enum:
    MAX_WIDTH = 64
    MIN_SLOTS_LOG2 = 4  # 16 slots
    MIN_KEYS = 8
    INDEX_BITS = 40  # a slot: tag << INDEX_BITS | index + 1
    MIGRATE_STEP = 16  # keys moved into grown slots per add()

cdef int64_t INDEX_MASK = (<int64_t>1 << INDEX_BITS) - 1
cdef Py_ssize_t MAX_KEYS = <Py_ssize_t>INDEX_MASK - 1

assert MAX_WIDTH == _TWIN_MAX_WIDTH

# 2**64 / golden ratio, odd: multiplying by it is a bijection of uint64 whose top bits depend
# on every bit of the input.
cdef uint64_t FIBONACCI = 0x9E3779B97F4A7C15ULL


cdef inline uint64_t _hash(const unsigned char *key, Py_ssize_t width) noexcept nogil:
    """The key's first min(width, 8) bytes, little-endian, times FIBONACCI."""
    cdef uint64_t h = 0
    cdef Py_ssize_t i
    cdef Py_ssize_t n = width if width < 8 else 8
    for i in range(n):
        h |= (<uint64_t>key[i]) << (8 * i)
    return h * FIBONACCI


cdef inline int64_t _tag(uint64_t h) noexcept nogil:
    """Bits 8-30 of the hash, shifted into a slot's tag field (the probe start takes the top
    bits, which tables of up to 2**33 slots keep apart from these)."""
    return <int64_t>((h >> 8) & 0x7FFFFF) << INDEX_BITS


# Each byte's value as a hex digit, or -1: a table (no branch to mispredict per digit).
cdef signed char HEX_VALUE[256]
for _c in range(256):
    HEX_VALUE[_c] = -1
for _c in range(10):
    HEX_VALUE[48 + _c] = _c  # "0".."9"
for _c in range(6):
    HEX_VALUE[97 + _c] = 10 + _c  # "a".."f"
    HEX_VALUE[65 + _c] = 10 + _c  # "A".."F"


cdef inline str _type_error(object key):
    return f"key must be bytes, not {type(key).__name__}"


cdef class KeyTable:
    """Fixed-width `bytes` keys numbered 0, 1, 2... in insertion order (see keytable_py.py)."""

    cdef unsigned char *_keys    # _keycap * _width bytes, the first _count * _width in use
    cdef int64_t *_slots         # _nslots slots: index + 1, or 0 when empty
    cdef Py_ssize_t _width
    cdef Py_ssize_t _count
    cdef Py_ssize_t _keycap
    cdef Py_ssize_t _nslots      # a power of two, >= 2 * _count
    cdef int _shift              # 64 - log2(_nslots): hash >> _shift is the probe start
    # While growing (_old != NULL): the slots before the growth, holding keys 0.._old_count-1;
    # keys 0.._moved-1 are in _slots too.
    cdef int64_t *_old
    cdef Py_ssize_t _old_nslots
    cdef int _old_shift
    cdef Py_ssize_t _old_count
    cdef Py_ssize_t _moved

    def __cinit__(self, width):
        w = PyNumber_Index(width)
        if w < 1 or w > MAX_WIDTH:
            raise ValueError(f"width must be between 1 and {MAX_WIDTH}, not {w}")
        self._width = w
        self._count = 0
        self._nslots = 1 << MIN_SLOTS_LOG2
        self._shift = 64 - MIN_SLOTS_LOG2
        self._slots = <int64_t *>PyMem_Calloc(self._nslots, sizeof(int64_t))
        if self._slots == NULL:
            raise MemoryError()
        self._old = NULL
        self._old_nslots = 0
        self._old_count = 0
        self._moved = 0
        self._keycap = MIN_KEYS
        self._keys = <unsigned char *>PyMem_Realloc(NULL, MIN_KEYS * self._width)
        if self._keys == NULL:
            raise MemoryError()

    def __dealloc__(self):
        PyMem_Free(self._keys)
        PyMem_Free(self._slots)
        PyMem_Free(self._old)
        self._keys = NULL
        self._slots = NULL
        self._old = NULL

    cdef inline Py_ssize_t _probe_in(
        self, const int64_t *slots, Py_ssize_t nslots, int shift, const unsigned char *key,
        uint64_t h,
    ) noexcept:
        """The slot of `slots` holding `key` (whose _hash is `h`), or the empty slot where it
        belongs (slots are never full, so the loop ends)."""
        cdef Py_ssize_t width = self._width
        cdef uint64_t mask = <uint64_t>nslots - 1
        cdef uint64_t pos = h >> shift
        cdef int64_t tag = _tag(h)
        cdef int64_t v
        while True:
            v = slots[pos]
            if v == 0 or (
                (v & ~INDEX_MASK) == tag
                and memcmp(self._keys + ((v & INDEX_MASK) - 1) * width, key, width) == 0
            ):
                return <Py_ssize_t>pos
            pos = (pos + 1) & mask

    cdef inline Py_ssize_t _probe(self, const unsigned char *key, uint64_t h) noexcept:
        """_probe_in the current slots."""
        return self._probe_in(self._slots, self._nslots, self._shift, key, h)

    cdef inline int64_t _old_slot(self, const unsigned char *key, uint64_t h) noexcept:
        """The previous slots' slot value for `key` (0 when absent, or when no growth is
        moving keys out of them)."""
        if self._old == NULL:
            return 0
        return self._old[self._probe_in(self._old, self._old_nslots, self._old_shift, key, h)]

    cdef inline Py_ssize_t _lookup(self, const unsigned char *key, uint64_t h) noexcept:
        """The index of `key`, or -1: in the current slots, else in the previous ones."""
        cdef int64_t v = self._slots[self._probe(key, h)]
        if v == 0:
            v = self._old_slot(key, h)
        return (v & INDEX_MASK) - 1

    cdef int _grow_keys(self) except -1:
        cdef Py_ssize_t cap = self._keycap * 2
        cdef unsigned char *keys
        if cap > PY_SSIZE_T_MAX // self._width:
            raise MemoryError()
        keys = <unsigned char *>PyMem_Realloc(self._keys, <size_t>(cap * self._width))
        if keys == NULL:
            raise MemoryError()
        self._keys = keys
        self._keycap = cap
        return 0

    cdef int _grow_slots(self) except -1:
        """Double the slots, empty; the keys move in by _migrate (see the module docstring)."""
        cdef Py_ssize_t n = self._nslots * 2
        cdef int64_t *slots
        if self._old != NULL:  # never while adds keep the pace above; kept correct anyway
            self._migrate(self._old_count)
        if n > PY_SSIZE_T_MAX // <Py_ssize_t>sizeof(int64_t):
            raise MemoryError()
        slots = <int64_t *>PyMem_Calloc(<size_t>n, sizeof(int64_t))
        if slots == NULL:
            raise MemoryError()
        self._old = self._slots
        self._old_nslots = self._nslots
        self._old_shift = self._shift
        self._old_count = self._count
        self._moved = 0
        self._slots = slots
        self._nslots = n
        self._shift -= 1
        return 0

    cdef void _migrate(self, Py_ssize_t keys) noexcept:
        """Move the next `keys` keys of the previous slots into the current ones; free the
        previous slots once all are moved. The keys are distinct and none of them is in the
        current slots yet: each one goes to the first empty slot from its start."""
        cdef Py_ssize_t width = self._width
        cdef uint64_t mask = <uint64_t>self._nslots - 1
        cdef int shift = self._shift
        cdef int64_t *slots = self._slots
        cdef Py_ssize_t i = self._moved
        cdef Py_ssize_t end = self._old_count if self._old_count - i < keys else i + keys
        cdef uint64_t h
        cdef uint64_t pos
        while i < end:
            h = _hash(self._keys + i * width, width)
            pos = h >> shift
            while slots[pos] != 0:
                pos = (pos + 1) & mask
            slots[pos] = _tag(h) | (i + 1)
            i += 1
        self._moved = i
        if i == self._old_count:
            PyMem_Free(self._old)
            self._old = NULL
            self._old_nslots = 0

    cdef int _check_absent(self, const unsigned char *k, uint64_t h) except -1:
        """KeyError naming the key at k if the table holds it."""
        if self._lookup(k, h) >= 0:
            raise KeyError(
                f"key {PyBytes_FromStringAndSize(<const char *>k, self._width).hex()} is "
                "already in the table"
            )
        return 0

    cdef int _reserve(self) except -1:
        """Room for one more key in the keys block and the slots: _place cannot fail then."""
        cdef Py_ssize_t i = self._count
        if i == MAX_KEYS:
            raise MemoryError(f"a key table holds at most {MAX_KEYS} keys")
        if i == self._keycap:
            self._grow_keys()
        if 2 * (i + 1) > self._nslots:
            self._grow_slots()
        return 0

    cdef Py_ssize_t _place(self, const unsigned char *k, uint64_t h) noexcept:
        """Append the key at k, absent and with room reserved, and return its index."""
        cdef Py_ssize_t i = self._count
        cdef Py_ssize_t pos = self._probe(k, h)  # the empty slot where it belongs
        memcpy(self._keys + i * self._width, k, <size_t>self._width)
        self._slots[pos] = _tag(h) | (i + 1)
        self._count = i + 1
        if self._old != NULL:
            self._migrate(MIGRATE_STEP)
        return i

    cdef Py_ssize_t _add(self, const unsigned char *k) except -1:
        """Append the key at k (width bytes) and return its index; KeyError if present."""
        cdef uint64_t h = _hash(k, self._width)
        self._check_absent(k, h)
        self._reserve()
        return self._place(k, h)

    cdef inline Py_ssize_t _find(self, const unsigned char *k) noexcept:
        return self._lookup(k, _hash(k, self._width))

    cdef int _hex_key(self, object text, object start, unsigned char *out) except -1:
        """out[0:width] from text[start:], exactly 2 * width hex digits of either case."""
        cdef Py_ssize_t s
        cdef Py_ssize_t digits = 2 * self._width
        cdef Py_ssize_t i
        cdef int hi, lo
        cdef const unsigned char *p
        if type(text) is not str:
            raise TypeError(f"text must be str, not {type(text).__name__}")
        # Clipped to the Py_ssize_t range, which no str reaches: out of range either way.
        s = clipped_index(start, NULL)
        if (
            s < 0
            or PyUnicode_GET_LENGTH(text) - s != digits
            or not PyUnicode_IS_ASCII(text)
        ):
            raise ValueError(f"text[{PyNumber_Index(start)}:] must be {digits} hex digits")
        p = <const unsigned char *>PyUnicode_DATA(text) + s
        cdef int bad = 0
        for i in range(self._width):
            hi = HEX_VALUE[p[2 * i]]
            lo = HEX_VALUE[p[2 * i + 1]]
            bad |= hi | lo  # negative once any digit is not one
            out[i] = <unsigned char>((hi << 4) | (lo & 15))
        if bad < 0:
            raise ValueError(f"text[{PyNumber_Index(start)}:] must be {digits} hex digits")
        return 0

    def add(self, key):
        """Append `key` and return its index; KeyError if it is already in the table."""
        if not PyBytes_CheckExact(key):
            raise TypeError(_type_error(key))
        if PyBytes_GET_SIZE(key) != self._width:
            raise ValueError(
                f"key must be {self._width} bytes long, not {PyBytes_GET_SIZE(key)}"
            )
        return self._add(<const unsigned char *>PyBytes_AS_STRING(key))

    def find(self, key):
        """The index of `key`, or -1 if it is absent (a key of the wrong length always is)."""
        if not PyBytes_CheckExact(key):
            raise TypeError(_type_error(key))
        if PyBytes_GET_SIZE(key) != self._width:
            return -1
        return self._find(<const unsigned char *>PyBytes_AS_STRING(key))

    def add_hex(self, text, start):
        """add() of the key spelt by text[start:] in hex (see keytable_py.KeyTable.add_hex)."""
        cdef unsigned char raw[MAX_WIDTH]
        self._hex_key(text, start, raw)
        return self._add(raw)

    def find_hex(self, text, start):
        """find() of the key spelt by text[start:] in hex (as add_hex)."""
        cdef unsigned char raw[MAX_WIDTH]
        self._hex_key(text, start, raw)
        return self._find(raw)

    def add_hex_with(self, text, start, other_table, other_text, other_start):
        """add_hex(text, start) here and other.add_hex(other_text, other_start) in `other`,
        both or neither (see keytable_py.KeyTable.add_hex_with)."""
        cdef unsigned char raw[MAX_WIDTH]
        cdef unsigned char other_raw[MAX_WIDTH]
        cdef uint64_t h, other_h
        cdef KeyTable other
        if not isinstance(other_table, KeyTable):
            raise TypeError(f"other must be a KeyTable, not {type(other_table).__name__}")
        other = <KeyTable>other_table
        if other is self:
            raise ValueError("other must be another table")
        other._hex_key(other_text, other_start, other_raw)
        self._hex_key(text, start, raw)
        if self._count != other._count:
            raise ValueError(
                f"the tables hold {self._count} and {other._count} keys, not the same number"
            )
        other_h = _hash(other_raw, other._width)
        other._check_absent(other_raw, other_h)
        h = _hash(raw, self._width)
        self._check_absent(raw, h)
        self._reserve()
        other._reserve()
        other._place(other_raw, other_h)
        return self._place(raw, h)

    def key_at(self, index):
        """The key stored at `index` (0 <= index < len(self), else IndexError)."""
        cdef Py_ssize_t j
        i = PyNumber_Index(index)
        if i < 0 or i >= self._count:
            raise IndexError(f"index {i} out of range for a table of {self._count} keys")
        j = i
        return PyBytes_FromStringAndSize(
            <const char *>(self._keys + j * self._width), self._width
        )

    def __len__(self):
        return self._count

    @property
    def width(self):
        """The length in bytes of every key."""
        return self._width

    @property
    def nbytes(self):
        """Bytes of the C blocks (keys, slots and, while growing, the previous slots), capacity
        included; exact."""
        return self._keycap * self._width + (self._nslots + self._old_nslots) * <Py_ssize_t>sizeof(
            int64_t
        )

    def __reduce__(self):
        raise TypeError("KeyTable objects cannot be pickled or copied")

    def __repr__(self):
        return f"KeyTable(width={self._width}, len={self._count})"
