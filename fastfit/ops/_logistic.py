"""The fused loss-and-gradient pass of logistic regression (``ff_logistic_loss_grad``).

One C call reads X once and returns the weighted loss and its gradient with respect to
the coefficients and the intercept, both in float64 whatever X's dtype (they feed
scipy's L-BFGS). The estimator calls the kernel directly with prepared pointers; this
wrapper is the checked, public form of the same call.
"""

from __future__ import annotations

import numpy as np

from fastfit._lib import check_status, float_array, index_array, kernel, ptr

__all__ = ["logistic_loss_grad"]


def logistic_loss_grad(x, labels, coef, intercept=None, sample_weight=None, scale=1.0,
                       need_grad=True):
    """Weighted logistic (K = 1) or softmax cross-entropy (K >= 2) loss and gradient.

    Parameters
    ----------
    x : ndarray of shape (n, i), float32 or float64
        The rows; the call follows its dtype.
    labels : array of int of shape (n,)
        Class indices: 0/1 for K = 1, ``[0, K)`` for K >= 2.
    coef : ndarray of shape (K, i)
        Coefficients (cast to x's dtype).
    intercept : ndarray of shape (K,) or None
        Intercepts (None: no intercept, and no intercept gradient).
    sample_weight : ndarray of shape (n,) or None
        Per-row weights s_i.
    scale : float
        Multiplies the loss and the gradient (e.g. ``1 / sum(sample_weight)``).
    need_grad : bool
        False computes the loss only.

    Returns
    -------
    loss : float
        ``scale * sum_i s_i l_i``.
    dcoef : ndarray of shape (K, i), float64, or None
    dintercept : ndarray of shape (K,), float64, or None
    """
    x = float_array("x", x, ndim=2)
    dtype = x.dtype
    n, i = x.shape
    coef = np.ascontiguousarray(coef, dtype=dtype)
    if coef.ndim != 2 or coef.shape[1] != i:
        raise ValueError(f"coef must have shape (K, {i}), got {coef.shape}")
    k = coef.shape[0]
    labels = index_array("labels", labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
    if intercept is not None:
        intercept = float_array("intercept", np.asarray(intercept, dtype=dtype), shape=(k,))
    if sample_weight is not None:
        sample_weight = float_array("sample_weight", np.asarray(sample_weight, dtype=dtype),
                                    shape=(n,))
    loss = np.zeros(1)
    dcoef = np.empty((k, i)) if need_grad else None
    dint = np.empty(k) if need_grad and intercept is not None else None
    status = kernel("logistic_loss_grad", dtype)(
        ptr(loss), ptr(dcoef), ptr(dint), ptr(x), ptr(coef), ptr(intercept), ptr(labels),
        ptr(sample_weight), n, i, k, float(scale))
    check_status(status, "logistic_loss_grad")
    return float(loss[0]), dcoef, dint
