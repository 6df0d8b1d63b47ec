"""Sparse X for the engine: which models can take it (the first layer reads the CSR rows
in place). What sparse input is and its conversion are ``fastfit._validation``'s
(``is_sparse``, ``as_sparse_matrix``), shared with the linear estimators.
"""

from __future__ import annotations


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
