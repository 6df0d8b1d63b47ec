"""The second-order products of X that LogisticRegression's Newton solvers need.

The parameters are the flat vector theta = [W.ravel() (k rows of p), c (k)] of
``_logistic._Objective``, the logits ``X W^T + icol * c`` (icol = 1 for the usual
intercept, liblinear's ``intercept_scaling`` for its penalised one, no c without an
intercept). With s_i the sample weights and ``scale`` = 1 / sum(s), the Hessian of the
mean loss is X_a^T D X_a, X_a = [X, icol], with D_i = s_i p_i (1 - p_i) (binary) or the
per-row k x k block s_i (diag(p_i) - p_i p_i^T) (multinomial, as scikit-learn's
``HalfMultinomialLoss``).

X is touched only here, by chunks of rows so each chunk's logits, weights and Gram
update run while it is in cache: ``logits`` (X @ W^T), ``rmatvec`` (R^T X) and the
weighted Gram (fastfit's GEMM). A CSR twin of this class can give the same methods.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from fastfit import ops

# Rows per chunk: 4096 x 100 float64 is 3.2 MB, read once from memory for the logits,
# the weights and the Gram product while it stays in cache (and as _linear._GRAM_CHUNK).
_CHUNK = 4096


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

    def _weights(self, Z, rows):
        """Per-row curvature from the chunk's logits Z (m, k), times s_i * scale."""
        s = self.scale if self.sw is None else self.sw[rows] * self.scale
        if self.k == 1:
            p = expit(Z[:, 0])
            return (p * (1.0 - p) * s)[:, None]
        return _softmax(Z), s

    def full(self, theta):
        """The (len(theta), len(theta)) Hessian of the mean loss, penalty excluded.

        Per chunk X_c, with the intercept column's value icol: the (class c, class l >= c)
        blocks of X_a^T D X_a come from one GEMM of X_c itself (no augmented copy) with
        B = [X_c h_l, icol h_l] for the blocks' curvature columns h_l; that gives each
        block's rows for X's columns, and its intercept row is the transpose of its
        intercept column, with icol^2 sum(h_l) in the corner. B lives in one buffer for the
        whole pass (a fresh one a chunk faults in its pages).
        """
        X, k, p, p1 = self.X, self.k, self.p, self.p1
        W, b = self._split(theta)
        dt = X.dtype
        rows_max = min(self.n, _CHUNK)
        bbuf = np.empty(rows_max * k * p1, dtype=dt)
        H4 = np.zeros((k, p1, k, p1))
        tmp = np.empty(p * k * p1, dtype=dt)  # GEMM outputs, C-contiguous prefixes
        for r0 in range(0, self.n, _CHUNK):
            rows = slice(r0, min(self.n, r0 + _CHUNK))
            Xc = X[rows]
            m = Xc.shape[0]
            Z = ops.gemm(Xc, W, bias=b, trans_b=True).astype(np.float64)
            if k == 1:
                H = self._weights(Z, rows)   # (m, 1)
            else:
                P, s = self._weights(Z, rows)
                Ps = P * np.asarray(s).reshape(-1, 1)
            for c in range(k):
                if k == 1:
                    h = H
                else:
                    # the blocks (c, l >= c) only, as scikit-learn: the curvature column
                    # of block (c, l) is s (p_c delta_cl - p_c p_l); the lower blocks are
                    # the upper ones transposed
                    h = -Ps[:, c:c + 1] * P[:, c:]
                    h[:, 0] += Ps[:, c]
                nl = h.shape[1]
                B = bbuf[: m * nl * p1].reshape(m, nl, p1)
                np.multiply(Xc[:, None, :], h[:, :, None], out=B[:, :, :p], casting="unsafe")
                if self.icol is not None:
                    np.multiply(h, self.icol, out=B[:, :, p], casting="unsafe")
                out = tmp[: p * nl * p1].reshape(p, nl, p1)
                ops.gemm(Xc, B.reshape(m, nl * p1), out.reshape(p, nl * p1), trans_a=True)
                H4[c, :p, c:, :] += out
                if self.icol is not None:  # the intercept row: symmetric, and icol^2 sum h
                    H4[c, p, c:, :p] += out[:, :, p].T
                    H4[c, p, c:, p] += self.icol ** 2 * h.sum(axis=0)
        for c in range(k):
            for l in range(c + 1, k):
                H4[l, :, c, :] = H4[c, :, l, :].T
        H2 = H4.reshape(k * p1, k * p1)
        H2 = 0.5 * (H2 + H2.T)
        out = np.empty_like(H2)
        out[np.ix_(self.order, self.order)] = H2
        return out

    def logits(self, theta):
        """X W^T + icol c, (n, k) float64."""
        W, b = self._split(theta)
        return ops.gemm(self.X, W, bias=b, trans_b=True).astype(np.float64)

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
