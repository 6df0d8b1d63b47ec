"""GPU twins of :mod:`fastfit.ops`, function by function: the same names, argument order,
checks and errors, and the same in-place semantics (optimizer updates, running
statistics, ``residual_backward``, ``clip_grad_norm``, ``gemm`` with ``c``).

NumPy arrays in give NumPy arrays out (copied to the device and back). Any device
array in (``__cuda_array_interface__``: Numba, CuPy, PyTorch) gives Numba device arrays
out, with no copy of the inputs; wrap them with ``cupy.asarray`` or
``torch.as_tensor(..., device="cuda")`` to continue in those libraries.
"""

from fastfit.cuda.ops._gemm import *  # noqa: F401,F403
from fastfit.cuda.ops._layers import *  # noqa: F401,F403
from fastfit.cuda.ops._losses import *  # noqa: F401,F403
from fastfit.cuda.ops._optim import *  # noqa: F401,F403
from fastfit.cuda.ops._data import *  # noqa: F401,F403

from fastfit.cuda.ops import _data, _gemm, _layers, _losses, _optim

__all__ = [*_gemm.__all__, *_layers.__all__, *_losses.__all__, *_optim.__all__, *_data.__all__]
