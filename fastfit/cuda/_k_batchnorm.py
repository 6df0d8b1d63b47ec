"""Batch normalisation over the rows of (N, C), and the column sums of sum_rows
(csrc/batchnorm.inc, linear.inc).

Each pass is three launches: per-(row block, column) partial sums in double, a
per-column finalisation that adds the partials in block order (the same bits for any
launch geometry, like the C kernels' fixed blocking), and an elementwise pass over N*C
that reads the per-column coefficients. A block of 32 x 8 threads covers 32 columns
(coalesced row segments) and 8 interleaved rows; its 8 partial sums are added by one
thread in a fixed order, not by atomics.

The row block length depends on N only, so results do not depend on the device.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64

from fastfit.cuda._device import SIMULATOR, THREADS, blocks, flat, scratch
from fastfit.cuda._status import FF_EBADARG, FF_OK, scalar

# columns x interleaved rows per block (fewer rows under the simulator, which runs each
# thread as a Python thread; the kernels are written for any TY)
TX, TY = 32, (2 if SIMULATOR else 8)


def rows_per_block(n: int) -> int:
    """Rows of one partial sum: at least 128, at most 512 blocks of rows."""
    return max(128, -(-n // 512))


@cuda.jit(device=True, inline=True)
def _block_sum(sh, tx, ty, acc):
    """Sum of acc over the block's TY rows of threads, for column tx (valid in ty == 0)."""
    sh[ty, tx] = acc
    cuda.syncthreads()
    total = float64(0)
    if ty == 0:
        for k in range(TY):
            total += sh[k, tx]
    cuda.syncthreads()  # sh may be reused next
    return total


@cuda.jit
def _k_fwd_stats(ps, pq, x, n, c, rb):
    """ps, pq (nb, c): sums of (x - x[0]) and its square over row block blockIdx.y."""
    sh = cuda.shared.array((TY, TX), float64)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    j = cuda.blockIdx.x * TX + tx
    b = cuda.blockIdx.y
    s = float64(0)
    q = float64(0)
    if j < c:
        shift = x[j]  # first row: a large mean does not cancel the variance away
        for r in range(b * rb + ty, min(n, (b + 1) * rb), TY):
            d = x[r * c + j] - shift
            s += float64(d)
            q += float64(d * d)
    s = _block_sum(sh, tx, ty, s)
    q = _block_sum(sh, tx, ty, q)
    if ty == 0 and j < c:
        ps[b * c + j] = s
        pq[b * c + j] = q


@cuda.jit
def _k_bwd_stats(pd, px, dy, x, mean, n, c, rb):
    """pd, px (nb, c): sums of dy and dy * (x - mean) over row block blockIdx.y."""
    sh = cuda.shared.array((TY, TX), float64)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    j = cuda.blockIdx.x * TX + tx
    b = cuda.blockIdx.y
    s = float64(0)
    q = float64(0)
    if j < c:
        m = mean[j]
        for r in range(b * rb + ty, min(n, (b + 1) * rb), TY):
            g = dy[r * c + j]
            s += float64(g)
            q += float64(g * (x[r * c + j] - m))
    s = _block_sum(sh, tx, ty, s)
    q = _block_sum(sh, tx, ty, q)
    if ty == 0 and j < c:
        pd[b * c + j] = s
        px[b * c + j] = q


@cuda.jit(device=True, inline=True)
def _combine(sh, p, nb, c, j, tx, ty):
    """Sum over the nb row blocks of partial p[:, j], in a fixed order."""
    acc = float64(0)
    if j < c:
        for b in range(ty, nb, TY):
            acc += p[b * c + j]
    return _block_sum(sh, tx, ty, acc)


@cuda.jit
def _k_fwd_finalize(mean, rstd, rmean, rvar, a, ps, pq, x, gamma, n, c, nb, eps, momentum):
    sh = cuda.shared.array((TY, TX), float64)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    j = cuda.blockIdx.x * TX + tx
    s = _combine(sh, ps, nb, c, j, tx, ty)
    q = _combine(sh, pq, nb, c, j, tx, ty)
    if ty == 0 and j < c:
        T = mean.dtype.type
        inv_n = 1.0 / float64(n)
        m = s * inv_n
        var = q * inv_n - m * m
        if var < 0:  # rounding; NaN passes through
            var = 0.0
        mu = float64(x[j]) + m
        r = T(1.0 / math.sqrt(var + float64(eps)))
        mean[j] = T(mu)
        rstd[j] = r
        a[j] = T(float64(gamma[j]) * float64(r))
        if n > 1:  # one row says nothing about the variance: leave running stats
            mom = float64(momentum)
            if rmean is not None:
                rmean[j] = T((1.0 - mom) * float64(rmean[j]) + mom * mu)
            if rvar is not None:
                unbias = float64(n) / float64(n - 1)
                rvar[j] = T((1.0 - mom) * float64(rvar[j]) + mom * var * unbias)


@cuda.jit
def _k_bwd_finalize(dgamma, dbeta, coef, pd, px, gamma, rstd, n, c, nb):
    """dgamma, dbeta accumulate; coef = (A, B, K) with dx = A dy + B (x - mean) + K."""
    sh = cuda.shared.array((TY, TX), float64)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    j = cuda.blockIdx.x * TX + tx
    sum_dy = _combine(sh, pd, nb, c, j, tx, ty)
    sum_dyx = _combine(sh, px, nb, c, j, tx, ty)
    if ty == 0 and j < c:
        T = dgamma.dtype.type
        inv_n = 1.0 / float64(n)
        r = float64(rstd[j])
        g = float64(gamma[j])
        sum_dyxhat = sum_dyx * r
        dbeta[j] = T(float64(dbeta[j]) + sum_dy)
        dgamma[j] = T(float64(dgamma[j]) + sum_dyxhat)
        coef[j] = T(g * r)
        coef[c + j] = T(-g * r * r * sum_dyxhat * inv_n)
        coef[2 * c + j] = T(-g * r * sum_dy * inv_n)


@cuda.jit
def _k_fwd_apply(y, x, mean, a, beta, n, c):
    for i in range(cuda.grid(1), n * c, cuda.gridsize(1)):
        j = i % c
        y[i] = (x[i] - mean[j]) * a[j] + beta[j]


@cuda.jit
def _k_bwd_apply(dx, dy, x, mean, coef, n, c):
    for i in range(cuda.grid(1), n * c, cuda.gridsize(1)):
        j = i % c
        dx[i] = coef[j] * dy[i] + (coef[c + j] * (x[i] - mean[j]) + coef[2 * c + j])


@cuda.jit
def _k_inference_coef(a, gamma, running_var, c, eps):
    T = a.dtype.type
    for j in range(cuda.grid(1), c, cuda.gridsize(1)):
        a[j] = T(float64(gamma[j]) / math.sqrt(float64(running_var[j]) + float64(eps)))


@cuda.jit
def _k_col_sums(ps, dy, n, c, rb):
    """ps (nb, c): column sums of dy over row block blockIdx.y (sum_rows' partials)."""
    sh = cuda.shared.array((TY, TX), float64)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    j = cuda.blockIdx.x * TX + tx
    b = cuda.blockIdx.y
    s = float64(0)
    if j < c:
        for r in range(b * rb + ty, min(n, (b + 1) * rb), TY):
            s += float64(dy[r * c + j])
    s = _block_sum(sh, tx, ty, s)
    if ty == 0 and j < c:
        ps[b * c + j] = s


@cuda.jit
def _k_col_add(db, ps, c, nb):
    """db[j] += sum over row blocks of ps[:, j]."""
    sh = cuda.shared.array((TY, TX), float64)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    j = cuda.blockIdx.x * TX + tx
    s = _combine(sh, ps, nb, c, j, tx, ty)
    if ty == 0 and j < c:
        db[j] = db.dtype.type(float64(db[j]) + s)


# ---- C-twin launchers ------------------------------------------------------------------

def _geometry(n, c):
    rb = rows_per_block(n)
    nb = -(-n // rb)
    return rb, nb, -(-c // TX)


def ff_batchnorm_forward(y, mean, rstd, running_mean, running_var, x, gamma, beta, n, c, eps,
                         momentum):
    if n < 0 or c < 0 or not (eps >= 0 and 0 <= momentum <= 1):
        return FF_EBADARG
    if n == 0 or c == 0:
        return FF_OK
    rb, nb, gx = _geometry(n, c)
    x, y = flat(x), flat(y)
    ps = scratch("bn_p", nb * c, np.float64)
    pq = scratch("bn_q", nb * c, np.float64)
    a = scratch("bn_a", c, x.dtype)
    _k_fwd_stats[(gx, nb), (TX, TY)](ps, pq, x, n, c, rb)
    _k_fwd_finalize[gx, (TX, TY)](mean, rstd, running_mean, running_var, a, ps, pq, x, gamma, n, c,
                                  nb, scalar(x, eps), scalar(x, momentum))
    _k_fwd_apply[blocks(n * c), THREADS](y, x, mean, a, beta, n, c)
    return FF_OK


def ff_batchnorm_inference(y, x, gamma, beta, running_mean, running_var, n, c, eps):
    if n < 0 or c < 0 or not eps >= 0:
        return FF_EBADARG
    if n == 0 or c == 0:
        return FF_OK
    a = scratch("bn_a", c, x.dtype)
    _k_inference_coef[blocks(c), THREADS](a, gamma, running_var, c, scalar(x, eps))
    _k_fwd_apply[blocks(n * c), THREADS](flat(y), flat(x), running_mean, a, beta, n, c)
    return FF_OK


def ff_batchnorm_backward(dx, dgamma, dbeta, dy, x, gamma, mean, rstd, n, c):
    if n < 0 or c < 0:
        return FF_EBADARG
    if n == 0 or c == 0:
        return FF_OK
    rb, nb, gx = _geometry(n, c)
    dx, dy, x = flat(dx), flat(dy), flat(x)
    pd = scratch("bn_p", nb * c, np.float64)
    px = scratch("bn_q", nb * c, np.float64)
    coef = scratch("bn_coef", 3 * c, x.dtype)
    _k_bwd_stats[(gx, nb), (TX, TY)](pd, px, dy, x, mean, n, c, rb)
    _k_bwd_finalize[gx, (TX, TY)](dgamma, dbeta, coef, pd, px, gamma, rstd, n, c, nb)
    _k_bwd_apply[blocks(n * c), THREADS](dx, dy, x, mean, coef, n, c)
    return FF_OK


def ff_sum_rows(db, dy, n, out):
    if n < 0 or out < 0:
        return FF_EBADARG
    if n == 0 or out == 0:
        return FF_OK
    rb, nb, gx = _geometry(n, out)
    ps = scratch("sum_rows_p", nb * out, np.float64)
    _k_col_sums[(gx, nb), (TX, TY)](ps, flat(dy), n, out, rb)
    _k_col_add[gx, (TX, TY)](db, ps, out, nb)
    return FF_OK
