/* linear.c -- STUB scaffold: to be replaced by the real kernels. */
#include "ff_internal.h"

int ff_linear_forward_f32(float *y , const float *x , const float *w , const float *b , int64_t n, int64_t in, int64_t out) { (void)y; (void)x; (void)w; (void)b; (void)n; (void)in; (void)out; return FF_EBADARG; }
int ff_linear_forward_f64(double *y , const double *x , const double *w , const double *b , int64_t n, int64_t in, int64_t out) { (void)y; (void)x; (void)w; (void)b; (void)n; (void)in; (void)out; return FF_EBADARG; }
int ff_linear_backward_f32(float *dx , float *dw , float *db , const float *dy , const float *x , const float *w , int64_t n, int64_t in, int64_t out) { (void)dx; (void)dw; (void)db; (void)dy; (void)x; (void)w; (void)n; (void)in; (void)out; return FF_EBADARG; }
int ff_linear_backward_f64(double *dx , double *dw , double *db , const double *dy , const double *x , const double *w , int64_t n, int64_t in, int64_t out) { (void)dx; (void)dw; (void)db; (void)dy; (void)x; (void)w; (void)n; (void)in; (void)out; return FF_EBADARG; }
int ff_sum_rows_f32(float *db , const float *dy , int64_t n, int64_t out) { (void)db; (void)dy; (void)n; (void)out; return FF_EBADARG; }
int ff_sum_rows_f64(double *db , const double *dy , int64_t n, int64_t out) { (void)db; (void)dy; (void)n; (void)out; return FF_EBADARG; }
