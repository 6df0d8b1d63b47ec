"""MLPClassifier / MLPRegressor on scipy.sparse X: the first layer runs on the CSR rows
(fastfit's engine, never a dense copy of X), so a sparse fit gives the dense fit's
weights to float rounding and, with shuffle=False, scikit-learn's sparse fit; every
format, matrix and array, f32/f64 and int32/int64 indices; bad sparse input refused."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as sknn
from sklearn.exceptions import ConvergenceWarning

import fastfit

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FORMATS = ["csr_matrix", "csc_matrix", "coo_matrix", "csr_array", "csc_array", "coo_array"]


def _data(n=240, d=40, classes=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=0.15, format="csr", random_state=rng, dtype=np.float64,
                  data_rvs=rng.standard_normal)
    w = rng.standard_normal((d, classes))
    y = np.asarray(X @ w).argmax(1)
    return X.astype(dtype), y


def _as(fmt, X, index_dtype=np.int32):
    m = getattr(sp, fmt)(X)
    if hasattr(m, "indices"):
        m.indices, m.indptr = m.indices.astype(index_dtype), m.indptr.astype(index_dtype)
    else:
        m.coords = tuple(c.astype(index_dtype) for c in m.coords)
    return m


def _close_coefs(a, b, rtol, atol):
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_allclose(cb, ca, rtol=rtol, atol=atol)


@pytest.fixture
def no_densify(monkeypatch):
    """Any dense copy of a scipy.sparse X fails the test."""
    def refuse(self, *args, **kwargs):
        raise AssertionError("X was densified")
    for cls in (sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.csc_array, sp.coo_matrix,
                sp.coo_array):
        for name in ("toarray", "todense", "__array__"):
            monkeypatch.setattr(cls, name, refuse, raising=False)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_every_format_equals_the_dense_fit(fmt, dtype, index_dtype, no_densify):
    X, y = _data(dtype=dtype)
    Xd = np.zeros(X.shape, dtype)
    Xd[X.nonzero()] = X.data   # dense copy for the reference fit (no toarray: refused here)
    kw = dict(hidden_layer_sizes=(12,), random_state=0, max_iter=8)
    a = fastfit.MLPClassifier(**kw).fit(Xd, y)
    Xs = _as(fmt, X, index_dtype)
    b = fastfit.MLPClassifier(**kw).fit(Xs, y)
    assert b.coefs_[0].dtype == dtype and b.n_features_in_ == X.shape[1]
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    _close_coefs(a, b, **tol)
    np.testing.assert_allclose(b.predict_proba(Xs), a.predict_proba(Xd), **tol)
    assert b.predict_proba(Xs).dtype == dtype
    np.testing.assert_array_equal(b.predict(Xs), a.predict(Xd))
    assert b.score(Xs, y) == a.score(Xd, y)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, **tol)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("cls", ["clf", "reg"])
def test_sparse_fit_equals_sklearns_sparse_fit(solver, cls):
    X, y = _data()
    if cls == "reg":
        y = np.asarray(X @ np.linspace(-1, 1, X.shape[1]))
        ours, theirs = fastfit.MLPRegressor, sknn.MLPRegressor
    else:
        ours, theirs = fastfit.MLPClassifier, sknn.MLPClassifier
    kw = dict(hidden_layer_sizes=(16, 8), solver=solver, shuffle=False, random_state=0,
              max_iter=12, batch_size=64, learning_rate_init=0.01, alpha=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = theirs(**kw).fit(X, y)
    b = ours(**kw).fit(X, y)
    assert b.n_iter_ == a.n_iter_
    if solver == "lbfgs":
        assert b.loss_ == pytest.approx(a.loss_, rel=1e-7)
        _close_coefs(a, b, rtol=1e-5, atol=1e-7)
    else:
        np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-9)
        _close_coefs(a, b, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(b.predict(X), a.predict(X), rtol=1e-6, atol=1e-9)


def test_early_stopping_weights_partial_fit_and_poisson(no_densify):
    X, y = _data(n=300)
    Xd = np.zeros(X.shape)
    Xd[X.nonzero()] = X.data
    w = np.random.default_rng(3).uniform(0.2, 3.0, X.shape[0])
    kw = dict(hidden_layer_sizes=(10,), solver="sgd", shuffle=False, random_state=0,
              max_iter=30, early_stopping=True, n_iter_no_change=3, learning_rate_init=0.1,
              class_weight="balanced")
    a = fastfit.MLPClassifier(**kw).fit(Xd, y, sample_weight=w)
    b = fastfit.MLPClassifier(**kw).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(b.validation_scores_, a.validation_scores_)
    _close_coefs(a, b, rtol=1e-9, atol=1e-12)
    # partial_fit twice on sparse = on dense
    pa, pb = (fastfit.MLPClassifier(hidden_layer_sizes=(6,), random_state=1) for _ in "ab")
    for _ in range(2):
        pa.partial_fit(Xd, y, classes=[0, 1, 2])
        pb.partial_fit(sp.csc_matrix(X), y, classes=[0, 1, 2])
    _close_coefs(pa, pb, rtol=1e-9, atol=1e-12)
    counts = np.random.default_rng(4).poisson(2.0, X.shape[0]).astype(float)
    ra = fastfit.MLPRegressor(loss="poisson", hidden_layer_sizes=(6,), max_iter=5,
                              random_state=0).fit(Xd, counts)
    rb = fastfit.MLPRegressor(loss="poisson", hidden_layer_sizes=(6,), max_iter=5,
                              random_state=0).fit(X, counts)
    np.testing.assert_allclose(rb.predict(X), ra.predict(Xd), rtol=1e-9)


def test_sparse_fit_is_bitwise_the_same_for_any_thread_count():
    X, y = _data(n=600, d=300)
    fits = [fastfit.MLPClassifier(hidden_layer_sizes=(100,), random_state=0, max_iter=3,
                                  n_threads=nt).fit(X, y) for nt in (1, 2)]
    for c1, c2 in zip(fits[0].coefs_ + fits[0].intercepts_,
                      fits[1].coefs_ + fits[1].intercepts_, strict=True):
        np.testing.assert_array_equal(c1, c2)


def test_unsorted_and_duplicate_indices_are_summed_as_scipy_does():
    X, y = _data()
    coo = X.tocoo()
    # every stored value split in two halves, in reverse order: duplicates, unsorted
    rows = np.r_[coo.row, coo.row][::-1]
    cols = np.r_[coo.col, coo.col][::-1]
    vals = np.r_[coo.data / 2, coo.data / 2][::-1]
    order = np.argsort(rows, kind="stable")   # CSR arrays built by hand: scipy sums nothing
    indptr = np.searchsorted(rows[order], np.arange(X.shape[0] + 1))
    messy = sp.csr_matrix((vals[order], cols[order], indptr), shape=X.shape)
    assert not messy.has_canonical_format
    kw = dict(hidden_layer_sizes=(8,), random_state=0, max_iter=4)
    a = fastfit.MLPClassifier(**kw).fit(X, y)
    b = fastfit.MLPClassifier(**kw).fit(messy, y)
    _close_coefs(a, b, rtol=1e-10, atol=1e-12)


def _bad_sparse(X):
    nan = X.copy()
    nan.data[3] = np.nan
    out_of_range = sp.csr_matrix(X.shape)
    out_of_range.indptr, out_of_range.indices, out_of_range.data = (
        X.indptr.copy(), X.indices.copy(), X.data.copy())
    out_of_range.indices[5] = X.shape[1] + 3
    return {"nan": (nan, ValueError, "NaN|infinity"),
            "index_out_of_range": (out_of_range, ValueError, "index|indices|column"),
            "complex": (X.astype(np.complex128), (TypeError, ValueError), "omplex")}


@pytest.mark.parametrize("case", ["nan", "index_out_of_range", "complex"])
def test_bad_sparse_input_is_refused_and_leaves_the_model_unchanged(case):
    X, y = _data()
    est = fastfit.MLPClassifier(hidden_layer_sizes=(8,), random_state=0, max_iter=3).fit(X, y)
    before = pickle.dumps(est)
    bad, exc, match = _bad_sparse(X)[case]
    for call in (lambda: est.fit(bad, y), lambda: est.partial_fit(bad, y),
                 lambda: est.predict(bad), lambda: est.predict_proba(bad)):
        with pytest.raises(exc, match=match):
            call()
        assert pickle.dumps(est) == before


def test_sparse_y_wrong_width_and_models_that_cannot_take_sparse_input():
    X, y = _data()
    est = fastfit.MLPClassifier(hidden_layer_sizes=(8,), random_state=0, max_iter=3).fit(X, y)
    with pytest.raises(TypeError, match="dense target"):
        fastfit.MLPRegressor().fit(X, sp.csr_matrix(y.reshape(-1, 1).astype(float)))
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :-1])
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :-1], y)
    # a residual block around the input would read X densely: refused with a clear message
    res = fastfit.MLPClassifier(hidden_layer_sizes=(X.shape[1],), residual=True, max_iter=2)
    with pytest.raises(ValueError, match="first layer is nn.Linear"):
        res.fit(X, y)
    Xd = np.zeros(X.shape)
    Xd[X.nonzero()] = X.data
    res.fit(Xd, y)   # dense is fine; sparse prediction from it is the same clear error
    with pytest.raises(ValueError, match="first layer is nn.Linear"):
        res.predict(X)
    # fastfit.Trainer / nn.Sequential take sparse X as well
    model = fastfit.nn.Sequential(fastfit.nn.Linear(X.shape[1], 5), fastfit.nn.ReLU(),
                                  fastfit.nn.Linear(5, 3), dtype="float64", random_state=0)
    t = fastfit.Trainer(model, "cross_entropy", epochs=2, batch_size=32, random_state=0)
    h = t.fit(X, y, validation_fraction=0.2)
    assert np.isfinite(h["val_loss"]).all()
    np.testing.assert_allclose(model.predict(X), model.predict(Xd), rtol=1e-12, atol=1e-12)
