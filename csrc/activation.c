/* activation.c -- STUB scaffold: to be replaced by the real kernels. */
#include "ff_internal.h"

int ff_activation_forward_f32(float *y , const float *x , int64_t n, int act, float alpha) { (void)y; (void)x; (void)n; (void)act; (void)alpha; return FF_EBADARG; }
int ff_activation_forward_f64(double *y , const double *x , int64_t n, int act, double alpha) { (void)y; (void)x; (void)n; (void)act; (void)alpha; return FF_EBADARG; }
int ff_activation_backward_f32(float *dx , const float *dy , const float *x , const float *y , int64_t n, int act, float alpha) { (void)dx; (void)dy; (void)x; (void)y; (void)n; (void)act; (void)alpha; return FF_EBADARG; }
int ff_activation_backward_f64(double *dx , const double *dy , const double *x , const double *y , int64_t n, int act, double alpha) { (void)dx; (void)dy; (void)x; (void)y; (void)n; (void)act; (void)alpha; return FF_EBADARG; }
int ff_softmax_forward_f32(float *y , const float *x , int64_t n, int64_t c) { (void)y; (void)x; (void)n; (void)c; return FF_EBADARG; }
int ff_softmax_forward_f64(double *y , const double *x , int64_t n, int64_t c) { (void)y; (void)x; (void)n; (void)c; return FF_EBADARG; }
