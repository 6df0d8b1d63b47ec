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

from math import erf as _erf

_erf_vec = np.vectorize(_erf, otypes=[np.float64])


def activation_ref(x, activation, alpha=0.01):
    """Forward activation in float64."""
    x = np.asarray(x, dtype=np.float64)
    if activation == "identity":
        return x.copy()
    if activation == "relu":
        return np.maximum(x, 0.0)
    if activation == "leaky_relu":
        return np.where(x > 0, x, alpha * x)
    if activation == "tanh":
        return np.tanh(x)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if activation == "gelu":
        return 0.5 * x * (1.0 + _erf_vec(x / np.sqrt(2.0)))
    raise ValueError(activation)


def activation_grad_ref(x, activation, alpha=0.01):
    """d act / d x in float64 (relu'(0) = 0, leaky'(0) = alpha, as torch)."""
    x = np.asarray(x, dtype=np.float64)
    if activation == "identity":
        return np.ones_like(x)
    if activation == "relu":
        return (x > 0).astype(np.float64)
    if activation == "leaky_relu":
        return np.where(x > 0, 1.0, alpha)
    if activation == "tanh":
        return 1.0 - np.tanh(x) ** 2
    if activation == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-x))
        return s * (1.0 - s)
    if activation == "gelu":
        cdf = 0.5 * (1.0 + _erf_vec(x / np.sqrt(2.0)))
        return cdf + x * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    raise ValueError(activation)


def softmax_ref(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def batchnorm_forward_ref(x, gamma, beta, eps=1e-5):
    """Training-mode batch norm: (y, mean, rstd, unbiased var), statistics in long double."""
    xl = np.asarray(x, dtype=np.longdouble)
    mean = xl.mean(axis=0)
    var = ((xl - mean) ** 2).mean(axis=0)
    rstd = 1.0 / np.sqrt(var + eps)
    y = (xl - mean) * rstd * np.asarray(gamma, np.longdouble) + np.asarray(beta, np.longdouble)
    n = x.shape[0]
    unbiased = var * n / (n - 1) if n > 1 else var
    return (y.astype(np.float64), mean.astype(np.float64), rstd.astype(np.float64),
            unbiased.astype(np.float64))


def batchnorm_backward_ref(dy, x, gamma, eps=1e-5):
    """(dx, dgamma, dbeta) of training-mode batch norm, from the textbook formula."""
    dy = np.asarray(dy, dtype=np.float64)
    xl = np.asarray(x, dtype=np.longdouble)
    n = x.shape[0]
    mean = xl.mean(axis=0)
    rstd = 1.0 / np.sqrt(((xl - mean) ** 2).mean(axis=0) + eps)
    xhat = ((xl - mean) * rstd).astype(np.float64)
    rstd = rstd.astype(np.float64)
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dx = np.asarray(gamma, np.float64) * rstd / n * (n * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def batchnorm_inference_ref(x, gamma, beta, running_mean, running_var, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    return (x - running_mean) / np.sqrt(np.asarray(running_var, np.float64) + eps) * gamma + beta


def philox4x32_ref(key, ctr_lo, ctr_hi=0):
    """Philox4x32-10 in pure Python (independent of the C code)."""
    m = 0xFFFFFFFF
    c = [ctr_lo & m, (ctr_lo >> 32) & m, ctr_hi & m, (ctr_hi >> 32) & m]
    k0, k1 = key & m, (key >> 32) & m
    for _ in range(10):
        p0 = 0xD2511F53 * c[0]
        p1 = 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & m, p1 & m, ((p0 >> 32) ^ c[3] ^ k1) & m, p0 & m]
        k0 = (k0 + 0x9E3779B9) & m
        k1 = (k1 + 0xBB67AE85) & m
    return c


def dropout_mask_ref(n, p, seed, offset=0):
    """Keep iff word (seed, stream 0, offset + i) >= ceil(float32(p) * 2**32)."""
    thr = int(np.ceil(float(np.float32(p)) * 2.0**32))
    words = [philox4x32_ref(seed, (offset + i) >> 2)[(offset + i) & 3] for i in range(n)]
    return (np.array(words, dtype=np.uint64) >= thr).astype(np.uint8)


def dropout_forward_ref(x, mask, p):
    return np.asarray(x, np.float64) * mask / (1.0 - p)


# ==== end activations, batch norm, dropout, residual ===========================


# ==== losses ===================================================================

# ==== end losses ===============================================================


# ==== optimizers ===============================================================

# ==== end optimizers ===========================================================


# ==== data: gather, shuffle, init, random ======================================

# ==== end data =================================================================
