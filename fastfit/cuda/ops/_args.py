"""Argument handling shared by the GPU ops: the CPU wrappers' checks, for host or device
arrays, and the NumPy-in/NumPy-out versus device-in/device-out rule.

Host arrays go through fastfit._lib's own validators (so the error messages are the
CPU wrappers') and are then copied to the device; device arrays are checked for the
same dtype and shape rules without leaving the device (and must be C-contiguous: there
is no copy to make them so). A ``Call`` remembers whether any input lived on the
device: if so results stay there, otherwise they come back as NumPy arrays, and arrays
the CPU wrappers update in place are updated in place here too (copied back).
"""

from __future__ import annotations

import numpy as np

from fastfit._lib import FLOAT_DTYPES, check_status, float_array, index_array, out_array
from fastfit.cuda._device import as_device, empty, is_device, to_device, zeros


def _check_device(name, a, dtype, ndim, shape):
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got dtype {a.dtype}")
    if dtype is not None and a.dtype != np.dtype(dtype):
        raise TypeError(f"{name} has dtype {a.dtype} but the call is in {np.dtype(dtype)}; "
                        "pass all float arguments in one dtype")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(a.shape)}")
    if a.size > 1 and not a.is_c_contiguous():
        raise ValueError(f"{name} must be C-contiguous on the device")


class Call:
    """One op call: converts its inputs and decides where its outputs go."""

    def __init__(self, *arrays):
        self.device = any(is_device(a) for a in arrays if a is not None)
        self._copy_back = []

    def float(self, name, a, dtype=None, ndim=None, shape=None):
        """A float input (validated) as a device array; None stays None."""
        if a is None:
            return None
        if is_device(a):
            a = as_device(a)
            _check_device(name, a, dtype, ndim, shape)
            return a
        return to_device(float_array(name, a, dtype, ndim, shape))

    def inout(self, name, a, dtype, shape):
        """An array the call updates in place (the CPU wrappers' ``out_array`` rules)."""
        if is_device(a):
            a = as_device(a)
            if a.dtype != np.dtype(dtype):
                raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
            if tuple(a.shape) != tuple(shape):
                raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(a.shape)}")
            if a.size > 1 and not a.is_c_contiguous():
                raise ValueError(f"{name} must be C-contiguous and writeable (it is updated in place)")
            return a
        out_array(name, a, dtype, shape)
        dev = to_device(a)
        self._copy_back.append((dev, a))
        return dev

    def index(self, name, a):
        """A 1-D integer array as an int64 device array."""
        if is_device(a):
            a = as_device(a)
            if a.dtype.kind not in "iu":
                raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
            if a.ndim != 1:
                raise ValueError(f"{name} must be 1-D, got shape {tuple(a.shape)}")
            if a.dtype != np.int64:
                raise TypeError(f"{name} must be int64 on the device, got dtype {a.dtype}")
            return a
        return to_device(index_array(name, a))

    def empty(self, shape, dtype):
        return empty(shape, dtype)

    def zeros(self, shape, dtype):
        return zeros(shape, dtype)

    def done(self, status, what):
        """Raise for a bad status, copy in-place updates back to their host arrays."""
        check_status(status, what)
        for dev, host in self._copy_back:
            dev.copy_to_host(host)

    def out(self, a):
        """A result: the device array itself, or a NumPy copy for host callers."""
        if a is None or self.device:
            return a
        return a.copy_to_host()
