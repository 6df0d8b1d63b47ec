/* optim.c -- STUB scaffold: to be replaced by the real kernels. */
#include "ff_internal.h"

int ff_sgd_update_f32(float *param , float *velocity , const float *grad , int64_t p, float lr, float momentum, float weight_decay, int nesterov) { (void)param; (void)velocity; (void)grad; (void)p; (void)lr; (void)momentum; (void)weight_decay; (void)nesterov; return FF_EBADARG; }
int ff_sgd_update_f64(double *param , double *velocity , const double *grad , int64_t p, double lr, double momentum, double weight_decay, int nesterov) { (void)param; (void)velocity; (void)grad; (void)p; (void)lr; (void)momentum; (void)weight_decay; (void)nesterov; return FF_EBADARG; }
int ff_rmsprop_update_f32(float *param , float *square_avg , float *momentum_buf , const float *grad , int64_t p, float lr, float alpha, float eps, float weight_decay, float momentum) { (void)param; (void)square_avg; (void)momentum_buf; (void)grad; (void)p; (void)lr; (void)alpha; (void)eps; (void)weight_decay; (void)momentum; return FF_EBADARG; }
int ff_rmsprop_update_f64(double *param , double *square_avg , double *momentum_buf , const double *grad , int64_t p, double lr, double alpha, double eps, double weight_decay, double momentum) { (void)param; (void)square_avg; (void)momentum_buf; (void)grad; (void)p; (void)lr; (void)alpha; (void)eps; (void)weight_decay; (void)momentum; return FF_EBADARG; }
int ff_adam_update_f32(float *param , float *m , float *v , const float *grad , int64_t p, int64_t step, float lr, float beta1, float beta2, float eps, float weight_decay, int decoupled) { (void)param; (void)m; (void)v; (void)grad; (void)p; (void)step; (void)lr; (void)beta1; (void)beta2; (void)eps; (void)weight_decay; (void)decoupled; return FF_EBADARG; }
int ff_adam_update_f64(double *param , double *m , double *v , const double *grad , int64_t p, int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay, int decoupled) { (void)param; (void)m; (void)v; (void)grad; (void)p; (void)step; (void)lr; (void)beta1; (void)beta2; (void)eps; (void)weight_decay; (void)decoupled; return FF_EBADARG; }
int ff_l1_update_f32(float *param , int64_t p, float threshold) { (void)param; (void)p; (void)threshold; return FF_EBADARG; }
int ff_l1_update_f64(double *param , int64_t p, double threshold) { (void)param; (void)p; (void)threshold; return FF_EBADARG; }
int ff_grad_norm_f32(double *norm, const float *grad , int64_t p) { (void)norm; (void)grad; (void)p; return FF_EBADARG; }
int ff_grad_norm_f64(double *norm, const double *grad , int64_t p) { (void)norm; (void)grad; (void)p; return FF_EBADARG; }
int ff_clip_grad_norm_f32(double *norm, float *grad , int64_t p, double max_norm) { (void)norm; (void)grad; (void)p; (void)max_norm; return FF_EBADARG; }
int ff_clip_grad_norm_f64(double *norm, double *grad , int64_t p, double max_norm) { (void)norm; (void)grad; (void)p; (void)max_norm; return FF_EBADARG; }
