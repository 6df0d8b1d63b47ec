/*
 * sparse.c -- products of a CSR matrix with a dense one, the building blocks of sparse
 * input (TF-IDF, one-hot) for the linear models and the first layer of an MLP:
 *   ff_csr_matmul:  y = X @ w (+ b)     X (N,I) CSR, w (I,O): the layer's forward
 *   ff_csr_tmatmul: dw += X^T @ g       from the CSC copy of X (= the CSR of X^T)
 *   ff_csr_matvec_<ix>, ff_csr_tmatvec_<ix>: X v and X^T u for one vector, int32 or
 *                   int64 indices (sparse_vec.inc)
 *   ff_csr_check_<ix>: the structure check the wrappers run once per matrix
 *
 * Index arrays are int64 in the kernels here but the one-vector products and the check:
 * one instantiation per dtype, not four, and no 2^31 limit on nnz. The Python wrapper
 * widens scipy's int32 indices once per matrix when one of these kernels needs them. The
 * one-vector products, bound by exactly the bytes of the indices, also come with int32
 * column indices (indptr stays int64, so nnz is not limited), as do the logistic pass
 * and the per-sample SGD epoch (logistic.c, sgd.c).
 *
 * Determinism: every output row is owned by one thread and summed in the stored order of
 * its non-zeros, so the result has the same bits for any thread count. For X^T @ g that
 * is why the kernel takes the CSC copy (column-parallel) instead of per-thread dense
 * partials: a (I,O) partial per thread would be 10 MB at I = 2^18, O = 10, and its
 * summation order would depend on the split. Bodies in sparse.inc.
 *
 * A bad row range or index is never dereferenced: every row's [indptr[r], indptr[r+1])
 * is checked against [0, nnz] and every index against its bound as it is read (one
 * compare on data already in registers); the kernel then returns FF_EBADARG.
 */
#include "ff_internal.h"

/* Rows per scheduling chunk. A row's result does not depend on which thread takes it. */
#define FF_CSR_CHUNK 64
/* Non-zeros ahead to prefetch the gathered row of B of (random reads). */
#define FF_CSR_AHEAD 8

/* ff_csr_check_<ix>: rows [0, n) in fixed blocks (parallel from FF_CSR_VEC_PARALLEL_MIN
 * non-zeros and rows: the check is one streamed read of the indices), every block's
 * verdicts and-ed: the same answer for any thread count. `wide`: int64 indices, else
 * int32 (a constant in each caller below, so each gets its own loop). */
FF_INLINE int csr_check_rows(int32_t *canonical, const int64_t *indptr,
                             const void *indices, int wide, int64_t n, int64_t in,
                             int64_t nnz) {
    FF_CHECK(indptr != NULL && n >= 0 && in >= 0 && nnz >= 0);
    FF_CHECK(nnz == 0 || indices != NULL);
    FF_CHECK(indptr[0] == 0 && indptr[n] == nnz);
    const int64_t *i64 = indices;
    const int32_t *i32 = indices;
    int ok = 1, canon = 1;
    FF_FOR_IF(nnz + n >= FF_CSR_VEC_PARALLEL_MIN && ff_threads() > 1,
              schedule(static) reduction(&& : ok, canon),
              for (int64_t r = 0; r < n; ++r) {
                  const int64_t p0 = indptr[r], p1 = indptr[r + 1];
                  if (!(0 <= p0 && p0 <= p1 && p1 <= nnz)) {
                      ok = 0;
                      continue;
                  }
                  int64_t prev = -1;
                  int row_ok = 1, row_canon = 1;
                  for (int64_t p = p0; p < p1; ++p) {
                      const int64_t j = wide ? i64[p] : i32[p];
                      row_ok &= j >= 0 && j < in;
                      row_canon &= j > prev;
                      prev = j;
                  }
                  ok = ok && row_ok;
                  canon = canon && row_canon;
              });
    FF_CHECK(ok);
    if (canonical) *canonical = canon;
    return FF_OK;
}

int ff_csr_check_i64(int32_t *canonical, const int64_t *indptr, const int64_t *indices,
                     int64_t n, int64_t in, int64_t nnz) {
    return csr_check_rows(canonical, indptr, indices, 1, n, in, nnz);
}

int ff_csr_check_i32(int32_t *canonical, const int64_t *indptr, const int32_t *indices,
                     int64_t n, int64_t in, int64_t nnz) {
    return csr_check_rows(canonical, indptr, indices, 0, n, in, nnz);
}

/* The one-vector products per index width (sparse_vec.inc); sparse.inc's one-column
 * product uses the int64 row dot. */
#define FF_IX int64_t
#define FF_IXN i64
#define FF_BODY "sparse_vec.inc"
#include "ff_instantiate.h"
#undef FF_IX
#undef FF_IXN
#define FF_IX int32_t
#define FF_IXN i32
#define FF_BODY "sparse_vec.inc"
#include "ff_instantiate.h"
#undef FF_IX
#undef FF_IXN

#define FF_BODY "sparse.inc"
#include "ff_instantiate.h"
