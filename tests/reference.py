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

# Each reference updates float64 copies and returns them (param first, then the state in
# the order the kernel takes it); formulas as torch.optim's, textbook form.

def sgd_update(param, grad, velocity=None, *, lr, momentum=0.0, weight_decay=0.0,
               nesterov=False):
    p, g = np.array(param, np.float64), np.array(grad, np.float64)
    g = g + weight_decay * p
    vel = None
    if momentum != 0:
        vel = momentum * np.array(velocity, np.float64) + g
        g = g + momentum * vel if nesterov else vel
    return p - lr * g, vel


def rmsprop_update(param, grad, square_avg, momentum_buf=None, *, lr, alpha=0.99, eps=1e-8,
                   weight_decay=0.0, momentum=0.0):
    p, g = np.array(param, np.float64), np.array(grad, np.float64)
    g = g + weight_decay * p
    sq = alpha * np.array(square_avg, np.float64) + (1 - alpha) * g * g
    d = g / (np.sqrt(sq) + eps)
    buf = None
    if momentum != 0:
        buf = momentum * np.array(momentum_buf, np.float64) + d
        d = buf
    return p - lr * d, sq, buf


def adam_update(param, grad, m, v, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                weight_decay=0.0, decoupled=False):
    p, g = np.array(param, np.float64), np.array(grad, np.float64)
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = beta1 * np.array(m, np.float64) + (1 - beta1) * g
    v = beta2 * np.array(v, np.float64) + (1 - beta2) * g * g
    m_hat = m / (1 - beta1 ** step)
    v_hat = v / (1 - beta2 ** step)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def l1_update(param, threshold):
    p = np.array(param, np.float64)
    return np.sign(p) * np.maximum(np.abs(p) - threshold, 0.0)


def grad_norm(grad):
    return float(np.sqrt(np.sum(np.square(np.asarray(grad, np.float64)))))


def clip_grad_norm(grad, max_norm):
    """(clipped float64 copy, norm before clipping)"""
    g = np.array(grad, np.float64)
    norm = grad_norm(g)
    coef = max_norm / (norm + 1e-6)
    return (g * coef if coef < 1 else g), norm


# ==== end optimizers ===========================================================


# ==== data: gather, shuffle, init, random ======================================

# ==== end data =================================================================
