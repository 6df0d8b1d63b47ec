"""GPU twins of fastfit.ops' matrix products: matmul, gemm, linear_forward,
linear_backward, sum_rows (cuBLAS through CuPy when installed, else a tiled kernel)."""

from __future__ import annotations

import numpy as np

from fastfit._lib import ACTIVATIONS, activation_code
from fastfit.cuda import kernels as K
from fastfit.cuda._device import is_device
from fastfit.cuda.ops._args import Call

__all__ = ["ACTIVATIONS", "matmul", "gemm", "linear_forward", "linear_backward", "sum_rows"]


def _operand(call, name, a, dtype):
    """As fastfit.ops: a Fortran-ordered host array is read as its transpose, no copy."""
    if not is_device(a):
        a = np.asarray(a)
        if a.ndim == 2 and not a.flags.c_contiguous and a.flags.f_contiguous and a.size > 1:
            return call.float(name, a.T, dtype, ndim=2), True
    return call.float(name, a, dtype, ndim=2), False


def matmul(a, b):
    """Matrix product ``a @ b`` on the GPU; see :func:`fastfit.ops.matmul`.

    Parameters
    ----------
    a : array of shape (m, k), float32 or float64 (NumPy or device)
    b : array of shape (k, n), same dtype

    Returns
    -------
    array of shape (m, n)
        NumPy if every input was NumPy, else a device array.
    """
    return gemm(a, b)


def gemm(a, b, c=None, *, bias=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False,
         activation="identity", negative_slope=0.01):
    """``act(alpha * op(a) @ op(b) + beta * c + bias)`` on the GPU; see :func:`fastfit.ops.gemm`.

    Parameters
    ----------
    a, b : arrays, float32 or float64
        Shapes (m, k) and (k, n), or transposed with ``trans_a`` / ``trans_b``.
    c : array of shape (m, n), optional
        Updated in place and returned when given; else ``beta`` must be 0.
    bias : array of shape (n,), optional
    alpha, beta : float
    trans_a, trans_b : bool
    activation : str
        One of ``ACTIVATIONS``.
    negative_slope : float

    Returns
    -------
    array of shape (m, n)
        ``c`` itself if given; NumPy for NumPy inputs, else a device array.
    """
    act = activation_code(activation)
    call = Call(a, b, c, bias)
    a, ta = _operand(call, "a", a, None)
    dtype = a.dtype
    b, tb = _operand(call, "b", b, dtype)
    ta ^= bool(trans_a)
    tb ^= bool(trans_b)
    m, k = (a.shape[1], a.shape[0]) if ta else a.shape
    kb, n = (b.shape[1], b.shape[0]) if tb else b.shape
    if kb != k:
        raise ValueError(f"a and b do not chain: op(a) is {(m, k)}, op(b) is {(kb, n)}")
    if bias is not None:
        bias = call.float("bias", bias, dtype, ndim=1)
        if bias.shape[0] != n:
            raise ValueError(f"bias must have shape ({n},), got {bias.shape}")
    host_c = None
    if c is None:
        if beta != 0:
            raise ValueError("beta != 0 needs an output array c to scale")
        dc = call.empty((m, n), dtype)
    else:
        host_c = c
        dc = call.inout("c", c, dtype, (m, n))
    status = K.ff_gemm(dc, a, b, bias, m, n, k, a.shape[1], b.shape[1], n, ta, tb, alpha, beta, act,
                       negative_slope)
    call.done(status, "gemm")
    if host_c is not None:
        return host_c
    return call.out(dc)


def _linear_shapes(call, x, w):
    x = call.float("x", x, None, ndim=2)
    w = call.float("w", w, x.dtype, ndim=2)
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w must have shape ({x.shape[1]}, out) to match x {x.shape}, "
                         f"got {w.shape}")
    return x, w


def linear_forward(x, w, b=None):
    """Linear layer forward ``x @ w + b`` on the GPU; see :func:`fastfit.ops.linear_forward`.

    Parameters
    ----------
    x : array of shape (n, in), float32 or float64
    w : array of shape (in, out), same dtype
    b : array of shape (out,), optional

    Returns
    -------
    y : array of shape (n, out)
    """
    call = Call(x, w, b)
    x, w = _linear_shapes(call, x, w)
    n, out = x.shape[0], w.shape[1]
    if b is not None:
        b = call.float("b", b, x.dtype, ndim=1)
        if b.shape[0] != out:
            raise ValueError(f"b must have shape ({out},), got {b.shape}")
    y = call.empty((n, out), x.dtype)
    call.done(K.ff_linear_forward(y, x, w, b, n, x.shape[1], out), "linear_forward")
    return call.out(y)


def linear_backward(dy, x, w, need_dx=True):
    """Linear layer backward on the GPU; see :func:`fastfit.ops.linear_backward`.

    Parameters
    ----------
    dy : array of shape (n, out), float32 or float64
    x : array of shape (n, in), same dtype
    w : array of shape (in, out), same dtype
    need_dx : bool

    Returns
    -------
    dx : array of shape (n, in), or None when ``need_dx`` is false
    dw : array of shape (in, out)
    db : array of shape (out,)
    """
    call = Call(dy, x, w)
    dy = call.float("dy", dy, None, ndim=2)
    x = call.float("x", x, dy.dtype, ndim=2)
    w = call.float("w", w, dy.dtype, ndim=2)
    n, out = dy.shape
    if x.shape[0] != n:
        raise ValueError(f"x must have {n} rows like dy, got shape {x.shape}")
    if tuple(w.shape) != (x.shape[1], out):
        raise ValueError(f"w must have shape {(x.shape[1], out)}, got {w.shape}")
    dx = call.empty(x.shape, x.dtype) if need_dx else None
    dw = call.zeros(w.shape, w.dtype)
    db = call.zeros(out, dy.dtype)
    call.done(K.ff_linear_backward(dx, dw, db, dy, x, w, n, x.shape[1], out), "linear_backward")
    return call.out(dx), call.out(dw), call.out(db)


def sum_rows(dy):
    """Column sums of a 2-D array on the GPU, in a fixed order; see :func:`fastfit.ops.sum_rows`.

    Parameters
    ----------
    dy : array of shape (n, out), float32 or float64

    Returns
    -------
    array of shape (out,)
    """
    call = Call(dy)
    dy = call.float("dy", dy, None, ndim=2)
    db = call.zeros(dy.shape[1], dy.dtype)
    call.done(K.ff_sum_rows(db, dy, dy.shape[0], dy.shape[1]), "sum_rows")
    return call.out(db)
