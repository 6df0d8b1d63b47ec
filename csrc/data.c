/*
 * data.c -- the data-side kernels of a training epoch: gathering a batch's rows by
 * index, the Fisher-Yates shuffle that orders an epoch, weight initialisation, the
 * raw Philox stream, and a cheap count of non-finite values for input validation.
 * Every random draw comes from the counter-based Philox4x32-10 (ff_random.h), so
 * results depend on (seed, counter) only: identical for any thread count.
 * The dtype-templated kernels are in data.inc; the integer ones are below.
 */
#include "ff_internal.h"
#include "ff_random.h"

#include <math.h>
#include <stdlib.h>

/* Same-width unsigned integers and exponent masks for the bit-level finiteness test,
 * picked per instantiation by pasting FF_SUFFIX (FF_BITS(f32) -> uint32_t). */
#define FF_PASTE_(a, b) a##b
#define FF_PASTE(a, b) FF_PASTE_(a, b)
#define FF_BITS_f32 uint32_t
#define FF_BITS_f64 uint64_t
#define FF_EXPMASK_f32 UINT32_C(0x7F800000)
#define FF_EXPMASK_f64 UINT64_C(0x7FF0000000000000)
#define FF_BITS_T FF_PASTE(FF_BITS_, FF_SUFFIX)
#define FF_EXPMASK FF_PASTE(FF_EXPMASK_, FF_SUFFIX)

/* One initialisation draw for counter ctr: a standard normal (Box-Muller, cosine branch)
 * or a uniform in [-1, 1). Computed in double for both dtypes, so float weights are the
 * double weights rounded, and the CUDA twins can reproduce either from the same words.
 * The block's four words make two 53-bit uniforms; u1 is shifted to (0, 1] so log(u1)
 * is finite (|z| <= sqrt(2 * 53 ln 2) ~ 8.6). */
static inline double ff_init_draw(uint64_t seed, uint64_t ctr, int normal) {
    ff_philox_block blk = ff_philox4x32(seed, ctr, FF_PHILOX_DOMAIN_INIT);
    uint64_t a = (uint64_t)blk.v[0] | ((uint64_t)blk.v[1] << 32);
    uint64_t b = (uint64_t)blk.v[2] | ((uint64_t)blk.v[3] << 32);
    if (!normal) return 2.0 * ff_u64_to_unit_f64(a) - 1.0;
    double u1 = (double)((a >> 11) + 1) * 0x1.0p-53;
    double u2 = ff_u64_to_unit_f64(b);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

#define FF_BODY "data.inc"
#include "ff_instantiate.h"

int ff_gather_i64(int64_t *out, const int64_t *x, const int64_t *idx, int64_t b, int64_t n) {
    FF_CHECK(b >= 0 && n >= 0);
    if (b == 0) return FF_OK;
    FF_CHECK(out != NULL && x != NULL && idx != NULL);
    int bad = 0;
    FF_FOR_IF(b >= FF_PARALLEL_MIN, schedule(static) reduction(| : bad),
        for (int64_t r = 0; r < b; ++r) {
            int64_t s = idx[r];
            if (s < 0 || s >= n) {
                bad = 1;
                continue;
            }
            out[r] = x[s];
        });
    return bad ? FF_EBADARG : FF_OK;
}

/* ---- shuffle ----------------------------------------------------------------------------
 * Fisher-Yates from the back: for i = n-1 .. 1, swap perm[i] with perm[j], j uniform in
 * [0, i]. j comes from Lemire's multiply-shift: j = (x * (i+1)) >> 32 for a 32-bit word x
 * (64-bit words and a 128-bit product once i+1 exceeds 32 bits), rejecting the x whose
 * low product word falls below 2^32 mod (i+1) -- that rejection is what makes j exactly
 * uniform instead of slightly biased.
 *
 * Words for position i: the four words of the Philox block at counter (i, stream) first;
 * a rejection that exhausts them moves on to blocks at counters (i + r * 2^48, stream),
 * r = 1, 2, ..., a range no position uses since n <= 2^48. A word is rejected with
 * probability < (i+1) / 2^32, so retry blocks are rare, and after 2^16 of them (2^18
 * rejections in a row, probability < 2^-262000) the last draw is kept. */
#define FF_SHUFFLE_MAX_N (INT64_C(1) << 48)
#define FF_SHUFFLE_RETRY_STEP (UINT64_C(1) << 48)
#define FF_SHUFFLE_MAX_RETRY_BLOCKS 65536u

static inline int64_t ff_shuffle_partner(uint64_t seed, uint64_t stream, uint64_t i) {
    const uint64_t range = i + 1;
    ff_philox_block blk = ff_philox4x32(seed, i, stream);
    if (range <= UINT32_MAX) {
        const uint32_t r32 = (uint32_t)range;
        uint64_t m = (uint64_t)blk.v[0] * r32;
        if ((uint32_t)m < r32) {
            const uint32_t threshold = (uint32_t)(-r32) % r32; /* 2^32 mod range */
            unsigned word = 1, retry = 0;
            while ((uint32_t)m < threshold) {
                if (word == 4) {
                    if (++retry == FF_SHUFFLE_MAX_RETRY_BLOCKS) break;
                    blk = ff_philox4x32(seed, i + retry * FF_SHUFFLE_RETRY_STEP, stream);
                    word = 0;
                }
                m = (uint64_t)blk.v[word++] * r32;
            }
        }
        return (int64_t)(m >> 32);
    }
    /* 64-bit draws from word pairs (v0,v1), (v2,v3). */
    unsigned __int128 m = (unsigned __int128)((uint64_t)blk.v[0] | ((uint64_t)blk.v[1] << 32)) * range;
    if ((uint64_t)m < range) {
        const uint64_t threshold = (-range) % range; /* 2^64 mod range */
        unsigned pair = 1, retry = 0;
        while ((uint64_t)m < threshold) {
            if (pair == 2) {
                if (++retry == FF_SHUFFLE_MAX_RETRY_BLOCKS) break;
                blk = ff_philox4x32(seed, i + retry * FF_SHUFFLE_RETRY_STEP, stream);
                pair = 0;
            }
            uint64_t x = (uint64_t)blk.v[2 * pair] | ((uint64_t)blk.v[2 * pair + 1] << 32);
            m = (unsigned __int128)x * range;
            ++pair;
        }
    }
    return (int64_t)(m >> 64);
}

/* Positions per chunk whose partners are drawn in parallel before the serial swaps. */
#define FF_SHUFFLE_CHUNK 65536

/* scikit-learn's our_rand_r (sklearn/utils/_random.pxd): xorshift32, result mod 2^31. */
static inline uint32_t ff_sklearn_rand_r(uint32_t *seed) {
    if (*seed == 0) *seed = 1;
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;
    return *seed % ((uint32_t)2147483647 + 1);
}

int ff_shuffle_sklearn_i64(int64_t *perm, int64_t n, uint32_t seed) {
    FF_CHECK(n >= 0 && n <= 2147483647);
    if (n < 2) return FF_OK;
    FF_CHECK(perm != NULL);
    for (uint32_t i = 0; i < (uint32_t)n - 1; ++i) {
        const uint32_t j = i + ff_sklearn_rand_r(&seed) % ((uint32_t)n - i);
        const int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    return FF_OK;
}

int ff_shuffle_i64(int64_t *perm, int64_t n, uint64_t seed, uint64_t stream) {
    FF_CHECK(n >= 0 && n <= FF_SHUFFLE_MAX_N);
    if (n < 2) return FF_OK;
    FF_CHECK(perm != NULL);
    if (n < FF_PARALLEL_MIN || ff_threads() == 1) {
        for (int64_t i = n - 1; i > 0; --i) {
            int64_t j = ff_shuffle_partner(seed, stream, (uint64_t)i);
            int64_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        return FF_OK;
    }
    /* Partners depend on i only, never on earlier swaps: draw a chunk of them on all
     * threads, then apply the swaps serially in the Fisher-Yates order. Same result. */
    int64_t *partner = malloc(sizeof(int64_t) * FF_SHUFFLE_CHUNK);
    if (!partner) return FF_ENOMEM;
    for (int64_t hi = n; hi > 1;) {
        int64_t lo = hi > FF_SHUFFLE_CHUNK ? hi - FF_SHUFFLE_CHUNK : 1;
#pragma omp parallel for schedule(static)
        for (int64_t i = lo; i < hi; ++i) partner[i - lo] = ff_shuffle_partner(seed, stream, (uint64_t)i);
        for (int64_t i = hi - 1; i >= lo; --i) {
            int64_t j = partner[i - lo];
            int64_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        hi = lo;
    }
    free(partner);
    return FF_OK;
}

/* ---- raw stream ---------------------------------------------------------------------------
 * Word w = offset + i is word w % 4 of the block at counter (w / 4, 0): a partial head
 * block, whole blocks (the parallel, vectorisable part), a partial tail block. Word
 * indices wrap modulo 2^64 like offset + i does, so blocks follow the words. */

/* Whole blocks [b0, b1) after first_word; cloned per ISA level (the 32x32->64 multiplies
 * vectorise well with AVX-512). It is called from inside the parallel region because gcc
 * outlines a region's body into a function that does not inherit target_clones. */
FF_CLONES static void ff_philox_blocks(uint32_t *restrict body, uint64_t seed, uint64_t first_word,
                                       int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
        ff_philox_block blk = ff_philox4x32(seed, (first_word + 4 * (uint64_t)b) >> 2, 0);
        body[4 * b + 0] = blk.v[0];
        body[4 * b + 1] = blk.v[1];
        body[4 * b + 2] = blk.v[2];
        body[4 * b + 3] = blk.v[3];
    }
}

int ff_philox_u32(uint32_t *out, int64_t n, uint64_t seed, uint64_t offset) {
    FF_CHECK(n >= 0);
    if (n == 0) return FF_OK;
    FF_CHECK(out != NULL);
    int64_t head = (int64_t)((4 - (offset & 3)) & 3);
    if (head > n) head = n;
    for (int64_t i = 0; i < head; ++i) out[i] = ff_philox_word(seed, 0, offset + (uint64_t)i);
    const uint64_t first_word = offset + (uint64_t)head;
    const int64_t nblocks = (n - head) >> 2;
    if (nblocks < FF_PARALLEL_MIN / 16) {
        ff_philox_blocks(out + head, seed, first_word, 0, nblocks);
    } else {
#pragma omp parallel
        {
            int64_t nt = 1, t = 0;
#ifdef _OPENMP
            nt = omp_get_num_threads();
            t = omp_get_thread_num();
#endif
            ff_philox_blocks(out + head, seed, first_word, nblocks * t / nt, nblocks * (t + 1) / nt);
        }
    }
    for (int64_t i = head + 4 * nblocks; i < n; ++i) out[i] = ff_philox_word(seed, 0, offset + (uint64_t)i);
    return FF_OK;
}
