"""Ridge's solvers by scikit-learn 1.9's names (sklearn/linear_model/_ridge.py).

All of them solve min_w ||sqrt(s) (y - Xc w)||^2 + alpha ||w||^2 on the centred data
(``_linear._Data``), so they share one solution and differ in how they reach it:

- ``cholesky`` (what ``auto`` resolves to without ``positive``) is ``Ridge._solve``'s
  Cholesky solve of the Gram matrix built by fastfit's GEMM; ``svd`` is the same
  problem through the eigendecomposition of that Gram (X's right singular vectors and
  squared singular values; scikit-learn's own SVD of X for wide X).
- ``lsqr``, ``sparse_cg``: SciPy's iterative solvers (scikit-learn calls the same ones,
  with the same tolerances) on a LinearOperator that centres and weights X on the fly.
- ``sag``, ``saga``: conjugate gradients on the normal equations to ``tol`` (the
  objective is smooth and L2-only, the same one scikit-learn's SAG minimises); n_iter_
  counts CG iterations.
- ``lbfgs`` (what ``auto`` resolves to with ``positive=True``): scipy's L-BFGS-B with
  non-negativity bounds, as scikit-learn.

X is touched only through ``X @ v`` and ``X.T @ r`` (and the Gram for cholesky/svd), so
a sparse X can reuse the operator.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse.linalg as spla
from sklearn.exceptions import ConvergenceWarning

from fastfit import ops

__all__ = ["resolve_solver", "solve"]


def resolve_solver(solver, positive):
    """The solver ``solver_`` reports, with scikit-learn's errors for bad combinations."""
    if solver == "lbfgs" and not positive:
        raise ValueError("'lbfgs' solver can be used only when positive=True. "
                         "Please use another solver.")
    if positive and solver not in ("auto", "lbfgs"):
        raise ValueError(f"solver='{solver}' does not support positive fitting. Please set "
                         "the solver to 'auto' or 'lbfgs', or set `positive=False`")
    if solver == "auto":
        return "lbfgs" if positive else "cholesky"
    return solver


class _CentredOperator:
    """sqrt(s) (X - x_off) as products with vectors (X read in its own dtype)."""

    def __init__(self, d):
        self.X, self.off = d.X, d.x_off
        n = d.X.shape[0]
        self.root = np.ones(n) if d.root is None else d.root
        self.shape = d.X.shape

    def matvec(self, v):
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        Xv = ops.gemm(self.X, np.ascontiguousarray(v[:, None], dtype=self.X.dtype))[:, 0]
        return self.root * (Xv - self.off @ v)

    def rmatvec(self, r):
        r = self.root * np.asarray(r, dtype=np.float64).reshape(-1)
        Xtr = ops.gemm(np.ascontiguousarray(r[:, None], dtype=self.X.dtype), self.X,
                       trans_a=True)[0]
        return Xtr - self.off * r.sum()

    def linear_operator(self):
        return spla.LinearOperator(self.shape, matvec=self.matvec, rmatvec=self.rmatvec,
                                   dtype=np.float64)


def _targets(d):
    """The centred, weighted targets, (n, t) float64."""
    yc = d.y2 - d.y_off
    return yc if d.root is None else yc * d.root[:, None]


def _svd(d, alphas):
    n, p = d.X.shape
    if n >= p:
        gram, rhs = d.gram()
        evals, V = scipy.linalg.eigh(gram, check_finite=False)
        keep = evals > 1e-30  # s > 1e-15, scikit-learn's cutoff
        V, evals = V[:, keep], evals[keep]
        proj = V.T @ rhs  # s U^T y
        return np.stack([V @ (proj[:, j] / (evals + a)) for j, a in enumerate(alphas)])
    Xc, yc = d.centered()
    U, s, Vt = scipy.linalg.svd(Xc, full_matrices=False, check_finite=False)
    keep = s > 1e-15
    U, s, Vt = U[:, keep], s[keep], Vt[keep]
    uty = U.T @ yc
    return np.stack([Vt.T @ (s / (s * s + a) * uty[:, j]) for j, a in enumerate(alphas)])


def _cg(d, alphas, max_iter, tol):
    """CG on the normal equations (the dual ones for wide X), as scikit-learn's
    sparse_cg; returns coef and the iteration counts."""
    op = _CentredOperator(d)
    n, p = d.X.shape
    yc = _targets(d)
    coef = np.empty((yc.shape[1], p))
    n_iter = np.zeros(yc.shape[1], dtype=np.int32)
    for j, a in enumerate(alphas):
        count = [0]

        def counted(_x, count=count):
            count[0] += 1

        if p > n:
            A = spla.LinearOperator((n, n), matvec=lambda x, a=a: op.matvec(op.rmatvec(x))
                                    + a * x, dtype=np.float64)
            sol, info = spla.cg(A, yc[:, j], rtol=tol, maxiter=max_iter, callback=counted)
            coef[j] = op.rmatvec(sol)
        else:
            A = spla.LinearOperator((p, p), matvec=lambda x, a=a: op.rmatvec(op.matvec(x))
                                    + a * x, dtype=np.float64)
            sol, info = spla.cg(A, op.rmatvec(yc[:, j]), rtol=tol, maxiter=max_iter,
                                callback=counted)
            coef[j] = sol
        if info > 0:
            warnings.warn(f"sparse_cg did not converge after {info} iterations.",
                          ConvergenceWarning, stacklevel=5)
        n_iter[j] = count[0]
    return coef, n_iter


def _lsqr(d, alphas, max_iter, tol):
    op = _CentredOperator(d).linear_operator()
    yc = _targets(d)
    coef = np.empty((yc.shape[1], d.X.shape[1]))
    n_iter = np.empty(yc.shape[1], dtype=np.int32)
    for j, a in enumerate(alphas):
        info = spla.lsqr(op, yc[:, j], damp=np.sqrt(a), atol=tol, btol=tol, iter_lim=max_iter)
        coef[j], n_iter[j] = info[0], info[2]
    return coef, n_iter


def _lbfgs_positive(d, alphas, max_iter, tol):
    """L-BFGS-B with w >= 0, as scikit-learn's _solve_lbfgs. For n >= p the objective
    comes from the Gram matrix (one pass over X, then O(p^2) per evaluation)."""
    n, p = d.X.shape
    yc = _targets(d)
    options = {} if max_iter is None else {"maxiter": max_iter}
    gram = rhs = op = None
    if n >= p:
        gram, rhs = d.gram()
    else:
        op = _CentredOperator(d)
    coef = np.empty((yc.shape[1], p))
    for j, a in enumerate(alphas):
        y = yc[:, j]
        yy = float(y @ y)

        def func(w, a=a, j=j, y=y, yy=yy):
            if gram is not None:
                Gw = gram @ w
                f = 0.5 * (w @ Gw) - w @ rhs[:, j] + 0.5 * yy
                g = Gw - rhs[:, j]
            else:
                res = op.matvec(w) - y
                f = 0.5 * (res @ res)
                g = op.rmatvec(res)
            return f + 0.5 * a * (w @ w), g + a * w

        res = scipy.optimize.minimize(func, np.zeros(p), method="L-BFGS-B", jac=True, tol=tol,
                                      bounds=[(0, np.inf)] * p, options=options)
        if not res.success:
            warnings.warn("The lbfgs solver did not converge. Try increasing max_iter or tol. "
                          f"Currently: max_iter={max_iter} and tol={tol}", ConvergenceWarning,
                          stacklevel=5)
        coef[j] = res.x
    return coef


def solve(solver, d, alphas, max_iter, tol):
    """coef (n_targets, p) and n_iter_ (None, or one count per target) of ``solver``
    (not cholesky, which stays in Ridge._solve)."""
    if solver == "svd":
        return _svd(d, alphas), None
    if solver == "lsqr":
        return _lsqr(d, alphas, max_iter, tol)
    if solver == "sparse_cg":
        return _cg(d, alphas, max_iter, tol)[0], None
    if solver in ("sag", "saga"):
        return _cg(d, alphas, max_iter, tol)
    if solver == "lbfgs":
        return _lbfgs_positive(d, alphas, max_iter, tol), None
    raise ValueError(f"unknown Ridge solver {solver!r}")
