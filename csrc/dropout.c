/*
 * dropout.c -- inverted dropout with a counter-based mask: element i is kept iff the
 * Philox4x32-10 word at (seed, stream 0, offset + i) is >= ceil(p * 2^32). The mask is a
 * pure function of (seed, offset, i), so it is the same for any thread count, and the
 * threshold is computed from p rounded to float, so f32 and f64 calls with the same p
 * give the same mask. The body lives in dropout.inc.
 */
#include "ff_internal.h"
#include "ff_random.h"

/* Philox costs ~10 multiply rounds per 4 elements: parallel from fewer elements than
 * the plain streaming kernels. */
#define FF_DROPOUT_PARALLEL_MIN 8192

/* The keep threshold on the 32-bit word, shared by both dtypes (p rounded to float so
 * that float 0.1f and double 0.1 agree). p == 0 gives 0: every word is kept. */
static inline uint64_t ff_dropout_threshold(double p) {
    return (uint64_t)ceil((double)(float)p * 4294967296.0);
}

/* Mask for elements [i0, i1) of a call at `offset`: one Philox block serves four
 * consecutive counters, so the block is computed once per four elements. */
static void ff_dropout_mask(uint8_t *restrict mask, int64_t i0, int64_t i1, uint64_t seed,
                            uint64_t offset, uint64_t thr) {
    int64_t i = i0;
    while (i < i1) {
        uint64_t ctr = offset + (uint64_t)i;
        ff_philox_block b = ff_philox4x32(seed, ctr >> 2, 0);
        for (unsigned w = (unsigned)(ctr & 3); w < 4 && i < i1; ++w, ++i)
            mask[i] = (uint64_t)b.v[w] >= thr;
    }
}

#define FF_BODY "dropout.inc"
#include "ff_instantiate.h"
