"""fastfit.MLPClassifier / MLPRegressor against scikit-learn's MLPs.

The strongest checks: with the same random_state both start from the same weights (fastfit
draws them as scikit-learn does), so with shuffle=False the whole loss curve, the
coefficients, early stopping's validation scores and lbfgs's optimum must agree to
rounding in float64.
"""

import io
import os
import pickle
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout

import numpy as np
import pytest
from sklearn import neural_network as sknn
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastfit
from fastfit import optim
import fastfit.ops as F
from fastfit.callbacks import Callback, EarlyStopping

MLPClassifier, MLPRegressor = fastfit.MLPClassifier, fastfit.MLPRegressor

_BN_SW = {"check_sample_weight_equivalence_on_dense_data":
          # batch normalisation's batch statistics count rows, not weights, and shuffled
          # mini-batches differ once rows are repeated; scikit-learn's own MLPs pass this
          # check only in the configurations its test suite switches to (MLPClassifier:
          # solver="lbfgs"; MLPRegressor: sgd with tol=1e-2), not with mini-batch noise
          "batch statistics are not weighted",
          "check_sample_weight_equivalence_on_sparse_data": "batch statistics are not weighted"}


@parametrize_with_checks(
    [MLPClassifier(max_iter=100, random_state=0),
     MLPRegressor(max_iter=100, random_state=0),
     MLPClassifier((32, 32), batch_norm=True, dropout=0.1, max_iter=100, random_state=0),
     MLPRegressor(hidden_layer_sizes=(32, 32), batch_norm=True, dropout=0.1, residual=True,
                  max_iter=100, random_state=0),
     MLPClassifier((8,), solver="lbfgs", max_iter=50, random_state=0),
     MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, random_state=0)],
    expected_failed_checks=lambda est: _BN_SW if est.batch_norm else {})
def test_sklearn_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ---- data ---------------------------------------------------------------------------
def _clf(n=300, classes=3, seed=0, dtype=np.float64):
    X, y = make_classification(n, 10, n_informative=6, n_classes=classes, random_state=seed)
    return X.astype(dtype), y


def _reg(n=300, targets=1, seed=0):
    X, y = make_regression(n, 8, n_targets=targets, noise=1.0, random_state=seed)
    return X, y / 100


def _both(cls, X, y, sample_weight=None, **kw):
    sk = {"MLPClassifier": sknn.MLPClassifier, "MLPRegressor": sknn.MLPRegressor}[cls.__name__]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = sk(**kw).fit(X, y, sample_weight=sample_weight)
        b = cls(**kw).fit(X, y, sample_weight=sample_weight)
    return a, b


def _close_coefs(a, b, rtol=1e-9, atol=1e-11):
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_allclose(cb, ca, rtol=rtol, atol=atol)


# ---- the same numbers as scikit-learn ---------------------------------------------------
@pytest.mark.parametrize("case", [
    dict(cls="clf", solver="sgd"),
    dict(cls="clf", solver="adam", alpha=1e-2),
    dict(cls="clf2", solver="sgd", nesterovs_momentum=False, activation="tanh"),
    dict(cls="clf2", solver="adam", activation="logistic"),
    dict(cls="reg", solver="sgd", learning_rate="invscaling", learning_rate_init=0.05),
    dict(cls="reg2", solver="adam", alpha=0.1, activation="identity"),
    dict(cls="clf", solver="sgd", learning_rate="adaptive", tol=0.05, n_iter_no_change=2,
         momentum=0.5),
    dict(cls="multilabel", solver="adam"),
])
def test_loss_curve_equals_sklearn(case):
    case = dict(case)
    kind = case.pop("cls")
    if kind.startswith("clf"):
        X, y = _clf(classes=3 if kind == "clf" else 2)
        cls = MLPClassifier
    elif kind == "multilabel":
        X, _ = _clf()
        rng = np.random.default_rng(0)
        y = (X[:, :3] + 0.3 * rng.standard_normal((X.shape[0], 3)) > 0).astype(int)
        cls = MLPClassifier
    else:
        X, y = _reg(targets=1 if kind == "reg" else 3)
        cls = MLPRegressor
    kw = dict(hidden_layer_sizes=(16, 8), shuffle=False, random_state=0, max_iter=25,
              batch_size=64, learning_rate_init=0.01)   # 300 rows: a last batch of 44
    kw.update(case)
    a, b = _both(cls, X, y, **kw)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-9)
    assert (b.n_iter_, b.t_, b.out_activation_, b.n_layers_, b.n_outputs_) == \
        (a.n_iter_, a.t_, a.out_activation_, a.n_layers_, a.n_outputs_)
    assert b.best_loss_ == pytest.approx(a.best_loss_, rel=1e-9)
    _close_coefs(a, b)
    if cls is MLPClassifier:
        np.testing.assert_array_equal(b.predict(X), a.predict(X))
        np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), rtol=1e-9, atol=1e-12)
    else:
        np.testing.assert_allclose(b.predict(X), a.predict(X), rtol=1e-9, atol=1e-12)
    assert len(b.history_) == b.n_iter_


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_lbfgs_equals_sklearn(cls):
    X, y = _clf() if cls is MLPClassifier else _reg(targets=2)
    a, b = _both(cls, X, y, hidden_layer_sizes=(12,), solver="lbfgs", max_iter=30,
                 random_state=0, alpha=1e-3)
    assert b.n_iter_ == a.n_iter_
    np.testing.assert_allclose(b.loss_, a.loss_, rtol=1e-7)
    _close_coefs(a, b, rtol=1e-5, atol=1e-7)


def test_early_stopping_equals_sklearn():
    X, y = _clf(n=400)
    kw = dict(hidden_layer_sizes=(16,), solver="sgd", shuffle=False, random_state=0,
              early_stopping=True, n_iter_no_change=3, max_iter=200, learning_rate_init=0.1)
    a, b = _both(MLPClassifier, X, y, **kw)
    assert a.n_iter_ < 200   # it did stop early
    np.testing.assert_allclose(b.validation_scores_, a.validation_scores_)
    assert b.best_validation_score_ == a.best_validation_score_ and b.best_loss_ is None
    _close_coefs(a, b)        # the best epoch's weights were put back
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-9)


def test_sample_weight_equals_sklearn_and_duplication():
    X, y = _clf()
    w = np.random.default_rng(1).uniform(0.2, 3.0, X.shape[0])
    a, b = _both(MLPClassifier, X, y, sample_weight=w, hidden_layer_sizes=(8,), solver="sgd",
                 shuffle=False, random_state=0, max_iter=10, batch_size=50)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-9)
    _close_coefs(a, b)
    # weight 2 on a row == that row twice, for the full-batch lbfgs objective
    w2 = np.ones(X.shape[0])
    w2[:40] = 2
    Xd, yd = np.vstack([X, X[:40]]), np.concatenate([y, y[:40]])
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        p = MLPClassifier(**kw).fit(X, y, sample_weight=w2)
        q = MLPClassifier(**kw).fit(Xd, yd)
    np.testing.assert_allclose(p.loss_, q.loss_, rtol=1e-8)
    _close_coefs(p, q, rtol=1e-6, atol=1e-8)


def test_class_weight_is_sample_weight_of_the_class():
    X, y = _clf()
    kw = dict(hidden_layer_sizes=(8,), solver="sgd", shuffle=False, random_state=0,
              max_iter=5)
    a = MLPClassifier(class_weight={0: 3.0, 2: 0.5}, **kw).fit(X, y)
    b = MLPClassifier(**kw).fit(X, y, sample_weight=np.array([3.0, 1.0, 0.5])[y])
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-12)
    Xi, yi = X[:120], np.where(np.arange(120) < 100, 0, 1)
    bal = MLPClassifier(class_weight="balanced", **kw).fit(Xi, yi)
    ref = MLPClassifier(**kw).fit(Xi, yi, sample_weight=np.where(yi == 0, 120 / 200, 120 / 40))
    np.testing.assert_allclose(bal.loss_curve_, ref.loss_curve_, rtol=1e-12)


def test_warm_start_from_sklearn_coefs_continues_like_sklearn():
    X, y = _clf()
    kw = dict(hidden_layer_sizes=(10,), solver="adam", shuffle=False, max_iter=5,
              warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = sknn.MLPClassifier(random_state=3, **kw).fit(X, y)
        b = MLPClassifier(random_state=7, **kw).fit(X, y)     # other init
        for cb, ca in zip(b.coefs_ + b.intercepts_, a.coefs_ + a.intercepts_, strict=True):
            cb[...] = ca                  # coefs_ are views into the model's parameters
        b.loss_curve_ = list(a.loss_curve_)
        b.best_loss_, b._no_improvement_count = a.best_loss_, a._no_improvement_count
        a.fit(X, y)
        b.fit(X, y)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-9)
    assert len(b.loss_curve_) == 10 and b.t_ == a.t_ and b.n_iter_ == 5
    _close_coefs(a, b)


@pytest.mark.parametrize("shuffle", [False, True])
def test_partial_fit_twice_equals_two_epochs(shuffle):
    X, y = _clf()
    kw = dict(hidden_layer_sizes=(8,), solver="sgd", shuffle=shuffle, random_state=0,
              tol=0.0, n_iter_no_change=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = MLPClassifier(max_iter=2, **kw).fit(X, y)
    part = MLPClassifier(**kw)
    part.partial_fit(X, y, classes=np.unique(y))
    part.partial_fit(X, y)
    assert part.n_iter_ == 1 and part.t_ == full.t_ == 2 * X.shape[0]
    np.testing.assert_array_equal(part.loss_curve_, full.loss_curve_)
    _close_coefs(full, part, rtol=0, atol=0)
    Xr, yr = _reg()
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver="adam", shuffle=shuffle, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fr = MLPRegressor(hidden_layer_sizes=(8,), solver="adam", shuffle=shuffle, random_state=0,
                          max_iter=2).fit(Xr, yr)
    reg.partial_fit(Xr, yr).partial_fit(Xr, yr)
    np.testing.assert_array_equal(reg.loss_curve_, fr.loss_curve_)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


def test_float32_trains_and_predicts_in_float32():
    X, y = _clf(dtype=np.float32)
    kw = dict(hidden_layer_sizes=(16,), random_state=0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        e32 = MLPClassifier(**kw).fit(X, y)
        e64 = MLPClassifier(**kw).fit(X.astype(np.float64), y)
    assert e32.coefs_[0].dtype == np.float32 and e64.coefs_[0].dtype == np.float64
    assert e32.predict_proba(X).dtype == np.float32
    assert e32.predict_proba(X.astype(np.float64)).dtype == np.float32
    assert abs(e32.score(X, y) - e64.score(X, y)) < 0.03
    np.testing.assert_allclose(e32.loss_curve_, e64.loss_curve_, rtol=1e-3)
    Xr, yr = _reg()
    r = MLPRegressor(hidden_layer_sizes=(8,), random_state=0, max_iter=5)
    r.fit(Xr.astype(np.float32), yr)
    assert r.predict(Xr.astype(np.float32)).dtype == np.float32


def test_string_classes_binary_and_multilabel():
    X, y = _clf(classes=2)
    names = np.array(["no", "yes"])[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier((8,), random_state=0, max_iter=50,
                            learning_rate_init=0.01).fit(X, names)
    assert list(est.classes_) == ["no", "yes"] and est.n_outputs_ == 1
    assert est.out_activation_ == "logistic" and est.coefs_[-1].shape == (8, 1)
    assert est.predict(X).dtype == names.dtype and est.score(X, names) > 0.8
    proba = est.predict_proba(X)
    assert proba.shape == (X.shape[0], 2)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-12)
    np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(1)])
    Y = np.column_stack([y, 1 - y, X[:, 0] > 0]).astype(int)
    ml = MLPClassifier((8,), random_state=0, max_iter=5).fit(X, Y)
    assert ml.predict(X).shape == Y.shape and ml.predict_proba(X).shape == Y.shape


def test_lr_schedules_solvers_and_extensions_train():
    X, y = _clf()
    X = StandardScaler().fit_transform(X)
    seen = []

    class Count(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append(logs["loss"])

    configs = [dict(solver="adamw", alpha=1e-2), dict(solver="rmsprop"),
               dict(lr_schedule="cosine"), dict(lr_schedule="step"),
               dict(lr_schedule="plateau"), dict(lr_schedule=optim.Exponential(0.97)),
               dict(batch_norm=True, dropout=0.2, residual=True, hidden_layer_sizes=(32, 32)),
               dict(callbacks=[Count(), EarlyStopping(monitor="loss", patience=2)])]
    for extra in configs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = MLPClassifier(**{"hidden_layer_sizes": (32,), "random_state": 0,
                                   "max_iter": 40, "learning_rate_init": 0.01,
                                   **extra}).fit(X, y)
        assert est.score(X, y) > 0.75, extra
        assert est.history_["loss"] == est.loss_curve_
    assert seen and len(seen) <= 40


def test_verbose_and_convergence_warning():
    X, y = _clf()
    buf = io.StringIO()
    with redirect_stdout(buf), pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        est = MLPClassifier((8,), max_iter=3, verbose=True, random_state=0).fit(X, y)
    lines = buf.getvalue().splitlines()
    assert lines == ["Iteration %d, loss = %.8f" % (i + 1, v)
                     for i, v in enumerate(est.loss_curve_)]
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge") as caught:
        MLPClassifier((8,), solver="lbfgs", max_iter=2, random_state=0).fit(X, y)
    message = str(caught[0].message)
    assert "(max_iter=2)" in message and "{" not in message


def test_params_device_and_bad_parameters():
    X, y = _clf()
    for bad in [dict(hidden_layer_sizes=(0,)), dict(activation="softmax"), dict(solver="x"),
                dict(alpha=-1), dict(batch_size=0), dict(learning_rate="fast"),
                dict(momentum=2.0), dict(validation_fraction=1.0), dict(dropout=1.0),
                dict(lr_schedule="linear"), dict(n_threads=0), dict(device="tpu"),
                dict(callbacks=[object()]), dict(beta_1=1.0), dict(epsilon=0.0)]:
        with pytest.raises(ValueError):
            MLPClassifier(**bad).fit(X, y)
    with pytest.raises(ValueError, match="'loss' parameter"):
        MLPRegressor(loss="huber").fit(*_reg())


def _state(est):
    """Everything the estimator keeps, as its pickle (views and cffi handles are rebuilt)."""
    return pickle.dumps(est)


def test_bad_input_leaves_fitted_estimator_unchanged():
    X, y = _clf()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier((8,), max_iter=5, random_state=0).fit(X, y)
    before, pred = _state(est), est.predict_proba(X)
    Xn = X.copy()
    Xn[3, 2] = np.nan
    Xi = X.copy()
    Xi[0, 0] = np.inf
    words = np.full(X.shape, "a", dtype=object)
    bad = [(Xn, y), (Xi, y), (X[:, :, None], y), (words, y), (X + 1j, y), (X[:0], y[:0]),
           (X, y[:-1]), (X, y.astype(float) + 0.5)]
    for method, cases in [("fit", bad + [(X, np.zeros_like(y))]),
                          ("partial_fit", bad + [(X[:, :4], y), (X, y + 7)])]:
        for Xb, yb in cases:
            with pytest.raises((ValueError, TypeError)):
                getattr(est, method)(Xb, yb)
            assert _state(est) == before
    for Xb in [Xn, Xi, X[:, :4], X[:, :, None], X + 1j, X[:0], words]:
        for method in ("predict", "predict_proba"):
            with pytest.raises((ValueError, TypeError)):
                getattr(est, method)(Xb)
    with pytest.raises(ValueError, match="NaN|infinity"):
        est.predict(Xn[3:4])                       # the one-row fast path checks too
    assert _state(est) == before
    np.testing.assert_array_equal(est.predict_proba(X), pred)
    with pytest.raises(ValueError, match="2 classes"):
        MLPClassifier().fit(X, np.zeros_like(y))


class _FailAfterEpoch(Callback):
    """Raises at the end of an epoch once armed: a fit rejected after it changed state."""

    armed = False

    def on_epoch_end(self, trainer, epoch, logs):
        if self.armed:
            raise RuntimeError("rejected by a callback")


def test_rejected_warm_start_fit_leaves_the_model_unchanged():
    # the fit diverges at its 6th epoch: the trainer puts back the weights of the 5th, which
    # are not the estimator's; weights and batch-norm statistics change in place
    X, y = _reg()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPRegressor(hidden_layer_sizes=(16,), solver="sgd", batch_norm=True, max_iter=5,
                           warm_start=True, random_state=0).fit(X, y)
    before, pred = _state(est), est.predict(X)
    stats = est._model.stats.copy()
    est.set_params(learning_rate_init=0.05, max_iter=50)
    with pytest.raises(ValueError, match="non-finite"):
        est.fit(X, y * 100)
    np.testing.assert_array_equal(est._model.stats, stats)
    np.testing.assert_array_equal(est.predict(X), pred)
    est.set_params(learning_rate_init=0.001, max_iter=5)
    assert _state(est) == before


def test_diverged_warm_start_fit_restores_weights_stats_and_optimizer_bitwise():
    # a fit (not partial_fit) with warm_start keeps its trainer: the momentum slot and step
    # count it resumes from belong to the rolled-back state as much as the weights do
    X, y = _reg()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPRegressor(hidden_layer_sizes=(16,), solver="sgd", momentum=0.9,
                           batch_norm=True, max_iter=5, warm_start=True,
                           random_state=0).fit(X, y)
    trainer = est._trainer

    def snapshot():
        t = est._trainer
        return (est._model.params.copy(), est._model.stats.copy(), est.n_iter_,
                list(est.loss_curve_), est.t_, [s.copy() for s in t._slots], t.step_,
                t.epoch_, len(t.history))

    before = snapshot()
    est.set_params(learning_rate_init=0.05, max_iter=50)
    with pytest.raises(ValueError, match="non-finite"):
        est.fit(X * 1e8, y * 1e8)
    assert est._trainer is trainer
    np.testing.assert_equal(snapshot(), before)
    assert before[5] and before[1].size   # there was optimizer state and BN statistics


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_rejected_partial_fit_leaves_the_optimizer_state_unchanged(solver):
    # partial_fit keeps its trainer: the optimizer's slots, step count and history (and the
    # weights) must be put back too, so the next call continues as if the rejected one had
    # never happened
    X, y = _clf()
    fail = _FailAfterEpoch()
    kw = dict(hidden_layer_sizes=(8,), solver=solver, batch_norm=True, random_state=0)
    est = MLPClassifier(callbacks=[fail], **kw)
    ref = MLPClassifier(**kw)
    for e in (est, ref):
        e.partial_fit(X, y, classes=np.unique(y))
    trainer = est._trainer
    before = (est._model.params.copy(), est._model.stats.copy(),
              [s.copy() for s in trainer._slots], trainer.step_, trainer.epoch_,
              len(trainer.history), list(est.loss_curve_), est.t_)
    fail.armed = True
    with pytest.raises(RuntimeError, match="rejected"):
        est.partial_fit(X, y)
    del fail.armed
    after = (est._model.params, est._model.stats, trainer._slots, trainer.step_,
             trainer.epoch_, len(trainer.history), est.loss_curve_, est.t_)
    assert est._trainer is trainer
    np.testing.assert_equal(after, before)
    est.partial_fit(X, y)
    ref.partial_fit(X, y)
    assert est.loss_curve_ == ref.loss_curve_
    for a, b in zip(est.coefs_, ref.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(est._model.stats, ref._model.stats)


def test_pickling_leaves_the_estimator_intact():
    # pickling once stripped coefs_ from the live estimator: its next partial_fit then
    # started over from new random weights
    X, y = _clf()
    est = MLPClassifier((8,), random_state=0).partial_fit(X, y, classes=np.unique(y))
    ref = MLPClassifier((8,), random_state=0).partial_fit(X, y, classes=np.unique(y))
    pickle.dumps(est)
    assert "coefs_" in est.__dict__ and "_predictor" in est.__dict__
    est.partial_fit(X, y)
    ref.partial_fit(X, y)
    assert est.t_ == ref.t_ == 2 * X.shape[0] and len(est.loss_curve_) == 2
    np.testing.assert_array_equal(est.coefs_[0], ref.coefs_[0])


def test_pickle_clone_pipeline_and_searches():
    X, y = _clf()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier((8,), max_iter=20, random_state=0).fit(X, y)
        back = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
        back.coefs_[0][0, 0] += 1.0   # views again after unpickling
        assert not np.array_equal(back.predict_proba(X), est.predict_proba(X))
        back.partial_fit(X, y)
        assert back.loss_curve_[:20] == est.loss_curve_
        c = clone(est)
        assert not hasattr(c, "coefs_") and c.get_params() == est.get_params()
        pipe = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=50, random_state=0,
                                                             learning_rate_init=0.01))
        assert pipe.fit(X, y).score(X, y) > 0.85
        gs = GridSearchCV(MLPClassifier(max_iter=10, random_state=0),
                          {"hidden_layer_sizes": [(4,), (16,)], "alpha": [1e-4, 1e-2]},
                          cv=3).fit(X, y)
        assert gs.best_estimator_.n_iter_ == 10
        rs = RandomizedSearchCV(MLPRegressor(max_iter=10, random_state=0),
                                {"learning_rate_init": [1e-3, 1e-2]}, n_iter=2, cv=3,
                                random_state=0).fit(*_reg())
        assert np.isfinite(rs.best_score_)
        scores = cross_val_score(MLPClassifier((8,), max_iter=10, random_state=0), X, y, cv=3)
        assert scores.shape == (3,)


class _ThreadProbe(Callback):
    """Appends "pid threads" to a file at the start of every fit."""

    def __init__(self, path):
        self.path = path

    def on_train_begin(self, trainer):
        with open(self.path, "a") as f:
            f.write(f"{os.getpid()} {fastfit.get_num_threads()}\n")


def test_grid_search_workers_limit_openmp_threads(tmp_path):
    """joblib's loky workers limit OpenMP to cpu_count // n_jobs; fastfit's kernels must
    run with that limit in each GridSearchCV(n_jobs=2) worker, not the machine's cores."""
    import cloudpickle

    log = tmp_path / "threads.txt"
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        X, y = _clf()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gs = GridSearchCV(MLPClassifier((8,), max_iter=2, callbacks=[_ThreadProbe(str(log))]),
                              {"alpha": [1e-4, 1e-2]}, cv=2, n_jobs=2).fit(X, y)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert gs.best_estimator_.n_iter_ == 2
    rows = [line.split() for line in log.read_text().splitlines()]
    workers = [int(t) for pid, t in rows if int(pid) != os.getpid()]
    assert len(workers) == 4      # 2 candidates x 2 folds, in the workers
    assert set(workers) == {max((os.cpu_count() or 1) // 2, 1)}


def test_predictions_from_threads_and_thread_count_determinism():
    X, y = _clf(n=600, dtype=np.float32)
    kw = dict(hidden_layer_sizes=(64, 64), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with fastfit.num_threads(1):
            one = MLPClassifier(**kw).fit(X, y)
        two = MLPClassifier(n_threads=2, **kw).fit(X, y)
    _close_coefs(one, two, rtol=0, atol=0)
    rows = [X[i:i + 1] for i in range(200)]
    serial = [(one.predict(r), one.predict_proba(r)) for r in rows]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda r: (one.predict(r), one.predict_proba(r)), rows))
    for (a, pa), (b, pb) in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(pa, pb)


@pytest.mark.parametrize("labels", [np.array([-100, 100, 7], np.int8), np.array([True, False]),
                                    np.array([2**64 - 1, 2**64 - 2], np.uint64),
                                    np.array([0, 2**40], np.int64), np.array([3, 1], np.uint8)])
def test_integer_labels_of_any_range_and_dtype(labels):
    # 1-D integer labels skip scikit-learn's type sniffing and get their classes by
    # counting when the range is small: the same classes_ (values and dtype) as np.unique
    rng = np.random.default_rng(0)
    y = labels[rng.integers(0, len(labels), 60)]
    y[:len(labels)] = labels
    X = rng.standard_normal((60, 3))
    m = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(m.classes_, np.unique(y))
    assert m.classes_.dtype == np.unique(y).dtype
    assert set(np.unique(m.predict(X))) <= set(np.unique(y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel"])
def test_predict_proba_output_function_fused_per_chunk(kind, dtype):
    # The prediction kernel applies softmax / sigmoid to each chunk of outputs in C
    # (FF_PREDICT_SOFTMAX / FF_PREDICT_SIGMOID): bitwise the function of the logits
    # through fastfit.ops, over one chunk, several chunks on one thread and chunks split
    # between two threads, on the fast path (a ready ndarray) and the checked one (a list).
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4100, 6)).astype(dtype)
    y = {"multiclass": rng.integers(0, 4, 4100), "binary": rng.integers(0, 2, 4100),
         "multilabel": rng.integers(0, 2, (4100, 3))}[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    for n in (1, 300, 4100):
        for threads in (1, 2):
            m.set_params(n_threads=threads)
            logits = np.asarray(m.decision_function(X[:n]), dtype).reshape(n, -1)
            want = (F.softmax(logits) if kind == "multiclass"
                    else F.activation_forward(logits, "sigmoid"))
            proba = m.predict_proba(X[:n])
            got = proba[:, 1:] if kind == "binary" else proba
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(m.predict_proba(X[:n].tolist()), proba)
    # sparse X: the CSR prediction kernel applies the same output function per chunk
    import scipy.sparse as sp
    Xs = sp.csr_matrix(X[:700])
    logits = np.asarray(m.decision_function(Xs), dtype).reshape(700, -1)
    want = F.softmax(logits) if kind == "multiclass" else F.activation_forward(logits, "sigmoid")
    proba = m.predict_proba(Xs)
    np.testing.assert_array_equal(proba[:, 1:] if kind == "binary" else proba, want)


def test_predict_kernel_rejects_bad_output_flags():
    from fastfit._lib import ffi, lib, ptr
    X = np.zeros((3, 2))
    m = MLPClassifier(hidden_layer_sizes=(2,), max_iter=1).fit(X, [0, 1, 2])
    out = np.empty((3, 3))
    native = m._model._native
    for flags in (-1, 8, lib.FF_PREDICT_SOFTMAX | lib.FF_PREDICT_SIGMOID):
        assert native._predict(ptr(out), native.struct, ptr(X), ffi.NULL, 3, 3, 1,
                               flags) == lib.FF_EBADARG
    # the CSR kernel takes the output function only (its caller checked the values)
    indptr, indices = np.arange(4, dtype=np.int64), np.zeros(3, np.int64)
    for flags in (-1, 8, lib.FF_PREDICT_CHECK_FINITE,
                  lib.FF_PREDICT_SOFTMAX | lib.FF_PREDICT_SIGMOID):
        assert native._predict_csr(ptr(out), native.struct, ptr(np.ones(3)), ptr(indptr),
                                   ptr(indices), 3, 3, 1, flags) == lib.FF_EBADARG


@pytest.mark.parametrize("threads", [1, 2])
def test_non_finite_row_in_a_late_chunk_is_rejected(threads):
    # The prediction kernel checks each 256-row chunk on the thread that computes it.
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4100, 5)).astype(np.float32)
    y = rng.integers(0, 3, 4100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=0,
                          n_threads=threads).fit(X, y)
    before = m.predict_proba(X)
    for bad in (np.nan, np.inf):
        Xb = X.copy()
        Xb[4099, 2] = bad
        for method in (m.predict, m.predict_proba, m.decision_function):
            with pytest.raises(ValueError, match="NaN|infinity|finite"):
                method(Xb)
    np.testing.assert_array_equal(m.predict_proba(X), before)


def test_wide_model_predicts_through_a_per_call_workspace():
    # 256 rows x 4100+ values is over the 4 MB a prediction thread keeps: such models
    # allocate their chunk workspace per call (one chunk, several on one thread, and
    # chunks split between two threads give the same bits), matching NumPy's forward
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1100, 4100)).astype(np.float32)
    y = rng.integers(0, 3, 1100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(X, y)
    got = {}
    for threads in (1, 2):
        m.set_params(n_threads=threads)
        got[threads] = m.predict_proba(X)
    np.testing.assert_array_equal(got[1], got[2])
    np.testing.assert_array_equal(m.predict_proba(X[:200]), got[1][:200])
    h = np.maximum(X.astype(np.float64) @ m.coefs_[0] + m.intercepts_[0], 0)
    z = h @ m.coefs_[1] + m.intercepts_[1]
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(got[1], p / p.sum(1, keepdims=True), rtol=2e-4, atol=1e-6)
