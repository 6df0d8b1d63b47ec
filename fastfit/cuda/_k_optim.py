"""Optimizer updates over one flat buffer, gradient norm and clipping (csrc/optim.inc).

Formulas operation for operation as the C kernels (torch.optim's): per-call constants
(bias corrections, 1 - beta) are folded on the host in double and passed in the
parameter dtype, so a float32 update runs in float32 throughout. One launch updates
every parameter of a model. ``ff_clip_grad_norm`` keeps the norm on the device: the
scaling kernel reads it there, and only the returned norm needs the host.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32, float64

from fastfit.cuda import _fmath as fm
from fastfit.cuda import _reduce as R
from fastfit.cuda._device import THREADS, blocks, flat, is_device, scratch
from fastfit.cuda._status import FF_EBADARG, FF_ENONFINITE, FF_OK, scalar

SGD_PLAIN, SGD_MOMENTUM, SGD_NESTEROV = range(3)
ADAM_PLAIN, ADAM_L2, ADAM_DECOUPLED = range(3)


@cuda.jit
def _k_sgd(param, buf, grad, p, lr, mom, wd, mode, decay):
    for i in range(cuda.grid(1), p, cuda.gridsize(1)):
        g = grad[i]
        if decay:
            g = g + wd * param[i]
        if mode != SGD_PLAIN:
            vb = mom * buf[i] + g
            buf[i] = vb
            g = g + mom * vb if mode == SGD_NESTEROV else vb
        param[i] = param[i] - lr * g


@cuda.jit
def _k_rmsprop(param, sq, buf, grad, p, lr, alpha, one_m_alpha, eps, wd, mom, use_mom, decay):
    for i in range(cuda.grid(1), p, cuda.gridsize(1)):
        g = grad[i]
        if decay:
            g = g + wd * param[i]
        s = alpha * sq[i] + one_m_alpha * g * g
        sq[i] = s
        avg = fm.sqrt(s) + eps
        if use_mom:
            vb = mom * buf[i] + g / avg
            buf[i] = vb
            param[i] = param[i] - lr * vb
        else:
            param[i] = param[i] - lr * g / avg


@cuda.jit
def _k_adam(param, m, v, grad, p, b1, one_m_b1, b2, one_m_b2, step_size, inv_sqrt_bc2, eps, wd,
            decay_factor, mode):
    for i in range(cuda.grid(1), p, cuda.gridsize(1)):
        w = param[i]
        g = grad[i]
        if mode == ADAM_L2:
            g = g + wd * w
        if mode == ADAM_DECOUPLED:
            w = w * decay_factor
        mi = b1 * m[i] + one_m_b1 * g
        vi = b2 * v[i] + one_m_b2 * g * g
        m[i] = mi
        v[i] = vi
        param[i] = w - step_size * mi / (fm.sqrt(vi) * inv_sqrt_bc2 + eps)


@cuda.jit
def _k_l1(param, p, t):
    for i in range(cuda.grid(1), p, cuda.gridsize(1)):
        w = param[i]
        a = abs(w) - t
        a = float32(0) if a < 0 else a  # not max(): NaN stays NaN (fails a < 0)
        param[i] = math.copysign(a, w)


@cuda.jit
def _k_sqrt(out, total):
    out[0] = math.sqrt(total[0])


@cuda.jit
def _k_scale_if_over(grad, p, norm, max_norm):
    """grad *= max_norm / (norm + 1e-6) when that is < 1 and the norm is finite."""
    total = norm[0]
    if not math.isfinite(total):
        return
    coef = max_norm / (total + 1e-6)
    if not coef < 1.0:
        return
    c = grad.dtype.type(coef)
    for i in range(cuda.grid(1), p, cuda.gridsize(1)):
        grad[i] = grad[i] * c


def _nonneg(*xs):
    return all(math.isfinite(x) and x >= 0 for x in xs)


def ff_sgd_update(param, velocity, grad, p, lr, momentum, weight_decay, nesterov):
    if p < 0 or not _nonneg(lr, momentum, weight_decay) or (nesterov and not momentum > 0):
        return FF_EBADARG
    if momentum != 0 and velocity is None:
        return FF_EBADARG
    mode = SGD_PLAIN if momentum == 0 else (SGD_NESTEROV if nesterov else SGD_MOMENTUM)
    if p:
        param, grad = flat(param), flat(grad)
        buf = flat(velocity) if velocity is not None else param  # unread when plain
        _k_sgd[blocks(p), THREADS](param, buf, grad, p, scalar(param, lr), scalar(param, momentum),
                                   scalar(param, weight_decay), mode, weight_decay != 0)
    return FF_OK


def ff_rmsprop_update(param, square_avg, momentum_buf, grad, p, lr, alpha, eps, weight_decay,
                      momentum):
    if p < 0 or not _nonneg(lr, eps, weight_decay, momentum) or not 0 <= alpha <= 1:
        return FF_EBADARG
    if momentum != 0 and momentum_buf is None:
        return FF_EBADARG
    if p:
        param = flat(param)
        buf = flat(momentum_buf) if momentum_buf is not None else param  # unread without momentum
        T = lambda x: scalar(param, x)  # noqa: E731
        _k_rmsprop[blocks(p), THREADS](param, flat(square_avg), buf, flat(grad), p, T(lr), T(alpha),
                                       T(1.0 - float(T(alpha))), T(eps), T(weight_decay), T(momentum),
                                       momentum != 0, weight_decay != 0)
    return FF_OK


def ff_adam_update(param, m, v, grad, p, step, lr, beta1, beta2, eps, weight_decay, decoupled):
    if p < 0 or step < 1 or not _nonneg(lr, eps, weight_decay):
        return FF_EBADARG
    if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
        return FF_EBADARG
    if p:
        param = flat(param)
        T = lambda x: scalar(param, x)  # noqa: E731
        # bias corrections in double from the integer step, as the C kernel and torch
        bc1 = 1.0 - float(T(beta1)) ** step
        bc2 = 1.0 - float(T(beta2)) ** step
        lr_t, wd_t = float(T(lr)), float(T(weight_decay))
        mode = ADAM_PLAIN if weight_decay == 0 else (ADAM_DECOUPLED if decoupled else ADAM_L2)
        _k_adam[blocks(p), THREADS](param, flat(m), flat(v), flat(grad), p, T(beta1),
                                    T(1.0 - float(T(beta1))), T(beta2), T(1.0 - float(T(beta2))),
                                    T(lr_t / bc1), T(1.0 / math.sqrt(bc2)), T(eps), T(weight_decay),
                                    T(1.0 - lr_t * wd_t), mode)
    return FF_OK


def ff_l1_update(param, p, threshold):
    if p < 0 or not _nonneg(threshold):
        return FF_EBADARG
    if p:
        _k_l1[blocks(p), THREADS](flat(param), p, scalar(param, threshold))
    return FF_OK


def norm_on_device(grad, p):
    """A device (1,) float64 array holding ||grad||, without waiting for it."""
    norm = scratch("norm", 1, np.float64)
    part = scratch("norm_part", R.nchunks(p), np.float64)
    R.k_chunk_sumsq[R.chunk_blocks(p), R.RT](part, flat(grad), p)
    R.k_sum_partials[1, R.RT](norm, part, R.nchunks(p))
    _k_sqrt[1, 1](norm, norm)
    return norm


def _store(out, dnorm):
    value = float(dnorm.copy_to_host()[0])
    if is_device(out):
        out[0:1].copy_to_device(dnorm)
    else:
        out[0] = value
    return value


def ff_grad_norm(norm, grad, p):
    if p < 0:
        return FF_EBADARG
    if p == 0:
        norm[0] = 0.0
        return FF_OK
    _store(norm, norm_on_device(grad, p))
    return FF_OK


def ff_clip_grad_norm(norm, grad, p, max_norm):
    if p < 0 or not max_norm >= 0:
        return FF_EBADARG
    if p == 0:
        norm[0] = 0.0
        return FF_OK
    dnorm = norm_on_device(grad, p)
    _k_scale_if_over[blocks(p), THREADS](flat(grad), p, dnorm, float64(max_norm))
    value = _store(norm, dnorm)
    return FF_OK if math.isfinite(value) else FF_ENONFINITE
