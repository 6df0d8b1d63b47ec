"""NumPy float64 references for every native kernel, and the shared test tolerances.

Each reference is the textbook formula, written for clarity, in float64: the kernels
are checked against these in both f32 and f64. Sections follow csrc/fastfit.h.
"""

import numpy as np

# Relative tolerances against a float64 reference, per kernel dtype. GEMM-like sums
# over K grow their f32 error with sqrt(K); tests scale rtol where that matters.
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
ATOL = {np.float32: 1e-5, np.float64: 1e-12}


def tol(dtype, scale=1.0):
    """(rtol, atol) for a kernel in ``dtype``, loosened by ``scale``."""
    dtype = np.dtype(dtype).type
    return RTOL[dtype] * scale, ATOL[dtype] * scale


def assert_close(actual, expected, dtype, scale=1.0, err_msg=""):
    rtol, atol = tol(dtype, scale)
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected,
                               rtol=rtol, atol=atol, err_msg=err_msg)


# ==== GEMM and linear ==========================================================

# ==== end GEMM and linear ======================================================


# ==== activations, batch norm, dropout, residual ===============================

# ==== end activations, batch norm, dropout, residual ===========================


# ==== losses ===================================================================

# ==== end losses ===============================================================


# ==== optimizers ===============================================================

# ==== end optimizers ===========================================================


# ==== data: gather, shuffle, init, random ======================================

# ==== end data =================================================================
