"""Argument checks shared by :mod:`fastfit.ops` and its GPU twin ``fastfit.cuda.ops``.

Each function normalises and checks one op's arguments (shapes, dtypes, hyper-parameter
ranges, seeds and offsets, init schemes) and returns the normalised values, so every
check and every error message exists once. Array arguments go through a converter:
``arr`` (default :func:`fastfit._lib.float_array`), ``idx`` (``index_array``) and
``inout`` (``out_array``) on the CPU; the GPU wrappers pass their ``Call``'s methods of
the same signatures, which apply the same rules to host or device arrays. Only NumPy
and the compiled module are imported here (never numba), and nothing is copied beyond
what the converters do.
"""

from __future__ import annotations

import math

import numpy as np

from fastfit._lib import (FLOAT_DTYPES, U64, activation_code, check_status, float_array,
                          index_array, int_arg, lib, out_array)

#: Init scheme names, mapped to ``enum ff_init_scheme``.
SCHEMES = {"he_normal": lib.FF_INIT_HE_NORMAL, "he_uniform": lib.FF_INIT_HE_UNIFORM,
           "glorot_normal": lib.FF_INIT_GLOROT_NORMAL, "glorot_uniform": lib.FF_INIT_GLOROT_UNIFORM}


def bad_arg(status: int, what: str, message: str) -> None:
    """Raise ValueError(message) for the kernels' ``FF_EBADARG`` (data-dependent errors:
    out-of-range indices or labels, weights that do not sum to a positive value), the
    matching exception for any other failure."""
    if status == lib.FF_EBADARG:
        raise ValueError(message)
    check_status(status, what)


# --------------------------------------------------------------------------- scalars

def hyper(name: str, value, *, low: float = 0.0, high: float | None = None,
          high_open: bool = False) -> float:
    """A finite float hyper-parameter in [low, high] (or [low, high) with high_open)."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(x) or x < low or (high is not None and (x >= high if high_open else x > high)):
        bound = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
        raise ValueError(f"{name} must be finite, >= {low}{bound}; got {value!r}")
    return x


def max_norm_arg(max_norm) -> float:
    """``clip_grad_norm``'s bound: a real number >= 0 (``inf`` allowed)."""
    if isinstance(max_norm, (bool, np.bool_)):
        raise TypeError(f"max_norm must be a real number, got {max_norm!r}")
    try:
        max_norm = float(max_norm)
    except (TypeError, ValueError):
        raise TypeError(f"max_norm must be a real number, got {max_norm!r}") from None
    if not max_norm >= 0:
        raise ValueError(f"max_norm must be >= 0, got {max_norm!r}")
    return max_norm


def dropout_p(p) -> float:
    """A drop probability in [0, 1)."""
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be in [0, 1), got {p}")
    return p


def huber_delta(delta) -> float:
    """Huber's ``delta``: positive and finite."""
    delta = float(delta)
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta must be positive and finite, got {delta}")
    return delta


def seed_offset(seed, offset, offset_name: str = "offset") -> tuple[int, int]:
    """A Philox key and counter (or stream), both in [0, 2**64)."""
    return int_arg("seed", seed, 0, U64), int_arg(offset_name, offset, 0, U64)


# --------------------------------------------------------------------------- data

def gather_source(x):
    """Check ``gather_rows``'s ``x`` (NumPy or device): a 1-D int64 (labels) or a 1-D or
    2-D float array; returns it."""
    if x.dtype == np.int64:
        if x.ndim != 1:
            raise ValueError(f"an int64 x must be 1-D (labels), got shape {tuple(x.shape)}")
    else:
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"x must be float32, float64 or int64, got dtype {x.dtype}")
        if x.ndim not in (1, 2):
            raise ValueError(f"x must be 1-D or 2-D, got shape {tuple(x.shape)}")
    return x


def gather_status(status: int, n: int) -> None:
    bad_arg(status, "gather_rows", f"idx holds indices outside [0, {n})")


def shuffle_args(n, seed, stream) -> tuple[int, int, int]:
    """``shuffle``'s length (<= 2**48), seed and stream."""
    n = int_arg("n", n)
    seed, stream = seed_offset(seed, stream, "stream")
    if n > 1 << 48:
        raise ValueError(f"n must be <= 2**48, got {n}")
    return n, seed, stream


def philox_args(n, seed, offset) -> tuple[int, int, int]:
    """``philox_u32``'s length, seed and offset."""
    n = int_arg("n", n)
    seed, offset = seed_offset(seed, offset)
    return n, seed, offset


def init_args(shape, scheme, seed, gain, fan_in, fan_out, dtype, offset):
    """``init_weights``'s arguments, as
    ``(shape, scheme code, seed, gain, fan_in, fan_out, dtype, offset)``."""
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {sorted(SCHEMES)}, got {scheme!r}")
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    shape = tuple(int_arg("shape", s) for s in shape)
    if len(shape) == 0:
        raise ValueError("shape must have at least one dimension")
    fan_in = shape[0] if fan_in is None else int_arg("fan_in", fan_in)
    fan_out = shape[-1] if fan_out is None else int_arg("fan_out", fan_out)
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"fan_in and fan_out must be >= 1, got {fan_in} and {fan_out}")
    gain = float(gain)
    if not (np.isfinite(gain) and gain >= 0):
        raise ValueError(f"gain must be finite and >= 0, got {gain}")
    seed, offset = seed_offset(seed, offset)
    return shape, SCHEMES[scheme], seed, gain, fan_in, fan_out, dtype, offset


# --------------------------------------------------------------------------- gemm

def operand(name, a, dtype, arr=float_array, host=True):
    """A 2-D float GEMM operand as (array, transposed?): a Fortran-ordered host array is
    read as its (C-contiguous) transpose, without a copy."""
    if host:
        if not isinstance(a, np.ndarray):
            a = np.asarray(a)
        if a.ndim == 2 and not a.flags.c_contiguous and a.flags.f_contiguous and a.size > 1:
            return arr(name, a.T, dtype, ndim=2), True
    return arr(name, a, dtype, ndim=2), False


def vector(name, v, dtype, n, arr=float_array):
    """An optional (n,) float vector (a bias); None stays None."""
    if v is None:
        return None
    v = arr(name, v, dtype, ndim=1)
    if v.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {v.shape}")
    return v


def gemm_args(a, b, c, bias, beta, trans_a, trans_b, arr=float_array, host_a=True, host_b=True):
    """``gemm``'s operands and shapes, as ``(a, b, bias, ta, tb, m, n, k)``; ``c`` is only
    checked for presence (``beta != 0`` needs one), the caller converts it."""
    a, ta = operand("a", a, None, arr, host_a)
    dtype = a.dtype
    b, tb = operand("b", b, dtype, arr, host_b)
    ta ^= bool(trans_a)
    tb ^= bool(trans_b)
    m, k = (a.shape[1], a.shape[0]) if ta else a.shape
    kb, n = (b.shape[1], b.shape[0]) if tb else b.shape
    if kb != k:
        raise ValueError(f"a and b do not chain: op(a) is {(m, k)}, op(b) is {(kb, n)}")
    bias = vector("bias", bias, dtype, n, arr)
    if c is None and beta != 0:
        raise ValueError("beta != 0 needs an output array c to scale")
    return a, b, bias, ta, tb, m, n, k


def linear_forward_args(x, w, b, arr=float_array):
    """``linear_forward``'s ``x`` (n, in), ``w`` (in, out) and optional ``b`` (out,)."""
    x = arr("x", x, None, ndim=2)
    w = arr("w", w, x.dtype, ndim=2)
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w must have shape ({x.shape[1]}, out) to match x {x.shape}, "
                         f"got {w.shape}")
    return x, w, vector("b", b, x.dtype, w.shape[1], arr)


def linear_backward_args(dy, x, w, arr=float_array):
    """``linear_backward``'s ``dy`` (n, out), ``x`` (n, in) and ``w`` (in, out)."""
    dy = arr("dy", dy, None, ndim=2)
    x = arr("x", x, dy.dtype, ndim=2)
    w = arr("w", w, dy.dtype, ndim=2)
    n, out = dy.shape
    if x.shape[0] != n:
        raise ValueError(f"x must have {n} rows like dy, got shape {x.shape}")
    if tuple(w.shape) != (x.shape[1], out):
        raise ValueError(f"w must have shape {(x.shape[1], out)}, got {w.shape}")
    return dy, x, w


# --------------------------------------------------------------------------- layers

def activation_backward_args(dy, activation, x, y, negative_slope, arr=float_array):
    """``activation_backward``'s arrays and activation code, as ``(dy, act, x, y)``:
    ``x`` and ``y`` match ``dy`` and are present where the activation needs them."""
    dy = arr("dy", dy)
    act = activation_code(activation)
    if x is not None:
        x = arr("x", x, dtype=dy.dtype, shape=dy.shape)
    if y is not None:
        y = arr("y", y, dtype=dy.dtype, shape=dy.shape)
    if activation == "gelu" or (activation == "leaky_relu" and negative_slope < 0):
        if x is None:
            raise ValueError(f"activation_backward({activation!r}) needs x (the forward input)")
    elif activation != "identity" and y is None:
        raise ValueError(f"activation_backward({activation!r}) needs y (the forward output)")
    return dy, act, x, y


def batchnorm_args(x, gamma, beta, arr=float_array):
    """Batch norm's ``x`` (n, c), ``gamma`` and ``beta`` (c,)."""
    x = arr("x", x, ndim=2)
    c = x.shape[1]
    gamma = arr("gamma", gamma, dtype=x.dtype, shape=(c,))
    beta = arr("beta", beta, dtype=x.dtype, shape=(c,))
    return x, gamma, beta


def batchnorm_forward_args(x, gamma, beta, running_mean, running_var, arr=float_array,
                           inout=out_array):
    """``batchnorm_forward``'s arrays; the optional running statistics are updated in place."""
    x, gamma, beta = batchnorm_args(x, gamma, beta, arr)
    c = x.shape[1]
    if running_mean is not None:
        running_mean = inout("running_mean", running_mean, x.dtype, (c,))
    if running_var is not None:
        running_var = inout("running_var", running_var, x.dtype, (c,))
    return x, gamma, beta, running_mean, running_var


def batchnorm_inference_args(x, gamma, beta, running_mean, running_var, arr=float_array):
    """``batchnorm_inference``'s arrays: ``x`` (n, c) and four (c,) vectors."""
    x, gamma, beta = batchnorm_args(x, gamma, beta, arr)
    c = x.shape[1]
    running_mean = arr("running_mean", running_mean, dtype=x.dtype, shape=(c,))
    running_var = arr("running_var", running_var, dtype=x.dtype, shape=(c,))
    return x, gamma, beta, running_mean, running_var


def batchnorm_backward_args(dy, x, gamma, mean, rstd, arr=float_array):
    """``batchnorm_backward``'s arrays: ``dy`` and ``x`` (n, c), three (c,) vectors."""
    dy = arr("dy", dy, ndim=2)
    c = dy.shape[1]
    x = arr("x", x, dtype=dy.dtype, shape=dy.shape)
    gamma = arr("gamma", gamma, dtype=dy.dtype, shape=(c,))
    mean = arr("mean", mean, dtype=dy.dtype, shape=(c,))
    rstd = arr("rstd", rstd, dtype=dy.dtype, shape=(c,))
    return dy, x, gamma, mean, rstd


def dropout_forward_args(x, p, seed, offset, arr=float_array):
    """``dropout_forward``'s input, drop probability, seed and offset."""
    x = arr("x", x)
    p = dropout_p(p)
    seed, offset = seed_offset(seed, offset)
    return x, p, seed, offset


def check_mask(mask, shape):
    """A dropout mask (NumPy or device): uint8 of ``shape``; returns it."""
    if mask.dtype != np.uint8:
        raise TypeError(f"mask must be uint8 (as returned by dropout_forward), got dtype {mask.dtype}")
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"mask must have shape {tuple(shape)}, got {tuple(mask.shape)}")
    return mask


def residual_forward_args(x, fx, arr=float_array):
    """``residual_forward``'s two arrays of one shape and dtype."""
    x = arr("x", x)
    return x, arr("fx", fx, dtype=x.dtype, shape=x.shape)


# --------------------------------------------------------------------------- losses

def weights(sample_weight, dtype, n, arr=float_array):
    """Optional per-row loss weights, (n,); None stays None."""
    if sample_weight is None:
        return None
    w = arr("sample_weight", sample_weight, dtype=dtype, ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"sample_weight must have length {n} (one weight per row), got {w.shape[0]}")
    return w


def elementwise_loss_args(name, pred, target, sample_weight, arr=float_array):
    """An element-wise loss's arrays, as ``(pred, target, weight, n, k)``: a 1-D
    prediction is one output per row."""
    pname = "pred" if name != "bce_logits_loss" else "logits"
    pred = arr(pname, pred)
    if pred.ndim == 1:
        n, k = pred.shape[0], 1
    elif pred.ndim == 2:
        n, k = pred.shape
    else:
        raise ValueError(f"{pname} must be 1-D (N,) or 2-D (N, K), got shape {tuple(pred.shape)}")
    target = arr("target", target, dtype=pred.dtype, shape=pred.shape)
    if n == 0 or k == 0:
        raise ValueError(f"the mean of an empty batch is undefined (shape {tuple(pred.shape)})")
    return pred, target, weights(sample_weight, pred.dtype, n, arr), n, k


def poisson_target(target) -> None:
    """The Poisson loss needs targets >= 0; checked for host arrays (the kernel would
    only see a NaN loss). A device array is not copied back for this: there a negative
    target is the kernel's non-finite loss."""
    if hasattr(target, "__cuda_array_interface__"):
        return
    t = np.asarray(target)
    if t.dtype.kind in "fiu" and t.size and np.min(t) < 0:
        raise ValueError("poisson_loss: target must be >= 0 (counts or rates), got a "
                         f"minimum of {np.min(t)}")


def elementwise_loss_status(status: int, name: str) -> None:
    bad_arg(status, name, f"{name}: sample_weight must sum to a positive value")


def softmax_cross_entropy_args(logits, y, sample_weight, arr=float_array, idx=index_array):
    """``softmax_cross_entropy``'s arrays, as ``(logits, labels, weight, n, c)``."""
    logits = arr("logits", logits, ndim=2)
    n, c = logits.shape
    labels = idx("y", y)
    if labels.shape[0] != n:
        raise ValueError(f"y must have length {n} (one label per row of logits), got {labels.shape[0]}")
    if n == 0 or c == 0:
        raise ValueError(f"the mean of an empty batch is undefined (logits shape {tuple(logits.shape)})")
    return logits, labels, weights(sample_weight, logits.dtype, n, arr), n, c


def softmax_cross_entropy_status(status: int, c: int) -> None:
    bad_arg(status, "softmax_cross_entropy",
            f"softmax_cross_entropy: labels y must lie in [0, {c}) and sample_weight "
            "must sum to a positive value")


# --------------------------------------------------------------------------- optimizers

def check_disjoint(nbytes: int, names, addrs, spaces=None) -> None:
    """Equal-size buffers must not overlap (the kernels assume no aliasing, C ``restrict``).

    ``addrs`` are start addresses (None where unknown: skipped); with ``spaces``, only
    addresses in the same space (host or device) are compared. Two buffers of ``nbytes``
    overlap iff their starts are closer than ``nbytes`` (cheaper than
    ``np.may_share_memory`` on every pair).
    """
    if nbytes == 0:
        return
    for i in range(len(addrs)):
        for j in range(i + 1, len(addrs)):
            if (addrs[i] is not None and addrs[j] is not None
                    and (spaces is None or spaces[i] == spaces[j])
                    and abs(addrs[i] - addrs[j]) < nbytes):
                raise ValueError(f"{names[i]} and {names[j]} must not share memory")


def sgd_hypers(lr, momentum, weight_decay, nesterov, velocity):
    """SGD's ``(lr, momentum, weight_decay, nesterov)``; ``velocity`` must be given iff
    ``momentum > 0`` needs it."""
    lr = hyper("lr", lr)
    momentum = hyper("momentum", momentum)
    weight_decay = hyper("weight_decay", weight_decay)
    nesterov = bool(nesterov)
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0")
    if momentum > 0 and velocity is None:
        raise ValueError("velocity is required when momentum > 0")
    return lr, momentum, weight_decay, nesterov


def rmsprop_hypers(lr, alpha, eps, weight_decay, momentum, momentum_buf):
    """RMSProp's ``(lr, alpha, eps, weight_decay, momentum)``; ``momentum_buf`` must be
    given when ``momentum > 0``."""
    lr = hyper("lr", lr)
    alpha = hyper("alpha", alpha, high=1.0)
    eps = hyper("eps", eps)
    weight_decay = hyper("weight_decay", weight_decay)
    momentum = hyper("momentum", momentum)
    if momentum > 0 and momentum_buf is None:
        raise ValueError("momentum_buf is required when momentum > 0")
    return lr, alpha, eps, weight_decay, momentum


def adam_hypers(step, lr, beta1, beta2, eps, weight_decay):
    """Adam's ``(step, lr, beta1, beta2, eps, weight_decay)``."""
    step = int_arg("step", step, low=1)  # counts from 1: the bias corrections use it
    lr = hyper("lr", lr)
    beta1 = hyper("beta1", beta1, high=1.0, high_open=True)
    beta2 = hyper("beta2", beta2, high=1.0, high_open=True)
    eps = hyper("eps", eps)
    weight_decay = hyper("weight_decay", weight_decay)
    return step, lr, beta1, beta2, eps, weight_decay


# --------------------------------------------------------------------------- logistic

def logistic_args(coef, labels, intercept, sample_weight, n, i, dtype):
    """The logistic pass's arguments after X (dense or CSR, n x i of ``dtype``): ``coef``
    (K, i), int64 ``labels`` (n,), optional ``intercept`` (K,) and ``sample_weight`` (n,),
    and the loss (1,) it writes, in float64 (the gradients are the caller's: they may be
    ``out=``). Returns (coef, labels, intercept, sample_weight, loss)."""
    coef = np.ascontiguousarray(coef, dtype=dtype)
    if coef.ndim != 2 or coef.shape[1] != i:
        raise ValueError(f"coef must have shape (K, {i}), got {coef.shape}")
    k = coef.shape[0]
    labels = index_array("labels", labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
    if intercept is not None:
        intercept = float_array("intercept", np.asarray(intercept, dtype=dtype), shape=(k,))
    if sample_weight is not None:
        sample_weight = float_array("sample_weight", np.asarray(sample_weight, dtype=dtype),
                                    shape=(n,))
    return coef, labels, intercept, sample_weight, np.zeros(1)
