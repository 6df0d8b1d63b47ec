"""Argument handling shared by the GPU ops: the CPU wrappers' checks, for host or device
arrays, and the NumPy-in/NumPy-out versus device-in/device-out rule.

Host arrays go through fastfit._lib's own validators and are then copied to the device;
device arrays go through the same checks (``check_float``, ``check_out``,
``check_index``) without leaving the device (and must be C-contiguous: there is no copy
to make them so). A ``Call`` remembers whether any input lived on the device: if so
results stay there, otherwise they come back as NumPy arrays, and arrays the CPU
wrappers update in place are updated in place here too (copied back).
"""

from __future__ import annotations

import numpy as np

from fastfit._lib import (INPLACE_LAYOUT, check_float, check_index, check_out, check_status,
                          float_array, index_array, inplace_dtype, out_array)
from fastfit.cuda._device import as_device, empty, is_device, to_device, zeros


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
            a = check_float(name, as_device(a), dtype, ndim, shape)
            if a.size > 1 and not a.is_c_contiguous():
                raise ValueError(f"{name} must be C-contiguous on the device")
            return a
        return to_device(float_array(name, a, dtype, ndim, shape))

    def inout(self, name, a, dtype, shape):
        """An array the call updates in place (the CPU wrappers' ``out_array`` rules)."""
        if is_device(a):
            a = check_out(name, as_device(a), dtype, shape)
            if a.size > 1 and not a.is_c_contiguous():
                raise ValueError(INPLACE_LAYOUT.format(name))
            return a
        out_array(name, a, dtype, shape)
        dev = to_device(a)
        self._copy_back.append((dev, a))
        return dev

    def inplace(self, name, a):
        """The float array updated in place whose dtype the call follows (host or device)."""
        host = not is_device(a)
        dtype = inplace_dtype(name, a if host else as_device(a), host)
        return self.inout(name, a, dtype, tuple(a.shape))

    def index(self, name, a):
        """A 1-D integer array as an int64 device array."""
        if is_device(a):
            a = check_index(name, as_device(a))
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
