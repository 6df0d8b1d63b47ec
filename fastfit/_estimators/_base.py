"""What every fastfit estimator shares: input checks at fit and predict time.

``fit`` goes through scikit-learn's ``validate_data`` (feature names, n_features_in_,
dtype, finiteness), keeping float32 input in float32 and converting anything else to
float64. ``predict`` has a fast path for the embedding case, a C-contiguous ndarray of
the model's dtype with the right width: it costs a few attribute reads and one C
finiteness count instead of ``validate_data``'s ~20 µs, and falls back to the full
check for anything else (DataFrames, lists, other dtypes, wrong widths).

Sparse X (scipy.sparse, any format) is accepted where the estimator says so
(``accept_sparse=True``) and becomes the kernels' CSR once, through
``fastfit._validation.as_sparse_matrix``; ``n_features_in_`` and feature names are kept
as ``validate_data`` keeps them.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from fastfit._lib import check_predict_status, kernel, ptr
from fastfit._validation import (as_sparse_matrix, check_finite, check_sparse_y, is_ready_matrix,
                                 is_sparse)
from fastfit.ops._data import count_nonfinite
from fastfit.ops._sparse import csr_matmul

FLOAT_DTYPES = (np.float64, np.float32)


def check_fit_data(est, X, y=None, *, multi_output=False, y_numeric=False, reset=True,
                   accept_sparse=False):
    """``X`` (and ``y``) validated for ``fit``: C-contiguous, float32 kept, else float64.

    Sets ``n_features_in_`` / ``feature_names_in_`` when ``reset``. Raises ValueError
    for NaN/inf, empty input, wrong dimensions or mismatched lengths, TypeError for
    complex input (and sparse input unless ``accept_sparse``), all with scikit-learn's
    messages. With ``accept_sparse``, sparse X comes back as a ``fastfit.ops.CSR``.
    """
    if is_sparse(X):
        if not accept_sparse:
            raise TypeError("fastfit estimators need dense input; got a sparse matrix "
                            "(use X.toarray())")
        return _check_sparse_fit(est, X, y, multi_output, y_numeric, reset)
    if _fit_arrays_ready(est, X, y, multi_output, reset):
        return X if y is None else (X, y)
    if y is None:
        return validate_data(est, X, reset=reset, dtype=FLOAT_DTYPES, order="C")
    return validate_data(est, X, y, reset=reset, dtype=FLOAT_DTYPES, order="C",
                         multi_output=multi_output, y_numeric=y_numeric)


def _fit_arrays_ready(est, X, y, multi_output, reset) -> bool:
    """True when ``validate_data`` would return ``X`` and ``y`` unchanged: a finite,
    non-empty, C-contiguous float32/float64 ndarray X, a finite numeric ndarray y of as
    many rows (1-D, or 2-D where ``multi_output``), and no feature names to check. Then
    only ``n_features_in_`` is set (or compared) here. ``validate_data`` costs ~0.4 ms
    (DataFrame probes, parameter checks), most of a small ``partial_fit`` chunk; anything
    else, invalid input included, takes the full path and its messages."""
    if not is_ready_matrix(X):
        return False
    if y is not None and not (type(y) is np.ndarray and y.dtype.kind in "biuf"
                              and y.shape[:1] == X.shape[:1]
                              and (y.ndim == 1 or (multi_output and y.ndim == 2
                                                   and y.shape[1] > 0))):
        return False
    if not reset and (getattr(est, "n_features_in_", None) != X.shape[1]
                      or hasattr(est, "feature_names_in_")):
        return False
    if count_nonfinite(X) or (y is not None and y.dtype.kind == "f" and count_nonfinite(y)):
        return False
    if reset:
        est.n_features_in_ = X.shape[1]
        if hasattr(est, "feature_names_in_"):   # as validate_data: no names, none kept
            del est.feature_names_in_
    return True


def check_class_targets(y) -> None:
    """scikit-learn's ``check_classification_targets``, skipped for a 1-D integer or
    bool ndarray (always binary or multiclass; the check costs ~0.3 ms a call)."""
    if not (type(y) is np.ndarray and y.ndim == 1 and y.dtype.kind in "biu"):
        check_classification_targets(y)


def _check_sparse_fit(est, X, y, multi_output, y_numeric, reset):
    """validate_data's bookkeeping for sparse X, without the copies scipy and
    check_array would make of it: X is converted once, here."""
    n_features = None if reset else getattr(est, "n_features_in_", None)
    X = as_sparse_matrix(X, n_features=n_features)
    if reset:
        est.n_features_in_ = X.shape[1]
        if hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
    else:
        _warn_no_feature_names(est)
    if y is None:
        return X
    return X, check_sparse_y(y, X.shape[0], multi_output=multi_output, y_numeric=y_numeric)


def _warn_no_feature_names(est):
    if hasattr(est, "feature_names_in_"):
        warnings.warn(f"X does not have valid feature names, but {type(est).__name__} was "
                      "fitted with feature names", UserWarning, stacklevel=4)


def check_predict_data(est, X, dtype, *, check_finite_fast=True) -> np.ndarray:
    """``X`` as a finite C-contiguous ``dtype`` array of ``n_features_in_`` columns.

    Raises NotFittedError before ``fit``. The fast path (ndarray already right) skips
    ``validate_data``; the result is identical either way. With
    ``check_finite_fast=False`` the fast path leaves finiteness to the caller (who checks
    its output instead, see ``linear_decision``).
    """
    n_features = getattr(est, "n_features_in_", None)
    if n_features is None:
        raise NotFittedError(f"This {type(est).__name__} instance is not fitted yet. "
                             "Call 'fit' with appropriate arguments before using this "
                             "estimator.")
    if is_ready_matrix(X, dtype, n_features) and not hasattr(est, "feature_names_in_"):
        if check_finite_fast:
            check_finite(X, "X")
        return X
    if is_sparse(X):
        if dtype is None:
            raise TypeError("sparse input needs the model's dtype")
        X = as_sparse_matrix(X, dtype, n_features=n_features)
        _warn_no_feature_names(est)
        return X
    X = validate_data(est, X, reset=False, dtype=FLOAT_DTYPES, order="C")
    return np.ascontiguousarray(X, dtype=dtype)


def linear_decision(est, X, coef, intercept) -> np.ndarray:
    """``X @ coef.T + intercept`` as an (n, k) array, for a linear model's predictions.

    ``coef`` is (k, d) or (d,) and ``intercept`` a scalar or (k,), both in the model's
    dtype. One C pass (``ff_linear_decision``: row dots, the GEMM for many outputs) reads
    X once on fastfit's own threads: NumPy's matmul would wake BLAS's pool right after
    the finiteness pass woke fastfit's, and the two fight (200k x 20 took 8 ms against
    scikit-learn's 2.5). Finiteness is checked on the
    output, not on X: a NaN or inf in a row makes that row's output non-finite (every
    product with it is NaN or inf, and no sum of them is finite again), so X itself is
    counted only when an output is non-finite -- to tell bad input from overflow.
    """
    if is_sparse(coef):  # after sparsify()
        coef = coef.toarray()
    dtype = coef.dtype
    X = check_predict_data(est, X, dtype, check_finite_fast=False)
    n, d = X.shape
    W = coef.reshape(-1, d)
    k = W.shape[0]
    b = np.asarray(intercept, dtype=dtype).reshape(-1)
    if b.shape[0] != k:
        b = np.broadcast_to(b, (k,))
    if is_sparse(X):  # finite: checked on conversion
        return csr_matmul(X, np.ascontiguousarray(W.T), np.ascontiguousarray(b))
    W, b = np.ascontiguousarray(W), np.ascontiguousarray(b)
    out = np.empty((n, k), dtype=dtype)
    status = kernel("linear_decision", dtype)(ptr(out), ptr(X), ptr(W), ptr(b), n, d, k)
    check_predict_status(status)
    if count_nonfinite(out):
        check_finite(X, "X")  # raises for NaN/inf input; else the output overflowed
    return out


@contextlib.contextmanager
def restore_on_error(est):
    """Put ``est``'s state back if the block raises, so a rejected call (bad input found at
    any depth, an interrupted or diverged fit, a callback's exception) leaves a fitted
    estimator as it was.

    Attributes are restored by reference: fits replace their fitted arrays rather than
    write into them before their input is validated. State that a fit does change in
    place (an MLP's weights, batch-norm statistics and optimizer state) is copied first
    by the estimator's ``_inplace_snapshot()``, which returns a function that writes the
    copies back (or None when there is nothing to copy).
    """
    saved = dict(est.__dict__)
    snapshot = getattr(est, "_inplace_snapshot", None)
    restore_inplace = snapshot() if snapshot is not None else None
    try:
        yield
    except BaseException:
        est.__dict__.clear()
        est.__dict__.update(saved)
        if restore_inplace is not None:
            restore_inplace()
        raise


class SparseCoefMixin:
    """``sparsify()`` / ``densify()`` as scikit-learn's mixin of that name: ``coef_`` to a
    scipy.sparse CSR (in scikit-learn's configured sparse interface) and back; predictions
    work either way."""

    def densify(self):
        """Convert ``coef_`` back to a dense ndarray (a no-op unless sparsified).

        Returns
        -------
        self
        """
        from sklearn.utils.validation import check_is_fitted
        check_is_fitted(self, msg="Estimator, %(name)s, must be fitted before densifying.")
        if is_sparse(self.coef_):
            self.coef_ = self.coef_.toarray()
        return self

    def sparsify(self):
        """Convert ``coef_`` to a scipy.sparse CSR matrix (``intercept_`` stays dense).

        Returns
        -------
        self
        """
        import scipy.sparse as sp
        from sklearn import get_config
        from sklearn.utils.validation import check_is_fitted
        check_is_fitted(self, msg="Estimator, %(name)s, must be fitted before sparsifying.")
        coef = sp.csr_array(self.coef_)
        if get_config().get("sparse_interface", "spmatrix") == "spmatrix":
            coef = sp.csr_matrix(coef)
        self.coef_ = coef
        return self
