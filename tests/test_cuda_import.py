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


# the header constants fastfit.cuda uses, by module: (name there, name in csrc/fastfit.h)
_CONSTANTS = {
    "_status.py": [(n, n) for n in ("FF_OK", "FF_EBADARG", "FF_ENOMEM", "FF_ENONFINITE")],
    "_act.py": [(n, "FF_ACT_" + n) for n in ("IDENTITY", "RELU", "LEAKY_RELU", "TANH",
                                              "SIGMOID", "GELU")],
    "_k_losses.py": [("MSE", "FF_LOSS_MSE"), ("HUBER", "FF_LOSS_HUBER"),
                     ("BCE", "FF_LOSS_BCE_LOGITS"), ("SOFTMAX_CE", "FF_LOSS_SOFTMAX_CE")],
    "_train.py": [(n, "FF_" + n) for n in ("OP_LINEAR", "OP_BATCHNORM", "OP_DROPOUT", "OP_SKIP",
                                           "OPTIM_SGD", "OPTIM_RMSPROP")],
}


def test_cuda_constants_are_read_from_the_compiled_module():
    # read from the source (no numba needed): each constant is `NAME = lib.FF_...`, never a
    # hand copy of the header's value that a renumbered enum would silently leave behind
    import ast
    import pathlib

    from fastfit._lib import lib

    cuda_dir = pathlib.Path(__file__).resolve().parents[1] / "fastfit" / "cuda"
    for filename, pairs in _CONSTANTS.items():
        tree = ast.parse((cuda_dir / filename).read_text())
        values = {}
        for node in tree.body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            values[name.id] = node.value
        for name, ff_name in pairs:
            assert hasattr(lib, ff_name), ff_name
            value = values.get(name)
            assert isinstance(value, ast.Attribute) and value.attr == ff_name \
                and isinstance(value.value, ast.Name) and value.value.id == "lib", \
                f"fastfit/cuda/{filename}: {name} must be lib.{ff_name}"
