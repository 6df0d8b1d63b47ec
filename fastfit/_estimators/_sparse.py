"""scipy.sparse X for the estimators: scikit-learn's validation, then the kernels' CSR.

``validate_data(accept_sparse="csr")`` does what scikit-learn's own estimators do with
sparse X (feature counts, finiteness of the stored values, float32 kept, anything else
to float64, CSC/COO converted to CSR once); ``fastfit._sparse_input`` then makes the
kernels' checked CSR (int64 indices, canonical rows, structure checked in C). X is never
densified. Kept in one small module so that the linear estimators' sparse checks can be
merged with it.
"""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import validate_data

from fastfit._sparse_input import as_sparse_input, is_sparse

__all__ = ["is_sparse", "check_sparse_fit_data", "check_sparse_predict_data"]

_FLOAT_DTYPES = (np.float64, np.float32)


def check_sparse_fit_data(est, X, y, *, multi_output=False, y_numeric=False, reset=True):
    """(CSR, y) validated for ``fit`` as scikit-learn validates sparse X; a sparse y is a
    TypeError (targets must be dense)."""
    if is_sparse(y):
        raise TypeError(f"{type(est).__name__} needs a dense y; got a sparse "
                        f"{type(y).__name__} (use y.toarray())")
    X, y = validate_data(est, X, y, accept_sparse="csr", dtype=_FLOAT_DTYPES, reset=reset,
                         multi_output=multi_output, y_numeric=y_numeric)
    return as_sparse_input(X, X.dtype, check_finite=False), y


def check_sparse_predict_data(est, X, dtype):
    """A sparse X as the kernels' CSR in the model's dtype, ``n_features_in_`` columns."""
    if getattr(est, "n_features_in_", None) is None:
        raise NotFittedError(f"This {type(est).__name__} instance is not fitted yet. Call "
                             "'fit' with appropriate arguments before using this estimator.")
    X = validate_data(est, X, accept_sparse="csr", dtype=_FLOAT_DTYPES, reset=False)
    return as_sparse_input(X, dtype, check_finite=False)
