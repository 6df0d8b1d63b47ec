/* loss.c -- STUB scaffold: to be replaced by the real kernels. */
#include "ff_internal.h"

int ff_mse_loss_f32(double *loss, float *dpred , const float *pred , const float *target , const float *weight , int64_t n, int64_t k) { (void)loss; (void)dpred; (void)pred; (void)target; (void)weight; (void)n; (void)k; return FF_EBADARG; }
int ff_mse_loss_f64(double *loss, double *dpred , const double *pred , const double *target , const double *weight , int64_t n, int64_t k) { (void)loss; (void)dpred; (void)pred; (void)target; (void)weight; (void)n; (void)k; return FF_EBADARG; }
int ff_huber_loss_f32(double *loss, float *dpred , const float *pred , const float *target , const float *weight , int64_t n, int64_t k, float delta) { (void)loss; (void)dpred; (void)pred; (void)target; (void)weight; (void)n; (void)k; (void)delta; return FF_EBADARG; }
int ff_huber_loss_f64(double *loss, double *dpred , const double *pred , const double *target , const double *weight , int64_t n, int64_t k, double delta) { (void)loss; (void)dpred; (void)pred; (void)target; (void)weight; (void)n; (void)k; (void)delta; return FF_EBADARG; }
int ff_bce_logits_loss_f32(double *loss, float *dlogits , const float *logits , const float *target , const float *weight , int64_t n, int64_t k) { (void)loss; (void)dlogits; (void)logits; (void)target; (void)weight; (void)n; (void)k; return FF_EBADARG; }
int ff_bce_logits_loss_f64(double *loss, double *dlogits , const double *logits , const double *target , const double *weight , int64_t n, int64_t k) { (void)loss; (void)dlogits; (void)logits; (void)target; (void)weight; (void)n; (void)k; return FF_EBADARG; }
int ff_softmax_cross_entropy_f32(double *loss, float *dlogits , const float *logits , const int64_t *labels , const float *weight , int64_t n, int64_t c) { (void)loss; (void)dlogits; (void)logits; (void)labels; (void)weight; (void)n; (void)c; return FF_EBADARG; }
int ff_softmax_cross_entropy_f64(double *loss, double *dlogits , const double *logits , const int64_t *labels , const double *weight , int64_t n, int64_t c) { (void)loss; (void)dlogits; (void)logits; (void)labels; (void)weight; (void)n; (void)c; return FF_EBADARG; }
