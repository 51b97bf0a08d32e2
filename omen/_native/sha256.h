/* SHA-256 (FIPS 180-4) with the x86 SHA extensions, for omen._native.hashing and .decision.
 *
 * Included by those translation units only, so everything here is static. Call
 * omen_sha256_init() once (each module does at import); omen_sha256_hw() then says whether this
 * CPU has the instructions (SHA, SSE4.1, SSSE3). There is no portable path on purpose: without
 * them the callers use hashlib (OpenSSL), which is as fast as any portable C would be. As with
 * crc32c.h, no global compiler flag is needed or wanted: only the function marked
 * target("sha,sse4.1,ssse3") uses those instructions, and only once the CPU said it has them.
 *
 * Why not hashlib always: an event hash is a SHA-256 of ~0.8 KB and a signal id one of ~0.1 KB,
 * and hashlib's per-call cost (a digest object, an OpenSSL context and its algorithm lookup, a
 * Python call) was about half of each. Here a call is the compression itself.
 *
 * The round structure follows the Intel SHA extensions' documented use: the state kept as ABEF
 * and CDGH, two rounds per sha256rnds2 and the message schedule by sha256msg1 / sha256msg2.
 */

#ifndef OMEN_SHA256_H
#define OMEN_SHA256_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(OMEN_SHA256_PORTABLE)
#define OMEN_SHA256_X86_64 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define OMEN_SHA256_X86_64 0
#endif

static int omen_sha256_use_hw = 0;

static void omen_sha256_init(void) {
#if OMEN_SHA256_X86_64
    unsigned int a = 0, b = 0, c = 0, d = 0;
    int ssse3 = 0, sse41 = 0, sha = 0;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        ssse3 = (c >> 9) & 1;
        sse41 = (c >> 19) & 1;
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        sha = (b >> 29) & 1;
    }
    omen_sha256_use_hw = ssse3 && sse41 && sha;
#endif
}

/* Whether omen_sha256() may be called on this CPU. */
static int omen_sha256_hw(void) { return omen_sha256_use_hw; }

#if OMEN_SHA256_X86_64

static const uint32_t omen_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* Compress `blocks` 64-byte blocks at p into state (h0..h7). */
__attribute__((target("sha,sse4.1,ssse3")))
static void omen_sha256_blocks(uint32_t state[8], const unsigned char *p, size_t blocks) {
    /* Big-endian words: byte-reverse each 32-bit lane. */
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&state[0]);    /* lanes: A B C D */
    __m128i state1 = _mm_loadu_si128((const __m128i *)&state[4]); /* lanes: E F G H */
    tmp = _mm_shuffle_epi32(tmp, 0xB1);
    state1 = _mm_shuffle_epi32(state1, 0x1B);
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);  /* ABEF */
    state1 = _mm_blend_epi16(state1, tmp, 0xF0);       /* CDGH */
    while (blocks--) {
        const __m128i abef = state0, cdgh = state1;
        __m128i w[4]; /* w[g % 4]: the message words 4g .. 4g+3 of the group of rounds g */
        for (int i = 0; i < 4; i++) {
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), swap);
        }
        for (int g = 0; g < 16; g++) {
            const __m128i wk =
                _mm_add_epi32(w[g & 3], _mm_loadu_si128((const __m128i *)&omen_sha256_k[4 * g]));
            /* Two rounds each; after them the old ABEF is the new CDGH. */
            state1 = _mm_sha256rnds2_epu32(state1, state0, wk);
            state0 = _mm_sha256rnds2_epu32(state0, state1, _mm_shuffle_epi32(wk, 0x0E));
            if (g < 12) {
                /* Words 4g+16 .. 4g+19: W[t-16] + s0(W[t-15]) + W[t-7] + s1(W[t-2]). */
                __m128i next = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
                next = _mm_add_epi32(next, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
                w[g & 3] = _mm_sha256msg2_epu32(next, w[(g + 3) & 3]);
            }
        }
        state0 = _mm_add_epi32(state0, abef);
        state1 = _mm_add_epi32(state1, cdgh);
        p += 64;
    }
    tmp = _mm_shuffle_epi32(state0, 0x1B);
    state1 = _mm_shuffle_epi32(state1, 0xB1);
    state0 = _mm_blend_epi16(tmp, state1, 0xF0); /* A B C D */
    state1 = _mm_alignr_epi8(state1, tmp, 8);    /* E F G H */
    _mm_storeu_si128((__m128i *)&state[0], state0);
    _mm_storeu_si128((__m128i *)&state[4], state1);
}

/* The SHA-256 of p[0:n] into out[0:32]. Only when omen_sha256_hw() is true. */
static void omen_sha256(const unsigned char *p, size_t n, unsigned char out[32]) {
    uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const size_t full = n / 64, rest = n % 64;
    unsigned char tail[128];
    /* The padding: 0x80, zeros, and the length in bits as a big-endian u64, to a block edge. */
    const size_t tail_size = rest + 1 + 8 <= 64 ? 64 : 128;
    const uint64_t bits = (uint64_t)n * 8;
    int i;
    omen_sha256_blocks(state, p, full);
    memcpy(tail, p + full * 64, rest);
    tail[rest] = 0x80;
    memset(tail + rest + 1, 0, tail_size - rest - 1 - 8);
    for (i = 0; i < 8; i++) {
        tail[tail_size - 1 - i] = (unsigned char)(bits >> (8 * i));
    }
    omen_sha256_blocks(state, tail, tail_size / 64);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(state[i] >> 24);
        out[4 * i + 1] = (unsigned char)(state[i] >> 16);
        out[4 * i + 2] = (unsigned char)(state[i] >> 8);
        out[4 * i + 3] = (unsigned char)state[i];
    }
}

#else

static void omen_sha256(const unsigned char *p, size_t n, unsigned char out[32]) {
    /* Never called: omen_sha256_hw() is false here. */
    (void)p;
    (void)n;
    memset(out, 0, 32);
}

#endif

#endif /* OMEN_SHA256_H */
