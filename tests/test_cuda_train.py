"""Trainer(device="cuda") against device="cpu" on Numba's CUDA simulator.

The GPU path runs the same plan with the Numba twins; with the same random_state it must
draw the same epoch order and dropout masks, so weights, running statistics and history
agree with the C engine to float32 rounding. The simulator runs every CUDA thread as a
Python thread (~0.05-0.2 s a launch here), so the models are tiny and each fit is two
epochs of two or three batches.

Linear layers feeding a batch norm have no bias here: that bias's gradient is zero
analytically and rounding noise numerically, which Adam normalises to +-lr steps of
arbitrary sign -- the two devices would then differ by design, not by a bug.

As in test_cuda_ops.py, the simulator is chosen just for numba's first import; if numba
was already imported for real hardware, the module skips (run it on its own).
"""

import os
import pickle
import sys

import numpy as np
import pytest
from cudasim import import_simulated_cuda

fc, _ = import_simulated_cuda(__file__)

from fastfit import Trainer, callbacks, losses, nn, optim  # noqa: E402
from fastfit._trainer import NonFiniteLossError  # noqa: E402

pytestmark = [pytest.mark.skipif(not fc.SIMULATOR, reason="needs the CUDA simulator"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def _bn_model(dtype="float32", k=3, act=nn.ReLU):
    """5-7-k with batch norm, ReLU, dropout and a residual block (the issue's test model)."""
    return nn.Sequential(nn.Linear(5, 7, bias=False), nn.BatchNorm(7), act(), nn.Dropout(0.25),
                         nn.Residual(nn.Linear(7, 7, bias=False), nn.BatchNorm(7), act()),
                         nn.Linear(7, k), dtype=dtype, random_state=0)


def _plain_model(k, dtype="float32"):
    """No batch norm (fewer launches): tanh and dropout."""
    return nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Dropout(0.3), nn.Linear(4, k),
                         dtype=dtype, random_state=1)


def _projected_model(k, dtype="float32"):
    """A residual block whose skip is a projection (5 -> 4), GELU."""
    return nn.Sequential(nn.Residual(nn.Linear(5, 4), nn.GELU()), nn.Linear(4, k),
                         dtype=dtype, random_state=1)


def _data(n, k, kind, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5)).astype(np.float32)
    if kind == "ce":
        y = rng.integers(0, k, n)
    elif kind == "bce":
        y = (rng.random((n, k)) < 0.5).astype(np.float32)
    else:
        y = rng.standard_normal((n, k)).astype(np.float32)
    return X, y


def _fit_both(make_model, loss, make_opt, X, y, *, fit_kwargs=None, **kwargs):
    out = {}
    for device in ("cpu", "cuda"):
        model = make_model()
        t = Trainer(model, loss, make_opt(), random_state=3, device=device, **kwargs)
        hist = t.fit(X, y, **(fit_kwargs or {}))
        out[device] = (t, model, hist)
    return out


def _assert_same(out, tol=2e-5, keys=("loss",)):
    (tc, mc, hc), (tg, mg, hg) = out["cpu"], out["cuda"]
    assert tg.step_ == tc.step_ and tg.epoch_ == tc.epoch_
    np.testing.assert_allclose(mg.params, mc.params, rtol=tol, atol=tol)
    np.testing.assert_allclose(mg.stats, mc.stats, rtol=tol, atol=tol)
    for a, b in zip(tg._slots, tc._slots, strict=True):  # the optimizer state came back too
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    for key in keys:
        np.testing.assert_allclose(hg[key], hc[key], rtol=tol, atol=tol)
    assert len(hg["loss"]) == len(hc["loss"])


def test_bn_dropout_residual_cross_entropy_adam():
    # 13 rows, batch 6: the last row merges into the second batch (batch norm), so
    # 2 batches an epoch; dropout masks come from the same Philox stream offsets
    X, y = _data(13, 3, "ce")
    out = _fit_both(_bn_model, "cross_entropy", lambda: optim.Adam(lr=1e-2), X, y, epochs=2,
                    batch_size=6)
    _assert_same(out, keys=("loss", "accuracy"))
    assert out["cuda"][0].step_ == 4
    # the model trained on the device predicts on the host as usual
    np.testing.assert_allclose(out["cuda"][1].predict(X), out["cpu"][1].predict(X), rtol=1e-4,
                               atol=1e-5)


class _NumpyCupy:
    """Stands in for CuPy under the simulator (whose device arrays wrap NumPy arrays), so
    the trainer's cuBLAS path -- zero-copy 2-D views, products written straight into the
    workspace and the gradient buffer -- runs here too."""

    @staticmethod
    def asarray(a):
        return a._ary

    matmul = staticmethod(np.matmul)


def test_cublas_path_with_a_projected_residual(monkeypatch):
    import fastfit.cuda._train as train

    monkeypatch.setattr(train, "cupy_module", lambda: _NumpyCupy)
    X, y = _data(12, 3, "mse")

    def make():
        return nn.Sequential(nn.Linear(5, 6), nn.ReLU(),
                             nn.Residual(nn.Linear(6, 4), nn.Tanh()), nn.Linear(4, 2),
                             nn.Residual(nn.Linear(2, 3)), dtype="float32", random_state=1)
    out = _fit_both(make, "mse", lambda: optim.Adam(lr=1e-2), X, y, epochs=2, batch_size=5)
    assert out["cuda"][0]._native.cp is _NumpyCupy
    _assert_same(out)


def test_mse_sgd_momentum_with_validation_and_callbacks():
    X, y = _data(10, 2, "mse")
    cb = callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    out = _fit_both(lambda: _plain_model(2), "mse",
                    lambda: optim.SGD(lr=0.05, momentum=0.9, nesterov=True), X, y, epochs=2,
                    batch_size=5, callbacks=[cb], fit_kwargs={"validation_fraction": 0.3})
    _assert_same(out, keys=("loss", "val_loss", "val_r2", "lr"))


def test_bce_adamw_clipping_sample_weight_float64():
    X, y = _data(8, 2, "bce")
    w = np.linspace(0.5, 2.0, 8)
    out = _fit_both(lambda: _projected_model(2, "float64"), "bce",
                    lambda: optim.AdamW(lr=1e-2, weight_decay=0.1, clip_norm=0.05), X, y, epochs=2,
                    batch_size=4, fit_kwargs={"sample_weight": w})
    _assert_same(out, tol=1e-10, keys=("loss", "accuracy"))


def test_poisson_adam_sample_weight_with_validation():
    # the log link: the model's outputs are log-means, the targets counts (zeros included)
    X, _ = _data(10, 2, "mse")
    y = np.random.default_rng(5).poisson(1.5, (10, 2)).astype(np.float32)
    w = np.linspace(0.5, 2.0, 10).astype(np.float32)
    out = _fit_both(lambda: _plain_model(2), "poisson", lambda: optim.Adam(lr=1e-2), X, y,
                    epochs=2, batch_size=4,
                    fit_kwargs={"sample_weight": w, "validation_fraction": 0.3})
    _assert_same(out, keys=("loss", "val_loss", "val_r2"))


def test_zero_weight_batch_is_skipped_rmsprop_l1():
    # no shuffle, batch 3: rows 3..5 weigh zero, so the second batch of every epoch is
    # skipped by both engines (no step), the others train
    X, y = _data(9, 3, "ce")
    w = np.array([1, 2, 1, 0, 0, 0, 1, 1, 3], float)
    out = _fit_both(lambda: nn.Sequential(nn.Linear(5, 3), random_state=2),
                    losses.CrossEntropy(), lambda: optim.RMSProp(
        lr=1e-2, momentum=0.5, l1=1e-3, weight_decay=1e-2), X, y, epochs=2, batch_size=3,
                    shuffle=False, fit_kwargs={"sample_weight": w})
    _assert_same(out, keys=("loss", "accuracy"))
    assert out["cuda"][0].step_ == 4


def _sk(cls, l2_loss, **kwargs):
    """An optimizer in the engine's scikit-learn mode, as MLPClassifier/MLPRegressor
    build it (settings() carries sklearn=True and l2_loss)."""
    from fastfit._estimators._mlp import _sk_optimizer

    opt = _sk_optimizer(cls, l2_loss, **kwargs)
    assert opt.settings()["sklearn"] is True and opt.settings()["l2_loss"] == l2_loss
    return opt


@pytest.mark.parametrize("dtype, cls, l2, kwargs, loss, kind, weighted", [
    # Adam: L2 / weight sum, eps / sqrt(1 - beta2^t), the L2 loss term, epoch loss by rows
    ("float32", optim.Adam, 1e-2, dict(lr=1e-2, eps=1e-3, weight_decay=1e-2), "cross_entropy",
     "ce", True),
    ("float64", optim.Adam, 0.3, dict(lr=1e-2, eps=1e-3, weight_decay=0.3), "mse", "mse", True),
    # SGD with Nesterov momentum: the L2 scaling and the loss term
    ("float64", optim.SGD, 0.2, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
     "bce", "bce", False),
    # AdamW (decoupled): no division by the weight sum, l2_loss 0 as the estimator sets it
    ("float64", optim.AdamW, 0.0, dict(lr=1e-2, weight_decay=0.1), "cross_entropy", "ce", True),
])
def test_sklearn_mode_matches_the_c_engine(dtype, cls, l2, kwargs, loss, kind, weighted):
    X, y = _data(11, 2, kind, seed=5)
    w = np.linspace(0.5, 2.0, 11) if weighted else None
    out = _fit_both(lambda: _plain_model(2, dtype), loss, lambda: _sk(cls, l2, **kwargs), X, y,
                    epochs=2, batch_size=4, fit_kwargs={"sample_weight": w})
    tol = 1e-10 if dtype == "float64" else 2e-5
    _assert_same(out, tol=tol, keys=("loss",))
    # the mode matters here: the plain optimizer trains (or reports) measurably differently
    model = _plain_model(2, dtype)
    plain = Trainer(model, loss, cls(**kwargs), random_state=3, epochs=2, batch_size=4)
    hist = plain.fit(X, y, sample_weight=w)
    mc, hc = out["cpu"][1], out["cpu"][2]
    assert (np.abs(model.params - mc.params).max() > 1e3 * tol
            or np.abs(np.subtract(hist["loss"], hc["loss"])).max() > 1e3 * tol)


def test_non_finite_loss_restores_last_good_epoch():
    X, y = _data(8, 1, "mse")
    y = y * 1e30
    res = {}
    for device in ("cpu", "cuda"):
        model = nn.Sequential(nn.Linear(5, 1), dtype="float32", random_state=0)
        t = Trainer(model, "mse", optim.SGD(lr=1e4), epochs=3, batch_size=4, random_state=0,
                    device=device)
        with pytest.raises(NonFiniteLossError) as info:
            t.fit(X, y)
        res[device] = (str(info.value), model.params.copy(), t.epoch_, t.step_, len(t.history))
    assert res["cuda"][0] == res["cpu"][0]
    np.testing.assert_allclose(res["cuda"][1], res["cpu"][1], rtol=1e-5)
    assert res["cuda"][2:] == res["cpu"][2:]


def test_fit_continues_and_pickles():
    X, y = _data(10, 2, "ce")
    model = nn.Sequential(nn.Linear(5, 2), dtype="float32", random_state=0)
    t = Trainer(model, "cross_entropy", "adam", epochs=1, batch_size=5, random_state=0,
                device="cuda")
    t.fit(X, y)
    from fastfit._backend import Backend

    assert isinstance(t._native, Backend)   # the GPU twin keeps the Trainer's one contract
    rows = t._native.slot_rows(0, 5, 5)       # the last batch's input rows, gathered
    assert rows.shape == (5, 5) and all(np.any(np.all(X == r, axis=1)) for r in rows)
    t2 = pickle.loads(pickle.dumps(t))
    assert t2.device == "cuda" and t2._native is None
    ref = nn.Sequential(nn.Linear(5, 2), dtype="float32", random_state=0)
    tr = Trainer(ref, "cross_entropy", "adam", epochs=1, batch_size=5, random_state=0)
    tr.fit(X, y)
    t.fit(X, y)     # continues from the host state: a second epoch, the optimizer state kept
    tr.fit(X, y)
    np.testing.assert_allclose(model.params, ref.params, rtol=1e-5, atol=1e-6)
    assert t.step_ == tr.step_ == 4
    t.train_step(X[:3], y[:3])  # custom loops run on the CPU engine
    assert t.step_ == 5


def test_device_argument_is_validated(monkeypatch):
    model = nn.Sequential(nn.Linear(5, 2), random_state=0)
    for bad in ("gpu", "CUDA", None, 0):
        with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
            Trainer(model, device=bad)
    import fastfit.cuda._train as train

    monkeypatch.setattr(train, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="needs an NVIDIA GPU"):
        Trainer(model, device="cuda")
    t = Trainer(model, device="cpu")
    assert t.device == "cpu" and Trainer(model).device == "cpu"
    t.device = "cuda"  # found at fit time as well
    with pytest.raises(RuntimeError, match="needs an NVIDIA GPU"):
        t.fit(np.zeros((4, 5), np.float32), np.array([0, 1, 0, 1]))


@pytest.mark.slow
@pytest.mark.parametrize("loss, kind, k, make_opt, act", [
    ("mse", "mse", 2, lambda: optim.SGD(lr=0.05, momentum=0.9), nn.ReLU),
    ("bce", "bce", 2, lambda: optim.AdamW(lr=1e-2, weight_decay=0.1, clip_norm=0.5), nn.Tanh),
    (losses.Huber(0.5), "mse", 1, lambda: optim.Adam(lr=1e-2, weight_decay=1e-3), nn.GELU),
])
def test_bn_model_other_losses(loss, kind, k, make_opt, act):
    # batch norm + activation run fused on the device; tanh reads y, GELU reads x
    X, y = _data(13, k, kind, seed=4)
    out = _fit_both(lambda: _bn_model(k=k, act=act), loss, make_opt, X, y, epochs=2, batch_size=6)
    _assert_same(out)


_GPU_SCRIPT = r"""
import numpy as np
from numba import cuda
if not cuda.is_available():
    print("NO-GPU")
    raise SystemExit(0)
import runpy, sys
sys.argv = ["gpu_check.py", "--check-only"]
check = runpy.run_path(PATH, run_name="gpu_check_module")
results = check["_w1_check_only"]()
for name, good in results:
    print(name, "ok" if good else "FAILED")
raise SystemExit(0 if all(good for _, good in results) else 1)
"""


@pytest.mark.gpu
def test_w1_epoch_on_a_real_gpu():
    """One W1 epoch (64-256-256-10 + BN, Adam, batch 256, 16k rows) with device="cuda"
    against the CPU engine, in a fresh interpreter without the simulator."""
    import subprocess
    import tempfile
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = f"PATH = {str(script)!r}\n" + _GPU_SCRIPT
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir(), timeout=600)
    if "NO-GPU" in proc.stdout:
        pytest.skip("no CUDA GPU visible")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


class _BatchLosses(callbacks.Callback):
    def __init__(self):
        self.seen = []

    def on_batch_end(self, trainer, batch, logs):
        self.seen.append((batch, logs["loss"]))


class _Interrupt(callbacks.Callback):
    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == 1:
            raise KeyboardInterrupt


def test_batch_hooks_and_ctrl_c_between_epochs():
    X, y = _data(10, 2, "ce")
    res = {}
    for device in ("cpu", "cuda"):
        model = nn.Sequential(nn.Linear(5, 2), dtype="float32", random_state=0)
        hook = _BatchLosses()
        t = Trainer(model, "cross_entropy", "adam", epochs=3, batch_size=4, random_state=0,
                    device=device, callbacks=[hook, _Interrupt()])
        with pytest.raises(KeyboardInterrupt):
            t.fit(X, y)
        # raised after the second epoch completed: its state is kept (the snapshot)
        res[device] = (hook.seen, model.params.copy(), t.epoch_, t.step_, len(t.history))
    (seen_c, pc, *rest_c), (seen_g, pg, *rest_g) = res["cpu"], res["cuda"]
    assert [b for b, _ in seen_g] == [b for b, _ in seen_c] == [0, 1, 2, 0, 1, 2]
    np.testing.assert_allclose([v for _, v in seen_g], [v for _, v in seen_c], rtol=1e-5)
    np.testing.assert_allclose(pg, pc, rtol=1e-5, atol=1e-6)
    assert rest_g == rest_c == [2, 6, 2]


def test_cuda_without_numba_cuda_says_what_to_install():
    # a fresh interpreter where numba cannot be imported (as test_cuda_import.py does)
    import subprocess
    import tempfile

    code = ("import sys\n"
            "class Hide:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('numba', 'numba_cuda'):\n"
            "            raise ImportError(f'No module named {name!r}')\n"
            "sys.meta_path.insert(0, Hide())\n"
            "from fastfit import Trainer, nn\n"
            "model = nn.Sequential(nn.Linear(3, 2))\n"
            "Trainer(model, device='cpu')\n"
            "try:\n"
            "    Trainer(model, device='cuda')\n"
            "except ImportError as exc:\n"
            "    print(exc)\n"
            "else:\n"
            "    raise SystemExit('no error')\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'fastfit[cuda]'" in proc.stdout
