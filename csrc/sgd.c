/*
 * sgd.c -- scikit-learn's plain per-sample SGD (SGDClassifier / SGDRegressor) in C: one
 * call runs one epoch over a given row order for K independent problems (the
 * one-vs-all columns of a multiclass fit, spread over threads).
 *
 * The arithmetic follows sklearn/linear_model/_sgd_fast.pyx.tp and
 * sklearn/utils/_weight_vector.pyx.tp step by step -- the losses and their derivatives,
 * the dloss clip at 1e12, the schedules, weight decay as a multiply of the scale wscale
 * (w = wscale * v, O(1) per step), the truncated-gradient cumulative L1 penalty, Bottou's
 * averaging trick, the per-sample objective behind the tol rule -- so that with the same
 * row order the coefficients agree with scikit-learn's to float64 rounding. What differs
 * is only how the two vector loops per sample are written: the dot product keeps
 * several independent partial sums (a vector's worth) instead of one serial chain, and
 * the axpy, the norms for the objective, the averaging update and the L1 truncation are
 * fused into one pass over the weights. Those two loops are the whole cost: a sample is
 * latency-bound on the dot (the step size depends on it) and on reading its row.
 *
 * The per-dtype bodies live in sgd.inc; the losses (always double, as scikit-learn's)
 * and the argument checks live here.
 */
/* No FMA contraction in this file: scikit-learn's wheels compute x*s and v + (x*s) as two
 * roundings, and SGD with large steps amplifies a one-ulp difference into a different
 * model within an epoch. Without contraction a row shorter than FF_SGD_LANES gives
 * bitwise scikit-learn's coefficients; longer rows differ only in the dot's summation
 * order. (The mul and add stay off the dot's critical path: same latency.) */
#pragma GCC optimize("fp-contract=off")
#include "ff_internal.h"

#include <stdlib.h>

/* Partial sums of the dot product: two 512-bit vectors' worth, whatever the dtype. The
 * reduction order is fixed by this, not by the thread count or the ISA clone. */
#define FF_SGD_LANES (128 / (int)sizeof(FF_T))

/* scikit-learn's invscaling rate eta0 / t^power_t. pow() costs ~30 ns, a third of the
 * per-sample step at 20 features; the default exponents 0.25 (SGDRegressor) and 0.5 are
 * square roots instead (correctly rounded, so within an ulp of pow's result). */
static inline double ff_sgd_invscaling(double eta0, double t, double power_t) {
    if (power_t == 0.25) return eta0 / sqrt(sqrt(t));
    if (power_t == 0.5) return eta0 / sqrt(t);
    return eta0 / pow(t, power_t);
}

/* log(1 + exp(x)) as scikit-learn's _loss.log1pexp. */
static inline double ff_sgd_log1pexp(double x) {
    if (x <= -37) return exp(x);
    if (x <= -2) return log1p(exp(x));
    if (x <= 18) return log(1. + exp(x));
    if (x <= 33.3) return x + exp(-x);
    return x;
}

/* The loss at prediction p for target y (scikit-learn's cy_loss / loss). */
static inline double ff_sgd_loss(int kind, double a, double y, double p) {
    double z, r;
    switch (kind) {
        case FF_SGD_HINGE:
            z = p * y;
            return z <= a ? a - z : 0.0;
        case FF_SGD_SQUARED_HINGE:
            z = a - p * y;
            return z > 0 ? z * z : 0.0;
        case FF_SGD_LOG:
            return ff_sgd_log1pexp(p) - y * p;
        case FF_SGD_MODIFIED_HUBER:
            z = p * y;
            if (z >= 1.0) return 0.0;
            if (z >= -1.0) return (1.0 - z) * (1.0 - z);
            return -4.0 * z;
        case FF_SGD_SQUARED_ERROR:
            return 0.5 * (p - y) * (p - y);
        case FF_SGD_HUBER:
            r = fabs(y - p);
            return r <= a ? 0.5 * r * r : a * (r - 0.5 * a);
        case FF_SGD_EPSILON_INSENSITIVE:
            r = fabs(y - p) - a;
            return r > 0 ? r : 0.0;
        default: /* FF_SGD_SQUARED_EPSILON_INSENSITIVE */
            r = fabs(y - p) - a;
            return r > 0 ? r * r : 0.0;
    }
}

/* d loss / d p (scikit-learn's cy_gradient / dloss). */
static inline double ff_sgd_dloss(int kind, double a, double y, double p) {
    double z, e;
    switch (kind) {
        case FF_SGD_HINGE:
            return p * y <= a ? -y : 0.0;
        case FF_SGD_SQUARED_HINGE:
            z = a - p * y;
            return z > 0 ? -2 * y * z : 0.0;
        case FF_SGD_LOG:
            if (p > -37) {
                e = exp(-p);
                return ((1 - y) - y * e) / (1 + e);
            }
            return exp(p) - y;
        case FF_SGD_MODIFIED_HUBER:
            z = p * y;
            if (z >= 1.0) return 0.0;
            if (z >= -1.0) return 2.0 * (1.0 - z) * -y;
            return -4.0 * y;
        case FF_SGD_SQUARED_ERROR:
            return p - y;
        case FF_SGD_HUBER:
            z = p - y;
            if (fabs(z) <= a) return z;
            return z >= 0 ? a : -a;
        case FF_SGD_EPSILON_INSENSITIVE:
            if (y - p > a) return -1;
            if (p - y > a) return 1;
            return 0;
        default: /* FF_SGD_SQUARED_EPSILON_INSENSITIVE */
            z = y - p;
            if (z > a) return -2 * (z - a);
            if (z < -a) return 2 * (-z - a);
            return 0;
    }
}

int ff_sgd_gradient(double *dloss, int loss, double loss_param, double y, double p) {
    if (!dloss || loss < FF_SGD_HINGE || loss > FF_SGD_SQUARED_EPSILON_INSENSITIVE)
        return FF_EBADARG;
    *dloss = ff_sgd_dloss(loss, loss_param, y, p);
    return FF_OK;
}

static int ff_sgd_config_ok(const ff_sgd_config *c) {
    if (c->loss < FF_SGD_HINGE || c->loss > FF_SGD_SQUARED_EPSILON_INSENSITIVE) return 0;
    if (c->penalty < FF_SGD_NO_PENALTY || c->penalty > FF_SGD_ELASTICNET) return 0;
    if (c->schedule < FF_SGD_CONSTANT || c->schedule > FF_SGD_PA2) return 0;
    if (!(c->alpha >= 0 && isfinite(c->alpha))) return 0;
    if (!(c->l1_ratio >= 0 && c->l1_ratio <= 1)) return 0;
    if (!(c->loss_param >= 0 && isfinite(c->loss_param))) return 0;
    if (!isfinite(c->power_t) || !(c->average >= 0) || !isfinite(c->optimal_init)) return 0;
    if (c->schedule == FF_SGD_OPTIMAL && !(c->alpha > 0)) return 0;
    if (!(c->eta0 >= 0 && isfinite(c->eta0))) return 0;
    if ((c->schedule == FF_SGD_INVSCALING || c->schedule >= FF_SGD_PA1) && !(c->eta0 > 0)) return 0;
    return 1;
}

/* The checks of ff_sgd_epoch's aw/q/state arguments that do not depend on the dtype
 * (used by the sparse epoch). */
static int ff_sgd_args_ok(int have_aw, int have_q, const ff_sgd_state *st,
                          const ff_sgd_config *cfg, int64_t k) {
    if (!ff_sgd_config_ok(cfg)) return 0;
    if (cfg->average != 0 && !have_aw) return 0;
    if ((cfg->penalty == FF_SGD_L1 || cfg->penalty == FF_SGD_ELASTICNET) && !have_q) return 0;
    if (cfg->schedule >= FF_SGD_PA1 && cfg->loss != FF_SGD_HINGE &&
        cfg->loss != FF_SGD_EPSILON_INSENSITIVE)
        return 0;
    for (int64_t kk = 0; kk < k; ++kk) {
        const ff_sgd_state *s = &st[kk];
        if (!(s->wscale > 0 && isfinite(s->wscale) && s->avg_b > 0 && s->t >= 1)) return 0;
        if (!(s->weight_pos >= 0 && s->weight_neg >= 0)) return 0;
        if ((cfg->schedule == FF_SGD_CONSTANT || cfg->schedule == FF_SGD_ADAPTIVE) &&
            !(s->eta > 0 && isfinite(s->eta)))
            return 0;
    }
    return 1;
}

#define FF_BODY "sgd.inc"
#include "ff_instantiate.h"

/* The sparse (CSR) epoch: a second body in this file so that it shares the losses, the
 * checks and the scaled-vector helpers above and in sgd.inc. Its dot keeps this many
 * partial sums, from rows of FF_CSR_SGD_SERIAL non-zeros on. */
#define FF_CSR_SGD_LANES 4
#define FF_CSR_SGD_SERIAL 16
/* rows ahead whose lines are prefetched: a shuffled row is a DRAM miss (~100 ns) */
#define FF_CSR_SGD_AHEAD 8
#define FF_IX int64_t
#define FF_IXN i64
#define FF_BODY "sparse_sgd.inc"
#include "ff_instantiate.h"
#undef FF_IX
#undef FF_IXN
#define FF_IX int32_t
#define FF_IXN i32
#define FF_BODY "sparse_sgd.inc"
#include "ff_instantiate.h"
#undef FF_IX
#undef FF_IXN
