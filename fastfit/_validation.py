"""Input checks shared by models and the trainer: one pass, at most one copy.

Arrays are converted to C-contiguous in the model's dtype only when they are not
already, and finiteness is counted by a C kernel, so an array that is already right
costs no copy and no temporary.
"""

from __future__ import annotations

import numbers

import numpy as np

from fastfit.ops._data import count_nonfinite


def positive_int(name: str, value) -> int:
    """An integer >= 1 (bools and floats rejected), else ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


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
