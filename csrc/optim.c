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


/* Loop variants chosen once per call, outside the element loop: each becomes its own
 * specialised (and separately vectorised) loop, so no element pays a branch on a
 * hyper-parameter, and a zero weight decay skips the decay arithmetic exactly as torch's
 * `if weight_decay != 0` does (which matters for inf parameters: 0*inf is NaN). */
enum { SGD_PLAIN = 0, SGD_MOMENTUM = 1, SGD_NESTEROV = 2 };
enum { ADAM_PLAIN = 0, ADAM_L2 = 1, ADAM_DECOUPLED = 2 };


/* A hyper-parameter that is a finite number >= 0 (NaN fails every comparison). */
static inline int ff_nonneg(double x) { return x >= 0.0 && isfinite(x); }

#define FF_BODY "optim.inc"
#include "ff_instantiate.h"
