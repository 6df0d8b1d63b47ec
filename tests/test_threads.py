"""fastfit's side of sharing the cores with BLAS (fastfit._threads): the short OpenMP
spin set while the compiled module loads, and BLAS limited to one thread inside fits."""

import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import fastfit
from fastfit._threads import OPENMP_SPIN_COUNT, blas_single_threaded


def _blas_threads():
    return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]


def _run(code, **env):
    full = {k: v for k, v in os.environ.items()
            if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                         text=True, check=True, cwd=os.path.dirname(__file__))
    return out.stdout.strip()


def test_spin_count_reaches_libgomp_and_leaves_the_environment():
    # libgomp reports the spin count it read at load through OMP_DISPLAY_ENV (stderr)
    code = ("import os, fastfit; print(os.environ.get('GOMP_SPINCOUNT'))")
    full = dict(os.environ, OMP_DISPLAY_ENV="VERBOSE")
    for key in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        full.pop(key, None)
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                         text=True, check=True, cwd=os.path.dirname(__file__))
    assert out.stdout.strip() == "None"  # the user's environment is left as it was
    spin_lines = [ln for ln in out.stderr.splitlines() if "GOMP_SPINCOUNT" in ln]
    assert any(f"'{OPENMP_SPIN_COUNT}'" in ln for ln in spin_lines), out.stderr


def test_user_wait_settings_win():
    assert _run("import os, fastfit; print(os.environ['GOMP_SPINCOUNT'])",
                GOMP_SPINCOUNT="123") == "123"
    assert _run("import os, fastfit; print(os.environ.get('GOMP_SPINCOUNT'))",
                OMP_WAIT_POLICY="active") == "None"


def test_blas_single_threaded_limits_and_restores():
    before = _blas_threads()
    if not before or max(before) < 2:
        pytest.skip("BLAS runs on one thread here already")
    with blas_single_threaded():
        assert set(_blas_threads()) == {1}
        with blas_single_threaded():  # nested: still one, not restored early
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {1}
    assert _blas_threads() == before


def test_blas_single_threaded_restores_a_users_limit_and_after_errors():
    if not _blas_threads() or max(_blas_threads()) < 2:
        pytest.skip("BLAS runs on one thread here already")
    with threadpool_limits(2, user_api="blas"):
        with pytest.raises(RuntimeError):
            with blas_single_threaded():
                raise RuntimeError("inside")
        assert set(_blas_threads()) == {2}


@pytest.mark.parametrize("est", [fastfit.LogisticRegression(), fastfit.SGDClassifier(),
                                 fastfit.MLPClassifier(max_iter=2), fastfit.LinearRegression(),
                                 fastfit.Ridge()])
def test_fits_leave_blas_threads_as_they_were(est):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5))
    y = (X[:, 0] > 0).astype(int)
    before = _blas_threads()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    assert _blas_threads() == before
