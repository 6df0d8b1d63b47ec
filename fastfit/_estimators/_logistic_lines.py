"""Line-search trials of the binary logistic objective on CSR input from its logits.

Along a direction d = (d_w, d_b) the logits are affine in the step:
z(t) = z + t u with u = X d_w + d_b. With z and u known, a trial step of the line search
costs O(n) (the loss and its slope from z(t)) instead of a pass over X, and only the
accepted step pays for its gradient (X^T r, a scatter over the rows). An L-BFGS iteration
then reads X twice whatever the number of trials (u, a gather; the gradient, a scatter):
what one full evaluation costs, since the fused CSR pass (ff_csr_logistic_loss_grad) also
runs a gather and then a scatter. The trials beyond the first, ~14% of the evaluations of
a binary text fit, become nearly free.

The logits are carried in double from one accepted point to the next (z + t u), so they
are those of the iterate up to the rounding of X d_w in X's dtype, the rounding the fused
pass makes of X w at every evaluation.
"""

from __future__ import annotations

import numpy as np

from fastfit import ops

__all__ = ["BinaryLogitLines"]


class BinaryLogitLines:
    """Trial points along a direction for ``obj`` (an ``_Objective`` of K = 1 on a CSR X),
    the ``lines`` of :func:`~fastfit._estimators._lbfgs.minimize_lbfgs`.

    Parameters
    ----------
    obj : _logistic._Objective
        Its X (CSR), labels (0/1), weight (or None), fit_intercept, scale (1 / sum of the
        weights s_i) and l2 define f(w, b) = scale sum_i s_i l_i(z_i) + l2/2 |w|^2.
    """

    def __init__(self, obj):
        self.obj = obj
        self.X, self.p, self.n = obj.X, obj.p, obj.n
        self.l2, self.intercept = obj.l2, obj.fit_intercept
        self.target = np.asarray(obj.labels, np.float64)
        self.weight = None if obj.weight is None else np.asarray(obj.weight, np.float64)
        # ops.bce_with_logits takes the weighted mean over sum(s); the objective's scale
        # is 1 / sum(s) as well, but the two sums are rounded apart: keep their ratio
        total = self.n if self.weight is None else float(self.weight.sum())
        self._rescale = total * obj.scale
        self._dtype = obj.X.dtype
        self._rows = np.empty(self.n, self._dtype)  # X v in X's dtype
        self._cols = np.empty(self.p, self._dtype)  # X^T r in X's dtype
        self._vec = np.empty(self.p, self._dtype)  # a coefficient vector in X's dtype
        self._at = None  # (x, z): the last accepted point and its logits

    def _logits(self, x):
        """X x_w + x_b in double."""
        self._vec[...] = x[:self.p]
        z = ops.csr_matvec(self.X, self._vec, out=self._rows).astype(np.float64)
        if self.intercept:
            z += x[self.p]
        return z

    def along(self, x, d):
        """``phi(t) -> (f, slope, point)`` on x + t d (x an iterate that ``accept``
        returned, or any point: its logits then cost one gather)."""
        z = self._at[1] if self._at is not None and self._at[0] is x else self._logits(x)
        u = self._logits(d)  # X d_w + d_b
        p, l2 = self.p, self.l2
        xw, dw = x[:p], d[:p]
        ww, wd, dd = float(xw @ xw), float(xw @ dw), float(dw @ dw)

        def phi(t):
            zt = z + t * u
            try:
                loss, r = ops.bce_with_logits(zt, self.target, self.weight)
            except FloatingPointError:  # an overflowing trial: the search steps back
                return np.inf, np.inf, None
            loss *= self._rescale
            r *= self._rescale
            f = loss + 0.5 * l2 * (ww + t * (2.0 * wd + t * dd))
            slope = float(r @ u) + l2 * (wd + t * dd)
            return f, slope, (x, d, t, zt, r)
        return phi

    def accept(self, point):
        """(x + t d, its gradient) for a point that ``phi`` returned."""
        x, d, t, z, r = point
        x_t = x + t * d
        g = np.empty_like(x_t)
        p = self.p
        ops.csr_tmatvec(self.X, r.astype(self._dtype), out=self._cols)
        np.multiply(x_t[:p], self.l2, out=g[:p])
        g[:p] += self._cols
        if self.intercept:
            g[p] = float(r.sum())
        self._at = (x_t, z)
        return x_t, g
