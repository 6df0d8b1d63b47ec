"""Data kernels: row gather, the Fisher-Yates shuffle and initialisation (csrc/data.c,
data.inc), drawing the same Philox4x32-10 words as the C kernels.

The shuffle is inherently serial (each swap depends on the previous ones), but its
partners depend only on the position i, as in the C kernel: one launch draws them all
in parallel, then a single thread applies the n - 1 swaps in Fisher-Yates order. That
is the same permutation as ``ff_shuffle_i64`` for the same (seed, stream), and it is
slow on a GPU (one thread, ~n dependent memory round trips): shuffle on the host or
once per epoch, not per step.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64, int64, uint64

from fastfit.cuda import _fmath as fm
from fastfit.cuda._device import THREADS, blocks, flat, scratch
from fastfit.cuda._philox import DOMAIN_INIT, S32, U32, mul64, philox4x32, pick
from fastfit.cuda._status import FF_EBADARG, FF_OK

SHUFFLE_MAX_N = 1 << 48
_RETRY_STEP = np.uint64(1 << 48)
_MAX_RETRY_BLOCKS = 65536
_TWO32 = np.uint64(1 << 32)
_MAX64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_TWO_PI = 6.283185307179586476925
_TWO_M53 = 2.0 ** -53


@cuda.jit
def _k_gather_rows(out, bad, x, idx, b, d, n):
    for e in range(cuda.grid(1), b * d, cuda.gridsize(1)):
        r = e // d
        s = idx[r]
        if s < 0 or s >= n:
            bad[0] = 1  # the row is left unwritten, as in C
        else:
            out[e] = x[s * d + e - r * d]


@cuda.jit
def _k_check_idx(bad, idx, b, n):
    for r in range(cuda.grid(1), b, cuda.gridsize(1)):
        if idx[r] < 0 or idx[r] >= n:
            bad[0] = 1


@cuda.jit(device=True, inline=True)
def shuffle_partner(seed, stream, i):
    """Position i's swap partner j in [0, i], unbiased (Lemire with rejection): the C
    kernel's ff_shuffle_partner, word for word."""
    rng = i + uint64(1)
    c0, c1, c2, c3 = philox4x32(seed, i, stream)
    if rng <= U32:
        m = c0 * rng
        if (m & U32) < rng:
            threshold = (_TWO32 - rng) % rng  # 2^32 mod range
            word = 1
            retry = 0
            while (m & U32) < threshold:
                if word == 4:
                    retry += 1
                    if retry == _MAX_RETRY_BLOCKS:
                        break
                    c0, c1, c2, c3 = philox4x32(seed, i + uint64(retry) * _RETRY_STEP, stream)
                    word = 0
                m = pick(c0, c1, c2, c3, word) * rng
                word += 1
        return int64(m >> S32)
    # 64-bit draws from the word pairs (c0, c1), (c2, c3)
    hi, lo = mul64(c0 | (c1 << S32), rng)
    if lo < rng:
        threshold = ((_MAX64 - rng) + uint64(1)) % rng  # 2^64 mod range
        pair = 1
        retry = 0
        while lo < threshold:
            if pair == 2:
                retry += 1
                if retry == _MAX_RETRY_BLOCKS:
                    break
                c0, c1, c2, c3 = philox4x32(seed, i + uint64(retry) * _RETRY_STEP, stream)
                pair = 0
            xw = (c0 | (c1 << S32)) if pair == 0 else (c2 | (c3 << S32))
            hi, lo = mul64(xw, rng)
            pair += 1
    return int64(hi)


@cuda.jit
def _k_shuffle_partners(partner, n, seed, stream):
    for i in range(cuda.grid(1) + 1, n, cuda.gridsize(1)):
        partner[i] = shuffle_partner(seed, stream, uint64(i))


@cuda.jit
def _k_shuffle_swaps(perm, partner, n):
    # serial by nature: one thread, the C kernel's swap order
    if cuda.grid(1) == 0:
        for i in range(n - 1, 0, -1):
            j = partner[i]
            t = perm[i]
            perm[i] = perm[j]
            perm[j] = t


@cuda.jit
def _k_init(w, n, scale, normal, seed, offset):
    T = w.dtype.type
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        c0, c1, c2, c3 = philox4x32(seed, offset + uint64(i), DOMAIN_INIT)
        a = c0 | (c1 << S32)
        if normal:
            # Box-Muller, cosine branch, in double for both dtypes (as C)
            u1 = float64((a >> uint64(11)) + uint64(1)) * _TWO_M53
            u2 = float64((c2 | (c3 << S32)) >> uint64(11)) * _TWO_M53
            z = fm.sqrt(-2.0 * fm.log(u1)) * fm.cos(_TWO_PI * u2)
        else:
            z = 2.0 * (float64(a >> uint64(11)) * _TWO_M53) - 1.0
        w[i] = T(scale * z)


# ---- C-twin launchers ------------------------------------------------------------------

def _flag():
    bad = scratch("data_bad", 1, np.int32)
    bad.copy_to_device(np.zeros(1, np.int32))
    return bad


def ff_gather_rows(out, x, idx, b, d, n):
    if b < 0 or d < 0 or n < 0:
        return FF_EBADARG
    if b == 0:
        return FF_OK
    bad = _flag()
    if d == 0:  # nothing to copy, but the indices must still be rows
        _k_check_idx[blocks(b), THREADS](bad, idx, b, n)
    else:
        _k_gather_rows[blocks(b * d), THREADS](flat(out), bad, flat(x), idx, b, d, n)
    return FF_EBADARG if bad.copy_to_host()[0] else FF_OK


def ff_gather_i64(out, x, idx, b, n):
    return ff_gather_rows(out, x, idx, b, 1, n)


def ff_shuffle_i64(perm, n, seed, stream):
    if not 0 <= n <= SHUFFLE_MAX_N:
        return FF_EBADARG
    if n < 2:
        return FF_OK
    partner = scratch("shuffle_partner", n, np.int64)
    _k_shuffle_partners[blocks(n), THREADS](partner, n, np.uint64(seed), np.uint64(stream))
    _k_shuffle_swaps[1, 1](perm, partner, n)
    return FF_OK


def ff_init(w, n, fan_in, fan_out, scheme, gain, seed, offset):
    if n < 0 or fan_in < 1 or fan_out < 1 or scheme not in range(4):
        return FF_EBADARG
    if not (gain >= 0 and math.isfinite(gain)):
        return FF_EBADARG
    if n == 0:
        return FF_OK
    normal = scheme in (0, 2)  # FF_INIT_HE_NORMAL, FF_INIT_GLOROT_NORMAL
    fan = float(fan_in + fan_out) if scheme >= 2 else float(fan_in)
    gain = float(w.dtype.type(gain))  # FF_T gain, as in C
    scale = gain * math.sqrt((2.0 if normal else 6.0) / fan)
    _k_init[blocks(n), THREADS](flat(w), n, float64(scale), normal, np.uint64(seed), np.uint64(offset))
    return FF_OK


@cuda.jit
def _k_philox_u32(out, n, seed, offset):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        ctr = offset + uint64(i)
        c0, c1, c2, c3 = philox4x32(seed, ctr >> uint64(2), uint64(0))
        out[i] = pick(c0, c1, c2, c3, ctr & uint64(3))


@cuda.jit
def _k_count_nonfinite(count, x, n):
    local = 0
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        v = x[i]
        if not (v - v == 0):  # NaN and +-inf: v - v is NaN exactly for them
            local += 1
    if local:
        cuda.atomic.add(count, 0, local)  # integer counts: any arrival order, same total


def ff_philox_u32(out, n, seed, offset):
    if n < 0:
        return FF_EBADARG
    if n:
        _k_philox_u32[blocks(n), THREADS](flat(out), n, np.uint64(seed), np.uint64(offset))
    return FF_OK


def ff_count_nonfinite(count, x, n):
    """count: an int64 device array of length >= 1."""
    if n < 0:
        return FF_EBADARG
    count[0:1].copy_to_device(np.zeros(1, np.int64))
    if n:
        _k_count_nonfinite[blocks(n), THREADS](count, flat(x), n)
    return FF_OK
