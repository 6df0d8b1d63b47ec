/* gemm.c -- STUB scaffold: to be replaced by the real kernels. */
#include "ff_internal.h"

int ff_gemm_set_path(int path) { (void)path; return FF_EBADARG; }
int ff_gemm_get_path(void) { return FF_GEMM_PATH_GENERIC; }
int ff_gemm_best_path(void) { return FF_GEMM_PATH_GENERIC; }
int ff_gemm_f32(float *c, const float *a, const float *b, const float *bias, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc, int trans_a, int trans_b, float alpha, float beta, int act, float act_alpha) { (void)c; (void)a; (void)b; (void)bias; (void)m; (void)n; (void)k; (void)lda; (void)ldb; (void)ldc; (void)trans_a; (void)trans_b; (void)alpha; (void)beta; (void)act; (void)act_alpha; return FF_EBADARG; }
int ff_gemm_f64(double *c, const double *a, const double *b, const double *bias, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc, int trans_a, int trans_b, double alpha, double beta, int act, double act_alpha) { (void)c; (void)a; (void)b; (void)bias; (void)m; (void)n; (void)k; (void)lda; (void)ldb; (void)ldc; (void)trans_a; (void)trans_b; (void)alpha; (void)beta; (void)act; (void)act_alpha; return FF_EBADARG; }
