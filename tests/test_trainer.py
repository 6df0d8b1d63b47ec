"""The Trainer's epoch loop: known loss values, Ctrl-C and non-finite losses (the model
keeps its last completed epoch), determinism across thread counts and seeds, fit
continuation and pickling mid-training, input validation (a rejected call changes
nothing), validation splits and the no-copy guarantee.

"Bitwise" comparisons use a second, fresh trainer built the same way: shuffling and
dropout depend only on (random_state, epoch, step), so training for k epochs must give
the same bits however the k epochs were reached.
"""

import os
import pickle
import signal
import threading

import numpy as np
import pytest

import reference as ref
import fastfit
from fastfit import NonFiniteLossError, Trainer, callbacks, losses, nn, optim


def _state(t):
    return (t.model.params.copy(), t.model.stats.copy(), [s.copy() for s in t._slots],
            t.step_, t.epoch_, [dict(r) for r in t.history.rows])


def _assert_same_weights(a, b):
    np.testing.assert_array_equal(a.model.params, b.model.params)
    np.testing.assert_array_equal(a.model.stats, b.model.stats)
    assert a.step_ == b.step_ and a.epoch_ == b.epoch_


# ---- a tiny model trained to known loss values -------------------------------------------

def test_linear_regression_gradient_descent_closed_form():
    """One Linear, MSE, SGD, full batch, no shuffle: theta_k = theta* + M^k (theta_0 -
    theta*) with M = I - lr * 2/n A^T A, A = [X, 1]; epoch k logs the loss of theta_k."""
    rng = np.random.default_rng(0)
    n, d, lr, epochs = 20, 3, 0.1, 12
    X = rng.standard_normal((n, d))
    y = X @ [1.0, -2.0, 0.5] + 0.3 + 0.1 * rng.standard_normal(n)
    model = nn.Sequential(nn.Linear(d, 1), dtype=np.float64, random_state=1)
    theta0 = model.params.copy()              # [w (3), b]
    t = Trainer(model, loss="mse", optimizer=optim.SGD(lr), batch_size=n, shuffle=False,
                epochs=epochs)
    hist = t.fit(X, y)
    A = np.c_[X, np.ones(n)]
    star = np.linalg.lstsq(A, y, rcond=None)[0]
    M = np.eye(d + 1) - lr * 2 / n * A.T @ A
    thetas = [star + np.linalg.matrix_power(M, k) @ (theta0 - star) for k in range(epochs + 1)]
    expected = [np.mean((A @ th - y) ** 2) for th in thetas[:-1]]
    np.testing.assert_allclose(hist["loss"], expected, rtol=1e-12)
    np.testing.assert_allclose(model.params, thetas[-1], rtol=1e-12)
    assert hist["loss"][-1] < hist["loss"][0] / 2


def test_minibatch_weighted_losses_known():
    """Batches of 4 over 10 rows (4, 4, 2), sample weights: the epoch's loss is the
    weight-averaged batch loss, each batch a weighted MSE step."""
    rng = np.random.default_rng(1)
    n, lr = 10, 0.05
    X, y = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    sw = rng.uniform(0.5, 2.0, n)
    model = nn.Sequential(nn.Linear(2, 2), dtype=np.float64, random_state=0)
    w, b = model.params[:4].reshape(2, 2).copy(), model.params[4:].copy()
    t = Trainer(model, loss="mse", optimizer=optim.SGD(lr), batch_size=4, shuffle=False, epochs=3)
    hist = t.fit(X, y, sample_weight=sw)
    for epoch in range(3):
        total = wsum = 0.0
        for lo in (0, 4, 8):
            xb, yb, wb = X[lo:lo + 4], y[lo:lo + 4], sw[lo:lo + 4]
            loss, dout = ref.mse_loss_ref(xb @ w + b, yb, wb)
            total += loss * wb.sum()
            wsum += wb.sum()
            w, b = w - lr * xb.T @ dout, b - lr * dout.sum(0)
        assert hist["loss"][epoch] == pytest.approx(total / wsum, rel=1e-12)
    np.testing.assert_allclose(model.params, np.r_[w.ravel(), b], rtol=1e-12)


def test_train_step_loop_equals_fit():
    """A custom loop of train_step over the batches in order is the fit with shuffle=False."""
    rng = np.random.default_rng(2)
    X, labels = rng.standard_normal((30, 4)), rng.integers(0, 3, 30)

    def make():
        return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm(8), nn.ReLU(), nn.Linear(8, 3),
                             dtype=np.float64, random_state=0)

    a = Trainer(make(), optimizer=optim.Adam(0.01), batch_size=8, shuffle=False)
    a.fit(X, labels, epochs=2)
    b = Trainer(make(), optimizer=optim.Adam(0.01), batch_size=8, shuffle=False)
    for _ in range(2):
        for lo in (0, 8, 16, 24):
            b.train_step(X[lo:lo + 8], labels[lo:lo + 8])
    np.testing.assert_allclose(a.model.params, b.model.params, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(a.model.stats, b.model.stats, rtol=1e-13, atol=1e-15)
    assert a.step_ == b.step_ == 8


# ---- Ctrl-C ------------------------------------------------------------------------------

def _ctrl_c_setup():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40_000, 16))
    y = X[:, :3].sum(1) + 0.1 * rng.standard_normal(40_000)

    def make():
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 1),
                              dtype=np.float64, random_state=0)
        return Trainer(model, loss="mse", optimizer=optim.Adam(1e-3), batch_size=32,
                       epochs=10_000, random_state=0, n_threads=1)
    return X, y, make


class _InterruptSoon(callbacks.Callback):
    """Arms a timer that sends the process a real SIGINT shortly after epoch 2 ends, so
    it lands inside a later epoch whatever the machine's load."""

    def __init__(self, delay):
        self.delay, self.timer = delay, None

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == 1:
            self.timer = threading.Timer(self.delay, os.kill, (os.getpid(), signal.SIGINT))
            self.timer.start()


@pytest.mark.parametrize("delay", [0.005, 0.03, 0.1])
def test_ctrl_c_keeps_last_completed_epoch(delay):
    """A real SIGINT mid-fit: KeyboardInterrupt propagates, the history and counters
    describe the completed epochs, and the weights, statistics and optimizer state are
    bitwise those of a fresh trainer fitted for exactly that many epochs."""
    X, y, make = _ctrl_c_setup()
    t = make()
    interrupt = _InterruptSoon(delay)
    t.callbacks = [interrupt]
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            t.fit(X, y)
    finally:
        if interrupt.timer is not None:
            interrupt.timer.cancel()
        signal.signal(signal.SIGINT, old)
    done = t.epoch_
    assert 2 <= done < 10_000
    assert len(t.history) == done
    fresh = make()
    fresh.fit(X, y, epochs=done)
    _assert_same_weights(t, fresh)
    for a, b in zip(t._slots, fresh._slots, strict=True):
        np.testing.assert_array_equal(a, b)
    assert t.history["loss"] == fresh.history["loss"]
    # and training goes on from there exactly as the fresh one does
    t.fit(X[:2000], y[:2000], epochs=1)
    fresh.fit(X[:2000], y[:2000], epochs=1)
    _assert_same_weights(t, fresh)


# ---- non-finite loss ---------------------------------------------------------------------

def _diverging(lr=20.0):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 3)), rng.standard_normal(64)

    def make():
        return Trainer(nn.Sequential(nn.Linear(3, 1), dtype=np.float64, random_state=0),
                       loss="mse", optimizer=optim.SGD(lr, momentum=0.5), batch_size=16,
                       epochs=200, random_state=0)
    return X, y, make


def test_non_finite_loss_keeps_last_completed_epoch():
    import re

    X, y, make = _diverging()
    t = make()
    with pytest.raises(NonFiniteLossError, match=r"at epoch \d+, batch \d+") as info:
        t.fit(X, y)
    failed = int(re.search(r"at epoch (\d+)", str(info.value)).group(1))   # 1-based
    assert failed >= 3
    assert t.epoch_ == failed - 1 == len(t.history)
    assert np.all(np.isfinite(t.model.params))
    assert np.all(np.isfinite(t.history["loss"]))
    fresh = make()
    fresh.fit(X, y, epochs=failed - 1)
    _assert_same_weights(t, fresh)
    for a, b in zip(t._slots, fresh._slots, strict=True):
        np.testing.assert_array_equal(a, b)
    assert isinstance(info.value, FloatingPointError)


def test_non_finite_loss_in_first_epoch_restores_initial_weights():
    X, y, make = _diverging(lr=1e150)
    t = make()
    start = t.model.params.copy()
    with pytest.raises(NonFiniteLossError, match="epoch 1,"):
        t.fit(X, y)
    np.testing.assert_array_equal(t.model.params, start)
    assert t.epoch_ == 0 and t.step_ == 0 and len(t.history) == 0


def test_non_finite_from_data_scale():
    """Finite inputs whose squares overflow: the first batch's loss is inf."""
    X = np.full((8, 2), 1e200)
    model = nn.Sequential(nn.Linear(2, 1), dtype=np.float64, random_state=0)
    t = Trainer(model, loss="mse", optimizer="sgd", batch_size=4)
    start = model.params.copy()
    with pytest.raises(NonFiniteLossError, match="epoch 1, batch 1") as info:
        t.fit(X, np.zeros(8))
    np.testing.assert_array_equal(model.params, start)
    # where it happened, as attributes: batch 0 of 2, epoch 0, an infinite loss
    err = info.value
    assert (err.epoch, err.batch, err.last_batch, err.loss) == (0, 0, False, np.inf)
    with pytest.raises(NonFiniteLossError):
        t.train_step(X, np.zeros(8))
    np.testing.assert_array_equal(model.params, start)
    # float32 overflows far sooner
    m32 = nn.Sequential(nn.Linear(2, 1), random_state=0)
    with pytest.raises(NonFiniteLossError):
        Trainer(m32, loss="mse", batch_size=4).fit(np.full((8, 2), 1e30, np.float32), np.zeros(8))
    assert np.all(np.isfinite(m32.params))


# ---- determinism -------------------------------------------------------------------------

def _big_model(seed=0):
    return nn.Sequential(nn.Linear(64, 256), nn.BatchNorm(256), nn.ReLU(), nn.Dropout(0.1),
                         nn.Residual(nn.Linear(256, 256), nn.BatchNorm(256), nn.ReLU()),
                         nn.Linear(256, 10), random_state=seed)


def test_bitwise_identical_across_thread_counts():
    """batch 512 x width 256: the kernels take their OpenMP paths."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1100, 64)).astype(np.float32)
    labels = rng.integers(0, 10, 1100)
    runs = []
    for threads in (1, 2):
        t = Trainer(_big_model(), optimizer=optim.AdamW(1e-3, clip_norm=1.0), batch_size=512,
                    epochs=2, random_state=0, n_threads=threads)
        hist = t.fit(X, labels, validation_fraction=0.1)
        runs.append((t, hist, t.predict(X)))
    (a, ha, pa), (b, hb, pb) = runs
    _assert_same_weights(a, b)
    assert ha["loss"] == hb["loss"] and ha["val_loss"] == hb["val_loss"]
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(a.model.predict(X, n_threads=1), a.model.predict(X, n_threads=2))


def _small_fit(model_seed, trainer_seed, epochs=3):
    rng = np.random.default_rng(5)
    X, labels = rng.standard_normal((100, 6)), rng.integers(0, 3, 100)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm(16), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(16, 3), dtype=np.float64, random_state=model_seed)
    t = Trainer(model, optimizer="adam", batch_size=16, epochs=epochs, random_state=trainer_seed)
    t.fit(X, labels, validation_fraction=0.2)
    return t


def test_same_random_state_same_result_different_differs():
    a, b = _small_fit(0, 0), _small_fit(0, 0)
    _assert_same_weights(a, b)
    assert a.history["val_loss"] == b.history["val_loss"]
    c = _small_fit(0, 1)       # other shuffle, dropout and split
    d = _small_fit(1, 0)       # other initialisation
    assert not np.array_equal(a.model.params, c.model.params)
    assert not np.array_equal(a.model.params, d.model.params)
    # a NumPy generator seeds as well, and the same generator state gives the same run
    e = Trainer(_small_fit(0, 0, epochs=1).model, random_state=np.random.default_rng(3))
    f = Trainer(_small_fit(0, 0, epochs=1).model, random_state=np.random.default_rng(3))
    X = np.random.default_rng(0).standard_normal((50, 6))
    e.fit(X, np.arange(50) % 3, epochs=2)
    f.fit(X, np.arange(50) % 3, epochs=2)
    _assert_same_weights(e, f)


# ---- continuing and pickling mid-training ------------------------------------------------

def _resume_setup(schedule):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((90, 5))
    labels = rng.integers(0, 3, 90)

    def make(cbs=()):
        model = nn.Sequential(nn.Linear(5, 12), nn.BatchNorm(12), nn.GELU(), nn.Dropout(0.2),
                              nn.Residual(nn.Linear(12, 12), nn.Tanh()), nn.Linear(12, 3),
                              dtype=np.float64, random_state=0)
        return Trainer(model, optimizer=optim.AdamW(0.01, schedule=schedule()), batch_size=16,
                       epochs=5, random_state=0, callbacks=list(cbs))
    return X, labels, make


SCHEDULES = {"constant": optim.Constant, "cosine5": lambda: optim.Cosine(warmup_epochs=1, epochs=5),
             "plateau": lambda: optim.ReduceOnPlateau(monitor="loss", patience=0, min_delta=0.05)}


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_fit_twice_and_pickle_resume_equal_one_fit(schedule):
    X, labels, make = _resume_setup(SCHEDULES[schedule])
    full = make()
    full.fit(X, labels, validation_fraction=0.2)
    # fit(2) + fit(3) on the same trainer
    cont = make()
    cont.fit(X, labels, validation_fraction=0.2, epochs=2)
    cont.fit(X, labels, validation_fraction=0.2, epochs=3)
    _assert_same_weights(cont, full)
    # fit(2), pickle, unpickle, fit(3)
    first = make()
    first.fit(X, labels, validation_fraction=0.2, epochs=2)
    resumed = pickle.loads(pickle.dumps(first))
    assert resumed._native is None
    resumed.fit(X, labels, validation_fraction=0.2, epochs=3)
    _assert_same_weights(resumed, full)
    assert resumed.history["loss"] == full.history["loss"]
    assert resumed.history["lr"] == full.history["lr"]
    assert resumed.history["val_loss"] == full.history["val_loss"]
    for a, b in zip(resumed._slots, full._slots, strict=True):
        np.testing.assert_array_equal(a, b)
    # the resumed trainer's model views are rebuilt on its own buffer
    for view in resumed.model.named_parameters().values():
        assert np.shares_memory(view, resumed.model.params)
    assert not np.shares_memory(resumed.model.params, first.model.params)


def test_checkpoint_at_epoch_two_resumes_bitwise(tmp_path):
    """ModelCheckpoint saves the trainer (fastfit.save) after every epoch; the epoch-2
    file resumed for 3 epochs equals the uninterrupted 5-epoch fit."""
    X, labels, make = _resume_setup(SCHEDULES["cosine5"])
    path = tmp_path / "ckpt-{epoch}.pkl"
    full = make([callbacks.ModelCheckpoint(path, save_best_only=False)])
    full.fit(X, labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"ckpt-{e}.pkl" for e in range(1, 6)]
    resumed = fastfit.load(tmp_path / "ckpt-2.pkl")
    assert resumed.epoch_ == 2 and len(resumed.history) == 2
    resumed.callbacks = []
    resumed.fit(X, labels, epochs=3)
    _assert_same_weights(resumed, full)
    last = fastfit.load(tmp_path / "ckpt-5.pkl")
    _assert_same_weights(last, full)
    np.testing.assert_array_equal(last.predict(X), full.predict(X))


# ---- validation --------------------------------------------------------------------------

def _fitted(loss="cross_entropy", n_out=3):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    y = rng.integers(0, n_out, 40) if loss == "cross_entropy" else rng.uniform(size=(40, n_out))
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm(6), nn.ReLU(), nn.Linear(6, n_out),
                          dtype=np.float64, random_state=0)
    t = Trainer(model, loss=loss, optimizer="adam", batch_size=8, epochs=2, random_state=0)
    t.fit(X, y)
    return t, X, y


def _bad_fit_calls(X, y):
    n = len(X)
    nan_x = X.copy()
    nan_x[3, 1] = np.nan
    inf_x = X.copy()
    inf_x[0, 0] = -np.inf
    from scipy import sparse
    return {
        "n_features": ((X[:, :3], y), {}, ValueError, "3 features, but the model expects 4"),
        "nan_x": ((nan_x, y), {}, ValueError, "X contains 1 NaN or infinite"),
        "inf_x": ((inf_x, y), {}, ValueError, "X contains 1 NaN or infinite"),
        "x_3d": ((X.reshape(n, 2, 2), y), {}, ValueError, "2-D"),
        "x_1d": ((X[:, 0], y), {}, ValueError, "2-D"),
        "x_strings": ((X.astype(str).astype(object) + "a", y), {}, ValueError, "non-numeric"),
        "x_complex": ((X + 1j, y), {}, TypeError, "complex"),
        "x_empty": ((X[:0], y[:0]), {}, ValueError, "0 samples"),
        # sparse X is taken (the first layer reads CSR rows): bad sparse X is refused
        "x_sparse_nan": ((sparse.csr_matrix(nan_x), y), {}, ValueError, "NaN or infinity"),
        "x_sparse_features": ((sparse.csr_matrix(X[:, :3]), y), {}, ValueError,
                              "3 features, but the model expects 4"),
        "lengths": ((X, y[:-1]), {}, ValueError, "40 samples but y has 39"),
        "label_high": ((X, np.where(y == 0, 3, y)), {}, ValueError, r"labels must lie in \[0, 3\)"),
        "label_negative": ((X, np.where(y == 0, -1, y)), {}, ValueError, "labels must lie"),
        "label_fraction": ((X, y + 0.5), {}, ValueError, "integers"),
        "label_nan": ((X, np.where(y == 0, np.nan, y)), {}, ValueError, "integers"),
        "label_strings": ((X, y.astype(str)), {}, TypeError, "numeric"),
        "label_complex": ((X, y + 0j), {}, TypeError, "complex"),
        "label_2d": ((X, np.c_[y, y]), {}, ValueError, "1-D"),
        "weight_length": ((X, y), {"sample_weight": np.ones(n - 1)}, ValueError, "sample_weight"),
        "weight_negative": ((X, y), {"sample_weight": -np.ones(n)}, ValueError, "non-negative"),
        "weight_zero": ((X, y), {"sample_weight": np.zeros(n)}, ValueError, "sums to zero"),
        "weight_nan": ((X, y), {"sample_weight": np.full(n, np.nan)}, ValueError, "sample_weight"),
        "fraction_high": ((X, y), {"validation_fraction": 1.5}, ValueError, "validation_fraction"),
        "fraction_zero": ((X, y), {"validation_fraction": 0.0}, ValueError, "validation_fraction"),
        "both_validations": ((X, y), {"validation_fraction": 0.2, "validation_data": (X, y)},
                             ValueError, "not both"),
        "validation_tuple": ((X, y), {"validation_data": X}, ValueError, "validation_data"),
        "validation_features": ((X, y), {"validation_data": (X[:, :2], y)}, ValueError, "X_val"),
        "validation_labels": ((X, y), {"validation_data": (X, y + 7)}, ValueError, "labels"),
        "epochs_zero": ((X, y), {"epochs": 0}, ValueError, "epochs"),
        "epochs_float": ((X, y), {"epochs": 2.5}, ValueError, "epochs"),
    }


BAD_FIT = sorted(_bad_fit_calls(np.zeros((40, 4)), np.zeros(40, int)))


@pytest.mark.parametrize("case", BAD_FIT)
def test_rejected_fit_changes_nothing(case):
    t, X, y = _fitted()
    args, kwargs, exc, match = _bad_fit_calls(X, y)[case]
    before = _state(t)
    with pytest.raises(exc, match=match):
        t.fit(*args, **kwargs)
    after = _state(t)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    for a, b in zip(after[2], before[2], strict=True):
        np.testing.assert_array_equal(a, b)
    assert after[3:] == before[3:]
    # still usable afterwards
    t.fit(X, y, epochs=1)
    assert t.epoch_ == 3


def test_regression_target_validation():
    t, X, y = _fitted(loss="mse", n_out=2)
    before = _state(t)
    bad_y = y.copy()
    bad_y[2, 1] = np.inf
    with pytest.raises(ValueError, match="y contains 1 NaN or infinite"):
        t.fit(X, bad_y)
    with pytest.raises(ValueError, match="y has 1 output"):
        t.fit(X, y[:, 0])
    with pytest.raises(ValueError, match="1-D or 2-D"):
        t.fit(X, y.reshape(40, 2, 1))
    with pytest.raises(ValueError, match="40 samples but y has 20"):
        t.fit(X, y[:20])
    with pytest.raises(TypeError, match="numeric"):
        t.fit(X, y.astype(str))
    np.testing.assert_array_equal(t.model.params, before[0])
    bce, Xb, yb = _fitted(loss="bce", n_out=2)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        bce.fit(Xb, yb + 1)
    with pytest.raises(ValueError, match="single-output"):
        Trainer(bce.model, loss=losses.BinaryCrossEntropy(class_weight="balanced")).fit(Xb, yb)
    with pytest.raises(ValueError, match="3 features"):
        t.train_step(X[:, :3], y)
    with pytest.raises(ValueError, match="3 features"):
        t.predict(X[:, :3])
    with pytest.raises(ValueError, match="features"):
        t.evaluate(X[:, :3], y)
    with pytest.raises(ValueError, match="classification"):
        t.predict_proba(X)


def test_bad_hyper_parameters():
    model = nn.Sequential(nn.Linear(2, 2))
    cases = [
        (lambda: optim.SGD(lr=-0.1), ValueError, "lr"),
        (lambda: optim.SGD(lr=float("nan")), ValueError, "lr"),
        (lambda: optim.SGD(0.1, momentum=-1), ValueError, "momentum"),
        (lambda: optim.SGD(0.1, nesterov=True), ValueError, "nesterov"),
        (lambda: optim.Adam(betas=(1.0, 0.9)), ValueError, "betas"),
        (lambda: optim.RMSProp(alpha=1.5), ValueError, "alpha"),
        (lambda: optim.Adam(weight_decay=-1), ValueError, "weight_decay"),
        (lambda: optim.Adam(l1=-1), ValueError, "l1"),
        (lambda: optim.Adam(clip_norm=0), ValueError, "clip_norm"),
        (lambda: optim.Adam(schedule="cosine"), TypeError, "schedule"),
        (lambda: optim.StepDecay(0), ValueError, "step_size"),
        (lambda: optim.Exponential(0), ValueError, "gamma"),
        (lambda: optim.Cosine(min_factor=2), ValueError, "min_factor"),
        (lambda: optim.Cosine(warmup_epochs=-1), ValueError, "warmup"),
        (lambda: optim.ReduceOnPlateau(factor=1.0), ValueError, "factor"),
        (lambda: optim.ReduceOnPlateau(mode="up"), ValueError, "mode"),
        (lambda: losses.Huber(0), ValueError, "delta"),
        (lambda: losses.CrossEntropy(class_weight="even"), ValueError, "class_weight"),
        (lambda: Trainer(model, batch_size=0), ValueError, "batch_size"),
        (lambda: Trainer(model, batch_size=2.5), ValueError, "batch_size"),
        (lambda: Trainer(model, batch_size=True), ValueError, "batch_size"),
        (lambda: Trainer(model, epochs=0), ValueError, "epochs"),
        (lambda: Trainer(model, n_threads=0), ValueError, "n_threads"),
        (lambda: Trainer(model, loss="l7"), ValueError, "loss"),
        (lambda: Trainer(model, optimizer="lbfgs"), ValueError, "optimizer"),
        (lambda: Trainer("model"), TypeError, "Sequential"),
        (lambda: Trainer(model, callbacks=[print]), TypeError, "Callback"),
        (lambda: Trainer(model, random_state=-1).fit(np.zeros((4, 2)), [0, 1, 0, 1]),
         ValueError, "random_state"),
        (lambda: Trainer(model, random_state="x").fit(np.zeros((4, 2)), [0, 1, 0, 1]),
         TypeError, "random_state"),
        (lambda: Trainer(model, loss=losses.CrossEntropy(class_weight={5: 1.0}))
         .fit(np.zeros((4, 2)), [0, 1, 0, 1]), ValueError, "class_weight"),
    ]
    for make, exc, match in cases:
        with pytest.raises(exc, match=match):
            make()


# ---- validation split, copies ------------------------------------------------------------

def test_validation_fraction_is_stratified_and_used():
    """A 25% stratified hold-out of 1200 rows: the class proportions are kept, the
    training rows are the rest, and val_loss is the loss of exactly the held-out rows
    (300 of them, so the evaluation gathers rows over two 256-row prediction chunks)."""
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat([0, 1, 2], [840, 240, 120]))
    X = rng.standard_normal((1200, 5)) + labels[:, None]
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm(8), nn.Tanh(), nn.Linear(8, 3),
                          dtype=np.float64, random_state=0)
    t = Trainer(model, optimizer="adam", batch_size=128, epochs=2, random_state=0)
    hist = t.fit(X, labels, validation_fraction=0.25)
    train = t._native._keep["rows"]
    assert len(train) == 900 and np.all(np.diff(train) > 0)
    np.testing.assert_array_equal(np.bincount(labels[train]), [630, 180, 90])
    val = np.setdiff1d(np.arange(1200), train)
    np.testing.assert_array_equal(np.bincount(labels[val]), [210, 60, 30])
    out = ref.model_forward_ref(model.layers, X[val])
    assert hist["val_loss"][-1] == pytest.approx(
        ref.softmax_cross_entropy_ref(out, labels[val])[0], rel=1e-12)
    assert hist["val_accuracy"][-1] == np.mean(out.argmax(1) == labels[val])
    assert t.step_ == 2 * 8           # 900 rows in batches of 128
    # the same split every fit of a trainer (seeded by its random_state)
    t.fit(X, labels, validation_fraction=0.25, epochs=1)
    np.testing.assert_array_equal(t._native._keep["rows"], train)


def test_validation_metrics_regression():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((60, 3)), rng.standard_normal((60, 2))
    Xv, yv = rng.standard_normal((25, 3)), rng.standard_normal((25, 2))
    wv = rng.uniform(0.5, 1.5, 25)
    model = nn.Sequential(nn.Linear(3, 2), dtype=np.float64, random_state=0)
    t = Trainer(model, loss=losses.Huber(0.5), optimizer="sgd", batch_size=16, epochs=1)
    hist = t.fit(X, y, validation_data=(Xv, yv, wv))
    out = ref.model_forward_ref(model.layers, Xv)
    assert hist["val_loss"][0] == pytest.approx(ref.huber_loss_ref(out, yv, 0.5, wv)[0], rel=1e-12)
    r2 = np.mean(1 - ((yv - out) ** 2).sum(0) / ((yv - yv.mean(0)) ** 2).sum(0))
    assert hist["val_r2"][0] == pytest.approx(r2, rel=1e-12)
    assert set(hist.keys()) >= {"loss", "val_loss", "val_r2", "lr", "seconds", "samples_per_second"}


def test_x_not_copied_when_already_right():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    labels = rng.integers(0, 2, 64)
    model = nn.Sequential(nn.Linear(4, 2), random_state=0)
    t = Trainer(model, batch_size=16, epochs=1, random_state=0)
    t.fit(X, labels)
    assert t._native._keep["x"] is X
    t.fit(X, labels, validation_fraction=0.25)
    assert t._native._keep["x"] is X            # the split selects rows, X stays whole
    # other layouts and dtypes are converted once, and train the same
    a = Trainer(nn.Sequential(nn.Linear(4, 2), random_state=0), batch_size=16, random_state=0)
    b = Trainer(nn.Sequential(nn.Linear(4, 2), random_state=0), batch_size=16, random_state=0)
    a.fit(X, labels, epochs=2)
    Xf = np.asfortranarray(X)
    b.fit(Xf, labels, epochs=2)
    assert b._native._keep["x"] is not Xf and b._native._keep["x"].flags.c_contiguous
    np.testing.assert_array_equal(a.model.params, b.model.params)
    c = Trainer(nn.Sequential(nn.Linear(4, 2), random_state=0), batch_size=16, random_state=0)
    c.fit(X.astype(np.float64).tolist(), labels.tolist(), epochs=2)
    np.testing.assert_array_equal(a.model.params, c.model.params)


def test_batch_with_zero_total_weight_contributes_nothing():
    """shuffle=False, batches [0:4] (weights all 0) and [4:8]: the first batch is skipped
    (no loss, no step), the epoch loss is the second batch's. (It used to fail with
    RuntimeError from the loss kernel; fixed on main in 9a3fdd3.)"""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    sw = np.r_[np.zeros(4), np.ones(4)]
    model = nn.Sequential(nn.Linear(3, 1), dtype=np.float64, random_state=0)
    w, b = model.params[:3].copy(), model.params[3]
    t = Trainer(model, loss="mse", optimizer=optim.SGD(0.1), batch_size=4, shuffle=False)
    hist = t.fit(X, y, sample_weight=sw, epochs=1)
    xb, yb = X[4:], y[4:]
    loss, dout = ref.mse_loss_ref(xb @ w[:, None] + b, yb[:, None])
    assert hist["loss"][0] == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(model.params, np.r_[w - 0.1 * xb.T @ dout[:, 0],
                                                   b - 0.1 * dout.sum()], rtol=1e-12)
    assert t.step_ == 1
    # shuffled, a class weighted 0: some batches hold only that class, training goes on
    labels = np.r_[np.zeros(30, int), np.ones(10, int)]
    Xc = rng.standard_normal((40, 3))
    ce = Trainer(nn.Sequential(nn.Linear(3, 2), dtype=np.float64, random_state=0),
                 loss=losses.CrossEntropy(class_weight={0: 0.0}), batch_size=2, epochs=3,
                 random_state=0)
    hist = ce.fit(Xc, labels)
    assert np.all(np.isfinite(hist["loss"])) and np.all(np.isfinite(ce.model.params))
    assert ce.step_ < 3 * 20


def test_checkpoint_buffers_are_kept_only_while_small(monkeypatch):
    import fastfit._trainer as tr

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 5)), rng.integers(0, 3, 64)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3), random_state=0)
    t = Trainer(model, "cross_entropy", "adam", epochs=2, batch_size=16, random_state=0)
    t.fit(X, y)
    kept = t._good[1]
    t.fit(X, y)            # a small model's buffers serve the next fit again
    assert all(a is b for a, b in zip(t._good[1], kept, strict=True))
    monkeypatch.setattr(tr, "_KEEP_CHECKPOINT_BYTES", 0)
    t.fit(X, y)
    assert t._good is None  # a large one's are released at the end of the fit
