"""Thin NumPy wrappers over the native kernels, one function per kernel.

Every function follows its input's dtype (float32 or float64; anything else is a
TypeError), checks shapes (ValueError) and returns new arrays, or writes them into a
keyword ``out`` (NumPy's convention: an array, or a tuple for several outputs; see
``fastfit.ops._out``), except the optimizer updates and ``residual_backward``, which work
in place like their kernels. All of them release the GIL while the kernel runs.
"""

from fastfit.ops._gemm import *  # noqa: F401,F403
from fastfit.ops._layers import *  # noqa: F401,F403
from fastfit.ops._losses import *  # noqa: F401,F403
from fastfit.ops._optim import *  # noqa: F401,F403
from fastfit.ops._data import *  # noqa: F401,F403
from fastfit.ops._sgd import *  # noqa: F401,F403
from fastfit.ops._logistic import *  # noqa: F401,F403
from fastfit.ops._sparse import *  # noqa: F401,F403

from fastfit.ops import _data, _gemm, _layers, _logistic, _losses, _optim, _sgd, _sparse

__all__ = [*_gemm.__all__, *_layers.__all__, *_losses.__all__, *_optim.__all__, *_data.__all__,
           *_sgd.__all__, *_logistic.__all__, *_sparse.__all__]
