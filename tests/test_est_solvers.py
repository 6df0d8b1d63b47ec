"""scikit-learn's solver vocabulary: every LogisticRegression and Ridge solver name against
scikit-learn 1.9's solver of that name (same optimum, n_iter_, warnings and errors)."""

import io
import warnings

import numpy as np
import pytest
import sklearn.linear_model as sk
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler

import fastfit
from fastfit import LogisticRegression, Ridge
from fastfit._estimators._logistic import _Objective
from fastfit._estimators._logistic_hessian import LogisticHessian

SOLVERS = ["lbfgs", "newton-cholesky", "newton-cg", "sag", "saga", "liblinear"]


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)


def _clf_data(n_classes, n=300, p=6, seed=0):
    X, y = make_classification(n, p, n_informative=p - 1, n_redundant=0, n_classes=n_classes,
                               random_state=seed)
    X = StandardScaler().fit_transform(X)  # sag's convergence needs scaled features
    return X, y, np.random.default_rng(seed).uniform(0.2, 2.0, n)


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn()


# ---- the optimum of each solver ------------------------------------------------------------
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("variant", ["plain", "sample_weight", "class_weight", "no_intercept",
                                     "strong_penalty"])
def test_logistic_solver_matches_sklearn(solver, n_classes, variant):
    X, y, sw = _clf_data(n_classes)
    kw = dict(solver=solver, tol=1e-10, max_iter=10000)
    fit_kw = {}
    if variant == "sample_weight":
        fit_kw["sample_weight"] = sw
    elif variant == "class_weight":
        kw["class_weight"] = "balanced" if n_classes == 2 else {0: 2.0, 1: 0.5, 2: 1.5}
    elif variant == "no_intercept":
        kw["fit_intercept"] = False
    elif variant == "strong_penalty":
        kw["C"] = 0.05
    ours = _quiet(lambda: LogisticRegression(**kw).fit(X, y, **fit_kw))
    if solver == "liblinear" and n_classes > 2:
        # scikit-learn 1.9 refuses; its OneVsRestClassifier is the one-vs-rest scheme
        if variant in ("sample_weight", "class_weight"):
            pytest.skip("OneVsRestClassifier re-weights its binary problems differently")
        ref = _quiet(lambda: OneVsRestClassifier(sk.LogisticRegression(**kw)).fit(X, y))
        coef = np.vstack([e.coef_ for e in ref.estimators_])
        intercept = np.hstack([e.intercept_ for e in ref.estimators_])
        np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-5,
                                   atol=1e-8)
    else:
        ref = _quiet(lambda: sk.LogisticRegression(**kw).fit(X, y, **fit_kw))
        coef, intercept = ref.coef_, ref.intercept_
        np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-5,
                                   atol=1e-8)
    assert ours.coef_.shape == coef.shape
    assert rel(ours.coef_, coef) < 1e-5
    np.testing.assert_allclose(ours.intercept_, intercept, atol=1e-5 * np.abs(coef).max())
    assert solver == "liblinear" or type(ours.intercept_) is type(ref.intercept_)
    assert ours.n_iter_.shape == (1,) and ours.n_iter_.dtype == np.int32


@pytest.mark.parametrize("solver", ["newton-cholesky", "newton-cg", "lbfgs"])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_newton_iterations_as_sklearn(solver, n_classes):
    """Same objective, step and stopping rule: the same iteration count at the default tol."""
    X, y, sw = _clf_data(n_classes, n=500, p=8, seed=1)
    ours = LogisticRegression(solver=solver).fit(X, y, sample_weight=sw)
    ref = sk.LogisticRegression(solver=solver).fit(X, y, sample_weight=sw)
    assert abs(int(ours.n_iter_[0]) - int(ref.n_iter_[0])) <= (0 if solver != "lbfgs" else 2)
    assert rel(ours.coef_, ref.coef_) < 1e-3


@pytest.mark.parametrize("solver", ["newton-cholesky", "newton-cg", "lbfgs", "sag"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_multinomial_without_penalty(solver, fit_intercept):
    """C=inf: the multinomial coefficients are identifiable only up to a shared shift;
    newton-cholesky pins then centres them as scikit-learn does."""
    X, y, _ = _clf_data(3, n=400, p=5, seed=3)
    X = X + np.random.default_rng(0).normal(0, 2.0, X.shape)  # not separable
    kw = dict(solver=solver, C=np.inf, fit_intercept=fit_intercept, tol=1e-10, max_iter=20000)
    ours = _quiet(lambda: LogisticRegression(**kw).fit(X, y))
    ref = _quiet(lambda: sk.LogisticRegression(**kw).fit(X, y))
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-5,
                               atol=1e-8)
    if solver == "newton-cholesky":
        assert rel(ours.coef_, ref.coef_) < 1e-5


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_saga_l1_and_elasticnet(n_classes, l1_ratio):
    X, y, sw = _clf_data(n_classes, n=300, p=8)
    kw = dict(solver="saga", l1_ratio=l1_ratio, C=0.2, tol=1e-10, max_iter=20000)
    ours = LogisticRegression(**kw).fit(X, y, sample_weight=sw)
    ref = _quiet(lambda: sk.LogisticRegression(**kw).fit(X, y, sample_weight=sw))
    assert rel(ours.coef_, ref.coef_) < 1e-4
    assert np.array_equal(ours.coef_ == 0, np.abs(ref.coef_) < 1e-8)
    assert (ours.coef_ == 0).any()


@pytest.mark.parametrize("intercept_scaling", [1.0, 3.0])
@pytest.mark.parametrize("l1_ratio", [0.0, 1.0])
def test_liblinear_penalised_intercept(intercept_scaling, l1_ratio):
    X, y, sw = _clf_data(2, n=300, p=8, seed=2)
    X = X + 1.5  # an intercept far from 0, so its penalty matters
    kw = dict(solver="liblinear", l1_ratio=l1_ratio, C=0.3, tol=1e-10, max_iter=20000,
              intercept_scaling=intercept_scaling)
    ours = LogisticRegression(**kw).fit(X, y, sample_weight=sw)
    ref = _quiet(lambda: sk.LogisticRegression(**kw).fit(X, y, sample_weight=sw))
    assert rel(ours.coef_, ref.coef_) < 1e-4
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-4)
    # the penalised intercept differs from lbfgs's unpenalised one
    free = LogisticRegression(C=0.3).fit(X, y, sample_weight=sw)
    assert abs(free.intercept_[0] - ours.intercept_[0]) > 1e-3


def test_liblinear_dual_is_the_same_optimum():
    X, y, _ = _clf_data(2)
    kw = dict(solver="liblinear", tol=1e-10, max_iter=1000)
    a = LogisticRegression(dual=True, **kw).fit(X, y)
    b = sk.LogisticRegression(dual=True, **kw).fit(X, y)
    assert rel(a.coef_, b.coef_) < 1e-5


@pytest.mark.parametrize("solver", ["newton-cholesky", "newton-cg", "saga", "liblinear"])
def test_float32(solver):
    X, y, _ = _clf_data(2 if solver == "liblinear" else 3, n=400)
    kw = dict(solver=solver, tol=1e-6, max_iter=5000)
    ours = _quiet(lambda: LogisticRegression(**kw).fit(X.astype(np.float32), y))
    ref = _quiet(lambda: sk.LogisticRegression(**{**kw, "tol": 1e-10}).fit(X, y))
    assert ours.coef_.dtype == np.float32 and ours.predict_proba(X.astype(np.float32)).dtype \
        == np.float32
    assert rel(ours.coef_, ref.coef_) < 2e-3


@pytest.mark.parametrize("solver", ["newton-cholesky", "newton-cg", "sag", "saga"])
def test_warm_start(solver):
    X, y, _ = _clf_data(3)
    full = LogisticRegression(solver=solver, tol=1e-8, max_iter=5000).fit(X, y)
    # each fit restarts the method's own state (momentum, step size) from the last coef_
    steps = 2 if solver.startswith("newton") else 20
    m = LogisticRegression(solver=solver, warm_start=True, max_iter=steps, tol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(100):
            m.fit(X, y)
    assert rel(m.coef_, full.coef_) < 1e-4


@pytest.mark.parametrize("solver", ["newton-cholesky", "newton-cg", "saga", "liblinear"])
def test_thread_count_invariant(solver):
    X, y, sw = _clf_data(2 if solver == "liblinear" else 3, n=9000, p=12)  # 3 row chunks
    kw = dict(solver=solver, l1_ratio=0.5 if solver == "saga" else 0.0)
    a = LogisticRegression(n_threads=1, **kw).fit(X, y, sample_weight=sw)
    b = LogisticRegression(n_threads=2, **kw).fit(X, y, sample_weight=sw)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.intercept_, b.intercept_)


# ---- warnings and errors as scikit-learn's --------------------------------------------------
def _warnings_of(cls, X, y, **kw):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        cls(**kw).fit(X, y)
    return sorted((w.category.__name__, str(w.message)) for w in rec
                  if w.category is not ConvergenceWarning)


@pytest.mark.parametrize("kw", [
    {}, {"penalty": "l2"}, {"penalty": "l2", "l1_ratio": 0.5}, {"penalty": None},
    {"penalty": None, "C": 2.0}, {"l1_ratio": None}, {"n_jobs": 2},
    {"l1_ratio": 0.5, "solver": "saga"}, {"penalty": "l1", "solver": "liblinear"},
    {"penalty": "l1", "l1_ratio": 0.0, "solver": "saga"}, {"C": np.inf},
    {"penalty": "elasticnet", "l1_ratio": 0.3, "solver": "saga"},
])
def test_warnings_match_sklearn(kw):
    X, y, _ = _clf_data(2, n=100)
    assert _warnings_of(LogisticRegression, X, y, **kw) == _warnings_of(
        sk.LogisticRegression, X, y, **kw)


@pytest.mark.parametrize("kw", [
    {"l1_ratio": 1.0}, {"l1_ratio": 0.5, "solver": "newton-cg"},
    {"l1_ratio": 1.0, "solver": "newton-cholesky"}, {"l1_ratio": 1.0, "solver": "sag"},
    {"penalty": "elasticnet", "solver": "liblinear", "l1_ratio": 0.5},
    {"C": np.inf, "solver": "liblinear"}, {"penalty": None, "solver": "liblinear"},
    {"dual": True}, {"dual": True, "solver": "saga"},
    {"penalty": "elasticnet", "l1_ratio": None, "solver": "saga"},
])
def test_errors_match_sklearn(kw):
    X, y, _ = _clf_data(2, n=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError) as theirs:
            sk.LogisticRegression(**kw).fit(X, y)
        fitted = LogisticRegression().fit(X, y)
        before = (fitted.coef_.copy(), fitted.intercept_.copy())
        with pytest.raises(ValueError) as ours:
            fitted.set_params(**kw).fit(X, y)
    assert str(ours.value) == str(theirs.value)
    np.testing.assert_array_equal(fitted.coef_, before[0])  # the rejected fit changed nothing
    np.testing.assert_array_equal(fitted.intercept_, before[1])


@pytest.mark.parametrize("kw", [{"solver": "saga!"}, {"l1_ratio": 1.5}, {"intercept_scaling": 0},
                                {"dual": "yes"}])
def test_bad_parameters(kw):
    X, y, _ = _clf_data(2, n=50)
    with pytest.raises(ValueError):
        LogisticRegression(**kw).fit(X, y)


def test_liblinear_huge_values_refused_as_sklearn():
    X, y, _ = _clf_data(2, n=50)
    X[0, 0] = 1e31
    with pytest.raises(ValueError, match="1e30"):
        LogisticRegression(solver="liblinear").fit(X, y)


@pytest.mark.parametrize("solver", SOLVERS)
def test_convergence_warning_at_max_iter(solver):
    X, y, _ = _clf_data(2)
    with pytest.warns(ConvergenceWarning):
        m = LogisticRegression(solver=solver, max_iter=1, tol=1e-14).fit(X, y)
    assert m.n_iter_[0] == 1


# ---- the Hessian: finite differences of the fused pass's gradient ---------------------------
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("icol", [1.0, 2.5, None])
@pytest.mark.parametrize("weighted", [False, True])
def test_hessian_by_finite_differences(k, icol, weighted):
    rng = np.random.default_rng(k)
    n, p = 4100 + 7, 5  # two row chunks, an odd tail
    X = rng.standard_normal((n, p))
    labels = rng.integers(0, 2 if k == 1 else k, n).astype(np.int64)
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    sw_sum = float(n if w is None else w.sum())
    obj = _Objective(X, labels, w, k, icol is not None, sw_sum, 0.0)
    hess = LogisticHessian(X, labels, w, k, 1.0 / sw_sum, icol)
    size = k * p + (k if icol is not None else 0)
    theta = rng.standard_normal(size) * 0.3

    def grad(t):  # the gradient with respect to theta when the intercept is icol * theta_b
        t2 = t.copy()
        if icol is not None:
            t2[k * p:] *= icol
        g = obj(t2)[1]
        if icol is not None:
            g[k * p:] *= icol
        return g

    H = hess.full(theta)
    h = 1e-6
    fd = np.stack([(grad(theta + h * e) - grad(theta - h * e)) / (2 * h) for e in np.eye(size)])
    np.testing.assert_allclose(H, fd, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-14)
    v = rng.standard_normal(size)
    np.testing.assert_allclose(hess.operator(theta)(v), H @ v, rtol=1e-10, atol=1e-12)


def test_hessian_float32_close_to_float64():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 7))
    labels = rng.integers(0, 3, 1000).astype(np.int64)
    theta = rng.standard_normal(3 * 7 + 3) * 0.2
    H64 = LogisticHessian(X, labels, None, 3, 1e-3, 1.0).full(theta)
    H32 = LogisticHessian(X.astype(np.float32), labels, None, 3, 1e-3, 1.0).full(theta)
    assert H32.dtype == np.float64
    assert rel(H32, H64) < 1e-5


# ---- save / load with the new parameters ----------------------------------------------------
@pytest.mark.parametrize("kw", [{"solver": "liblinear", "intercept_scaling": 2.0},
                                {"solver": "newton-cholesky"},
                                {"solver": "saga", "l1_ratio": 0.5}])
def test_save_load_round_trip(kw):
    X, y, _ = _clf_data(3)
    m = LogisticRegression(**kw, max_iter=500).fit(X, y)
    buf = io.BytesIO()
    fastfit.save(m, buf)
    buf.seek(0)
    back = fastfit.load(buf)
    assert back.get_params() == m.get_params()
    np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))


# ---- Ridge ---------------------------------------------------------------------------------
RIDGE_SOLVERS = ["auto", "svd", "cholesky", "lsqr", "sparse_cg", "sag", "saga", "lbfgs"]


def _ridge_data(n, p, targets, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 1.0
    y = X @ rng.uniform(-1, 2, (p, targets)) + rng.standard_normal((n, targets))
    return X, (y[:, 0] if targets == 1 else y), rng.uniform(0.5, 2.0, n)


@pytest.mark.parametrize("solver", RIDGE_SOLVERS)
@pytest.mark.parametrize("shape", [(200, 12, 1), (200, 12, 3), (30, 50, 2), (1, 3, 1)])
@pytest.mark.parametrize("variant", ["plain", "sample_weight", "no_intercept", "alpha_per_target"])
def test_ridge_solver_matches_sklearn(solver, shape, variant):
    n, p, t = shape
    X, y, sw = _ridge_data(n, p, t)
    kw = dict(solver=solver, alpha=0.7, tol=1e-10, max_iter=100000,
              positive=solver == "lbfgs")
    if variant == "no_intercept":
        kw["fit_intercept"] = False
    if variant == "alpha_per_target":
        kw["alpha"] = np.linspace(0.3, 3.0, t)
    fit_kw = {"sample_weight": sw} if variant == "sample_weight" else {}
    ours = Ridge(**kw).fit(X, y, **fit_kw)
    # the optimum: scikit-learn's direct solve (its sag cannot take n = 1 and its saga /
    # lsqr can blow up on the wide weighted or uncentred cases here)
    exact = sk.Ridge(**{**kw, "solver": "lbfgs" if solver == "lbfgs" else "cholesky"})
    exact.fit(X, y, **fit_kw)
    scale = max(np.abs(exact.coef_).max(), 1.0)
    np.testing.assert_allclose(ours.coef_, exact.coef_, atol=1e-7 * scale)
    np.testing.assert_allclose(ours.intercept_, exact.intercept_, atol=1e-7 * scale)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = sk.Ridge(**kw).fit(X, y, **fit_kw)
    except (ValueError, ZeroDivisionError):
        return
    assert ours.solver_ == ref.solver_
    assert ours.coef_.shape == ref.coef_.shape
    assert (ours.n_iter_ is None) == (ref.n_iter_ is None)
    if ref.n_iter_ is not None:
        assert ours.n_iter_.shape == ref.n_iter_.shape and ours.n_iter_.dtype == np.int32
        if solver == "lsqr":  # the same SciPy solver on the same operator
            assert np.abs(ours.n_iter_ - ref.n_iter_).max() <= 2


@pytest.mark.parametrize("positive", [False, True])
def test_ridge_auto_and_positive(positive):
    X, y, _ = _ridge_data(100, 8, 1, seed=4)
    y = y - 3 * X[:, 0]  # a coefficient the constraint holds at 0
    ours = Ridge(alpha=2.0, positive=positive).fit(X, y)
    ref = sk.Ridge(alpha=2.0, positive=positive).fit(X, y)
    assert ours.solver_ == ref.solver_ == ("lbfgs" if positive else "cholesky")
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-4)
    assert not positive or (ours.coef_.min() >= 0 and ours.coef_[0] == 0)


@pytest.mark.parametrize("kw", [{"solver": "lbfgs"}, {"solver": "svd", "positive": True},
                                {"solver": "sag", "positive": True}])
def test_ridge_errors_match_sklearn(kw):
    X, y, _ = _ridge_data(50, 4, 1)
    with pytest.raises(ValueError) as theirs:
        sk.Ridge(**kw).fit(X, y)
    fitted = Ridge().fit(X, y)
    before = fitted.coef_.copy()
    with pytest.raises(ValueError) as ours:
        fitted.set_params(**kw).fit(X, y)
    assert str(ours.value) == str(theirs.value)
    np.testing.assert_array_equal(fitted.coef_, before)
    assert fitted.solver_ == "cholesky"


@pytest.mark.parametrize("solver", ["svd", "lsqr", "sparse_cg", "sag", "lbfgs"])
def test_ridge_float32(solver):
    X, y, _ = _ridge_data(300, 10, 1)
    kw = dict(solver=solver, positive=solver == "lbfgs", tol=1e-6)
    ours = Ridge(**kw).fit(X.astype(np.float32), y.astype(np.float32))
    ref = sk.Ridge(**{**kw, "tol": 1e-10}).fit(X, y)
    assert ours.coef_.dtype == np.float32
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-4)


def test_ridge_lsqr_max_iter_and_save_load():
    X, y, _ = _ridge_data(200, 12, 2)
    m = Ridge(solver="lsqr", max_iter=3).fit(X, y)
    assert np.all(m.n_iter_ == 3)
    buf = io.BytesIO()
    fastfit.save(m, buf)
    buf.seek(0)
    back = fastfit.load(buf)
    assert back.solver_ == "lsqr" and back.get_params() == m.get_params()
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
