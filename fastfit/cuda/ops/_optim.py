"""GPU twins of fastfit.ops' optimizer updates: ``param`` and its state are updated in
place (device arrays on the device; host arrays are copied over, updated, copied back).
Every argument is checked before any launch, so a call that raises changes nothing."""

from __future__ import annotations

import numpy as np

from fastfit.cuda import kernels as K
from fastfit.cuda.ops._args import Call
from fastfit.ops._args import (adam_hypers, check_disjoint, hyper, max_norm_arg, rmsprop_hypers,
                               sgd_hypers)

from fastfit.ops._optim import __all__ as _CPU_ALL  # the same names as the CPU module

__all__ = list(_CPU_ALL)


def _address(a):
    """(kind, start address) of a user's array, or None where it cannot be known."""
    if isinstance(a, np.ndarray):
        return "host", a.__array_interface__["data"][0]
    if hasattr(a, "__cuda_array_interface__"):
        return "device", a.__cuda_array_interface__["data"][0]
    return None  # the simulator's arrays


def _disjoint(names, arrays, nbytes):
    """The kernels assume no aliasing, as the C ones: equal-size buffers must not overlap
    (checked on the caller's arrays, before host ones are copied apart)."""
    addr = [_address(a) for a in arrays]
    check_disjoint(nbytes, names, [a and a[1] for a in addr], [a and a[0] for a in addr])


def _nbytes(a):
    return a.size * a.dtype.itemsize


def sgd_update(param, grad, velocity=None, *, lr, momentum=0.0, weight_decay=0.0,
               nesterov=False) -> None:
    """One SGD step in place on the GPU; see :func:`fastfit.ops.sgd_update`.

    Parameters
    ----------
    param : array of float32 or float64, updated in place
    grad : array, same shape and dtype
    velocity : array or None, updated in place; required iff ``momentum > 0``
    lr, momentum, weight_decay : float, >= 0
    nesterov : bool

    Returns
    -------
    None
    """
    call = Call(param, grad, velocity)
    lr, momentum, weight_decay, nesterov = sgd_hypers(lr, momentum, weight_decay, nesterov,
                                                      velocity)
    dparam = call.inplace("param", param)
    dgrad = call.float("grad", grad, dtype=dparam.dtype, shape=tuple(dparam.shape))
    dvel = call.inout("velocity", velocity, dparam.dtype, tuple(dparam.shape)) \
        if velocity is not None else None
    if velocity is None:
        _disjoint(["param", "grad"], [param, grad], _nbytes(dparam))
    else:
        _disjoint(["param", "velocity", "grad"], [param, velocity, grad], _nbytes(dparam))
    call.done(K.ff_sgd_update(dparam, dvel, dgrad, dparam.size, lr, momentum, weight_decay, nesterov),
              "sgd_update")


def rmsprop_update(param, grad, square_avg, momentum_buf=None, *, lr, alpha=0.99, eps=1e-8,
                   weight_decay=0.0, momentum=0.0) -> None:
    """One RMSProp step in place on the GPU; see :func:`fastfit.ops.rmsprop_update`.

    Parameters
    ----------
    param : array of float32 or float64, updated in place
    grad : array, same shape and dtype
    square_avg : array, updated in place
    momentum_buf : array or None, updated in place; required iff ``momentum > 0``
    lr, eps, weight_decay, momentum : float, >= 0
    alpha : float in [0, 1]

    Returns
    -------
    None
    """
    call = Call(param, grad, square_avg, momentum_buf)
    lr, alpha, eps, weight_decay, momentum = rmsprop_hypers(lr, alpha, eps, weight_decay,
                                                            momentum, momentum_buf)
    dparam = call.inplace("param", param)
    shape = tuple(dparam.shape)
    dgrad = call.float("grad", grad, dtype=dparam.dtype, shape=shape)
    dsq = call.inout("square_avg", square_avg, dparam.dtype, shape)
    dbuf = call.inout("momentum_buf", momentum_buf, dparam.dtype, shape) \
        if momentum_buf is not None else None
    names = ["param", "square_avg", "momentum_buf", "grad"]
    arrays = [param, square_avg, momentum_buf, grad]
    _disjoint([nm for nm, a in zip(names, arrays, strict=True) if a is not None],
              [a for a in arrays if a is not None], _nbytes(dparam))
    call.done(K.ff_rmsprop_update(dparam, dsq, dbuf, dgrad, dparam.size, lr, alpha, eps, weight_decay,
                                  momentum), "rmsprop_update")


def adam_update(param, grad, m, v, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                weight_decay=0.0, decoupled=False) -> None:
    """One Adam (or AdamW) step in place on the GPU; see :func:`fastfit.ops.adam_update`.

    Parameters
    ----------
    param : array of float32 or float64, updated in place
    grad : array, same shape and dtype
    m, v : arrays, updated in place
    step : int, counting from 1
    lr : float, >= 0
    beta1, beta2 : float in [0, 1)
    eps, weight_decay : float, >= 0
    decoupled : bool
        AdamW's decoupled weight decay.

    Returns
    -------
    None
    """
    call = Call(param, grad, m, v)
    step, lr, beta1, beta2, eps, weight_decay = adam_hypers(step, lr, beta1, beta2, eps,
                                                            weight_decay)
    dparam = call.inplace("param", param)
    shape = tuple(dparam.shape)
    dgrad = call.float("grad", grad, dtype=dparam.dtype, shape=shape)
    dm = call.inout("m", m, dparam.dtype, shape)
    dv = call.inout("v", v, dparam.dtype, shape)
    _disjoint(["param", "m", "v", "grad"], [param, m, v, grad], _nbytes(dparam))
    call.done(K.ff_adam_update(dparam, dm, dv, dgrad, dparam.size, step, lr, beta1, beta2, eps,
                               weight_decay, bool(decoupled)), "adam_update")


def l1_update(param, threshold) -> None:
    """L1 proximal step in place on the GPU; see :func:`fastfit.ops.l1_update`.

    Parameters
    ----------
    param : array of float32 or float64, updated in place
    threshold : float, >= 0

    Returns
    -------
    None
    """
    call = Call(param)
    threshold = hyper("threshold", threshold)
    dparam = call.inplace("param", param)
    call.done(K.ff_l1_update(dparam, dparam.size, threshold), "l1_update")


def grad_norm(grad) -> float:
    """Euclidean norm of a gradient buffer, accumulated in float64, on the GPU.

    Parameters
    ----------
    grad : array of float32 or float64, any shape

    Returns
    -------
    float
    """
    call = Call(grad)
    grad = call.float("grad", grad)
    norm = np.zeros(1)
    call.done(K.ff_grad_norm(norm, grad, grad.size), "grad_norm")
    return float(norm[0])


def clip_grad_norm(grad, max_norm) -> float:
    """Scale ``grad`` in place so its norm is at most ``max_norm``, on the GPU; see
    :func:`fastfit.ops.clip_grad_norm`.

    Parameters
    ----------
    grad : array of float32 or float64, updated in place
    max_norm : float, >= 0

    Returns
    -------
    float
        The norm before clipping.

    Raises
    ------
    FloatingPointError
        If the norm is NaN or inf; ``grad`` is then left unchanged.
    """
    call = Call(grad)
    dgrad = call.inplace("grad", grad)
    max_norm = max_norm_arg(max_norm)
    norm = np.zeros(1)
    call.done(K.ff_clip_grad_norm(norm, dgrad, dgrad.size, max_norm), "clip_grad_norm")
    return float(norm[0])
