"""MLPRegressor(loss="poisson") against scikit-learn's: the log link (output activation
"exp", predict returns the means), half Poisson deviance summed over outputs as loss_,
the same loss curve and weights with shuffle=False, and y >= 0 enforced."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn import neural_network as sknn
from sklearn.exceptions import ConvergenceWarning

import fastfit

MLPRegressor = fastfit.MLPRegressor


def _counts(n=240, features=6, targets=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features))
    beta = rng.uniform(-0.4, 0.4, (features, targets))
    y = rng.poisson(np.exp(0.5 + X @ beta)).astype(np.float64)
    return X, (y[:, 0] if targets == 1 else y)


def _both(X, y, sample_weight=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = sknn.MLPRegressor(loss="poisson", **kw).fit(X, y, sample_weight=sample_weight)
        b = MLPRegressor(loss="poisson", **kw).fit(X, y, sample_weight=sample_weight)
    return a, b


def _close_coefs(a, b, rtol=1e-9, atol=1e-11):
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_allclose(cb, ca, rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", [
    dict(solver="sgd", learning_rate_init=0.01),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.05, alpha=1e-2),
    dict(solver="adam", activation="tanh", targets=3),
    dict(solver="adam", alpha=0.1, weighted=True),
])
def test_poisson_loss_curve_and_weights_equal_sklearn(case):
    case = dict(case)
    X, y = _counts(targets=case.pop("targets", 1))
    w = (np.random.default_rng(2).uniform(0.2, 3.0, X.shape[0])
         if case.pop("weighted", False) else None)
    kw = dict(hidden_layer_sizes=(12, 6), shuffle=False, random_state=0, max_iter=15,
              batch_size=64, **case)
    a, b = _both(X, y, sample_weight=w, **kw)
    assert b.out_activation_ == a.out_activation_ == "exp"
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-9)
    assert b.loss_ == pytest.approx(a.loss_, rel=1e-9)
    assert (b.n_iter_, b.t_, b.n_outputs_) == (a.n_iter_, a.t_, a.n_outputs_)
    _close_coefs(a, b)
    pred = b.predict(X)
    assert pred.shape == a.predict(X).shape and (pred > 0).all()   # the means, not log-means
    np.testing.assert_allclose(pred, a.predict(X), rtol=1e-9)
    assert b.score(X, y) == pytest.approx(a.score(X, y), rel=1e-9)


def test_poisson_lbfgs_equals_sklearn():
    X, y = _counts(targets=2)
    a, b = _both(X, y, hidden_layer_sizes=(10,), solver="lbfgs", max_iter=30, random_state=0,
                 alpha=1e-3)
    assert b.n_iter_ == a.n_iter_
    np.testing.assert_allclose(b.loss_, a.loss_, rtol=1e-7)
    _close_coefs(a, b, rtol=1e-5, atol=1e-7)


def test_poisson_early_stopping_equals_sklearn():
    X, y = _counts(n=400)
    a, b = _both(X, y, hidden_layer_sizes=(16,), solver="sgd", shuffle=False, random_state=0,
                 early_stopping=True, n_iter_no_change=3, max_iter=60, learning_rate_init=0.01)
    np.testing.assert_allclose(b.validation_scores_, a.validation_scores_, rtol=1e-9)
    assert b.best_validation_score_ == pytest.approx(a.best_validation_score_, rel=1e-9)
    _close_coefs(a, b)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_poisson_float32_and_zero_counts():
    X, y = _counts()
    y[::3] = 0.0
    b = MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=20,
                     random_state=0).fit(X.astype(np.float32), y)
    assert b.predict(X.astype(np.float32)).dtype == np.float32
    assert np.isfinite(b.loss_curve_).all() and b.loss_curve_[-1] < b.loss_curve_[0]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_poisson_rejects_negative_targets_and_leaves_the_model_unchanged():
    X, y = _counts()
    est = MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=5,
                       random_state=0).fit(X, y)
    before = pickle.dumps(est)
    bad = y.copy()
    bad[7] = -1.0
    for call in (lambda: est.fit(X, bad), lambda: est.partial_fit(X, bad)):
        with pytest.raises(ValueError, match="negative"):
            call()
        assert pickle.dumps(est) == before
    # squared error still takes negative targets
    MLPRegressor(hidden_layer_sizes=(4,), max_iter=2).fit(X, bad - 5)


def test_poisson_overflow_is_the_non_finite_weights_error():
    X, y = _counts()
    with warnings.catch_warnings(), pytest.raises(ValueError, match="non-finite"):
        warnings.simplefilter("ignore")
        MLPRegressor(loss="poisson", solver="sgd", learning_rate_init=50.0, momentum=0.0,
                     hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X * 100, y * 100)


def test_poisson_save_load_and_trainer_loss(tmp_path):
    X, y = _counts()
    est = MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert np.array_equal(pickle.loads(pickle.dumps(est)).predict(X), est.predict(X))
    path = tmp_path / "poisson.safetensors"
    fastfit.save(est, path)
    assert np.array_equal(fastfit.load(path).predict(X), est.predict(X))
    model = fastfit.nn.Sequential(fastfit.nn.Linear(6, 4), fastfit.nn.ReLU(),
                                  fastfit.nn.Linear(4, 1), dtype="float64", random_state=0)
    t = fastfit.Trainer(model, loss="poisson", optimizer="adam", epochs=3, batch_size=32,
                        random_state=0)
    h = t.fit(X, y, validation_fraction=0.2)
    assert np.isfinite(h["val_loss"]).all() and "val_r2" in h.rows[-1]
    with pytest.raises(ValueError, match=">= 0"):
        t.fit(X, -y)
