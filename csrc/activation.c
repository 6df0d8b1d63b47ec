/*
 * activation.c -- elementwise activations (identity, relu, leaky relu, tanh, sigmoid,
 * exact-erf GELU), their backward passes, and the row-wise softmax used by predict_proba.
 * The body lives in activation.inc and is instantiated for float and double.
 */
#include "ff_internal.h"

/* tanh, sigmoid and gelu cost ~0.5-0.8 ns an element on one core (ff_vmath.inc
 * polynomials; f64 gelu's libm erfc ~10x more): measured on 2 threads, f32 tanh at 4096
 * elements 2.2 -> 1.9 us (not worth a region that can stall under load), at 8192
 * 4.1 -> 3.0 us, at 16384 8.0 -> 4.9 us. */
#define FF_ACT_PARALLEL_MIN_TRANSCENDENTAL 8192

#define FF_BODY "activation.inc"
#include "ff_instantiate.h"
