"""Matrix products: cuBLAS through CuPy when it imports, else a tiled Numba kernel
(csrc/gemm.inc's twin, with the same fused epilogue).

c = act(alpha * op(a) @ op(b) + beta * c + bias) over flat row-major buffers with
leading dimensions, as ``ff_gemm``. With CuPy, the product runs in cuBLAS on zero-copy
views (``__cuda_array_interface__``) into a scratch buffer and one Numba kernel applies
the epilogue. The fallback kernel stages 16 x 16 tiles of op(a) and op(b) in shared
memory; it is correct but far from cuBLAS (~15% of it was measured on an H200).
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float32

from fastfit.cuda import _act
from fastfit.cuda._device import SIMULATOR, THREADS, blocks, flat, scratch
from fastfit.cuda._status import FF_EBADARG, FF_OK, scalar

TILE = 8 if SIMULATOR else 16  # smaller under the simulator (a Python thread per CUDA thread)
_RSQRT2 = 0.70710678118654752440


def cupy_module():
    """CuPy, if it imports and a device is there (never under the simulator)."""
    if SIMULATOR:
        return None
    try:
        import cupy
    except Exception:  # noqa: BLE001 - any failure means: use the Numba kernel
        return None
    return cupy


@cuda.jit(device=True, inline=True)
def _epilogue(acc, cold, bias, j, alpha, beta, use_prod, act, act_alpha, rsqrt2):
    v = alpha * acc if use_prod else float32(0)  # p is unread without a product
    if beta != 0:  # beta == 0 never reads c (it may hold NaN)
        v += beta * cold
    if bias is not None:
        v += bias[j]
    return _act.forward(v, act, act_alpha, rsqrt2)


@cuda.jit
def _k_gemm_tiled(c, a, b, bias, m, n, k, lda, ldb, ldc, trans_a, trans_b, alpha, beta, act,
                  act_alpha):
    sa = cuda.shared.array((TILE, TILE), c.dtype)
    sb = cuda.shared.array((TILE, TILE), c.dtype)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    row = cuda.blockIdx.y * TILE + ty
    col = cuda.blockIdx.x * TILE + tx
    use_prod = alpha != 0 and k > 0
    acc = c.dtype.type(0)
    if use_prod:
        for k0 in range(0, k, TILE):
            ka = k0 + tx
            kb = k0 + ty
            va = float32(0)
            if row < m and ka < k:
                va = a[ka * lda + row] if trans_a else a[row * lda + ka]
            vb = float32(0)
            if kb < k and col < n:
                vb = b[col * ldb + kb] if trans_b else b[kb * ldb + col]
            sa[ty, tx] = va
            sb[ty, tx] = vb
            cuda.syncthreads()
            for q in range(TILE):
                acc += sa[ty, q] * sb[q, tx]
            cuda.syncthreads()
    if row < m and col < n:
        cold = c[row * ldc + col] if beta != 0 else acc
        c[row * ldc + col] = _epilogue(acc, cold, bias, col, alpha, beta, use_prod, act, act_alpha,
                                       c.dtype.type(_RSQRT2))


@cuda.jit
def _k_epilogue(c, p, bias, m, n, ldc, alpha, beta, use_prod, act, act_alpha):
    """c = act(alpha * p + beta * c + bias) after a cuBLAS product p (m, n) contiguous."""
    rsqrt2 = c.dtype.type(_RSQRT2)
    for e in range(cuda.grid(1), m * n, cuda.gridsize(1)):
        i = e // n
        j = e - i * n
        idx = i * ldc + j
        cold = c[idx] if beta != 0 else p[e]
        c[idx] = _epilogue(p[e], cold, bias, j, alpha, beta, use_prod, act, act_alpha, rsqrt2)


def _cublas_product(cp, a, b, m, n, k, lda, ldb, trans_a, trans_b, dtype):
    """op(a) @ op(b) (m, n) in a scratch buffer, by cuBLAS on zero-copy views."""
    item = np.dtype(dtype).itemsize

    def view(buf, rows, cols, ld):
        arr = cp.asarray(buf)  # zero-copy through __cuda_array_interface__
        mem = arr.data
        return cp.ndarray((rows, cols), dtype=dtype, memptr=mem, strides=(ld * item, item))

    A = view(a, k, m, lda).T if trans_a else view(a, m, k, lda)
    B = view(b, n, k, ldb).T if trans_b else view(b, k, n, ldb)
    p = scratch("gemm_p", m * n, dtype)
    cp.matmul(A, B, out=cp.asarray(p).reshape(m, n))
    return p


def ff_gemm(c, a, b, bias, m, n, k, lda, ldb, ldc, trans_a, trans_b, alpha, beta, act, act_alpha):
    if min(m, n, k) < 0 or not 0 <= act <= _act.GELU:
        return FF_EBADARG
    if ldc < max(n, 1) or lda < max(m if trans_a else k, 1) or ldb < max(k if trans_b else n, 1):
        return FF_EBADARG
    if m == 0 or n == 0:
        return FF_OK
    c, a, b = flat(c), flat(a), flat(b)
    T = lambda x: scalar(c, x)  # noqa: E731
    use_prod = alpha != 0 and k > 0
    cp = cupy_module()
    if cp is not None:
        p = _cublas_product(cp, a, b, m, n, k, lda, ldb, trans_a, trans_b, c.dtype) if use_prod \
            else scratch("gemm_p", m * n, c.dtype)
        _k_epilogue[blocks(m * n), THREADS](c, p, bias, m, n, ldc, T(alpha), T(beta), use_prod, act,
                                            T(act_alpha))
        return FF_OK
    grid = (-(-n // TILE), -(-m // TILE))
    _k_gemm_tiled[grid, (TILE, TILE)](c, a, b, bias, m, n, k, lda, ldb, ldc, bool(trans_a),
                                      bool(trans_b), T(alpha), T(beta), act, T(act_alpha))
    return FF_OK


def ff_linear_forward(y, x, w, b, n, in_, out):
    if min(n, in_, out) < 0:
        return FF_EBADARG
    return ff_gemm(y, x, w, b, n, out, in_, max(in_, 1), max(out, 1), max(out, 1), False, False,
                   1.0, 0.0, _act.IDENTITY, 0.0)


def ff_linear_backward(dx, dw, db, dy, x, w, n, in_, out):
    """dx = dy @ w.T (written, skipped if None), dw += x.T @ dy, db += sum_rows(dy)."""
    from fastfit.cuda._k_batchnorm import ff_sum_rows

    if min(n, in_, out) < 0:
        return FF_EBADARG
    ld_in, ld_out = max(in_, 1), max(out, 1)
    if dx is not None:
        status = ff_gemm(dx, dy, w, None, n, in_, out, ld_out, ld_out, ld_in, False, True, 1.0, 0.0,
                         _act.IDENTITY, 0.0)
        if status:
            return status
    status = ff_gemm(dw, x, dy, None, in_, out, n, ld_in, ld_out, ld_out, True, False, 1.0, 1.0,
                     _act.IDENTITY, 0.0)
    if status or db is None:
        return status
    return ff_sum_rows(db, dy, n, out)
