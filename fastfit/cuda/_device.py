"""Device plumbing shared by the kernels and the ops: launch sizes, device detection,
host<->device moves and scratch buffers.

Launch sizes: every elementwise kernel is a grid-stride loop, so the grid can be capped
without losing elements. On a GPU the cap keeps a few waves of blocks per SM; under the
simulator (one Python thread per CUDA thread) it keeps tests to about a thousand threads
while still exercising the stride.
"""

from __future__ import annotations

import numpy as np
from numba import config, cuda

#: True when Numba's CUDA simulator runs the kernels on the CPU (NUMBA_ENABLE_CUDASIM=1
#: at numba's first import).
SIMULATOR = bool(config.ENABLE_CUDASIM)

# The simulator runs one Python thread per CUDA thread: smaller blocks there keep a test
# fast while the kernels (written for any block size) still run several blocks.
THREADS = 32 if SIMULATOR else 256
_MAX_BLOCKS = 4 if SIMULATOR else 4096


def is_available() -> bool:
    """True if a CUDA GPU (or the simulator) can run the kernels."""
    try:
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken driver is "not available"
        return False


def blocks(n: int, threads: int = THREADS) -> int:
    """Blocks for a grid-stride loop over n items (at least 1, at most the cap)."""
    return max(1, min((int(n) + threads - 1) // threads, _MAX_BLOCKS))


def is_device(a) -> bool:
    """True for a device array: ``__cuda_array_interface__`` or the simulator's arrays."""
    return hasattr(a, "__cuda_array_interface__") or bool(getattr(a, "__cuda_ndarray__", False))


def as_device(a):
    """A Numba view of a device array (zero-copy), or None for None."""
    if a is None or getattr(a, "__cuda_ndarray__", False):
        return a
    return cuda.as_cuda_array(a)


def to_device(a):
    """A device array for a NumPy array (copied) or a device array (viewed)."""
    if a is None:
        return None
    if is_device(a):
        return as_device(a)
    return cuda.to_device(np.ascontiguousarray(a))


def empty(shape, dtype):
    return cuda.device_array(shape, dtype=dtype)


def zeros(shape, dtype):
    """A zeroed device array (device_array is uninitialised)."""
    out = cuda.device_array(shape, dtype=dtype)
    if out.size:
        _fill_zero[blocks(out.size), THREADS](out.reshape(out.size))
    return out


@cuda.jit
def _fill_zero(a):
    for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        a[i] = 0


def flat(a):
    """The 1-D view of a C-contiguous device array (kernels index flat buffers)."""
    return a.reshape(a.size) if a.ndim != 1 else a


_SCRATCH: dict = {}


def scratch(tag: str, shape, dtype):
    """A device buffer reused across calls with the same tag, shape and dtype.

    Reductions need per-block partial sums; allocating them with ``cuMemAlloc`` on
    every call would cost more than a small kernel. Not for concurrent use from several
    host threads.
    """
    key = (tag, tuple(np.atleast_1d(shape)), np.dtype(dtype).str)
    buf = _SCRATCH.get(key)
    if buf is None:
        buf = _SCRATCH[key] = cuda.device_array(shape, dtype=dtype)
    return buf
