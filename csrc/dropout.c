/* dropout.c -- STUB scaffold: to be replaced by the real kernels. */
#include "ff_internal.h"

int ff_dropout_forward_f32(float *y , uint8_t *mask , const float *x , int64_t n, float p, uint64_t seed, uint64_t offset) { (void)y; (void)mask; (void)x; (void)n; (void)p; (void)seed; (void)offset; return FF_EBADARG; }
int ff_dropout_forward_f64(double *y , uint8_t *mask , const double *x , int64_t n, double p, uint64_t seed, uint64_t offset) { (void)y; (void)mask; (void)x; (void)n; (void)p; (void)seed; (void)offset; return FF_EBADARG; }
int ff_dropout_backward_f32(float *dx , const float *dy , const uint8_t *mask , int64_t n, float p) { (void)dx; (void)dy; (void)mask; (void)n; (void)p; return FF_EBADARG; }
int ff_dropout_backward_f64(double *dx , const double *dy , const uint8_t *mask , int64_t n, double p) { (void)dx; (void)dy; (void)mask; (void)n; (void)p; return FF_EBADARG; }
