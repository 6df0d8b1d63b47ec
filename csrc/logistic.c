/*
 * logistic.c -- the fused loss-and-gradient pass of (multinomial) logistic regression
 * for L-BFGS / proximal solvers: one read of X per evaluation instead of the two (or
 * more) a NumPy objective makes (X @ W^T, then G^T X). Bodies in logistic.inc.
 */
#include "ff_internal.h"

#include <math.h>
#include <stdlib.h>

/* Sub-blocks of rows per reduction block, at least. A sub-block's rows of X stay in L2 between the
 * logits product and the gradient product; a reduction block's gradient partial is
 * combined into the double total in block order. */
#define FF_LOGISTIC_SUBS 4
/* At most this many reduction blocks (partials kept until the combine), and at most
 * this many bytes of partials (wide models get fewer, longer blocks). */
#define FF_LOGISTIC_MAX_BLOCKS 64
#define FF_LOGISTIC_PARTIAL_BYTES (32 << 20)
/* Bytes of X per sub-block (L2-resident on current x86 cores). */
#define FF_LOGISTIC_SUB_BYTES 131072
/* Below this many multiply-adds (logits and gradient: 2 n I K) a pass runs on the calling
 * thread, the GEMM's threshold (gemm.c): a 2000 x 20 binary pass (80k, ~10 us) gained a
 * few microseconds from a second thread on a quiet machine but woke fastfit's pool
 * between every L-BFGS step, and the pool then fought the BLAS threads of SciPy's
 * optimizer (96 ms a fit against 1.5 ms). The blocking, and so the result, does not
 * depend on the thread count. */
#define FF_LOGISTIC_PARALLEL_MIN_FMA 524288.0

#define FF_BODY "logistic.inc"
#include "ff_instantiate.h"

/* The sparse (CSR) pass: a second body in this file so that it shares ff_logistic_rows;
 * once per index width (int64, and int32 where the sizes allow: a third fewer bytes). */
#define FF_CSR_LOGISTIC_ROWS 256 /* rows per block: ff_logistic_rows takes at most 256 */
#define FF_CSR_LOGISTIC_COLS 256 /* columns per scheduling chunk of the gradient */
#define FF_CSR_LOGISTIC_AHEAD 8  /* non-zeros ahead to prefetch the gathered weights of */
#define FF_IX int64_t
#define FF_IXN i64
#define FF_BODY "sparse_logistic.inc"
#include "ff_instantiate.h"
#undef FF_IX
#undef FF_IXN
#define FF_IX int32_t
#define FF_IXN i32
#define FF_BODY "sparse_logistic.inc"
#include "ff_instantiate.h"
#undef FF_IX
#undef FF_IXN
