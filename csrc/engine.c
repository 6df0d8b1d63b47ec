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

#define FF_BODY "engine.inc"
#include "ff_instantiate.h"
