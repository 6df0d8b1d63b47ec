/*
 * gemm.c -- fastfit's own GEMM (no BLAS): c = act(alpha*op(a)@op(b) + beta*c + bias)
 * for float and double, with run-time choice among a portable, an AVX2+FMA and an
 * AVX-512 micro-kernel. The dtype bodies are in gemm.inc, the per-ISA kernels in
 * gemm_kernel.inc; this file holds the path selection shared by both dtypes.
 */
#include "ff_internal.h"

#include <stdlib.h>

/* The x86 variants need gcc's `#pragma GCC target` and __builtin_cpu_supports; every
 * other compiler/target builds the portable variant only. */
#define FF_GEMM_X86 FF_X86_GCC

/* Below this many multiply-adds (~5 us on one core at ~100 GFLOP/s) a product runs on
 * one thread. On a quiet machine a region costs ~1.3 us, so threads would pay from ~250k
 * FMAs; but when another process holds a core, every barrier waits for a descheduled
 * partner for a scheduler slice (ms): the digits demo's 64x64x128 products ran 25x
 * slower on 2 threads than on 1 with one other busy process. Was 1M; halved so the
 * 256x256x10 output-layer products of a batch-256 MLP (655k) split too (W1 step -18 us
 * of ~880, 3 products); the trainer runs small models on one thread anyway and drops to
 * one on an oversubscribed machine. */
#define FF_GEMM_PARALLEL_MIN_FMA 524288.0

/* With A stored transposed, these products go to the M-vectorised kernel
 * (gemm_narrow.inc): always up to NARROW_N columns (the panel kernel pads N to whole
 * vectors and repacks A), and at long K (which hides the transposed write of C) up to
 * NARROW_N_LONGK columns, or any N when M is at most NARROW_M (A^T then stays in L2 and
 * the kernel is a plain GEMM without packing or barriers). Measured on Zen 4, 1 thread:
 * 256x256 by N=10 2.4x faster; N=64 at K=256 ~10% faster, at K=32 ~10% slower; M=32..128
 * by K=256..1024 by N=128..1024 even to 7% faster (and no barrier to stall on). */
#define FF_GEMM_NARROW_N 24
#define FF_GEMM_NARROW_N_LONGK 64
#define FF_GEMM_NARROW_M 128
#define FF_GEMM_NARROW_LONGK 128
/* ... any N only while A^T (K x M) is at most NARROW_A_BYTES, the size at which "stays in
 * L2" was measured; past it the kernel re-reads A^T from L3 for every column block, and
 * keeps it up to NARROW_N_BIG_A columns. Measured on 4096 x 100 float64 Gram chunks (3.2
 * MB), 2 threads, narrow against packed: N = 101 1245 / 1170 us, but whole fits 20%
 * faster narrow next to scikit-learn's BLAS (the packed kernel's barriers wait on its
 * spinning workers); N = 202 2473-2680 / 2369 us; N = 303 4270-5751 / 3483 us. */
#define FF_GEMM_NARROW_A_BYTES (512 * 1024)
#define FF_GEMM_NARROW_N_BIG_A 128
/* ... and the narrow kernel sums a larger A^T in K blocks of half that size, at least
 * this many rows (gemm_narrow.inc). */
#define FF_GEMM_NARROW_MIN_KBLOCK 256

/* ff_gram over many rows runs fixed row chunks, one thread each, into partials added in
 * chunk order: no barrier per K block (782 of them at 200k rows, 10-40% of a 2-thread
 * Gram at p = 100 on a VM; and where another process's threads hold a core, as a BLAS
 * pool spinning after its call does, each barrier waits a scheduler slice: a 2000 x 51
 * Gram took 1.5 ms against 0.17). Chunks of at least GRAM_CHUNK_ROWS rows, at most
 * GRAM_MAX_CHUNKS, their partials within GRAM_PARTIAL_BYTES. Below GRAM_MIN_CHUNKS chunks
 * the threads share the tiles of one product instead. Either way, more than one thread
 * only from GRAM_PARALLEL_MIN_FMA multiply-adds (~0.3 ms on one core) on. The chunks
 * follow (n, p, dtype) alone: the same bits for any thread count. */
#define FF_GRAM_CHUNK_ROWS 512
#define FF_GRAM_MAX_CHUNKS 32
#define FF_GRAM_MIN_CHUNKS 8
#define FF_GRAM_PARTIAL_BYTES (32.0 * 1024 * 1024)
#define FF_GRAM_PARALLEL_MIN_FMA 8e6

/* With A stored (M,K), products at most DOT_N wide (DOT_N_LONGK when K is long), with K
 * long enough for a few vectors, are dot products along K (gemm_narrow.inc) instead of N
 * padded to whole vectors. Measured on Zen 4, 1 thread, f32 256x256 by N: N=1 5.2x, N=2
 * 4.0x, N=4 3.0x, N=8 1.6x, N=10..12 1.15x faster, N=16 slower; f64 N=8 even; at K=64
 * N=8 1.2x faster, N=10 slower; K=17 slower. */
#define FF_GEMM_DOT_N 8
#define FF_GEMM_DOT_N_LONGK 12
#define FF_GEMM_DOT_LONGK 128
#define FF_GEMM_DOT_MIN_K 32

static int ff_gemm_path_now = FF_GEMM_PATH_AUTO; /* AUTO until first use or a set_path */

int ff_gemm_best_path(void) {
#if FF_GEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
        return FF_GEMM_PATH_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return FF_GEMM_PATH_AVX2;
#endif
    return FF_GEMM_PATH_GENERIC;
}

int ff_gemm_set_path(int path) {
    FF_CHECK(path >= FF_GEMM_PATH_AUTO && path <= FF_GEMM_PATH_AVX512);
    /* the paths are ordered: a CPU that has AVX-512 also has AVX2 */
    FF_CHECK(path <= ff_gemm_best_path());
    __atomic_store_n(&ff_gemm_path_now, path, __ATOMIC_RELAXED);
    return FF_OK;
}

int ff_gemm_get_path(void) {
    int path = __atomic_load_n(&ff_gemm_path_now, __ATOMIC_RELAXED);
    return path == FF_GEMM_PATH_AUTO ? ff_gemm_best_path() : path;
}

#define FF_BODY "gemm.inc"
#include "ff_instantiate.h"
