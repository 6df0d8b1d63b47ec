"""The activations element by element, as device functions (csrc/ff_act.inc's twins).

Shared by the activation kernels and the GEMM epilogue so the two cannot disagree.
Exact constants are written float32(...) (a bare 1 - x would be float64 in Numba and
drag a float32 kernel into double); inexact ones (1/sqrt(2), 1/sqrt(2 pi)) are made in
the value's own type with ``one * c`` where one = v's dtype, so float64 keeps them exact.
GELU uses libdevice's erfc in both dtypes (C uses a Chebyshev fit for float32; both
are within a few ulp of the exact value).
"""

from __future__ import annotations

from fastfit._lib import lib
from fastfit.cuda import _fmath as fm

from numba import cuda, float32

# enum ff_activation, from the compiled module (Numba folds module globals into constants)
IDENTITY = lib.FF_ACT_IDENTITY
RELU = lib.FF_ACT_RELU
LEAKY_RELU = lib.FF_ACT_LEAKY_RELU
TANH = lib.FF_ACT_TANH
SIGMOID = lib.FF_ACT_SIGMOID
GELU = lib.FF_ACT_GELU


@cuda.jit(device=True, inline=True)
def sigmoid(v):
    e = fm.exp(-abs(v))  # <= 1: never overflows
    r = float32(1) / (float32(1) + e)
    return r if v >= float32(0) else e * r


@cuda.jit(device=True, inline=True)
def normal_cdf(v, rsqrt2):
    # erfc(-v/sqrt2)/2: accurate in both tails, where (1 + erf)/2 cancels
    return float32(0.5) * fm.erfc(-v * rsqrt2)


@cuda.jit(device=True, inline=True)
def forward(v, act, alpha, rsqrt2):
    """act(v); rsqrt2 = 1/sqrt(2) in v's dtype."""
    if act == RELU:
        return float32(0) if v < float32(0) else v  # NaN propagates, as torch.relu
    if act == LEAKY_RELU:
        return alpha * v if v < float32(0) else v
    if act == TANH:
        return fm.tanh(v)
    if act == SIGMOID:
        return sigmoid(v)
    if act == GELU:
        return v * normal_cdf(v, rsqrt2)
    return v


@cuda.jit(device=True, inline=True)
def gelu_grad(v, rsqrt2, rsqrt2pi):
    """d/dv [v Phi(v)] = Phi(v) + v phi(v)."""
    return normal_cdf(v, rsqrt2) + v * (fm.exp(float32(-0.5) * (v * v)) * rsqrt2pi)


@cuda.jit(device=True, inline=True)
def backward(dy, x, y, act, alpha, rsqrt2, rsqrt2pi):
    """dy * act'(x), reading y where the C kernel does (relu/tanh/sigmoid, leaky with alpha >= 0)."""
    if act == RELU:
        return dy if y > float32(0) else float32(0)  # relu'(0) = 0, as torch
    if act == LEAKY_RELU:
        s = y if alpha >= float32(0) else x  # y's sign is x's only for a non-negative slope
        return dy if s > float32(0) else dy * alpha
    if act == TANH:
        return dy * (float32(1) - y * y)
    if act == SIGMOID:
        return dy * (y * (float32(1) - y))
    if act == GELU:
        return dy * gelu_grad(x, rsqrt2, rsqrt2pi)
    return dy
