/*
 * batchnorm.c -- batch normalisation over the rows of an (N,C) row-major matrix:
 * training forward (batch statistics, running-statistics update), inference forward
 * and backward. Memory-bound; how it stays near streaming speed is explained at the top
 * of batchnorm.inc, which holds the body for both dtypes.
 */
#include "ff_internal.h"

#include <stdlib.h>

/* A reduction block holds at least this many elements (and at least 64 rows): column
 * sums are formed per block of rows and the block sums added in block order, whichever
 * thread computed them. Per-block partials cost 16 bytes per column, i.e. at most
 * 4/64 of the data for 64-row blocks and usually far less. */
#define FF_BN_BLOCK_ELEMS 65536
/* At most this many blocks: bounds the scratch for very long batches. */
#define FF_BN_MAX_BLOCKS 256
/* Below this many elements everything runs on the calling thread: the training shapes
 * (256 x 256 and smaller) stay in L2 and finish in a few microseconds. */
#define FF_BN_PARALLEL_MIN (1 << 17)

#define FF_BODY "batchnorm.inc"
#include "ff_instantiate.h"
