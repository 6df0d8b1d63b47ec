"""Training losses fused with their gradient: one C pass returns the loss and writes dpred.

Every loss is a weighted mean over rows of the per-row mean over the K outputs,
``loss = sum_i w_i * mean_j l(pred_ij, target_ij) / sum_i w_i`` (``w_i = 1`` without
``sample_weight``), accumulated in double for both dtypes and the same for any thread
count. The gradient returned is that of this mean, in the prediction's dtype and shape.
A 1-D prediction is treated as one output per row, ``(N,)`` as ``(N, 1)``.
"""

from __future__ import annotations

import numpy as np

from fastfit._lib import check_status, ffi, float_array, index_array, kernel, lib, ptr

__all__ = ["mse_loss", "huber_loss", "bce_with_logits", "softmax_cross_entropy"]


def _rows(name: str, a) -> tuple[np.ndarray, int, int]:
    """Validate a 1-D or 2-D float prediction; return it with (n, k)."""
    a = float_array(name, a)
    if a.ndim == 1:
        return a, a.shape[0], 1
    if a.ndim == 2:
        return a, a.shape[0], a.shape[1]
    raise ValueError(f"{name} must be 1-D (N,) or 2-D (N, K), got shape {a.shape}")


def _weights(sample_weight, dtype, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = float_array("sample_weight", sample_weight, dtype=dtype, ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"sample_weight must have length {n} (one weight per row), got {w.shape[0]}")
    return w


def _elementwise(name: str, pred, target, sample_weight, extra=()):
    pred, n, k = _rows("pred" if name != "bce_logits_loss" else "logits", pred)
    target = float_array("target", target, dtype=pred.dtype, shape=pred.shape)
    if n == 0 or k == 0:
        raise ValueError(f"the mean of an empty batch is undefined (shape {pred.shape})")
    weight = _weights(sample_weight, pred.dtype, n)
    dpred = np.empty_like(pred)
    loss = ffi.new("double *")
    status = kernel(name, pred.dtype)(loss, ptr(dpred), ptr(pred), ptr(target), ptr(weight),
                                      n, k, *extra)
    if status == lib.FF_EBADARG:
        raise ValueError(f"{name}: sample_weight must sum to a positive value")
    check_status(status, name)
    return float(loss[0]), dpred


def mse_loss(pred, target, sample_weight=None):
    """Mean squared error and its gradient, ``l = (pred - target)**2``.

    Parameters
    ----------
    pred : ndarray of shape (N,) or (N, K), float32 or float64
        Predictions; the call follows their dtype.
    target : ndarray of the same shape and dtype
    sample_weight : ndarray of shape (N,), optional
        Per-row weights (same dtype); their sum must be positive.

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
    return _elementwise("mse_loss", pred, target, sample_weight)


def huber_loss(pred, target, delta=1.0, sample_weight=None):
    """Huber loss (as ``torch.nn.HuberLoss``) and its gradient.

    ``l = r**2 / 2`` if ``|r| <= delta`` else ``delta * (|r| - delta / 2)``, ``r = pred - target``.

    Parameters
    ----------
    pred : ndarray of shape (N,) or (N, K), float32 or float64
    target : ndarray of the same shape and dtype
    delta : float, default 1.0
        Where the loss turns from quadratic to linear; must be positive and finite.
    sample_weight : ndarray of shape (N,), optional

    Returns
    -------
    loss : float
    dpred : ndarray like ``pred``

    Raises
    ------
    FloatingPointError
        If the loss is NaN or infinite.
    """
    delta = float(delta)
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta must be positive and finite, got {delta}")
    return _elementwise("huber_loss", pred, target, sample_weight, (delta,))


def bce_with_logits(logits, target, sample_weight=None):
    """Binary cross-entropy on logits and its gradient (stable for any logit).

    ``l = max(z, 0) - z*t + log1p(exp(-|z|))``, ``dl/dz = sigmoid(z) - t``.

    Parameters
    ----------
    logits : ndarray of shape (N,) or (N, K), float32 or float64
    target : ndarray of the same shape and dtype
        Targets in [0, 1] (probabilities or 0/1 labels as floats).
    sample_weight : ndarray of shape (N,), optional

    Returns
    -------
    loss : float
    dlogits : ndarray like ``logits``

    Raises
    ------
    FloatingPointError
        If the loss is NaN or infinite.
    """
    return _elementwise("bce_logits_loss", logits, target, sample_weight)


def softmax_cross_entropy(logits, y, sample_weight=None):
    """Softmax cross-entropy on logits with integer labels, and its gradient.

    ``l_i = logsumexp(z_i) - z_i[y_i]`` (stable through the row maximum); the gradient is
    ``(softmax(z_i) - onehot(y_i)) * w_i / sum(w)``.

    Parameters
    ----------
    logits : ndarray of shape (N, C), float32 or float64
    y : ndarray of shape (N,), integer
        Class labels in ``[0, C)``.
    sample_weight : ndarray of shape (N,), optional

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
    logits = float_array("logits", logits, ndim=2)
    n, c = logits.shape
    labels = index_array("y", y)
    if labels.shape[0] != n:
        raise ValueError(f"y must have length {n} (one label per row of logits), got {labels.shape[0]}")
    if n == 0 or c == 0:
        raise ValueError(f"the mean of an empty batch is undefined (logits shape {logits.shape})")
    weight = _weights(sample_weight, logits.dtype, n)
    dlogits = np.empty_like(logits)
    loss = ffi.new("double *")
    status = kernel("softmax_cross_entropy", logits.dtype)(loss, ptr(dlogits), ptr(logits), ptr(labels),
                                                         ptr(weight), n, c)
    if status == lib.FF_EBADARG:
        raise ValueError(f"softmax_cross_entropy: labels y must lie in [0, {c}) and sample_weight "
                         "must sum to a positive value")
    check_status(status, "softmax_cross_entropy")
    return float(loss[0]), dlogits
