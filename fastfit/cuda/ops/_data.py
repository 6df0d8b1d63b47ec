"""GPU twins of fastfit.ops' data functions: gather, shuffle, initialisation, the raw
Philox stream and the non-finite count, drawing the same Philox4x32-10 words as C.

``shuffle``, ``init_weights`` and ``philox_u32`` take no array, so they return NumPy
arrays like the CPU functions; their keyword ``device=True`` (not in fastfit.ops)
leaves the result on the device instead.
"""

from __future__ import annotations

import numpy as np

from fastfit._lib import check_status
from fastfit.cuda import kernels as K
from fastfit.cuda._device import as_device, empty, is_device, to_device
from fastfit.cuda.ops._args import Call
from fastfit.ops._args import gather_source, gather_status, init_args, philox_args, shuffle_args

from fastfit.ops._data import __all__ as _CPU_ALL  # the same names as the CPU module

__all__ = list(_CPU_ALL)


def gather_rows(x, idx):
    """Rows of ``x`` picked by ``idx`` on the GPU; see :func:`fastfit.ops.gather_rows`.

    Parameters
    ----------
    x : array of shape (N,) or (N, D); float32, float64, or (labels) int64
    idx : array of shape (B,), integer, in ``[0, N)``

    Returns
    -------
    out : array of shape (B,) or (B, D), ``x``'s dtype

    Raises
    ------
    ValueError
        If an index is outside ``[0, N)``.
    """
    call = Call(x, idx)
    x = to_device(gather_source(as_device(x) if is_device(x) else np.asarray(x)))
    dtype = x.dtype
    idx = call.index("idx", idx)
    n, b = x.shape[0], idx.shape[0]
    out = call.empty((b,) + tuple(x.shape[1:]), dtype)
    if dtype == np.int64:
        status = K.ff_gather_i64(out, x, idx, b, n)
    else:
        status = K.ff_gather_rows(out, x, idx, b, x.shape[1] if x.ndim == 2 else 1, n)
    gather_status(status, n)
    return call.out(out)


def _result(a, device):
    return a if device else a.copy_to_host()


def shuffle(n, seed, stream=0, *, device=False):
    """A random permutation of ``arange(n)``, the same as :func:`fastfit.ops.shuffle` for
    the same ``(seed, stream)``.

    Partners are drawn in parallel; the swaps run on one GPU thread (Fisher-Yates is
    serial), so this is slow for large n.

    Parameters
    ----------
    n : int, ``0 <= n <= 2**48``
    seed : int in [0, 2**64)
    stream : int in [0, 2**64)
    device : bool, default False
        Return a device array instead of NumPy.

    Returns
    -------
    perm : array of shape (n,), int64
    """
    n, seed, stream = shuffle_args(n, seed, stream)
    perm = to_device(np.arange(n, dtype=np.int64))
    check_status(K.ff_shuffle_i64(perm, n, seed, stream), "shuffle")
    return _result(perm, device)


def init_weights(shape, scheme="he_normal", seed=0, gain=1.0, fan_in=None, fan_out=None,
                 dtype=np.float32, offset=0, *, device=False):
    """He or Glorot initial weights, the same draws as :func:`fastfit.ops.init_weights`.

    Parameters
    ----------
    shape : int or tuple of int
    scheme : {"he_normal", "he_uniform", "glorot_normal", "glorot_uniform"}
    seed : int
    gain : float, >= 0
    fan_in, fan_out : int, optional
    dtype : float32 or float64
    offset : int
    device : bool, default False
        Return a device array instead of NumPy.

    Returns
    -------
    w : array of ``shape`` and ``dtype``
    """
    shape, code, seed, gain, fan_in, fan_out, dtype, offset = init_args(
        shape, scheme, seed, gain, fan_in, fan_out, dtype, offset)
    w = empty(shape, dtype)
    check_status(K.ff_init(w, w.size, fan_in, fan_out, int(code), gain, seed, offset),
                 "init_weights")
    return _result(w, device)


def philox_u32(n, seed, offset=0, *, device=False):
    """The raw Philox4x32-10 stream, as :func:`fastfit.ops.philox_u32`.

    Parameters
    ----------
    n : int
    seed, offset : int in [0, 2**64)
    device : bool, default False
        Return a device array instead of NumPy.

    Returns
    -------
    out : array of shape (n,), uint32
    """
    n, seed, offset = philox_args(n, seed, offset)
    out = empty(n, np.uint32)
    check_status(K.ff_philox_u32(out, n, seed, offset), "philox_u32")
    return _result(out, device)


def count_nonfinite(x):
    """Number of NaN and infinite values in a float array, on the GPU.

    Parameters
    ----------
    x : array, float32 or float64

    Returns
    -------
    count : int
    """
    call = Call(x)
    x = call.float("x", x)
    count = empty(1, np.int64)
    check_status(K.ff_count_nonfinite(count, x, x.size), "count_nonfinite")
    return int(count.copy_to_host()[0])


def is_finite(x):
    """True if the float array ``x`` holds no NaN or infinite value (on the GPU).

    Parameters
    ----------
    x : array, float32 or float64

    Returns
    -------
    bool
    """
    return count_nonfinite(x) == 0
