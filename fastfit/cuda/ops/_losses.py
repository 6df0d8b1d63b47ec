"""GPU twins of fastfit.ops' fused losses: the loss comes back as a Python float (one
wait on the device), the gradient as an array in the prediction's dtype and shape."""

from __future__ import annotations

import numpy as np

from fastfit.cuda import kernels as K
from fastfit.cuda.ops._args import Call
from fastfit.ops._args import (elementwise_loss_args, elementwise_loss_status, huber_delta,
                               poisson_target, softmax_cross_entropy_args,
                               softmax_cross_entropy_status)

from fastfit.ops._losses import __all__ as _CPU_ALL  # the same names as the CPU module

__all__ = list(_CPU_ALL)


def _elementwise(name, kernel, pred, target, sample_weight, extra=()):
    call = Call(pred, target, sample_weight)
    pred, target, weight, n, k = elementwise_loss_args(name, pred, target, sample_weight,
                                                       call.float)
    dpred = call.empty(pred.shape, pred.dtype)
    loss = np.zeros(1)
    status = kernel(loss, dpred, pred, target, weight, n, k, *extra)
    elementwise_loss_status(status, name)
    return float(loss[0]), call.out(dpred)


def mse_loss(pred, target, sample_weight=None):
    """Mean squared error and its gradient on the GPU; see :func:`fastfit.ops.mse_loss`.

    Parameters
    ----------
    pred : array of shape (N,) or (N, K), float32 or float64
    target : array of the same shape and dtype
    sample_weight : array of shape (N,), optional

    Returns
    -------
    loss : float
    dpred : array like ``pred``

    Raises
    ------
    FloatingPointError
        If the loss is NaN or infinite.
    """
    return _elementwise("mse_loss", K.ff_mse_loss, pred, target, sample_weight)


def huber_loss(pred, target, delta=1.0, sample_weight=None):
    """Huber loss and its gradient on the GPU; see :func:`fastfit.ops.huber_loss`.

    Parameters
    ----------
    pred : array of shape (N,) or (N, K), float32 or float64
    target : array of the same shape and dtype
    delta : float, positive and finite
    sample_weight : array of shape (N,), optional

    Returns
    -------
    loss : float
    dpred : array like ``pred``
    """
    delta = huber_delta(delta)
    return _elementwise("huber_loss", K.ff_huber_loss, pred, target, sample_weight, (delta,))


def bce_with_logits(logits, target, sample_weight=None):
    """Binary cross-entropy on logits and its gradient on the GPU; see
    :func:`fastfit.ops.bce_with_logits`.

    Parameters
    ----------
    logits : array of shape (N,) or (N, K), float32 or float64
    target : array of the same shape and dtype, values in [0, 1]
    sample_weight : array of shape (N,), optional

    Returns
    -------
    loss : float
    dlogits : array like ``logits``
    """
    return _elementwise("bce_logits_loss", K.ff_bce_logits_loss, logits, target, sample_weight)


def softmax_cross_entropy(logits, y, sample_weight=None):
    """Softmax cross-entropy with integer labels and its gradient on the GPU; see
    :func:`fastfit.ops.softmax_cross_entropy`.

    Parameters
    ----------
    logits : array of shape (N, C), float32 or float64
    y : array of shape (N,), integer labels in ``[0, C)``
    sample_weight : array of shape (N,), optional

    Returns
    -------
    loss : float
    dlogits : array of shape (N, C)

    Raises
    ------
    ValueError
        If a label is outside ``[0, C)`` or the weights do not sum to a positive value.
    FloatingPointError
        If the loss is NaN or infinite.
    """
    call = Call(logits, y, sample_weight)
    logits, labels, weight, n, c = softmax_cross_entropy_args(logits, y, sample_weight,
                                                              call.float, call.index)
    dlogits = call.empty((n, c), logits.dtype)
    loss = np.zeros(1)
    status = K.ff_softmax_cross_entropy(loss, dlogits, logits, labels, weight, n, c)
    softmax_cross_entropy_status(status, c)
    return float(loss[0]), call.out(dlogits)


def poisson_loss(logmean, target, sample_weight=None):
    """Half Poisson deviance on the log link and its gradient on the GPU; see
    :func:`fastfit.ops.poisson_loss`.

    Parameters
    ----------
    logmean : array of shape (N,) or (N, K), float32 or float64
    target : array of the same shape and dtype, values >= 0
    sample_weight : array of shape (N,), optional

    Returns
    -------
    loss : float
    dlogmean : array like ``logmean``

    Raises
    ------
    ValueError
        If a target is negative.
    FloatingPointError
        If the loss is NaN or infinite.
    """
    poisson_target(target)
    return _elementwise("poisson_loss", K.ff_poisson_loss, logmean, target, sample_weight)
