"""Status codes (the values of csrc/fastfit.h's FF_* defines) and small launch helpers."""

from __future__ import annotations

FF_OK = 0
FF_EBADARG = 1
FF_ENOMEM = 2
FF_ENONFINITE = 3


def scalar(like, value):
    """A hyper-parameter as a NumPy scalar of ``like``'s dtype: a Python float would be
    typed float64 by Numba and turn a float32 kernel's arithmetic into double (the C
    kernels take FF_T hyper-parameters too)."""
    return like.dtype.type(value)
