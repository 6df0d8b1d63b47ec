"""LogisticRegression's full-batch solvers, one per scikit-learn solver name.

Every solver minimises a penalised mean loss over the flat vector theta = [W.ravel(), c]
through ``obj(theta) -> (f, g)`` (``_logistic._Objective``: the fused C pass, L2 on W)
and, for the Newton solvers, a ``LogisticHessian`` (X^T D X by fastfit's GEMM, or
Hessian-vector products). Neither touches X otherwise, so a sparse objective and
Hessian plug in unchanged.

- ``newton_cholesky``: scikit-learn's NewtonCholeskySolver (sklearn/linear_model/_glm/
  _newton_solver.py): Cholesky solve of the Newton system, its Armijo backtracking line
  search (t = 1, 1/2, ... 2^-20, sigma = 2^-11), its convergence test (max |g| <= tol and
  half the Newton decrement <= tol), its multinomial handling (the last class's
  intercept, or whole row without a penalty, held fixed, then centred), and its L-BFGS
  fallback when the Hessian is singular or the line search fails.
- ``newton_cg``: scikit-learn's _newton_cg (sklearn/utils/optimize.py): truncated CG on
  Hessian-vector products to the forcing term min(0.5, sqrt(|g|_1)) |g|_1, stopping at
  max |g| <= tol; the line search is the same Armijo backtracking.
- ``fista``: proximal gradient with Nesterov momentum, backtracking and restart, for
  sag/saga (the smooth part through the fused pass, L1 as soft-thresholding), stopping
  as scikit-learn's sag does: the largest coefficient change of a pass is at most
  tol * the largest coefficient.
- ``liblinear``: liblinear's primal objective, the intercept a penalised weight on a
  constant column ``intercept_scaling``: Newton (L2, liblinear's relative gradient-norm
  stopping rule) or FISTA (L1) on a ``PenalisedIntercept`` view of the objective.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from fastfit._estimators._lbfgs import minimize_lbfgs

__all__ = ["PenalisedIntercept", "fista", "lbfgs", "newton_cg", "newton_cholesky", "solve"]

_ARMIJO_SIGMA = 0.00048828125  # 1 / 2^11, scikit-learn's
# Coefficients from which lbfgs runs fastfit's compact L-BFGS instead of scipy's L-BFGS-B.
_COMPACT_LBFGS_MIN = 1 << 16
_LINE_SEARCH_STEPS = 21  # t down to 2^-20


def lbfgs(obj, theta0, max_iter, tol, solver="lbfgs"):
    """L-BFGS with scikit-learn's options (10 pairs, gtol = tol, ftol = 64 eps, 50
    line-search steps); returns (theta, n_iter).

    scipy's L-BFGS-B, as scikit-learn, up to _COMPACT_LBFGS_MIN coefficients: the same
    iterates. Above, fastfit's unbounded compact L-BFGS (``_lbfgs``), because L-BFGS-B's
    bound bookkeeping then costs as much as the loss pass (~15 ms an iteration at 2^18
    coefficients, against ~4 ms)."""
    ftol = 64 * np.finfo(float).eps
    if theta0.shape[0] >= _COMPACT_LBFGS_MIN:
        lines = obj.lines() if hasattr(obj, "lines") else None  # cheaper trials, if any
        res = minimize_lbfgs(obj, theta0, max_iter=max_iter, gtol=tol, ftol=ftol, m=10,
                             max_ls=50, lines=lines)
    else:
        res = scipy.optimize.minimize(obj, theta0, method="L-BFGS-B", jac=True,
                                      options={"maxiter": max_iter, "maxls": 50, "gtol": tol,
                                               "ftol": ftol})
    n_iter = min(res.nit, max_iter)
    if res.status != 0:
        warnings.warn(f"{solver} failed to converge after {n_iter} iteration(s) "
                      f"(status={res.status}):\n{res.message}\n\nIncrease the number of "
                      "iterations (max_iter) or scale the data.", ConvergenceWarning,
                      stacklevel=5)
    return res.x, n_iter


def _line_search(obj, theta, f, g, step, gtn):
    """Armijo backtracking as scikit-learn's NewtonSolver.line_search; returns
    (theta, f, g) at the accepted point, or None when 21 halvings all fail."""
    eps = 16 * np.finfo(np.float64).eps
    t = 1.0
    g1_old = None
    for _ in range(_LINE_SEARCH_STEPS):
        cand = theta + t * step
        fc, gc = obj(cand)
        improvement = fc - f
        if improvement <= t * _ARMIJO_SIGMA * gtn:
            return cand, fc, gc
        if abs(improvement) <= abs(f * eps):
            g1_old = np.abs(g).sum() if g1_old is None else g1_old
            if np.abs(gc).sum() < g1_old:
                return cand, fc, gc
        t *= 0.5
    return None


def _pinned(hess, fit_intercept, penalised):
    """theta indices a multinomial Newton step holds at 0 (scikit-learn's rule): the
    last class's whole row without a penalty, else its intercept."""
    k, p = hess.k, hess.p
    if k == 1:
        return np.zeros(0, dtype=np.intp)
    if not penalised:
        rows = (k - 1) * p + np.arange(p)
        return np.r_[rows, k * p + k - 1] if fit_intercept else rows
    return np.array([k * p + k - 1], dtype=np.intp) if fit_intercept else np.zeros(0, np.intp)


def newton_cholesky(obj, hess, theta0, penalty_diag, max_iter, tol, *, stop=None,
                    name="newton-cholesky"):
    """Newton's method with a Cholesky solve of (H + diag(penalty_diag)) step = -g.

    ``stop(g, g0, decrement)`` replaces scikit-learn's convergence test (liblinear).
    Returns (theta, n_iter, converged)."""
    theta = np.array(theta0, dtype=np.float64)
    k, p = hess.k, hess.p
    penalised = bool(np.any(penalty_diag > 0))
    pinned = _pinned(hess, hess.icol is not None, penalised)
    if k > 1 and pinned.size:
        # the objective is invariant to a shift shared by all classes: move the pinned
        # parameters to 0 first (scikit-learn subtracts the last class's)
        if not penalised:
            W = theta[:k * p].reshape(k, p)
            W -= W[-1]
        if hess.icol is not None:
            theta[k * p:] -= theta[-1]
    free = np.setdiff1d(np.arange(theta.size), pinned)
    f, g = obj(theta)
    g0 = np.linalg.norm(g)
    converged, fallback = False, False
    it = 1
    while it <= max_iter and not converged:
        H = hess.full(theta)
        H[np.diag_indices_from(H)] += penalty_diag
        Hf = H[np.ix_(free, free)]
        step = np.zeros_like(theta)
        try:
            step[free] = scipy.linalg.cho_solve(scipy.linalg.cho_factor(Hf, check_finite=False),
                                                -g[free], check_finite=False)
            if not np.all(np.isfinite(step)):
                raise np.linalg.LinAlgError("non-finite Newton step")
        except (np.linalg.LinAlgError, ValueError) as e:
            warnings.warn(f"The inner solver of {name} stumbled upon a singular or very "
                          f"ill-conditioned Hessian matrix at iteration {it}. It will now "
                          f"resort to lbfgs instead.\n{e}", scipy.linalg.LinAlgWarning,
                          stacklevel=4)
            fallback = True
            break
        gtn = float(g @ step)
        if gtn > 0:  # not a descent direction
            fallback = True
            break
        found = _line_search(obj, theta, f, g, step, gtn)
        if found is None:
            warnings.warn(f"Line search of Newton solver {name} at iteration #{it} did not "
                          "converge after 21 line search refinement iterations. It will now "
                          "resort to lbfgs instead.", ConvergenceWarning, stacklevel=4)
            fallback = True
            break
        theta, f, g = found
        decrement = 0.5 * float(step @ H @ step)
        if stop is not None:
            converged = stop(g, g0, decrement)
        else:
            converged = np.max(np.abs(g)) <= tol and decrement <= tol
        it += 1
    n_iter = it - 1
    if fallback:
        theta, extra = lbfgs(obj, theta, max(max_iter - n_iter, 0), tol, name)
        n_iter += extra
    elif not converged and stop is None:
        warnings.warn(f"Newton solver did not converge after {n_iter} iterations.",
                      ConvergenceWarning, stacklevel=4)
    if k > 1 and pinned.size:  # centre as scikit-learn's finalize
        if not penalised:
            W = theta[:k * p].reshape(k, p)
            W -= W.mean(axis=0)
        if hess.icol is not None:
            theta[k * p:] -= theta[k * p:].mean()
    return theta, n_iter, converged


def _cg(hv, g, max_inner, term):
    """scikit-learn's truncated CG for H x = -g (stops on |r|_1 <= term, tiny or
    negative curvature)."""
    eps = 16 * np.finfo(np.float64).eps
    x = np.zeros_like(g)
    r = g.copy()
    d = -r
    rr = r @ r
    d_norm2 = rr
    for i in range(max_inner + 1):
        if np.abs(r).sum() <= term:
            break
        Hd = hv(d)
        curv = d @ Hd
        if 0 <= curv <= eps * d_norm2:
            break
        if curv < 0:
            if i == 0:
                x += rr / curv * d
            break
        a = rr / curv
        x += a * d
        r += a * Hd
        rr_new = r @ r
        beta = rr_new / rr
        d = -r + beta * d
        d_norm2 = rr_new + beta ** 2 * d_norm2
        rr = rr_new
    return x


def newton_cg(obj, hess, theta0, penalty_diag, max_iter, tol):
    """Newton-CG with Hessian-vector products; returns (theta, n_iter)."""
    theta = np.array(theta0, dtype=np.float64)
    f, g = obj(theta)
    it = 0
    while it < max_iter:
        if np.max(np.abs(g)) <= tol:
            break
        data_hv = hess.operator(theta)

        def hv(v, data_hv=data_hv):
            return data_hv(v) + penalty_diag * v

        g1 = np.abs(g).sum()
        step = _cg(hv, g, 200, min(0.5, np.sqrt(g1)) * g1)
        gtn = float(g @ step)
        found = _line_search(obj, theta, f, g, step, gtn) if gtn < 0 else None
        if found is None:
            warnings.warn("Line Search failed", stacklevel=4)
            break
        theta, f, g = found
        it += 1
    if it >= max_iter:  # as scikit-learn: reaching max_iter warns
        warnings.warn(f"newton-cg failed to converge at loss = {f}. Increase the number of "
                      "iterations.", ConvergenceWarning, stacklevel=4)
    return theta, it


def fista(obj, theta, l1, n_l1, max_iter, tol):
    """FISTA with backtracking and adaptive (function-value) restart for
    obj + l1 |theta[:n_l1]|_1.

    Stops when the largest coefficient change of a step is at most tol times the
    largest coefficient (scikit-learn sag's criterion). Returns (theta, n_iter, converged).
    """
    def prox(v, step):
        out = v.copy()
        w = v[:n_l1]
        out[:n_l1] = np.sign(w) * np.maximum(np.abs(w) - l1 * step, 0.0)
        return out

    x = np.array(theta, dtype=np.float64)
    y = x.copy()
    t, L = 1.0, 1.0
    F_prev = obj(x, need_grad=False) + l1 * np.abs(x[:n_l1]).sum()
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        fy, gy = obj(y)
        while True:
            z = prox(y - gy / L, 1.0 / L)
            d = z - y
            fz = obj(z, need_grad=False)
            if fz <= fy + gy @ d + 0.5 * L * (d @ d) + 1e-12 * abs(fy):
                break
            L *= 2.0
        Fz = fz + l1 * np.abs(z[:n_l1]).sum()
        change = np.max(np.abs(z - x)) if z.size else 0.0
        if Fz > F_prev:  # restart the momentum
            t = 1.0
            y = x.copy()
            L *= 2.0
            continue
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        y = z + ((t - 1.0) / t_new) * (z - x)
        x, t, F_prev = z, t_new, Fz
        L *= 0.9
        if change <= tol * np.max(np.abs(x), initial=0.0):
            return x, it, True
    return x, it, False


class PenalisedIntercept:
    """liblinear's objective as a view of ``obj``: the intercept is ``s * v`` for a
    weight v on a constant column s (``intercept_scaling``), penalised like W.

    ``l2`` is the L2 strength on v (the one obj applies to W)."""

    def __init__(self, obj, k, p, s, l2):
        self.obj, self.kp, self.s, self.l2 = obj, k * p, float(s), float(l2)

    def to_obj(self, theta):
        out = np.array(theta, dtype=np.float64)
        out[self.kp:] *= self.s
        return out

    def __call__(self, theta, need_grad=True):
        v = theta[self.kp:]
        res = self.obj(self.to_obj(theta), need_grad)
        pen = 0.5 * self.l2 * float(v @ v)
        if not need_grad:
            return res + pen
        f, g = res
        g = g.copy()
        g[self.kp:] = self.s * g[self.kp:] + self.l2 * v
        return f + pen, g


def solve(solver, obj, hess, theta0, l2, l1, max_iter, tol, *, liblinear_stop=None):
    """Run ``solver`` on ``obj`` (L2 strength ``l2`` on W already inside it) plus
    ``l1 |W|_1``; ``hess`` is the problem's LogisticHessian. Returns (theta, n_iter).

    For liblinear, ``obj`` is a PenalisedIntercept and ``liblinear_stop`` the
    ``max(min(n_pos, n_neg), 1) / n`` factor of liblinear's stopping rule."""
    k, p = hess.k, hess.p
    kp = k * p
    n_c = theta0.size - kp
    if solver == "lbfgs":
        return lbfgs(obj, theta0, max_iter, tol)
    if solver in ("newton-cholesky", "newton-cg"):
        diag = np.r_[np.full(kp, l2), np.zeros(n_c)]
        if solver == "newton-cg":
            return newton_cg(obj, hess, theta0, diag, max_iter, tol)
        theta, n_iter, _ = newton_cholesky(obj, hess, theta0, diag, max_iter, tol)
        return theta, n_iter
    if solver in ("sag", "saga"):
        theta, n_iter, ok = fista(obj, theta0, l1, kp, max_iter, tol)
        if not ok:
            warnings.warn("The max_iter was reached which means the coef_ did not converge",
                          ConvergenceWarning, stacklevel=4)
        return theta, n_iter
    if solver == "liblinear":
        if l1 > 0:  # the intercept's weight is penalised too
            theta, n_iter, ok = fista(obj, theta0, l1, theta0.size, max_iter, tol)
        else:
            diag = np.full(theta0.size, l2)

            def stop(g, g0, _decrement):
                return np.linalg.norm(g) <= tol * liblinear_stop * g0

            theta, n_iter, ok = newton_cholesky(obj, hess, theta0, diag, max_iter, tol,
                                                stop=stop, name="liblinear")
        if not ok:
            warnings.warn("Liblinear failed to converge, increase the number of iterations.",
                          ConvergenceWarning, stacklevel=4)
        return theta, n_iter
    raise ValueError(f"unknown solver {solver!r}")
