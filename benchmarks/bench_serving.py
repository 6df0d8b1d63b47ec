"""Serving: fastfit's predictions against onnxruntime running the graph fastfit exported
(``fastfit.onnx.to_onnx``), same run; and ``fastfit.load`` of the same model.

Model: MLPClassifier 64-256-256-10, float32 (84,480 weights, 338 kB).

Limits, written down first:

* One row: every weight is read once per row, 338 kB, from L2 at best (1 MB per Zen 4
  core): at ~100-150 GB/s that is ~2.5-3.5 us; the multiply-adds (84k, ~1 us at one
  core's peak) hide under the reads. Above that sits the Python call and the GIL-held
  part of ``predict_proba`` (~1 us).
* 4096 rows: 692 MFLOP, compute-bound: ~3.5 ms at two cores' ~200 GFLOP/s SGEMM peak.
* Two Python threads: the C call releases the GIL, so 256-row batches (~0.3 ms of C
  each) can use both cores (limit 2x); a one-row call is ~1 us of Python under the GIL
  around ~5 us of C, so two threads can gain until the GIL-held parts collide.

Run: ``PYTHONPATH=benchmarks pytest benchmarks/bench_serving.py --benchmark-only -s
-p no:cacheprovider`` (needs ``pip install '.[onnx]'``).
"""

from __future__ import annotations

import io
import pickle
import threading
import time
import warnings

import numpy as np
import pytest
from _compare import compare

import fastfit

ort = pytest.importorskip("onnxruntime")
fastfit_onnx = pytest.importorskip("fastfit.onnx")

THREAD_CALLS = 400


@pytest.fixture(scope="module")
def served():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4096, 64)).astype(np.float32)
    y = rng.integers(0, 10, 4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = fastfit.MLPClassifier((256, 256), max_iter=2, random_state=0).fit(X, y)
    model = fastfit_onnx.to_onnx(est, X[:1]).SerializeToString()
    return est, model, X


def _session(model, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def test_one_row_predict_proba_vs_onnxruntime(benchmark, served):
    est, model, X = served
    sess = _session(model, 1)
    x = X[:1].copy()
    np.testing.assert_allclose(sess.run(["probabilities"], {"X": x})[0], est.predict_proba(x),
                               rtol=1e-4, atol=1e-6)
    compare(benchmark, lambda: est.predict_proba(x),
            lambda: sess.run(["probabilities"], {"X": x}), baseline_name="onnxruntime",
            number=500)


def test_batch_4096_predict_proba_vs_onnxruntime(benchmark, served):
    est, model, X = served
    sess = _session(model, 2)
    compare(benchmark, lambda: est.predict_proba(X),
            lambda: sess.run(["probabilities"], {"X": X}), baseline_name="onnxruntime",
            number=3)


def _throughput(fn, n_threads):
    """Calls per second of ``fn`` run THREAD_CALLS times in each of n_threads threads."""
    start = threading.Barrier(n_threads + 1)

    def work():
        start.wait()
        for _ in range(THREAD_CALLS):
            fn()

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return n_threads * THREAD_CALLS / (time.perf_counter() - t0)


def _thread_scaling(benchmark, ours, baseline, label):
    rates = {}
    for _ in range(3):   # best of three, alternating, as _compare does
        for name, fn in (("fastfit", ours), ("onnxruntime", baseline)):
            for n in (1, 2):
                rates[name, n] = max(rates.get((name, n), 0.0), _throughput(fn, n))
    benchmark.pedantic(lambda: _throughput(ours, 2), rounds=1, iterations=1)
    info = {f"{name}_{n}threads_per_s": r for (name, n), r in rates.items()}
    info["fastfit_2_over_1"] = rates["fastfit", 2] / rates["fastfit", 1]
    info["onnxruntime_2_over_1"] = rates["onnxruntime", 2] / rates["onnxruntime", 1]
    info["fastfit_over_onnxruntime_2threads"] = rates["fastfit", 2] / rates["onnxruntime", 2]
    benchmark.extra_info.update(info)
    print(f"\n[threads] {label}: fastfit {rates['fastfit', 1]:.0f}/s on one thread, "
          f"{rates['fastfit', 2]:.0f}/s on two ({info['fastfit_2_over_1']:.2f}x); "
          f"onnxruntime {rates['onnxruntime', 1]:.0f}/s, {rates['onnxruntime', 2]:.0f}/s "
          f"({info['onnxruntime_2_over_1']:.2f}x)")


def test_two_threads_predict_256_rows(benchmark, served):
    est, model, X = served
    est = fastfit.load(_saved(est))
    est.set_params(n_threads=1)   # one OpenMP thread per Python thread
    sess = _session(model, 1)
    x = X[:256].copy()
    _thread_scaling(benchmark, lambda: est.predict(x),
                    lambda: sess.run(["label"], {"X": x}), "predict, 256 rows")


def test_two_threads_predict_proba_one_row(benchmark, served):
    est, model, X = served
    sess = _session(model, 1)
    x = X[:1].copy()
    _thread_scaling(benchmark, lambda: est.predict_proba(x),
                    lambda: sess.run(["probabilities"], {"X": x}), "predict_proba, one row")


def _saved(est):
    buf = io.BytesIO()
    fastfit.save(est, buf)
    buf.seek(0)
    return buf


def test_load_vs_pickle(benchmark, served):
    est = served[0]
    data = _saved(est).getvalue()
    pickled = pickle.dumps(est)
    back = fastfit.load(io.BytesIO(data))
    np.testing.assert_array_equal(back.predict_proba(served[2]), est.predict_proba(served[2]))
    compare(benchmark, lambda: fastfit.load(io.BytesIO(data)), lambda: pickle.loads(pickled),
            baseline_name="pickle", number=20)
