"""Each script in examples/ runs (in a subprocess, from a temporary directory, no display)
and prints the result it promises."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _has(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


HAS_MATPLOTLIB = _has("matplotlib")


def run_example(name, tmp_path, timeout=120):
    """Run examples/<name> with cwd=tmp_path (the repository root's source folder would
    shadow the installed package) and no display; returns its stdout."""
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("DISPLAY", None)
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], check=False, cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _floats(pattern, text):
    return [float(v) for v in re.findall(pattern, text)]


def test_every_example_is_tested():
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == ["01_linear_regression.py", "02_logistic_regression.py",
                       "03_digits_mlp.py", "04_grid_search.py", "05_imbalanced.py",
                       "06_lr_finder.py"]
    for path in EXAMPLES.glob("*.py"):
        assert path.read_text().startswith('"""'), f"{path.name} needs a module docstring"


def test_01_linear_regression(tmp_path):
    out = run_example("01_linear_regression.py", tmp_path)
    assert "w = 2.000  b = 3.000" in out
    assert "LinearRegression: w = 2.000  b = 3.000" in out


def test_02_logistic_regression(tmp_path):
    out = run_example("02_logistic_regression.py", tmp_path)
    assert "predictions: [0 0 1 1 1]" in out
    (boundary,) = _floats(r"w = [-\d.]+  b = [-\d.]+  boundary x = ([-\d.]+)\n", out)[:1]
    assert 2 < boundary < 3
    # scikit-learn's LogisticRegression (C=1) puts it at 2.42 on these points
    (sk_boundary,) = _floats(r"LogisticRegression \(C=1\).*boundary x = ([-\d.]+)", out)
    assert sk_boundary == pytest.approx(2.42, abs=0.01)
    assert "LogisticRegression predictions: [0 0 1 1 1]" in out


def test_03_digits_mlp(tmp_path):
    out = run_example("03_digits_mlp.py", tmp_path)
    (accuracy,) = _floats(r"test accuracy: ([\d.]+)", out)
    assert accuracy > 0.95
    assert re.search(r"diagnosis: (good fit|overfitting|underfitting|not enough data to tell)",
                     out)
    if HAS_MATPLOTLIB:
        assert (tmp_path / "digits_history.png").stat().st_size > 1000


def test_04_grid_search(tmp_path):
    out = run_example("04_grid_search.py", tmp_path)
    assert len(_floats(r"cross-validated accuracy ([\d.]+)", out)) == 5
    assert re.search(r"best C: (0\.1|1\.0|10\.0)\n", out)
    (accuracy,) = _floats(r"test accuracy: ([\d.]+)", out)
    assert accuracy > 0.93


def test_05_imbalanced(tmp_path):
    out = run_example("05_imbalanced.py", tmp_path)
    recall_none, recall_balanced = _floats(r"minority recall ([\d.]+)", out)
    bacc_none, bacc_balanced = _floats(r"balanced accuracy ([\d.]+)", out)
    assert recall_balanced > recall_none + 0.2
    assert bacc_balanced > bacc_none + 0.05


def test_06_lr_finder(tmp_path):
    out = run_example("06_lr_finder.py", tmp_path)
    (suggested,) = _floats(r"suggested lr ([\d.e+-]+) ", out)
    assert 1e-3 < suggested < 5
    good, low = _floats(r"test accuracy after 5 epochs ([\d.]+)", out)
    assert good > 0.9 and good > low + 0.1
    if HAS_MATPLOTLIB:
        assert (tmp_path / "lr_finder.png").stat().st_size > 1000
