"""Matrix products and the linear layer: wrappers over ``ff_gemm_*``, ``ff_linear_*``
and ``ff_sum_rows_*``.

The GEMM is fastfit's own (packed panels, AVX-512/AVX2/portable micro-kernels chosen at
run time, OpenMP over output tiles), with an optional fused epilogue: bias add and an
activation applied while each output tile is still in cache. Results are bitwise the
same for any thread count.
"""

from __future__ import annotations

import numpy as np

from fastfit._lib import ACTIVATIONS, activation_code, check_status, float_array, kernel, out_array, ptr
from fastfit.ops._args import gemm_args, linear_backward_args, linear_forward_args, vector
from fastfit.ops._out import Out, outputs

__all__ = ["ACTIVATIONS", "matmul", "gemm", "gram", "linear_forward", "linear_backward", "sum_rows",
           "linear_decision"]

def matmul(a, b, *, out=None):
    """Matrix product ``a @ b`` of two 2-D float arrays.

    Parameters
    ----------
    a : ndarray of shape (m, k), float32 or float64
    b : ndarray of shape (k, n), same dtype as ``a``
    out : ndarray of shape (m, n), optional
        Receives the product (``a``'s dtype, C-contiguous, writeable) and is returned.
        It must not share memory with ``a`` or ``b``.

    Returns
    -------
    ndarray of shape (m, n)
        ``a @ b`` in the inputs' dtype (``out`` when given).
    """
    if out is None:
        return gemm(a, b)
    a, b, _, ta, tb, m, n, _ = gemm_args(a, b, None, None, 0.0, False, False)
    c, = outputs(out, (Out("c", a.dtype, (m, n)),), (("a", a), ("b", b)))
    # gemm_args read a Fortran-ordered operand as its transpose: hand gemm what it read
    return gemm(a.T if ta else a, b.T if tb else b, c)


def gemm(a, b, c=None, *, bias=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False,
         activation="identity", negative_slope=0.01):
    """General matrix product with a fused epilogue.

    Computes ``act(alpha * op(a) @ op(b) + beta * c + bias)`` where ``op(x)`` is ``x.T``
    if the matching ``trans_*`` flag is set.

    Parameters
    ----------
    a : ndarray, float32 or float64
        Shape (m, k), or (k, m) with ``trans_a``.
    b : ndarray, same dtype
        Shape (k, n), or (n, k) with ``trans_b``.
    c : ndarray of shape (m, n), optional
        Updated in place and returned when given (C-contiguous, same dtype). When omitted
        a new array is returned and ``beta`` must be 0.
    bias : ndarray of shape (n,), optional
        Added to every row before the activation.
    alpha, beta : float
        Scale of the product and of ``c``. With ``beta == 0``, ``c`` is not read (it
        may hold NaN).
    trans_a, trans_b : bool
        Use the transpose of ``a`` / ``b``.
    activation : str
        One of ``ACTIVATIONS``: identity, relu, leaky_relu, tanh, sigmoid, gelu (exact
        erf form).
    negative_slope : float
        Slope of ``leaky_relu`` for negative inputs.

    Returns
    -------
    ndarray of shape (m, n)
        ``c`` (the same object, if one was given).
    """
    act = activation_code(activation)
    a, b, bias, ta, tb, m, n, k = gemm_args(a, b, c, bias, beta, trans_a, trans_b)
    dtype = a.dtype
    if c is None:
        c = np.empty((m, n), dtype=dtype)
    else:
        c = out_array("c", c, dtype, (m, n))
    status = kernel("gemm", dtype)(ptr(c), ptr(a), ptr(b), ptr(bias), m, n, k,
                                   a.shape[1], b.shape[1], n, ta, tb, alpha, beta, act,
                                   negative_slope)
    check_status(status, "gemm")
    return c


def gram(a, weights=None, c=None, *, beta=0.0, append=None):
    """Weighted Gram matrix ``a.T @ diag(weights) @ a + beta * c`` (BLAS's syrk, weighted).

    Only the output tiles on or above the diagonal are multiplied (about 60% of a full
    product's multiply-adds at 100 columns), the weights scale the rows of ``a`` as they
    are packed (no weighted copy), and the lower triangle is copied from the upper, so
    the result is exactly symmetric.

    Parameters
    ----------
    a : ndarray of shape (n, p), float32 or float64
    weights : ndarray of shape (n,), optional
        The row weights (any sign); all ones when omitted.
    c : ndarray of shape (q, q), optional
        Updated in place and returned when given (C-contiguous, ``a``'s dtype, sharing no
        memory with ``a`` or ``weights``); its lower triangle is not used. When omitted
        a new array is returned and ``beta`` must be 0.
    beta : float
        Scale of ``c``'s upper triangle. With ``beta == 0``, ``c`` is not read.
    append : float, optional
        Read ``a`` as ``[a, append]``: a constant column (an intercept's) appended
        without a copy, so ``q = p + 1``; else ``q = p``.

    Returns
    -------
    ndarray of shape (q, q)
        ``c`` (the same object, if one was given).
    """
    a = float_array("a", a, None, ndim=2)
    n, p = a.shape
    weights = vector("weights", weights, a.dtype, n)
    q = p + (append is not None)
    if c is None:
        if beta != 0:
            raise ValueError("beta != 0 needs an output array c to scale")
        c = np.empty((q, q), dtype=a.dtype)
    else:
        c = out_array("c", c, a.dtype, (q, q))
        for name, arg in (("a", a), ("weights", weights)):
            if arg is not None and np.may_share_memory(c, arg):
                raise ValueError(f"c must not share memory with {name}")
    fill = 0.0 if append is None else float(append)
    status = kernel("gram", a.dtype)(ptr(c), ptr(a), ptr(weights), n, p, p, q, beta,
                                     append is not None, fill)
    check_status(status, "gram")
    return c


def linear_forward(x, w, b=None, *, out=None):
    """Linear layer forward: ``x @ w + b``.

    Parameters
    ----------
    x : ndarray of shape (n, in), float32 or float64
    w : ndarray of shape (in, out), same dtype
    b : ndarray of shape (out,), optional
    out : ndarray of shape (n, out), optional
        Receives ``y`` (``x``'s dtype, C-contiguous, writeable) and is returned. It must
        not share memory with ``x``, ``w`` or ``b``.

    Returns
    -------
    y : ndarray of shape (n, out)
    """
    x, w, b = linear_forward_args(x, w, b)
    n, o = x.shape[0], w.shape[1]
    y = (np.empty((n, o), dtype=x.dtype) if out is None
         else outputs(out, (Out("y", x.dtype, (n, o)),), (("x", x), ("w", w), ("b", b)))[0])
    check_status(kernel("linear_forward", x.dtype)(ptr(y), ptr(x), ptr(w), ptr(b), n,
                                                   x.shape[1], o), "linear_forward")
    return y


def linear_decision(x, w, b=None, *, out=None):
    """A linear model's decision function: ``x @ w.T + b`` with ``w`` stored as ``coef_``.

    Up to 8 outputs, each row is read once for all of them (row dot products, dynamic
    row chunks across threads); more outputs go through the GEMM.

    Parameters
    ----------
    x : ndarray of shape (n, in), float32 or float64
    w : ndarray of shape (k, in), same dtype
    b : ndarray of shape (k,), optional
    out : ndarray of shape (n, k), optional
        Receives the decision values (``x``'s dtype, C-contiguous, writeable) and is
        returned. It must not share memory with ``x``, ``w`` or ``b``.

    Returns
    -------
    out : ndarray of shape (n, k)
    """
    x = float_array("x", x, None, ndim=2)
    w = float_array("w", w, x.dtype, ndim=2)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w must have shape (k, {x.shape[1]}) to match x {x.shape}, "
                         f"got {w.shape}")
    if x.shape[1] == 0:
        raise ValueError("x must have at least one column")
    b = None if b is None else float_array("b", b, x.dtype, ndim=1)
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"b must have shape ({w.shape[0]},), got {b.shape}")
    n, k = x.shape[0], w.shape[0]
    out = (np.empty((n, k), dtype=x.dtype) if out is None
           else outputs(out, (Out("decision", x.dtype, (n, k)),), (("x", x), ("w", w), ("b", b)))[0])
    check_status(kernel("linear_decision", x.dtype)(ptr(out), ptr(x), ptr(w), ptr(b), n,
                                                    x.shape[1], k), "linear_decision")
    return out


def linear_backward(dy, x, w, need_dx=True, *, out=None):
    """Linear layer backward.

    Parameters
    ----------
    dy : ndarray of shape (n, out), float32 or float64
        Gradient of the loss with respect to the layer's output.
    x : ndarray of shape (n, in), same dtype
        The forward pass's input.
    w : ndarray of shape (in, out), same dtype
    need_dx : bool
        Compute ``dx`` (the first layer of a network does not need it).
    out : tuple of 3 ndarrays or None, optional
        ``(dx, dw, db)`` receiving the gradients (shapes as returned, ``dy``'s dtype,
        C-contiguous, writeable), returned in their place; a None entry gets a fresh
        array, and ``dx``'s must be None without ``need_dx``. They are overwritten (not
        accumulated into) and must not share memory with ``dy``, ``x``, ``w`` or each
        other.

    Returns
    -------
    dx : ndarray of shape (n, in), or None when ``need_dx`` is false
        ``dy @ w.T``.
    dw : ndarray of shape (in, out)
        ``x.T @ dy``.
    db : ndarray of shape (out,)
        ``dy.sum(axis=0)``.
    """
    dy, x, w = linear_backward_args(dy, x, w)
    n, o = dy.shape
    # the kernel accumulates into dw and db: they start at zero
    if out is None:
        dx = np.empty_like(x) if need_dx else None
        dw = np.zeros_like(w)
        db = np.zeros(o, dtype=dy.dtype)
    else:
        dx, dw, db = outputs(out, (Out("dx", dy.dtype, x.shape if need_dx else None),
                                   Out("dw", dy.dtype, w.shape, zero=True),
                                   Out("db", dy.dtype, (o,), zero=True)),
                             (("dy", dy), ("x", x), ("w", w)))
    check_status(kernel("linear_backward", dy.dtype)(ptr(dx), ptr(dw), ptr(db), ptr(dy), ptr(x),
                                                     ptr(w), n, x.shape[1], o),
                 "linear_backward")
    return dx, dw, db


def sum_rows(dy, *, out=None):
    """Column sums of a 2-D array (the bias gradient), summed in a fixed order.

    Parameters
    ----------
    dy : ndarray of shape (n, out), float32 or float64
    out : ndarray of shape (out,), optional
        Receives the sums (``dy``'s dtype, C-contiguous, writeable; overwritten, not
        accumulated into) and is returned. It must not share memory with ``dy``.

    Returns
    -------
    ndarray of shape (out,)
        ``dy.sum(axis=0)``, bitwise the same for any thread count.
    """
    dy = float_array("dy", dy, None, ndim=2)
    db = (np.zeros(dy.shape[1], dtype=dy.dtype) if out is None
          else outputs(out, (Out("db", dy.dtype, (dy.shape[1],), zero=True),), (("dy", dy),))[0])
    check_status(kernel("sum_rows", dy.dtype)(ptr(db), ptr(dy), dy.shape[0], dy.shape[1]),
                 "sum_rows")
    return db
