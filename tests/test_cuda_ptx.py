"""(Named to sort after test_cuda_ops.py, whose simulator tests run while these compile.)

Every raw GPU kernel compiled for a real target (``cuda.compile_ptx``, compute
capability 9.0, both dtypes): the simulator does not type-check, NVVM does. Also checks
that the float32 specialisations of the kernels that should stay in float32 contain no
double-precision arithmetic (a bare Python float constant would put it there).

The compiles run in one subprocess without the simulator (a pytest process can hold
only one of the two numba.cuda flavours); the tests skip when numba-cuda or NVVM/NVRTC
are not installed.
"""

import json
import os
import subprocess
import sys
import tempfile

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install 'fastfit[cuda]')")

# Children start outside the repository: from its root, `import fastfit` would find the
# source folder (no compiled module) before the installed package.
_NEUTRAL_DIR = tempfile.gettempdir()

_SCRIPT = r"""
import json, re, sys
from numba import cuda, types
try:
    cuda.compile_ptx(lambda a: None, (types.float32[::1],), cc=(9, 0))
except Exception as exc:  # no NVVM / NVRTC
    print(json.dumps({"unavailable": f"{type(exc).__name__}: {exc}"[:300]}))
    sys.exit(0)
from fastfit.cuda._signatures import signatures

F64 = re.compile(r"\b(add|sub|mul|fma|div|sqrt|neg|abs|max|min)(\.rn)?\.f64\b")
out = {}
for T in (types.float32, types.float64):
    for name, kernel, sig, f32only in signatures(T):
        key = f"{name}[{T}]"
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
        except Exception as exc:
            out[key] = f"compile failed: {type(exc).__name__}: {exc}"[:2000]
            continue
        hit = F64.search(ptx) if (T == types.float32 and f32only) else None
        out[key] = f"float32 kernel computes in double: {hit.group(0)}" if hit else "ok"
print(json.dumps(out))
"""


# Started when pytest imports this module (collection), so the ~20 s of NVVM compiles
# overlap the simulator tests instead of adding to them; the fixture collects the result.
_OUT, _ERR = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
_PROC = subprocess.Popen([sys.executable, "-c", _SCRIPT], stdout=_OUT, stderr=_ERR, text=True,
                         env={k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"},
                         cwd=_NEUTRAL_DIR)


@pytest.fixture(scope="module")
def compiled():
    returncode = _PROC.wait(timeout=600)
    _OUT.seek(0)
    _ERR.seek(0)
    stdout, stderr = _OUT.read(), _ERR.read()
    assert returncode == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    if "unavailable" in result:
        pytest.skip(f"NVVM/NVRTC not available for cuda.compile_ptx: {result['unavailable']}")
    return result


def _names():
    # the kernel list, without importing numba here (this process may be the simulator's)
    from pathlib import Path
    import re
    src = (Path(__file__).parents[1] / "fastfit" / "cuda" / "_signatures.py").read_text()
    return re.findall(r'^\s*\("(\w+)", ', src, re.M)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", _names())
def test_kernel_compiles_for_sm90(compiled, name, dtype):
    assert compiled[f"{name}[{dtype}]"] == "ok"
