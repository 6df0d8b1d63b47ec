"""Optimizer updates over flat parameter buffers, and gradient-norm clipping.

Each function updates ``param`` and its optimizer state in place in one fused native pass
(the formulas are ``torch.optim``'s; see ``csrc/fastfit.h``). Buffers are usually the
1-D flat buffers of a model, but any shape is accepted as long as every array has the
same one. ``param`` and the state arrays must be C-contiguous, writeable, of one float
dtype (float32 or float64) and must not overlap; ``grad`` is only read.

Every argument is checked before the kernel runs, so a call that raises leaves the
parameters and the state exactly as they were.
"""

from __future__ import annotations

import numpy as np

from fastfit._lib import check_status, ffi, float_array, inplace_dtype, kernel, out_array, ptr
from fastfit.ops._args import (adam_hypers, check_disjoint, hyper, max_norm_arg, rmsprop_hypers,
                               sgd_hypers)

__all__ = ["sgd_update", "rmsprop_update", "adam_update", "l1_update", "grad_norm",
           "clip_grad_norm"]


def _param(param, name="param"):
    """The array updated in place whose dtype the call follows."""
    return out_array(name, param, inplace_dtype(name, param), param.shape)


def _state(name: str, a, param: np.ndarray) -> np.ndarray:
    return out_array(name, a, param.dtype, param.shape)


def _grad(grad, param: np.ndarray) -> np.ndarray:
    return float_array("grad", grad, dtype=param.dtype, shape=param.shape)


def _disjoint(nbytes: int, names: tuple[str, ...], ptrs: tuple) -> None:
    """The arrays must not overlap (:func:`fastfit.ops._args.check_disjoint`); NULL
    pointers (absent optional state) are left out."""
    given = [(name, p) for name, p in zip(names, ptrs, strict=True) if p != ffi.NULL]
    check_disjoint(nbytes, [name for name, _ in given],
                   [int(ffi.cast("uintptr_t", p)) for _, p in given])


def sgd_update(param, grad, velocity=None, *, lr, momentum=0.0, weight_decay=0.0,
               nesterov=False) -> None:
    """One SGD step in place, as ``torch.optim.SGD`` (dampening 0).

    ``g = grad + weight_decay * param``; with momentum ``velocity = momentum * velocity + g``
    and ``g = velocity`` (or ``g + momentum * velocity`` for Nesterov); ``param -= lr * g``.

    Parameters
    ----------
    param : ndarray of float32 or float64
        Parameters, updated in place.
    grad : ndarray
        Gradient, same shape and dtype as ``param``.
    velocity : ndarray or None
        Momentum buffer (start from zeros), updated in place; required iff ``momentum > 0``.
    lr : float
        Learning rate, >= 0.
    momentum : float, default 0
        Momentum factor, >= 0.
    weight_decay : float, default 0
        L2 penalty added to the gradient, >= 0.
    nesterov : bool, default False
        Nesterov momentum (needs ``momentum > 0``, as in torch).

    Returns
    -------
    None
    """
    param = _param(param)
    grad = _grad(grad, param)
    lr, momentum, weight_decay, nesterov = sgd_hypers(lr, momentum, weight_decay, nesterov,
                                                      velocity)
    if velocity is not None:
        velocity = _state("velocity", velocity, param)
    pp, pvel, pg = ptr(param), ptr(velocity), ptr(grad)
    _disjoint(param.nbytes, ("param", "velocity", "grad"), (pp, pvel, pg))
    status = kernel("sgd_update", param.dtype)(pp, pvel, pg, param.size,
                                               lr, momentum, weight_decay, int(nesterov))
    check_status(status, "sgd_update")


def rmsprop_update(param, grad, square_avg, momentum_buf=None, *, lr, alpha=0.99, eps=1e-8,
                   weight_decay=0.0, momentum=0.0) -> None:
    """One RMSProp step in place, as ``torch.optim.RMSprop`` (not centered).

    ``g = grad + weight_decay * param``; ``square_avg = alpha * square_avg + (1 - alpha) * g**2``;
    ``d = g / (sqrt(square_avg) + eps)``; with momentum ``buf = momentum * buf + d; d = buf``;
    ``param -= lr * d``.

    Parameters
    ----------
    param : ndarray of float32 or float64
        Parameters, updated in place.
    grad : ndarray
        Gradient, same shape and dtype as ``param``.
    square_avg : ndarray
        Running average of squared gradients (start from zeros), updated in place.
    momentum_buf : ndarray or None
        Momentum buffer (start from zeros), updated in place; required iff ``momentum > 0``.
    lr : float
        Learning rate, >= 0.
    alpha : float, default 0.99
        Smoothing constant in [0, 1].
    eps : float, default 1e-8
        Added to the denominator, >= 0.
    weight_decay : float, default 0
        L2 penalty, >= 0.
    momentum : float, default 0
        Momentum factor, >= 0.

    Returns
    -------
    None
    """
    param = _param(param)
    grad = _grad(grad, param)
    square_avg = _state("square_avg", square_avg, param)
    lr, alpha, eps, weight_decay, momentum = rmsprop_hypers(lr, alpha, eps, weight_decay,
                                                            momentum, momentum_buf)
    if momentum_buf is not None:
        momentum_buf = _state("momentum_buf", momentum_buf, param)
    pp, psq, pbuf, pg = ptr(param), ptr(square_avg), ptr(momentum_buf), ptr(grad)
    _disjoint(param.nbytes, ("param", "square_avg", "momentum_buf", "grad"), (pp, psq, pbuf, pg))
    status = kernel("rmsprop_update", param.dtype)(
        pp, psq, pbuf, pg, param.size, lr, alpha, eps, weight_decay, momentum)
    check_status(status, "rmsprop_update")


def adam_update(param, grad, m, v, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                weight_decay=0.0, decoupled=False) -> None:
    """One Adam (or AdamW) step in place, as ``torch.optim.Adam`` / ``torch.optim.AdamW``.

    ``m = beta1 * m + (1 - beta1) * g``; ``v = beta2 * v + (1 - beta2) * g**2``;
    ``param -= lr / (1 - beta1**step) * m / (sqrt(v) / sqrt(1 - beta2**step) + eps)``,
    with ``g = grad + weight_decay * param`` (Adam) or, if ``decoupled``, ``g = grad`` and
    ``param *= 1 - lr * weight_decay`` first (AdamW).

    Parameters
    ----------
    param : ndarray of float32 or float64
        Parameters, updated in place.
    grad : ndarray
        Gradient, same shape and dtype as ``param``.
    m, v : ndarray
        First and second moment estimates (start from zeros), updated in place.
    step : int
        The step number, counting from 1 (bias corrections use it).
    lr : float
        Learning rate, >= 0.
    beta1, beta2 : float
        Moment decay rates in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, >= 0.
    weight_decay : float, default 0
        L2 penalty (Adam) or decoupled decay rate (AdamW), >= 0.
    decoupled : bool, default False
        AdamW's decoupled weight decay.

    Returns
    -------
    None
    """
    param = _param(param)
    grad = _grad(grad, param)
    m = _state("m", m, param)
    v = _state("v", v, param)
    step, lr, beta1, beta2, eps, weight_decay = adam_hypers(step, lr, beta1, beta2, eps,
                                                            weight_decay)
    pp, pm, pv, pg = ptr(param), ptr(m), ptr(v), ptr(grad)
    _disjoint(param.nbytes, ("param", "m", "v", "grad"), (pp, pm, pv, pg))
    status = kernel("adam_update", param.dtype)(
        pp, pm, pv, pg, param.size, step, lr, beta1, beta2, eps, weight_decay,
        int(bool(decoupled)))
    check_status(status, "adam_update")


def l1_update(param, threshold) -> None:
    """L1 proximal step in place: ``param = sign(param) * max(|param| - threshold, 0)``.

    Parameters
    ----------
    param : ndarray of float32 or float64
        Parameters, updated in place.
    threshold : float
        ``lr * l1_strength``, >= 0.

    Returns
    -------
    None
    """
    param = _param(param)
    threshold = hyper("threshold", threshold)
    check_status(kernel("l1_update", param.dtype)(ptr(param), param.size, threshold), "l1_update")


def grad_norm(grad) -> float:
    """Euclidean norm of a gradient buffer, accumulated in float64.

    Deterministic: the same value for any thread count. NaN or inf in ``grad`` give a
    NaN or inf norm (no exception).

    Parameters
    ----------
    grad : ndarray of float32 or float64
        Any shape; treated as one flat vector.

    Returns
    -------
    float
    """
    grad = float_array("grad", grad)
    norm = ffi.new("double *")
    check_status(kernel("grad_norm", grad.dtype)(norm, ptr(grad), grad.size), "grad_norm")
    return float(norm[0])


def clip_grad_norm(grad, max_norm) -> float:
    """Scale ``grad`` in place so its norm is at most ``max_norm``, as
    ``torch.nn.utils.clip_grad_norm_``.

    If ``||grad|| > max_norm`` the buffer is multiplied by ``max_norm / (||grad|| + 1e-6)``.

    Parameters
    ----------
    grad : ndarray of float32 or float64
        C-contiguous, writeable; any shape, treated as one flat vector.
    max_norm : float
        >= 0 (``inf`` never clips).

    Returns
    -------
    float
        The norm before clipping.

    Raises
    ------
    FloatingPointError
        If the norm is NaN or inf; ``grad`` is then left unchanged.
    """
    grad = _param(grad, "grad")
    max_norm = max_norm_arg(max_norm)
    norm = ffi.new("double *")
    status = kernel("clip_grad_norm", grad.dtype)(norm, ptr(grad), grad.size, max_norm)
    check_status(status, "clip_grad_norm")
    return float(norm[0])
