/*
 * ff_internal.h -- what every kernel file shares: the dtype templating, the OpenMP
 * policy, deterministic reduction blocking and run-time CPU dispatch. Not public.
 */
#ifndef FF_INTERNAL_H
#define FF_INTERNAL_H

#include "fastfit.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <tgmath.h>  /* sqrt/exp/log1p/... pick float or double from FF_T: one body serves both */

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- dtype templating ------------------------------------------------------------
 * A body file (csrc/<op>.inc) is written once against FF_T and FF_FN(name); the .c file
 * includes it through ff_instantiate.h, which defines FF_T = float / FF_SUFFIX = f32 and
 * then FF_T = double / FF_SUFFIX = f64. */
#define FF_CAT_(a, b) a##_##b
#define FF_CAT(a, b) FF_CAT_(a, b)
#define FF_FN(name) FF_CAT(name, FF_SUFFIX)
#define FF_C(x) ((FF_T)(x)) /* a constant in the body's dtype: keeps float math float */

/* ---- threading ---------------------------------------------------------------------
 * An OpenMP region costs ~1.3 us on 2 threads; a loop over fewer elements than this
 * runs serially. Tuned for elementwise work (~1 ns/element/thread). */
#define FF_PARALLEL_MIN 32768
/* The same for the input finiteness check (ff_count_nonfinite: see there). */
#define FF_PARALLEL_MIN_CHECK (1 << 20)

/* CSR rows with this many non-zeros or more keep four partial sums in a dot product with
 * a dense vector (sparse_dot.inc). */
#define FF_CSR_DOT_SPLIT 8

/* The one-vector CSR products (ff_csr_matvec / ff_csr_tmatvec: once per iteration of an
 * iterative solver, with NumPy between the calls) take threads only from this many
 * non-zeros plus rows (~1 ms of gathers). Below it a parallel call saved less than it
 * cost the serial work after it: Ridge's CG on 2000 x 2^18 (53k non-zeros) ran 122 ms on
 * two threads and 47 ms on one, the woken worker spinning on the core the caller's next
 * serial product then needed. */
#define FF_CSR_VEC_PARALLEL_MIN (1 << 20)

/* Row blocks of a CSR scatter (X^T u: ff_csr_tmatvec, the binary logistic gradient): each
 * block scatters its rows into its own partial of `in` values, and the partials are
 * added in block order, so the result depends on the shape alone, never on the thread
 * count. FF_CSR_SCATTER_BLOCKS blocks for a scatter big enough for threads whose
 * non-zeros outnumber the partials' values that many times over, else one (a serial
 * scatter: zeroing and adding partials would cost more than the scatter, e.g. a few
 * hundred rows over 70000 columns). */
#define FF_CSR_SCATTER_BLOCKS 4
static inline int ff_csr_scatter_blocks(int64_t nnz, int64_t n, int64_t in) {
    return nnz + n >= FF_CSR_VEC_PARALLEL_MIN && nnz >= FF_CSR_SCATTER_BLOCKS * in
               ? FF_CSR_SCATTER_BLOCKS : 1;
}

/* `#pragma omp parallel for if (cond)` still starts a one-thread team when cond is false:
 * libgomp allocates and frees a team per call, ~0.4 us, which was most of a 64-value
 * finiteness check and a fixed cost in every small training kernel. FF_FOR_IF runs the
 * same loop plainly instead; `clauses` are the `omp parallel for` clauses. */
#define FF_PRAGMA_(text) _Pragma(#text)
#define FF_FOR_IF(cond, clauses, ...)                                                    \
    do {                                                                                 \
        if (cond) {                                                                      \
            FF_PRAGMA_(omp parallel for clauses)                                         \
            __VA_ARGS__                                                                  \
        } else {                                                                         \
            __VA_ARGS__                                                                  \
        }                                                                                \
    } while (0)

static inline int ff_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static inline int ff_thread_num(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static inline int ff_team_size(void) {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

#define FF_INLINE static inline __attribute__((always_inline))

/* Thread spans are cut on multiples of this many elements (256 bytes of f32): every
 * span then starts at the same alignment as the buffer, so the split between a vector
 * body and its scalar tail -- and with it where FMA contraction may differ -- does not
 * move with the thread count. Elementwise results are bitwise equal for any count. */
#define FF_SPAN_UNIT 64

/* [*begin, *end) of thread t among nt over n elements. */
static inline void ff_span(int64_t n, int t, int nt, int64_t *begin, int64_t *end) {
    int64_t units = (n + FF_SPAN_UNIT - 1) / FF_SPAN_UNIT;
    int64_t per = units / nt, rem = units % nt;
    int64_t ub = t * per + (t < rem ? t : rem);
    int64_t ue = ub + per + (t < rem ? 1 : 0);
    int64_t b = ub * FF_SPAN_UNIT, e = ue * FF_SPAN_UNIT;
    *begin = b < n ? b : n;
    *end = e < n ? e : n;
}

/* Run CALL over [0, n) as spans [lo, hi): the whole range on the calling thread below
 * min_n elements, else one ff_span per thread. CALL should be a FF_CLONES function:
 * gcc outlines an OpenMP region's body into a function of its own that does NOT
 * inherit target_clones, so ISA-specific loops must sit in a function called from
 * inside the region (a cloned function holding the region runs it as baseline SSE2). */
#define FF_PARALLEL_SPANS(n, min_n, lo, hi, CALL)                                  \
    do {                                                                           \
        if ((n) < (min_n) || ff_threads() == 1) {                                  \
            const int64_t lo = 0, hi = (n);                                        \
            CALL;                                                                  \
        } else {                                                                   \
            _Pragma("omp parallel")                                                \
            {                                                                      \
                int64_t lo, hi;                                                    \
                ff_span((n), ff_thread_num(), ff_team_size(), &lo, &hi);           \
                CALL;                                                              \
            }                                                                      \
        }                                                                          \
    } while (0)

/* Deterministic reductions: a sum over n values is cut into fixed blocks of this many,
 * each block summed serially, then the block sums added in block order -- the same
 * result whatever the thread count. */
#define FF_REDUCE_BLOCK 4096

/* ---- per-thread scratch ------------------------------------------------------------
 * A 64-byte aligned block of at least `need` bytes, private to the calling thread and
 * kept for its next call (runtime.c); NULL when out of memory. A kernel owns its slot
 * for the duration of one call, so kernels that may run inside one another's calls
 * take different slots. */
enum { FF_SCRATCH_BATCHNORM, FF_SCRATCH_GEMM, FF_SCRATCH_SPARSE, FF_SCRATCH_PREDICT,
       FF_SCRATCH_STEP, FF_SCRATCH_SLOTS };
void *ff_thread_scratch(int slot, size_t need);

/* ---- data-parallel batch norm (batchnorm.inc; called by the engine) -----------------
 * ff_batchnorm_forward/backward over the global batch of a data-parallel fit: the
 * per-channel sums go through d->allreduce (see ff_dist). n may be 0 (this rank holds
 * no row of the batch; it still takes part in the collective). */
#define FF_BN_DIST_DECL(T, S)                                                                \
    int ff_batchnorm_forward_dist_##S(T *y, T *mean, T *rstd, T *running_mean,               \
                                      T *running_var, const T *x, const T *gamma,            \
                                      const T *beta, const T *shift, int64_t n, int64_t c,    \
                                      T eps, T momentum, const ff_dist *d);                  \
    int ff_batchnorm_backward_dist_##S(T *dx, T *dgamma, T *dbeta, const T *dy, const T *x,  \
                                       const T *gamma, const T *mean, const T *rstd,          \
                                       int64_t n, int64_t c, const ff_dist *d);
FF_BN_DIST_DECL(float, f32)
FF_BN_DIST_DECL(double, f64)
#undef FF_BN_DIST_DECL

/* ---- a share of a batch's loss (loss.inc; called by the engine's blocked step) ------
 * The loss `kind` (enum ff_loss_kind) of n rows fused with its gradient, as the public
 * loss functions compute it, but with the mean taken over a whole batch of weight
 * batch_sumw > 0 that these rows are part of: *share is their share of its loss
 * (batch_sumw = 0: the rows are the whole batch, *share its loss). */
#define FF_LOSS_SHARE_DECL(T, S)                                                             \
    int ff_loss_share_##S(int kind, double *share, T *dpred, const T *pred, const T *target, \
                          const int64_t *labels, const T *weight, int64_t n, int64_t k,       \
                          T delta, double batch_sumw);
FF_LOSS_SHARE_DECL(float, f32)
FF_LOSS_SHARE_DECL(double, f64)
#undef FF_LOSS_SHARE_DECL

/* ---- argument checks --------------------------------------------------------------- */
#define FF_CHECK(cond) \
    do {                    \
        if (!(cond)) return FF_EBADARG; \
    } while (0)

/* ---- run-time CPU dispatch -----------------------------------------------------------
 * gcc builds one clone per ISA level and the loader picks one (ifunc). Only on x86-64
 * glibc with gcc; elsewhere the plain portable function is built. Never -march=native. */
/* gcc on x86-64: `#pragma GCC target`, target attributes and __builtin_cpu_supports are
 * available (the GEMM micro-kernels and batch norm's streaming stores use them). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FF_X86_GCC 1
#else
#define FF_X86_GCC 0
#endif

#if FF_X86_GCC && defined(__GLIBC__) && !defined(FF_NO_CLONES)
#define FF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FF_CLONES
#endif

#endif /* FF_INTERNAL_H */
