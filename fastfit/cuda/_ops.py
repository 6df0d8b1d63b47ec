"""The plan's op kinds on the GPU: a forward / backward pair per kind behind one table,
the device twin of ``csrc/engine_ops.inc`` (``OPS`` is its ``ff_op_table``).

Each function runs one op over a batch of n rows on the device views of its operands
(``fastfit.cuda._train``'s ``_View``, built once per batch size) and a ``Pass``: what
the whole pass shares -- CuPy for cuBLAS products (or None), the dropout stream and
this step's counter offset, the dtype. Batch norm followed by its activation runs as one
fused pair (``fused_pairs``): statistics, then normalise + activate in one pass forward,
and the activation's gradient inside batch norm's partial sums backward.

With CuPy, a Linear layer's products run in cuBLAS straight between the workspace's
slots; the weight gradient is then written, not added: the step zeroed the gradients and
a plan writes each weight's gradient once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import cuda, float64

from fastfit._lib import lib
from fastfit.cuda import _act
from fastfit.cuda import _k_batchnorm as BN
from fastfit.cuda import kernels as K
from fastfit.cuda._device import THREADS, blocks, scratch
from fastfit.cuda._status import scalar

_RSQRT2 = 0.70710678118654752440
_RSQRT2PI = 0.39894228040143267794
TX, TY = BN.TX, BN.TY  # the batch-norm kernels' block shape (plain globals: shared array shapes)


class Pass(NamedTuple):
    """What every op of one pass shares (the twin of engine_ops.inc's ff_pass)."""

    cp: object          # CuPy, or None: products by the Numba GEMM
    seed: int           # dropout stream
    offset: int         # this step's first dropout counter (fastfit._epoch.dropout_offset)
    dtype: np.dtype


# ---- kernels ---------------------------------------------------------------------------------
@cuda.jit
def _k_bn_apply_act(z, y, x, mean, a, beta, n, c, act, alpha):
    """Batch norm's normalisation z = (x - mean) a + beta and the activation after it,
    y = act(z), in one pass (both are kept: the backward passes read them)."""
    rsqrt2 = y.dtype.type(_RSQRT2)
    for i in range(cuda.grid(1), n * c, cuda.gridsize(1)):
        j = i % c
        v = (x[i] - mean[j]) * a[j] + beta[j]
        z[i] = v
        y[i] = _act.forward(v, act, alpha, rsqrt2)


@cuda.jit
def _k_bn_bwd_stats_act(pd, px, dz, dy, z, y, x, mean, n, c, rb, act, alpha):
    """The activation's backward dz = dy * act'(z) fused into batch norm's backward
    partial sums (of dz and dz * (x - mean), as _k_bwd_stats); dz is written for the
    apply pass."""
    sh = cuda.shared.array((TY, TX), float64)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    j = cuda.blockIdx.x * TX + tx
    b = cuda.blockIdx.y
    T = dz.dtype.type
    rsqrt2 = T(_RSQRT2)
    rsqrt2pi = T(_RSQRT2PI)
    s = float64(0)
    q = float64(0)
    if j < c:
        m = mean[j]
        for r in range(b * rb + ty, min(n, (b + 1) * rb), TY):
            e = r * c + j
            g = _act.backward(dy[e], z[e], y[e], act, alpha, rsqrt2, rsqrt2pi)
            dz[e] = g
            s += float64(g)
            q += float64(g * (x[e] - m))
    s = BN._block_sum(sh, tx, ty, s)
    q = BN._block_sum(sh, tx, ty, q)
    if ty == 0 and j < c:
        pd[b * c + j] = s
        px[b * c + j] = q


@cuda.jit
def _k_col_sum_add(db, dy, n, c):
    """db[j] += sum over the n rows of dy[:, j] in one launch (a Linear layer's bias
    gradient for a batch): TY interleaved rows per column, combined in a fixed order."""
    sh = cuda.shared.array((TY, TX), float64)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    j = cuda.blockIdx.x * TX + tx
    s = float64(0)
    if j < c:
        for r in range(ty, n, TY):
            s += float64(dy[r * c + j])
    s = BN._block_sum(sh, tx, ty, s)
    if ty == 0 and j < c:
        db[j] = db.dtype.type(float64(db[j]) + s)


@cuda.jit
def _k_add_bias(y, b, n, c):
    """y[i, j] += b[j] (a Linear layer's bias after a cuBLAS product)."""
    for e in range(cuda.grid(1), n * c, cuda.gridsize(1)):
        y[e] += b[e % c]


@cuda.jit
def _k_copy(dst, src, n):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        dst[i] = src[i]


# ---- Linear ----------------------------------------------------------------------------------
def linear_forward(op, v, n, ps):
    if v.cx is not None:
        ps.cp.matmul(v.cx, v.cw, out=v.cy)
        if v.b is not None:
            _k_add_bias[blocks(v.len), THREADS](v.y, v.b, n, op.out)
    else:
        K.ff_linear_forward(v.y, v.x, v.w, v.b, n, op.in_, op.out)


def linear_backward(op, v, n, ps):
    if v.cx is not None:   # dx = dy w^T; dw = x^T dy written (see the module docstring)
        if v.cdx is not None:
            ps.cp.matmul(v.cdy, v.cw.T, out=v.cdx)
        ps.cp.matmul(v.cx.T, v.cdy, out=v.cgw)
    else:
        if v.dx is not None:
            K.ff_gemm(v.dx, v.dy, v.w, None, n, op.in_, op.out, op.out, op.out, op.in_,
                      False, True, 1.0, 0.0, 0, 0.0)
        K.ff_gemm(v.gw, v.x, v.dy, None, op.in_, op.out, n, op.in_, op.out, op.out, True,
                  False, 1.0, 1.0, 0, 0.0)
    if v.gb is not None:
        _k_col_sum_add[-(-op.out // TX), (TX, TY)](v.gb, v.dy, n, op.out)


# ---- BatchNorm -------------------------------------------------------------------------------
def batchnorm_forward(op, v, n, ps):
    K.ff_batchnorm_forward(v.y, v.mean, v.rstd, v.rmean, v.rvar, v.x, v.w, v.b, n, op.out, op.a,
                           op.a2)


def batchnorm_backward(op, v, n, ps):
    if v.dx is not None:
        K.ff_batchnorm_backward(v.dx, v.gw, v.gb, v.dy, v.x, v.w, v.mean, v.rstd, n, op.out)


def bn_act_forward(op, v, act_op, av, n, ps):
    """ff_batchnorm_forward (statistics, running statistics) with the activation fused
    into its normalisation pass."""
    c = op.out
    rb, nb, gx = BN._geometry(n, c)
    p_sum = scratch("bn_p", nb * c, np.float64)
    p_sq = scratch("bn_q", nb * c, np.float64)
    a = scratch("bn_a", c, ps.dtype)
    BN._k_fwd_stats[(gx, nb), (TX, TY)](p_sum, p_sq, v.x, n, c, rb)
    BN._k_fwd_finalize[gx, (TX, TY)](v.mean, v.rstd, v.rmean, v.rvar, a, p_sum, p_sq, v.x, v.w, n,
                                      c, nb, scalar(a, op.a), scalar(a, op.a2))
    _k_bn_apply_act[blocks(n * c), THREADS](v.y, av.y, v.x, v.mean, a, v.b, n, c, act_op.act,
                                            scalar(a, act_op.a))


def bn_act_backward(op, v, act_op, av, n, ps):
    """The activation's backward fused into ff_batchnorm_backward's first pass."""
    c = op.out
    rb, nb, gx = BN._geometry(n, c)
    pd = scratch("bn_p", nb * c, np.float64)
    px = scratch("bn_q", nb * c, np.float64)
    coef = scratch("bn_coef", 3 * c, ps.dtype)
    # av.dx is this batch norm's dy (the plan aliases them)
    _k_bn_bwd_stats_act[(gx, nb), (TX, TY)](pd, px, av.dx, av.dy, av.x, av.y, v.x, v.mean, n, c,
                                             rb, act_op.act, scalar(coef, act_op.a))
    BN._k_bwd_finalize[gx, (TX, TY)](v.gw, v.gb, coef, pd, px, v.w, v.rstd, n, c, nb)
    BN._k_bwd_apply[blocks(n * c), THREADS](v.dx, av.dx, v.x, v.mean, coef, n, c)


# ---- Activation ------------------------------------------------------------------------------
def activation_forward(op, v, n, ps):
    K.ff_activation_forward(v.y, v.x, v.len, op.act, op.a)


def activation_backward(op, v, n, ps):
    if v.dx is not None:
        K.ff_activation_backward(v.dx, v.dy, v.x, v.y, v.len, op.act, op.a)


# ---- Dropout ---------------------------------------------------------------------------------
def dropout_forward(op, v, n, ps):
    if op.a > 0:
        K.ff_dropout_forward(v.y, v.mask, v.x, v.len, op.a, ps.seed, ps.offset + v.mask_offset)
    else:
        _k_copy[blocks(v.len), THREADS](v.y, v.x, v.len)


def dropout_backward(op, v, n, ps):
    if v.dx is None:
        return
    if op.a > 0:
        K.ff_dropout_backward(v.dx, v.dy, v.mask, v.len, op.a)
    else:
        _k_copy[blocks(v.len), THREADS](v.dx, v.dy, v.len)


# ---- Skip (opens a residual block) -----------------------------------------------------------
def skip_forward(op, v, n, ps):
    if v.cx is not None:
        ps.cp.matmul(v.cx, v.cw, out=v.cy)
    elif op.w >= 0:
        K.ff_gemm(v.y, v.x, v.w, None, n, op.out, op.in_, op.in_, op.out, op.out, False, False,
                  1.0, 0.0, 0, 0.0)


def skip_backward(op, v, n, ps):
    if op.w >= 0:
        if v.cx is not None:
            ps.cp.matmul(v.cx.T, v.cdy, out=v.cgw)
        else:
            K.ff_gemm(v.gw, v.x, v.dy, None, op.in_, op.out, n, op.in_, op.out, op.out, True,
                      False, 1.0, 1.0, 0, 0.0)
        if v.dx is not None:  # added to the branch's dx: the twin's beta = 1
            K.ff_gemm(v.dx, v.dy, v.w, None, n, op.in_, op.out, op.out, op.out, op.in_, False,
                      True, 1.0, 1.0, 0, 0.0)
    elif v.dx is not None:
        K.ff_residual_backward(v.dx, v.dy, n * op.in_)


# ---- Add (closes it) -------------------------------------------------------------------------
def add_forward(op, v, n, ps):
    K.ff_residual_forward(v.y, v.x, v.z, v.len)


def add_backward(op, v, n, ps):
    """The branch's output gradient slot is the ADD's dy: nothing to do."""


#: enum ff_op_kind -> (forward, backward), as csrc/engine_ops.inc's ff_op_table
OPS = {
    lib.FF_OP_LINEAR: (linear_forward, linear_backward),
    lib.FF_OP_BATCHNORM: (batchnorm_forward, batchnorm_backward),
    lib.FF_OP_ACTIVATION: (activation_forward, activation_backward),
    lib.FF_OP_DROPOUT: (dropout_forward, dropout_backward),
    lib.FF_OP_SKIP: (skip_forward, skip_backward),
    lib.FF_OP_ADD: (add_forward, add_backward),
}


def fused_pairs(ops) -> set:
    """Indices i where batch norm op i and the activation op i + 1 run fused."""
    return {i for i in range(len(ops) - 1)
            if ops[i].kind == lib.FF_OP_BATCHNORM and ops[i + 1].kind == lib.FF_OP_ACTIVATION
            and ops[i + 1].x == ops[i].y and ops[i].dx >= 0 and ops[i + 1].dx >= 0
            and ops[i + 1].dx == ops[i].dy}


def forward(ops, views, fused, n, ps):
    """The plan's forward pass over n rows, in plan order."""
    i = 0
    while i < len(ops):
        if i in fused:
            bn_act_forward(ops[i], views[i], ops[i + 1], views[i + 1], n, ps)
            i += 2
            continue
        OPS[ops[i].kind][0](ops[i], views[i], n, ps)
        i += 1


def backward(ops, views, fused, n, ps):
    """The plan's backward pass, in reverse plan order."""
    for i in range(len(ops) - 1, -1, -1):
        if i - 1 in fused:
            continue  # the activation runs inside the batch norm's backward below
        if i in fused:
            bn_act_backward(ops[i], views[i], ops[i + 1], views[i + 1], n, ps)
            continue
        OPS[ops[i].kind][1](ops[i], views[i], n, ps)
