"""Least squares and ridge regression: LinearRegression and Ridge.

Both center X and y (weighted by sample_weight), fold sqrt(sample_weight) into the rows,
and form the Gram matrix X^T X and X^T y with fastfit's own GEMM (one pass over X:
the only O(n p^2) work). The factorizations are LAPACK's, through SciPy:

- Ridge: Cholesky of X^T X + alpha I (p <= n), or of X X^T + alpha I (p > n, the dual
  form, as scikit-learn's cholesky solver). alpha > 0 keeps both positive definite.
- LinearRegression: eigh of the Gram. Where it is well conditioned (cond(X) < 1e4, so
  the squared condition number costs at most ~1e-8 relative), the solution is read from
  the eigendecomposition; otherwise (ill-conditioned or rank-deficient X) the estimator
  falls back to scipy.linalg.lstsq on X itself, which is scikit-learn's own solver: the
  same minimum-norm solution, rank_ and singular_.
- positive=True: scipy.optimize.nnls per target (on [X; sqrt(alpha) I] for Ridge).

float32 input is solved in float64 (the Gram in float32 would lose half the digits) and
the fitted attributes are returned in float32, like predictions.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.linalg
import scipy.optimize
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from fastfit import ops
from fastfit._estimators._base import check_fit_data, check_predict_data
from fastfit._validation import as_sample_weight

__all__ = ["LinearRegression", "Ridge"]

# Gram solves are used only where eigmin / eigmax of X^T X exceeds this (cond(X) < 1e4).
_GRAM_RCOND = 1e-8
_RIDGE_SOLVERS = ("auto", "svd", "cholesky", "lsqr", "sparse_cg", "sag", "saga", "lbfgs")


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a bool, got {value!r}")


def _prepare(est, X, y, sample_weight, fit_intercept):
    """Validated, centered, sqrt(weight)-scaled float64 X and 2-D y plus the offsets."""
    _require_y(est, y)
    X, y = check_fit_data(est, X, y, multi_output=True, y_numeric=True)
    dtype = X.dtype
    n = X.shape[0]
    sw = as_sample_weight(sample_weight, n, np.float64)
    y = np.asarray(y, dtype=np.float64)
    y2 = y.reshape(n, -1)
    if fit_intercept:
        x_off = np.average(X, axis=0, weights=sw).astype(np.float64)
        y_off = np.average(y2, axis=0, weights=sw)
        Xc = X.astype(np.float64) - x_off  # always a new array: X is never modified
        yc = y2 - y_off
    else:
        x_off = np.zeros(X.shape[1])
        y_off = np.zeros(y2.shape[1])
        Xc = np.array(X, dtype=np.float64, copy=True) if sw is not None or X.dtype != np.float64 \
            else X
        yc = y2
    if sw is not None:
        root = np.sqrt(sw)
        Xc = Xc * root[:, None] if Xc is X else np.multiply(Xc, root[:, None], out=Xc)
        yc = yc * root[:, None]
    return X, y, dtype, np.ascontiguousarray(Xc), np.ascontiguousarray(yc), x_off, y_off


def _finish(est, coef, x_off, y_off, y, dtype, fit_intercept):
    """coef_ (n_targets, p) -> sklearn's shapes and the intercept."""
    intercept = (y_off - coef @ x_off) if fit_intercept else np.zeros(coef.shape[0])
    if y.ndim == 1:
        coef, intercept = coef[0], float(intercept[0])
        est.intercept_ = dtype.type(intercept) if fit_intercept else 0.0
    else:
        est.intercept_ = intercept.astype(dtype) if fit_intercept else 0.0
    est.coef_ = np.asarray(coef, dtype=dtype)
    est._dtype = dtype


def _require_y(est, y):
    if y is None:
        name = type(getattr(est, "_est", est)).__name__
        raise ValueError(f"{name} requires y to be passed, but the target y is None")


def _nnls(A, b):
    return scipy.optimize.nnls(A, b)[0]


class _LinearPredict(RegressorMixin, MultiOutputMixin, BaseEstimator):
    """predict shared by both estimators."""

    def predict(self, X):
        """Predict with the fitted linear model: ``X @ coef_.T + intercept_``."""
        check_is_fitted(self, "coef_")
        X = check_predict_data(self, X, self._dtype)
        return X @ self.coef_.T + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class LinearRegression(_LinearPredict):
    """Ordinary least squares, with scikit-learn's parameters and attributes.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Whether to fit an intercept (X and y are centered first).
    copy_X : bool, default=True
        Kept for compatibility: X is never modified.
    tol : float, default=1e-6
        Relative cutoff on singular values (``cond`` of scipy.linalg.lstsq, as
        scikit-learn >= 1.9): smaller ones count as zero (rank deficiency).
    n_jobs : int or None
        Kept for compatibility (the GEMM follows the OpenMP thread setting).
    positive : bool, default=False
        Constrain the coefficients to be non-negative (scipy.optimize.nnls).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    rank_ : int
        Rank of the (centered) X.
    singular_ : ndarray of shape (min(n_samples, n_features),)
        Singular values of the (centered, weighted) X.
    n_features_in_, feature_names_in_
    """

    def __init__(self, *, fit_intercept=True, copy_X=True, tol=1e-6, n_jobs=None,
                 positive=False):
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.tol = tol
        self.n_jobs = n_jobs
        self.positive = positive

    def fit(self, X, y, sample_weight=None):
        """Fit by least squares (the minimum-norm solution if X is rank deficient)."""
        _check_bool("fit_intercept", self.fit_intercept)
        _check_bool("positive", self.positive)
        if not isinstance(self.tol, numbers.Real) or not 0 <= self.tol < 1:
            raise ValueError(f"tol must be a float in [0, 1), got {self.tol!r}")
        est = _Scratch(self)
        X, y, dtype, Xc, yc, x_off, y_off = _prepare(est, X, y, sample_weight, self.fit_intercept)
        n, p = Xc.shape
        if self.positive:
            coef = np.stack([_nnls(Xc, yc[:, j]) for j in range(yc.shape[1])])
            rank, sing = None, None
        else:
            coef, rank, sing = self._solve(Xc, yc, float(self.tol))
        est.commit(self)
        _finish(self, coef, x_off, y_off, y, dtype, self.fit_intercept)
        if rank is not None:
            self.rank_, self.singular_ = rank, sing.astype(dtype)
        return self

    @staticmethod
    def _solve(Xc, yc, tol):
        n, p = Xc.shape
        if n >= p:
            gram = ops.gemm(Xc, Xc, trans_a=True)
            gram = (gram + gram.T) * 0.5
            evals, evecs = scipy.linalg.eigh(gram, check_finite=False)
            top = evals[-1]
            if top > 0 and evals[0] > max(_GRAM_RCOND, 4 * tol * tol) * top:
                xty = ops.gemm(Xc, yc, trans_a=True)
                coef = (evecs @ ((evecs.T @ xty) / evals[:, None])).T
                return coef, p, np.sqrt(evals[::-1])
        # ill-conditioned, rank-deficient or wide: scikit-learn's own solver (gelsd)
        coef, _, rank, sing = scipy.linalg.lstsq(Xc, yc, cond=tol or None, check_finite=False)
        return coef.T, int(rank), sing


class Ridge(_LinearPredict):
    """Linear least squares with L2 regularization, with scikit-learn's parameters.

    Every ``solver`` value gives the exact solution (the Cholesky solve described in the
    module docstring; ``positive=True`` uses NNLS); ``max_iter``, ``tol`` and
    ``random_state`` are accepted for compatibility and unused.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    n_iter_ : None
    n_features_in_, feature_names_in_
    """

    def __init__(self, alpha=1.0, *, fit_intercept=True, copy_X=True, max_iter=None, tol=1e-4,
                 solver="auto", positive=False, random_state=None):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.positive = positive
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        """Fit ridge regression."""
        _check_bool("fit_intercept", self.fit_intercept)
        _check_bool("positive", self.positive)
        if self.solver not in _RIDGE_SOLVERS:
            raise ValueError(f"solver must be one of {_RIDGE_SOLVERS}, got {self.solver!r}")
        if self.max_iter is not None and (not isinstance(self.max_iter, numbers.Integral)
                                          or self.max_iter < 1):
            raise ValueError(f"max_iter must be a positive integer or None, got {self.max_iter!r}")
        if not isinstance(self.tol, numbers.Real) or self.tol < 0:
            raise ValueError(f"tol must be a non-negative float, got {self.tol!r}")
        alpha = np.asarray(self.alpha, dtype=np.float64) if not isinstance(self.alpha, str) \
            else None
        if alpha is None or alpha.ndim > 1 or not np.all(np.isfinite(alpha)) or np.any(alpha < 0):
            raise ValueError(f"alpha must be a non-negative float or 1-D array, got {self.alpha!r}")
        est = _Scratch(self)
        X, y, dtype, Xc, yc, x_off, y_off = _prepare(est, X, y, sample_weight, self.fit_intercept)
        n, p = Xc.shape
        t = yc.shape[1]
        if alpha.ndim == 1 and alpha.shape[0] not in (1, t):
            raise ValueError(f"alpha has {alpha.shape[0]} values but y has {t} targets")
        alphas = np.broadcast_to(alpha.reshape(-1), (t,))
        if self.positive:
            coef = np.stack([_nnls(np.vstack([Xc, np.sqrt(a) * np.eye(p)]),
                                   np.concatenate([yc[:, j], np.zeros(p)]))
                             for j, a in enumerate(alphas)])
        else:
            coef = self._solve(Xc, yc, alphas)
        est.commit(self)
        _finish(self, coef, x_off, y_off, y, dtype, self.fit_intercept)
        self.n_iter_ = None
        return self

    @staticmethod
    def _solve(Xc, yc, alphas):
        n, p = Xc.shape
        t = yc.shape[1]
        same = np.all(alphas == alphas[0])
        primal = p <= n
        gram = ops.gemm(Xc, Xc, trans_a=True) if primal else ops.gemm(Xc, Xc, trans_b=True)
        rhs = ops.gemm(Xc, yc, trans_a=True) if primal else yc
        coef = np.empty((t, p))
        groups = [(alphas[0], slice(None))] if same else [(a, slice(j, j + 1))
                                                         for j, a in enumerate(alphas)]
        for a, cols in groups:
            g = gram + a * np.eye(gram.shape[0])
            try:
                sol = scipy.linalg.solve(g, rhs[:, cols], assume_a="pos", check_finite=False)
            except (scipy.linalg.LinAlgError, ValueError):
                sol = scipy.linalg.lstsq(g, rhs[:, cols], check_finite=False)[0]
            coef[cols] = (sol if primal else Xc.T @ sol).T
        return coef


class _Scratch:
    """Runs check_fit_data on a stand-in, so a rejected fit leaves the estimator as it was;
    commit() copies n_features_in_ / feature_names_in_ over once the fit succeeded."""

    def __init__(self, est):
        self._est = est

    def __getattr__(self, name):
        if name in ("n_features_in_", "feature_names_in_"):
            raise AttributeError(name)
        return getattr(self._est, name)

    def __sklearn_tags__(self):
        return self._est.__sklearn_tags__()

    def commit(self, est):
        est.n_features_in_ = self.n_features_in_
        if hasattr(self, "feature_names_in_") and "feature_names_in_" in self.__dict__:
            est.feature_names_in_ = self.feature_names_in_
        elif "feature_names_in_" in est.__dict__:
            del est.feature_names_in_
