"""SGDClassifier / SGDRegressor against scikit-learn's: with shuffle=False the same
per-sample arithmetic, so the same coefficients to float64 rounding; with shuffle the
same accuracy; plus the estimator contract (checks, bad input, pickling, pipelines)."""

import io
import pickle
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
import sklearn.linear_model as sk
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastfit
from fastfit import SGDClassifier, SGDRegressor


def _data(n=200, d=6, seed=0, classes=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    s = X @ w + 0.3 * rng.standard_normal(n)
    yr = s + 1.0
    if classes == 2:
        yc = np.where(s > 0, "b", "a")
    else:
        yc = np.digitize(s, np.quantile(s, np.linspace(0, 1, classes + 1)[1:-1]))
    return X, yc, yr


def _same(a, b, rtol):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.max(np.abs(b))), 1e-12)
    assert np.max(np.abs(a - b)) <= rtol * scale, np.max(np.abs(a - b)) / scale


def _both(cls_ff, cls_sk, X, y, rtol=1e-10, fit_kw=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = cls_ff(**kw).fit(X, y, **(fit_kw or {}))
        b = cls_sk(**kw).fit(X, y, **(fit_kw or {}))
    _same(a.coef_, b.coef_, rtol)
    _same(a.intercept_, b.intercept_, rtol)
    assert a.n_iter_ == b.n_iter_ and a.t_ == b.t_
    assert a.coef_.shape == b.coef_.shape and a.intercept_.shape == np.shape(b.intercept_)
    assert a.coef_.dtype == X.dtype
    return a, b


# ---- scikit-learn's estimator checks ----------------------------------------------

@parametrize_with_checks([
    SGDClassifier(max_iter=20, random_state=0),
    SGDClassifier(loss="log_loss", average=True, max_iter=20, random_state=0),
    SGDClassifier(loss="modified_huber", penalty="elasticnet", learning_rate="invscaling",
                  eta0=0.1, max_iter=20, random_state=0),
    SGDRegressor(max_iter=20, random_state=0),
    SGDRegressor(loss="huber", penalty="l1", learning_rate="adaptive", max_iter=20,
                 random_state=0),
], expected_failed_checks=lambda est: {
    # scikit-learn marks the same check as an expected failure for its own SGD estimators
    # (sklearn/utils/_test_common/instance_generator.py): weighting a sample is not the
    # same as repeating it for per-sample SGD.
    "check_sample_weight_equivalence_on_dense_data":
        "sample_weight is not equivalent to removing/repeating samples.",
    "check_sample_weight_equivalence_on_sparse_data":
        "sample_weight is not equivalent to removing/repeating samples.",
})
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---- same coefficients as scikit-learn (shuffle=False) --------------------------------

CLF_LOSSES = ["hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron",
              "squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"]
REG_LOSSES = ["squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"]


@pytest.mark.parametrize("loss", CLF_LOSSES)
@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet", None])
def test_classifier_matches_sklearn_every_loss_and_penalty(loss, penalty):
    # Fewer features than a lane block (16 in float64): the same operations in the same
    # order as scikit-learn, so the same bits -- even with the 'optimal' schedule's huge
    # first steps, which amplify any rounding difference into a different model.
    X, y, _ = _data(d=7)
    a, b = _both(SGDClassifier, sk.SGDClassifier, X, y, loss=loss, penalty=penalty,
                 shuffle=False, max_iter=8, alpha=1e-3)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    # 40 features: two lane blocks and a tail, summed in another order than scikit-learn's
    # serial dot, so equal to rounding with a schedule that does not amplify it.
    X, y, _ = _data(d=40)
    _both(SGDClassifier, sk.SGDClassifier, X, y, loss=loss, penalty=penalty, shuffle=False,
          max_iter=8, alpha=1e-3, learning_rate="invscaling", eta0=0.01)


@pytest.mark.parametrize("schedule", ["optimal", "constant", "invscaling", "adaptive"])
@pytest.mark.parametrize("average", [False, True, 50])
def test_classifier_matches_sklearn_schedules_and_averaging(schedule, average):
    X, y, _ = _data(d=7)
    _both(SGDClassifier, sk.SGDClassifier, X, y, loss="log_loss", learning_rate=schedule,
          average=average, shuffle=False, max_iter=30, eta0=0.05, n_iter_no_change=2)


@pytest.mark.parametrize("loss", REG_LOSSES)
@pytest.mark.parametrize("schedule", ["optimal", "constant", "invscaling", "adaptive"])
def test_regressor_matches_sklearn(loss, schedule):
    X, _, y = _data(d=20 if schedule != "optimal" else 9)
    _both(SGDRegressor, sk.SGDRegressor, X, y, loss=loss, learning_rate=schedule,
          penalty="elasticnet", shuffle=False, max_iter=15, alpha=1e-3)


def test_passive_aggressive_schedules_match_sklearn():
    X, yc, yr = _data()
    _both(SGDClassifier, sk.SGDClassifier, X, yc, learning_rate="pa1", eta0=0.5,
          shuffle=False, penalty=None)
    _both(SGDRegressor, sk.SGDRegressor, X, yr, loss="epsilon_insensitive",
          learning_rate="pa2", eta0=0.5, shuffle=False, penalty=None)


def test_multiclass_sample_and_class_weights_match_sklearn():
    X, y, _ = _data(n=240, d=9, classes=4)
    sw = np.random.default_rng(1).uniform(0.2, 2.0, X.shape[0])
    for cw in (None, "balanced", {0: 2.0, 3: 0.5}):
        _both(SGDClassifier, sk.SGDClassifier, X, y, class_weight=cw, shuffle=False,
              max_iter=10, fit_kw=dict(sample_weight=sw), average=bool(cw is None))
    Xb, yb, yr = _data()
    swb = np.random.default_rng(2).uniform(0, 2, Xb.shape[0])
    _both(SGDClassifier, sk.SGDClassifier, Xb, yb, class_weight={"a": 3.0}, shuffle=False,
          max_iter=10, fit_kw=dict(sample_weight=swb))
    _both(SGDRegressor, sk.SGDRegressor, Xb, yr, shuffle=False, max_iter=10,
          fit_kw=dict(sample_weight=swb))


def test_float32_trains_in_float32_like_sklearn():
    X, yc, yr = _data(d=12, classes=3)
    X32 = X.astype(np.float32)
    a, b = _both(SGDClassifier, sk.SGDClassifier, X32, yc, rtol=1e-4, shuffle=False,
                 max_iter=10)
    assert a.intercept_.dtype == np.float32
    assert a.decision_function(X32).dtype == np.float32
    r, _ = _both(SGDRegressor, sk.SGDRegressor, X32, yr, rtol=1e-4, shuffle=False,
                 max_iter=10)
    assert r.predict(X32).dtype == np.float32


def test_warm_start_and_coef_init_match_sklearn():
    X, y, yr = _data(classes=3)
    a = SGDClassifier(warm_start=True, shuffle=False, max_iter=3, tol=None)
    b = sk.SGDClassifier(warm_start=True, shuffle=False, max_iter=3, tol=None)
    for _ in range(2):
        a.fit(X, y)
        b.fit(X, y)
    _same(a.coef_, b.coef_, 1e-10)
    init = np.random.default_rng(0).standard_normal(X.shape[1])
    _both(SGDRegressor, sk.SGDRegressor, X, yr, shuffle=False, max_iter=4, tol=None,
          fit_kw=dict(coef_init=init, intercept_init=0.5))


# ---- shuffled fits, partial_fit, early stopping ---------------------------------------

def test_shuffled_fit_reaches_sklearns_accuracy_and_r2():
    X, y, yr = _data(n=3000, d=20, classes=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = SGDClassifier(random_state=0).fit(X, y)
        b = sk.SGDClassifier(random_state=0).fit(X, y)
        assert a.score(X, y) > b.score(X, y) - 0.03
        r = SGDRegressor(random_state=0).fit(X, yr)
        s = sk.SGDRegressor(random_state=0).fit(X, yr)
    assert r.score(X, yr) > s.score(X, yr) - 0.01


def test_same_random_state_same_coefficients_any_thread_count():
    X, y, _ = _data(n=500, d=10, classes=5)
    fits = []
    for nt in (1, 2):
        with fastfit.num_threads(nt):
            fits.append(SGDClassifier(random_state=3, max_iter=5, tol=None).fit(X, y).coef_)
    fits.append(SGDClassifier(random_state=3, max_iter=5, tol=None, n_threads=2).fit(X, y).coef_)
    for c in fits[1:]:
        np.testing.assert_array_equal(c, fits[0])
    other = SGDClassifier(random_state=4, max_iter=5, tol=None).fit(X, y).coef_
    assert not np.array_equal(other, fits[0])


@pytest.mark.parametrize("shuffle", [False, True])
def test_multiclass_partial_fit_twice_equals_fit_two_epochs(shuffle):
    """Multiclass problems share fastfit's Philox order (stream = epoch number)."""
    X, y, _ = _data(classes=3)
    a = SGDClassifier(shuffle=shuffle, random_state=0)
    a.partial_fit(X, y, classes=np.unique(y))
    a.partial_fit(X, y)
    b = SGDClassifier(shuffle=shuffle, random_state=0, max_iter=2, tol=None).fit(X, y)
    _same(a.coef_, b.coef_, 1e-12)
    _same(a.intercept_, b.intercept_, 1e-12)
    assert a.t_ == b.t_ == 2 * X.shape[0] + 1
    if not shuffle:  # and scikit-learn's partial_fit, step for step
        c = sk.SGDClassifier(shuffle=False)
        c.partial_fit(X, y, classes=np.unique(y))
        c.partial_fit(X, y)
        _same(a.coef_, c.coef_, 1e-10)


@pytest.mark.parametrize("shuffle", [False, True])
def test_partial_fit_matches_sklearn_step_for_step(shuffle):
    """Binary and regression partial_fit calls shuffle as scikit-learn's (the same seed
    for every call of an int random_state, applied to a fresh row order)."""
    X, y, yr = _data()
    pairs = [(SGDClassifier, sk.SGDClassifier, y, {"classes": np.unique(y)}),
             (SGDRegressor, sk.SGDRegressor, yr, {})]
    for ours, theirs, target, first in pairs:
        a, b = ours(shuffle=shuffle, random_state=4), theirs(shuffle=shuffle, random_state=4)
        for call in range(3):
            kw = first if call == 0 else {}
            a.partial_fit(X, target, **kw)
            b.partial_fit(X, target, **kw)
            _same(a.coef_, b.coef_, 1e-12)
            _same(a.intercept_, b.intercept_, 1e-12)
            assert a.t_ == b.t_


@pytest.mark.parametrize("kw", [{}, {"early_stopping": True}, {"average": True},
                                {"penalty": "elasticnet", "learning_rate": "invscaling",
                                 "eta0": 0.01}])
@pytest.mark.parametrize("random_state", [0, 7])
def test_shuffled_fit_matches_sklearn(kw, random_state):
    """With shuffle=True (the default) the rows come in scikit-learn's order: the same
    model and the same n_iter_ for the same random_state (7 features: one lane block,
    so the same operations in the same order)."""
    X, y, yr = _data(n=300, d=7, seed=random_state)
    _both(SGDClassifier, sk.SGDClassifier, X, y, rtol=1e-12, random_state=random_state, **kw)
    _both(SGDRegressor, sk.SGDRegressor, X, yr, rtol=1e-12, random_state=random_state, **kw)


def test_shuffle_sklearn_is_scikit_learns_dataset_order():
    from sklearn.utils._seq_dataset import ArrayDataset64

    from fastfit.ops import shuffle_sklearn

    for n in (1, 2, 3, 37, 1000):
        rows = ArrayDataset64(np.zeros((n, 1)), np.arange(n, dtype=np.float64), np.ones(n), 5)
        perm = np.arange(n, dtype=np.int64)
        for seed in (0, 1, 12345, 2**31 - 1, 2**32 - 1):
            for _epoch in range(3):   # cumulative: each epoch permutes the last order
                rows._shuffle_py(seed)
                assert shuffle_sklearn(perm, seed) is perm
                order = [int(rows._next_py()[1]) for _ in range(n)]
                assert order == perm.tolist()


def test_shuffle_sklearn_rejects_bad_arguments():
    from fastfit.ops import shuffle_sklearn

    perm = np.arange(5, dtype=np.int64)
    for seed in (-1, 2**32, 1.5, True):
        with pytest.raises(ValueError, match="seed"):
            shuffle_sklearn(perm, seed)
    with pytest.raises(TypeError, match="int64"):
        shuffle_sklearn(np.arange(5, dtype=np.int32), 1)
    with pytest.raises(ValueError, match="1-D"):
        shuffle_sklearn(np.zeros((2, 2), np.int64), 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        shuffle_sklearn(np.arange(10, dtype=np.int64)[::2], 1)
    assert perm.tolist() == list(range(5))


def test_partial_fit_rules():
    X, y, _ = _data()
    with pytest.raises(ValueError, match="classes"):
        SGDClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="balanced"):
        SGDClassifier(class_weight="balanced").partial_fit(X, y, classes=np.unique(y))
    with pytest.raises(ValueError, match="early_stopping"):
        SGDClassifier(early_stopping=True).partial_fit(X, y, classes=np.unique(y))
    est = SGDClassifier().partial_fit(X, y, classes=["a", "b", "c"])
    assert list(est.classes_) == ["a", "b", "c"] and est.coef_.shape == (3, X.shape[1])
    with pytest.raises(ValueError, match="not in classes"):
        est.partial_fit(X, np.where(y == "a", "z", y))
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :3], y)


def test_early_stopping_stops_on_the_validation_score():
    X, y, yr = _data(n=1000, d=10, classes=3)
    est = SGDClassifier(early_stopping=True, random_state=0, n_iter_no_change=3, max_iter=200)
    est.fit(X, y)
    assert est.n_iter_ < 200
    assert est.score(X, y) > 0.7
    reg = SGDRegressor(early_stopping=True, random_state=0, max_iter=200).fit(X, yr)
    assert reg.n_iter_ < 200 and reg.score(X, yr) > 0.9
    with pytest.raises(ValueError, match="empty"):
        SGDRegressor(early_stopping=True, validation_fraction=0.1).fit(X[:1], yr[:1])


def test_tol_rule_convergence_warning_and_verbose():
    X, y, _ = _data()
    with pytest.warns(ConvergenceWarning):
        SGDClassifier(max_iter=2).fit(X, y)
    out = io.StringIO()
    with redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        SGDClassifier(max_iter=2, verbose=1).fit(X, y)
    assert "-- Epoch 1" in out.getvalue() and "Avg. loss" in out.getvalue()


def test_overflow_is_a_value_error_and_leaves_the_model():
    X, _, yr = _data()
    est = SGDRegressor(max_iter=3).fit(X, yr)
    before = est.coef_.copy()
    with pytest.raises(ValueError, match="overflow"):
        est.fit(X * 1e200, yr, )
    np.testing.assert_array_equal(est.coef_, before)


# ---- predictions ----------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["log_loss", "modified_huber"])
@pytest.mark.parametrize("classes", [2, 3])
def test_predict_proba_matches_sklearn(loss, classes):
    X, y, _ = _data(classes=classes)
    a, b = _both(SGDClassifier, sk.SGDClassifier, X, y, loss=loss, shuffle=False, max_iter=5)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-9, atol=1e-12)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(a.predict_log_proba(X), b.predict_log_proba(X), rtol=1e-9)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(X), rtol=1e-9)


def test_no_predict_proba_for_hinge():
    X, y, _ = _data()
    est = SGDClassifier(max_iter=3).fit(X, y)
    assert not hasattr(est, "predict_proba") and not hasattr(est, "predict_log_proba")


def test_one_row_predict_and_fitted_attributes():
    X, y, yr = _data(classes=3)
    est = SGDClassifier(max_iter=5).fit(X, y)
    assert est.predict(X[:1]).shape == (1,)
    assert est.n_features_in_ == X.shape[1] and list(est.classes_) == [0, 1, 2]
    reg = SGDRegressor(max_iter=5).fit(X, yr)
    assert reg.coef_.shape == (X.shape[1],) and reg.intercept_.shape == (1,)
    np.testing.assert_allclose(reg.predict(X[:1]), X[:1] @ reg.coef_ + reg.intercept_)


# ---- bad input ------------------------------------------------------------------------

BAD = {
    "nan": lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X),
    "inf": lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X),
    "3d": lambda X: X.reshape(X.shape[0], X.shape[1], 1),
    "strings": lambda X: np.full(X.shape, "x"),
    "complex": lambda X: X + 1j,
    "empty": lambda X: X[:0],
}


@pytest.mark.parametrize("cls", [SGDClassifier, SGDRegressor])
@pytest.mark.parametrize("bad", sorted(BAD))
def test_bad_input_raises_and_leaves_the_fitted_model(cls, bad):
    X, yc, yr = _data()
    y = yc if cls is SGDClassifier else yr
    est = cls(max_iter=3, random_state=0).fit(X, y)
    before = (est.coef_.copy(), est.intercept_.copy(), est.t_, est.n_iter_)
    Xb = BAD[bad](X)
    with pytest.raises((ValueError, TypeError)):
        est.fit(Xb, y[:Xb.shape[0]] if Xb.ndim else y)
    with pytest.raises((ValueError, TypeError)):
        est.partial_fit(Xb, y[:Xb.shape[0]] if Xb.ndim else y)
    if bad != "empty":
        with pytest.raises((ValueError, TypeError)):
            est.predict(Xb)
    np.testing.assert_array_equal(est.coef_, before[0])
    np.testing.assert_array_equal(est.intercept_, before[1])
    assert (est.t_, est.n_iter_) == before[2:]
    with pytest.raises(ValueError):
        est.fit(X, y[:-1])
    with pytest.raises(ValueError):
        est.predict(X[:, :-1])
    np.testing.assert_array_equal(est.coef_, before[0])


def test_one_class_and_bad_parameters():
    X, y, yr = _data()
    est = SGDClassifier(max_iter=3).fit(X, y)
    before = est.coef_.copy()
    with pytest.raises(ValueError, match="class"):
        est.fit(X, np.zeros(X.shape[0]))
    np.testing.assert_array_equal(est.coef_, before)
    for bad in [dict(loss="nope"), dict(penalty="l3"), dict(alpha=-1), dict(l1_ratio=2.0),
                dict(max_iter=0), dict(tol=-1.0), dict(eta0=0.0), dict(learning_rate="fast"),
                dict(validation_fraction=1.0), dict(n_iter_no_change=0), dict(average=-1),
                dict(n_threads=0), dict(alpha=0.0), dict(learning_rate="pa1", loss="log_loss"),
                dict(class_weight="weird")]:
        name = next(iter(bad))
        with pytest.raises(ValueError, match=name if name != "learning_rate" else "(?i)learn"):
            SGDClassifier(**bad).fit(X, y)
    with pytest.raises(ValueError, match="loss"):
        SGDRegressor(loss="hinge").fit(X, yr)


# ---- the scikit-learn workflow --------------------------------------------------------

def test_pickle_clone_pipeline_grid_search():
    X, y, yr = _data(n=300, classes=3)
    est = SGDClassifier(loss="log_loss", random_state=0, max_iter=20).fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    c = clone(est)
    assert not hasattr(c, "coef_") and c.get_params() == est.get_params()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(StandardScaler(), SGDRegressor(random_state=0)).fit(X * 10, yr)
        assert pipe.score(X * 10, yr) > 0.9
        gs = GridSearchCV(SGDClassifier(random_state=0, max_iter=20),
                          {"alpha": [1e-4, 1e-2], "loss": ["hinge", "log_loss"]}, cv=3)
        gs.fit(X, y)
    assert gs.best_score_ > 0.6
