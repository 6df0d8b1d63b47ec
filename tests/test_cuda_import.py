"""Import hygiene of the GPU package: ``import fastfit`` never imports numba, and
``import fastfit.cuda`` without numba-cuda says what to install. Both run in a fresh
interpreter, so this module's own imports cannot hide a regression."""

import os
import subprocess
import sys
import tempfile

# Children start outside the repository: from its root, `import fastfit` would find the
# source folder (no compiled module) before the installed package.
_NEUTRAL_DIR = tempfile.gettempdir()

_ENV = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_ENV,
                          cwd=_NEUTRAL_DIR, timeout=120)


def test_import_fastfit_does_not_import_numba():
    proc = _run("import sys, fastfit, fastfit.ops\n"
                "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'numba_cuda', 'cupy'))\n"
                "assert not bad, bad")
    assert proc.returncode == 0, proc.stderr


def test_missing_numba_cuda_explains_the_install():
    # a meta-path finder that hides numba stands in for an environment without it
    code = ("import sys\n"
            "class Hide:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('numba', 'numba_cuda'):\n"
            "            raise ImportError(f'No module named {name!r}')\n"
            "sys.meta_path.insert(0, Hide())\n"
            "try:\n"
            "    import fastfit.cuda\n"
            "except ImportError as exc:\n"
            "    print(exc)\n"
            "else:\n"
            "    raise SystemExit('imported without numba')\n")
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'fastfit[cuda]'" in proc.stdout


def test_row_stack_alias_lives_in_one_place():
    from pathlib import Path
    root = Path(__file__).parents[1] / "fastfit"
    hits = [p for p in root.rglob("*.py") if "row_stack =" in p.read_text()]
    assert [p.name for p in hits] == ["_compat.py"]
