/*
 * engine.c -- the training engine: runs a model's plan (an array of ff_op compiled by
 * fastfit.nn) forward and backward over flat buffers, and whole epochs of training --
 * shuffle, gather, forward, loss, backward, clip, optimizer step -- in one call that
 * holds no Python lock. Every step is a sequence of the kernels in the other files, so
 * the engine is exactly as deterministic as they are: the same bits for any thread
 * count. The body for both dtypes is engine.inc.
 */
#include "ff_internal.h"

#include <stdlib.h>

/* Rows the evaluation-mode forward pass pushes through its workspace at once: enough
 * for the GEMMs to run at speed and in parallel, small enough to stay in L2. */
#define FF_PREDICT_CHUNK 256

/* Run the body on `want` threads (the caller's own setting comes back afterwards:
 * omp_set_num_threads changes the calling thread's ICV, which the next caller sees). */
static int ff_enter_threads(int want) {
    const int prev = ff_threads();
#ifdef _OPENMP
    if (want > 0 && want != prev) omp_set_num_threads(want);
#else
    (void)want;
#endif
    return prev;
}

static void ff_leave_threads(int prev) {
#ifdef _OPENMP
    if (omp_get_max_threads() != prev) omp_set_num_threads(prev);
#else
    (void)prev;
#endif
}

/* A data-parallel step's place in its global batch (a NULL ff_dstep: a step of one
 * process): the first of the rank's rows is row row0 of the global batch, whose dropout
 * counters span cap rows, exactly as in one process. A rank may hold none of a batch's
 * rows (a global batch smaller than the ranks): its plan then runs only the
 * collectives, so every rank makes the same calls. */
typedef struct {
    const ff_dist *d;
    int64_t cap, row0;
} ff_dstep;

/* Rows [lo, hi) of this rank's epoch order that batch b takes (see ff_dist). Replicated:
 * the global batch is cut as in one process and rank r takes its r-th share of it.
 * Sharded: every rank's own rows are cut into d->n_batches near-equal chunks. */
static int ff_dist_slice(ff_dstep *ds, const ff_dist *d, int64_t b, int64_t n, int64_t bs,
                         int merge_single, int64_t *lo, int64_t *hi) {
    const int64_t r = d->rank, nr = d->n_ranks;
    ds->d = d;
    ds->cap = d->cap;
    if (!d->sharded) {
        const int64_t glo = b * bs;
        if (glo >= n) return FF_EBADARG;
        int64_t ghi = glo + bs < n ? glo + bs : n;
        if (merge_single && n - ghi == 1) ghi = n;
        const int64_t g = ghi - glo;
        ds->row0 = g * r / nr;
        *lo = glo + ds->row0;
        *hi = glo + g * (r + 1) / nr;
        return FF_OK;
    }
    const int64_t nb = d->n_batches;
    if (b >= nb || d->counts[r] != n) return FF_EBADARG;
    ds->row0 = 0;
    for (int64_t q = 0; q < r; q++)
        ds->row0 += d->counts[q] * (b + 1) / nb - d->counts[q] * b / nb;
    *lo = n * b / nb;
    *hi = n * (b + 1) / nb;
    return FF_OK;
}

#define FF_BODY "engine.inc"
#include "ff_instantiate.h"
