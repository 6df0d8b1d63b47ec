"""Input checks shared by models and the trainer: one pass, at most one copy.

Arrays are converted to C-contiguous in the model's dtype only when they are not
already, and finiteness is counted by a C kernel, so an array that is already right
costs no copy and no temporary.

Sparse input (scipy.sparse, any format, ``*_matrix`` or ``*_array``) is checked here too,
in :func:`as_sparse_matrix` and :func:`check_sparse_y`: X becomes the kernels' CSR
(``fastfit.ops.as_csr``: one conversion, never densified; duplicate entries summed and
indices sorted, which is what scikit-learn's sparse products compute with them) and a
sparse y is refused.
"""

from __future__ import annotations

import numbers

import numpy as np

from fastfit._params import InvalidParameterError
from fastfit.ops._data import count_nonfinite
from fastfit.ops._sparse import CSR, as_csr

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def positive_int(name: str, value) -> int:
    """An integer >= 1 (bools and floats rejected), else InvalidParameterError (a
    ValueError and a TypeError) naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def is_ready_matrix(X, dtype=None, n_features=None) -> bool:
    """True when ``X`` is already what the kernels read, so that a fast path may skip
    validation: an ndarray (no subclass, no DataFrame), 2-D, non-empty, C-contiguous, of
    ``dtype`` (float32 or float64 when None) and, given, ``n_features`` wide. Finiteness
    is left to the caller (one C count, or the kernel's own check)."""
    return (type(X) is np.ndarray and X.ndim == 2 and X.shape[0] > 0 and X.shape[1] > 0
            and (X.dtype in _FLOAT_DTYPES if dtype is None else X.dtype == dtype)
            and (n_features is None or X.shape[1] == n_features) and X.flags.c_contiguous)


def as_float_matrix(X, dtype, *, name="X", n_features=None, allow_empty=False) -> np.ndarray:
    """``X`` as a finite, C-contiguous 2-D array of ``dtype``.

    Raises TypeError for sparse, complex, string or object input and ValueError for a
    wrong number of dimensions or features, no rows, or NaN/inf.
    """
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise TypeError(f"{name} is a sparse matrix; fastfit needs dense input "
                        f"(use {name}.toarray())")
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from None
    kind = X.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} is complex ({X.dtype}); fastfit works on real numbers")
    if kind not in "fiub":
        try:
            X = X.astype(dtype)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} holds non-numeric values ({X.dtype}): {exc}") from None
    if X.ndim != 2:
        hint = " Reshape a single sample with x.reshape(1, -1)." if X.ndim == 1 else ""
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features), "
                         f"got shape {X.shape}.{hint}")
    if X.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} has 0 samples; at least one is needed")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has 0 features")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the model expects {n_features}")
    X = np.ascontiguousarray(X, dtype=dtype)
    check_finite(X, name)
    return X


def check_finite(a: np.ndarray, name: str) -> None:
    """ValueError if a float array holds NaN or inf (counted in C, no temporary)."""
    count = count_nonfinite(a) if a.size else 0
    if count:
        raise ValueError(f"{name} contains {count} NaN or infinite value(s)")


def as_sample_weight(sample_weight, n: int, dtype) -> np.ndarray | None:
    """Per-sample weights as a finite, non-negative (n,) array, or None."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}")
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise ValueError(f"sample_weight has shape {w.shape}, expected ({n},) to match the samples")
    w = np.ascontiguousarray(w, dtype=dtype)
    check_finite(w, "sample_weight")
    if (w < 0).any():
        raise ValueError("sample_weight must be non-negative")
    if not w.any():
        raise ValueError("sample_weight sums to zero")
    return w


def is_sparse(X) -> bool:
    """Whether ``X`` is a scipy.sparse matrix/array or an already converted CSR."""
    if isinstance(X, CSR):
        return True
    return hasattr(X, "nnz") and hasattr(X, "tocsr")


def as_sparse_matrix(X, dtype=None, *, name="X", n_features=None,
                     check_finite=True) -> CSR:
    """A scipy.sparse ``X`` as the kernels' :class:`~fastfit.ops.CSR`, checked.

    Parameters
    ----------
    X : scipy.sparse matrix or array (any format), or a CSR
    dtype : float32, float64 or None
        None keeps float32/float64 and makes other real dtypes float64 (scikit-learn's rule).
    n_features : int or None
        The width the model expects (predict, partial_fit).
    check_finite : bool
        Refuse NaN/inf among the stored values (False: the caller checks them, as
        scikit-learn's own sparse validation has).

    Raises
    ------
    TypeError
        Complex or non-numeric stored values.
    ValueError
        No rows or no columns, a wrong width, a broken structure (index out of range,
        indptr not monotone) or NaN/inf among the stored values.
    """
    if not isinstance(X, CSR):
        kind = np.dtype(X.dtype).kind
        if kind == "c":
            raise TypeError(f"{name} is complex ({X.dtype}); fastfit works on real numbers")
        if kind not in "fiub":
            raise TypeError(f"{name} holds non-numeric values ({X.dtype})")
        if len(X.shape) != 2:
            raise ValueError(f"{name} must be a 2-D sparse matrix, got shape {X.shape}")
    n, p = X.shape
    if n == 0:
        raise ValueError(f"{name} has 0 samples; at least one is needed")
    if p == 0:
        raise ValueError(f"{name} has 0 features")
    if n_features is not None and p != n_features:
        raise ValueError(f"{name} has {p} features, but the model expects {n_features}")
    try:
        return as_csr(X, dtype, check_finite=check_finite)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def check_sparse_y(y, n: int, *, multi_output=False, y_numeric=False) -> np.ndarray:
    """The target of a fit on sparse X: dense, finite, ``n`` long (1-D, or 2-D when
    ``multi_output``), with scikit-learn's checks. A sparse y raises TypeError."""
    from sklearn.utils.validation import check_array, column_or_1d

    if is_sparse(y):
        raise TypeError("y is a sparse matrix; fastfit needs a dense target "
                        "(use y.toarray().ravel())")
    if multi_output:
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
    else:
        y = column_or_1d(y, warn=True)
        if y.dtype.kind in "fc" and not np.isfinite(y).all():
            raise ValueError("Input y contains NaN or infinity.")
    if y_numeric and y.dtype.kind == "O":
        y = y.astype(np.float64)
    if y.shape[0] != n:
        raise ValueError("Found input variables with inconsistent numbers of samples: "
                         f"[{n}, {y.shape[0]}]")
    return y
