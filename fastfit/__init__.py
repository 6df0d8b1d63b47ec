"""fastfit: the fastest practical trainer for classic models.

Hot loops are C with OpenMP (``fastfit._native``, built with cffi); this package only
describes, validates and dispatches. ``import fastfit`` stays light: it never imports
numba, torch or matplotlib.
"""

__version__ = "0.1.0"

from fastfit import callbacks, losses, nn, ops, optim
from fastfit._runtime import get_num_threads, num_threads, set_num_threads
from fastfit._trainer import NonFiniteLossError, Trainer
from fastfit._io import load, save
from fastfit.history import History

# scikit-learn-compatible estimators, imported on first use so that ``import fastfit``
# does not import scikit-learn.
_ESTIMATORS = {
    "LinearRegression": "fastfit._estimators._linear",
    "Ridge": "fastfit._estimators._linear",
    "LogisticRegression": "fastfit._estimators._logistic",
    "SGDClassifier": "fastfit._estimators._sgd",
    "SGDRegressor": "fastfit._estimators._sgd",
    "MLPClassifier": "fastfit._estimators._mlp",
    "MLPRegressor": "fastfit._estimators._mlp",
}


def __getattr__(name):
    module = _ESTIMATORS.get(name)
    if module is None:
        raise AttributeError(f"module 'fastfit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_ESTIMATORS))


__all__ = ["ops", "nn", "losses", "optim", "callbacks", "Trainer", "History",
           "NonFiniteLossError", "save", "load", "get_num_threads", "set_num_threads", "num_threads",
           "__version__", *_ESTIMATORS]
