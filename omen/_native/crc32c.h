/* CRC-32C (Castagnoli) for omen._native.wal: the SSE4.2 crc32 instruction when the CPU has it,
 * slicing-by-8 tables otherwise.
 *
 * Included by exactly one translation unit (the Cython-generated wal.c), so everything here is
 * static. Call omen_crc32c_init() once before anything else (wal.pyx does at import): it fills
 * the tables and picks the implementation at run time, so one binary built for plain x86-64
 * runs on every x86-64 CPU and uses the instruction where it exists. No global compiler flag is
 * needed or wanted: only the functions marked target("sse4.2") may use SSE4.2 instructions.
 *
 * Define OMEN_CRC32C_PORTABLE to compile the table path only, as on other architectures.
 *
 * Every function takes and returns a finished CRC (initial value and final xor 0xFFFFFFFF
 * applied), like zlib's crc32(): omen_crc32c(omen_crc32c(0, a), b) is the CRC of a followed by b.
 *
 * The hardware path follows Mark Adler's crc32c.c (zlib licence; stackoverflow.com/a/17646775):
 * eight bytes per instruction, and for long buffers three independent streams (the instruction
 * has a latency of three cycles and a throughput of one), recombined with the "append 2**k zero
 * bytes" operators below.
 */

#ifndef OMEN_CRC32C_H
#define OMEN_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(OMEN_CRC32C_PORTABLE)
#define OMEN_CRC32C_X86_64 1
#include <nmmintrin.h>
#else
#define OMEN_CRC32C_X86_64 0
#endif

#define OMEN_CRC32C_POLY 0x82f63b78u /* 0x1EDC6F41, bit-reversed */

/* omen_crc32c_table[k][n]: the CRC register after byte n followed by k zero bytes. */
static uint32_t omen_crc32c_table[8][256];
static int omen_crc32c_use_hw = 0;

static inline uint32_t omen_crc32c_load_le32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Slicing-by-8: portable (no alignment or byte-order assumption), about 1.5 bytes per cycle. */
static inline uint32_t omen_crc32c_sw(uint32_t crc, const unsigned char *p, size_t len) {
    uint32_t c = crc ^ 0xffffffffu;
    while (len && ((uintptr_t)p & 7) != 0) {
        c = omen_crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        len--;
    }
    while (len >= 8) {
        uint32_t lo = omen_crc32c_load_le32(p) ^ c;
        uint32_t hi = omen_crc32c_load_le32(p + 4);
        c = omen_crc32c_table[7][lo & 0xff] ^ omen_crc32c_table[6][(lo >> 8) & 0xff] ^
            omen_crc32c_table[5][(lo >> 16) & 0xff] ^ omen_crc32c_table[4][lo >> 24] ^
            omen_crc32c_table[3][hi & 0xff] ^ omen_crc32c_table[2][(hi >> 8) & 0xff] ^
            omen_crc32c_table[1][(hi >> 16) & 0xff] ^ omen_crc32c_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len) {
        c = omen_crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        len--;
    }
    return c ^ 0xffffffffu;
}

/* omen_crc32c_zeros[k]: the operator appending 2**k zero bytes to a CRC register (the state
 * before the final xor), one table per byte of the operand. CRC-32C is linear over GF(2), so
 * register(s, data) = append_zeros(s, len(data)) ^ register(0, data): these operators recombine
 * independently computed pieces (the hardware path's three streams, and omen._native.wal's
 * search for a valid record, which needs the CRC of arbitrary ranges in constant time). */
#define OMEN_CRC32C_ZERO_LEVELS 32
static uint32_t omen_crc32c_zeros[OMEN_CRC32C_ZERO_LEVELS][4][256];

static inline uint32_t omen_crc32c_apply(uint32_t op[4][256], uint32_t reg) {
    return op[0][reg & 0xff] ^ op[1][(reg >> 8) & 0xff] ^ op[2][(reg >> 16) & 0xff] ^
           op[3][reg >> 24];
}

/* The register after appending n zero bytes to the register reg. */
static inline uint32_t omen_crc32c_append_zeros(uint32_t reg, uint32_t n) {
    int k = 0;
    while (n) {
        if (n & 1) reg = omen_crc32c_apply(omen_crc32c_zeros[k], reg);
        n >>= 1;
        k++;
    }
    return reg;
}

#if OMEN_CRC32C_X86_64

#define OMEN_CRC32C_LONG_LEVEL 13 /* 8192 bytes */
#define OMEN_CRC32C_SHORT_LEVEL 8 /* 256 bytes */
#define OMEN_CRC32C_LONG (1 << OMEN_CRC32C_LONG_LEVEL)
#define OMEN_CRC32C_SHORT (1 << OMEN_CRC32C_SHORT_LEVEL)

static inline uint64_t omen_crc32c_load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v); /* one load; memcpy keeps it free of aliasing and alignment UB */
    return v;
}

__attribute__((target("sse4.2"))) static uint32_t omen_crc32c_sse42(uint32_t crc,
                                                                     const unsigned char *p,
                                                                     size_t len) {
    uint64_t crc0 = crc ^ 0xffffffffu;
    uint64_t crc1, crc2;
    const unsigned char *end;

    while (len && ((uintptr_t)p & 7) != 0) {
        crc0 = _mm_crc32_u8((uint32_t)crc0, *p++);
        len--;
    }
    /* Three streams over LONG bytes each, then SHORT bytes each; streams 1 and 2 start from a
     * zero register and are folded in by appending the following stream's length of zeros. */
    while (len >= 3 * OMEN_CRC32C_LONG) {
        crc1 = 0;
        crc2 = 0;
        end = p + OMEN_CRC32C_LONG;
        do {
            crc0 = _mm_crc32_u64(crc0, omen_crc32c_load64(p));
            crc1 = _mm_crc32_u64(crc1, omen_crc32c_load64(p + OMEN_CRC32C_LONG));
            crc2 = _mm_crc32_u64(crc2, omen_crc32c_load64(p + 2 * OMEN_CRC32C_LONG));
            p += 8;
        } while (p < end);
        crc0 = omen_crc32c_apply(omen_crc32c_zeros[OMEN_CRC32C_LONG_LEVEL], (uint32_t)crc0) ^ crc1;
        crc0 = omen_crc32c_apply(omen_crc32c_zeros[OMEN_CRC32C_LONG_LEVEL], (uint32_t)crc0) ^ crc2;
        p += 2 * OMEN_CRC32C_LONG;
        len -= 3 * OMEN_CRC32C_LONG;
    }
    while (len >= 3 * OMEN_CRC32C_SHORT) {
        crc1 = 0;
        crc2 = 0;
        end = p + OMEN_CRC32C_SHORT;
        do {
            crc0 = _mm_crc32_u64(crc0, omen_crc32c_load64(p));
            crc1 = _mm_crc32_u64(crc1, omen_crc32c_load64(p + OMEN_CRC32C_SHORT));
            crc2 = _mm_crc32_u64(crc2, omen_crc32c_load64(p + 2 * OMEN_CRC32C_SHORT));
            p += 8;
        } while (p < end);
        crc0 = omen_crc32c_apply(omen_crc32c_zeros[OMEN_CRC32C_SHORT_LEVEL], (uint32_t)crc0) ^ crc1;
        crc0 = omen_crc32c_apply(omen_crc32c_zeros[OMEN_CRC32C_SHORT_LEVEL], (uint32_t)crc0) ^ crc2;
        p += 2 * OMEN_CRC32C_SHORT;
        len -= 3 * OMEN_CRC32C_SHORT;
    }
    while (len >= 8) {
        crc0 = _mm_crc32_u64(crc0, omen_crc32c_load64(p));
        p += 8;
        len -= 8;
    }
    while (len) {
        crc0 = _mm_crc32_u8((uint32_t)crc0, *p++);
        len--;
    }
    return (uint32_t)crc0 ^ 0xffffffffu;
}

#endif /* OMEN_CRC32C_X86_64 */

/* Fill the tables and pick the implementation. Call once, before any other function here. */
static inline void omen_crc32c_init(void) {
    uint32_t n, c;
    int j, k;
    for (n = 0; n < 256; n++) {
        c = n;
        for (k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ OMEN_CRC32C_POLY : c >> 1;
        omen_crc32c_table[0][n] = c;
    }
    for (n = 0; n < 256; n++) {
        c = omen_crc32c_table[0][n];
        for (k = 1; k < 8; k++) {
            c = omen_crc32c_table[0][c & 0xff] ^ (c >> 8);
            omen_crc32c_table[k][n] = c;
        }
    }
    /* One zero byte: the table step with a zero input byte. Then square: 2**(k+1) zero bytes
     * are 2**k zero bytes twice. */
    for (j = 0; j < 4; j++) {
        for (n = 0; n < 256; n++) {
            c = n << (8 * j);
            omen_crc32c_zeros[0][j][n] = omen_crc32c_table[0][c & 0xff] ^ (c >> 8);
        }
    }
    for (k = 1; k < OMEN_CRC32C_ZERO_LEVELS; k++) {
        for (j = 0; j < 4; j++) {
            for (n = 0; n < 256; n++) {
                c = omen_crc32c_apply(omen_crc32c_zeros[k - 1], n << (8 * j));
                omen_crc32c_zeros[k][j][n] = omen_crc32c_apply(omen_crc32c_zeros[k - 1], c);
            }
        }
    }
#if OMEN_CRC32C_X86_64
    __builtin_cpu_init();
    omen_crc32c_use_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

/* CRC-32C of p[0..len), continuing from the finished CRC `crc` (0 to start). */
static inline uint32_t omen_crc32c(uint32_t crc, const unsigned char *p, size_t len) {
#if OMEN_CRC32C_X86_64
    if (omen_crc32c_use_hw) return omen_crc32c_sse42(crc, p, len);
#endif
    return omen_crc32c_sw(crc, p, len);
}

/* The register (no initial or final xor) after feeding p[0..len) to the register reg. */
static inline uint32_t omen_crc32c_register(uint32_t reg, const unsigned char *p, size_t len) {
    return omen_crc32c(reg ^ 0xffffffffu, p, len) ^ 0xffffffffu;
}

/* "sse4.2" or "table": what omen_crc32c() uses on this CPU. */
static inline const char *omen_crc32c_implementation(void) {
    return omen_crc32c_use_hw ? "sse4.2" : "table";
}

#endif /* OMEN_CRC32C_H */
