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

def activation_ref(z, name, negative_slope=0.01):
    """The GEMM epilogue's activations, elementwise, in float64."""
    from math import erf
    z = np.asarray(z, dtype=np.float64)
    if name == "identity":
        return z.copy()
    if name == "relu":
        return np.where(z < 0, 0.0, z)
    if name == "leaky_relu":
        return np.where(z < 0, negative_slope * z, z)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        e = np.exp(-np.abs(z))  # no overflow for large |z|
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    if name == "gelu":
        return 0.5 * z * (1.0 + np.vectorize(erf)(z / np.sqrt(2.0)))
    raise ValueError(name)


def gemm_ref(a, b, c=None, bias=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False,
             activation="identity", negative_slope=0.01):
    """act(alpha * op(a) @ op(b) + beta * c + bias); c is not read when beta == 0."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    z = alpha * (a @ b)
    if beta != 0:
        z = z + beta * np.asarray(c, dtype=np.float64)
    if bias is not None:
        z = z + np.asarray(bias, dtype=np.float64)
    return activation_ref(z, activation, negative_slope)


def linear_forward_ref(x, w, b=None):
    y = np.asarray(x, np.float64) @ np.asarray(w, np.float64)
    return y if b is None else y + np.asarray(b, np.float64)


def linear_backward_ref(dy, x, w):
    """(dx, dw, db) of y = x @ w + b."""
    dy, x, w = (np.asarray(t, np.float64) for t in (dy, x, w))
    return dy @ w.T, x.T @ dy, dy.sum(axis=0)


def gemm_error_bound(dtype, k, a, b, c=None, bias=None, alpha=1.0, beta=0.0,
                     trans_a=False, trans_b=False, factor=2.0):
    """Elementwise error allowed for a GEMM (+ epilogue) in ``dtype`` against the float64
    reference: the usual dot-product bound eps * |alpha| |op(a)| |op(b)| with the K-fold
    growth taken as sqrt(K) (rounding errors of random sign), times ``factor``, plus the
    same for the beta * c and bias terms. Every epilogue activation has slope <= ~1.13,
    so the bound carries through it."""
    eps = np.finfo(np.dtype(dtype)).eps
    a = np.abs(np.asarray(a, np.float64))
    b = np.abs(np.asarray(b, np.float64))
    scale = abs(alpha) * ((a.T if trans_a else a) @ (b.T if trans_b else b))
    if beta != 0:
        scale = scale + abs(beta) * np.abs(np.asarray(c, np.float64))
    if bias is not None:
        scale = scale + np.abs(np.asarray(bias, np.float64))
    return factor * eps * (np.sqrt(max(int(k), 1)) + 2) * (scale + np.finfo(np.dtype(dtype)).tiny)


def assert_gemm_close(actual, expected, bound, err_msg=""):
    """|actual - expected| <= bound elementwise, plus a relative slack of a few eps of
    the actual dtype for the activation's own rounding; NaN where expected is NaN."""
    eps = np.finfo(np.asarray(actual).dtype).eps
    actual = np.asarray(actual, np.float64)
    err = np.abs(actual - expected)
    ok = (err <= bound + 4 * eps * np.abs(expected)) | (
        np.isnan(expected) & np.isnan(actual))
    if not ok.all():
        i = np.unravel_index(np.argmin(ok), ok.shape)
        raise AssertionError(f"{err_msg}: {np.size(ok) - np.count_nonzero(ok)} of {np.size(ok)} "
                             f"elements off; first at {i}: got {actual[i]!r}, expected "
                             f"{expected[i]!r}, bound {np.broadcast_to(bound, ok.shape)[i]!r}")

# ==== end GEMM and linear ======================================================


# ==== activations, batch norm, dropout, residual ===============================

# ==== end activations, batch norm, dropout, residual ===========================


# ==== losses ===================================================================

# ==== end losses ===============================================================


# ==== optimizers ===============================================================

# ==== end optimizers ===========================================================


# ==== data: gather, shuffle, init, random ======================================

# ==== end data =================================================================
