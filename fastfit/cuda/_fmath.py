"""The math functions the kernels call, typed as the compiled code types them.

Compiled, ``math.exp`` of a float32 is a float32 (libdevice ``expf``). Under the
simulator it is a Python float, and NumPy 2 lets a Python float take the type of the
float32 constant it meets: ``float32(1) + math.exp(v)`` would silently drop a float64
kernel to float32 in the simulator only. Here the simulator's results are cast back to
the argument's type, so simulated float64 kernels compute in float64 as compiled ones do.
"""

from __future__ import annotations

import math

from fastfit.cuda._device import SIMULATOR

if SIMULATOR:
    def _typed(f):
        def g(x):
            return type(x)(f(x))
        return g

    exp, log, log1p, sqrt, tanh, erfc, cos = (_typed(f) for f in (
        math.exp, math.log, math.log1p, math.sqrt, math.tanh, math.erfc, math.cos))
else:
    exp, log, log1p, sqrt, tanh, erfc, cos = (
        math.exp, math.log, math.log1p, math.sqrt, math.tanh, math.erfc, math.cos)
