"""The compiled module and the argument plumbing every wrapper shares.

Wrappers check dtypes and shapes here, in Python, before any pointer reaches C:
``ffi.from_buffer`` does not check dtypes, and a clear ``TypeError``/``ValueError``
beats a C status code. Pointers are made with ``ffi.from_buffer`` (which keeps the array
alive for the call), never from ``.ctypes.data``.
"""

from __future__ import annotations

import operator

import numpy as np

from fastfit._threads import short_openmp_spin

try:
    with short_openmp_spin():
        from fastfit._native import ffi, lib
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError(
        "fastfit's compiled module fastfit._native is missing. Install the package "
        "(`pip install .`) instead of importing the source folder; if you run Python from "
        "the repository root, the source folder shadows the installed package."
    ) from exc

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DTYPE_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
CTYPES = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]",
          np.dtype(np.int64): "int64_t[]", np.dtype(np.int32): "int32_t[]",
          np.dtype(np.uint8): "uint8_t[]", np.dtype(np.uint32): "uint32_t[]"}

FF_OK = lib.FF_OK

#: Activation names, mapped to ``enum ff_activation`` (the GEMM epilogue and the layers).
ACTIVATIONS = {
    "identity": lib.FF_ACT_IDENTITY,
    "relu": lib.FF_ACT_RELU,
    "leaky_relu": lib.FF_ACT_LEAKY_RELU,
    "tanh": lib.FF_ACT_TANH,
    "sigmoid": lib.FF_ACT_SIGMOID,
    "gelu": lib.FF_ACT_GELU,
}


def activation_code(activation) -> int:
    """The ``enum ff_activation`` value of an activation name (ValueError otherwise)."""
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                         f"got {activation!r}") from None


def int_arg(name: str, value, low: int = 0, high: int | None = None) -> int:
    """Validate an integer argument in ``[low, high)``: TypeError for non-integers
    (bools and floats included, never silently truncated), ValueError out of range."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


U64 = 1 << 64  # seeds, streams and offsets are uint64_t in C


def kernel(name: str, dtype: np.dtype):
    """Return ``lib.ff_<name>_<f32|f64>`` for a float dtype."""
    return getattr(lib, f"ff_{name}_{DTYPE_SUFFIX[np.dtype(dtype)]}")


def ptr(a: np.ndarray | None):
    """A cffi pointer to a C-contiguous array's data, or NULL for None."""
    if a is None:
        return ffi.NULL
    return ffi.from_buffer(CTYPES[a.dtype], a)


def check_float(name: str, a, dtype=None, ndim: int | None = None,
                shape: tuple[int, ...] | None = None):
    """The dtype and shape rules of a float array argument, for a NumPy or a device array
    (anything with ``dtype``, ``ndim`` and ``shape``); returns ``a``.

    ``dtype=None`` accepts float32 or float64; otherwise ``a`` must already have ``dtype``
    (TypeError: mixing precisions is never a silent cast). ``ndim`` / ``shape``, when
    given, must match (ValueError).
    """
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got dtype {a.dtype}")
    if dtype is not None and a.dtype != np.dtype(dtype):
        raise TypeError(f"{name} has dtype {a.dtype} but the call is in {np.dtype(dtype)}; "
                        "pass all float arguments in one dtype")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(a.shape)}")
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(a.shape)}")
    return a


def float_array(name: str, a, dtype=None, ndim: int | None = None,
                shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Validate a float array argument (:func:`check_float`) and return it C-contiguous.

    ``dtype=None`` keeps the array's own float dtype (the dtype the call follows).
    At most one copy is made (only for non-contiguous input).
    """
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    return np.ascontiguousarray(check_float(name, a, dtype, ndim, shape))


def check_out(name: str, a, dtype, shape: tuple[int, ...]):
    """The dtype and shape rules of an array updated in place (NumPy or device); returns ``a``."""
    if a.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(a.shape)}")
    return a


#: The error for an in-place array that is not C-contiguous and writeable.
INPLACE_LAYOUT = "{} must be C-contiguous and writeable (it is updated in place)"


def out_array(name: str, a, dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Validate an in/out (updated in place) array: exact dtype, shape, C-contiguous."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array (it is updated in place)")
    check_out(name, a, dtype, shape)
    if not a.flags.c_contiguous or not a.flags.writeable:
        raise ValueError(INPLACE_LAYOUT.format(name))
    return a


def inplace_dtype(name: str, a, host: bool = True) -> np.dtype:
    """The float dtype of an array updated in place, which the call follows: TypeError
    unless ``a`` is a NumPy array (or, with ``host=False``, a device array) of float32
    or float64."""
    if host and not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array (it is updated in place)")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got dtype {a.dtype}")
    return a.dtype


def check_index(name: str, a, ndim: int = 1):
    """The rules of an integer array (labels, indices), NumPy or device; returns ``a``."""
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(a.shape)}")
    return a


def index_array(name: str, a, ndim: int = 1) -> np.ndarray:
    """Validate an integer array (labels, indices) and return it as C-contiguous int64."""
    return np.ascontiguousarray(check_index(name, np.asarray(a), ndim), dtype=np.int64)


def check_predict_status(status: int, *, input_checked: bool = False) -> None:
    """The one reading of a C prediction call's status (a model's forward pass, a linear
    decision function). With the kernel's own finiteness check of X on
    (``input_checked``), FF_ENONFINITE is NaN/inf in X: scikit-learn's ValueError. The
    inputs were validated in Python, so FF_EBADARG is a bug in fastfit; anything else
    raises as ``check_status``."""
    if status == FF_OK:
        return
    if status == lib.FF_ENONFINITE and input_checked:
        raise ValueError("Input X contains NaN or infinite values.")
    if status == lib.FF_EBADARG:
        raise RuntimeError("fastfit predict: the native code rejected its arguments; "
                           "this is a bug in fastfit, please report it")
    check_status(status, "fastfit predict")


def check_status(status: int, what: str) -> None:
    """Turn a C status code into the matching Python exception."""
    if status == FF_OK:
        return
    reason = ffi.string(lib.ff_status_string(status)).decode()
    if status == lib.FF_ENONFINITE:
        raise FloatingPointError(f"{what}: {reason} (NaN or inf in the result; check the inputs' scale)")
    if status == lib.FF_ENOMEM:
        raise MemoryError(f"{what}: {reason}")
    if status == lib.FF_ECOMM:
        raise RuntimeError(f"{what}: {reason}")
    raise ValueError(f"{what}: {reason} (status {status})")
