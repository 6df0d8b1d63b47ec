/*
 * loss.c -- the four training losses fused with their gradient (MSE, Huber, binary
 * cross-entropy on logits, softmax cross-entropy). One pass over the predictions
 * writes dpred and accumulates the loss in double; the loss is a weighted mean over
 * rows of the per-row mean over K outputs (see csrc/fastfit.h). Bodies in loss.inc.
 */
#include "ff_internal.h"

#include <math.h>

/* Which loss a templated driver runs is an enum ff_loss_kind (fastfit.h). The driver
 * is always inlined with a constant kind, so every switch on it folds away and each
 * exported function is specialised. */

/* The loss is summed over fixed row blocks whose size depends only on (n, k), never
 * on the thread count; block sums land in a stack array and are added in block order.
 * Capping the block count keeps that array on the stack (no allocation, no ENOMEM). */
#define FF_LOSS_MAX_BLOCKS 512

/* Losses costing a transcendental or two per element (bce, softmax) are worth
 * threads at fewer elements than plain streaming ones. */
#define FF_LOSS_PARALLEL_MIN_TRANSCENDENTAL (FF_PARALLEL_MIN / 8)


/* The two loops of an elementwise loss span (see ff_loss_span in loss.inc), with and
 * without the gradient. BODY sets FF_T gr and double l for element j; GSCALE scales gr
 * into g[j] and LWEIGHT weights l. `omp simd reduction` lets the compiler keep one double
 * partial sum per vector lane: an order fixed by the compiled code (so the same for any
 * thread count), where a strict left-to-right sum is add-latency bound. */
#define FF_LOSS_LOOPS(GSCALE, LWEIGHT, ...)                      \
    if (g) {                                                     \
        _Pragma("omp simd reduction(+ : acc)")                   \
        for (int64_t j = 0; j < m; ++j) {                        \
            __VA_ARGS__                                          \
            g[j] = (GSCALE) * gr;                                \
            acc += (LWEIGHT) * l;                                \
        }                                                        \
    } else {                                                     \
        _Pragma("omp simd reduction(+ : acc)")                   \
        for (int64_t j = 0; j < m; ++j) {                        \
            __VA_ARGS__                                          \
            (void)gr;                                            \
            acc += (LWEIGHT) * l;                                \
        }                                                        \
    }

/* Unweighted (or one weight for the whole span, folded into scale). */
#define FF_LOSS_SPAN(...) FF_LOSS_LOOPS(scale, 1.0, __VA_ARGS__)
/* Per-element weights w[j], for one output per row (K = 1: regression and binary
 * classification with sample or class weights): one flat loop instead of a call per
 * row. scale is then 1 / sum(w). */
#define FF_LOSS_SPAN_W(...) FF_LOSS_LOOPS(scale * w[j], (double)w[j], __VA_ARGS__)

#define FF_BODY "loss.inc"
#include "ff_instantiate.h"
