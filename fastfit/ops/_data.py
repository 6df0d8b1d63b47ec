"""Data-side kernels: batch gather, the epoch shuffle, weight initialisation, the raw
Philox4x32-10 stream, and finiteness checks.

All randomness is counter-based (Philox4x32-10 keyed by ``seed``): a value depends only
on ``(seed, stream or offset, index)``, so results are the same for any thread count and
any slice of an initialisation can be regenerated on its own.
"""

from __future__ import annotations


import numpy as np

from fastfit._lib import check_status, ffi, float_array, index_array, kernel, lib, ptr
from fastfit.ops._args import gather_source, gather_status, init_args, philox_args, shuffle_args
from fastfit.ops._out import Out, outputs

__all__ = ["gather_rows", "shuffle", "init_weights", "philox_u32", "count_nonfinite", "is_finite"]


def gather_rows(x, idx, *, out=None):
    """Rows of ``x`` picked by ``idx``: ``out[r] = x[idx[r]]``.

    Parameters
    ----------
    x : ndarray of shape (N,) or (N, D)
        float32, float64, or (for labels) int64.
    idx : ndarray of shape (B,), integer
        Row indices in ``[0, N)``; negative indices are not wrapped (they are errors).
    out : ndarray of shape (B,) or (B, D), optional
        Receives the rows (``x``'s dtype, C-contiguous, writeable) and is returned. It
        must not share memory with ``x`` or ``idx``. An index out of range raises before
        anything is written.

    Returns
    -------
    out : ndarray of shape (B,) or (B, D), ``x``'s dtype

    Raises
    ------
    ValueError
        If an index is outside ``[0, N)``.
    """
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    x = np.ascontiguousarray(gather_source(x))
    idx = index_array("idx", idx)
    n = x.shape[0]
    b = idx.shape[0]
    if out is None:
        out = np.empty((b,) + x.shape[1:], dtype=x.dtype)
    else:
        out, = outputs(out, (Out("rows", x.dtype, (b,) + x.shape[1:]),), (("x", x), ("idx", idx)))
        if b and (idx.min() < 0 or idx.max() >= n):
            # the kernel skips a bad row but writes the others: a caller's out stays as it was
            gather_status(lib.FF_EBADARG, n)
    if x.dtype == np.int64:
        status = lib.ff_gather_i64(ptr(out), ptr(x), ptr(idx), b, n)
    else:
        d = x.shape[1] if x.ndim == 2 else 1
        status = kernel("gather_rows", x.dtype)(ptr(out), ptr(x), ptr(idx), b, d, n)
    gather_status(status, n)
    return out


def shuffle(n, seed, stream=0, *, out=None):
    """A random permutation of ``arange(n)`` (Fisher-Yates, unbiased).

    Parameters
    ----------
    n : int
        Length, ``0 <= n <= 2**48``.
    seed : int
        Philox key, ``0 <= seed < 2**64``.
    stream : int, default 0
        Independent permutation streams for one seed (e.g. the epoch number).
    out : ndarray of shape (n,), int64, optional
        Receives the permutation (C-contiguous, writeable; its contents are not read)
        and is returned.

    Returns
    -------
    perm : ndarray of shape (n,), int64
    """
    n, seed, stream = shuffle_args(n, seed, stream)
    if out is None:
        perm = np.arange(n, dtype=np.int64)
    else:
        perm, = outputs(out, (Out("perm", np.dtype(np.int64), (n,)),))
        # the kernel shuffles 0..n-1 in place: a running sum of ones writes them into
        # perm with no temporary of its size (an arange would be one)
        perm.fill(1)
        perm[:1] = 0
        np.cumsum(perm, out=perm)
    check_status(lib.ff_shuffle_i64(ptr(perm), n, seed, stream), "shuffle")
    return perm


def init_weights(shape, scheme="he_normal", seed=0, gain=1.0, fan_in=None, fan_out=None,
                 dtype=np.float32, offset=0, *, out=None):
    """Weights drawn by He or Glorot initialisation, reproducible from ``seed``.

    Element ``i`` (in C order) is drawn from the Philox block at counter ``offset + i``,
    so ``init_weights(..., offset=k)`` regenerates the tail of a flat buffer exactly.

    Parameters
    ----------
    shape : int or tuple of int
    scheme : {"he_normal", "he_uniform", "glorot_normal", "glorot_uniform"}
        He: normal std ``gain*sqrt(2/fan_in)``, uniform bound ``gain*sqrt(6/fan_in)``.
        Glorot: the same with ``fan_in + fan_out`` in place of ``fan_in``.
    seed : int, default 0
    gain : float, default 1.0
        Non-negative scale factor.
    fan_in, fan_out : int, optional
        Default ``shape[0]`` and ``shape[-1]`` (a ``(in, out)`` weight matrix).
    dtype : float32 or float64, default float32
    offset : int, default 0
        Counter of the first element.
    out : ndarray of ``shape`` and ``dtype``, optional
        Receives the weights (C-contiguous, writeable; its contents are not read) and is
        returned. Its dtype must be ``dtype`` (TypeError otherwise).

    Returns
    -------
    w : ndarray of ``shape`` and ``dtype``
    """
    shape, code, seed, gain, fan_in, fan_out, dtype, offset = init_args(
        shape, scheme, seed, gain, fan_in, fan_out, dtype, offset)
    w = np.empty(shape, dtype=dtype) if out is None else outputs(out, (Out("w", dtype, shape),))[0]
    check_status(kernel("init", dtype)(ptr(w), w.size, fan_in, fan_out, code, gain,
                                       seed, offset), "init_weights")
    return w


def philox_u32(n, seed, offset=0, *, out=None):
    """The raw Philox4x32-10 stream: word ``offset + i`` of the key ``seed``.

    Word ``w`` is word ``w % 4`` of the block for the 128-bit counter ``w // 4``.

    Parameters
    ----------
    n : int
    seed : int
    offset : int, default 0
    out : ndarray of shape (n,), uint32, optional
        Receives the words (C-contiguous, writeable) and is returned.

    Returns
    -------
    out : ndarray of shape (n,), uint32
    """
    n, seed, offset = philox_args(n, seed, offset)
    out = (np.empty(n, dtype=np.uint32) if out is None
           else outputs(out, (Out("words", np.dtype(np.uint32), (n,)),))[0])
    check_status(lib.ff_philox_u32(ptr(out), n, seed, offset), "philox_u32")
    return out


def count_nonfinite(x):
    """Number of NaN and infinite values in a float array (any shape), without a temporary.

    Parameters
    ----------
    x : ndarray, float32 or float64

    Returns
    -------
    count : int
    """
    x = float_array("x", x)
    count = ffi.new("int64_t *")
    check_status(kernel("count_nonfinite", x.dtype)(count, ptr(x.reshape(-1)), x.size), "count_nonfinite")
    return int(count[0])


def is_finite(x):
    """True if the float array ``x`` holds no NaN or infinite value.

    Parameters
    ----------
    x : ndarray, float32 or float64

    Returns
    -------
    bool
    """
    return count_nonfinite(x) == 0
