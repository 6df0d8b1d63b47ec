/*
 * ff_random.h -- Philox4x32-10 (Salmon et al., SC'11), the counter-based generator
 * behind shuffle, dropout and initialisation. A draw depends only on (key, counter),
 * never on which thread makes it, so results are identical for any thread count, and
 * the CUDA twins can reproduce the same stream.
 *
 * Checked against Random123's published known-answer vectors (kat_vectors, philox4x32
 * 10: zero, all-ones and pi counters/keys) in tests/test_data.py; the counter is
 * (c0, c1, c2, c3) = (ctr_lo, ctr_lo >> 32, ctr_hi, ctr_hi >> 32), the key (k0, k1) =
 * (key, key >> 32).
 *
 * Counter use: ctr_hi names a stream, ctr_lo indexes within it. ff_philox_u32 reads
 * stream 0, ff_shuffle_i64 the caller's stream, ff_init the stream below -- a fixed tag,
 * so weights drawn with the same seed as a shuffle or a dropout mask are unrelated to
 * them.
 */
#ifndef FF_RANDOM_H
#define FF_RANDOM_H

#include <stdint.h>

typedef struct {
    uint32_t v[4];
} ff_philox_block;

static inline void ff_philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

/* The stream (ctr_hi) of ff_init: "init" in the high word. */
#define FF_PHILOX_DOMAIN_INIT (UINT64_C(0x696E6974) << 32)

/* One 128-bit block for 128-bit counter (ctr_lo, ctr_hi) under 64-bit key. */
static inline ff_philox_block ff_philox4x32(uint64_t key, uint64_t ctr_lo, uint64_t ctr_hi) {
    uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32);
    uint32_t c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; ++round) {
        uint32_t hi0, lo0, hi1, lo1;
        ff_philox_mulhilo(0xD2511F53u, c0, &hi0, &lo0);
        ff_philox_mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    ff_philox_block out = {{c0, c1, c2, c3}};
    return out;
}

/* The i-th 32-bit word of the stream (key, stream): word i%4 of block i/4. */
static inline uint32_t ff_philox_word(uint64_t key, uint64_t stream, uint64_t i) {
    ff_philox_block b = ff_philox4x32(key, i >> 2, stream);
    return b.v[i & 3];
}

/* Uniform in [0,1) with 24 (float) or 53 (double) random bits. */
static inline float ff_u32_to_unit_f32(uint32_t u) { return (float)(u >> 8) * 0x1.0p-24f; }
static inline double ff_u64_to_unit_f64(uint64_t u) { return (double)(u >> 11) * 0x1.0p-53; }

#endif /* FF_RANDOM_H */
