/*
 * lbfgs.c -- the two passes an iteration over the stored L-BFGS pairs of
 * fastfit/_estimators/_lbfgs.py: the update (store the new pair, the pairs' products with
 * the new gradient, max |g|) and the direction they form. The pairs (2m rows of n) are the
 * optimizer's bytes: at 10 x 2^18 coefficients they are 420 MB in float64, read twice an
 * iteration. Stored in float32 they are half that, while every product and sum here is
 * taken in double. They are tiled, every row's coordinates [b*tile, (b+1)*tile) back to
 * back, so that a pass streams one run of memory: rows of n apart made it 2m streams that
 * each crossed a page every 4 kB, 1.4 -> 0.75-1.0 ms for the products at 2^18 on two
 * threads here (scratch s8/proto). Body in lbfgs.inc.
 */
#include "ff_internal.h"

#include <math.h>
#include <stdlib.h>

/* Tiles per chunk: each chunk's partial sums land in their own slot and are added in
 * chunk order, so the result does not depend on the threads. */
#define FF_LBFGS_CHUNK 8
/* The largest tile: the direction's double accumulators of a tile stay in L1. */
#define FF_LBFGS_TILE_MAX 1024

#define FF_BODY "lbfgs.inc"
#include "ff_instantiate.h"
