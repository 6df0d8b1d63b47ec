"""fastfit: the fastest practical trainer for classic models.

Hot loops are C with OpenMP (``fastfit._native``, built with cffi); this package only
describes, validates and dispatches. ``import fastfit`` stays light: it never imports
numba, torch or matplotlib.
"""

__version__ = "0.1.0"

from fastfit import callbacks, losses, nn, ops, optim
from fastfit._runtime import get_num_threads, num_threads, set_num_threads
from fastfit._trainer import NonFiniteLossError, Trainer
from fastfit.history import History

__all__ = ["ops", "nn", "losses", "optim", "callbacks", "Trainer", "History",
           "NonFiniteLossError", "get_num_threads", "set_num_threads", "num_threads",
           "__version__"]
