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

The line search is L-BFGS-B's (Moré-Thuente, ``_line_search``, with its constants), from
the unit step (the first iteration from 1 / |d|); a pair with s^T y <= eps (-g^T s) is
skipped; a search that finds no step, or a direction that is not a descent one, restarts
from -g with no pairs; the stopping rules are max |g| <= gtol, a relative reduction of f
of at most ftol, or max_iter iterations. All of it as L-BFGS-B, whose iterates this one
then follows to rounding when the pairs are stored in double (tests/test_lbfgs.py; on the
binary text benchmark the objective agreed to 8 digits through 79 iterations). With
float32 pairs the path drifts apart from ~15 iterations on, neither ahead nor behind by
rule (there: 92 iterations to max |g| <= 1e-4, objective 0.4936 against L-BFGS-B's 0.4939
in 80).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from fastfit._estimators._line_search import more_thuente
from fastfit._lib import check_status, kernel, ptr

__all__ = ["FullEvaluations", "LbfgsResult", "minimize_lbfgs"]

_EPS = np.finfo(np.float64).eps
_TILE = 1024  # coordinates per tile of the stored pairs (csrc/lbfgs.c)


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
    """The last m (s, y) pairs, their inner products S^T Y and Y^T Y, and what the last
    step left: S^T g and Y^T g of the last gradient, and the coefficients of the last
    direction d = -(gamma g + S cs + Y cy).

    The pairs live in m + 1 slots of one tiled array (csrc/lbfgs.c; slot i: s in row i, y
    in row m + 1 + i): up to m hold pairs, oldest first in ``live``, and the next pair is
    written to a free one, so that it can be stored before knowing whether its curvature
    keeps it. An iteration reads the pairs twice: the update (store the new pair, the
    pairs' products with the new gradient) and the direction. The new pair's products
    with the held ones need no third read: S^T y = S^T g_new - S^T g_old, Y^T y likewise,
    and Y^T s = t Y^T d from the small matrices (s = t d, as L-BFGS-B stores it). The
    products are taken from the stored rows, so that later differences subtract like
    from like."""

    def __init__(self, n, m, pair_dtype=np.float32):
        self.n, self.m = n, m
        self.w = np.empty((-(-n // _TILE), 2 * (m + 1), _TILE), pair_dtype)
        self._update = kernel("lbfgs_update", self.w.dtype)
        self._direction = kernel("lbfgs_direction", self.w.dtype)
        self.sy, self.yy = np.zeros((m + 1, m + 1)), np.zeros((m + 1, m + 1))
        self.sg, self.yg = np.zeros(m + 1), np.zeros(m + 1)
        self._stats = np.empty(3)
        self.reset()

    @property
    def k(self):
        """Pairs held."""
        return len(self.live)

    def reset(self):
        """Forget every pair; the last direction counts as -g."""
        self.live = []
        self.cs, self.cy, self.gamma = np.zeros(self.m + 1), np.zeros(self.m + 1), 1.0

    def _rows(self, slots):
        """The tiled rows of the slots' s, then of their y."""
        return np.array(slots + [self.m + 1 + i for i in slots], np.int64)

    def update(self, g, step=None):
        """Take in the new gradient g and, with ``step = (t, d, g_old, slope)``, the pair
        of the step x_new = x + t d that reached it, slope = d.g_old (kept when s.y >
        eps (-g_old.s), L-BFGS-B's test). Returns max |g|."""
        live, m = self.live, self.m
        spare = min(set(range(m + 1)) - set(live))
        slots = live + [spare] if step is not None else live
        rows = self._rows(slots)
        dots = np.empty(rows.shape[0])
        t, d, g_old, slope = step if step is not None else (0.0, None, None, 0.0)
        s_row, y_row = (spare, m + 1 + spare) if step is not None else (-1, -1)
        check_status(self._update(ptr(dots), ptr(self._stats), ptr(self.w), self.w.shape[1],
                                  _TILE, self.n, ptr(rows), rows.shape[0], s_row, y_row, t,
                                  ptr(d), ptr(g_old), ptr(g)), "L-BFGS")
        s_y, y_y, g_max = self._stats
        k = len(slots)
        sg, yg = dots[:k], dots[k:]
        if step is not None and s_y > _EPS * -t * slope:
            old = np.array(live, np.int64)
            ix = np.ix_(old, old)
            self.sy[old, spare] = sg[:-1] - self.sg[old]  # S^T y, Y^T y of the held pairs
            self.yy[old, spare] = self.yy[spare, old] = yg[:-1] - self.yg[old]
            self.sy[spare, old] = -t * (self.gamma * self.yg[old] + self.sy[ix].T @ self.cs[old]
                                        + self.yy[ix] @ self.cy[old])  # Y^T s = t Y^T d
            self.sy[spare, spare], self.yy[spare, spare] = s_y, y_y
            live.append(spare)
            if len(live) > m:
                live.pop(0)
        held = np.array(slots, np.int64)
        self.sg[held], self.yg[held] = sg, yg
        return g_max

    def direction(self, g):
        """-H g from the pairs held, with d.g and d.d."""
        if not self.live:
            self.reset()
            g_g = float(g @ g)
            return -g, -g_g, g_g
        stats = np.empty(2)
        o = np.array(self.live, np.int64)
        a, b = self.sg[o], self.yg[o]
        sy, yy = self.sy[np.ix_(o, o)], self.yy[np.ix_(o, o)]
        gamma = sy[-1, -1] / yy[-1, -1]
        r = np.triu(sy)
        u = scipy.linalg.solve_triangular(r, a, check_finite=False)
        p1 = scipy.linalg.solve_triangular(r, np.diag(sy) * u + gamma * (yy @ u) - gamma * b,
                                           trans="T", check_finite=False)
        self.cs[o], self.cy[o], self.gamma = p1, -gamma * u, gamma
        rows = self._rows(self.live)
        d = np.empty_like(g)
        check_status(self._direction(ptr(d), ptr(stats), ptr(self.w), self.w.shape[1], _TILE,
                                     self.n, ptr(rows), rows.shape[0],
                                     ptr(np.concatenate((p1, -gamma * u))), gamma, ptr(g)),
                     "L-BFGS")
        return d, stats[0], stats[1]


class FullEvaluations:
    """Line-search trials that each evaluate ``fun(x + t d) -> (f, g)`` in full: the
    default ``lines`` of :func:`minimize_lbfgs`. An objective with a cheaper way to
    evaluate f and its slope along a line provides the same two methods."""

    def __init__(self, fun):
        self.fun = fun

    def along(self, x, d):
        """``phi(t) -> (f, slope, point)`` on x + t d."""
        def phi(t):
            xt = x + t * d
            ft, gt = self.fun(xt)
            return ft, float(gt @ d), (xt, gt)
        return phi

    def accept(self, point):
        """(x_t, g_t) of a point that ``phi`` returned."""
        return point


def minimize_lbfgs(fun, x0, *, max_iter, gtol, ftol, m=10, max_ls=50,
                   pair_dtype=np.float32, lines=None) -> LbfgsResult:
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
    lines : object, optional
        The line search's trials: ``lines.along(x, d)`` gives ``phi(t) -> (f, slope,
        point)`` and ``lines.accept(point)`` the accepted (x_t, g_t), x being the start
        or an x that ``accept`` returned. Default: :class:`FullEvaluations` of fun.

    Returns
    -------
    LbfgsResult
    """
    lines = FullEvaluations(fun) if lines is None else lines
    x = np.array(x0, dtype=np.float64)
    f, g = fun(x)
    mem = _Memory(x.shape[0], m, pair_dtype)
    g_max = mem.update(g)
    nit = 0
    while True:
        if g_max <= gtol:
            return LbfgsResult(x, f, g, nit, 0, "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL")
        if nit >= max_iter:
            return LbfgsResult(x, f, g, nit, 1, "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT")
        d, slope, d_d = mem.direction(g)
        while True:
            if slope < 0:
                # L-BFGS-B's first trial: 1 / |d| on the first iteration (not capped at 1)
                t = 1.0 / max(np.sqrt(d_d), _EPS) if nit == 0 else 1.0
                found = more_thuente(lines.along(x, d), f, slope, t, max_ls)
                if found is not None:
                    break
            if not mem.k:
                return LbfgsResult(x, f, g, nit, 2, "ABNORMAL_TERMINATION_IN_LNSRCH")
            # no descent (rounding) or no step found: forget the pairs and restart from
            # -g, as L-BFGS-B
            mem.reset()
            d, slope, d_d = mem.direction(g)
        t, f_new, point = found
        x_new, g_new = lines.accept(point)
        g_max = mem.update(g_new, (t, d, g, slope))  # s = t d, as L-BFGS-B stores it
        nit += 1
        reduction = f - f_new
        x, f_old, f, g = x_new, f, f_new, g_new
        if reduction <= ftol * max(abs(f_old), abs(f), 1.0):
            return LbfgsResult(x, f, g, nit, 0,
                               "CONVERGENCE: REL_REDUCTION_OF_F_<=_FACTR*EPSMCH")
