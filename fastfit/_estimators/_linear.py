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
- positive=True: scipy.optimize.nnls per target (LinearRegression); Ridge's other
  solvers, positive=True included, are in _ridge_solvers.py.

float32 input is solved in float64 (the Gram in float32 would lose half the digits) and
the fitted attributes are returned in float32, like predictions.

Sparse X (scipy.sparse, any format) is converted once to the kernels' CSR and never
centered in memory (that would densify it); the centering is algebra, as scikit-learn's:

- up to _SPARSE_GRAM_MAX features (for Ridge, also at least p^2 / 4 non-zeros): the Gram
  X^T S X (scipy's sparse product) minus the mean correction s x_off x_off^T, X^T S y
  from the CSR kernels, then the dense solves above -- the dense fit's solution;
- wider (or, for Ridge, sparser) X: an iterative solve on a centering LinearOperator (fastfit's CSR kernels, one
  vector at a time): Ridge by conjugate gradients to ``tol`` (scikit-learn's
  sparse_cg, primal or dual as it chooses), LinearRegression by LSQR to ``tol``
  (scikit-learn's sparse method). LinearRegression falls back to LSQR too where the Gram
  is ill-conditioned. rank_ and singular_ are not set for sparse X (as scikit-learn).
"""

from __future__ import annotations

import contextlib
from numbers import Integral, Real

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse.linalg
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin

from fastfit import ops
from fastfit._estimators import _ridge_solvers
from fastfit._estimators._base import (check_fit_data, check_predict_data, linear_decision,
                                      restore_on_error)
from fastfit._params import RANDOM_STATE, Check, Interval, Options, validate_params
from fastfit._runtime import num_threads
from fastfit._threads import blas_single_threaded
from fastfit._validation import as_sample_weight
from fastfit.ops._sparse import CSR, as_csr, csr_matvec, csr_tmatmul, csr_tmatvec

__all__ = ["LinearRegression", "Ridge"]

# Rows per chunk of the Gram product: each chunk is one multi-threaded GEMM call, so one
# barrier; at 1024 rows (196 calls for 200k rows) a loaded machine stalled the barriers
# (0.8 s vs 0.1 s on one thread), at 4096 the two are even.
_GRAM_CHUNK = 4096
# Chunk products below this many multiply-adds run on one thread. Measured with BLAS's
# pool alive (its workers spin ~0.1 s after each call, as they do between a user's NumPy
# work and a fit): a 4096 x 21 x 21 chunk took 0.29 ms on one thread and 0.95-1.3 ms on
# two (p <= 88 serial).
_GRAM_SERIAL_FMA = 32e6
# Gram solves are used only where eigmin / eigmax of X^T X exceeds this (cond(X) < 1e4).
_GRAM_RCOND = 1e-8
# Orders of the dense solve (p, or n for wide X) up to which BLAS runs single-threaded.
_SMALL_SOLVE = 256
# The same for Ridge's Cholesky solve, next to a Gram product of at least order^3
# multiply-adds in fastfit's GEMM: its BLAS workers would spin ~0.1 s after the solve,
# through the next fit's GEMM (1000 x 2000, dual: the GEMM took 87 ms after a two-thread
# solve, 43 ms after a one-thread one). At order 2000 the one-thread solve itself costs
# more (143 ms) than the spin does: 2000 x 4000 fit 0.82-0.84x scikit-learn with the
# limit at 2048, 0.87-0.91x at 1024.
_SMALL_CHOLESKY = 1024
_RIDGE_SOLVERS = ("auto", "svd", "cholesky", "lsqr", "sparse_cg", "sag", "saga", "lbfgs")
# Widest sparse X solved through its (dense, p x p float64) Gram: 32 MB at 2048.
_SPARSE_GRAM_MAX = 2048
# Ridge takes the sparse Gram route only when X has at least p^2 / this many non-zeros:
# forming, densifying and factoring the p x p Gram costs O(p^2) memory work and O(p^3)
# flops however few rows there are, and conjugate gradients O(nnz) an iteration. Measured
# against each other: 300 x 512 (2.8k non-zeros) Gram 14.5 ms, CG 1.4 ms (scikit-learn's
# sparse_cg 2.3 ms); 20000 x 512 (230k) Gram 26.7 ms, CG 50.8 ms (scikit-learn 41.9 ms).
_SPARSE_GRAM_NNZ_DIVISOR = 4


def _sparse_gram_pays(X) -> bool:
    """Whether Ridge solves a sparse X through its Gram (else conjugate gradients)."""
    p = X.shape[1]
    return p <= _SPARSE_GRAM_MAX and _SPARSE_GRAM_NNZ_DIVISOR * X.nnz >= p * p


def _is_alpha_array(value) -> bool:
    """Ridge's per-target alpha: a 1-D array-like of finite floats >= 0."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        return False
    try:
        alpha = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return alpha.ndim == 1 and bool(np.all(np.isfinite(alpha)) and np.all(alpha >= 0))


def _load(est, X, y, sample_weight, fit_intercept):
    """Validate (X, y) once; a _Data for dense X, a _SparseData for sparse X."""
    require_y(est, y)
    X, y = check_fit_data(est, X, y, multi_output=True, y_numeric=True, accept_sparse=True)
    return (_SparseData if isinstance(X, CSR) else _Data)(X, y, sample_weight, fit_intercept)


class _Data:
    """Validated X, 2-D float64 y, weights and the (weighted) offsets; the centered,
    sqrt(weight)-scaled problem is formed by chunks (gram) or in full (centered)."""

    sparse = False

    def __init__(self, X, y, sample_weight, fit_intercept):
        n = X.shape[0]
        self.X, self.y, self.dtype = X, y, X.dtype
        self.sw = as_sample_weight(sample_weight, n, np.float64)
        self.root = None if self.sw is None else np.sqrt(self.sw)
        self.y2 = np.asarray(y, dtype=np.float64).reshape(n, -1)
        self.fit_intercept = fit_intercept
        if fit_intercept:
            self.x_off = self._x_mean()
            self.y_off = np.average(self.y2, axis=0, weights=self.sw)
        else:
            self.x_off = np.zeros(X.shape[1])
            self.y_off = np.zeros(self.y2.shape[1])

    def _x_mean(self):
        X = self.X
        if X.dtype != np.float64:   # float32: NumPy's pairwise sums keep the precision
            return np.average(X, axis=0, weights=self.sw).astype(np.float64)
        # X^T w as one (p x n) by (n x 1) product: NumPy's column reduction walks a
        # narrow C-ordered X row by row (374 us at 20 000 x 20, against 97)
        n = X.shape[0]
        w = np.full((n, 1), 1.0 / n) if self.sw is None else (self.sw / self.sw.sum())[:, None]
        return ops.gemm(X, w, trans_a=True)[:, 0]

    def gram(self):
        """(Xc^T Xc, Xc^T yc) in float64 through fastfit's GEMM, X centered chunk by chunk
        (no full-size copy): one product of [Xc | yc]^T [Xc | yc] per chunk of rows."""
        X, y2 = self.X, self.y2
        n, p = X.shape
        t = y2.shape[1]
        rows = min(n, _GRAM_CHUNK)
        buf = np.empty((rows, p + t))
        acc = np.zeros((p + t, p + t))
        serial = rows * (p + t) ** 2 < _GRAM_SERIAL_FMA
        with num_threads(1) if serial else contextlib.nullcontext():
            self._gram_chunks(buf, acc, rows)
        return acc[:p, :p], acc[:p, p:]

    def _gram_chunks(self, buf, acc, rows):
        X, y2 = self.X, self.y2
        n, p = X.shape
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            a = buf[: r1 - r0]
            np.subtract(X[r0:r1], self.x_off, out=a[:, :p])
            np.subtract(y2[r0:r1], self.y_off, out=a[:, p:])
            if self.root is not None:
                a *= self.root[r0:r1, None]
            ops.gram(a, None, acc, beta=1.0)  # the upper tiles only

    def null_direction(self):
        """The unit vector the rows of ``centered()``'s Xc are orthogonal to (their
        weighted mean was removed): sqrt(weights) normalised; None without an intercept."""
        if not self.fit_intercept:
            return None
        v = np.ones(self.X.shape[0]) if self.root is None else self.root.copy()
        return v / np.linalg.norm(v)

    def centered(self, transposed=False):
        """The full centered, scaled float64 (Xc, yc); with ``transposed``, Xc^T (p, n)
        C-contiguous instead (the same one pass: NumPy's transposing subtract runs as
        fast as the plain one, 1.8 vs 1.7 ms at 500 x 5000)."""
        if transposed:
            Xc = np.subtract(self.X.T, self.x_off[:, None], dtype=np.float64)
        else:
            Xc = np.subtract(self.X, self.x_off, dtype=np.float64)   # one pass, one copy
        yc = self.y2 - self.y_off
        if self.root is not None:
            Xc *= self.root[None, :] if transposed else self.root[:, None]
            yc = yc * self.root[:, None]
        return Xc, yc


class _SparseData(_Data):
    """The same quantities for a CSR X, which is never centered in memory: the Gram gets
    the mean correction, and the iterative solvers see X through :meth:`operator`."""

    sparse = True

    def _x64(self):
        """X in float64 for the Gram route (the same object when X is float64), made once."""
        if getattr(self, "_X64", None) is None:
            self._X64 = as_csr(self.X, np.float64)
        return self._X64

    def _x_mean(self):
        # scipy's X^T w (a scatter over the rows): no column copy of X for one vector
        w = np.ones(self.X.shape[0]) if self.sw is None else self.sw
        return np.asarray(self.X.to_scipy().T @ w, dtype=np.float64) / w.sum()

    def gram(self):
        """(Xc^T S Xc, Xc^T S yc) in float64: X^T S X by scipy's sparse product, then
        - s x_off x_off^T (with s = sum of the weights, as x_off = X^T w / s)."""
        X64 = self._x64()
        n, p = X64.shape
        w = np.ones(n) if self.sw is None else self.sw
        xs = X64.to_scipy()
        xtx = (xs.T @ (xs.multiply(w[:, None]).tocsr())).toarray()
        gram = xtx - w.sum() * np.outer(self.x_off, self.x_off)
        wyc = (self.y2 - self.y_off) * w[:, None]
        xty = csr_tmatmul(X64, wyc) - np.outer(self.x_off, wyc.sum(axis=0))
        return (gram + gram.T) * 0.5, xty

    def operator(self):
        """sqrt(S) (X - 1 x_off^T) as a LinearOperator in X's dtype, and sqrt(S) yc.

        The products are fastfit's one-vector CSR kernels (``csr_matvec``, a
        row-parallel gather, and ``csr_tmatvec``, a scatter over fixed row blocks with
        no CSC copy), over int32 indices: both parallel, with the same bits for any
        thread count, and streaming as many bytes as scipy's serial loops."""
        X = self.X
        dt = X.dtype
        n, p = X.shape
        off = self.x_off.astype(dt)
        root = None if self.root is None else self.root.astype(dt)

        def matvec(v):
            v = np.ascontiguousarray(np.ravel(v), dtype=dt)
            out = csr_matvec(X, v)
            out -= off @ v
            return out if root is None else out * root

        def rmatvec(u):
            u = np.ravel(u).astype(dt)
            if root is not None:
                u = u * root
            out = csr_tmatvec(X, u)
            out -= off * u.sum()
            return out

        op = scipy.sparse.linalg.LinearOperator((n, p), matvec=matvec, rmatvec=rmatvec,
                                                dtype=dt)
        yc = self.y2 - self.y_off
        if root is not None:
            yc = yc * root[:, None]
        return op, yc.astype(dt)


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


def require_y(est, y):
    """scikit-learn's error for a missing y (``fit(X)``), naming the estimator."""
    if y is None:
        name = type(est).__name__
        raise ValueError(f"{name} requires y to be passed, but the target y is None")


def _kernel_matrix(XcT, shift=None):
    """Xc Xc^T (n x n) from XcT = Xc^T (p, n), plus c v v^T when ``shift`` is (c, v).

    ``ops.gram`` of XcT: the tiles on and above the diagonal only, and over p >= 4096 its
    fixed column chunks (of Xc), one thread each with no barrier, so that a BLAS pool
    still spinning from the user's last call costs little. Against row blocks of Xc by
    the GEMM (the blocks on and below the diagonal, 3/4 of the product at n = 500):
    500 x 5000 40.7 -> 22.9 ms alone, 74 -> 41 ms right after scikit-learn's fit;
    1000 x 2000 31 -> 27 and 67 -> 65 ms (scratch s8/wide_try.py)."""
    K = ops.gram(XcT)
    if shift is not None:
        c, v = shift
        K += np.outer(c * v, v)
    return K


def _wide_least_squares(XcT, yc, null, tol):
    """Minimum-norm least squares for wide X (n < p rows) through the n x n kernel matrix:
    (coef, rank, singular values), or None where X is too ill-conditioned for it (then
    scikit-learn's gelsd). The eigenvalues of Xc Xc^T are the squared singular values,
    tested by the tall path's criterion; the coefficients are Xc^T K^+ yc.

    With an intercept the centred (weighted) rows have the null vector ``null`` (ones,
    or the square roots of the weights, normalised): K is singular along it. Adding
    c null null^T (c = the mean eigenvalue, trace / n) makes it positive definite
    without changing the solution, as yc and the range of K are orthogonal to ``null``;
    that eigenvalue c is taken out again for singular_ (which reports the null
    direction as 0) and the rank. An order-n eigenvalue problem (values only) and a
    Cholesky factor instead of an SVD of X: 1000 x 2000 in 155-164 ms against
    scikit-learn's 220-361 ms in the same run."""
    n = XcT.shape[1]
    c = float(np.einsum("ij,ij->", XcT, XcT)) / n
    K = _kernel_matrix(XcT, None if null is None else (c, null))
    evals = scipy.linalg.eigvalsh(K, lower=True, check_finite=False)
    if null is not None:
        evals = np.r_[0.0, np.delete(evals, np.argmin(np.abs(evals - c)))]
    live = evals[1:] if null is not None else evals
    if live.shape[0] == 0 or not (live[-1] > 0 and
                                  live[0] > max(_GRAM_RCOND, 4 * tol * tol) * live[-1]):
        return None
    u = _spd_solve(K, yc, lower=True)
    return ops.gemm(XcT, u).T, live.shape[0], np.sqrt(evals[::-1])


def _spd_solve(g, rhs, lower):
    """Solve g x = rhs for a symmetric positive definite g (overwritten) by its Cholesky
    factor; only the ``lower`` (else upper) triangle of g is read. One that is not
    positive definite in floating point falls back to least squares on the full matrix.
    (``scipy.linalg.solve(assume_a="pos")``, scikit-learn's call, factors the same way
    but also estimates the condition number: 96 ms against 45 at order 2000.)"""
    try:
        factor = scipy.linalg.cho_factor(g, lower=lower, overwrite_a=True, check_finite=False)
    except (scipy.linalg.LinAlgError, ValueError):
        pass
    else:
        return scipy.linalg.cho_solve(factor, rhs, check_finite=False)
    full = np.tril(g) + np.tril(g, -1).T if lower else np.triu(g) + np.triu(g, 1).T
    return scipy.linalg.lstsq(full, rhs, check_finite=False)[0]


def _blas_threads_for(order):
    """BLAS on one thread while the dense solve (order x order) is small: then fastfit's
    GEMM carries the fit and LAPACK's few microseconds only gain a thread-pool fight
    (see fastfit._threads); larger factorizations keep BLAS's threads."""
    return blas_single_threaded() if order <= _SMALL_SOLVE else contextlib.nullcontext()


def _nnls(A, b):
    return scipy.optimize.nnls(A, b)[0]


class _LinearPredict(RegressorMixin, MultiOutputMixin, BaseEstimator):
    """predict shared by both estimators."""

    def predict(self, X):
        """Predict with the fitted linear model: ``X @ coef_.T + intercept_``."""
        # check_predict_data raises NotFittedError before fit (n_features_in_ is set last)
        if getattr(self, "_dtype", None) is None:
            check_predict_data(self, X, None)
        out = linear_decision(self, X, np.asarray(self.coef_, dtype=self._dtype),
                              self.intercept_)
        return out[:, 0] if np.ndim(self.coef_) == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = self.positive is not True  # as scikit-learn's tag
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

    _parameter_constraints = {
        "fit_intercept": ["boolean"],
        "copy_X": ["boolean"],
        "tol": [Interval(Real, 0, 1, "left")],
        "n_jobs": [None, Integral],
        "positive": ["boolean"],
    }

    def __init__(self, *, fit_intercept=True, copy_X=True, tol=1e-6, n_jobs=None,
                 positive=False):
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.tol = tol
        self.n_jobs = n_jobs
        self.positive = positive

    def fit(self, X, y, sample_weight=None):
        """Fit by least squares (the minimum-norm solution if X is rank deficient)."""
        with restore_on_error(self):
            return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        validate_params(self)
        d = _load(self, X, y, sample_weight, self.fit_intercept)
        if self.positive:
            if d.sparse:
                raise TypeError("positive=True does not take sparse X: non-negative least "
                                "squares runs on the dense matrix")
            Xc, yc = d.centered()
            coef = np.stack([_nnls(Xc, yc[:, j]) for j in range(yc.shape[1])])
            rank, sing = None, None
        elif d.sparse:
            coef, rank, sing = self._solve_sparse(d, float(self.tol))
        else:
            with _blas_threads_for(min(d.X.shape)):
                coef, rank, sing = self._solve(d, float(self.tol))
        dtype = d.dtype
        _finish(self, coef, d.x_off, d.y_off, d.y, dtype, self.fit_intercept)
        for name in ("rank_", "singular_"):  # scikit-learn sets them for dense X only
            self.__dict__.pop(name, None)
        if rank is not None and not d.sparse:
            self.rank_, self.singular_ = rank, sing.astype(dtype)
        return self

    @staticmethod
    def _solve_sparse(d, tol):
        n, p = d.X.shape
        if n >= p and p <= _SPARSE_GRAM_MAX:
            with _blas_threads_for(p):
                gram, xty = d.gram()
                evals, evecs = scipy.linalg.eigh(gram, check_finite=False)
            top = evals[-1]
            if top > 0 and evals[0] > max(_GRAM_RCOND, 4 * tol * tol) * top:
                return (evecs @ ((evecs.T @ xty) / evals[:, None])).T, None, None
        op, yc = d.operator()  # wide or ill-conditioned: scikit-learn's LSQR
        coef = np.stack([scipy.sparse.linalg.lsqr(op, yc[:, j], atol=tol, btol=tol)[0]
                         for j in range(yc.shape[1])])
        return coef, None, None

    @staticmethod
    def _solve(d, tol):
        n, p = d.X.shape
        if n >= p:
            gram, xty = d.gram()
            evals, evecs = scipy.linalg.eigh(gram, check_finite=False)
            top = evals[-1]
            if top > 0 and evals[0] > max(_GRAM_RCOND, 4 * tol * tol) * top:
                coef = (evecs @ ((evecs.T @ xty) / evals[:, None])).T
                return coef, p, np.sqrt(evals[::-1])
        XcT, yc = d.centered(transposed=True)
        if n < p:
            solved = _wide_least_squares(XcT, yc, d.null_direction(), tol)
            if solved is not None:
                return solved
        # ill-conditioned or rank-deficient: scikit-learn's own solver (gelsd), on Xc as
        # a Fortran-ordered view (LAPACK's order: no copy)
        coef, _, rank, sing = scipy.linalg.lstsq(XcT.T, yc, cond=tol or None,
                                                 check_finite=False)
        return coef.T, int(rank), sing


class Ridge(_LinearPredict):
    """Linear least squares with L2 regularization, with scikit-learn's parameters.

    ``solver`` takes scikit-learn's names (fastfit/_estimators/_ridge_solvers.py):
    "auto" is "cholesky" (the Gram solve described in the module docstring), or "lbfgs"
    with ``positive=True`` (L-BFGS-B with bounds, as scikit-learn); "svd" the
    eigendecomposition of the Gram; "lsqr" and "sparse_cg" SciPy's solvers on the centred
    data; "sag"/"saga" conjugate gradients on the same objective. ``max_iter`` and
    ``tol`` apply to the iterative ones; ``random_state`` is unused. Sparse X, whatever
    the name: the Gram solve up to 2048 features, wider conjugate gradients to ``tol`` as
    scikit-learn's sparse_cg (``max_iter`` caps the primal form's iterations, as there);
    ``solver_`` says which ran.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    n_iter_ : None or ndarray of shape (n_targets,)
        Iterations per target for lsqr, sag and saga (None otherwise, as scikit-learn).
    solver_ : str
        The solver used ("auto" resolved).
    n_features_in_, feature_names_in_
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, "left"),
                  Check(_is_alpha_array, "a 1-D array-like of finite floats >= 0")],
        "fit_intercept": ["boolean"],
        "copy_X": ["boolean"],
        "max_iter": [None, Interval(Integral, 1, None, "left")],
        "tol": [Interval(Real, 0, None, "left")],
        "solver": [Options(*_RIDGE_SOLVERS)],
        "positive": ["boolean"],
        "random_state": RANDOM_STATE,
    }

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
        with restore_on_error(self):
            return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        validate_params(self)
        solver = _ridge_solvers.resolve_solver(self.solver, self.positive)
        alpha = np.asarray(self.alpha, dtype=np.float64)
        d = _load(self, X, y, sample_weight, self.fit_intercept)
        n, p = d.X.shape
        t = d.y2.shape[1]
        if alpha.ndim == 1 and alpha.shape[0] not in (1, t):
            raise ValueError(f"alpha has {alpha.shape[0]} values but y has {t} targets")
        alphas = np.broadcast_to(alpha.reshape(-1), (t,))
        n_iter = None
        if d.sparse:
            if self.positive:
                raise TypeError("positive=True does not take sparse X: its bounded solve "
                                "runs on dense X")
            if not _sparse_gram_pays(d.X):
                coef, solver = self._solve_cg(d, alphas), "sparse_cg"
            else:
                with _blas_threads_for(p):
                    coef, solver = self._solve(d, alphas), "cholesky"
        else:
            small = min(n, p) <= (_SMALL_CHOLESKY if solver == "cholesky" else _SMALL_SOLVE)
            with blas_single_threaded() if small else contextlib.nullcontext():
                if solver == "cholesky":
                    coef = self._solve(d, alphas)
                else:
                    coef, n_iter = _ridge_solvers.solve(solver, d, alphas, self.max_iter,
                                                        float(self.tol))
        _finish(self, coef, d.x_off, d.y_off, d.y, d.dtype, self.fit_intercept)
        self.n_iter_ = n_iter
        self.solver_ = solver
        return self

    def _solve_cg(self, d, alphas):
        """Conjugate gradients to ``tol`` on the centering operator, as scikit-learn's
        sparse_cg: the dual (n x n) system when X is wide, else the primal."""
        op, yc = d.operator()
        n, p = op.shape
        coef = np.empty((yc.shape[1], p))
        for j, a in enumerate(alphas):
            coef[j] = self._cg_one(op, yc[:, j], float(a), n, p)
        return coef

    def _cg_one(self, op, yc, a, n, p):
        """One target's conjugate-gradient solve (see :meth:`_solve_cg`)."""
        if p > n:
            c = scipy.sparse.linalg.LinearOperator(
                (n, n), matvec=lambda u: op.matvec(op.rmatvec(u)) + a * u, dtype=op.dtype)
            u, info = scipy.sparse.linalg.cg(c, yc, rtol=self.tol, atol=0.0)
            coef = op.rmatvec(u)
        else:
            c = scipy.sparse.linalg.LinearOperator(
                (p, p), matvec=lambda v: op.rmatvec(op.matvec(v)) + a * v, dtype=op.dtype)
            coef, info = scipy.sparse.linalg.cg(c, op.rmatvec(yc), rtol=self.tol,
                                                atol=0.0, maxiter=self.max_iter)
        if info < 0:
            raise ValueError(f"conjugate gradients failed (scipy's code {info})")
        return coef

    @staticmethod
    def _solve(d, alphas):
        n, p = d.X.shape
        t = d.y2.shape[1]
        same = np.all(alphas == alphas[0])
        primal = p <= n or d.sparse
        if primal:
            gram, rhs = d.gram()
        else:  # the dual (n, n) system, as scikit-learn's cholesky solver for wide X
            XcT, rhs = d.centered(transposed=True)
            gram = _kernel_matrix(XcT)
        coef = np.empty((t, p))
        groups = [(alphas[0], slice(None))] if same else [(a, slice(j, j + 1))
                                                         for j, a in enumerate(alphas)]
        for a, cols in groups:
            g = gram if len(groups) == 1 else gram.copy()
            g.flat[::g.shape[0] + 1] += a
            sol = _spd_solve(g, rhs[:, cols], lower=not primal)
            coef[cols] = (sol if primal else XcT @ sol).T
        return coef
