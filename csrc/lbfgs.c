/*
 * lbfgs.c -- the two passes over the stored L-BFGS pairs of fastfit/_estimators/_lbfgs.py:
 * their dot products with a vector, and the direction they form. The pairs (2m rows of n)
 * are the optimizer's bytes: at 10 x 2^18 coefficients they are 420 MB in float64, read
 * twice an iteration. Stored in float32 they are half that, while every product and sum
 * here is taken in double. Body in lbfgs.inc.
 */
#include "ff_internal.h"

#include <math.h>
#include <stdlib.h>

/* Columns per block of the dot products: each block's partial sums land in their own
 * slot and are added in block order, so the result does not depend on the threads. */
#define FF_LBFGS_BLOCK 32768
/* Coordinates of the direction per inner pass: its double accumulators stay in L1. */
#define FF_LBFGS_TILE 1024

#define FF_BODY "lbfgs.inc"
#include "ff_instantiate.h"
