"""GPU twins of fastfit.ops' matrix products: matmul, gemm, linear_forward,
linear_backward, sum_rows (cuBLAS through CuPy when installed, else a tiled kernel)."""

from __future__ import annotations

from fastfit._lib import ACTIVATIONS, activation_code  # noqa: F401 - re-exported as in fastfit.ops
from fastfit.cuda import kernels as K
from fastfit.cuda._device import is_device
from fastfit.cuda.ops._args import Call
from fastfit.ops._args import gemm_args, linear_backward_args, linear_forward_args

from fastfit.ops._gemm import __all__ as _CPU_ALL  # the CPU module's names

# gram is a building block of the CPU solvers (Newton's Hessian, the linear Gram), which
# do not run on the GPU: no twin
__all__ = [name for name in _CPU_ALL if name != "gram"]


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
    a, b, bias, ta, tb, m, n, k = gemm_args(a, b, c, bias, beta, trans_a, trans_b, call.float,
                                            not is_device(a), not is_device(b))
    dtype = a.dtype
    host_c = None
    if c is None:
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
    x, w, b = linear_forward_args(x, w, b, call.float)
    n, out = x.shape[0], w.shape[1]
    y = call.empty((n, out), x.dtype)
    call.done(K.ff_linear_forward(y, x, w, b, n, x.shape[1], out), "linear_forward")
    return call.out(y)


def linear_decision(x, w, b=None):
    """A linear model's ``x @ w.T + b`` (``w`` stored (k, in)) on the GPU; see
    :func:`fastfit.ops.linear_decision`. One transposed-B GEMM with the bias fused.

    Parameters
    ----------
    x : array of shape (n, in), float32 or float64
    w : array of shape (k, in), same dtype
    b : array of shape (k,), optional

    Returns
    -------
    out : array of shape (n, k)
    """
    return gemm(x, w, bias=b, trans_b=True)


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
    dy, x, w = linear_backward_args(dy, x, w, call.float)
    n, out = dy.shape
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
