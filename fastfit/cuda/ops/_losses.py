"""GPU twins of fastfit.ops' fused losses: the loss comes back as a Python float (one
wait on the device), the gradient as an array in the prediction's dtype and shape."""

from __future__ import annotations

import numpy as np

from fastfit._lib import check_status
from fastfit.cuda import kernels as K
from fastfit.cuda.ops._args import Call

__all__ = ["mse_loss", "huber_loss", "bce_with_logits", "softmax_cross_entropy"]


def _rows(call, name, a):
    a = call.float(name, a)
    if a.ndim == 1:
        return a, a.shape[0], 1
    if a.ndim == 2:
        return a, a.shape[0], a.shape[1]
    raise ValueError(f"{name} must be 1-D (N,) or 2-D (N, K), got shape {a.shape}")


def _weights(call, sample_weight, dtype, n):
    if sample_weight is None:
        return None
    w = call.float("sample_weight", sample_weight, dtype=dtype, ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"sample_weight must have length {n} (one weight per row), got {w.shape[0]}")
    return w


def _elementwise(name, kernel, pred, target, sample_weight, extra=()):
    call = Call(pred, target, sample_weight)
    pred, n, k = _rows(call, "pred" if name != "bce_logits_loss" else "logits", pred)
    target = call.float("target", target, dtype=pred.dtype, shape=pred.shape)
    if n == 0 or k == 0:
        raise ValueError(f"the mean of an empty batch is undefined (shape {tuple(pred.shape)})")
    weight = _weights(call, sample_weight, pred.dtype, n)
    dpred = call.empty(pred.shape, pred.dtype)
    loss = np.zeros(1)
    status = kernel(loss, dpred, pred, target, weight, n, k, *extra)
    if status == K.FF_EBADARG:
        raise ValueError(f"{name}: sample_weight must sum to a positive value")
    check_status(status, name)
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
    delta = float(delta)
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta must be positive and finite, got {delta}")
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
    logits = call.float("logits", logits, ndim=2)
    n, c = logits.shape
    labels = call.index("y", y)
    if labels.shape[0] != n:
        raise ValueError(f"y must have length {n} (one label per row of logits), got {labels.shape[0]}")
    if n == 0 or c == 0:
        raise ValueError(f"the mean of an empty batch is undefined (logits shape {tuple(logits.shape)})")
    weight = _weights(call, sample_weight, logits.dtype, n)
    dlogits = call.empty((n, c), logits.dtype)
    loss = np.zeros(1)
    status = K.ff_softmax_cross_entropy(loss, dlogits, logits, labels, weight, n, c)
    if status == K.FF_EBADARG:
        raise ValueError(f"softmax_cross_entropy: labels y must lie in [0, {c}) and sample_weight "
                         "must sum to a positive value")
    check_status(status, "softmax_cross_entropy")
    return float(loss[0]), call.out(dlogits)
