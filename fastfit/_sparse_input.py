"""Sparse X for the engine (the MLP's first layer reads CSR rows in place).

One place that says what sparse input is and turns it into the kernels' checked CSR
(``fastfit.ops.as_csr``: int64 indices, canonical rows, finite values), once per fit or
prediction call; never densified. Kept apart so that it can be merged with the linear
estimators' own sparse checks later.
"""

from __future__ import annotations

from fastfit.ops import CSR, as_csr


def is_sparse(X) -> bool:
    """Whether X is a scipy.sparse matrix/array or an already checked ``ops.CSR``."""
    if isinstance(X, CSR):
        return True
    import scipy.sparse as sp
    return sp.issparse(X)


def as_sparse_input(X, dtype, *, name="X", n_features=None, check_finite=True) -> CSR:
    """X as the kernels' CSR in ``dtype``: one conversion at most (other formats to CSR,
    int32 indices widened, unsorted or duplicate indices summed and sorted on a copy).

    Raises TypeError for non-real data, ValueError for a broken structure (an index out of
    range, indptr not monotone), NaN/inf among the stored values, no rows, no columns or
    the wrong number of features.
    """
    x = as_csr(X, dtype, check_finite=check_finite)
    n, d = x.shape
    if n == 0:
        raise ValueError(f"{name} has 0 samples; at least one is needed")
    if d == 0:
        raise ValueError(f"{name} has 0 features")
    if n_features is not None and d != n_features:
        raise ValueError(f"{name} has {d} features, but the model expects {n_features}")
    return x


def check_sparse_model(model) -> None:
    """ValueError unless the model can take sparse input: its first op a Linear layer
    that is the only reader of the input (the engine runs that layer on the CSR rows)."""
    from fastfit._lib import lib

    ops = model.plan.ops
    if (ops[0].kind != lib.FF_OP_LINEAR or ops[0].x != 0
            or any(op.x == 0 or (op.kind == lib.FF_OP_ADD and op.z == 0) for op in ops[1:])):
        raise ValueError("sparse input needs a model whose first layer is nn.Linear and the "
                         "only one reading the input (no residual block or batch norm "
                         "around the input)")
