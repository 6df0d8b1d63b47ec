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
        return z * normal_cdf_ref(z)
    raise ValueError(name)


def normal_cdf_ref(x):
    """Phi(x) = erfc(-x/sqrt2)/2 in float64: accurate in both tails (1 + erf(x/sqrt2)
    would cancel to 0 for x below about -8)."""
    from math import erfc
    return 0.5 * np.vectorize(erfc, otypes=[np.float64])(-np.asarray(x, np.float64) / np.sqrt(2.0))


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


def linear_decision_ref(x, w, b=None):
    """A linear model's decision function, w stored (k, in) as coef_."""
    y = np.asarray(x, np.float64) @ np.asarray(w, np.float64).T
    return y if b is None else y + np.asarray(b, np.float64)


def linear_backward_ref(dy, x, w):
    """(dx, dw, db) of y = x @ w + b."""
    dy, x, w = (np.asarray(t, np.float64) for t in (dy, x, w))
    return dy @ w.T, x.T @ dy, dy.sum(axis=0)


def gram_ref(a, weights=None, c=None, beta=0.0, append=None):
    """a_x^T diag(weights) a_x + beta * c, a_x = a or [a, append]; c is not read when
    beta == 0, and only its upper triangle is used (the result is symmetric)."""
    a = np.asarray(a, dtype=np.float64)
    if append is not None:
        a = np.c_[a, np.full(a.shape[0], float(append))]
    w = np.ones(a.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    z = (a.T * w) @ a
    if beta != 0:
        cu = np.triu(np.asarray(c, dtype=np.float64))
        z = z + beta * (cu + np.triu(cu, 1).T)
    return z


def gram_error_bound(dtype, a, weights=None, c=None, beta=0.0, append=None, factor=2.0):
    """gemm_error_bound for gram_ref's product (op(a) = a_x^T, op(b) = diag(w) a_x)."""
    a = np.asarray(a, dtype=np.float64)
    if append is not None:
        a = np.c_[a, np.full(a.shape[0], float(append))]
    w = np.ones(a.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    cf = None
    if beta != 0:
        cu = np.triu(np.asarray(c, dtype=np.float64))
        cf = cu + np.triu(cu, 1).T
    return gemm_error_bound(dtype, a.shape[0], a, a * w[:, None], c=cf, beta=beta,
                            trans_a=True, factor=factor)


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
# (activation_ref, the forward activations, is in the GEMM section above: one reference)

from math import erf as _erf

_erf_vec = np.vectorize(_erf, otypes=[np.float64])


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
        return normal_cdf_ref(x) + x * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
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
# Every loss is a weighted mean over rows of the per-row mean over K outputs:
#     loss = sum_i w_i * mean_j l_ij / sum_i w_i,   dpred_ij = w_i * dl_ij / (sum_i w_i * K).
# pred/target are (N, K); labels (N,) for softmax cross-entropy.

def _weighted_mean(l, g, weight):
    n, k = l.shape
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    loss = float(np.sum(w * l.mean(axis=1)) / np.sum(w))
    return loss, g * (w / (np.sum(w) * k))[:, None]


def mse_loss_ref(pred, target, weight=None):
    r = np.asarray(pred, np.float64) - np.asarray(target, np.float64)
    return _weighted_mean(r * r, 2.0 * r, weight)


def huber_loss_ref(pred, target, delta=1.0, weight=None):
    r = np.asarray(pred, np.float64) - np.asarray(target, np.float64)
    quad = np.abs(r) <= delta
    l = np.where(quad, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
    g = np.where(quad, r, delta * np.sign(r))
    return _weighted_mean(l, g, weight)


def sigmoid_ref(z):
    z = np.asarray(z, np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def bce_logits_loss_ref(logits, target, weight=None):
    z = np.asarray(logits, np.float64)
    t = np.asarray(target, np.float64)
    l = np.maximum(z, 0.0) - z * t + np.log1p(np.exp(-np.abs(z)))
    return _weighted_mean(l, sigmoid_ref(z) - t, weight)


def softmax_cross_entropy_ref(logits, labels, weight=None):
    z = np.asarray(logits, np.float64)
    n, c = z.shape
    rows = np.arange(n)
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(s[:, 0])
    l = (lse - z[rows, labels])[:, None]
    g = e / s
    g[rows, labels] -= 1.0
    loss, _ = _weighted_mean(l, l, weight)
    w = np.ones(n) if weight is None else np.asarray(weight, np.float64)
    return loss, g * (w / np.sum(w))[:, None]

def poisson_loss_ref(logmean, target, weight=None):
    """Half Poisson deviance of mu = exp(z) (scikit-learn's poisson_loss per element)."""
    from scipy.special import xlogy

    z = np.asarray(logmean, np.float64)
    t = np.asarray(target, np.float64)
    mu = np.exp(z)
    return _weighted_mean(xlogy(t, t / mu) - t + mu, mu - t, weight)

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
# Philox4x32-10 (Salmon et al., SC'11) written from the paper's round function with
# uint64 arithmetic on 32-bit lanes, vectorised over counters; checked against
# Random123's known-answer vectors in tests/test_data.py.

_MASK32 = np.uint64(0xFFFFFFFF)
PHILOX_KAT = [  # (counter c0..c3, key k0..k1, output) from Random123's kat_vectors
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
INIT_STREAM = 0x696E6974 << 32  # the counter's high 64 bits used by ff_init


def philox4x32_10_ref(c0, c1, c2, c3, k0, k1):
    """Ten Philox rounds on arrays of 32-bit counter words; returns four uint64 arrays."""
    c = [np.asarray(x, dtype=np.uint64) & _MASK32 for x in (c0, c1, c2, c3)]
    k0, k1 = np.uint64(k0) & _MASK32, np.uint64(k1) & _MASK32
    m0, m1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    w0, w1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
    for _ in range(10):
        p0 = m0 * c[0]  # < 2^64: a 32 x 32-bit product
        p1 = m1 * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & _MASK32,
             (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & _MASK32]
        k0 = (k0 + w0) & _MASK32
        k1 = (k1 + w1) & _MASK32
    return c


def philox_block_ref(seed, ctr_lo, ctr_hi=0):
    """Blocks for 128-bit counters (ctr_lo array, ctr_hi scalar) under a 64-bit key."""
    lo = np.asarray(ctr_lo, dtype=np.uint64)
    hi = np.uint64(ctr_hi)
    return philox4x32_10_ref(lo & _MASK32, lo >> np.uint64(32), hi & _MASK32, hi >> np.uint64(32),
                             seed & 0xFFFFFFFF, seed >> 32)


def philox_u32_ref(n, seed, offset=0):
    """Word offset+i is word (offset+i) % 4 of the block at counter (offset+i) // 4."""
    w = np.uint64(offset) + np.arange(n, dtype=np.uint64)
    blocks = np.stack(philox_block_ref(seed, w >> np.uint64(2)))
    return blocks[(w & np.uint64(3)).astype(np.intp), np.arange(n)].astype(np.uint32)


def init_ref(n, fan_in, fan_out, scheme, gain, seed, offset=0):
    """He/Glorot draws in float64; element i from the block at (offset + i, INIT_STREAM)."""
    ctr = np.uint64(offset) + np.arange(n, dtype=np.uint64)
    v0, v1, v2, v3 = philox_block_ref(seed, ctr, INIT_STREAM)
    a = v0 | (v1 << np.uint64(32))
    b = v2 | (v3 << np.uint64(32))
    normal = scheme in ("he_normal", "glorot_normal")
    fan = fan_in + fan_out if scheme.startswith("glorot") else fan_in
    if normal:
        u1 = ((a >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0**-53
        u2 = (b >> np.uint64(11)).astype(np.float64) * 2.0**-53
        z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        return gain * np.sqrt(2.0 / fan) * z
    u = (a >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return gain * np.sqrt(6.0 / fan) * (2.0 * u - 1.0)


def shuffle_partners_ref(n, seed, stream=0):
    """Fisher-Yates partner j_i in [0, i] for every position i < n (j_0 = 0), drawn with
    Lemire's multiply-shift and rejection; words for position i come from the block at
    (i, stream), then from (i + r * 2^48, stream), r = 1, 2, ... Returns (j, rejections).
    Only ranges below 2^32 (n <= 2^32) are modelled here."""
    i = np.arange(n, dtype=np.uint64)
    blocks = philox_block_ref(seed, i, stream)
    j = np.zeros(n, dtype=np.int64)
    rejections = 0
    for pos in range(1, n):
        r = pos + 1
        threshold = (2**32 - r) % r
        words = [int(blocks[w][pos]) for w in range(4)]
        retry = 0
        while True:
            for x in words:
                m = x * r
                if (m & 0xFFFFFFFF) >= threshold:
                    j[pos] = m >> 32
                    break
                rejections += 1
            else:
                retry += 1
                words = [int(w[0]) for w in philox_block_ref(seed, [pos + retry * 2**48], stream)]
                continue
            break
    return j, rejections


def shuffle_ref(n, seed, stream=0, partners=None):
    """Fisher-Yates from the back on arange(n) with shuffle_partners_ref's partners."""
    j = shuffle_partners_ref(n, seed, stream)[0] if partners is None else partners
    perm = list(range(n))
    for pos in range(n - 1, 0, -1):
        q = j[pos]
        perm[pos], perm[q] = perm[q], perm[pos]
    return np.array(perm, dtype=np.int64)

# ==== end data =================================================================


# ==== engine references ====
# Float64 references for the training engine (fastfit.nn / Trainer): a forward pass of
# a layer stack read from the layers' own parameter views, a two-layer tanh MLP's loss
# and gradients, one optimizer step over a flat parameter vector (clipping, weight decay
# on the weight prefix, L1), and batch norm's running statistics over known batches.

def layer_param(layer, name):
    """A layer's parameter as a view of its model's flat buffer, found through the
    compiled plan (owner and name) rather than the layer's own properties, so the
    references check the engine independently of the views; None when absent."""
    model = layer._model
    for p in model.plan.params:
        if p.owner is layer and p.name == name:
            return model.params[p.offset:p.offset + p.size].reshape(p.shape)
    return None


def model_forward_ref(layers, x, training=False):
    """Forward of a fastfit.nn layer list in float64.

    training=False: evaluation mode (running statistics, dropout passes through).
    training=True: batch statistics for batch norm; dropout must have p == 0.
    """
    h = np.asarray(x, np.float64)
    for layer in layers:
        kind = type(layer).__name__
        if kind == "Linear":
            h = h @ np.asarray(layer_param(layer, "weight"), np.float64)
            if layer.has_bias:
                h = h + np.asarray(layer_param(layer, "bias"), np.float64)
        elif kind == "BatchNorm":
            gamma = np.asarray(layer_param(layer, "gamma"), np.float64)
            beta = np.asarray(layer_param(layer, "beta"), np.float64)
            if training:
                if h.shape[0] == 1:
                    h = np.broadcast_to(beta, h.shape).copy()
                else:
                    h = batchnorm_forward_ref(h, gamma, beta, layer.eps)[0]
            else:
                h = batchnorm_inference_ref(h, gamma, beta, np.asarray(layer.running_mean, np.float64),
                                            np.asarray(layer.running_var, np.float64), layer.eps)
        elif kind == "Dropout":
            if training and layer.p > 0:
                raise ValueError("the reference has no dropout masks; use training=False or p=0")
        elif kind == "Residual":
            branch = model_forward_ref(layer.layers, h, training)
            proj = layer_param(layer, "projection")
            h = (h if proj is None else h @ np.asarray(proj, np.float64)) + branch
        else:
            name = {"Identity": "identity", "ReLU": "relu", "LeakyReLU": "leaky_relu",
                    "Tanh": "tanh", "Sigmoid": "sigmoid", "GELU": "gelu"}[kind]
            h = activation_ref(h, name, negative_slope=layer.alpha)
    return h


def tanh_mlp_ref(w1, b1, w2, b2, x, y):
    """MSE of out = tanh(x @ w1 + b1) @ w2 + b2 against y, and its gradients
    (loss, dw1, db1, dw2, db2), in float64. Weights are (in, out) as fastfit's."""
    x = np.asarray(x, np.float64)
    h = np.tanh(x @ w1 + b1)
    out = h @ w2 + b2
    loss, dout = mse_loss_ref(out, y)
    dh = dout @ w2.T
    dz = dh * (1.0 - h * h)
    return loss, x.T @ dz, dz.sum(axis=0), h.T @ dout, dout.sum(axis=0)


def optimizer_step_ref(theta, grad, state, step, *, kind, lr, n_decay, weight_decay=0.0, l1=0.0,
                       clip_norm=None, momentum=0.0, nesterov=False, alpha=0.99, eps=1e-8,
                       betas=(0.9, 0.999), decoupled=False):
    """One engine optimizer step over the flat vector ``theta`` (float64 copies returned):
    clip the global gradient norm, update [0, n_decay) with weight decay and the rest
    without, then the L1 proximal step on [0, n_decay). ``state`` is a list of two
    slot vectors (momentum / square average / Adam m and v); ``step`` is the step number
    after incrementing (Adam's t). Returns (theta, state)."""
    theta = np.array(theta, np.float64)
    g = np.array(grad, np.float64)
    s1, s2 = (np.array(s, np.float64) for s in state)
    if clip_norm is not None:
        g, _ = clip_grad_norm(g, clip_norm)
    for part in (slice(0, n_decay), slice(n_decay, None)):
        wd = weight_decay if part.start == 0 else 0.0
        p, gp = theta[part], g[part]
        if kind == "sgd":
            p, v = sgd_update(p, gp, s1[part], lr=lr, momentum=momentum, weight_decay=wd,
                              nesterov=nesterov)
            if v is not None:
                s1[part] = v
        elif kind == "rmsprop":
            p, sq, buf = rmsprop_update(p, gp, s1[part], s2[part], lr=lr, alpha=alpha, eps=eps,
                                        weight_decay=wd, momentum=momentum)
            s1[part] = sq
            if buf is not None:
                s2[part] = buf
        elif kind == "adam":
            p, m, v = adam_update(p, gp, s1[part], s2[part], step, lr, betas[0], betas[1], eps,
                                  wd, decoupled)
            s1[part], s2[part] = m, v
        else:
            raise ValueError(kind)
        theta[part] = p
    if l1 > 0 and n_decay > 0:
        theta[:n_decay] = l1_update(theta[:n_decay], lr * l1)
    return theta, [s1, s2]


def batchnorm_running_ref(batches, running_mean, running_var, momentum=0.1):
    """Running statistics after training-mode batches (each (n_b, C)), as torch's
    BatchNorm1d: unbiased batch variance; batches of one row leave them unchanged."""
    rm = np.array(running_mean, np.float64)
    rv = np.array(running_var, np.float64)
    for b in batches:
        b = np.asarray(b, np.float64)
        n = b.shape[0]
        if n < 2:
            continue
        rm = (1 - momentum) * rm + momentum * b.mean(axis=0)
        rv = (1 - momentum) * rv + momentum * b.var(axis=0, ddof=1)
    return rm, rv


def cosine_factor_ref(step, total, warm, min_factor=0.0):
    """Linear warm-up over ``warm`` steps ((s+1)/warm), then half a cosine from 1 down to
    min_factor over the remaining ``total - warm`` steps (held after the end)."""
    import math
    if step < warm:
        return (step + 1) / warm
    progress = min(max((step - warm) / max(total - warm, 1), 0.0), 1.0)
    return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))

# ==== end engine references ====


# ==== SGD linear models (scikit-learn's plain SGD) ====

def sgd_loss_ref(loss, a, y, p):
    """scikit-learn's SGD losses (y in {-1,1}; {0,1} for log_loss; a = threshold/delta/eps)."""
    import math
    if loss in ("hinge", "perceptron"):
        return max(a - p * y, 0.0)
    if loss == "squared_hinge":
        return max(a - p * y, 0.0) ** 2
    if loss == "log_loss":
        return math.log1p(math.exp(p)) - y * p if p < 30 else p - y * p
    if loss == "modified_huber":
        z = p * y
        return 0.0 if z >= 1 else ((1 - z) ** 2 if z >= -1 else -4 * z)
    if loss == "squared_error":
        return 0.5 * (p - y) ** 2
    if loss == "huber":
        r = abs(y - p)
        return 0.5 * r * r if r <= a else a * (r - 0.5 * a)
    if loss == "epsilon_insensitive":
        return max(abs(y - p) - a, 0.0)
    return max(abs(y - p) - a, 0.0) ** 2  # squared_epsilon_insensitive


def sgd_dloss_ref(loss, a, y, p):
    """d loss / d p of :func:`sgd_loss_ref`, scikit-learn's branch conventions."""
    import math
    if loss in ("hinge", "perceptron"):
        return -y if p * y <= a else 0.0
    if loss == "squared_hinge":
        z = a - p * y
        return -2 * y * z if z > 0 else 0.0
    if loss == "log_loss":
        return 1.0 / (1.0 + math.exp(-p)) - y if p > -37 else math.exp(p) - y
    if loss == "modified_huber":
        z = p * y
        return 0.0 if z >= 1 else (-2 * (1 - z) * y if z >= -1 else -4 * y)
    if loss == "squared_error":
        return p - y
    if loss == "huber":
        r = p - y
        return r if abs(r) <= a else (a if r >= 0 else -a)
    if loss == "epsilon_insensitive":
        return -1.0 if y - p > a else (1.0 if p - y > a else 0.0)
    z = y - p
    return -2 * (z - a) if z > a else (2 * (-z - a) if z < -a else 0.0)


def sgd_epoch_ref(w, b, x, y, order, **kw):
    """One epoch of scikit-learn's _plain_sgd on explicit float64 weights (no scale trick:
    the L2 decay multiplies w, the average is a plain running mean, the L1 step is the
    truncated gradient on w itself). Returns (w, b, aw, ab, t, u, q, sumloss, objective).

    The dense epoch is the sparse one (:func:`csr_sgd_epoch_ref`) with every feature of
    every row stored, zeros included (so the L1 step truncates all of w), and the
    intercept moved by the whole update."""
    import scipy.sparse

    x = np.asarray(x, np.float64)
    n, d = x.shape
    full = scipy.sparse.csr_array((x.ravel(), np.tile(np.arange(d), n), np.arange(n + 1) * d),
                                  shape=(n, d))
    return csr_sgd_epoch_ref(w, b, full, y, order, intercept_decay=1.0, **kw)


# ==== end SGD references ====

# ==== logistic regression (ff_logistic_loss_grad) ====

def logistic_loss_grad_ref(x, labels, coef, intercept=None, weight=None, scale=1.0):
    """Float64 reference of ff_logistic_loss_grad: K = 1 binary logistic loss (labels 0/1),
    K >= 2 softmax cross-entropy. Returns (scale * sum_i s_i l_i, dcoef (K,I), dint (K))."""
    x = np.asarray(x, np.float64)
    coef = np.asarray(coef, np.float64)
    labels = np.asarray(labels)
    n, k = x.shape[0], coef.shape[0]
    z = x @ coef.T + (0.0 if intercept is None else np.asarray(intercept, np.float64))
    s = np.ones(n) if weight is None else np.asarray(weight, np.float64)
    if k == 1:
        t = labels.astype(np.float64)
        zz = z[:, 0]
        loss = np.logaddexp(0.0, zz) - t * zz
        g = (0.5 * (1.0 + np.tanh(0.5 * zz)) - t)[:, None]
    else:
        m = z.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
        loss = lse - z[np.arange(n), labels]
        g = np.exp(z - lse[:, None])
        g[np.arange(n), labels] -= 1.0
    g = g * (s * scale)[:, None]
    return scale * float(s @ loss), g.T @ x, g.sum(axis=0)

# ==== end logistic regression references ====

# ==== sparse input (csrc/sparse*.{c,inc}) ====

def csr_matmul_ref(x, w, b=None):
    """X @ w + b in float64 for a scipy.sparse X (w (I,O) as the linear layer's)."""
    y = x.astype(np.float64) @ np.asarray(w, np.float64)
    return y if b is None else y + np.asarray(b, np.float64)


def csr_tmatmul_ref(x, g):
    """X^T @ g in float64 for a scipy.sparse X."""
    return np.asarray(x.astype(np.float64).T @ np.asarray(g, np.float64))


def csr_matvec_ref(x, v):
    """X @ v in float64 for one vector v."""
    return np.asarray(x.astype(np.float64) @ np.asarray(v, np.float64)).ravel()


def csr_tmatvec_ref(x, u):
    """X^T @ u in float64 for one vector u."""
    return np.asarray(x.astype(np.float64).T @ np.asarray(u, np.float64)).ravel()


def csr_rows_matmul_ref(x, rows, w, b=None):
    """X[rows] @ w + b in float64 (rows None: every row)."""
    xs = x.tocsr() if rows is None else x.tocsr()[np.asarray(rows)]
    return csr_matmul_ref(xs, w, b)


def csr_rows_tmatmul_ref(x, rows, g):
    """X[rows]^T @ g in float64: a repeated row counts once per occurrence."""
    xs = x.tocsr() if rows is None else x.tocsr()[np.asarray(rows)]
    return csr_tmatmul_ref(xs, g)


def csr_logistic_loss_grad_ref(x, labels, coef, intercept=None, weight=None, scale=1.0):
    """:func:`logistic_loss_grad_ref` for a scipy.sparse X (same formulas, sparse products)."""
    coef = np.asarray(coef, np.float64)
    labels = np.asarray(labels)
    xs = x.astype(np.float64).tocsr()
    n, k = xs.shape[0], coef.shape[0]
    z = np.asarray(xs @ coef.T) + (0.0 if intercept is None else np.asarray(intercept, np.float64))
    s = np.ones(n) if weight is None else np.asarray(weight, np.float64)
    if k == 1:
        t = labels.astype(np.float64)
        zz = z[:, 0]
        loss = np.logaddexp(0.0, zz) - t * zz
        g = (0.5 * (1.0 + np.tanh(0.5 * zz)) - t)[:, None]
    else:
        m = z.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
        loss = lse - z[np.arange(n), labels]
        g = np.exp(z - lse[:, None])
        g[np.arange(n), labels] -= 1.0
    g = g * (s * scale)[:, None]
    return scale * float(s @ loss), np.asarray(xs.T @ g).T, g.sum(axis=0)


def csr_sgd_epoch_ref(w, b, x, y, order, *, loss, loss_param=1.0, penalty="l2", alpha=1e-4,
                      l1_ratio=0.15, schedule="optimal", eta0=0.01, power_t=0.5,
                      optimal_init=0.0, t=1.0, eta=None, sample_weight=None, weight_pos=1.0,
                      weight_neg=1.0, fit_intercept=True, average=0, aw=None, ab=0.0, u=0.0,
                      q=None, intercept_decay=0.01):
    """One epoch of scikit-learn's _plain_sgd on a CSR dataset, on explicit float64 weights:
    as :func:`sgd_epoch_ref` except that the L1 truncation touches only the row's stored
    features (lazy L1) and the intercept moves by ``update * intercept_decay``. (The L2
    decay of every weight and the running average are exact in scikit-learn's sparse
    form too.) Returns (w, b, aw, ab, t, u, q, sumloss, objective)."""
    x = x.tocsr()
    w = np.array(w, np.float64)
    d = w.shape[0]
    aw = np.zeros(d) if aw is None else np.array(aw, np.float64)
    q = np.zeros(d) if q is None else np.array(q, np.float64)
    l1r = {"l2": 0.0, "l1": 1.0}.get(penalty, l1_ratio)
    eta = eta0 if eta is None else eta
    sumloss = objective = 0.0
    for i in order:
        lo, hi = x.indptr[i], x.indptr[i + 1]
        idx = x.indices[lo:hi]
        val = x.data[lo:hi].astype(np.float64)
        yi = float(y[i])
        p = float(w[idx] @ val) + b
        if schedule == "optimal":
            eta = 1.0 / (alpha * (optimal_init + t - 1))
        elif schedule == "invscaling":
            eta = eta0 / t ** power_t
        cur = sgd_loss_ref(loss, loss_param, yi, p)
        sumloss += cur
        objective += cur
        if penalty is not None:
            objective += alpha * ((1 - l1r) * 0.5 * float(w @ w) + l1r * float(np.abs(w).sum()))
        dl = min(max(sgd_dloss_ref(loss, loss_param, yi, p), -1e12), 1e12)
        cw = weight_pos if yi > 0 else weight_neg
        swi = 1.0 if sample_weight is None else float(sample_weight[i])
        update = -eta * dl * cw * swi
        if penalty in ("l2", "elasticnet"):
            w *= max(0.0, 1.0 - (1.0 - l1r) * eta * alpha)
        w[idx] += update * val
        if fit_intercept:
            b += update * intercept_decay
        if 0 < average <= t:
            n_avg = t - average + 1
            aw += (w - aw) / n_avg
            ab += (b - ab) / n_avg
        if penalty in ("l1", "elasticnet"):
            u += l1r * eta * alpha
            old = w[idx].copy()
            wi = old.copy()
            pos, neg = wi > 0, wi < 0
            wi[pos] = np.maximum(0.0, wi[pos] - (u + q[idx][pos]))
            wi[neg] = np.minimum(0.0, wi[neg] + (u - q[idx][neg]))
            w[idx] = wi
            q[idx] += wi - old
        t += 1
    return w, b, aw, ab, t, u, q, sumloss, objective

# ==== end sparse references ====


# ==== L-BFGS pairs (csrc/lbfgs.c) ====

def lbfgs_tile(w, tile, dtype):
    """The tiled layout of the pairs (n_rows, n): (ceil(n / tile), n_rows, tile) of dtype,
    the last tile's tail zero."""
    r, n = w.shape
    nt = -(-n // tile)
    out = np.zeros((r, nt * tile), dtype)
    out[:, :n] = w
    return np.ascontiguousarray(out.reshape(r, nt, tile).transpose(1, 0, 2))


def lbfgs_untile(w, n):
    """The pairs (n_rows, n) in float64 from their tiled layout."""
    nt, r, tile = w.shape
    return np.asarray(w, np.float64).transpose(1, 0, 2).reshape(r, nt * tile)[:, :n]


def lbfgs_update_ref(w, rows, pair, g_new, dtype):
    """The pairs (n_rows, n) after the update, the stored rows' products with g_new, and
    (s.y, y.y, max |g_new|). pair: (s_row, y_row, t, d, g_old) or None; s = t d and
    y = g_new - g_old are stored rounded to dtype, their products taken unrounded."""
    w = np.array(w, np.float64)
    g_new = np.asarray(g_new, np.float64)
    s_y = y_y = 0.0
    if pair is not None:
        s_row, y_row, t, d, g_old = pair
        s, y = t * np.asarray(d, np.float64), g_new - np.asarray(g_old, np.float64)
        w[s_row], w[y_row] = s.astype(dtype), y.astype(dtype)
        s_y, y_y = s @ y, y @ y
    return w, w[np.asarray(rows, np.int64)] @ g_new, (s_y, y_y, np.max(np.abs(g_new)))


def lbfgs_direction_ref(w, rows, c, gamma, g):
    """d = -(gamma g + W[rows]^T c) in float64, and (d.g, d.d)."""
    g = np.asarray(g, np.float64)
    d = -(gamma * g + np.asarray(w, np.float64)[np.asarray(rows, np.int64)].T
          @ np.asarray(c, np.float64))
    return d, (d @ g, d @ d)
