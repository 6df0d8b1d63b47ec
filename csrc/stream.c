/*
 * stream.c -- diagnostics: a STREAM-style triad used by benchmarks/bench_bandwidth.py
 * to measure the memory bandwidth the streaming kernels are compared against. Kept in
 * the library (not a test helper) so it is compiled with the kernels' flags and
 * dispatch, and so the benchmark measures what the kernels can actually get.
 */
#include "ff_internal.h"

static FF_CLONES void ff_triad_loop(float *restrict a, const float *restrict b,
                                    const float *restrict c, int64_t n, float s) {
#pragma omp parallel for simd schedule(static) if (n >= FF_PARALLEL_MIN)
    for (int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
}

int ff_stream_triad_f32(float *a, const float *b, const float *c, int64_t n, float s) {
    FF_CHECK(n >= 0);
    if (n == 0) return FF_OK;
    FF_CHECK(a && b && c);
    ff_triad_loop(a, b, c, n, s);
    return FF_OK;
}
