"""Callbacks and History: EarlyStopping on scripted metric sequences (its hooks called
directly, and inside a real fit with a callback forcing the metric), restoring the best
weights, ModelCheckpoint files, LearningRateScheduler, stopping through the flag, batch
hook counts, the progress bar's two outputs and the History object.
"""

import io
import pickle
import sys

import numpy as np
import pytest

import fastfit
from fastfit import Trainer, callbacks, nn, optim
from fastfit.history import History


class _FakeTrainer:
    """Just what EarlyStopping touches: the stop flag and get/set_weights."""

    def __init__(self):
        self.stop_training = False
        self.epoch = -1
        self.restored = None

    def get_weights(self):
        return ("weights of epoch", self.epoch)

    def set_weights(self, weights):
        self.restored = weights


def _script(cb, values, key="loss"):
    """Run the hooks over a metric sequence; returns (fake trainer, epochs run)."""
    t = _FakeTrainer()
    cb.on_train_begin(t)
    ran = 0
    for epoch, v in enumerate(values):
        if t.stop_training:
            break
        t.epoch = epoch
        cb.on_epoch_begin(t, epoch)
        cb.on_epoch_end(t, epoch, {key: v})
        ran += 1
    cb.on_train_end(t)
    return t, ran


SEQ = [1.0, 0.8, 0.85, 0.79, 0.81, 0.82, 0.83, 0.5]


@pytest.mark.parametrize("patience, min_delta, stopped, best_epoch", [
    (2, 0.005, 5, 3),     # 0.79 beats 0.8 - 0.005; then two epochs without
    (2, 0.02, 3, 1),      # 0.79 is not 0.02 better than 0.8
    (0, 0.0, 2, 1),       # the first epoch without improvement stops
    (1, 0.0, 2, 1),
    (10, 0.0, None, 7),   # never runs out of patience
])
def test_early_stopping_scripted(patience, min_delta, stopped, best_epoch):
    cb = callbacks.EarlyStopping(monitor="loss", patience=patience, min_delta=min_delta,
                                 restore_best_weights=True)
    t, ran = _script(cb, SEQ)
    assert cb.stopped_epoch == stopped
    assert ran == (len(SEQ) if stopped is None else stopped + 1)
    assert t.stop_training == (stopped is not None)
    assert cb.best_epoch == best_epoch and cb.best == SEQ[best_epoch]
    assert t.restored == ("weights of epoch", best_epoch)


def test_early_stopping_modes_and_non_finite():
    acc = [0.5, 0.6, 0.55, 0.6, 0.59]
    cb = callbacks.EarlyStopping(monitor="val_accuracy", patience=2)      # auto: maximise
    _, ran = _script(cb, acc, key="val_accuracy")
    assert (cb.best_epoch, cb.stopped_epoch, ran) == (1, 3, 4)
    cb = callbacks.EarlyStopping(monitor="val_accuracy", patience=2, mode="min")
    _, ran = _script(cb, acc, key="val_accuracy")
    assert (cb.best_epoch, cb.stopped_epoch) == (0, 2)
    cb = callbacks.EarlyStopping(monitor="loss", patience=1)
    _, ran = _script(cb, [1.0, float("nan"), float("inf"), 0.1], key="loss")
    assert (cb.best_epoch, cb.stopped_epoch, ran) == (0, 1, 2)
    # restore_best_weights=False never touches the weights; a new fit starts afresh
    cb = callbacks.EarlyStopping(monitor="loss", patience=0)
    t, _ = _script(cb, [3.0, 4.0])
    assert t.restored is None and cb.stopped_epoch == 1
    t, ran = _script(cb, [5.0, 4.0, 3.0])
    assert cb.stopped_epoch is None and ran == 3 and cb.best == 3.0
    with pytest.raises(ValueError, match="val_loss.*validation_data"):
        callbacks.EarlyStopping().on_epoch_end(_FakeTrainer(), 0, {"loss": 1.0})
    with pytest.raises(ValueError, match="patience"):
        callbacks.EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode"):
        callbacks.EarlyStopping(mode="best")
    with pytest.raises(ValueError, match="min_delta"):
        callbacks.EarlyStopping(min_delta=-1)


# ---- inside a real fit ---------------------------------------------------------------------

class _ForceMetric(callbacks.Callback):
    """Overwrites a metric in the logs the later callbacks see."""

    def __init__(self, key, values):
        self.key, self.values = key, values

    def on_epoch_end(self, trainer, epoch, logs):
        logs[self.key] = self.values[epoch]


class _Recorder(callbacks.Callback):
    """A copy of the weights at the end of every epoch, and every hook call."""

    def __init__(self):
        self.weights, self.calls = [], []

    def on_train_begin(self, trainer):
        self.calls.append("train_begin")

    def on_train_end(self, trainer):
        self.calls.append("train_end")

    def on_epoch_begin(self, trainer, epoch):
        self.calls.append(("epoch_begin", epoch))

    def on_epoch_end(self, trainer, epoch, logs):
        self.calls.append(("epoch_end", epoch))
        self.weights.append((trainer.model.params.copy(), trainer.model.stats.copy()))


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)), rng.integers(0, 3, n)


def _model():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm(8), nn.ReLU(), nn.Linear(8, 3),
                         dtype=np.float64, random_state=0)


def test_early_stopping_in_fit_restores_best_epoch():
    X, y = _data()
    forced = [0.9, 0.7, 0.5, 0.6, 0.55, 0.58, 0.1, 0.1, 0.1, 0.1]
    rec = _Recorder()
    stop = callbacks.EarlyStopping(monitor="loss", patience=3, restore_best_weights=True)
    t = Trainer(_model(), optimizer=optim.Adam(0.05), batch_size=16, epochs=10, random_state=0,
                callbacks=[_ForceMetric("loss", forced), rec, stop])
    hist = t.fit(X, y)
    assert stop.best_epoch == 2 and stop.stopped_epoch == 5
    assert len(hist) == t.epoch_ == 6 and t.stop_training
    assert rec.calls[-1] == "train_end" and rec.calls.count("train_end") == 1
    assert hist["loss"] != forced[:6]        # the history keeps the real losses
    params, stats = rec.weights[2]
    np.testing.assert_array_equal(t.model.params, params)
    np.testing.assert_array_equal(t.model.stats, stats)
    assert not np.array_equal(rec.weights[5][0], params)   # it really moved back
    # a following fit trains again (the flag is reset)
    t.callbacks = []
    t.fit(X, y, epochs=2)
    assert t.epoch_ == 8 and not t.stop_training


def test_early_stopping_on_validation_metric():
    X, y = _data(90)
    stop = callbacks.EarlyStopping(monitor="val_accuracy", patience=2)
    t = Trainer(_model(), optimizer=optim.Adam(0.05), batch_size=16, epochs=40, random_state=0,
                callbacks=[stop])
    hist = t.fit(X, y, validation_fraction=0.3)
    accs = hist["val_accuracy"]
    assert stop.best == max(accs) and accs.index(max(accs)) == stop.best_epoch
    if stop.stopped_epoch is not None:
        assert len(hist) == stop.stopped_epoch + 1 == stop.best_epoch + 3


def test_callback_stop_flag_and_hook_order():
    class StopAt(callbacks.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 2:
                trainer.stop_training = True

    X, y = _data()
    rec = _Recorder()
    t = Trainer(_model(), batch_size=16, epochs=10, random_state=0, callbacks=[StopAt(), rec])
    hist = t.fit(X, y)
    assert len(hist) == 3 == t.epoch_
    assert rec.calls == ["train_begin", ("epoch_begin", 0), ("epoch_end", 0), ("epoch_begin", 1),
                         ("epoch_end", 1), ("epoch_begin", 2), ("epoch_end", 2), "train_end"]
    # setting it before the first epoch (on_train_begin) trains nothing
    class StopEarly(callbacks.Callback):
        def on_train_begin(self, trainer):
            trainer.stop_training = True

    t2 = Trainer(_model(), batch_size=16, epochs=10, callbacks=[StopEarly()])
    before = t2.model.params.copy()
    t2.fit(X, y)
    assert len(t2.history) == 0
    np.testing.assert_array_equal(t2.model.params, before)


def test_model_checkpoint(tmp_path):
    X, y = _data()
    forced = [0.9, 0.95, 0.5, 0.6, 0.4]
    rec = _Recorder()
    best_models = callbacks.ModelCheckpoint(tmp_path / "best-{epoch}.pkl", monitor="val_loss",
                                            save_best_only=True, what="model")
    last = callbacks.ModelCheckpoint(tmp_path / "last.pkl")
    t = Trainer(_model(), optimizer=optim.Adam(0.05), batch_size=16, epochs=5, random_state=0,
                callbacks=[_ForceMetric("val_loss", forced), rec, best_models, last])
    t.fit(X, y)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["best-1.pkl", "best-3.pkl", "best-5.pkl", "last.pkl"]   # no temporaries
    for epoch in (1, 3, 5):
        model = fastfit.load(tmp_path / f"best-{epoch}.pkl")
        assert isinstance(model, nn.Sequential)
        params, stats = rec.weights[epoch - 1]
        np.testing.assert_array_equal(model.params, params)
        np.testing.assert_array_equal(model.stats, stats)
        np.testing.assert_array_equal(model.predict(X), _predict(params, stats, X))
    trainer = fastfit.load(tmp_path / "last.pkl")
    assert isinstance(trainer, Trainer) and trainer.epoch_ == 5
    np.testing.assert_array_equal(trainer.model.params, t.model.params)
    with pytest.raises(ValueError, match="what"):
        callbacks.ModelCheckpoint(tmp_path / "x", what="weights")


def _predict(params, stats, X):
    m = _model()
    m.params[:] = params
    m.stats[:] = stats
    return m.predict(X)


def test_learning_rate_scheduler():
    X, y = _data()
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch)
    t = Trainer(_model(), optimizer=optim.SGD(1.0, schedule=optim.StepDecay(2, 0.1)),
                batch_size=16, epochs=4, callbacks=[sched])
    hist = t.fit(X, y)
    # the callback sets the base rate; the optimizer's own schedule still multiplies it
    np.testing.assert_allclose(hist["lr"], [0.1, 0.05, 0.025 * 0.1, 0.0125 * 0.1], rtol=1e-14)
    assert t.optimizer.lr == 0.0125
    with pytest.raises(ValueError, match="LearningRateScheduler returned -1"):
        Trainer(_model(), batch_size=16, callbacks=[
            callbacks.LearningRateScheduler(lambda e, lr: -1.0)]).fit(X, y)
    with pytest.raises(TypeError, match="callable"):
        callbacks.LearningRateScheduler(0.1)


# ---- batch hooks -----------------------------------------------------------------------------

class _BatchCounter(callbacks.Callback):
    def __init__(self):
        self.begin, self.end, self.losses, self.progress = [], [], [], []

    def on_batch_begin(self, trainer, batch):
        self.begin.append(batch)

    def on_batch_end(self, trainer, batch, logs):
        self.end.append(batch)
        self.losses.append(logs["loss"])

    def on_progress(self, trainer, epoch, done, total):
        self.progress.append((epoch, done, total))


@pytest.mark.parametrize("batch_norm, per_epoch", [(False, 4), (True, 3)])
def test_batch_hooks_called_once_per_batch(batch_norm, per_epoch):
    """10 rows in batches of 3: 4 batches, or 3 with batch norm (the last single row
    joins the third batch). Batch hooks change nothing about the result."""
    X, y = _data(10)
    layers = [nn.Linear(4, 5)] + ([nn.BatchNorm(5)] if batch_norm else []) + [nn.Tanh(),
                                                                              nn.Linear(5, 3)]

    def make(cbs):
        return Trainer(nn.Sequential(*layers_copy(), dtype=np.float64, random_state=0),
                       optimizer=optim.SGD(0.1), batch_size=3, epochs=3, random_state=0,
                       shuffle=False, callbacks=cbs)

    def layers_copy():
        return pickle.loads(pickle.dumps(layers))

    counter = _BatchCounter()
    t = make([counter])
    hist = t.fit(X, y)
    assert counter.begin == list(range(per_epoch)) * 3
    assert counter.end == list(range(per_epoch)) * 3
    assert t.step_ == 3 * per_epoch
    sizes = [3] * (per_epoch - 1) + [10 - 3 * (per_epoch - 1)]
    for epoch in range(3):
        batch_losses = counter.losses[epoch * per_epoch:(epoch + 1) * per_epoch]
        assert hist["loss"][epoch] == pytest.approx(np.dot(batch_losses, sizes) / 10, rel=1e-12)
    assert counter.progress[-1][2] == 10
    plain = make([])
    plain.fit(X, y)
    np.testing.assert_array_equal(plain.model.params, t.model.params)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_progress_reaches_every_sample(batch_norm):
    X, y = _data(10)
    layers = [nn.Linear(4, 5)] + ([nn.BatchNorm(5)] if batch_norm else []) + [nn.Linear(5, 3)]
    counter = _BatchCounter()
    t = Trainer(nn.Sequential(*layers, dtype=np.float64), batch_size=3, epochs=2,
                callbacks=[counter])
    t.fit(X, y)
    done = [p for p in counter.progress if p[1] == p[2]]
    assert done == [(0, 10, 10), (1, 10, 10)]
    assert all(d <= total for _, d, total in counter.progress)


# ---- progress bar ----------------------------------------------------------------------------

def test_progress_bar_plain_text_and_tqdm(monkeypatch):
    X, y = _data()
    out = io.StringIO()
    monkeypatch.setitem(sys.modules, "tqdm", None)            # tqdm not installed
    t = Trainer(_model(), batch_size=16, epochs=2, callbacks=[callbacks.ProgressBar(file=out)])
    t.fit(X, y, validation_fraction=0.25)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2: loss ") and "val_accuracy" in lines[0]
    assert "samples/s" in lines[1] and lines[1].startswith("epoch 2/2")
    monkeypatch.undo()
    pytest.importorskip("tqdm")
    out = io.StringIO()
    t = Trainer(_model(), batch_size=16, epochs=2, callbacks=[callbacks.ProgressBar(file=out)])
    t.fit(X, y)
    text = out.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "loss" in text


def test_verbose_adds_a_progress_bar(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    X, y = _data()
    Trainer(_model(), batch_size=16, epochs=1, verbose=True).fit(X, y)
    assert "epoch 1/1: loss" in capsys.readouterr().err


# ---- History ---------------------------------------------------------------------------------

def test_history():
    h = History()
    h.append({"loss": 1.0, "lr": 0.1})
    h.append({"loss": 0.5, "val_loss": 0.7, "lr": 0.1})
    h.append({"loss": 0.6, "val_loss": 0.6, "lr": 0.05})
    assert len(h) == 3 and h.keys() == ["loss", "lr", "val_loss"]
    assert h["val_loss"] == [None, 0.7, 0.6] and h.loss == [1.0, 0.5, 0.6]
    assert h.best("loss") == (1, 0.5) and h.best("val_loss") == (2, 0.6)
    assert h.best("lr", mode="max") == (0, 0.1)
    assert h.as_dict()["lr"] == [0.1, 0.1, 0.05]
    assert "val_loss" in h and "val_r2" not in h
    with pytest.raises(KeyError, match="val_r2"):
        h["val_r2"]
    with pytest.raises(AttributeError):
        getattr(h, "val_r2")  # noqa: B009
    nan = History()
    nan.append({"loss": float("nan")})
    with pytest.raises(ValueError, match="no finite"):
        nan.best("loss")
