"""LinearRegression, Ridge and LogisticRegression against scikit-learn (same run, 2 threads).

Workload: 200k x 100 rows N(0, 1); regression targets from a random linear teacher plus
noise; classification labels the argmax (10 classes) or sign (binary) of a random linear
teacher plus logistic noise, so L-BFGS needs a realistic few dozen iterations.

Baselines are scikit-learn's estimators with default settings on the SAME float64 data.
fastfit runs on float64 (the like-for-like ratio) and, reported separately, on a float32
copy (half the bytes per pass; scikit-learn's own float32 ratio is printed beside it).

The limit (written before optimising): one L-BFGS function evaluation must read X once,
so a fit costs at least n_evals x bytes(X) / bandwidth. For 200k x 100 that is 160 MB
(float64) or 80 MB (float32) per evaluation: ~6.4 / 3.2 ms at ~25 GB/s. Ten classes add
4 x 200k x 100 x 10 = 0.8 GFLOP per evaluation (two products): ~8 ms at ~100 GFLOP/s
DGEMM, ~4 ms at ~210 GFLOP/s SGEMM on 2 threads, so the 10-class case is compute-bound.
Each test prints the measured time per evaluation against that limit, at BANDWIDTH and at
this run's measured GEMM peak (`_compare.gemm_peak_flops`).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import sklearn.linear_model as sk
from sklearn.exceptions import ConvergenceWarning

import fastfit
from _compare import compare, gemm_peak_flops, min_time

N, D = 200_000, 100
BANDWIDTH = 25e9  # bytes/s, a read stream: the Zen 4 VM's measured 2-thread copy bandwidth
# (ARCHITECTURE.md). Not the same run's STREAM triad: the triad counts no write-allocate
# traffic, so it understates what a read-only pass gets (a 160 MB pass read at 15 GB/s
# while the triad gave 13 GB/s, on the Xeon VM of 2026-12-08).


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    w = rng.standard_normal((D, 10)) / np.sqrt(D)
    logits = 2 * X @ w + rng.logistic(size=(N, 10))
    y10 = logits.argmax(1)
    y2 = (logits[:, 0] > 0).astype(np.int64)
    yr = X @ w[:, 0] + 0.1 * rng.standard_normal(N)
    return X, y2, y10, yr


def _evals(est, X, y):
    """(fastest objective evaluation -- one kernel pass plus its few microseconds of
    Python --, number of evaluations) over one fastfit fit."""
    from fastfit._estimators import _logistic
    times = []
    orig = _logistic._Objective.__call__

    def timed(self, theta, need_grad=True):
        t0 = time.perf_counter()
        out = orig(self, theta, need_grad)
        times.append(time.perf_counter() - t0)
        return out
    _logistic._Objective.__call__ = timed
    try:
        est.fit(X, y)
    finally:
        _logistic._Objective.__call__ = orig
    return min(times), len(times)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("classes", [2, 10])
def test_logistic_lbfgs(benchmark, data, classes, dtype):
    X, y2, y10, _ = data
    y = y2 if classes == 2 else y10
    Xo = X.astype(dtype)
    ours = fastfit.LogisticRegression()
    ref = sk.LogisticRegression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ratio = compare(benchmark, lambda: ours.fit(Xo, y), lambda: ref.fit(X, y),
                        baseline_name="sklearn_f64", repeat=2)
        per_eval, n_evals = _evals(fastfit.LogisticRegression(), Xo, y)
        if dtype == np.float32:  # scikit-learn on the same float32 copy, for reference
            sk32 = min_time(lambda: sk.LogisticRegression().fit(Xo, y), repeat=2)
            ours_t = benchmark.extra_info["ours_s"]
            print(f"[ratio] sklearn float32 fit {sk32 * 1e3:.0f} ms: fastfit float32 is "
                  f"{sk32 / ours_t:.2f}x faster than it")
    k = 1 if classes == 2 else classes
    bytes_pass = Xo.nbytes
    flops_pass = 4.0 * N * D * k
    limit = max(bytes_pass / BANDWIDTH, flops_pass / gemm_peak_flops(np.dtype(dtype).name)[0])
    rel = np.abs(ours.coef_ - ref.coef_).max() / np.abs(ref.coef_).max()
    print(f"[limit] {classes} classes {np.dtype(dtype).name}: {n_evals} evaluations, "
          f"fastest {per_eval * 1e3:.2f} ms vs limit {limit * 1e3:.2f} ms "
          f"({bytes_pass / 1e6:.0f} MB at {BANDWIDTH / 1e9:.0f} GB/s, "
          f"{flops_pass / 1e9:.2f} GFLOP): {limit / per_eval:.0%} of the limit; "
          f"n_iter ours {ours.n_iter_[0]} sklearn {ref.n_iter_[0]}, coef rel diff {rel:.1e}")
    benchmark.extra_info.update({"per_eval_s": per_eval, "limit_s": limit, "n_evals": n_evals})
    assert rel < 1e-3 or dtype == np.float32
    assert ratio > 0  # the figure is reported, not asserted: the machine is shared


@pytest.mark.parametrize("Est", ["LinearRegression", "Ridge"])
def test_least_squares(benchmark, data, Est):
    X, _, _, yr = data
    ours = getattr(fastfit, Est)()
    ref = getattr(sk, Est)()
    compare(benchmark, lambda: ours.fit(X, yr), lambda: ref.fit(X, yr),
            baseline_name="sklearn", repeat=3)
    assert np.abs(ours.coef_ - ref.coef_).max() / np.abs(ref.coef_).max() < 1e-6
