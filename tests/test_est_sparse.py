"""Sparse X (scipy.sparse) in the five linear estimators: the dense fit's coefficients
(LinearRegression, Ridge, LogisticRegression) and scikit-learn's sparse result (SGD, whose
sparse algorithm differs: intercept decay 0.01), on every format, container, dtype and
index dtype; sample_weight / class_weight; bad sparse input; a rejected call leaves the
model as it was; fastfit.save/load; sparsify/densify; SGD's loss_functions."""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.linear_model as sk
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import fastfit
from fastfit import LinearRegression, LogisticRegression, Ridge, SGDClassifier, SGDRegressor
from fastfit._estimators import _linear

FORMATS = [(f, c) for f in ("csr", "csc", "coo") for c in ("matrix", "array")]
DTYPES = [np.float64, np.float32]
INDEX = [np.int32, np.int64]


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)


def _sparse(dense, fmt="csr", container="matrix", index=np.int32):
    """``dense`` in a scipy format and container with ``index`` index arrays."""
    m = getattr(sp, f"{fmt}_{container}")(dense)
    if fmt == "coo":
        m.row, m.col = m.row.astype(index), m.col.astype(index)
    else:
        m.indices, m.indptr = m.indices.astype(index), m.indptr.astype(index)
    return m


def _data(n=240, p=15, density=0.25, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, random_state=rng, data_rvs=rng.standard_normal,
                  format="csr").toarray()
    X[3] = 0.0  # an empty row
    X[:, -1] += 2.0 * (X[:, -1] != 0)  # a column with a large mean: centering matters
    s = X @ rng.standard_normal(p)
    y = s + 0.1 * rng.standard_normal(n) + 1.5
    noisy = s + 0.7 * s.std() * rng.standard_normal(n)  # not separable: bounded weights
    y2 = np.digitize(noisy, [np.median(noisy)])
    y3 = np.digitize(noisy, np.quantile(noisy, [1 / 3, 2 / 3]))
    return X.astype(dtype), y, y2, y3


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kw)


# ---- every format, container, dtype and index dtype --------------------------------------
DENSE_PARITY = [
    ("linear", lambda: LinearRegression(), "y"),
    ("ridge", lambda: Ridge(alpha=0.5), "y"),
    ("logistic_binary", lambda: LogisticRegression(C=2.0, tol=1e-8, max_iter=500), "y2"),
    ("logistic_multi", lambda: LogisticRegression(C=2.0, tol=1e-8, max_iter=500), "y3"),
]


@pytest.mark.parametrize("fmt,container", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index", INDEX)
@pytest.mark.parametrize("name,make,target", DENSE_PARITY, ids=[c[0] for c in DENSE_PARITY])
def test_sparse_fit_equals_dense_fit(fmt, container, dtype, index, name, make, target):
    X, y, y2, y3 = _data(dtype=dtype)
    yy = {"y": y, "y2": y2, "y3": y3}[target]
    Xs = _sparse(X, fmt, container, index)
    a = _quiet(make().fit, Xs, yy)
    b = _quiet(make().fit, X, yy)
    tol = 1e-6 if dtype == np.float64 else 2e-4  # float32: another summation order
    assert a.coef_.dtype == dtype and np.asarray(a.intercept_).dtype == dtype
    assert rel(a.coef_, b.coef_) < tol
    assert rel(a.intercept_, b.intercept_) < tol
    # predictions on sparse and dense X agree, and every predict method takes sparse X
    np.testing.assert_allclose(a.predict(Xs), b.predict(X), rtol=tol, atol=tol)
    assert np.isfinite(a.score(Xs, yy))
    if isinstance(a, LogisticRegression):
        np.testing.assert_allclose(a.predict_proba(Xs), b.predict_proba(X), atol=10 * tol)
        np.testing.assert_allclose(a.decision_function(Xs), b.decision_function(X),
                                   rtol=10 * tol, atol=10 * tol)


SGD_CASES = [
    ("sgdc_hinge_multi", lambda: SGDClassifier(shuffle=False, max_iter=4, tol=None),
     lambda: sk.SGDClassifier(shuffle=False, max_iter=4, tol=None), "y3"),
    ("sgdc_log_binary_avg", lambda: SGDClassifier(loss="log_loss", shuffle=False, max_iter=4,
                                                  tol=None, average=True),
     lambda: sk.SGDClassifier(loss="log_loss", shuffle=False, max_iter=4, tol=None,
                              average=True), "y2"),
    ("sgdr_l1", lambda: SGDRegressor(shuffle=False, max_iter=4, tol=None, penalty="l1"),
     lambda: sk.SGDRegressor(shuffle=False, max_iter=4, tol=None, penalty="l1"), "y"),
    ("sgdr_huber_en", lambda: SGDRegressor(loss="huber", shuffle=False, max_iter=4, tol=None,
                                           penalty="elasticnet"),
     lambda: sk.SGDRegressor(loss="huber", shuffle=False, max_iter=4, tol=None,
                             penalty="elasticnet"), "y"),
]


@pytest.mark.parametrize("fmt,container", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index", INDEX)
@pytest.mark.parametrize("name,make,make_sk,target", SGD_CASES, ids=[c[0] for c in SGD_CASES])
def test_sparse_sgd_equals_scikit_learns_sparse_fit(fmt, container, dtype, index, name, make,
                                                    make_sk, target):
    X, y, y2, y3 = _data(dtype=dtype)
    yy = {"y": y, "y2": y2, "y3": y3}[target]
    Xs = _sparse(X, fmt, container, index)
    a = _quiet(make().fit, Xs, yy)
    b = _quiet(make_sk().fit, sp.csr_matrix(X), yy)
    tol = 1e-10 if dtype == np.float64 else 1e-3  # float32: rounding over ~1000 steps
    assert a.coef_.dtype == dtype
    assert rel(a.coef_, b.coef_) < tol
    assert np.abs(np.asarray(a.intercept_, np.float64) - b.intercept_).max() < tol * max(
        1.0, np.abs(b.intercept_).max())
    if hasattr(a, "decision_function"):
        ref = b.decision_function(sp.csr_matrix(X))
        np.testing.assert_allclose(a.decision_function(Xs), ref, rtol=tol,
                                   atol=tol * np.abs(ref).max())
        assert np.mean(a.predict(Xs) == b.predict(X)) > 0.97  # ties at the boundary aside
    else:
        ref = b.predict(sp.csr_matrix(X))
        np.testing.assert_allclose(a.predict(Xs), ref, rtol=tol, atol=tol * np.abs(ref).max())
    assert np.isfinite(a.score(Xs, yy))
    # the sparse algorithm is not the dense one (scikit-learn's intercept decay)
    if dtype == np.float64:
        dense = _quiet(make().fit, X, yy)
        assert rel(a.intercept_, dense.intercept_) > 1e-6


def test_sgd_partial_fit_and_early_stopping_on_sparse():
    X, _, _, y3 = _data()
    Xs = sp.csr_array(X)
    a, b = SGDClassifier(shuffle=False), sk.SGDClassifier(shuffle=False)
    for _ in range(3):
        a.partial_fit(Xs, y3, classes=np.unique(y3))
        b.partial_fit(Xs, y3, classes=np.unique(y3))
    assert rel(a.coef_, b.coef_) < 1e-10
    # partial_fit keeps the model's dtype for float32 sparse input after a float64 start
    a.partial_fit(sp.csr_matrix(X.astype(np.float32)), y3)
    assert a.coef_.dtype == np.float64
    es = _quiet(SGDClassifier(early_stopping=True, random_state=0, max_iter=50).fit, Xs, y3)
    assert 1 <= es.n_iter_ <= 50 and es.score(Xs, y3) > 0.45  # 3 noisy classes
    r = _quiet(SGDRegressor(early_stopping=True, random_state=0, max_iter=50).fit,
               Xs, _data()[1])
    assert r.score(Xs, _data()[1]) > 0.5


# ---- the iterative sparse solvers (wide X) -----------------------------------------------
@pytest.mark.parametrize("n,p", [(60, 15), (240, 15)])  # dual (p > n) and primal CG
def test_ridge_beyond_the_gram_limit_solves_by_cg(monkeypatch, n, p):
    monkeypatch.setattr(_linear, "_SPARSE_GRAM_MAX", 4)
    X, y, _, _ = _data(n=n, p=p)
    sw = np.random.default_rng(1).random(n) + 0.5
    a = Ridge(alpha=0.3, tol=1e-12).fit(sp.csr_matrix(X), y, sample_weight=sw)
    b = Ridge(alpha=0.3).fit(X, y, sample_weight=sw)
    assert rel(a.coef_, b.coef_) < 1e-6 and abs(a.intercept_ - b.intercept_) < 1e-6
    ref = sk.Ridge(alpha=0.3, tol=1e-12, solver="sparse_cg").fit(sp.csr_matrix(X), y,
                                                                 sample_weight=sw)
    assert rel(a.coef_, ref.coef_) < 1e-6


@pytest.mark.parametrize("n,p", [(40, 15), (240, 15)])
def test_linear_regression_beyond_the_gram_limit_solves_by_lsqr(monkeypatch, n, p):
    monkeypatch.setattr(_linear, "_SPARSE_GRAM_MAX", 4)
    X, y, _, _ = _data(n=n, p=p)
    a = LinearRegression(tol=1e-12).fit(sp.csr_matrix(X), y)
    b = sk.LinearRegression(tol=1e-12).fit(sp.csr_matrix(X), y)
    assert rel(a.coef_, b.coef_) < 1e-5 and abs(a.intercept_ - b.intercept_) < 1e-5
    assert not hasattr(a, "rank_") and not hasattr(b, "rank_")  # dense-only attributes


def test_parity_with_scikit_learn_on_sparse():
    X, y, y2, y3 = _data()
    Xs = sp.csr_matrix(X)
    assert rel(LinearRegression().fit(Xs, y).coef_,
               sk.LinearRegression(tol=1e-12).fit(Xs, y).coef_) < 1e-6
    assert rel(Ridge(alpha=0.5).fit(Xs, y).coef_,
               sk.Ridge(alpha=0.5, tol=1e-12).fit(Xs, y).coef_) < 1e-6
    for yy in (y2, y3):
        a = LogisticRegression(tol=1e-8, max_iter=1000).fit(Xs, yy)
        b = sk.LogisticRegression(tol=1e-8, max_iter=1000).fit(Xs, yy)
        assert rel(a.coef_, b.coef_) < 1e-4
        np.testing.assert_allclose(a.predict_proba(Xs), b.predict_proba(Xs), atol=1e-5)
    # l1 (saga: FISTA) on sparse X: the dense fit's optimum
    a = LogisticRegression(solver="saga", l1_ratio=1.0, C=0.5, tol=1e-10, max_iter=3000).fit(Xs, y2)
    b = LogisticRegression(solver="saga", l1_ratio=1.0, C=0.5, tol=1e-10, max_iter=3000).fit(X, y2)
    assert rel(a.coef_, b.coef_) < 1e-6


# ---- sample_weight and class_weight --------------------------------------------------------
def test_sample_weight_and_class_weight_on_sparse():
    X, y, y2, y3 = _data()
    Xs = sp.csc_matrix(X)
    sw = np.random.default_rng(2).random(X.shape[0]) * 2
    sw[:5] = 0.0
    for make, yy in [(LinearRegression, y), (lambda: Ridge(alpha=2.0), y)]:
        assert rel(make().fit(Xs, yy, sample_weight=sw).coef_,
                   make().fit(X, yy, sample_weight=sw).coef_) < 1e-6
    for cw in ("balanced", {0: 1.0, 1: 3.0, 2: 0.5}):
        a = LogisticRegression(class_weight=cw, tol=1e-10).fit(Xs, y3, sample_weight=sw)
        b = LogisticRegression(class_weight=cw, tol=1e-10).fit(X, y3, sample_weight=sw)
        assert rel(a.coef_, b.coef_) < 1e-6
        a = _quiet(SGDClassifier(class_weight=cw, shuffle=False, max_iter=3, tol=None).fit,
                   Xs, y3, sample_weight=sw)
        b = _quiet(sk.SGDClassifier(class_weight=cw, shuffle=False, max_iter=3, tol=None).fit,
                   sp.csr_matrix(X), y3, sample_weight=sw)
        assert rel(a.coef_, b.coef_) < 1e-10
    a = _quiet(SGDRegressor(shuffle=False, max_iter=3, tol=None).fit, Xs, y, sample_weight=sw)
    b = _quiet(sk.SGDRegressor(shuffle=False, max_iter=3, tol=None).fit, sp.csr_matrix(X), y,
               sample_weight=sw)
    assert rel(a.coef_, b.coef_) < 1e-10


# ---- non-canonical and bad sparse input ---------------------------------------------------
def _messy():
    """A CSR with unsorted and duplicate column indices (scipy allows both)."""
    X, y, y2, _ = _data(n=60, p=8, density=0.4)
    m = sp.coo_matrix(X)
    k = 20  # the first k entries stored twice, each copy holding half the value
    rows, cols = np.r_[m.row, m.row[:k]], np.r_[m.col, m.col[:k]]
    vals = m.data.copy()
    vals[:k] *= 0.5
    vals = np.r_[vals, vals[:k]]
    order = np.random.default_rng(0).permutation(len(rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    srt = np.argsort(rows, kind="stable")
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=X.shape[0]))]
    messy = sp.csr_matrix((vals[srt], cols[srt], indptr), shape=X.shape)
    assert not messy.has_canonical_format
    return messy, X, y, y2


def test_unsorted_and_duplicate_indices_are_summed_as_scikit_learn_computes():
    messy, X, y, y2 = _messy()
    before = (messy.data.copy(), messy.indices.copy())
    for make, yy in [(LinearRegression, y), (Ridge, y), (LogisticRegression, y2)]:
        assert rel(make().fit(messy, yy).coef_, make().fit(X, yy).coef_) < 1e-10
    # scikit-learn's SGD walks the stored entries as they are; the sums are the same model
    a = _quiet(SGDClassifier(shuffle=False, max_iter=3, tol=None).fit, messy, y2)
    b = _quiet(sk.SGDClassifier(shuffle=False, max_iter=3, tol=None).fit, messy, y2)
    assert rel(a.coef_, b.coef_) < 1e-8
    np.testing.assert_array_equal(messy.data, before[0])  # the caller's matrix is untouched
    np.testing.assert_array_equal(messy.indices, before[1])


def _raw(data, indices, indptr, shape=(2, 3), fmt="csr"):
    m = getattr(sp, f"{fmt}_matrix")(shape)
    m.data, m.indices, m.indptr = (np.asarray(data, np.float64), np.asarray(indices, np.int32),
                                   np.asarray(indptr, np.int32))
    return m


BAD = {
    "column out of range": (_raw([1.0, 2.0], [0, 5], [0, 1, 2]), ValueError, "index"),
    "negative index": (_raw([1.0, 2.0], [0, -1], [0, 1, 2]), ValueError, "index"),
    "indptr decreasing": (_raw([1.0, 2.0], [0, 1], [0, 2, 1]), ValueError, "decrease"),
    "csc row out of range": (_raw([1.0, 2.0], [0, 7], [0, 1, 2, 2], fmt="csc"), ValueError,
                             "index"),
    "NaN": (_raw([np.nan, 2.0], [0, 1], [0, 1, 2]), ValueError, "NaN"),
    "inf": (_raw([np.inf, 2.0], [0, 1], [0, 1, 2]), ValueError, "NaN or inf"),
    "complex": (sp.csr_matrix(np.array([[1j, 0, 0], [0, 1, 0]])), TypeError, "complex"),
    "no rows": (sp.csr_matrix((0, 3)), ValueError, "0 samples"),
}


def _coo_out_of_range():
    m = sp.coo_matrix(np.eye(2, 3))
    m.row = np.array([0, 9], np.int32)
    return m


ESTIMATORS = [LinearRegression, Ridge, LogisticRegression, SGDClassifier, SGDRegressor]


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: e.__name__)
@pytest.mark.parametrize("case", list(BAD) + ["coo row out of range"])
def test_bad_sparse_input_is_refused_and_leaves_the_model_unchanged(est, case):
    X, y, y2, _ = _data(n=40, p=3)
    yy = y2 if est in (LogisticRegression, SGDClassifier) else y
    model = _quiet(est().fit, X, yy)
    state = {k: np.copy(v) if isinstance(v, np.ndarray) else v
             for k, v in model.__dict__.items()}
    bad, exc, match = BAD[case] if case in BAD else (_coo_out_of_range(), ValueError, "index")
    ybad = yy[:bad.shape[0]]
    with pytest.raises(exc, match=match):
        model.fit(bad, ybad)
    if case != "no rows":
        with pytest.raises(exc, match=match):
            model.predict(bad)
    if hasattr(model, "partial_fit") and case != "no rows":
        with pytest.raises(exc, match=match):
            model.partial_fit(bad, ybad)
    assert set(model.__dict__) == set(state)
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(model.__dict__[k], v)


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: e.__name__)
def test_sparse_y_wrong_width_and_unsupported_options(est):
    X, y, y2, _ = _data(n=40, p=3)
    yy = y2 if est in (LogisticRegression, SGDClassifier) else y
    Xs = sp.csr_matrix(X)
    with pytest.raises(TypeError, match="y is a sparse"):
        est().fit(Xs, sp.csr_matrix(yy.reshape(-1, 1)))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est().fit(Xs, yy[:-1])
    model = _quiet(est().fit, Xs, yy)
    with pytest.raises(ValueError, match="features"):
        model.predict(sp.csr_matrix(np.ones((2, 4))))
    with pytest.raises(NotFittedError):
        est().predict(Xs)


def test_options_without_a_sparse_path_say_so():
    X, y, y2, _ = _data(n=40, p=3)
    Xs = sp.csr_matrix(X)
    for model, yy in [(LinearRegression(positive=True), y), (Ridge(positive=True), y),
                      (LogisticRegression(solver="adam"), y2)]:
        with pytest.raises(TypeError, match="sparse"):
            model.fit(Xs, yy)


def test_a_model_fitted_on_dense_predicts_sparse_in_its_dtype():
    X, y, _, y3 = _data(dtype=np.float32)
    for model, yy in [(Ridge(), y), (LogisticRegression(), y3), (SGDClassifier(), y3)]:
        _quiet(model.fit, X, yy)
        Xs = sp.csr_matrix(X.astype(np.float64))  # float64 sparse into a float32 model
        np.testing.assert_allclose(model.predict(Xs), model.predict(X), rtol=1e-5, atol=1e-5)


def test_wide_sparse_matrix_is_never_densified():
    """2^21 columns: a dense copy of X would take 4.3 GB (256 rows); the fits stay far below
    (L-BFGS-B's own memory, ~25 vectors of p doubles, is the largest part)."""
    n, p = 256, 1 << 21
    rng = np.random.default_rng(0)
    X = sp.random(n, p, density=20 / p, random_state=rng, format="csr")
    y = rng.standard_normal(n)
    y2 = (y > 0).astype(int)
    dense_bytes = n * p * 8
    for model, yy in [(SGDClassifier(max_iter=2, tol=None), y2), (Ridge(), y),
                      (LinearRegression(), y), (LogisticRegression(max_iter=5), y2)]:
        tracemalloc.start()
        _quiet(model.fit, X, yy)
        model.predict(X)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # the coefficients and a few p-long vectors, not n x p
        assert peak < dense_bytes / 4, (type(model).__name__, peak)


# ---- save/load, sparsify/densify, loss_functions -------------------------------------------
@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: e.__name__)
def test_save_and_load_a_model_fitted_on_sparse_data(tmp_path, est):
    X, y, y2, _ = _data()
    yy = y2 if est in (LogisticRegression, SGDClassifier) else y
    Xs = sp.csr_array(X)
    model = _quiet(est().fit, Xs, yy)
    fastfit.save(model, tmp_path / "m.safetensors")
    back = fastfit.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(back.predict(Xs), model.predict(Xs))
    np.testing.assert_array_equal(back.coef_, model.coef_)


@pytest.mark.parametrize("est,sk_est", [(LogisticRegression, sk.LogisticRegression),
                                        (SGDClassifier, sk.SGDClassifier),
                                        (SGDRegressor, sk.SGDRegressor)],
                         ids=["logistic", "sgdc", "sgdr"])
def test_sparsify_and_densify_as_scikit_learn(est, sk_est):
    X, y, _, y3 = _data()
    yy = y if est is SGDRegressor else y3
    with pytest.raises(NotFittedError, match="must be fitted before sparsifying"):
        est().sparsify()
    model = _quiet(est().fit, X, yy)
    ref = _quiet(sk_est().fit, X, yy)
    before = model.predict(X)
    coef = model.coef_.copy()
    assert model.sparsify() is model
    ref.sparsify()
    assert sp.issparse(model.coef_) and type(model.coef_) is type(ref.coef_)
    assert model.coef_.shape == ref.coef_.shape
    np.testing.assert_array_equal(model.predict(X), before)
    np.testing.assert_allclose(model.predict(sp.csr_matrix(X)), before, rtol=1e-12, atol=1e-12)
    assert model.densify() is model
    np.testing.assert_array_equal(model.coef_, coef)
    assert not hasattr(LinearRegression(), "sparsify")  # as scikit-learn's


def test_loss_functions_as_scikit_learn():
    for ours, theirs in [(SGDClassifier, sk.SGDClassifier), (SGDRegressor, sk.SGDRegressor)]:
        assert set(ours.loss_functions) == set(theirs.loss_functions)
        for name, entry in ours.loss_functions.items():
            assert entry[1:] == theirs.loss_functions[name][1:]
            loss = entry[0](*entry[1:])
            assert loss.name == name and isinstance(loss.py_dloss(0.3, 1.0), float)
    hinge = SGDClassifier.loss_functions["hinge"]
    assert hinge[0](*hinge[1:]).py_dloss(0.5, 1.0) == -1.0  # inside the margin
