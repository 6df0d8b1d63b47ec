"""Limited-memory BFGS in compact form, for coefficient vectors too long for scipy's
L-BFGS-B to be cheap.

scipy's L-BFGS-B (what scikit-learn's ``lbfgs`` calls) does O(m n) bookkeeping per
iteration for its bounds (the generalised Cauchy point, the subspace step) even when
there are none: ~15 ms an iteration at n = 2^18 and ~70 ms at 2.6M, m = 10, here, as
much as the sparse loss and gradient pass itself or more. Unbounded, the step is H g
from the compact representation (Byrd, Nocedal and Schnabel 1994; Nocedal and Wright,
eq. 7.24), S and Y holding the pairs as columns, oldest first:

    H = gamma I + [S gamma Y] M [S; gamma Y]^T,
    M = [[R^-T (D + gamma Y^T Y) R^-1, -R^-T], [-R^-1, 0]]

with R the upper triangle of S^T Y and D its diagonal. An iteration reads the pairs
through BLAS matrix-vector products: S^T g and Y^T g, W^T c to form H g, and the new
pair's products with the held ones (S^T y, Y^T s, Y^T y: S^T Y and Y^T Y are kept up to
date), 3.5 reads of the 2m x n pairs in all.

The line search finds a step meeting the strong Wolfe conditions with L-BFGS-B's
constants (c1 = 1e-3, c2 = 0.9), from the unit step (the first iteration from 1 / |d|,
as L-BFGS-B). A pair with s^T y <= eps y^T y is skipped, as L-BFGS-B does. The stopping
rules are L-BFGS-B's: max |g| <= gtol, a relative reduction of f of at most ftol, or
max_iter iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

__all__ = ["LbfgsResult", "minimize_lbfgs"]

_EPS = np.finfo(np.float64).eps


@dataclass
class LbfgsResult:
    """What :func:`minimize_lbfgs` returns (the fields of scipy's OptimizeResult that
    the solvers read)."""

    x: np.ndarray
    fun: float
    jac: np.ndarray
    nit: int
    status: int  # 0 converged, 1 max_iter reached, 2 the line search failed
    message: str


class _Memory:
    """The last m (s, y) pairs as rows of one (2m, n) array W: s in rows [0, m), y in
    rows [m, 2m), by ring slot (the oldest pair is overwritten, nothing is shifted),
    with their inner products S^T Y and Y^T Y by slot."""

    def __init__(self, n, m):
        self.m = m
        self.w = np.empty((2 * m, n))
        self.sy, self.yy = np.empty((m, m)), np.empty((m, m))
        self.k = 0  # pairs held, in slots [0, k)
        self.head = 0  # once full: the slot of the oldest pair

    def reset(self):
        self.k = self.head = 0

    def _order(self):
        """Slots from the oldest pair to the newest."""
        return (self.head + np.arange(self.k)) % self.m if self.k == self.m else np.arange(self.k)

    def _push(self, s, y):
        """Store (s, y) in the next slot (the oldest one's when full); return the slot."""
        m = self.m
        if self.k < m:
            slot = self.k
            self.k += 1
        else:
            slot = self.head
            self.head = (self.head + 1) % m
        self.w[slot], self.w[m + slot] = s, y
        return slot

    def step(self, g, s=None, y=None):
        """Take in the pair (s, y) (None: no new pair), then return -H g."""
        m = self.m
        slot = None if s is None else self._push(s, y)
        k = self.k
        if k == 0:
            return -g
        S, Y = self.w[:k], self.w[m:m + k]
        if slot is not None:  # matrix-vector products: BLAS's GEMM is slow for 3 columns
            self.sy[:k, slot] = S @ y  # s_i . y_new
            self.sy[slot, :k] = Y @ s  # s_new . y_j
            self.yy[:k, slot] = self.yy[slot, :k] = Y @ y
        o = self._order()
        wg = self.w @ g if k == m else None  # one read of W when it is full
        a = (wg[:m] if k == m else S @ g)[o]
        b = (wg[m:] if k == m else Y @ g)[o]
        sy, yy = self.sy[np.ix_(o, o)], self.yy[np.ix_(o, o)]
        gamma = sy[-1, -1] / yy[-1, -1]
        r = np.triu(sy)
        u = scipy.linalg.solve_triangular(r, a, check_finite=False)
        p1 = scipy.linalg.solve_triangular(r, np.diag(sy) * u + gamma * (yy @ u) - gamma * b,
                                           trans="T", check_finite=False)
        c = np.zeros(2 * m)
        c[o], c[m + o] = p1, -gamma * u
        if k == m:  # the second read of W
            hg = self.w.T @ c
        else:
            hg = self.w[:k].T @ c[:k] + self.w[m:m + k].T @ c[m:m + k]
        hg += gamma * g
        return -hg


def _interpolate(lo, f_lo, d_lo, hi, f_hi):
    """The minimiser of the quadratic through (lo, f_lo) with slope d_lo and (hi, f_hi),
    kept inside the middle 80% of [lo, hi] (the midpoint when f_hi is not finite)."""
    width = hi - lo
    denom = 2.0 * (f_hi - f_lo - d_lo * width)
    t = (lo - d_lo * width * width / denom if np.isfinite(f_hi) and denom > 0
         else lo + 0.5 * width)
    a, b = sorted((lo + 0.1 * width, hi - 0.1 * width))
    return min(max(t, a), b)


def _strong_wolfe(phi, f0, d0, t, max_evals, c1=1e-3, c2=0.9, t_max=1e10):
    """A step t > 0 with phi(t) <= f0 + c1 t d0 and |phi'(t)| <= c2 |d0| (the strong
    Wolfe conditions), by bracketing then zooming (Nocedal and Wright, algorithms 3.5
    and 3.6). ``phi(t) -> (f, slope, point)``, each trial evaluated once. Returns
    (t, f, point), or None after max_evals trials."""
    lo, f_lo, d_lo = 0.0, f0, d0
    hi = f_hi = None
    for i in range(max_evals):
        f, d, point = phi(t)
        sufficient = f <= f0 + c1 * t * d0  # False for NaN too
        if hi is None:  # bracketing: the step grows until it overshoots
            if not sufficient or (i > 0 and f >= f_lo):
                hi, f_hi = t, f
            elif abs(d) <= -c2 * d0:
                return t, f, point
            elif d >= 0:
                hi, f_hi, lo, f_lo, d_lo = lo, f_lo, t, f, d
            else:
                lo, f_lo, d_lo = t, f, d
                t = min(2.0 * t, t_max)
                continue
        elif not sufficient or f >= f_lo:  # zooming inside the bracket
            hi, f_hi = t, f
        elif abs(d) <= -c2 * d0:
            return t, f, point
        else:
            if d * (hi - lo) >= 0:
                hi, f_hi = lo, f_lo
            lo, f_lo, d_lo = t, f, d
        t = _interpolate(lo, f_lo, d_lo, hi, f_hi)
    return None


def minimize_lbfgs(fun, x0, *, max_iter, gtol, ftol, m=10, max_ls=50) -> LbfgsResult:
    """Minimise ``fun(x) -> (f, g)`` (smooth) from x0 by L-BFGS.

    Parameters
    ----------
    fun : callable
        The objective and its gradient; f may be inf or NaN (the step is shortened).
    x0 : ndarray of shape (n,)
    max_iter : int
        Iterations (steps taken) at most.
    gtol, ftol : float
        Stop when max |g| <= gtol, or when a step reduces f by at most
        ftol * max(|f|, |f_new|, 1) (L-BFGS-B's ``pgtol`` and ``factr * epsmch``).
    m : int
        Pairs kept (L-BFGS-B's ``maxcor``).
    max_ls : int
        Trial steps of one line search at most.

    Returns
    -------
    LbfgsResult
    """
    x = np.array(x0, dtype=np.float64)
    f, g = fun(x)
    mem = _Memory(x.shape[0], m)
    nit = 0
    s = y = None
    while True:
        if np.max(np.abs(g), initial=0.0) <= gtol:
            return LbfgsResult(x, f, g, nit, 0, "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL")
        if nit >= max_iter:
            return LbfgsResult(x, f, g, nit, 1, "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT")
        d = mem.step(g, s, y)
        slope = float(d @ g)
        if not slope < 0:  # not a descent direction (rounding): restart from -g
            mem.reset()
            d, slope = -g, -float(g @ g)
        t = 1.0 if mem.k else min(1.0, 1.0 / max(float(np.linalg.norm(d)), _EPS))

        def phi(t, x=x, d=d):
            xt = x + t * d
            ft, gt = fun(xt)
            return ft, float(gt @ d), (xt, gt)
        found = _strong_wolfe(phi, f, slope, t, max_ls)
        if found is None:
            return LbfgsResult(x, f, g, nit, 2, "ABNORMAL_TERMINATION_IN_LNSRCH")
        _, f_new, (x_new, g_new) = found
        s, y = x_new - x, g_new - g
        if not float(s @ y) > _EPS * float(y @ y):  # no curvature to learn from: skip
            s = y = None
        nit += 1
        reduction = f - f_new
        x, f_old, f, g = x_new, f, f_new, g_new
        if reduction <= ftol * max(abs(f_old), abs(f), 1.0):
            return LbfgsResult(x, f, g, nit, 0,
                               "CONVERGENCE: REL_REDUCTION_OF_F_<=_FACTR*EPSMCH")
