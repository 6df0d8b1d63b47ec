/*
 * linear.c -- the linear layer (y = x @ w + b, w of shape (in, out)) forward and
 * backward, and the deterministic row sum that gives the bias gradient. All products
 * go through ff_gemm_* (gemm.c); the body for both dtypes is linear.inc.
 */
#include "ff_internal.h"

#include <stdlib.h>

#define FF_BODY "linear.inc"
#include "ff_instantiate.h"
