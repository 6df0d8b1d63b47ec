"""fastfit.diagnostics: gradient check, learning-rate finder, fit diagnosis."""

import copy

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_circles

import fastfit.diagnostics as diag
from fastfit import History, Trainer, losses, nn, optim
from fastfit.diagnostics import diagnose_fit, gradient_check, lr_finder


def _data(n=16, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, k, n)


def _state(model):
    return model.params.copy(), model.stats.copy()


# ---- gradient_check ------------------------------------------------------------------------
CONFIGS = {
    "tanh": (lambda: (nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)), "cross_entropy"),
    "relu-bn-dropout-residual": (lambda: (
        nn.Linear(5, 8), nn.BatchNorm(8), nn.ReLU(), nn.Dropout(0.3),
        nn.Residual(nn.Linear(8, 8), nn.BatchNorm(8), nn.GELU()), nn.Linear(8, 3)),
        "cross_entropy"),
    "sigmoid-mse": (lambda: (nn.Linear(5, 6), nn.Sigmoid(), nn.Linear(6, 2)), "mse"),
    "leaky-bce": (lambda: (nn.Linear(5, 6), nn.LeakyReLU(0.1), nn.Linear(6, 1)), "bce"),
    "projection-huber": (lambda: (nn.Residual(nn.Linear(5, 4), nn.Tanh()), nn.Linear(4, 1)),
                         losses.Huber(0.5)),
}


def _targets(loss, y, rng):
    if loss == "mse":
        return rng.normal(size=(len(y), 2))
    if loss == "bce":
        return (y > 0).astype(float)
    if isinstance(loss, losses.Huber):
        return rng.normal(size=len(y)) * 2
    return y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_gradient_check_passes_and_leaves_model_alone(name, dtype):
    layers, loss = CONFIGS[name]
    X, y = _data()
    y = _targets(loss, y, np.random.default_rng(1))
    model = nn.Sequential(*layers(), dtype=dtype, random_state=0)
    before = _state(model)
    result = gradient_check(model, X, y, loss=loss)
    assert result.passed, str(result)
    assert result.max_rel_error < 1e-5
    assert set(result.errors) == set(model.named_parameters())
    assert result.n_checked + result.n_kinks == model.n_params
    assert np.isfinite(result.loss)
    for a, b in zip(before, _state(model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.dtype == np.dtype(dtype)
    assert bool(result.dropout_note) == (name == "relu-bn-dropout-residual")


def test_gradient_check_detects_a_wrong_gradient(monkeypatch):
    class OffByOnePercent(Trainer):
        @property
        def grads(self):
            return Trainer.grads.fget(self) * 1.01

    monkeypatch.setattr(diag, "Trainer", OffByOnePercent)
    X, y = _data()
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3), random_state=0)
    result = gradient_check(model, X, y, loss="cross_entropy")
    assert not result.passed
    assert 5e-3 < result.max_rel_error < 2e-2
    assert "FAILED" in str(result)


def test_gradient_check_with_heavy_dropout_uses_one_mask():
    # p=0.5: a mask drawn anew per evaluation would make the differences meaningless
    X, y = _data(n=24)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Dropout(0.5), nn.Linear(16, 3),
                          dtype="float64", random_state=0)
    for seed in (0, 7):
        result = gradient_check(model, X, y, loss="cross_entropy", random_state=seed)
        assert result.passed, str(result)


def test_gradient_check_leaves_out_relu_kinks_and_samples_entries():
    X, y = _data(n=64, d=20, k=10, seed=3)
    model = nn.Sequential(nn.Linear(20, 32), nn.BatchNorm(32), nn.ReLU(),
                          nn.Residual(nn.Linear(32, 32), nn.BatchNorm(32), nn.ReLU()),
                          nn.Linear(32, 10), random_state=1)
    result = gradient_check(model, X, y, loss="cross_entropy", n_params=12, random_state=0)
    assert result.passed, str(result)
    sizes = [min(v.size, 12) for v in model.named_parameters().values()]
    assert result.n_checked + result.n_kinks == sum(sizes)
    again = gradient_check(model, X, y, loss="cross_entropy", n_params=12, random_state=0)
    assert again.errors == result.errors   # the same entries for the same random_state


def test_gradient_check_of_a_trainer_and_an_estimator_like_object():
    X, y = _data()
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3), random_state=0)
    trainer = Trainer(model, loss="cross_entropy", random_state=0, epochs=2)
    trainer.fit(X, y)
    step, grads = trainer.step_, trainer.grads.copy()
    assert gradient_check(trainer, X, y).passed
    assert trainer.step_ == step
    np.testing.assert_array_equal(trainer.grads, grads)

    classes = np.array(["ant", "bee", "cat"])

    class Fitted:  # the duck-typed hook: trainer_ (+ classes_ for label encoding)
        trainer_ = trainer
        classes_ = classes

    assert gradient_check(Fitted(), X, classes[y]).passed
    with pytest.raises(ValueError, match="not fitted on"):
        gradient_check(Fitted(), X, np.array(["ant", "dog"] * 8))

    class WithMethod:
        def _fastfit_trainer(self):
            return trainer

    assert gradient_check(WithMethod(), X, y).passed


def test_gradient_check_bad_arguments():
    X, y = _data()
    model = nn.Sequential(nn.Linear(5, 3), random_state=0)
    with pytest.raises(ValueError, match="loss="):
        gradient_check(model, X, y)
    with pytest.raises(TypeError, match="Sequential"):
        gradient_check(object(), X, y)
    with pytest.raises(ValueError, match="eps"):
        gradient_check(model, X, y, loss="cross_entropy", eps=0)


# ---- lr_finder ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def _mlp(seed=0):
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10), random_state=seed)


def test_lr_finder_curve_suggestion_and_untouched_model(digits):
    X, y = digits
    model = _mlp()
    before = _state(model)
    result = lr_finder(model, X, y, loss="cross_entropy", optimizer="adam", n_steps=150)
    for a, b in zip(before, _state(model), strict=True):
        np.testing.assert_array_equal(a, b)
    n = len(result.lrs)
    assert 10 < n <= 150 and len(result.losses) == len(result.smoothed) == n
    assert result.lrs[0] == pytest.approx(1e-7)
    ratios = result.lrs[1:] / result.lrs[:-1]
    np.testing.assert_allclose(ratios, (10 / 1e-7) ** (1 / 149))
    assert 1e-4 < result.suggested_lr < 1 and 1e-5 < result.min_lr < 1
    # the suggestion trains: 2 epochs at it beat 2 epochs at the sweep's start rate
    def trained_loss(lr):
        t = Trainer(_mlp(), "cross_entropy", optim.Adam(lr=lr), epochs=2, random_state=0)
        return t.fit(X, y)["loss"][-1]
    assert trained_loss(result.suggested_lr) < 0.5 * trained_loss(1e-6)
    assert "suggested" in str(result)


def test_lr_finder_is_deterministic_and_uses_the_trainers_settings(digits):
    X, y = digits
    trainer = Trainer(_mlp(), "cross_entropy", optim.SGD(lr=0.1, momentum=0.9), batch_size=64,
                      random_state=0, epochs=1)
    trainer.fit(X, y)
    step, opt = trainer.step_, copy.deepcopy(trainer.optimizer.__dict__)
    a = lr_finder(trainer, X, y, n_steps=60, reinitialize=True)
    b = lr_finder(trainer, X, y, n_steps=60, reinitialize=True)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert trainer.step_ == step and repr(trainer.optimizer.__dict__) == repr(opt)
    # reinitialize starts from fresh weights: the first losses are those of an untrained net
    assert a.losses[0] > 1.5
    fitted = lr_finder(trainer, X, y, n_steps=60)
    assert fitted.losses[0] < 1.0


def test_lr_finder_stops_on_divergence_and_checks_arguments(digits):
    X, y = digits
    result = lr_finder(_mlp(), X, y, loss="cross_entropy", optimizer="sgd", end_lr=1e4,
                       n_steps=100, divergence=2.0)
    assert result.diverged and len(result.lrs) < 100
    with pytest.raises(ValueError, match="start_lr"):
        lr_finder(_mlp(), X, y, loss="cross_entropy", start_lr=1, end_lr=0.1)
    with pytest.raises(ValueError, match="n_steps"):
        lr_finder(_mlp(), X, y, loss="cross_entropy", n_steps=1)
    with pytest.raises(ValueError, match="smooth"):
        lr_finder(_mlp(), X, y, loss="cross_entropy", smooth=1.0)
    with pytest.raises(ValueError, match="loss="):
        lr_finder(_mlp(), X, y)


# ---- diagnose_fit ---------------------------------------------------------------------------
def _hist(train, val=None):
    h = {"loss": list(train)}
    if val is not None:
        h["val_loss"] = list(val)
    return h


def test_diagnose_synthetic_histories():
    n = np.arange(20)
    good = _hist(0.3 + 0.7 * np.exp(-n), 0.35 + 0.7 * np.exp(-n))
    d = diagnose_fit(good)
    assert d.verdict == "good fit", d.message
    assert d.final_train_loss == pytest.approx(good["loss"][-1])
    assert d.gap == pytest.approx(0.05, abs=1e-6)
    assert d.relative_gap == pytest.approx(0.05 / good["loss"][-1], rel=1e-6)
    assert d.best_epoch == 19 and d.val_still_improving is False

    # training loss to ~0, validation loss U-shaped
    over = _hist(np.exp(-n / 3), 0.5 + 0.02 * (n - 6) ** 2)
    d = diagnose_fit(over)
    assert d.verdict == "overfitting" and d.best_epoch == 6
    assert d.val_rise > 0.1 and len(d.reasons) == 2
    assert "epoch 7" in d.message

    # flat and high: the model cannot fit the training set
    under = _hist(0.69 - 0.001 * n, 0.70 - 0.001 * n)
    d = diagnose_fit(under)
    assert d.verdict == "underfitting" and d.train_ratio > 0.9
    # still falling steeply at the end: not converged
    slow = _hist(1.0 * 0.8 ** n, 1.05 * 0.8 ** n)
    d = diagnose_fit(slow)
    assert d.verdict == "underfitting" and d.val_still_improving and d.train_ratio < 0.5
    assert "still improving" in d.message

    # a baseline makes "high" absolute: 0.6 is most of log(2)=0.69 even if it fell from 2
    fell = _hist(np.r_[2.0, np.full(9, 0.6)], np.r_[2.0, np.full(9, 0.62)])
    assert diagnose_fit(fell).verdict == "good fit"
    assert diagnose_fit(fell, baseline_loss=np.log(2)).verdict == "underfitting"

    for h in (_hist([1.0, 0.5]), _hist([1, 0.5, 0.4, 0.3]), {"loss": [], "val_loss": []}):
        d = diagnose_fit(h)
        assert d.verdict == "not enough data to tell"
    assert "validation" in diagnose_fit(_hist([1, 0.5, 0.4, 0.3])).message


def test_diagnose_accepts_history_trainer_and_estimator():
    h = History()
    for tr, va in [(1.0, 1.1), (0.5, 0.6), (0.3, 0.35), (0.3, 0.34), (0.3, 0.34), (0.3, 0.34)]:
        h.append({"loss": tr, "val_loss": va, "lr": 0.1})

    class Est:
        history_ = h

    class T:
        history = h

    verdicts = {diagnose_fit(x).verdict for x in (h, Est(), T(), h.as_dict())}
    assert verdicts == {"good fit"}
    with pytest.raises(TypeError, match="history"):
        diagnose_fit(42)


def test_diagnose_real_trainings():
    # a linear model on concentric circles: cannot do better than chance
    X, y = make_circles(400, noise=0.05, factor=0.5, random_state=0)
    t = Trainer(nn.Sequential(nn.Linear(2, 2), random_state=0), "cross_entropy",
                optim.Adam(lr=1e-2), epochs=20, random_state=0)
    t.fit(X, y, validation_fraction=0.25)
    d = diagnose_fit(t, baseline_loss=np.log(2))
    assert d.verdict == "underfitting", d.message
    assert diagnose_fit(t).verdict == "underfitting"

    # a big network on 60 noisy samples: memorises them
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 10))
    y = ((X[:, 0] + rng.normal(scale=1.5, size=60)) > 0).astype(int)
    t = Trainer(nn.Sequential(nn.Linear(10, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                              nn.Linear(256, 2), random_state=0),
                "cross_entropy", optim.Adam(lr=3e-3), epochs=80, batch_size=16, random_state=0)
    t.fit(X, y, validation_fraction=0.3)
    d = diagnose_fit(t)
    assert d.verdict == "overfitting", d.message
    assert d.final_train_loss < 0.05 and d.final_val_loss > 2 * d.best_val_loss

    # a reasonable model on digits: a good fit
    X, y = load_digits(return_X_y=True)
    t = Trainer(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10), random_state=0),
                "cross_entropy", optim.Adam(1e-3, schedule=optim.Cosine(warmup_epochs=1)),
                epochs=15, random_state=0)
    t.fit(X / 16, y, validation_fraction=0.2)
    assert diagnose_fit(t).verdict == "good fit", diagnose_fit(t).message


# ---- the MLP estimators ----------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_mlp_estimators_work_with_the_diagnostics(digits, solver):
    """A fitted MLPClassifier/MLPRegressor hands its trainer to gradient_check (an lbfgs
    fit keeps none: a new one on the fitted model), and an early-stopping fit records
    val_loss next to loss, so diagnose_fit can compare them."""
    from fastfit import MLPClassifier, MLPRegressor

    X, y = digits
    X, y = X[:300], y[:300]
    early = solver == "adam"
    clf = MLPClassifier((16,), solver=solver, max_iter=8, early_stopping=early,
                        random_state=0).fit(X, y % 3)
    params = clf._model.params.copy()
    assert gradient_check(clf, X[:40], (y % 3)[:40]).passed
    np.testing.assert_array_equal(clf._model.params, params)
    binary = MLPClassifier((8,), solver=solver, max_iter=5, early_stopping=early,
                           random_state=0).fit(X, y % 2 == 0)
    assert gradient_check(binary, X[:40], (y % 2 == 0)[:40]).passed
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver=solver, max_iter=5,
                       early_stopping=early, random_state=0).fit(X, y.astype(float))
    assert gradient_check(reg, X[:40], y[:40].astype(float)).passed
    if early:
        for est in (clf, binary, reg):
            rows = est.history_.rows
            assert len(rows) == est.n_iter_
            assert all(np.isfinite(r["val_loss"]) and r["val_loss"] > 0 for r in rows)
            assert [r["val_score"] for r in rows] == est.validation_scores_
            assert diagnose_fit(est).verdict != "not enough data to tell"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_validation_loss_is_scikit_learns_loss(digits):
    """The val_loss recorded per epoch is scikit-learn's data loss (log loss, binary log
    loss summed over outputs, half the squared error) on the rows it is given."""
    from sklearn.metrics import log_loss, mean_squared_error

    from fastfit import MLPClassifier, MLPRegressor

    X, y = digits
    X, y = X[:200].astype(np.float64), y[:200]
    w = np.linspace(0.5, 2.0, 200)
    clf = MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y % 4)
    _, loss = clf._validation_score(clf._model, X, None, y % 4, w)
    assert loss == pytest.approx(log_loss(y % 4, clf.predict_proba(X), sample_weight=w),
                                 rel=1e-10)
    binary = MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y % 2)
    target = (y % 2).astype(np.float64).reshape(-1, 1)
    _, loss = binary._validation_score(binary._model, X, target, None, w)
    assert loss == pytest.approx(log_loss(y % 2, binary.predict_proba(X), sample_weight=w),
                                 rel=1e-10)
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y / 9.0)
    _, loss = reg._validation_score(reg._model, X, (y / 9.0).reshape(-1, 1), None, w)
    assert loss == pytest.approx(0.5 * mean_squared_error(y / 9.0, reg.predict(X),
                                                          sample_weight=w), rel=1e-10)
