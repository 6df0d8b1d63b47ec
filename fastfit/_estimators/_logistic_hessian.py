"""The second-order products of X that LogisticRegression's Newton solvers need.

The parameters are the flat vector theta = [W.ravel() (k rows of p), c (k)] of
``_logistic._Objective``, the logits ``X W^T + icol * c`` (icol = 1 for the usual
intercept, liblinear's ``intercept_scaling`` for its penalised one, no c without an
intercept). With s_i the sample weights and ``scale`` = 1 / sum(s), the Hessian of the
mean loss is X_a^T D X_a, X_a = [X, icol], with D_i = s_i p_i (1 - p_i) (binary) or the
per-row k x k block s_i (diag(p_i) - p_i p_i^T) (multinomial, as scikit-learn's
``HalfMultinomialLoss``).

X is touched only here: ``logits`` (X W^T), ``rmatvec`` (R^T X) and the weighted Gram
(``ops.gram``, fastfit's GEMM). A CSR twin of this class can give the same methods.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from fastfit import ops

def _softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=1, keepdims=True)
    return Z


class LogisticHessian:
    """Hessians (full, or as a product with a vector) of the mean logistic loss.

    Parameters
    ----------
    X : ndarray (n, p), float32 or float64, C-contiguous
    labels : int64 ndarray (n,), the encoded classes (0/1 when k == 1)
    weight : ndarray (n,) or None, the sample weights s_i
    k : int, 1 (binary) or the number of classes
    scale : float, 1 / sum(s)
    icol : float or None, the intercept column's value (None: no intercept)
    """

    def __init__(self, X, labels, weight, k, scale, icol):
        self.X, self.labels, self.k, self.scale, self.icol = X, labels, k, scale, icol
        self.n, self.p = X.shape
        self.sw = None if weight is None else np.asarray(weight, dtype=np.float64)
        self.p1 = self.p + (icol is not None)
        # theta index of each (class, column of X_a): W[k, j] -> k p + j, c[k] -> k p + k
        idx = np.arange(k * self.p).reshape(k, self.p)
        if icol is not None:
            idx = np.c_[idx, k * self.p + np.arange(k)]
        self.order = idx.ravel()

    def _split(self, theta):
        kp = self.k * self.p
        W = np.ascontiguousarray(theta[:kp].reshape(self.k, self.p), dtype=self.X.dtype)
        b = None
        if self.icol is not None:
            b = np.ascontiguousarray(theta[kp:] * self.icol, dtype=self.X.dtype)
        return W, b

    def full(self, theta):
        """The (len(theta), len(theta)) Hessian of the mean loss, penalty excluded.

        The logits come from one pass of row dot products over all of X; then
        each (class c, class l >= c) block of X_a^T D X_a is one ``ops.gram`` of X with
        the block's curvature column h as row weights and the intercept column appended
        (neither the weighted nor the augmented copy of X is formed, and only the upper
        tiles are multiplied): h = s p (1 - p) (binary), s (p_c delta_cl - p_c p_l)
        (multinomial, as scikit-learn). The lower blocks are the upper ones transposed.
        """
        X, k, p1 = self.X, self.k, self.p1
        Z = self.logits(theta)
        s = self.scale if self.sw is None else self.sw * self.scale
        H4 = np.empty((k, p1, k, p1))
        if k == 1:
            pr = expit(Z[:, 0])
            h = (pr * (1.0 - pr) * s).astype(X.dtype)
            H4[0, :, 0, :] = ops.gram(X, h, append=self.icol)
        else:
            P = _softmax(Z)
            Ps = P * np.reshape(s, (-1, 1))
            for c in range(k):
                for l in range(c, k):
                    h = -Ps[:, c] * P[:, l]
                    if l == c:
                        h += Ps[:, c]
                    H4[c, :, l, :] = ops.gram(X, h.astype(X.dtype), append=self.icol)
                    H4[l, :, c, :] = H4[c, :, l, :].T
        H2 = H4.reshape(k * p1, k * p1)
        out = np.empty_like(H2)
        out[np.ix_(self.order, self.order)] = H2
        return out

    def logits(self, theta):
        """X W^T + icol c, (n, k) float64 (row dot products: X read once, 3x faster than
        the GEMM's narrow path at k = 1)."""
        W, b = self._split(theta)
        return ops.linear_decision(self.X, W, b).astype(np.float64)

    def rmatvec(self, R):
        """R^T X, (k, p) float64, for R (n, k)."""
        R = np.ascontiguousarray(R, dtype=self.X.dtype)
        return ops.gemm(R, self.X, trans_a=True).astype(np.float64)

    def operator(self, theta):
        """v -> H v at theta (one read of X for the curvature, two per product)."""
        Z = self.logits(theta)
        k, kp = self.k, self.k * self.p
        s = self.scale if self.sw is None else (self.sw * self.scale)[:, None]
        if k == 1:
            p = expit(Z)
            D = p * (1.0 - p) * s
        else:
            P = _softmax(Z)
            Ps = P * s

        def hv(v):
            U = self.logits(v)
            R = D * U if k == 1 else Ps * (U - (P * U).sum(axis=1, keepdims=True))
            out = np.empty_like(v)
            out[:kp] = self.rmatvec(R).ravel()
            if self.icol is not None:
                out[kp:] = self.icol * R.sum(axis=0)
            return out

        return hv
