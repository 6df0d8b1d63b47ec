/*
 * activation.c -- elementwise activations (identity, relu, leaky relu, tanh, sigmoid,
 * exact-erf GELU), their backward passes, and the row-wise softmax used by predict_proba.
 * The body lives in activation.inc and is instantiated for float and double.
 */
#include "ff_internal.h"

/* tanh/erf/exp go through scalar libm (no vector math without -ffast-math), ~10 ns an
 * element: worth two threads far earlier than the ~1 ns/element streaming kernels. */
#define FF_ACT_PARALLEL_MIN_TRANSCENDENTAL 4096

#define FF_BODY "activation.inc"
#include "ff_instantiate.h"
