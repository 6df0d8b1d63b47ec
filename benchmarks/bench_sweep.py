"""The shape sweep: all seven estimators against scikit-learn, at the sizes users have.

Every case times one call -- ``fit``, one ``partial_fit`` chunk, or a prediction --
of fastfit's estimator and of scikit-learn's, default parameters and DEFAULT THREADING
(whatever the process has; no thread pool is limited from outside), on the same float64
data, in alternating rounds of the same process (``_compare.compare``). The ratio is
scikit-learn's MEDIAN time over fastfit's (a minimum would hide thread-pool contention,
which shows as slow tries): the goal is >= 1 everywhere.

Shapes: tall (500 to 1M rows, 20 or 100 features), wide (1000 x 2000, more features
than rows), binary, 10 and 100 classes, partial_fit chunks of 100 and 10 000 rows,
predictions of one row and of 200k rows. MLPs run ``max_iter=3`` epochs on both sides
(the same work: scikit-learn's defaults would spend minutes per fit at 200k rows), and
SGDClassifier with 100 classes runs ``max_iter=5`` on both sides (100 one-vs-all problems
that do not converge would run 1000 epochs each).

Each case prints a floor: one read of X at the measured bandwidth, or for products the
FLOPs at the measured GEMM peak -- the least one pass over the data can cost. Fits make
several passes (L-BFGS evaluations, SGD epochs); the floor says how far a single pass is.

Run (about 4 minutes on the 2-core VM; 6 with the settle pause):

    PYTHONPATH=benchmarks pytest benchmarks/bench_sweep.py --benchmark-only -s \
        -p no:cacheprovider --benchmark-json=sweep.json
    FASTFIT_SWEEP_SETTLE=0.25 PYTHONPATH=benchmarks pytest benchmarks/bench_sweep.py ...
    python benchmarks/summarize.py sweep.json
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest
import sklearn.linear_model as skl
import sklearn.neural_network as skn
from sklearn.exceptions import ConvergenceWarning

import fastfit
from _compare import compare

BANDWIDTH = 25e9  # bytes/s, the VM's 2-thread copy bandwidth (ARCHITECTURE.md)
DGEMM = 90e9      # FLOP/s, 2-thread float64 GEMM peak on the VM
# Seconds between switching libraries (FASTFIT_SWEEP_SETTLE, default 0): with 0, every
# fastfit round starts while scikit-learn's OpenBLAS workers still spin (~0.1 s after each
# call) -- the interaction of the two libraries, timed against fastfit only; 0.25 lets each
# side start from idle pools, as a program that uses one of them does.
SETTLE = float(os.environ.get("FASTFIT_SWEEP_SETTLE", "0"))

REGRESSORS = ("LinearRegression", "Ridge", "SGDRegressor", "MLPRegressor")
CLASSIFIERS = ("LogisticRegression", "SGDClassifier", "MLPClassifier")
SK_MODULE = {"LinearRegression": skl, "Ridge": skl, "SGDRegressor": skl,
             "LogisticRegression": skl, "SGDClassifier": skl,
             "MLPRegressor": skn, "MLPClassifier": skn}
PARAMS = {"MLPRegressor": {"max_iter": 3, "random_state": 0},
          "MLPClassifier": {"max_iter": 3, "random_state": 0},
          "SGDRegressor": {"random_state": 0}, "SGDClassifier": {"random_state": 0}}

# (rows, features, classes): classes 0 = regression
FIT_SHAPES = [(500, 20), (2000, 20), (20_000, 20), (200_000, 20), (200_000, 100),
              (1_000_000, 20), (1000, 2000)]
CLASS_COUNTS = {(20_000, 20): (2, 10), (200_000, 100): (2, 10)}
MANY_CLASSES = (5000, 500, 100)
MLP_SHAPES = [(500, 20), (2000, 20), (20_000, 20), (200_000, 64), (1000, 2000)]


def _cases():
    cases = []
    for name in REGRESSORS + CLASSIFIERS:
        mlp = name.startswith("MLP")
        for n, d in (MLP_SHAPES if mlp else FIT_SHAPES):
            counts = (0,) if name in REGRESSORS else CLASS_COUNTS.get((n, d), (2,))
            if name == "SGDClassifier" and n * d > 10**6:
                counts = (2,)  # scikit-learn's 10 one-vs-all SGD problems: 26 s a fit
            for k in counts:
                cases.append((name, "fit", n, d, k, 0))
        if name in CLASSIFIERS and not mlp:
            cases.append((name, "fit", *MANY_CLASSES, 0))
        if "SGD" in name or mlp:
            k = 0 if name in REGRESSORS else 2
            for chunk in (100, 10_000):
                cases.append((name, "partial_fit", 20_000, 20, k, chunk))
            cases.append((name, "partial_fit", 1000, 2000, k, 100))
        k = 0 if name in REGRESSORS else 2
        ops = ("predict",) if name in REGRESSORS else ("predict", "predict_proba",
                                                        "decision_function")
        for op in ops:
            if op == "predict_proba" and name == "SGDClassifier":
                continue  # hinge loss (the default) has no probabilities
            if op == "decision_function" and name == "MLPClassifier":
                continue  # scikit-learn's MLP has none
            for rows in (1, 200_000):
                cases.append((name, op, 200_000, 20, k, rows))
        if name in CLASSIFIERS and not mlp:
            cases.append((name, "predict", *MANY_CLASSES, 5000))
    return cases


def _case_id(case):
    name, op, n, d, k, extra = case
    cls = "" if k == 0 else f"-k{k}"
    tail = f"-{op}{extra}" if op != "fit" else "-fit"
    return f"{name}-{n}x{d}{cls}{tail}"


_DATA: dict = {}


def _data(n, d, k):
    key = (n, d, k)
    if key not in _DATA:
        rng = np.random.default_rng(n * 7 + d * 3 + k)
        X = rng.standard_normal((n, d))
        w = rng.standard_normal((d, max(k, 1))) / np.sqrt(d)
        z = 2 * X @ w
        if k == 0:
            y = z[:, 0] + 0.1 * rng.standard_normal(n)
        elif k == 2:
            y = (z[:, 0] + rng.logistic(size=n) > 0).astype(np.int64)
        else:
            y = (z + rng.logistic(size=z.shape)).argmax(1)
            y[:k] = np.arange(k)  # every class present
        _DATA.clear()  # one data set alive at a time (the 1M-row set is 160 MB)
        _DATA[key] = (X, y)
    return _DATA[key]


def _floor(op, n, d, k, extra):
    """Seconds for one pass: bytes of the X read (predict: only its rows) at bandwidth, or
    the GEMM FLOPs (logits and gradient for k outputs) at peak, whichever is larger."""
    rows = extra if op in ("predict", "predict_proba", "decision_function") else \
        (extra if op == "partial_fit" else n)
    outs = max(k, 1) if k != 2 else 1
    passes = 1 if op != "fit" else 2
    return max(rows * d * 8 / BANDWIDTH, passes * 2 * rows * d * outs / DGEMM)


def _make(lib, name, k=0):
    cls = getattr(fastfit if lib == "fastfit" else SK_MODULE[name], name)
    params = dict(PARAMS.get(name, {}))
    if name == "SGDClassifier" and k >= 100:
        # 100 one-vs-all problems that do not converge run max_iter=1000 epochs each
        # (minutes a fit for scikit-learn): 5 epochs on both sides
        params["max_iter"] = 5
    return cls(**params)


@pytest.mark.parametrize("case", _cases(), ids=_case_id)
def test_sweep(benchmark, case):
    name, op, n, d, k, extra = case
    X, y = _data(n, d, k)
    warnings.simplefilter("ignore", ConvergenceWarning)
    ours, ref = _make("fastfit", name, k), _make("sklearn", name, k)
    if op == "fit":
        run_ours, run_ref = (lambda: ours.fit(X, y)), (lambda: ref.fit(X, y))
    elif op == "partial_fit":
        kw = {"classes": np.unique(y)} if k else {}
        first = slice(0, extra)
        ours.partial_fit(X[first], y[first], **kw)
        ref.partial_fit(X[first], y[first], **kw)
        chunk = slice(extra, 2 * extra)
        Xc, yc = np.ascontiguousarray(X[chunk]), y[chunk]
        run_ours, run_ref = (lambda: ours.partial_fit(Xc, yc)), (lambda: ref.partial_fit(Xc, yc))
    else:
        ours.fit(X, y)
        ref.fit(X, y)
        Xp = np.ascontiguousarray(X[:extra])
        run_ours = (lambda: getattr(ours, op)(Xp))
        run_ref = (lambda: getattr(ref, op)(Xp))
    t0 = time.perf_counter()
    run_ref()
    probe = time.perf_counter() - t0
    repeat = int(np.clip(0.3 / max(probe, 1e-9), 2, 7))
    number = int(np.clip(2e-3 / max(probe, 1e-9), 1, 200))
    rounds = 3 if probe < 0.3 else 1   # second-long fits: 3 tries each side, not 9
    repeat = repeat if probe < 0.3 else 3
    ratio = compare(benchmark, run_ours, run_ref, baseline_name="sklearn", repeat=repeat,
                    number=number, statistic="median", rounds=rounds, settle=SETTLE)
    floor = _floor(op, n, d, k, extra)
    benchmark.extra_info["floor_s"] = floor
    print(f"[floor] {benchmark.name}: one pass {floor * 1e3:.3f} ms")
    assert ratio > 0
