"""Real-GPU checks (marker ``gpu``): the twins against the C kernels on the device, through
benchmarks/gpu_check.py --check-only in a fresh interpreter (this pytest process may hold
the simulator's numba.cuda). Skips without numba-cuda or without a visible GPU."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Children start outside the repository: from its root, `import fastfit` would find the
# source folder (no compiled module) before the installed package.
_NEUTRAL_DIR = tempfile.gettempdir()

pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install 'fastfit[cuda]')")

_ENV = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}


def _gpu_present() -> bool:
    proc = subprocess.run([sys.executable, "-c", "from numba import cuda; print(cuda.is_available())"],
                          capture_output=True, text=True, env=_ENV, cwd=_NEUTRAL_DIR, timeout=120)
    return proc.stdout.strip().endswith("True")


@pytest.mark.gpu
def test_twins_match_c_kernels_on_the_gpu():
    if not _gpu_present():
        pytest.skip("no CUDA GPU visible")
    script = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"
    proc = subprocess.run([sys.executable, str(script), "--check-only"], capture_output=True, text=True,
                          env=_ENV, cwd=_NEUTRAL_DIR, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
