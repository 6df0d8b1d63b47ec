/*
 * linear.c -- the linear layer (y = x @ w + b, w of shape (in, out)) forward and
 * backward, and the deterministic row sum that gives the bias gradient. All products
 * go through ff_gemm_* (gemm.c); the body for both dtypes is linear.inc. Also the
 * decision function of the linear estimators (x @ w^T + b, w stored (K,I)).
 */
#include "ff_internal.h"

#include <stdlib.h>

/* ff_linear_decision: up to this many outputs by row dots, more through the GEMM; and
 * multiply-adds below which it runs on the calling thread (~0.1 ms of streaming). */
#define FF_DECISION_MAX_K 8
#define FF_DECISION_PARALLEL_MIN 1048576.0

#define FF_BODY "linear.inc"
#include "ff_instantiate.h"
