/*
 * optim.c -- optimizer updates over one flat parameter buffer (SGD, RMSProp, Adam/AdamW,
 * the L1 proximal step) and global gradient-norm clipping. One call updates every
 * parameter of a model, whatever the number of layers, in a single fused pass: these
 * kernels are memory-bound (Adam moves 28 bytes per f32 parameter), so the whole game
 * is to touch each byte once and keep the arithmetic vectorised and off the critical path.
 *
 * The per-dtype bodies live in optim.inc; what is dtype-independent (the thread split,
 * the variant enums) lives here.
 */
#include "ff_internal.h"

#include <stdlib.h>

#if defined(__GNUC__)
#define FF_INLINE static inline __attribute__((always_inline))
#else
#define FF_INLINE static inline
#endif

/* Loop variants chosen once per call, outside the element loop: each becomes its own
 * specialised (and separately vectorised) loop, so no element pays a branch on a
 * hyper-parameter, and a zero weight decay skips the decay arithmetic exactly as torch's
 * `if weight_decay != 0` does (which matters for inf parameters: 0*inf is NaN). */
enum { SGD_PLAIN = 0, SGD_MOMENTUM = 1, SGD_NESTEROV = 2 };
enum { ADAM_PLAIN = 0, ADAM_L2 = 1, ADAM_DECOUPLED = 2 };

/* Thread spans are cut on multiples of this many elements (256 bytes of f32, 512 of
 * f64): every span then starts at the same alignment as the buffer, so the split between
 * the vector body and its scalar tail -- and with it, where FMA contraction may differ --
 * does not move with the thread count. Results are bitwise equal for any thread count. */
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

/* A hyper-parameter that is a finite number >= 0 (NaN fails every comparison). */
static inline int ff_nonneg(double x) { return x >= 0.0 && isfinite(x); }

#define FF_BODY "optim.inc"
#include "ff_instantiate.h"
