/*
 * batchnorm.c -- batch normalisation over the rows of an (N,C) row-major matrix:
 * training forward (batch statistics, running-statistics update), inference forward
 * and backward. Memory-bound; how it stays near streaming speed is explained at the top
 * of batchnorm.inc, which holds the body for both dtypes.
 */
#include "ff_internal.h"

#include <stdlib.h>

/* A reduction block holds at least this many elements (and at least 64 rows): column
 * sums are formed per block of rows and the block sums added in block order, whichever
 * thread computed them. Per-block partials cost 16 bytes per column, i.e. at most
 * 4/64 of the data for 64-row blocks and usually far less. */
#define FF_BN_BLOCK_ELEMS 16384
/* At most this many blocks: bounds the scratch for very long batches. */
#define FF_BN_MAX_BLOCKS 256
/* Below this many elements everything runs on the calling thread (a few microseconds in
 * L1/L2). From 32k up the blocks (>= FF_BN_BLOCK_ELEMS, >= 64 rows) are split among the
 * threads: a batch-256 x 256 layer's forward + backward went 46 -> 37 us on 2 threads
 * (with 64k-element blocks it was one block, i.e. serial). */
#define FF_BN_PARALLEL_MIN (1 << 15)

/* Outputs of at least this many bytes, with rows of at least FF_BN_NT_MIN_ROW bytes, are
 * written with non-temporal stores where the CPU has AVX-512 (see batchnorm.inc). */
#ifndef FF_BN_NT_MIN_BYTES
#define FF_BN_NT_MIN_BYTES ((int64_t)8 << 20)
#endif
#define FF_BN_NT_MIN_ROW 256

#if FF_X86_GCC
#include <immintrin.h>
#define FF_BN_NT 1
/* The non-temporal store of a 64-byte GCC vector of either dtype (both branches must
 * compile for both; the vector casts are bit reinterpretations). */
#define FF_BN_STREAM512(p, v)                                                    \
    _Generic((p), float *: _mm512_stream_ps((float *)(p), (__m512)(v)),       \
             double *: _mm512_stream_pd((double *)(p), (__m512d)(v)))

static int ff_bn_use_nt(int64_t bytes, int64_t row_bytes) {
    static int avx512 = -1; /* every thread that races here stores the same value */
    if (bytes < FF_BN_NT_MIN_BYTES || row_bytes < FF_BN_NT_MIN_ROW) return 0;
    int have = __atomic_load_n(&avx512, __ATOMIC_RELAXED);
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("x86-64-v4") ? 1 : 0;
        __atomic_store_n(&avx512, have, __ATOMIC_RELAXED);
    }
    return have;
}

/* Non-temporal stores are weakly ordered: fence before anyone else may read the output. */
static void ff_bn_stream_fence(void) { _mm_sfence(); }
#else
#define FF_BN_NT 0
static int ff_bn_use_nt(int64_t bytes, int64_t row_bytes) {
    (void)bytes, (void)row_bytes;
    return 0;
}
static void ff_bn_stream_fence(void) {}
#endif

/* Software prefetch distance of the statistics passes (see batchnorm.inc), and the pass
 * size from which they prefetch at all (below it the data come from L2/L3). */
#define FF_BN_PF_BYTES 8192
#define FF_BN_PF_MIN_BYTES ((int64_t)2 << 20)

#define FF_BODY "batchnorm.inc"
#include "ff_instantiate.h"
