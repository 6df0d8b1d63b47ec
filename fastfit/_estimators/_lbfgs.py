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

with R the upper triangle of S^T Y and D its diagonal. An iteration reads the 2m x n
pairs twice (see _Memory): the bound, as the pairs do not stay in cache. They are stored
in float32 (csrc/lbfgs.c's two passes take every product and sum in double): 21 MB at
n = 2^18 instead of 42, 210 MB instead of 420 at 10 x 2^18. The step is then L-BFGS's on
pairs rounded to float32 (relative 6e-8), the gradients and iterates staying in double.

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

from fastfit._lib import check_status, kernel, ptr

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
    their inner products S^T Y and Y^T Y, and what the last step left: S^T g and Y^T g
    of the last gradient, and the last direction d = -(gamma g + S cs + Y cy).

    An iteration reads W twice (csrc/lbfgs.c): S^T g and Y^T g of the new gradient, and
    the direction -(gamma g + S cs + Y cy). The new pair's products with the held ones
    need no third read: S^T y = S^T g_new - S^T g_old, Y^T y likewise, and Y^T s = t Y^T d
    from the small matrices (s = t d, as L-BFGS-B stores it). W's dtype is
    ``pair_dtype``; the products of a new pair with g are taken from its stored rows, so
    that later differences subtract like from like."""

    def __init__(self, n, m, pair_dtype=np.float32):
        self.m = m
        self.w = np.empty((2 * m, n), pair_dtype)
        self._dots = kernel("lbfgs_dots", self.w.dtype)
        self._direction = kernel("lbfgs_direction", self.w.dtype)
        self.sy, self.yy = np.empty((m, m)), np.empty((m, m))
        self.sg, self.yg = np.zeros(m), np.zeros(m)
        self.k = 0  # pairs held, in slots [0, k)
        self.head = 0  # once full: the slot of the oldest pair
        self.reset()

    def reset(self):
        """Forget every pair; the last direction counts as -g."""
        self.k = self.head = 0
        self.cs, self.cy, self.gamma = np.zeros(self.m), np.zeros(self.m), 1.0

    def _order(self):
        """Slots from the oldest pair to the newest."""
        return (self.head + np.arange(self.k)) % self.m if self.k == self.m else np.arange(self.k)

    def _held(self):
        """W's rows of the held pairs: the s slots, then the y slots."""
        k, m = self.k, self.m
        return np.concatenate((np.arange(k), m + np.arange(k)))

    def _products(self, rows, v):
        """W[rows] @ v in double: one read of those rows."""
        out = np.empty(rows.shape[0])
        check_status(self._dots(ptr(out), ptr(self.w), ptr(rows), rows.shape[0],
                                self.w.shape[0], self.w.shape[1], ptr(v)), "L-BFGS")
        return out

    def _wv(self, v):
        """(S^T v, Y^T v) over the held slots: one read of the held rows of W."""
        both = self._products(self._held(), v)
        return both[:self.k], both[self.k:]

    def _push(self, g, t, s, y, s_y, y_y, sg, yg):
        """Store the pair (s = t d, y) in the next slot (the oldest one's when full),
        with its products; sg, yg: S^T g, Y^T g of the new gradient over the slots held
        before. Returns them over the slots held after."""
        k, m = self.k, self.m
        sty = sg - self.sg[:k]  # S^T y, Y^T y of the held pairs
        yty = yg - self.yg[:k]
        yts = -t * (self.gamma * self.yg[:k] + self.sy[:k, :k].T @ self.cs[:k]
                    + self.yy[:k, :k] @ self.cy[:k])  # Y^T s = t Y^T d
        if k < m:
            slot = k
            self.k = k + 1
            sg, yg = np.append(sg, 0.0), np.append(yg, 0.0)
        else:
            slot = self.head
            self.head = (self.head + 1) % m
        self.w[slot], self.w[m + slot] = s, y
        self.sy[:k, slot], self.sy[slot, :k] = sty, yts
        self.yy[:k, slot] = self.yy[slot, :k] = yty
        self.sy[slot, slot], self.yy[slot, slot] = s_y, y_y
        sg[slot], yg[slot] = self._products(np.array([slot, m + slot]), g)
        return sg, yg

    def step(self, g, new_pair=None):
        """Take in the pair of the last step, ``(t, s, y, s.y, y.y)`` with s = t d for the
        last direction d (None: no new pair), then return -H g."""
        sg, yg = self._wv(g) if self.k else (np.zeros(0), np.zeros(0))
        if new_pair is not None:
            sg, yg = self._push(g, *new_pair, sg, yg)
        self.sg[:self.k], self.yg[:self.k] = sg, yg
        k, m = self.k, self.m
        if k == 0:
            self.reset()
            return -g
        o = self._order()
        a, b = sg[o], yg[o]
        sy, yy = self.sy[np.ix_(o, o)], self.yy[np.ix_(o, o)]
        gamma = sy[-1, -1] / yy[-1, -1]
        r = np.triu(sy)
        u = scipy.linalg.solve_triangular(r, a, check_finite=False)
        p1 = scipy.linalg.solve_triangular(r, np.diag(sy) * u + gamma * (yy @ u) - gamma * b,
                                           trans="T", check_finite=False)
        self.cs[o], self.cy[o], self.gamma = p1, -gamma * u, gamma
        rows = self._held()  # the second read of W
        d = np.empty_like(g)
        check_status(self._direction(ptr(d), ptr(self.w), ptr(rows), rows.shape[0],
                                     self.w.shape[0], self.w.shape[1],
                                     ptr(np.concatenate((self.cs[:k], self.cy[:k]))), gamma,
                                     ptr(g)), "L-BFGS")
        return d


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


def minimize_lbfgs(fun, x0, *, max_iter, gtol, ftol, m=10, max_ls=50,
                   pair_dtype=np.float32) -> LbfgsResult:
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
    pair_dtype : float32 or float64
        How the pairs are stored (their products are taken in double either way).

    Returns
    -------
    LbfgsResult
    """
    x = np.array(x0, dtype=np.float64)
    f, g = fun(x)
    mem = _Memory(x.shape[0], m, pair_dtype)
    nit = 0
    pair = None
    while True:
        if np.max(np.abs(g), initial=0.0) <= gtol:
            return LbfgsResult(x, f, g, nit, 0, "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL")
        if nit >= max_iter:
            return LbfgsResult(x, f, g, nit, 1, "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT")
        d = mem.step(g, pair)
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
        t, f_new, (x_new, g_new) = found
        s, y = t * d, g_new - g  # s = t d, as L-BFGS-B stores it
        s_y, y_y = float(s @ y), float(y @ y)
        # no curvature to learn from: skip the pair
        pair = (t, s, y, s_y, y_y) if s_y > _EPS * y_y else None
        nit += 1
        reduction = f - f_new
        x, f_old, f, g = x_new, f, f_new, g_new
        if reduction <= ftol * max(abs(f_old), abs(f), 1.0):
            return LbfgsResult(x, f, g, nit, 0,
                               "CONVERGENCE: REL_REDUCTION_OF_F_<=_FACTR*EPSMCH")
