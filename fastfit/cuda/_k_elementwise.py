"""Elementwise kernels: activations, softmax, dropout, residual (csrc/activation.inc,
dropout.inc, residual.inc).

Each ``ff_*`` function here is the twin of the C kernel of the same name (without the
dtype suffix: Numba compiles one specialisation per argument dtype from one body),
takes device arrays in the C argument order and returns an ``FF_*`` status. The raw
``@cuda.jit`` kernels are the ``_k_*`` functions; ``KERNELS`` lists them with the
argument types to compile them for a real target.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32, float64, uint64

from fastfit.cuda import _act
from fastfit.cuda import _fmath as fm
from fastfit.cuda._device import THREADS, blocks, flat
from fastfit.cuda._philox import philox4x32, pick
from fastfit.cuda._status import FF_EBADARG, FF_OK, scalar

_RSQRT2 = 0.70710678118654752440
_RSQRT2PI = 0.39894228040143267794


@cuda.jit
def _k_activation_forward(y, x, n, act, alpha):
    T = y.dtype.type
    rsqrt2 = T(_RSQRT2)
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        y[i] = _act.forward(x[i], act, alpha, rsqrt2)


@cuda.jit
def _k_activation_backward(dx, dy, x, y, n, act, alpha):
    T = dx.dtype.type
    rsqrt2 = T(_RSQRT2)
    rsqrt2pi = T(_RSQRT2PI)
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        dx[i] = _act.backward(dy[i], x[i], y[i], act, alpha, rsqrt2, rsqrt2pi)


@cuda.jit
def _k_softmax_forward(y, x, n, c):
    # one thread per row: softmax serves predict_proba, rows are short
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        base = i * c
        m = x[base]
        for j in range(1, c):
            v = x[base + j]
            m = v if v > m else m
        s = float32(0)
        for j in range(c):
            e = fm.exp(x[base + j] - m)
            y[base + j] = e
            s += e
        inv = float32(1) / s
        for j in range(c):
            y[base + j] *= inv


@cuda.jit
def _k_dropout_forward(y, mask, x, n, p, seed, offset):
    # One thread per Philox block: counters offset .. offset+n-1 cover blocks
    # offset>>2 onward; the first block may start `head` words before element 0.
    thr = uint64(math.ceil(float64(float32(p)) * 4294967296.0))  # p rounded to float, as C
    scale = float32(1) / (float32(1) - p)
    head = np.int64(offset & np.uint64(3))
    b0 = offset >> np.uint64(2)
    nblk = (n + head + 3) // 4
    for t in range(cuda.grid(1), nblk, cuda.gridsize(1)):
        c0, c1, c2, c3 = philox4x32(seed, b0 + uint64(t), uint64(0))
        for w in range(4):
            i = t * 4 + w - head
            if i >= 0 and i < n:
                keep = pick(c0, c1, c2, c3, w) >= thr
                mask[i] = 1 if keep else 0
                y[i] = x[i] * scale if keep else float32(0)


@cuda.jit
def _k_dropout_backward(dx, dy, mask, n, p):
    scale = float32(1) / (float32(1) - p)
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        dx[i] = dy[i] * scale if mask[i] != 0 else float32(0)


@cuda.jit
def _k_residual_forward(y, x, fx, n):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        y[i] = x[i] + fx[i]


@cuda.jit
def _k_residual_backward(dx, dy, n):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        dx[i] += dy[i]


# ---- C-twin launchers ------------------------------------------------------------------

def ff_activation_forward(y, x, n, act, alpha):
    if n < 0 or not 0 <= act <= _act.GELU:
        return FF_EBADARG
    if n:
        _k_activation_forward[blocks(n), THREADS](flat(y), flat(x), n, act, scalar(y, alpha))
    return FF_OK


def ff_activation_backward(dx, dy, x, y, n, act, alpha):
    if n < 0 or not 0 <= act <= _act.GELU:
        return FF_EBADARG
    if n == 0:
        return FF_OK
    needs_x = act == _act.GELU or (act == _act.LEAKY_RELU and alpha < 0)
    needs_y = act in (_act.RELU, _act.TANH, _act.SIGMOID) or (act == _act.LEAKY_RELU and alpha >= 0)
    if (needs_x and x is None) or (needs_y and y is None):
        return FF_EBADARG
    # an unused NULL x or y reads dy instead, as the C kernel does
    xs = flat(x) if x is not None else flat(dy)
    ys = flat(y) if y is not None else flat(dy)
    _k_activation_backward[blocks(n), THREADS](flat(dx), flat(dy), xs, ys, n, act, scalar(dx, alpha))
    return FF_OK


def ff_softmax_forward(y, x, n, c):
    if n < 0 or c < 0:
        return FF_EBADARG
    if n and c:
        _k_softmax_forward[blocks(n), THREADS](flat(y), flat(x), n, c)
    return FF_OK


def ff_dropout_forward(y, mask, x, n, p, seed, offset):
    if n < 0 or not 0 <= p < 1:
        return FF_EBADARG
    if n:
        offset = np.uint64(offset)
        nblk = (n + int(offset & np.uint64(3)) + 3) // 4
        _k_dropout_forward[blocks(nblk), THREADS](flat(y), flat(mask), flat(x), n, scalar(y, p),
                                                  np.uint64(seed), offset)
    return FF_OK


def ff_dropout_backward(dx, dy, mask, n, p):
    if n < 0 or not 0 <= p < 1:
        return FF_EBADARG
    if n:
        _k_dropout_backward[blocks(n), THREADS](flat(dx), flat(dy), flat(mask), n, scalar(dx, p))
    return FF_OK


def ff_residual_forward(y, x, fx, n):
    if n < 0:
        return FF_EBADARG
    if n:
        _k_residual_forward[blocks(n), THREADS](flat(y), flat(x), flat(fx), n)
    return FF_OK


def ff_residual_backward(dx, dy, n):
    if n < 0:
        return FF_EBADARG
    if n:
        _k_residual_backward[blocks(n), THREADS](flat(dx), flat(dy), n)
    return FF_OK
