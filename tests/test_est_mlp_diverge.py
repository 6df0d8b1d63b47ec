"""A diverging MLP with early_stopping=True behaves as scikit-learn's: training goes on
through the non-finite loss (NaN weights), the stopping rule runs on the NaN model's
validation scores (NaN for a regressor, the accuracy of classes_[0] for a classifier),
the best epoch's weights come back, and fit raises only where scikit-learn's does (the
NaN model scored best, or no early stopping)."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn import neural_network as sknn
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

import fastfit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")   # scikit-learn's overflows


def _fit(est, X, y):
    """(estimator, ValueError message or None, ConvergenceWarning raised?)"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est.fit(X, y)
            err = None
        except ValueError as e:
            err = str(e)
    return est, err, any(issubclass(w.category, ConvergenceWarning) for w in caught)


def _same_outcome(a, b, rtol, curves=True):
    assert b.n_iter_ == a.n_iter_
    np.testing.assert_allclose(b.validation_scores_, a.validation_scores_, rtol=rtol)
    assert b.best_validation_score_ == pytest.approx(a.best_validation_score_, rel=rtol)
    if curves:   # the same epochs blew up: NaN/inf in the same places of the loss curve
        la, lb = np.asarray(a.loss_curve_), np.asarray(b.loss_curve_)
        np.testing.assert_array_equal(np.isfinite(lb), np.isfinite(la))
        np.testing.assert_array_equal(np.isnan(lb), np.isnan(la))
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        assert np.isfinite(cb).all()   # the best epoch's weights were put back
        np.testing.assert_allclose(cb, ca, rtol=rtol, atol=rtol * np.abs(ca).max())


@pytest.mark.parametrize("lr", [0.1, 1.0])
def test_diverging_regressor_runs_to_max_iter_and_keeps_the_best_epoch(lr):
    X, y = make_regression(300, 8, random_state=0)
    kw = dict(hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=lr,
              early_stopping=True, max_iter=30, random_state=0, shuffle=False)
    (a, ea, wa), (b, eb, wb) = (_fit(sknn.MLPRegressor(**kw), X, y),
                                _fit(fastfit.MLPRegressor(**kw), X, y))
    assert ea is None and eb is None and wa and wb
    assert b.n_iter_ == 30 and np.isnan(b.validation_scores_[-1])
    _same_outcome(a, b, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(b.loss_curve_)[np.isfinite(a.loss_curve_)],
                               np.asarray(a.loss_curve_)[np.isfinite(a.loss_curve_)], rtol=1e-9)
    np.testing.assert_allclose(b.predict(X), a.predict(X), rtol=1e-9, atol=1e-9)
    assert len(b.history_) == 30 and np.isnan(b.history_["loss"][-1])


def test_diverging_classifier_stops_on_the_nan_models_accuracy():
    # class 0 is rare: the NaN model (always classes_[0]) never scores best, so the rule
    # stops n_iter_no_change epochs after the best one and restores it
    X, y = make_classification(300, 10, n_classes=3, n_informative=5,
                               weights=[0.1, 0.45, 0.45], random_state=0)
    kw = dict(hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=1e8,
              early_stopping=True, max_iter=40, random_state=0, shuffle=False,
              n_iter_no_change=5)
    (a, ea, _), (b, eb, wb) = (_fit(sknn.MLPClassifier(**kw), X * 1e6, y),
                               _fit(fastfit.MLPClassifier(**kw), X * 1e6, y))
    assert ea is None and eb is None and not wb
    assert np.isnan(b.loss_curve_[-1]) and b.n_iter_ < 40
    _same_outcome(a, b, rtol=1e-6)
    np.testing.assert_array_equal(b.predict(X * 1e6), a.predict(X * 1e6))


def test_diverging_classifier_whose_nan_model_scores_best_raises_as_sklearn():
    X, y = make_classification(300, 10, n_classes=3, n_informative=5,
                               weights=[0.5, 0.25, 0.25], random_state=0)
    X = (X * 100).astype(np.float32)
    kw = dict(hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=1e5,
              early_stopping=True, max_iter=40, random_state=0, shuffle=False,
              n_iter_no_change=5)
    _, ea, _ = _fit(sknn.MLPClassifier(**kw), X, y)
    assert ea is not None and "non-finite parameter weights" in ea
    est = fastfit.MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X / 100, y)
    before, params = pickle.dumps(est), est.get_params()
    est.set_params(**kw)
    _, eb, _ = _fit(est, X, y)
    assert eb is not None and "non-finite parameter weights" in eb
    est.set_params(**params)
    assert pickle.dumps(est) == before   # the rejected fit left the model as it was


def test_without_early_stopping_divergence_is_the_non_finite_weights_error():
    X, y = make_regression(300, 8, random_state=0)
    kw = dict(hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=1.0, max_iter=30,
              random_state=0, shuffle=False)
    _, ea, _ = _fit(sknn.MLPRegressor(**kw), X, y)
    _, eb, _ = _fit(fastfit.MLPRegressor(**kw), X, y)
    assert "non-finite parameter weights" in ea and "non-finite parameter weights" in eb


def test_diverging_poisson_regressor_with_early_stopping():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 6))
    y = rng.poisson(np.exp(0.5 + 0.3 * X[:, 0])).astype(np.float64)
    kw = dict(loss="poisson", hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=2.0,
              early_stopping=True, max_iter=25, random_state=0, shuffle=False)
    (a, ea, _), (b, eb, _) = (_fit(sknn.MLPRegressor(**kw), X, y),
                              _fit(fastfit.MLPRegressor(**kw), X, y))
    assert ea is None and eb is None
    assert np.isnan(a.validation_scores_[2:]).all()   # it did diverge, at the same epoch
    # scikit-learn's loss_ is NaN one epoch early where exp(z) underflows to 0 on a zero
    # count (0/0 in its xlogy(y, y/mu)); fastfit's t*log(t) - t*z - t + mu stays finite
    assert np.isfinite(b.loss_curve_[:2]).all() and np.isnan(b.loss_curve_[2:]).all()
    _same_outcome(a, b, rtol=1e-9, curves=False)
