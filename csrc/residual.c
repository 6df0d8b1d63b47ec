/* residual.c -- STUB scaffold: to be replaced by the real kernels. */
#include "ff_internal.h"

int ff_residual_forward_f32(float *y , const float *x , const float *fx , int64_t n) { (void)y; (void)x; (void)fx; (void)n; return FF_EBADARG; }
int ff_residual_forward_f64(double *y , const double *x , const double *fx , int64_t n) { (void)y; (void)x; (void)fx; (void)n; return FF_EBADARG; }
int ff_residual_backward_f32(float *dx , const float *dy , int64_t n) { (void)dx; (void)dy; (void)n; return FF_EBADARG; }
int ff_residual_backward_f64(double *dx , const double *dy , int64_t n) { (void)dx; (void)dy; (void)n; return FF_EBADARG; }
