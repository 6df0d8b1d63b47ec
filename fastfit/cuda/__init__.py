"""NVIDIA GPU twins of fastfit's C kernels, written with Numba CUDA (``numba-cuda``).

``fastfit.cuda.ops`` mirrors :mod:`fastfit.ops` function by function: the same names,
argument order, validation errors and in-place semantics. NumPy arrays in give NumPy
arrays out (copied to the device and back); device arrays in (anything exposing
``__cuda_array_interface__``: Numba, CuPy, PyTorch) give Numba device arrays out, with
no host round trip except for the scalar results (losses, norms) and data-dependent
errors (out-of-range indices or labels). ``fastfit.cuda.kernels`` holds the kernel-level
functions, named and ordered as in ``csrc/fastfit.h``, for callers that keep every
buffer on the device.

Importing this package imports numba; ``import fastfit`` never does. Set
``NUMBA_ENABLE_CUDASIM=1`` before the first numba import to run the kernels on the CPU
with Numba's simulator (slow; for tests).
"""

from __future__ import annotations

from fastfit.cuda import _compat

_compat.apply()  # must precede the first numba import

try:
    from numba import cuda as _cuda  # noqa: F401 - fail here, with the install hint
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "fastfit.cuda needs the numba-cuda package (NVIDIA's CUDA target for Numba) and its "
        "CUDA bindings: install them with `pip install 'fastfit[cuda]'` (or "
        "`pip install 'numba-cuda[cu12]'`; CuPy, e.g. `pip install cupy-cuda12x`, is optional "
        f"and gives cuBLAS matrix products). The import failed with: {exc}"
    ) from exc

from fastfit.cuda._device import SIMULATOR, is_available  # noqa: E402
from fastfit.cuda import kernels, ops  # noqa: E402

__all__ = ["SIMULATOR", "is_available", "kernels", "ops"]
