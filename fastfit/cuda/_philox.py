"""Philox4x32-10 as device functions: the same words as csrc/ff_random.h.

All arithmetic is in uint64 with explicit 32-bit masks: a 32x32-bit product fits in 64
bits, and no operation wraps, so the simulator (NumPy scalars, which warn on overflow)
and the compiled code agree. Mixing uint64 with a signed integer would promote to
float64 in Numba, hence every constant here is a uint64.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

U32 = np.uint64(0xFFFFFFFF)
S32 = np.uint64(32)
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
#: The stream (ctr_hi) of ff_init: "init" in the high word (FF_PHILOX_DOMAIN_INIT).
DOMAIN_INIT = np.uint64(0x696E6974 << 32)


@cuda.jit(device=True, inline=True)
def philox4x32(key, ctr_lo, ctr_hi):
    """The four 32-bit words (as uint64) of the block at counter (ctr_lo, ctr_hi)."""
    c0 = ctr_lo & U32
    c1 = ctr_lo >> S32
    c2 = ctr_hi & U32
    c3 = ctr_hi >> S32
    k0 = key & U32
    k1 = key >> S32
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        n0 = (p1 >> S32) ^ c1 ^ k0
        n2 = (p0 >> S32) ^ c3 ^ k1
        c1 = p1 & U32
        c3 = p0 & U32
        c0 = n0
        c2 = n2
        k0 = (k0 + _W0) & U32
        k1 = (k1 + _W1) & U32
    return c0, c1, c2, c3


@cuda.jit(device=True, inline=True)
def pick(c0, c1, c2, c3, w):
    """Word w (0..3) of a block."""
    if w == 0:
        return c0
    if w == 1:
        return c1
    if w == 2:
        return c2
    return c3


@cuda.jit(device=True, inline=True)
def mul64(a, b):
    """(hi, lo) of the 128-bit product of two uint64, from 32-bit halves."""
    al = a & U32
    ah = a >> S32
    bl = b & U32
    bh = b >> S32
    p0 = al * bl
    p1 = al * bh
    p2 = ah * bl
    mid = (p0 >> S32) + (p1 & U32) + (p2 & U32)
    lo = (p0 & U32) | ((mid & U32) << S32)
    hi = ah * bh + (p1 >> S32) + (p2 >> S32) + (mid >> S32)
    return hi, lo
