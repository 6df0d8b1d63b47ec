"""Training losses fused with their gradient: one C pass returns the loss and writes dpred.

Every loss is a weighted mean over rows of the per-row mean over the K outputs,
``loss = sum_i w_i * mean_j l(pred_ij, target_ij) / sum_i w_i`` (``w_i = 1`` without
``sample_weight``), accumulated in double for both dtypes and the same for any thread
count. The gradient returned is that of this mean, in the prediction's dtype and shape.
A 1-D prediction is treated as one output per row, ``(N,)`` as ``(N, 1)``. ``out=``
receives the gradient (the loss is a float): an array of the prediction's shape and
dtype, C-contiguous and writeable, sharing no memory with any input (the kernels read
the prediction while they write the gradient).
"""

from __future__ import annotations

import numpy as np

from fastfit._lib import ffi, kernel, ptr
from fastfit.ops._args import (elementwise_loss_args, elementwise_loss_status, huber_delta,
                               poisson_target, softmax_cross_entropy_args,
                               softmax_cross_entropy_status)
from fastfit.ops._out import Out, outputs

__all__ = ["mse_loss", "huber_loss", "bce_with_logits", "softmax_cross_entropy", "poisson_loss"]


def _elementwise(name: str, pred, target, sample_weight, out, extra=()):
    pred, target, weight, n, k = elementwise_loss_args(name, pred, target, sample_weight)
    pname = {"bce_logits_loss": "logits", "poisson_loss": "logmean"}.get(name, "pred")
    dpred = (np.empty_like(pred) if out is None
             else outputs(out, (Out("d" + pname, pred.dtype, pred.shape),),
                          ((pname, pred), ("target", target), ("sample_weight", weight)))[0])
    loss = ffi.new("double *")
    status = kernel(name, pred.dtype)(loss, ptr(dpred), ptr(pred), ptr(target), ptr(weight),
                                      n, k, *extra)
    elementwise_loss_status(status, name)
    return float(loss[0]), dpred


def mse_loss(pred, target, sample_weight=None, *, out=None):
    """Mean squared error and its gradient, ``l = (pred - target)**2``.

    Parameters
    ----------
    pred : ndarray of shape (N,) or (N, K), float32 or float64
        Predictions; the call follows their dtype.
    target : ndarray of the same shape and dtype
    sample_weight : ndarray of shape (N,), optional
        Per-row weights (same dtype); their sum must be positive.
    out : ndarray like ``pred``, optional
        Receives the gradient and is returned in its place (see the module's notes).

    Returns
    -------
    loss : float
        ``sum_i w_i mean_j (pred_ij - target_ij)**2 / sum_i w_i``, computed in double.
    dpred : ndarray like ``pred``
        Gradient of ``loss`` with respect to ``pred``.

    Raises
    ------
    FloatingPointError
        If the loss is NaN or infinite.
    """
    return _elementwise("mse_loss", pred, target, sample_weight, out)


def huber_loss(pred, target, delta=1.0, sample_weight=None, *, out=None):
    """Huber loss (as ``torch.nn.HuberLoss``) and its gradient.

    ``l = r**2 / 2`` if ``|r| <= delta`` else ``delta * (|r| - delta / 2)``, ``r = pred - target``.

    Parameters
    ----------
    pred : ndarray of shape (N,) or (N, K), float32 or float64
    target : ndarray of the same shape and dtype
    delta : float, default 1.0
        Where the loss turns from quadratic to linear; must be positive and finite.
    sample_weight : ndarray of shape (N,), optional
    out : ndarray like ``pred``, optional
        Receives the gradient and is returned in its place (see the module's notes).

    Returns
    -------
    loss : float
    dpred : ndarray like ``pred``

    Raises
    ------
    FloatingPointError
        If the loss is NaN or infinite.
    """
    delta = huber_delta(delta)
    return _elementwise("huber_loss", pred, target, sample_weight, out, (delta,))


def bce_with_logits(logits, target, sample_weight=None, *, out=None):
    """Binary cross-entropy on logits and its gradient (stable for any logit).

    ``l = max(z, 0) - z*t + log1p(exp(-|z|))``, ``dl/dz = sigmoid(z) - t``.

    Parameters
    ----------
    logits : ndarray of shape (N,) or (N, K), float32 or float64
    target : ndarray of the same shape and dtype
        Targets in [0, 1] (probabilities or 0/1 labels as floats).
    sample_weight : ndarray of shape (N,), optional
    out : ndarray like ``logits``, optional
        Receives the gradient and is returned in its place (see the module's notes).

    Returns
    -------
    loss : float
    dlogits : ndarray like ``logits``

    Raises
    ------
    FloatingPointError
        If the loss is NaN or infinite.
    """
    return _elementwise("bce_logits_loss", logits, target, sample_weight, out)


def softmax_cross_entropy(logits, y, sample_weight=None, *, out=None):
    """Softmax cross-entropy on logits with integer labels, and its gradient.

    ``l_i = logsumexp(z_i) - z_i[y_i]`` (stable through the row maximum); the gradient is
    ``(softmax(z_i) - onehot(y_i)) * w_i / sum(w)``.

    Parameters
    ----------
    logits : ndarray of shape (N, C), float32 or float64
    y : ndarray of shape (N,), integer
        Class labels in ``[0, C)``.
    sample_weight : ndarray of shape (N,), optional
    out : ndarray like ``logits``, optional
        Receives the gradient and is returned in its place (see the module's notes).

    Returns
    -------
    loss : float
        The weighted mean of ``l_i``.
    dlogits : ndarray of shape (N, C)

    Raises
    ------
    ValueError
        If a label is outside ``[0, C)`` or the weights do not sum to a positive value.
    FloatingPointError
        If the loss is NaN or infinite.
    """
    logits, labels, weight, n, c = softmax_cross_entropy_args(logits, y, sample_weight)
    dlogits = (np.empty_like(logits) if out is None
               else outputs(out, (Out("dlogits", logits.dtype, logits.shape),),
                            (("logits", logits), ("y", labels), ("sample_weight", weight)))[0])
    loss = ffi.new("double *")
    status = kernel("softmax_cross_entropy", logits.dtype)(loss, ptr(dlogits), ptr(logits), ptr(labels),
                                                         ptr(weight), n, c)
    softmax_cross_entropy_status(status, c)
    return float(loss[0]), dlogits


def poisson_loss(logmean, target, sample_weight=None, *, out=None):
    """Half Poisson deviance on the log link and its gradient (scikit-learn's
    ``MLPRegressor(loss="poisson")``).

    ``l = t*log(t) - t*z - t + exp(z)`` (``t*log(t) = 0`` at ``t = 0``), the half deviance
    ``t*log(t/mu) - t + mu`` of the mean ``mu = exp(z)``; ``dl/dz = exp(z) - t``.

    Parameters
    ----------
    logmean : ndarray of shape (N,) or (N, K), float32 or float64
        The model's raw outputs ``z``, the log of the predicted mean.
    target : ndarray of the same shape and dtype
        Non-negative targets (counts, rates).
    sample_weight : ndarray of shape (N,), optional
    out : ndarray like ``logmean``, optional
        Receives the gradient and is returned in its place (see the module's notes).

    Returns
    -------
    loss : float
    dlogmean : ndarray like ``logmean``

    Raises
    ------
    ValueError
        If a target is negative.
    FloatingPointError
        If the loss is NaN or infinite (``exp(z)`` overflows).
    """
    poisson_target(target)
    return _elementwise("poisson_loss", logmean, target, sample_weight, out)
