"""The Trainer's public API for callers that used to reach into its private state:
``iter_steps`` (the LR finder's sweep), ``set_learning_rate`` (scikit-learn's MLP
schedules) and ``release_data`` (estimators drop the fit's data), and a source check
that no other module calls the Trainer's private members for these again."""

import gc
import pathlib
import re
import weakref

import numpy as np
import pytest

from fastfit import NonFiniteLossError, Trainer, nn, optim

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _trainer(opt=None, seed=0):
    model = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm(12), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(12, 3), dtype="float64", random_state=seed)
    return Trainer(model, loss="cross_entropy", optimizer=opt or optim.SGD(lr=0.05, momentum=0.9),
                   batch_size=16, random_state=seed)


def _data(n=81):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 6)), rng.integers(0, 3, n)


def test_iter_steps_takes_the_steps_fit_takes():
    X, y = _data()
    a, b = _trainer(), _trainer()
    a.fit(X, y, epochs=2)
    n_batches = a.step_ // 2          # 81 rows, 16 a batch, the lone last row merged: 5
    assert n_batches == 5
    losses = list(b.iter_steps(X, y, np.full(2 * n_batches, 0.05)))
    assert len(losses) == 2 * n_batches and all(np.isfinite(losses))
    np.testing.assert_array_equal(a.model.params, b.model.params)
    np.testing.assert_array_equal(a.model.stats, b.model.stats)
    assert b.step_ == a.step_ and b.epoch_ == 0 and len(b.history.rows) == 0


def test_iter_steps_raises_on_a_non_finite_loss():
    X, y = _data()
    t = _trainer(optim.SGD(lr=1.0))
    with pytest.raises(NonFiniteLossError):
        list(t.iter_steps(X * 1e200, y, np.full(3, 1e10)))


def test_set_learning_rate_keeps_the_velocity_only_when_asked():
    X, y = _data()
    t = _trainer()
    t.fit(X, y, epochs=1)
    slot = t._slots[0]
    before = slot.copy()
    assert np.any(before != 0)
    t.set_learning_rate(0.025)
    assert t.optimizer.lr == 0.025
    np.testing.assert_array_equal(slot, before)
    t.set_learning_rate(0.0125, velocity_lr=0.025)   # rate halved: buffer doubled
    np.testing.assert_array_equal(slot, before * 2.0)
    with pytest.raises(ValueError):
        t.set_learning_rate(float("nan"))


def test_release_data_lets_the_fits_data_go():
    X, y = _data()
    t = _trainer()
    t.fit(X, y, epochs=1)
    ref = weakref.ref(X)
    del X
    gc.collect()
    assert ref() is not None          # the engine still points at it
    t.release_data()
    gc.collect()
    assert ref() is None
    X, y = _data()
    t.fit(X, y, epochs=1)             # and a later fit builds what it needs again
    assert t.epoch_ == 2


def test_activations_are_what_the_last_step_computed():
    X, y = _data(20)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3), dtype="float64",
                          random_state=0)
    t = Trainer(model, loss="cross_entropy", optimizer="sgd", batch_size=32)
    with pytest.raises(RuntimeError):
        t.activations(0, 6, 1)
    t.train_step(X, y, update=False)
    relu = model.plan.ops[1]
    got = t.activations(relu.x, relu.in_, 20)
    lin = model.layers[0]
    np.testing.assert_allclose(got, X @ lin.weight + lin.bias, rtol=1e-12, atol=1e-12)
    assert got.shape == (20, 5)


def test_no_module_calls_the_trainers_private_members():
    private = re.compile(r"\._(prepare|make_native|n_batches|snapshot|restore|checkpoint)\("
                         r"|\._native = None|\._slots\b|\._grads\b|\._block\b"
                         r"|trainer\._native\b")
    offenders = []
    for path in sorted((ROOT / "fastfit").rglob("*.py")):
        if path.name == "_trainer.py":
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if private.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    # the estimators' own predictor (a model's native struct, not the trainer's) is theirs
    offenders = [o for o in offenders if "_model._native" not in o]
    assert offenders == []


@pytest.mark.parametrize("sparse", [False, True])
def test_fit_on_selected_rows_equals_fit_on_their_copy(sparse):
    """``fit(rows=)`` trains on X[rows] in that order without copying X: bitwise the model
    of fitting the copy (weights, batch-norm statistics, optimizer state)."""
    import scipy.sparse

    X, y = _data(203)
    w = np.random.default_rng(2).uniform(0.5, 2.0, 203)
    rows = np.random.default_rng(3).permutation(203)[:150]   # unsorted, as a split gives
    Xin = scipy.sparse.csr_matrix(X) if sparse else X
    a, b = _trainer(), _trainer()
    a.fit(Xin, y, sample_weight=w, rows=rows, epochs=2)
    b.fit(Xin[rows], y[rows], sample_weight=w[rows], epochs=2)
    np.testing.assert_array_equal(a.model.params, b.model.params)
    np.testing.assert_array_equal(a.model.stats, b.model.stats)
    assert len(a.history) == len(b.history) == 2
    assert a.history.rows[-1]["loss"] == b.history.rows[-1]["loss"]


def test_fit_rows_are_checked():
    X, y = _data()
    t = _trainer()
    before = t.model.params.copy()
    for rows, err in (([0.5, 1.0], TypeError), ([[0, 1]], ValueError), ([], ValueError),
                      ([0, 81], ValueError), ([-1, 2], ValueError)):
        with pytest.raises(err, match="rows"):
            t.fit(X, y, rows=rows)
    with pytest.raises(ValueError, match="rows or validation_fraction"):
        t.fit(X, y, rows=[0, 1, 2], validation_fraction=0.2)
    np.testing.assert_array_equal(t.model.params, before)


def test_mlp_early_stopping_does_not_copy_the_training_rows():
    """The early-stopping split selects the training rows by index: the fit allocates
    about the validation tenth of X, not the 90% a copy of the training rows took."""
    import tracemalloc

    from fastfit import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, 100))   # 16 MB
    y = (X[:, 0] > 0).astype(int)
    est = MLPClassifier((8,), early_stopping=True, max_iter=2, random_state=0)
    est.fit(X[:500], y[:500])   # warm caches and lazy imports
    tracemalloc.start()
    try:
        est.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * X.nbytes, peak


def test_train_step_on_a_prepared_batch_equals_the_plain_call():
    X, y = _data()
    w = np.linspace(0.5, 1.5, X.shape[0])
    a, b = _trainer(), _trainer()
    batch = b.prepare(X, y, sample_weight=w)
    for _ in range(3):
        assert a.train_step(X, y, sample_weight=w) == b.train_step(batch)
    np.testing.assert_array_equal(a.model.params, b.model.params)
    np.testing.assert_array_equal(a.grads, b.grads)
    with pytest.raises(ValueError, match="prepared batch"):
        b.train_step(batch, y)
    with pytest.raises(ValueError, match="needs y"):
        b.train_step(X)


def test_mlp_lbfgs_checks_X_once_per_fit(monkeypatch):
    """scikit-learn's lbfgs solver evaluates the full batch once per function call: the
    input checks of X run once per fit, not once per evaluation."""
    import fastfit._trainer as tr
    from fastfit import MLPRegressor

    calls = []
    real = tr.as_float_matrix
    monkeypatch.setattr(tr, "as_float_matrix", lambda *a, **k: calls.append(1) or real(*a, **k))
    X, _ = _data(120)
    est = MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0).fit(X, X[:, 0])
    assert est.n_iter_ > 5
    assert len(calls) == 1


def test_snapshot_and_restore_undo_a_fit_exactly():
    X, y = _data()
    t = _trainer(optim.Adam(lr=0.01))
    t.fit(X, y, epochs=1)
    params, stats, step, hist = t.model.params.copy(), t.model.stats.copy(), t.step_, len(t.history)
    grads = t.grads.copy()
    snap = t.snapshot()
    t.fit(X, y, epochs=2)
    assert t.step_ != step
    t.restore(snap)
    np.testing.assert_array_equal(t.model.params, params)
    np.testing.assert_array_equal(t.model.stats, stats)
    np.testing.assert_array_equal(t.grads, grads)
    assert t.step_ == step and len(t.history) == hist
    u = _trainer(optim.Adam(lr=0.01))   # and the same next fit as a trainer never rolled back
    u.fit(X, y, epochs=1)
    t.fit(X, y, epochs=1)
    u.fit(X, y, epochs=1)
    np.testing.assert_array_equal(t.model.params, u.model.params)
    with pytest.raises(TypeError, match="snapshot"):
        t.restore((1, 2))
