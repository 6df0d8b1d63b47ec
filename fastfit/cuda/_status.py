"""Status codes (csrc/fastfit.h's FF_* defines, read from the compiled module) and small
launch helpers."""

from __future__ import annotations

from fastfit._lib import lib

FF_OK = lib.FF_OK
FF_EBADARG = lib.FF_EBADARG
FF_ENOMEM = lib.FF_ENOMEM
FF_ENONFINITE = lib.FF_ENONFINITE


def scalar(like, value):
    """A hyper-parameter as a NumPy scalar of ``like``'s dtype: a Python float would be
    typed float64 by Numba and turn a float32 kernel's arithmetic into double (the C
    kernels take FF_T hyper-parameters too)."""
    return like.dtype.type(value)
