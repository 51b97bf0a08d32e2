# C-level declarations of omen._native.wal (asyncpg style: constants, the record checker and
# the explicit little-endian packing are declared here, defined in wal.pyx or inline below). The
# frame and the scan decision table are documented in wal_py.py, which is the reference.

from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef extern from "crc32c.h" nogil:
    # CRC-32C over p[0..length), continuing from the finished CRC `crc` (0 to start).
    # omen_crc32c picks the SSE4.2 path at run time; omen_crc32c_sw is the table path.
    void omen_crc32c_init()
    uint32_t omen_crc32c(uint32_t crc, const unsigned char *p, size_t length)
    uint32_t omen_crc32c_sw(uint32_t crc, const unsigned char *p, size_t length)
    const char *omen_crc32c_implementation()
    # The raw register (no initial or final xor): fed bytes, or appended `count` zero bytes.
    uint32_t omen_crc32c_register(uint32_t reg, const unsigned char *p, size_t length)
    uint32_t omen_crc32c_append_zeros(uint32_t reg, uint32_t count)


cdef enum:
    WAL_HEADER_SIZE = 9
    # frame_sequenced(): the u64 sequence number before each record's body.
    WAL_SEQUENCE_BYTES = 8
    WAL_MAX_RECORD_SIZE = 67108864  # 64 MiB, the twin's MAX_RECORD_BYTES
    # The search for a valid record keeps a prefix register every 2**6 = 64 bytes.
    WAL_PREFIX_SHIFT = 6
    # Scans and checksums of at least this many bytes run without the GIL.
    WAL_GIL_RELEASE_BYTES = 65536


# What is wrong with the record at an offset, in the order decode() checks (see wal_py.py).
cdef enum RecordProblem:
    RECORD_OK = 0
    RECORD_SHORT_HEADER = 1
    RECORD_RESERVED_TYPE = 2
    RECORD_TOO_LONG = 3
    RECORD_SHORT_PAYLOAD = 4
    RECORD_BAD_CHECKSUM = 5


cdef enum ScanCode:
    SCAN_OK = 0
    SCAN_TORN = 1
    SCAN_CORRUPT = 2


# How a CORRUPT verdict was reached.
cdef enum Evidence:
    EVIDENCE_NONE = 0
    EVIDENCE_NONZERO = 1  # a non-zero byte after the bad record's extent
    EVIDENCE_RECORD = 2  # a valid record starts inside the extent


cdef struct RecordInfo:
    RecordProblem problem
    uint32_t length
    uint8_t type
    uint32_t stored
    uint32_t computed


cdef struct ScanState:
    # Valid records so far (malloc'd, grown by doubling; freed by the caller).
    uint64_t *offsets
    uint8_t *types
    size_t count
    size_t capacity
    bint out_of_memory
    # The outcome.
    ScanCode status
    size_t valid_end
    RecordInfo record
    Evidence evidence
    size_t evidence_offset


# Explicit little-endian packing, independent of the host byte order (compilers turn these into
# one load or store on little-endian hosts).

cdef inline uint32_t load_le32(const unsigned char *p) noexcept nogil:
    return (<uint32_t>p[0]) | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline void store_le32(unsigned char *p, uint32_t x) noexcept nogil:
    p[0] = <unsigned char>x
    p[1] = <unsigned char>(x >> 8)
    p[2] = <unsigned char>(x >> 16)
    p[3] = <unsigned char>(x >> 24)


cdef inline uint32_t mask_crc(uint32_t crc) noexcept nogil:
    # Rotate right by 15 bits, add a constant (LevelDB's mask; see wal_py.py for why).
    return ((crc >> 15) | (crc << 17)) + <uint32_t>0xA282EAD8


cdef inline uint32_t unmask_crc(uint32_t masked) noexcept nogil:
    cdef uint32_t rot = masked - <uint32_t>0xA282EAD8
    return (rot >> 17) | (rot << 15)


cdef inline uint32_t frame_crc(const unsigned char *record, uint32_t length) noexcept nogil:
    # Masked CRC of a record: the 4 length bytes, then the type byte (offset 8) and the payload.
    cdef uint32_t crc = omen_crc32c(0, record, 4)
    return mask_crc(omen_crc32c(crc, record + 8, 1 + <size_t>length))


cdef void write_record(unsigned char *out, uint8_t record_type, const unsigned char *payload,
                       uint32_t length) noexcept nogil
cdef RecordProblem check_record(const unsigned char *base, size_t p, size_t end,
                                RecordInfo *info) noexcept nogil
cdef Py_ssize_t first_nonzero(const unsigned char *base, size_t start, size_t end) noexcept nogil
cdef int find_valid_record(const unsigned char *base, size_t p, size_t extent, size_t end,
                           size_t *found) noexcept nogil
cdef void scan_records(const unsigned char *base, size_t start, size_t end,
                       ScanState *state) noexcept nogil
