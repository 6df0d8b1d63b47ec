/*
 * fastfit.h -- the one public header of fastfit's native core.
 *
 * Everything between the FF_CDEF_BEGIN and FF_CDEF_END markers is read verbatim by
 * tools/build_cffi.py into cffi's cdef, so that block must stay in the subset of C
 * that cffi parses: integer #defines, enums, prototypes, comments. No #if, no
 * attributes, no expression macros inside it.
 *
 * Conventions:
 *   - name:      ff_<op>_<pass>_<dtype>, dtype f32 (float) or f64 (double); both are
 *                generated from one body, a .inc file that a .c file instantiates
 *                through ff_instantiate.h. Each section below names the .c file(s)
 *                defining its functions (tests/test_sources.py checks it).
 *   - arguments: outputs first, then inputs, then sizes, then hyper-parameters.
 *   - gradients: buffers named d*. Parameter gradients (dw, db, dgamma, dbeta)
 *                ACCUMULATE (+=), so the flat gradient buffer is zeroed once per step
 *                and gradient accumulation over micro-batches works. Input gradients
 *                (dx) are WRITTEN (=): they live in the activation workspace, and
 *                writing saves a zeroing pass plus one read per element -- bandwidth
 *                that memory-bound kernels such as batch norm cannot spare. The one
 *                exception is ff_residual_backward, whose job is to add the skip path's
 *                gradient into a dx already written by the branch.
 *   - status:    every function returns FF_OK or an FF_E* code; C never prints, exits
 *                or asserts. On a non-OK status outputs may be partially written.
 *   - layout:    matrices are row-major and C-contiguous unless a leading dimension
 *                is passed. Reductions are deterministic: the same result for any
 *                thread count (fixed blocking, fixed summation order).
 *
 * Shape legend:  N rows of a batch, I input features, O output features,
 *                C channels (batch norm) or classes (softmax), K outputs per row of a
 *                loss, M/N/K the usual GEMM sizes, P parameters of a flat buffer.
 */
#ifndef FASTFIT_H
#define FASTFIT_H

#include <stdint.h>

/* FF_CDEF_BEGIN */

/* ---- status codes ------------------------------------------------------------ */
#define FF_OK 0
#define FF_EBADARG 1      /* a NULL pointer, a negative size, a bad enum, an out-of-range index */
#define FF_ENOMEM 2       /* an internal scratch allocation failed */
#define FF_ENONFINITE 3   /* a loss or norm came out NaN or infinite */
#define FF_ECOMM 4        /* a data-parallel collective (ff_dist.allreduce) failed */

/* ---- enums ------------------------------------------------------------------- */
enum ff_activation {
    FF_ACT_IDENTITY = 0,
    FF_ACT_RELU = 1,
    FF_ACT_LEAKY_RELU = 2,  /* alpha = negative slope */
    FF_ACT_TANH = 3,
    FF_ACT_SIGMOID = 4,
    FF_ACT_GELU = 5         /* exact erf form, as torch.nn.GELU() */
};

enum ff_init {
    FF_INIT_HE_NORMAL = 0,       /* std   = gain * sqrt(2 / fan_in)            */
    FF_INIT_HE_UNIFORM = 1,      /* bound = gain * sqrt(6 / fan_in)            */
    FF_INIT_GLOROT_NORMAL = 2,   /* std   = gain * sqrt(2 / (fan_in + fan_out)) */
    FF_INIT_GLOROT_UNIFORM = 3   /* bound = gain * sqrt(6 / (fan_in + fan_out)) */
};

enum ff_gemm_path {
    FF_GEMM_PATH_AUTO = 0,       /* best the CPU supports (chosen at first use) */
    FF_GEMM_PATH_GENERIC = 1,    /* portable C, any CPU                         */
    FF_GEMM_PATH_AVX2 = 2,       /* x86-64-v3: AVX2 + FMA                       */
    FF_GEMM_PATH_AVX512 = 3      /* x86-64-v4: AVX-512 F/VL/DQ/BW               */
};

/* ---- runtime [csrc/runtime.c, csrc/gemm.c] ------------------------------------------ */
/* Thread count used by the kernels' OpenMP regions (the calling thread's ICV, so
 * threadpoolctl's openmp limits are honoured). n < 1 is FF_EBADARG. */
int ff_set_num_threads(int n);
int ff_get_num_threads(void);
/* Force a GEMM micro-kernel path (for tests); FF_EBADARG if this CPU lacks it. */
int ff_gemm_set_path(int path);
/* The path in use now (resolves AUTO). */
int ff_gemm_get_path(void);
/* The best path this CPU supports. */
int ff_gemm_best_path(void);
/* Short static text for a status code; never NULL. */
const char *ff_status_string(int status);

/* ---- GEMM [csrc/gemm.c] ------------------------------------------------------------- */
/* c = act(alpha * op(a) @ op(b) + beta * c + bias)
 *   op(a): (M,K) -- a is (M,K) with row stride lda, or (K,M) with stride lda if trans_a
 *   op(b): (K,N) -- b is (K,N) with row stride ldb, or (N,K) with stride ldb if trans_b
 *   c:     (M,N) with row stride ldc;  bias: (N) or NULL;  act: enum ff_activation
 * beta == 0 never reads c (so c may hold garbage or NaN); alpha == 0 or K == 0 skips
 * the product as BLAS does (c = act(beta*c + bias), a and b unread). Each element of c
 * is owned by one thread and summed over K in a fixed order: bitwise equal for any
 * thread count. Products under ~1M multiply-adds run on the calling thread. */
int ff_gemm_f32(float *c, const float *a, const float *b, const float *bias,
                int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc,
                int trans_a, int trans_b, float alpha, float beta, int act, float act_alpha);
int ff_gemm_f64(double *c, const double *a, const double *b, const double *bias,
                int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc,
                int trans_a, int trans_b, double alpha, double beta, int act, double act_alpha);

/* Weighted Gram: c = beta * c + a_x^T diag(d) a_x, a (N,P) with row stride lda, a_x = a
 * or, with append != 0, a with a constant column `fill` appended (N, P+1: an intercept
 * column, never formed); d (N) or NULL for all ones; c (Q,Q), Q = P or P+1, stride ldc.
 * Only c's tiles on or above the diagonal are multiplied and the lower triangle is then
 * copied from the upper, so c comes out exactly symmetric (its lower triangle on entry is
 * not used). Many rows (8+ chunks of 512) run as fixed row chunks, one thread each, whose
 * partials are added in chunk order. Same bits for any thread count. */
int ff_gram_f32(float *c, const float *a, const float *d, int64_t n, int64_t p, int64_t lda,
                int64_t ldc, float beta, int append, float fill);
int ff_gram_f64(double *c, const double *a, const double *d, int64_t n, int64_t p,
                int64_t lda, int64_t ldc, double beta, int append, double fill);

/* ---- linear layer: y = x @ w + b,  w of shape (I,O) [csrc/linear.c] ----------------- */
int ff_linear_forward_f32(float *y /* (N,O) */, const float *x /* (N,I) */,
                          const float *w /* (I,O) */, const float *b /* (O) or NULL */,
                          int64_t n, int64_t in, int64_t out);
int ff_linear_forward_f64(double *y /* (N,O) */, const double *x /* (N,I) */,
                          const double *w /* (I,O) */, const double *b /* (O) or NULL */,
                          int64_t n, int64_t in, int64_t out);
/* Linear models' predictions: out = x @ w^T + b with w stored (K,I) as coef_ (rows of
 * few outputs read once; K > 8 through the GEMM). Same bits for any thread count. */
int ff_linear_decision_f32(float *out /* (N,K) */, const float *x /* (N,I) */,
                           const float *w /* (K,I) */, const float *b /* (K) or NULL */,
                           int64_t n, int64_t in, int64_t k);
int ff_linear_decision_f64(double *out /* (N,K) */, const double *x /* (N,I) */,
                           const double *w /* (K,I) */, const double *b /* (K) or NULL */,
                           int64_t n, int64_t in, int64_t k);
/* dx = dy @ w^T (written; skipped if dx is NULL), dw += x^T @ dy, db += sum_rows(dy)
 * (db skipped if NULL). */
int ff_linear_backward_f32(float *dx /* (N,I) or NULL */, float *dw /* (I,O) */,
                           float *db /* (O) or NULL */, const float *dy /* (N,O) */,
                           const float *x /* (N,I) */, const float *w /* (I,O) */,
                           int64_t n, int64_t in, int64_t out);
int ff_linear_backward_f64(double *dx /* (N,I) or NULL */, double *dw /* (I,O) */,
                           double *db /* (O) or NULL */, const double *dy /* (N,O) */,
                           const double *x /* (N,I) */, const double *w /* (I,O) */,
                           int64_t n, int64_t in, int64_t out);
/* db += sum over rows of dy: the bias gradient alone, deterministic. */
int ff_sum_rows_f32(float *db /* (O) */, const float *dy /* (N,O) */, int64_t n, int64_t out);
int ff_sum_rows_f64(double *db /* (O) */, const double *dy /* (N,O) */, int64_t n, int64_t out);

/* ---- activations (elementwise over n values; y may alias x) [csrc/activation.c] ----- */
int ff_activation_forward_f32(float *y /* (n) */, const float *x /* (n) */,
                              int64_t n, int act, float alpha);
int ff_activation_forward_f64(double *y /* (n) */, const double *x /* (n) */,
                              int64_t n, int act, double alpha);
/* dx = dy * act'(x). x is the pre-activation input, y the forward output; each
 * activation reads whichever it needs (relu/tanh/sigmoid: y; gelu: x; leaky: y when
 * alpha >= 0, x when alpha < 0, since y's sign then no longer tells x's), the other
 * may be NULL. dx may alias dy. */
int ff_activation_backward_f32(float *dx /* (n) */, const float *dy /* (n) */,
                               const float *x /* (n) or NULL */, const float *y /* (n) or NULL */,
                               int64_t n, int act, float alpha);
int ff_activation_backward_f64(double *dx /* (n) */, const double *dy /* (n) */,
                               const double *x /* (n) or NULL */, const double *y /* (n) or NULL */,
                               int64_t n, int act, double alpha);
/* Row-wise softmax (stable), for predict_proba. y may alias x. */
int ff_softmax_forward_f32(float *y /* (N,C) */, const float *x /* (N,C) */, int64_t n, int64_t c);
int ff_softmax_forward_f64(double *y /* (N,C) */, const double *x /* (N,C) */, int64_t n, int64_t c);

/* ---- batch normalisation over the rows of (N,C) [csrc/batchnorm.c] ------------------ */
/* Training mode: normalise with the batch mean and biased variance; write them as mean
 * and rstd = 1/sqrt(var + eps) for the backward pass; if running_mean/running_var are
 * not NULL update them as running = (1-momentum)*running + momentum*batch, with the
 * unbiased variance (n/(n-1)). With n == 1 the running statistics are left unchanged
 * (one row says nothing about the variance) and y = beta. n == 0 or c == 0 writes
 * nothing. eps >= 0 and momentum in [0, 1], else FF_EBADARG. */
int ff_batchnorm_forward_f32(float *y /* (N,C) */, float *mean /* (C) */, float *rstd /* (C) */,
                             float *running_mean /* (C) or NULL */, float *running_var /* (C) or NULL */,
                             const float *x /* (N,C) */, const float *gamma /* (C) */,
                             const float *beta /* (C) */, int64_t n, int64_t c,
                             float eps, float momentum);
int ff_batchnorm_forward_f64(double *y /* (N,C) */, double *mean /* (C) */, double *rstd /* (C) */,
                             double *running_mean /* (C) or NULL */, double *running_var /* (C) or NULL */,
                             const double *x /* (N,C) */, const double *gamma /* (C) */,
                             const double *beta /* (C) */, int64_t n, int64_t c,
                             double eps, double momentum);
/* Evaluation mode: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta. */
int ff_batchnorm_inference_f32(float *y /* (N,C) */, const float *x /* (N,C) */,
                               const float *gamma /* (C) */, const float *beta /* (C) */,
                               const float *running_mean /* (C) */, const float *running_var /* (C) */,
                               int64_t n, int64_t c, float eps);
int ff_batchnorm_inference_f64(double *y /* (N,C) */, const double *x /* (N,C) */,
                               const double *gamma /* (C) */, const double *beta /* (C) */,
                               const double *running_mean /* (C) */, const double *running_var /* (C) */,
                               int64_t n, int64_t c, double eps);
/* dx written; dgamma, dbeta accumulate. mean, rstd as written by the forward pass. */
int ff_batchnorm_backward_f32(float *dx /* (N,C) */, float *dgamma /* (C) */, float *dbeta /* (C) */,
                              const float *dy /* (N,C) */, const float *x /* (N,C) */,
                              const float *gamma /* (C) */, const float *mean /* (C) */,
                              const float *rstd /* (C) */, int64_t n, int64_t c);
int ff_batchnorm_backward_f64(double *dx /* (N,C) */, double *dgamma /* (C) */, double *dbeta /* (C) */,
                              const double *dy /* (N,C) */, const double *x /* (N,C) */,
                              const double *gamma /* (C) */, const double *mean /* (C) */,
                              const double *rstd /* (C) */, int64_t n, int64_t c);

/* ---- dropout (inverted: kept values scaled by 1/(1-p)) [csrc/dropout.c] ------------- */
/* Element i is kept iff the 32-bit Philox word at (seed, stream 0, offset + i) -- the
 * word ff_philox_u32 returns -- is >= ceil(p * 2^32), with p first rounded to float so
 * f32 and f64 calls give the same mask; the mask depends only on (seed, offset, i), not
 * on the thread count. mask[i] = 1 if kept else 0. p in [0, 1); y may alias x. Callers
 * give dropout a seed of its own (the shuffle's stream 0 reads the same words). */
int ff_dropout_forward_f32(float *y /* (n) */, uint8_t *mask /* (n) */, const float *x /* (n) */,
                           int64_t n, float p, uint64_t seed, uint64_t offset);
int ff_dropout_forward_f64(double *y /* (n) */, uint8_t *mask /* (n) */, const double *x /* (n) */,
                           int64_t n, double p, uint64_t seed, uint64_t offset);
/* dx = dy * mask / (1-p) (written; dx may alias dy). */
int ff_dropout_backward_f32(float *dx /* (n) */, const float *dy /* (n) */, const uint8_t *mask /* (n) */,
                            int64_t n, float p);
int ff_dropout_backward_f64(double *dx /* (n) */, const double *dy /* (n) */, const uint8_t *mask /* (n) */,
                            int64_t n, double p);

/* ---- residual: y = x + fx [csrc/residual.c] ----------------------------------------- */
int ff_residual_forward_f32(float *y /* (n) */, const float *x /* (n) */, const float *fx /* (n) */, int64_t n);
int ff_residual_forward_f64(double *y /* (n) */, const double *x /* (n) */, const double *fx /* (n) */, int64_t n);
/* dx += dy: adds the skip path's gradient to the dx the branch's backward wrote. */
int ff_residual_backward_f32(float *dx /* (n) */, const float *dy /* (n) */, int64_t n);
int ff_residual_backward_f64(double *dx /* (n) */, const double *dy /* (n) */, int64_t n);

/* ---- losses fused with their gradient [csrc/loss.c] --------------------------------- */
/* Every loss is a weighted mean over rows of the per-row mean over its K outputs:
 *     loss = sum_i w_i * mean_j l(pred_ij, target_ij) / sum_i w_i
 * with w_i = 1 when weight is NULL. dpred (written; may be NULL for loss only) is the
 * gradient of that mean. loss is accumulated in double (deterministic blocking) and
 * returned in *loss for both dtypes. A non-finite loss returns FF_ENONFINITE (with
 * *loss set); sum_i w_i <= 0 (so also n == 0) or k == 0 returns FF_EBADARG. */
int ff_mse_loss_f32(double *loss, float *dpred /* (N,K) or NULL */, const float *pred /* (N,K) */,
                    const float *target /* (N,K) */, const float *weight /* (N) or NULL */,
                    int64_t n, int64_t k);
int ff_mse_loss_f64(double *loss, double *dpred /* (N,K) or NULL */, const double *pred /* (N,K) */,
                    const double *target /* (N,K) */, const double *weight /* (N) or NULL */,
                    int64_t n, int64_t k);
/* l = r^2/2 if |r| <= delta else delta*(|r| - delta/2),  r = pred - target (torch HuberLoss);
 * delta > 0 and finite. */
int ff_huber_loss_f32(double *loss, float *dpred /* (N,K) or NULL */, const float *pred /* (N,K) */,
                      const float *target /* (N,K) */, const float *weight /* (N) or NULL */,
                      int64_t n, int64_t k, float delta);
int ff_huber_loss_f64(double *loss, double *dpred /* (N,K) or NULL */, const double *pred /* (N,K) */,
                      const double *target /* (N,K) */, const double *weight /* (N) or NULL */,
                      int64_t n, int64_t k, double delta);
/* Binary cross-entropy on logits z, targets t in [0,1]:
 * l = max(z,0) - z*t + log1p(exp(-|z|)),  dl/dz = sigmoid(z) - t. */
int ff_bce_logits_loss_f32(double *loss, float *dlogits /* (N,K) or NULL */, const float *logits /* (N,K) */,
                           const float *target /* (N,K) */, const float *weight /* (N) or NULL */,
                           int64_t n, int64_t k);
int ff_bce_logits_loss_f64(double *loss, double *dlogits /* (N,K) or NULL */, const double *logits /* (N,K) */,
                           const double *target /* (N,K) */, const double *weight /* (N) or NULL */,
                           int64_t n, int64_t k);
/* Softmax cross-entropy on logits (N,C) with integer labels in [0,C) (FF_EBADARG
 * otherwise): l_i = logsumexp(z_i) - z_i[label_i], computed stably. */
int ff_softmax_cross_entropy_f32(double *loss, float *dlogits /* (N,C) or NULL */,
                                 const float *logits /* (N,C) */, const int64_t *labels /* (N) */,
                                 const float *weight /* (N) or NULL */, int64_t n, int64_t c);
int ff_softmax_cross_entropy_f64(double *loss, double *dlogits /* (N,C) or NULL */,
                                 const double *logits /* (N,C) */, const int64_t *labels /* (N) */,
                                 const double *weight /* (N) or NULL */, int64_t n, int64_t c);

/* Half Poisson deviance on the log link (scikit-learn's MLPRegressor(loss="poisson")):
 * pred z is log(mu), targets t >= 0 (a negative one gives a NaN loss, FF_ENONFINITE):
 * l = t*log(t) - t*z - t + exp(z)  (t*log(t) = 0 at t = 0),  dl/dz = exp(z) - t. */
int ff_poisson_loss_f32(double *loss, float *dpred /* (N,K) or NULL */, const float *pred /* (N,K) */,
                        const float *target /* (N,K) */, const float *weight /* (N) or NULL */,
                        int64_t n, int64_t k);
int ff_poisson_loss_f64(double *loss, double *dpred /* (N,K) or NULL */, const double *pred /* (N,K) */,
                        const double *target /* (N,K) */, const double *weight /* (N) or NULL */,
                        int64_t n, int64_t k);

/* ---- optimizer updates over one flat buffer of P parameters [csrc/optim.c] ---------- */
/* SGD as torch.optim.SGD (dampening 0): g = grad + weight_decay*param;
 * if momentum: buf = momentum*buf + g; g = nesterov ? g + momentum*buf : buf;
 * param -= lr*g. velocity may be NULL when momentum == 0; nesterov needs momentum > 0
 * (as torch). All optimizers: hyper-parameters finite, lr, eps, momentum and
 * weight_decay >= 0, betas in [0, 1), alpha in [0, 1], else FF_EBADARG; a zero
 * weight_decay skips the decay arithmetic (as torch: inf params stay inf, not NaN). */
int ff_sgd_update_f32(float *param /* (P) */, float *velocity /* (P) or NULL */,
                      const float *grad /* (P) */, int64_t p,
                      float lr, float momentum, float weight_decay, int nesterov);
int ff_sgd_update_f64(double *param /* (P) */, double *velocity /* (P) or NULL */,
                      const double *grad /* (P) */, int64_t p,
                      double lr, double momentum, double weight_decay, int nesterov);
/* RMSProp as torch.optim.RMSprop (not centered): g = grad + weight_decay*param;
 * sq = alpha*sq + (1-alpha)*g^2; d = g / (sqrt(sq) + eps);
 * if momentum: buf = momentum*buf + d; d = buf.  param -= lr*d.
 * momentum_buf may be NULL when momentum == 0. */
int ff_rmsprop_update_f32(float *param /* (P) */, float *square_avg /* (P) */,
                          float *momentum_buf /* (P) or NULL */, const float *grad /* (P) */,
                          int64_t p, float lr, float alpha, float eps,
                          float weight_decay, float momentum);
int ff_rmsprop_update_f64(double *param /* (P) */, double *square_avg /* (P) */,
                          double *momentum_buf /* (P) or NULL */, const double *grad /* (P) */,
                          int64_t p, double lr, double alpha, double eps,
                          double weight_decay, double momentum);
/* Adam / AdamW as torch.optim.Adam / AdamW. step counts from 1 (FF_EBADARG if < 1).
 * decoupled == 0 (Adam):  g = grad + weight_decay*param
 * decoupled != 0 (AdamW): param *= 1 - lr*weight_decay
 * m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
 * param -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps) */
int ff_adam_update_f32(float *param /* (P) */, float *m /* (P) */, float *v /* (P) */,
                       const float *grad /* (P) */, int64_t p, int64_t step,
                       float lr, float beta1, float beta2, float eps,
                       float weight_decay, int decoupled);
int ff_adam_update_f64(double *param /* (P) */, double *m /* (P) */, double *v /* (P) */,
                       const double *grad /* (P) */, int64_t p, int64_t step,
                       double lr, double beta1, double beta2, double eps,
                       double weight_decay, int decoupled);
/* L1 penalty as a proximal step: param = sign(param) * max(|param| - threshold, 0),
 * threshold = lr * l1 (>= 0). */
int ff_l1_update_f32(float *param /* (P) */, int64_t p, float threshold);
int ff_l1_update_f64(double *param /* (P) */, int64_t p, double threshold);
/* *norm = ||grad||_2 (accumulated in double, deterministic). */
int ff_grad_norm_f32(double *norm, const float *grad /* (P) */, int64_t p);
int ff_grad_norm_f64(double *norm, const double *grad /* (P) */, int64_t p);
/* As torch.nn.utils.clip_grad_norm_: if ||grad|| > max_norm, grad *= max_norm/(||grad|| + 1e-6).
 * *norm receives the norm before clipping; a non-finite norm returns FF_ENONFINITE
 * and leaves grad unchanged. */
int ff_clip_grad_norm_f32(double *norm, float *grad /* (P) */, int64_t p, double max_norm);
int ff_clip_grad_norm_f64(double *norm, double *grad /* (P) */, int64_t p, double max_norm);

/* ---- data: gather, shuffle, initialisation, checks [csrc/data.c] -------------------- */
/* out[r,:] = x[idx[r],:]; every idx in [0,N) or FF_EBADARG. */
int ff_gather_rows_f32(float *out /* (B,D) */, const float *x /* (N,D) */, const int64_t *idx /* (B) */,
                       int64_t b, int64_t d, int64_t n);
int ff_gather_rows_f64(double *out /* (B,D) */, const double *x /* (N,D) */, const int64_t *idx /* (B) */,
                       int64_t b, int64_t d, int64_t n);
int ff_gather_i64(int64_t *out /* (B) */, const int64_t *x /* (N) */, const int64_t *idx /* (B) */,
                  int64_t b, int64_t n);
/* Fisher-Yates shuffle of perm in place; swap partner of position i drawn from the
 * counter-based generator at (seed, stream, i), unbiased (rejection sampling; retries
 * read counters i + r*2^48, hence n <= 2^48). */
int ff_shuffle_i64(int64_t *perm /* (N) */, int64_t n, uint64_t seed, uint64_t stream);
/* scikit-learn's SequentialDataset.shuffle: Fisher-Yates from position 0 with partner
 * i + r % (n - i), r from its xorshift our_rand_r (seed 0 taken as 1). Applied to the
 * previous epoch's order with the same seed, as scikit-learn's SGD does each epoch, it
 * gives scikit-learn's row order. n < 2^31 (scikit-learn's int indices). */
int ff_shuffle_sklearn_i64(int64_t *perm /* (N) */, int64_t n, uint32_t seed);
/* Weights from enum ff_init; element i uses the Philox block at (seed, offset + i) in
 * a stream reserved for initialisation (FF_PHILOX_DOMAIN_INIT in ff_random.h), so any
 * sub-range can be regenerated. fan_in, fan_out >= 1; gain >= 0 and finite. */
int ff_init_f32(float *w /* (n) */, int64_t n, int64_t fan_in, int64_t fan_out,
                int scheme, float gain, uint64_t seed, uint64_t offset);
int ff_init_f64(double *w /* (n) */, int64_t n, int64_t fan_in, int64_t fan_out,
                int scheme, double gain, uint64_t seed, uint64_t offset);
/* The raw generator: Philox4x32-10 keyed by seed; out[i] is word (offset+i)%4 of the
 * block for counter (offset+i)/4. Exposed for known-answer tests and for callers that
 * need reproducible uniform draws. */
int ff_philox_u32(uint32_t *out /* (n) */, int64_t n, uint64_t seed, uint64_t offset);
/* *count = number of NaN/inf values (cheap validation without a temporary array). */
int ff_count_nonfinite_f32(int64_t *count, const float *x /* (n) */, int64_t n);
int ff_count_nonfinite_f64(int64_t *count, const double *x /* (n) */, int64_t n);

/* ---- diagnostics [csrc/stream.c] ---------------------------------------------------- */
/* STREAM triad a = b + s * c over n values, OpenMP-parallel (static split, plain
 * stores, as STREAM): the benchmarks' measure of the machine's memory bandwidth, the
 * limit the streaming kernels (batch norm) are judged against. */
int ff_stream_triad_f32(float *a /* (n) */, const float *b /* (n) */, const float *c /* (n) */,
                        int64_t n, float s);
int ff_stream_triad_f64(double *a /* (n) */, const double *b /* (n) */, const double *c /* (n) */,
                        int64_t n, double s);

/* ---- training engine: a model compiled into a plan of kernel calls [csrc/engine.c] --- */
/* fastfit.nn compiles a model into an array of ff_op over flat buffers: params (P values;
 * the gradients use the same offsets in a second buffer), stats (batch-norm running
 * statistics), a save area (per-step batch statistics) and a per-batch workspace.
 * Workspace "slots" are offsets in values per row: a slot of width w starting at s holds
 * a (rows, w) row-major block at s*rows, rows being the workspace's row capacity. Slot 0
 * is the model's input. Gradients of activations use the same slots in a second
 * workspace (dact). Dropout masks use byte slots in the same way. */
enum ff_op_kind {
    FF_OP_LINEAR = 1,     /* y = x @ params[w] (in,out) + params[b] (b = -1: no bias)         */
    FF_OP_BATCHNORM = 2,  /* gamma at w, beta at b; running mean/var at stats[stat], +out;
                             batch mean/rstd kept at save[save], +out; a = eps, a2 = momentum  */
    FF_OP_ACTIVATION = 3, /* y = act(x); a = alpha (leaky slope)                               */
    FF_OP_DROPOUT = 4,    /* y = dropout(x); a = p; mask byte slot at save                     */
    FF_OP_SKIP = 5,       /* opens a residual block on x: w >= 0 projects, y = x @ params[w];
                             w = -1: no work (the ADD reads x itself). Backward adds the
                             block output's gradient (dy: the ADD's dy slot) into dx, through
                             the projection if any -- after the branch has written dx.       */
    FF_OP_ADD = 6         /* closes it: y = x + z, x the SKIP's output slot, z the branch's.
                             The branch's output gradient slot is the ADD's dy: no backward. */
};

typedef struct ff_op {
    int32_t kind;         /* enum ff_op_kind */
    int32_t act;          /* enum ff_activation, FF_OP_ACTIVATION only */
    int64_t in, out;      /* widths of x and y */
    int64_t x, z, y;      /* workspace slots of the input(s) and the output */
    int64_t dx, dy;       /* gradient slots of x and y; dx = -1: x's gradient is not needed */
    int64_t w, b;         /* parameter offsets, -1 when absent */
    int64_t stat;         /* running-statistics offset (batch norm) */
    int64_t save;         /* save-area offset (batch norm) or mask byte slot (dropout) */
    double a, a2;         /* hyper-parameters, see the kinds */
} ff_op;

enum ff_loss_kind {
    FF_LOSS_MSE = 0,
    FF_LOSS_HUBER = 1,          /* delta */
    FF_LOSS_BCE_LOGITS = 2,     /* targets (N,K) in [0,1] */
    FF_LOSS_SOFTMAX_CE = 3,     /* integer labels (N) */
    FF_LOSS_POISSON = 4         /* log link: pred is log(mean), targets (N,K) >= 0 */
};

enum ff_optimizer_kind {
    FF_OPTIM_SGD = 0,           /* slot1: velocity (momentum > 0)                         */
    FF_OPTIM_RMSPROP = 1,       /* slot1: square_avg, slot2: momentum buffer (momentum > 0) */
    FF_OPTIM_ADAM = 2           /* slot1: m, slot2: v; decoupled = AdamW                   */
};

/* ff_train_batch flags */
#define FF_BATCH_UPDATE 1       /* take the optimizer step (else gradients only)      */
#define FF_BATCH_STATS 2        /* update batch norm's running statistics            */

/* One model: its plan and the buffers prediction needs. */
typedef struct ff_model_f32 {
    const ff_op *ops;
    int64_t n_ops;
    int64_t n_in, n_out;        /* widths of the input (slot 0) and the output          */
    int64_t out_slot;           /* workspace slot of the output                          */
    int64_t width;              /* workspace values per row                              */
    int64_t mask_width;         /* dropout mask bytes per row                            */
    int64_t save_size;          /* values in the save area                               */
    int64_t n_params;           /* P                                                     */
    int64_t stats_size;         /* values in stats                                       */
    float *params;              /* (P)                                                   */
    float *stats;               /* running statistics                                   */
} ff_model_f32;
typedef struct ff_model_f64 {
    const ff_op *ops;
    int64_t n_ops;
    int64_t n_in, n_out;
    int64_t out_slot;
    int64_t width;
    int64_t mask_width;
    int64_t save_size;
    int64_t n_params;
    int64_t stats_size;
    double *params;
    double *stats;
} ff_model_f64;

/* Data-parallel training: the hook through which the engine, which knows nothing of MPI,
 * sums buffers over the ranks. allreduce replaces buf's count values (itemsize 4: float,
 * 8: double) by their sum over every rank, in place, the same bits on every rank; it
 * returns FF_OK or FF_ECOMM. fastfit's Python side binds it to mpi4py's Allreduce. Every
 * rank makes the same calls in the same order: per step one of the step's scalars (7
 * doubles: weight sum, weighted loss, hits, counted, non-finite and error flags, rows), two per
 * batch-norm layer (per-channel sums, 2C + 1 doubles, forward and backward) and one of
 * the whole flat gradient buffer (P values), before clipping and the update. */
typedef int (*ff_allreduce_fn)(void *ctx, void *buf, int64_t count, int32_t itemsize);
typedef struct ff_dist {
    ff_allreduce_fn allreduce;
    void *ctx;
    int32_t rank, n_ranks;
    int32_t sharded;            /* 0: every rank holds the same rows and takes its slice
                                   of every global batch (batch_size is the global
                                   batch); 1: each rank holds its own rows, shuffled
                                   locally, every global batch takes 1/n_batches of them */
    int64_t n_batches;          /* sharded: batches per epoch (the same on every rank) */
    const int64_t *counts;      /* sharded: rows per epoch of every rank (n_ranks) */
    int64_t cap;                /* rows of a global batch's dropout counter range (the
                                   single-process workspace capacity, so masks are keyed
                                   by the global row exactly as in one process) */
} ff_dist;

/* Everything training adds to a model: data, loss, optimizer, workspace, epoch totals.
 * The epoch visits the rows order[0..n) (reset from `rows` -- or 0..n-1 when rows is
 * NULL -- and shuffled at the start of every epoch), in batches of batch_size; with
 * merge_single a last batch of one row joins the batch before it (batch norm cannot
 * normalise one row), so the workspace then needs batch_size + 1 rows. */
typedef struct ff_train_f32 {
    /* data: x (N0, n_in); target (N0, n_out) for mse/huber/bce or labels (N0) for
     * softmax CE; weight (N0) or NULL; the epoch uses n of the N0 rows */
    const float *x;
    const float *target;
    const int64_t *labels;
    const float *weight;
    const int64_t *rows;        /* (n) or NULL */
    int64_t *order;             /* (n) scratch */
    int64_t n, n_total;         /* rows per epoch, rows in x (N0) */
    /* loop */
    int64_t batch_size;
    int32_t shuffle, merge_single, n_threads, loss;
    uint64_t shuffle_seed, dropout_seed;
    double delta;               /* huber */
    /* optimizer */
    int32_t optimizer, nesterov, decoupled;
    int32_t sklearn;            /* 1: scikit-learn's MLP conventions: the coupled L2 term
                                   weight_decay * w is divided by the batch's weight sum,
                                   Adam adds eps before the bias correction of v (eps /
                                   sqrt(1 - beta2^t) in torch's form), and the epoch loss
                                   averages batches by rows, not by weight */
    double momentum, alpha, beta1, beta2, eps, weight_decay, l1, clip_norm;
    int64_t n_decay;            /* params [0, n_decay) take weight decay and L1 */
    int64_t step;               /* optimizer steps taken (Adam's t); dropout counter */
    float *grads, *slot1, *slot2;
    /* workspace for `capacity` rows */
    int64_t capacity;
    float *act, *dact, *save;
    uint8_t *mask;
    float *target_b, *weight_b;
    int64_t *labels_b;
    /* epoch totals, reset by a call with first_batch == 0 */
    double loss_sum, weight_sum;
    int64_t correct, counted;   /* classification hits / predictions counted */
    int64_t failed_batch;       /* batch whose loss was not finite, or -1 */
    double last_loss;
    double l2_loss;             /* > 0: each batch's loss gains l2_loss/2 * ||params[0,
                                   n_decay)||^2 / (batch weight sum), weights taken before
                                   the step (scikit-learn's MLP penalty) */
    /* CSR input, used when x_indptr is not NULL (x is then NULL): X (N0, n_in) as
     * x_data/x_indices (x_nnz stored values) and x_indptr (N0+1). The model's first op
     * must be a Linear layer and the only reader of the input (FF_EBADARG otherwise);
     * slot 0 is then never formed, so act and dact hold the slots from n_in on:
     * capacity * (width - n_in) values each. */
    const float *x_data;
    const int64_t *x_indptr, *x_indices;
    int64_t x_nnz;
    const ff_dist *dist;        /* NULL: one process; else a data-parallel fit whose
                                   totals (loss_sum, weight_sum, correct, counted, last_loss)
                                   are those of the global batches (dense x only: FF_EBADARG with
                                   x_indptr) */
} ff_train_f32;
typedef struct ff_train_f64 {
    const double *x;
    const double *target;
    const int64_t *labels;
    const double *weight;
    const int64_t *rows;
    int64_t *order;
    int64_t n, n_total;
    int64_t batch_size;
    int32_t shuffle, merge_single, n_threads, loss;
    uint64_t shuffle_seed, dropout_seed;
    double delta;
    int32_t optimizer, nesterov, decoupled;
    int32_t sklearn;
    double momentum, alpha, beta1, beta2, eps, weight_decay, l1, clip_norm;
    int64_t n_decay;
    int64_t step;
    double *grads, *slot1, *slot2;
    int64_t capacity;
    double *act, *dact, *save;
    uint8_t *mask;
    double *target_b, *weight_b;
    int64_t *labels_b;
    double loss_sum, weight_sum;
    int64_t correct, counted;
    int64_t failed_batch;
    double last_loss;
    double l2_loss;
    const double *x_data;
    const int64_t *x_indptr, *x_indices;
    int64_t x_nnz;
    const ff_dist *dist;
} ff_train_f64;

/* The epoch's rules, shared by the C engine and the CUDA trainer (fastfit.cuda), so
 * that both cut, count and key batches identically. ff_batch_count: batches per epoch
 * of n rows (0 for n < 1); ff_batch_bounds: rows [lo, hi) of batch b of the epoch
 * order, FF_EBADARG for b outside [0, ff_batch_count) -- with merge_single a last batch of one row joins the
 * batch before it; ff_dropout_offset: the first dropout counter of the step-th optimizer
 * step (a layer adds its mask byte slot times capacity). */
int64_t ff_batch_count(int64_t n, int64_t batch_size, int merge_single);
int ff_batch_bounds(int64_t *lo, int64_t *hi, int64_t b, int64_t n, int64_t batch_size,
                    int merge_single);
uint64_t ff_dropout_offset(int64_t step, int64_t mask_width, int64_t capacity);
/* wsum[b] (ff_batch_count values): the weight sum of batch b of the epoch order (n row
 * numbers in [0, n_total)), summed in row order in double, or its rows without weights
 * (weight NULL). The engine skips a batch whose sum is <= 0 (no loss, no step). */
int ff_batch_weight_sums_f32(double *wsum, const float *weight, const int64_t *order, int64_t n,
                             int64_t n_total, int64_t batch_size, int merge_single);
int ff_batch_weight_sums_f64(double *wsum, const double *weight, const int64_t *order, int64_t n,
                             int64_t n_total, int64_t batch_size, int merge_single);
/* The optimizer coefficients of the step-th step (counted from 1) in scikit-learn mode
 * (ff_train's sklearn), in place: the coupled L2 coefficient divided by the batch's weight
 * sum (not with decoupled decay), and Adam's eps added to sqrt(v) before the bias
 * correction -- eps / sqrt(1 - beta2^step) in torch's form. Unchanged otherwise. */
int ff_step_coefficients(double *weight_decay, double *eps, int32_t sklearn, int32_t optimizer,
                         int32_t decoupled, double beta2, int64_t step, double wsum);

/* Batches [first_batch, first_batch + n_batches) of one epoch: gather, forward, loss and
 * gradient, backward, clip, optimizer step with lr[i] for the i-th of them. The epoch's
 * shuffle (seed shuffle_seed, stream epoch) happens when first_batch == 0, which also
 * resets the totals. A non-finite loss or gradient norm stops at that batch with
 * FF_ENONFINITE (failed_batch set; parameters as after the batch before). Runs on
 * n_threads threads (the caller's own setting is restored). */
int ff_train_epoch_f32(ff_train_f32 *t, const ff_model_f32 *m, int64_t epoch,
                       int64_t first_batch, int64_t n_batches, const double *lr);
int ff_train_epoch_f64(ff_train_f64 *t, const ff_model_f64 *m, int64_t epoch,
                       int64_t first_batch, int64_t n_batches, const double *lr);
/* Blocks of a training step of `rows` rows: a step of a small model (no batch norm, one
 * process) cuts its rows into this many blocks, and each thread of one parallel region
 * runs forward, loss and backward over whole blocks, their gradients added in block
 * order; 1: the whole batch at once, each kernel splitting its own work. Depends on
 * the plan and rows alone, never on the thread count, and neither do the bits; a step
 * uses at most this many threads. 0 for an invalid model. */
int64_t ff_train_step_blocks_f32(const ff_model_f32 *m, int64_t rows, int data_parallel);
int64_t ff_train_step_blocks_f64(const ff_model_f64 *m, int64_t rows, int data_parallel);
/* One given batch, no gather: x (n, n_in) -- or, with x NULL, rows 0..n-1 of the CSR
 * input in t (x_indptr; n <= n_total) --, target/labels/weight as in ff_train_*. Zeroes
 * the gradients, runs forward (training mode), loss, backward; flags FF_BATCH_UPDATE
 * takes the optimizer step with lr, FF_BATCH_STATS updates running statistics. The
 * loss lands in t->last_loss; n <= capacity. */
int ff_train_batch_f32(ff_train_f32 *t, const ff_model_f32 *m, const float *x,
                       const float *target, const int64_t *labels, const float *weight,
                       int64_t n, double lr, int flags);
int ff_train_batch_f64(ff_train_f64 *t, const ff_model_f64 *m, const double *x,
                       const double *target, const int64_t *labels, const double *weight,
                       int64_t n, double lr, int flags);
/* Evaluation-mode forward (running statistics, no dropout): out (N, n_out) for the rows
 * x[idx[i]] (or x[i] when idx is NULL), in chunks through each running thread's own kept workspace, so
 * concurrent calls on one model are safe. n_threads < 1: the caller's setting. flags:
 * FF_PREDICT_CHECK_FINITE: a NaN/inf in the rows used returns FF_ENONFINITE (one call
 * instead of a separate check: a one-row prediction is a few microseconds; rows x[i] are
 * checked chunk by chunk by the thread that computes them, gathered rows all first;
 * out is then unspecified); FF_PREDICT_SOFTMAX / FF_PREDICT_SIGMOID: the outputs go through a
 * row softmax / an elementwise sigmoid (predict_proba) on each chunk while it is in
 * cache, on the thread that computed it. */
#define FF_PREDICT_CHECK_FINITE 1
#define FF_PREDICT_SOFTMAX 2
#define FF_PREDICT_SIGMOID 4
int ff_model_predict_f32(float *out, const ff_model_f32 *m, const float *x,
                         const int64_t *idx, int64_t n, int64_t n_x, int n_threads,
                         int flags);
int ff_model_predict_f64(double *out, const ff_model_f64 *m, const double *x,
                         const int64_t *idx, int64_t n, int64_t n_x, int n_threads,
                         int flags);

/* ff_model_predict for a CSR X (N, n_in) (data/indices of nnz stored values, indptr
 * (N+1)), its stored values finite (checked by the caller): the first op (a Linear
 * layer, the only reader of the input, else FF_EBADARG) runs on the sparse rows, the
 * rest of the plan as usual; the workspace holds no dense input slot. flags: the output
 * function only (FF_PREDICT_SOFTMAX or FF_PREDICT_SIGMOID), on each chunk. */
int ff_model_predict_csr_f32(float *out, const ff_model_f32 *m, const float *data,
                             const int64_t *indptr, const int64_t *indices, int64_t n,
                             int64_t nnz, int n_threads, int flags);
int ff_model_predict_csr_f64(double *out, const ff_model_f64 *m, const double *data,
                             const int64_t *indptr, const int64_t *indices, int64_t n,
                             int64_t nnz, int n_threads, int flags);

/* ---- SGD linear models: scikit-learn's per-sample SGD (SGDClassifier/Regressor) [csrc/sgd.c] --- */
/* The loss of one binary problem or regression, exactly as scikit-learn's _sgd_fast. y is
 * in {-1, 1} for the margin losses, in {0, 1} for FF_SGD_LOG (half binomial), any real
 * for the regression losses; param is the hinge threshold (1 hinge, 0 perceptron), the
 * Huber delta or epsilon. */
enum ff_sgd_loss {
    FF_SGD_HINGE = 0,
    FF_SGD_SQUARED_HINGE = 1,
    FF_SGD_LOG = 2,
    FF_SGD_MODIFIED_HUBER = 3,
    FF_SGD_SQUARED_ERROR = 4,
    FF_SGD_HUBER = 5,
    FF_SGD_EPSILON_INSENSITIVE = 6,
    FF_SGD_SQUARED_EPSILON_INSENSITIVE = 7
};
/* scikit-learn's penalty and learning-rate codes (same values). */
enum ff_sgd_penalty { FF_SGD_NO_PENALTY = 0, FF_SGD_L1 = 1, FF_SGD_L2 = 2, FF_SGD_ELASTICNET = 3 };
enum ff_sgd_schedule {
    FF_SGD_CONSTANT = 1,    /* eta = state.eta                                     */
    FF_SGD_OPTIMAL = 2,     /* eta = 1 / (alpha (optimal_init + t - 1))           */
    FF_SGD_INVSCALING = 3,  /* eta = eta0 / t^power_t                             */
    FF_SGD_ADAPTIVE = 4,    /* eta = state.eta (the caller divides it by 5)        */
    FF_SGD_PA1 = 5,         /* passive-aggressive I,  step min(eta0, loss / |x|^2)  */
    FF_SGD_PA2 = 6          /* passive-aggressive II, step loss / (|x|^2 + 0.5/eta0) */
};

/* What every problem of one fit shares. */
typedef struct ff_sgd_config {
    int32_t loss, penalty, schedule, fit_intercept;
    int32_t objective;     /* accumulate state.sumloss / state.objective (loss + penalty) */
    int32_t shuffle;       /* shuffle order (seed, stream epoch) before the epoch */
    double loss_param;     /* hinge threshold, Huber delta, epsilon */
    double alpha, l1_ratio, eta0, power_t;
    double optimal_init;   /* 1 / (initial_eta0 alpha) of the 'optimal' schedule */
    double average;        /* 0: no averaging; else average from t >= average */
    uint64_t seed;
} ff_sgd_config;

/* One binary problem (one-vs-all column) or the regression, as scikit-learn's
 * WeightVector: the weights are w = wscale * v (v is the array passed), so the L2 decay
 * of a step is one multiply of wscale; the averaged weights are (aw + avg_a v) / avg_b.
 * Start a call sequence with wscale = 1, avg_a = 0, avg_b = 1, u = 0, q = 0, sq_norm =
 * v.v, l1_norm = sum |v|; ff_sgd_finish folds wscale and avg_a/avg_b back in. */
typedef struct ff_sgd_state {
    double intercept, avg_intercept;
    double t;              /* scikit-learn's t: 1 + samples seen (drives the schedules) */
    double eta;            /* the rate of 'constant' / 'adaptive' */
    double wscale, avg_a, avg_b, sq_norm, l1_norm;
    double u;              /* cumulative L1 penalty (truncated gradient) */
    double weight_pos, weight_neg;  /* class weights of y > 0 and y <= 0 */
    double sumloss, objective;      /* out: this epoch's summed loss and objective */
    int64_t label;         /* the positive class when labels are given */
    int32_t active;        /* 0: skipped (stopped early) */
    int32_t nonfinite;     /* out: 1 when v or the intercept is NaN/inf after the epoch */
} ff_sgd_state;

/* One epoch of per-sample SGD over the rows order[0..M) for K independent problems (the
 * one-vs-all columns; K = 1 for binary and regression). Targets: y (N) for regression,
 * else labels (N), problem k taking label == st[k].label as positive. sw (N) or NULL
 * (all ones). w, aw (averaging) and q (L1/elasticnet) are (K, D) rows per problem.
 * Problems are split over n_threads threads (< 1: the caller's setting); each one's
 * arithmetic is the same for any thread count. FF_ENONFINITE when an active problem
 * went non-finite (its st.nonfinite set). */
int ff_sgd_epoch_f32(float *w /* (K,D) */, float *aw /* (K,D) or NULL */, float *q /* (K,D) or NULL */,
                     ff_sgd_state *st /* (K) */, const ff_sgd_config *cfg,
                     const float *x /* (N,D) */, const float *y /* (N) or NULL */,
                     const int64_t *labels /* (N) or NULL */, const float *sw /* (N) or NULL */,
                     int64_t *order /* (M) */, int64_t n, int64_t d, int64_t k, int64_t m,
                     uint64_t epoch, int n_threads);
int ff_sgd_epoch_f64(double *w /* (K,D) */, double *aw /* (K,D) or NULL */, double *q /* (K,D) or NULL */,
                     ff_sgd_state *st /* (K) */, const ff_sgd_config *cfg,
                     const double *x /* (N,D) */, const double *y /* (N) or NULL */,
                     const int64_t *labels /* (N) or NULL */, const double *sw /* (N) or NULL */,
                     int64_t *order /* (M) */, int64_t n, int64_t d, int64_t k, int64_t m,
                     uint64_t epoch, int n_threads);
/* Fold wscale (and avg_a / avg_b into aw) back into the arrays: w becomes the weights,
 * aw the averaged weights; wscale = 1, avg_a = 0, avg_b = 1. */
int ff_sgd_finish_f32(float *w /* (K,D) */, float *aw /* (K,D) or NULL */, ff_sgd_state *st /* (K) */,
                      int64_t d, int64_t k);
int ff_sgd_finish_f64(double *w /* (K,D) */, double *aw /* (K,D) or NULL */, ff_sgd_state *st /* (K) */,
                      int64_t d, int64_t k);
/* d loss / d p of one sample, the epoch's own function (scikit-learn's py_dloss), for
 * the Python side's 'optimal' initial-rate heuristic: Python that mirrored it drifted. */
int ff_sgd_gradient(double *dloss /* (1) */, int loss, double loss_param, double y, double p);

/* ---- logistic regression: fused loss and gradient over a whole data set [csrc/logistic.c] --- */
/* One pass over x in row blocks: logits z = x @ w^T + b (b NULL: no intercept), then
 *   K == 1: binary logistic loss, labels in {0,1}:  l_i = log(1 + exp(z_i)) - y_i z_i
 *   K >= 2: softmax cross-entropy, labels in [0,K): l_i = logsumexp(z_i) - z_i[y_i]
 * and, with s_i = weight[i] (1 when weight is NULL):
 *   *loss = scale * sum_i s_i l_i
 *   dw    = scale * sum_i s_i (dl_i/dz_i)^T x_i   (K,I), skipped when dw is NULL
 *   db    = scale * sum_i s_i dl_i/dz_i           (K),   skipped when db or dw is NULL
 * The gradient is WRITTEN (not accumulated) and in double for both dtypes: it feeds a
 * double-precision optimizer (L-BFGS), and the per-block partials are added in double in
 * block order, so every output has the same bits for any thread count. A label out of
 * range, n, in or k < 1, a non-finite scale or a NULL x/w/labels/loss is FF_EBADARG; a
 * non-finite loss is FF_ENONFINITE (outputs written). */
int ff_logistic_loss_grad_f32(double *loss, double *dw /* (K,I) or NULL */, double *db /* (K) or NULL */,
                              const float *x /* (N,I) */, const float *w /* (K,I) */,
                              const float *b /* (K) or NULL */, const int64_t *labels /* (N) */,
                              const float *weight /* (N) or NULL */, int64_t n, int64_t in, int64_t k,
                              double scale);
int ff_logistic_loss_grad_f64(double *loss, double *dw /* (K,I) or NULL */, double *db /* (K) or NULL */,
                              const double *x /* (N,I) */, const double *w /* (K,I) */,
                              const double *b /* (K) or NULL */, const int64_t *labels /* (N) */,
                              const double *weight /* (N) or NULL */, int64_t n, int64_t in, int64_t k,
                              double scale);

/* ---- sparse input: CSR matrices (scipy.sparse layout) [csrc/sparse.c, csrc/logistic.c, csrc/sgd.c] ---
 * A CSR matrix X (N,I) with NNZ stored values is data (NNZ), indptr (N+1) and indices
 * (NNZ): row r holds data[p] at column indices[p] for p in [indptr[r], indptr[r+1]).
 * Index arrays are int64 (the Python wrappers widen scipy's int32 ones once per matrix,
 * when a kernel without an int32 instantiation needs them). Its CSC form
 * -- cdata (NNZ), cptr (I+1), crow (NNZ), the CSR of X^T -- serves the kernels that sum
 * over rows (X^T @ g) column by column, so the result does not depend on the thread
 * count. Duplicates are summed and the order within a row is free, but every sum runs in
 * the stored order. A row range outside [0, NNZ] or an index out of range returns
 * FF_EBADARG (the row is never dereferenced out of bounds; outputs may be partly written). */
/* FF_OK if indptr starts at 0, ends at nnz and never decreases and every index is in
 * [0, in); *canonical (when not NULL) = 1 if each row's indices are strictly increasing
 * (sorted, no duplicates), else 0. FF_EBADARG otherwise. Rows in parallel (from 2^20
 * non-zeros and rows); int64 or int32 indices (_i64 / _i32). */
int ff_csr_check_i64(int32_t *canonical /* (1) or NULL */, const int64_t *indptr /* (N+1) */,
                     const int64_t *indices /* (NNZ) */, int64_t n, int64_t in, int64_t nnz);
int ff_csr_check_i32(int32_t *canonical /* (1) or NULL */, const int64_t *indptr /* (N+1) */,
                     const int32_t *indices /* (NNZ) */, int64_t n, int64_t in, int64_t nnz);
/* y = X @ w + b (b NULL: no bias), written. w is (I,O) like ff_linear_forward's, so this is
 * also the sparse first layer's forward. Rows in parallel, each summed in stored order. */
int ff_csr_matmul_f32(float *y /* (N,O) */, const float *data /* (NNZ) */,
                      const int64_t *indptr /* (N+1) */, const int64_t *indices /* (NNZ) */,
                      const float *w /* (I,O) */, const float *b /* (O) or NULL */,
                      int64_t n, int64_t in, int64_t out, int64_t nnz);
int ff_csr_matmul_f64(double *y /* (N,O) */, const double *data /* (NNZ) */,
                      const int64_t *indptr /* (N+1) */, const int64_t *indices /* (NNZ) */,
                      const double *w /* (I,O) */, const double *b /* (O) or NULL */,
                      int64_t n, int64_t in, int64_t out, int64_t nnz);
/* dw += X^T @ g (accumulated, like ff_linear_backward's dw), from X's CSC form: the
 * weight gradient of the sparse first layer. Columns of X in parallel, each summed over
 * its rows in stored (ascending) order: the same bits for any thread count. */
int ff_csr_tmatmul_f32(float *dw /* (I,O) */, const float *cdata /* (NNZ) */,
                       const int64_t *cptr /* (I+1) */, const int64_t *crow /* (NNZ) */,
                       const float *g /* (N,O) */, int64_t n, int64_t in, int64_t out, int64_t nnz);
int ff_csr_tmatmul_f64(double *dw /* (I,O) */, const double *cdata /* (NNZ) */,
                       const int64_t *cptr /* (I+1) */, const int64_t *crow /* (NNZ) */,
                       const double *g /* (N,O) */, int64_t n, int64_t in, int64_t out, int64_t nnz);
/* One-vector products for iterative solvers (Ridge's sparse conjugate gradients), with
 * int64 or int32 indices (_i64 / _i32; indptr is int64 in both): these passes stream the
 * whole matrix for 2 flops a non-zero, and int32 indices cut its bytes by a third.
 * ff_csr_matvec:  y = X v, written; rows in parallel (from NNZ + N >= 2^20), each summed
 *   in a fixed order.
 * ff_csr_tmatvec: y = X^T u, written, from the CSR rows (no CSC copy): X's rows are cut
 *   into 4 fixed blocks (1, a plain serial scatter, when NNZ < 4 I or NNZ + N < 2^20),
 *   each scattered in row order into its own partial, and the partials are added in
 *   block order. Both: the same bits for any thread count. */
int ff_csr_matvec_i64_f32(float *y /* (N) */, const float *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                          const int64_t *indices /* (NNZ) */, const float *v /* (I) */, int64_t n, int64_t in,
                          int64_t nnz);
int ff_csr_matvec_i64_f64(double *y /* (N) */, const double *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                          const int64_t *indices /* (NNZ) */, const double *v /* (I) */, int64_t n, int64_t in,
                          int64_t nnz);
int ff_csr_matvec_i32_f32(float *y /* (N) */, const float *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                          const int32_t *indices /* (NNZ) */, const float *v /* (I) */, int64_t n, int64_t in,
                          int64_t nnz);
int ff_csr_matvec_i32_f64(double *y /* (N) */, const double *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                          const int32_t *indices /* (NNZ) */, const double *v /* (I) */, int64_t n, int64_t in,
                          int64_t nnz);
int ff_csr_tmatvec_i64_f32(float *y /* (I) */, const float *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                           const int64_t *indices /* (NNZ) */, const float *u /* (N) */, int64_t n, int64_t in,
                           int64_t nnz);
int ff_csr_tmatvec_i64_f64(double *y /* (I) */, const double *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                           const int64_t *indices /* (NNZ) */, const double *u /* (N) */, int64_t n, int64_t in,
                           int64_t nnz);
int ff_csr_tmatvec_i32_f32(float *y /* (I) */, const float *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                           const int32_t *indices /* (NNZ) */, const float *u /* (N) */, int64_t n, int64_t in,
                           int64_t nnz);
int ff_csr_tmatvec_i32_f64(double *y /* (I) */, const double *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                           const int32_t *indices /* (NNZ) */, const double *u /* (N) */, int64_t n, int64_t in,
                           int64_t nnz);
/* The sparse first layer of an MLP on a batch of rows of X (N_ROWS,I): the rows rows[r]
 * (each in [0, N_ROWS)), or rows 0..N-1 when rows is NULL (N <= N_ROWS).
 * ff_csr_rows_matmul:  y = X[rows] @ w + b (b NULL: no bias), written; rows in parallel.
 * ff_csr_rows_tmatmul: dw += X[rows]^T @ g, accumulated; each element sums its terms
 *   in batch order, a row's non-zeros in stored order, with threads owning spans of
 *   the O columns: the same bits for any thread count, and no CSC copy of the batch.
 * A bad row number, row range or index returns FF_EBADARG (outputs may be partly written). */
int ff_csr_rows_matmul_f32(float *y /* (N,O) */, const float *data /* (NNZ) */,
                           const int64_t *indptr /* (N_ROWS+1) */, const int64_t *indices /* (NNZ) */,
                           const int64_t *rows /* (N) or NULL */, const float *w /* (I,O) */,
                           const float *b /* (O) or NULL */, int64_t n, int64_t n_rows, int64_t in,
                           int64_t out, int64_t nnz);
int ff_csr_rows_matmul_f64(double *y /* (N,O) */, const double *data /* (NNZ) */,
                           const int64_t *indptr /* (N_ROWS+1) */, const int64_t *indices /* (NNZ) */,
                           const int64_t *rows /* (N) or NULL */, const double *w /* (I,O) */,
                           const double *b /* (O) or NULL */, int64_t n, int64_t n_rows, int64_t in,
                           int64_t out, int64_t nnz);
int ff_csr_rows_tmatmul_f32(float *dw /* (I,O) */, const float *data /* (NNZ) */,
                            const int64_t *indptr /* (N_ROWS+1) */, const int64_t *indices /* (NNZ) */,
                            const int64_t *rows /* (N) or NULL */, const float *g /* (N,O) */,
                            int64_t n, int64_t n_rows, int64_t in, int64_t out, int64_t nnz);
int ff_csr_rows_tmatmul_f64(double *dw /* (I,O) */, const double *data /* (NNZ) */,
                            const int64_t *indptr /* (N_ROWS+1) */, const int64_t *indices /* (NNZ) */,
                            const int64_t *rows /* (N) or NULL */, const double *g /* (N,O) */,
                            int64_t n, int64_t n_rows, int64_t in, int64_t out, int64_t nnz);
/* The loss and gradient of ff_logistic_loss_grad (same semantics, outputs and errors) with
 * X given as CSR (the logits, rows in parallel) and, when dw is not NULL, as CSC too (the
 * gradient, columns in parallel). The gradient is formed in double. With int64 (_i64) or
 * int32 (_i32) column indices in the CSR and row indices in the CSC (indptr/cptr int64).
 * For K = 1 the CSC form may be NULL (cdata, cptr, crow): the gradient then comes from the
 * rows, 4 fixed row blocks (1 when NNZ < 4 I or NNZ + N < 2^20) scattered into partials
 * of X's dtype (float32 X sums each block in float32, as scipy's float32 X^T g does) added
 * in block order in double -- no CSC copy to make, and the same bits for any thread
 * count. */
int ff_csr_logistic_loss_grad_i64_f32(double *loss, double *dw /* (K,I) or NULL */, double *db /* (K) or NULL */,
                                      const float *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                                      const int64_t *indices /* (NNZ) */, const float *cdata /* (NNZ) or NULL */,
                                      const int64_t *cptr /* (I+1) or NULL */, const int64_t *crow /* (NNZ) or NULL */,
                                      const float *w /* (K,I) */, const float *b /* (K) or NULL */,
                                      const int64_t *labels /* (N) */, const float *weight /* (N) or NULL */,
                                      int64_t n, int64_t in, int64_t k, int64_t nnz, double scale);
int ff_csr_logistic_loss_grad_i64_f64(double *loss, double *dw /* (K,I) or NULL */, double *db /* (K) or NULL */,
                                      const double *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                                      const int64_t *indices /* (NNZ) */, const double *cdata /* (NNZ) or NULL */,
                                      const int64_t *cptr /* (I+1) or NULL */, const int64_t *crow /* (NNZ) or NULL */,
                                      const double *w /* (K,I) */, const double *b /* (K) or NULL */,
                                      const int64_t *labels /* (N) */, const double *weight /* (N) or NULL */,
                                      int64_t n, int64_t in, int64_t k, int64_t nnz, double scale);
int ff_csr_logistic_loss_grad_i32_f32(double *loss, double *dw /* (K,I) or NULL */, double *db /* (K) or NULL */,
                                      const float *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                                      const int32_t *indices /* (NNZ) */, const float *cdata /* (NNZ) or NULL */,
                                      const int64_t *cptr /* (I+1) or NULL */, const int32_t *crow /* (NNZ) or NULL */,
                                      const float *w /* (K,I) */, const float *b /* (K) or NULL */,
                                      const int64_t *labels /* (N) */, const float *weight /* (N) or NULL */,
                                      int64_t n, int64_t in, int64_t k, int64_t nnz, double scale);
int ff_csr_logistic_loss_grad_i32_f64(double *loss, double *dw /* (K,I) or NULL */, double *db /* (K) or NULL */,
                                      const double *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                                      const int32_t *indices /* (NNZ) */, const double *cdata /* (NNZ) or NULL */,
                                      const int64_t *cptr /* (I+1) or NULL */, const int32_t *crow /* (NNZ) or NULL */,
                                      const double *w /* (K,I) */, const double *b /* (K) or NULL */,
                                      const int64_t *labels /* (N) */, const double *weight /* (N) or NULL */,
                                      int64_t n, int64_t in, int64_t k, int64_t nnz, double scale);
/* ff_sgd_epoch over CSR rows: the same state, config, targets, order and results, with
 * scikit-learn's sparse semantics -- each step touches only the row's non-zeros (the dot,
 * the update, the average and the lazy L1 truncation of the features it holds) and the
 * intercept moves by update * intercept_decay (scikit-learn: 0.01 for sparse X, 1 for
 * dense). The objective's norms are kept exactly, per touched feature. Finish with
 * ff_sgd_finish. Each row's range and indices are checked as the row is reached (no pass
 * over the whole matrix each epoch): a bad one returns FF_EBADARG with the rows before it
 * applied (the Python wrappers check the structure once, when the matrix is converted).
 * _i64 / _i32: the column indices' width (indptr is int64 in both). */
int ff_csr_sgd_epoch_i64_f32(float *w /* (K,D) */, float *aw /* (K,D) or NULL */, float *q /* (K,D) or NULL */,
                             ff_sgd_state *st /* (K) */, const ff_sgd_config *cfg,
                             const float *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                             const int64_t *indices /* (NNZ) */, const float *y /* (N) or NULL */,
                             const int64_t *labels /* (N) or NULL */, const float *sw /* (N) or NULL */,
                             int64_t *order /* (M) */, int64_t n, int64_t d, int64_t k, int64_t m,
                             int64_t nnz, uint64_t epoch, int n_threads, double intercept_decay);
int ff_csr_sgd_epoch_i64_f64(double *w /* (K,D) */, double *aw /* (K,D) or NULL */, double *q /* (K,D) or NULL */,
                             ff_sgd_state *st /* (K) */, const ff_sgd_config *cfg,
                             const double *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                             const int64_t *indices /* (NNZ) */, const double *y /* (N) or NULL */,
                             const int64_t *labels /* (N) or NULL */, const double *sw /* (N) or NULL */,
                             int64_t *order /* (M) */, int64_t n, int64_t d, int64_t k, int64_t m,
                             int64_t nnz, uint64_t epoch, int n_threads, double intercept_decay);
int ff_csr_sgd_epoch_i32_f32(float *w /* (K,D) */, float *aw /* (K,D) or NULL */, float *q /* (K,D) or NULL */,
                             ff_sgd_state *st /* (K) */, const ff_sgd_config *cfg,
                             const float *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                             const int32_t *indices /* (NNZ) */, const float *y /* (N) or NULL */,
                             const int64_t *labels /* (N) or NULL */, const float *sw /* (N) or NULL */,
                             int64_t *order /* (M) */, int64_t n, int64_t d, int64_t k, int64_t m,
                             int64_t nnz, uint64_t epoch, int n_threads, double intercept_decay);
int ff_csr_sgd_epoch_i32_f64(double *w /* (K,D) */, double *aw /* (K,D) or NULL */, double *q /* (K,D) or NULL */,
                             ff_sgd_state *st /* (K) */, const ff_sgd_config *cfg,
                             const double *data /* (NNZ) */, const int64_t *indptr /* (N+1) */,
                             const int32_t *indices /* (NNZ) */, const double *y /* (N) or NULL */,
                             const int64_t *labels /* (N) or NULL */, const double *sw /* (N) or NULL */,
                             int64_t *order /* (M) */, int64_t n, int64_t d, int64_t k, int64_t m,
                             int64_t nnz, uint64_t epoch, int n_threads, double intercept_decay);

/* ---- L-BFGS pairs [csrc/lbfgs.c] ---------------------------------------------------------
 * The two passes an iteration of fastfit/_estimators/_lbfgs.py over its stored pairs w,
 * n_rows rows of n held as float32 or float64 in tiles of `tile` (1 to 1024) coordinates:
 * w (ceil(n / tile), n_rows, tile), row r's coordinates [b*tile, (b+1)*tile) at w[b, r, :].
 * Every vector, coefficient and sum is double; rows (nr) picks the rows used (each in
 * [0, n_rows)). Both give the same bits for any thread count (fixed chunks of 8 tiles,
 * added in chunk order). */
/* With s_row >= 0, first store the pair s = t d, y = g_new - g_old in rows s_row and y_row
 * (distinct). Then dots[q] = w[rows[q], :] . g_new, the stored pair included; stats = (s.y,
 * y.y of the unrounded pair, 0 without one; max |g_new|, NaN if g_new has one). */
int ff_lbfgs_update_f32(double *dots /* (nr) */, double *stats /* (3) */, float *w,
                        int64_t n_rows, int64_t tile, int64_t n, const int64_t *rows /* (nr) */,
                        int64_t nr, int64_t s_row, int64_t y_row, double t,
                        const double *d /* (n) */, const double *g_old /* (n) */,
                        const double *g_new /* (n) */);
int ff_lbfgs_update_f64(double *dots /* (nr) */, double *stats /* (3) */, double *w,
                        int64_t n_rows, int64_t tile, int64_t n, const int64_t *rows /* (nr) */,
                        int64_t nr, int64_t s_row, int64_t y_row, double t,
                        const double *d /* (n) */, const double *g_old /* (n) */,
                        const double *g_new /* (n) */);
/* d = -(gamma g + sum over q of c[q] w[rows[q], :]), q ascending for every coordinate;
 * stats = (d.g, d.d). */
int ff_lbfgs_direction_f32(double *d /* (n) */, double *stats /* (2) */, const float *w,
                           int64_t n_rows, int64_t tile, int64_t n,
                           const int64_t *rows /* (nr) */, int64_t nr, const double *c /* (nr) */,
                           double gamma, const double *g /* (n) */);
int ff_lbfgs_direction_f64(double *d /* (n) */, double *stats /* (2) */, const double *w,
                           int64_t n_rows, int64_t tile, int64_t n,
                           const int64_t *rows /* (nr) */, int64_t nr, const double *c /* (nr) */,
                           double gamma, const double *g /* (n) */);

/* FF_CDEF_END */

#endif /* FASTFIT_H */
