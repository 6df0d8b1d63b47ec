"""The fused loss-and-gradient pass of logistic regression (``ff_logistic_loss_grad``).

One C call reads X once and returns the weighted loss and its gradient with respect to
the coefficients and the intercept, both in float64 whatever X's dtype (they feed
scipy's L-BFGS). The estimator calls the kernel directly with prepared pointers; this
wrapper is the checked, public form of the same call.
"""

from __future__ import annotations

import numpy as np

from fastfit._lib import check_status, float_array, kernel, ptr
from fastfit.ops._args import logistic_args
from fastfit.ops._out import Out, outputs

__all__ = ["logistic_loss_grad"]


def logistic_outputs(out, k, i, need_grad, intercept, inputs):
    """``(dcoef, dintercept)`` of the dense or sparse pass: float64 whatever X's dtype,
    None where not computed (no gradient, or no intercept), checked against ``inputs``
    and the arguments already converted."""
    f64 = np.dtype(np.float64)
    return outputs(out, (Out("dcoef", f64, (k, i) if need_grad else None),
                         Out("dintercept", f64, (k,) if need_grad and intercept is not None
                             else None)), inputs)


def logistic_loss_grad(x, labels, coef, intercept=None, sample_weight=None, scale=1.0,
                       need_grad=True, *, out=None):
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
    out : tuple of 2 ndarrays or None, optional
        ``(dcoef, dintercept)`` receiving the gradients (float64, shapes as returned,
        C-contiguous, writeable), returned in their place; a None entry gets a fresh
        array. An entry must be None where the call computes nothing (``need_grad``
        false; ``dintercept`` without an intercept). They must not share memory with
        any input or each other.

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
    coef, labels, intercept, sample_weight, loss = logistic_args(
        coef, labels, intercept, sample_weight, n, i, dtype)
    k = coef.shape[0]
    dcoef, dint = logistic_outputs(out, k, i, need_grad, intercept,
                                   (("x", x), ("labels", labels), ("coef", coef),
                                    ("intercept", intercept), ("sample_weight", sample_weight)))
    status = kernel("logistic_loss_grad", dtype)(
        ptr(loss), ptr(dcoef), ptr(dint), ptr(x), ptr(coef), ptr(intercept), ptr(labels),
        ptr(sample_weight), n, i, k, float(scale))
    check_status(status, "logistic_loss_grad")
    return float(loss[0]), dcoef, dint
