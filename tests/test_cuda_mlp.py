"""MLPClassifier/MLPRegressor(device="cuda") against device="cpu" on Numba's CUDA simulator.

The estimators train through ``Trainer(device=...)`` with the optimizer in the engine's
scikit-learn mode (L2 over the batch's weight sum, Adam's eps where scikit-learn puts it,
the L2 term in the reported loss, the epoch loss averaged by rows); the GPU trainer
implements that mode as the C engine does, so the same random_state gives the same
loss curve, coefficients and predictions to float32 rounding (float32) or ~1e-10
(float64). The simulator runs every CUDA thread as a Python thread, so the networks are
tiny and each fit is two or three epochs of two batches.

With batch norm, the hidden Linear layers' biases feed a batch norm: their gradient is
zero analytically and rounding noise numerically, which Adam in float32 turns into
+-lr steps of arbitrary sign (see tests/test_cuda_train.py). Batch norm is therefore
tested with Adam in float64 (the noise stays ~1e-12 below eps) and SGD in float32.

As in test_cuda_train.py, the simulator is chosen just for numba's first import; if
numba was already imported for real hardware, the module skips (run it on its own).
"""

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from cudasim import import_simulated_cuda

fc, _ = import_simulated_cuda(__file__)

from fastfit import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = [pytest.mark.skipif(not fc.SIMULATOR, reason="needs the CUDA simulator"),
              pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def _data(n=16, d=4, kind="multiclass", dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    if kind == "multiclass":
        y = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
    elif kind == "binary":
        y = rng.integers(0, 2, n)
    else:
        y = (X[:, :2] @ np.array([[1.0, -0.5], [0.3, 2.0]]) + 0.1 * rng.standard_normal((n, 2)))
        y = y.astype(dtype)
    return X, y


def _fit_both(cls, X, y, fit_kwargs=None, **params):
    params = {"hidden_layer_sizes": (5,), "batch_size": 8, "max_iter": 2, "random_state": 0,
              **params}
    out = {}
    for device in ("cpu", "cuda"):
        out[device] = cls(device=device, **params).fit(X, y, **(fit_kwargs or {}))
    return out["cpu"], out["cuda"]


def _assert_same(cpu, gpu, X, tol):
    assert gpu.n_iter_ == cpu.n_iter_ and gpu.t_ == cpu.t_
    assert gpu._trainer.device == "cuda" and cpu._trainer.device == "cpu"
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=tol, atol=tol)
    np.testing.assert_allclose(gpu.loss_, cpu.loss_, rtol=tol, atol=tol)
    for a, b in zip(gpu.coefs_ + gpu.intercepts_, cpu.coefs_ + cpu.intercepts_, strict=True):
        assert a.dtype == b.dtype == X.dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    np.testing.assert_allclose(gpu._model.stats, cpu._model.stats, rtol=tol, atol=tol)
    pred_g, pred_c = gpu.predict(X), cpu.predict(X)
    if hasattr(cpu, "classes_"):
        np.testing.assert_array_equal(gpu.classes_, cpu.classes_)
        np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), rtol=10 * tol,
                                   atol=10 * tol)
        # labels equal unless two classes are tied to rounding
        assert np.mean(pred_g == pred_c) >= 0.9
    else:
        np.testing.assert_allclose(pred_g, pred_c, rtol=10 * tol, atol=10 * tol)


F32, F64 = 2e-5, 1e-10


def test_classifier_multiclass_adam_float32_sample_weight():
    X, y = _data()
    w = np.linspace(0.5, 2.0, X.shape[0])
    cpu, gpu = _fit_both(MLPClassifier, X, y, fit_kwargs={"sample_weight": w}, alpha=1e-2)
    _assert_same(cpu, gpu, X, F32)


def test_classifier_binary_sgd_nesterov_invscaling_float64():
    X, y = _data(kind="binary", dtype=np.float64)
    cpu, gpu = _fit_both(MLPClassifier, X, y, solver="sgd", momentum=0.9, nesterovs_momentum=True,
                         learning_rate="invscaling", learning_rate_init=0.1, power_t=0.5,
                         alpha=1e-2, activation="tanh", max_iter=3)
    assert cpu.out_activation_ == "logistic"
    _assert_same(cpu, gpu, X, F64)


@pytest.mark.parametrize("dtype, params", [
    (np.float64, dict(solver="sgd", momentum=0.5, nesterovs_momentum=False, alpha=0.1,
                      learning_rate_init=0.05)),
    (np.float32, dict(solver="adam", alpha=1e-3, learning_rate_init=1e-2, activation="logistic")),
])
def test_regressor_two_outputs(dtype, params):
    X, y = _data(kind="regression", dtype=dtype)
    cpu, gpu = _fit_both(MLPRegressor, X, y, **params)
    _assert_same(cpu, gpu, X, F64 if dtype == np.float64 else F32)


def test_classifier_early_stopping_float32():
    X, y = _data(n=20, kind="binary")
    cpu, gpu = _fit_both(MLPClassifier, X, y, early_stopping=True, validation_fraction=0.2,
                         max_iter=3)
    assert len(gpu.validation_scores_) == len(cpu.validation_scores_) == 3
    np.testing.assert_allclose(gpu.validation_scores_, cpu.validation_scores_)
    assert gpu.best_validation_score_ == cpu.best_validation_score_ and gpu.best_loss_ is None
    _assert_same(cpu, gpu, X, F32)


@pytest.mark.parametrize("dtype, params", [
    (np.float64, dict(solver="adam", learning_rate_init=1e-2)),
    (np.float32, dict(solver="sgd", momentum=0.9, learning_rate_init=0.05)),
])
def test_classifier_batch_norm_dropout(dtype, params):
    # 17 rows, batch 8: the last row merges into the second batch (batch norm); the dropout
    # masks come from the same Philox stream offsets on both devices
    X, y = _data(n=17, dtype=dtype)
    cpu, gpu = _fit_both(MLPClassifier, X, y, batch_norm=True, dropout=0.2, alpha=1e-3, **params)
    assert gpu.t_ == 2 * 17
    _assert_same(cpu, gpu, X, F64 if dtype == np.float64 else F32)


def test_partial_fit_and_pickle():
    X, y = _data(kind="binary")
    res = {}
    for device in ("cpu", "cuda"):
        est = MLPClassifier((5,), batch_size=8, random_state=0, device=device)
        est.partial_fit(X, y, classes=[0, 1])
        est = pickle.loads(pickle.dumps(est))
        est.partial_fit(X, y)
        res[device] = est
    assert res["cuda"].device == "cuda" and res["cuda"]._trainer.device == "cuda"
    _assert_same(res["cpu"], res["cuda"], X, F32)


def _state(est):
    """Everything the estimator keeps, as its pickle (views and cffi handles are rebuilt)."""
    return pickle.dumps(est)


def test_device_is_validated_and_a_rejected_fit_changes_nothing(monkeypatch):
    X, y = _data(kind="binary")
    for bad in ("gpu", "CUDA", None, 0, ["cuda"]):
        with pytest.raises(ValueError, match="'device' parameter must be 'cpu' or 'cuda'"):
            MLPClassifier(device=bad).fit(X, y)
    for cls, yy in ((MLPClassifier, y), (MLPRegressor, X[:, :2])):
        with pytest.raises(ValueError, match="solver='lbfgs' runs on the CPU only.*device='cpu'"):
            cls(solver="lbfgs", device="cuda").fit(X, yy)
    # a fitted estimator is unchanged by a rejected call (its parameters put back)
    est = MLPClassifier((3,), max_iter=1, random_state=0).fit(X, y)
    before = _state(est)
    import fastfit.cuda._train as train

    for params, error in ((dict(device="tpu"), ValueError),
                          (dict(device="cuda", solver="lbfgs"), ValueError),
                          (dict(device="cuda", warm_start=True), RuntimeError)):
        with monkeypatch.context() as mp:
            if error is RuntimeError:  # no GPU visible: said before the fit starts
                mp.setattr(train, "is_available", lambda: False)
            est.set_params(**params)
            with pytest.raises(error, match="device|GPU"):
                est.fit(X, y)
            if params.get("solver") != "lbfgs":
                with pytest.raises(error, match="device|GPU"):
                    est.partial_fit(X, y)
        est.set_params(device="cpu", solver="adam", warm_start=False)
        assert _state(est) == before


_GPU_SCRIPT = r"""
from numba import cuda
if not cuda.is_available():
    print("NO-GPU")
    raise SystemExit(0)
import runpy, sys
sys.argv = ["gpu_check.py", "--check-only"]
check = runpy.run_path(PATH, run_name="gpu_check_module")
results = check["mlp_check"](20_000, 64, (256,), 3)
for name, good in results:
    print(name, "ok" if good else "FAILED")
raise SystemExit(0 if all(good for _, good in results) else 1)
"""


@pytest.mark.gpu
def test_mlp_classifier_20k_x_64_on_a_real_gpu():
    """MLPClassifier(device="cuda") on 20k x 64 (three epochs, Adam) against device="cpu",
    in a fresh interpreter without the simulator (benchmarks/gpu_check.py's mlp_check)."""
    script = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-c", f"PATH = {str(script)!r}\n" + _GPU_SCRIPT],
                          capture_output=True, text=True, env=env, cwd=tempfile.gettempdir(),
                          timeout=600)
    if "NO-GPU" in proc.stdout:
        pytest.skip("no CUDA GPU visible")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
