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
/* A prediction thread's chunk workspace up to this size is its kept scratch: a fresh
 * malloc is fresh pages, whose faults cost ~2% of a 4096-row call of a 64-256-256-10 MLP
 * (600 kB a thread). Wider models allocate theirs per call, so no thread keeps more. */
#define FF_PREDICT_KEPT ((size_t)4 << 20)

/* Whether flags are output-function flags (at most one) plus those of `extra`. */
static int ff_predict_flags_ok(int flags, int extra) {
    const int output = FF_PREDICT_SOFTMAX | FF_PREDICT_SIGMOID;
    return flags >= 0 && (flags & ~(output | extra)) == 0 && (flags & output) != output;
}

/* The calling thread's chunk workspace of `bytes`; *owned is what the caller frees (NULL
 * for the kept scratch). NULL when out of memory. */
static void *ff_predict_workspace(size_t bytes, void **owned) {
    *owned = NULL;
    if (bytes <= FF_PREDICT_KEPT) return ff_thread_scratch(FF_SCRATCH_PREDICT, bytes);
    *owned = malloc(bytes);
    return *owned;
}

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

/* ---- the epoch's rules, one definition for every backend (see fastfit.h) ---------- */
int64_t ff_batch_count(int64_t n, int64_t batch_size, int merge_single) {
    if (n < 1 || batch_size < 1) return 0;
    const int64_t nb = (n + batch_size - 1) / batch_size;
    return merge_single && n > 1 && n % batch_size == 1 ? nb - 1 : nb;
}

int ff_batch_bounds(int64_t *lo, int64_t *hi, int64_t b, int64_t n, int64_t batch_size,
                    int merge_single) {
    /* past the epoch's last batch (a lone last row merged away included): refused */
    FF_CHECK(lo && hi && b >= 0 && b < ff_batch_count(n, batch_size, merge_single));
    const int64_t start = b * batch_size;
    int64_t end = start + batch_size < n ? start + batch_size : n;
    if (merge_single && n - end == 1) end = n; /* batch norm cannot normalise one row */
    *lo = start;
    *hi = end;
    return FF_OK;
}

uint64_t ff_dropout_offset(int64_t step, int64_t mask_width, int64_t capacity) {
    return (uint64_t)step * (uint64_t)(mask_width * capacity);
}

int ff_step_coefficients(double *weight_decay, double *eps, int32_t sklearn, int32_t optimizer,
                         int32_t decoupled, double beta2, int64_t step, double wsum) {
    FF_CHECK(weight_decay && eps);
    if (sklearn && !decoupled) *weight_decay = *weight_decay / wsum;
    if (sklearn && optimizer == FF_OPTIM_ADAM) *eps = *eps / sqrt(1.0 - pow(beta2, (double)step));
    return FF_OK;
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
        int64_t glo, ghi;
        const int st = ff_batch_bounds(&glo, &ghi, b, n, bs, merge_single);
        if (st != FF_OK) return st;
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

/* What a step's forward, loss and backward leave besides the gradient: the batch's mean
 * loss, weight, rows and hits (over every rank in a data-parallel step). have_loss: the
 * loss was computed (a failed forward pass computes none); skip: the (global) batch
 * weighs zero and teaches nothing. */
struct ff_step_sums {
    double loss, wsum, rows;
    int64_t hits, counted;
    int have_loss, skip;
};

/* One block's outcome: its share of the batch's loss, its hits, and its status with the
 * stage that set it (0 forward, 1 loss, 2 backward). */
struct ff_block_result {
    double share;
    int64_t hits, counted;
    int st, stage;
};

#define FF_BODY "engine.inc"
#include "ff_instantiate.h"
