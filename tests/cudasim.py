"""The prologue every CUDA-simulator test module shares: import ``fastfit.cuda`` on Numba's
CUDA simulator, or skip the module.

Numba decides simulator or hardware when it is first imported, so the environment variable
is set only around that import (and restored). When numba was already imported for real
hardware in this process, the module skips: run it in a pytest process of its own.
"""

import os
import sys

import pytest


def import_simulated_cuda(test_file):
    """``(fastfit.cuda, numba.cuda)`` on the simulator, or a module-level skip."""
    pytest.importorskip("numba_cuda",
                        reason="numba-cuda is not installed (pip install 'fastfit[cuda]')")
    if "numba" in sys.modules and not sys.modules["numba"].config.ENABLE_CUDASIM:
        if "fastfit.cuda" not in sys.modules or not sys.modules["fastfit.cuda"].SIMULATOR:
            name = os.path.relpath(test_file, os.path.dirname(os.path.dirname(test_file)))
            pytest.skip("numba was imported without the CUDA simulator in this process; run "
                        f"{name} in its own pytest process", allow_module_level=True)
    saved = os.environ.get("NUMBA_ENABLE_CUDASIM")
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    try:
        import fastfit.cuda as fc
        from numba import cuda
    finally:
        if saved is None:
            del os.environ["NUMBA_ENABLE_CUDASIM"]
        else:
            os.environ["NUMBA_ENABLE_CUDASIM"] = saved
    return fc, cuda
