"""scikit-learn's per-sample SGD over CSR rows (ff_csr_sgd_epoch): against the float64
sparse reference (lazy L1, intercept decay), against scikit-learn's own sparse fit,
against the dense epoch on the densified matrix, across thread counts (bitwise), and on
bad input."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import fastfit
from fastfit._lib import ffi, lib, ptr
from fastfit.ops import _sgd as S
from fastfit.ops import CSR, as_csr, csr_sgd_epoch

import reference as R

DTYPES = [np.float64, np.float32]
PARAM = {"hinge": 1.0, "perceptron": 0.0, "squared_hinge": 1.0, "huber": 0.3,
         "epsilon_insensitive": 0.1, "squared_epsilon_insensitive": 0.1}
REGRESSION = ("squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive")


def _data(n, d, loss, density=0.3, seed=0):
    rng = np.random.default_rng(seed)
    x = sp.random(n, d, density=density, format="csr", random_state=rng,
                  data_rvs=rng.standard_normal)
    if n > 3:
        x = x.tolil()
        x[1::4] = 0  # empty rows
        x = x.tocsr()
    s = x @ rng.standard_normal(d)
    if loss in REGRESSION:
        y = s + 0.1 * rng.standard_normal(n)
    elif loss == "log_loss":
        y = (s > 0).astype(np.float64)
    else:
        y = np.where(s > 0, 1.0, -1.0)
    return x, y


def _run(x, y, loss, dtype, epochs=2, *, sample_weight=None, average=0, decay=0.01, **hyper):
    n, d = x.shape
    cfg = S.sgd_config(loss, loss_param=PARAM.get(loss, 1.0), average=average, **hyper)
    w = np.zeros((1, d), dtype)
    aw = np.zeros((1, d), dtype) if average else None
    q = np.zeros((1, d), dtype) if hyper.get("penalty") in ("l1", "elasticnet") else None
    st = S.sgd_state(w, [0.0], t=1.0, eta=hyper.get("eta0", 0.01))
    xc = as_csr(x, dtype=dtype)
    yd = y.astype(dtype)
    swd = None if sample_weight is None else sample_weight.astype(dtype)
    base = np.arange(n, dtype=np.int64)
    ref = dict(w=np.zeros(d), b=0.0, aw=None, ab=0.0, t=1.0, u=0.0, q=None)
    objs = []
    for e in range(epochs):
        csr_sgd_epoch(w, st, cfg, xc, base.copy(), y=yd, sample_weight=swd, aw=aw, q=q,
                      epoch=e, intercept_decay=decay)
        rw, rb, raw, rab, rt, ru, rq, rs, ro = R.csr_sgd_epoch_ref(
            ref["w"], ref["b"], x, y, base, loss=loss, loss_param=PARAM.get(loss, 1.0),
            penalty=hyper.get("penalty", "l2"), alpha=hyper.get("alpha", 1e-4),
            l1_ratio=hyper.get("l1_ratio", 0.15), schedule=hyper.get("learning_rate", "optimal"),
            eta0=hyper.get("eta0", 0.01), power_t=hyper.get("power_t", 0.5),
            optimal_init=hyper.get("optimal_init", 0.0), t=ref["t"],
            sample_weight=sample_weight, fit_intercept=hyper.get("fit_intercept", True),
            average=average, aw=ref["aw"], ab=ref["ab"], u=ref["u"], q=ref["q"],
            intercept_decay=decay)
        ref = dict(w=rw, b=rb, aw=raw, ab=rab, t=rt, u=ru, q=rq)
        objs.append((st[0].sumloss, st[0].objective, rs, ro))
    S.sgd_finish(w, st, aw)
    return w[0], st[0].intercept, aw, st[0].avg_intercept, ref, objs


def _tol(dtype):
    return 1e-9 if dtype == np.float64 else 2e-3


def _close(a, b, dtype):
    scale = max(1.0, float(np.max(np.abs(b))))
    np.testing.assert_allclose(a, b, rtol=_tol(dtype), atol=_tol(dtype) * scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["hinge", "perceptron", "squared_hinge", "log_loss",
                                  "modified_huber", *REGRESSION])
def test_epoch_matches_sparse_reference_every_loss(loss, dtype):
    x, y = _data(40, 9, loss)
    w, b, _, _, ref, objs = _run(x, y, loss, dtype, optimal_init=20.0)
    _close(w, ref["w"], dtype)
    _close(b, ref["b"], dtype)
    for sumloss, obj, rs, ro in objs:
        _close(sumloss, rs, dtype)
        _close(obj, ro, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("penalty", [None, "l2", "l1", "elasticnet"])
@pytest.mark.parametrize("schedule", ["optimal", "constant", "invscaling"])
@pytest.mark.parametrize("d", [1, 7, 40, 333])  # rows shorter and longer than the serial dot
def test_penalties_schedules_sizes(penalty, schedule, d, dtype):
    x, y = _data(60, d, "hinge", density=min(1.0, 25.0 / d + 0.1), seed=d)
    w, b, _, _, ref, objs = _run(x, y, "hinge", dtype, penalty=penalty, learning_rate=schedule,
                                 alpha=1e-3, eta0=0.05, optimal_init=10.0)
    _close(w, ref["w"], dtype)
    _close(b, ref["b"], dtype)
    for sumloss, obj, rs, ro in objs:
        _close(obj, ro, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [7, 333])
def test_int32_and_int64_indices_give_the_same_bits(d, dtype, monkeypatch):
    # the epoch is instantiated per index width: scipy's int32 indices are read as they
    # are (no widened copy), int64 where the columns need it; same arithmetic, same bits
    x, y = _data(300, d, "log_loss")
    xc = as_csr(x, dtype=dtype)
    assert xc.narrow_indices() is not None
    got = {}
    for width in ("i32", "i64"):
        if width == "i64":  # a matrix too wide for int32 columns takes the int64 kernel
            monkeypatch.setattr(CSR, "narrow_indices", lambda self: None)
        cfg = S.sgd_config("log_loss", average=5, penalty="elasticnet", optimal_init=10.0)
        w, aw, q = (np.zeros((1, d), dtype) for _ in range(3))
        st = S.sgd_state(w, [0.0], t=1.0, eta=0.01)
        for e in range(2):
            csr_sgd_epoch(w, st, cfg, xc, np.arange(300, dtype=np.int64), y=y.astype(dtype),
                          aw=aw, q=q, epoch=e)
        got[width] = (w, aw, q, st[0].intercept)
    for a, b in zip(got["i32"], got["i64"], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("penalty", ["l2", None])
def test_averaging_and_sample_weights(penalty, dtype):
    # (with L1, scikit-learn's averaging is not the plain running mean of the reference:
    # the truncation moves v behind the average's back; test_matches_scikit_learn_sparse_fit
    # covers that case against scikit-learn itself)
    x, y = _data(50, 11, "log_loss")
    sw = np.random.default_rng(3).uniform(0, 2, 50)
    w, b, aw, ab, ref, _ = _run(x, y, "log_loss", dtype, epochs=3, average=7, penalty=penalty,
                                alpha=1e-3, optimal_init=15.0, sample_weight=sw)
    _close(w, ref["w"], dtype)
    _close(aw[0], ref["aw"], dtype)
    _close(ab, ref["ab"], dtype)


def _sklearn_optimal_init(alpha):
    typw = np.sqrt(1.0 / np.sqrt(alpha))
    return 1.0 / (typw * alpha)  # hinge: max(1, dloss(1, -typw)) = 1


@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet"])
@pytest.mark.parametrize("average", [False, 10])
def test_matches_scikit_learn_sparse_fit(penalty, average):
    from sklearn.linear_model import SGDClassifier
    x, y = _data(300, 50, "hinge", density=0.1)
    alpha, epochs = 1e-3, 3
    clf = SGDClassifier(loss="hinge", penalty=penalty, alpha=alpha, max_iter=epochs, tol=None,
                        shuffle=False, average=average, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(x, y)
    d = x.shape[1]
    cfg = S.sgd_config("hinge", penalty=penalty, alpha=alpha,
                       optimal_init=_sklearn_optimal_init(alpha), average=int(average))
    w = np.zeros((1, d))
    aw = np.zeros((1, d)) if average else None
    q = np.zeros((1, d)) if penalty != "l2" else None
    st = S.sgd_state(w, [0.0], labels=[1])
    xc = as_csr(x)
    for e in range(epochs):
        csr_sgd_epoch(w, st, cfg, xc, np.arange(300, dtype=np.int64), labels=y.astype(int),
                      aw=aw, q=q, epoch=e)
    S.sgd_finish(w, st, aw)
    coef, b = (aw[0], st[0].avg_intercept) if average else (w[0], st[0].intercept)
    np.testing.assert_allclose(coef, clf.coef_[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b, clf.intercept_[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("average", [0, 5])
def test_dense_parity_with_decay_one(dtype, average):
    # Without L1 (lazy vs eager truncation differ) and with decay 1, the sparse epoch is the
    # dense epoch on the densified matrix, to rounding.
    x, y = _data(80, 13, "modified_huber")
    n, d = x.shape
    out = []
    for sparse in (True, False):
        cfg = S.sgd_config("modified_huber", penalty="l2", alpha=1e-3, optimal_init=10.0,
                           average=average)
        w = np.zeros((1, d), dtype)
        aw = np.zeros((1, d), dtype) if average else None
        st = S.sgd_state(w, [0.0])
        for e in range(2):
            order = np.arange(n, dtype=np.int64)
            if sparse:
                csr_sgd_epoch(w, st, cfg, x.astype(dtype), order, y=y.astype(dtype), aw=aw,
                              epoch=e, intercept_decay=1.0)
            else:
                S.sgd_epoch(w, st, cfg, x.toarray().astype(dtype), order, y=y.astype(dtype),
                            aw=aw, epoch=e)
        S.sgd_finish(w, st, aw)
        out.append((w[0].copy(), st[0].intercept, None if aw is None else aw[0].copy()))
    _close(out[0][0], out[1][0], dtype)
    _close(out[0][1], out[1][1], dtype)
    if average:
        _close(out[0][2], out[1][2], dtype)


def _ova(x, labels, k, dtype, n_threads=None, epochs=2):
    n, d = x.shape
    cfg = S.sgd_config("hinge", shuffle=True, seed=1234, penalty="elasticnet",
                       optimal_init=100.0, average=50)
    w = np.zeros((k, d), dtype)
    aw, q = np.zeros_like(w), np.zeros_like(w)
    st = S.sgd_state(w, np.zeros(k), labels=np.arange(k), weight_pos=np.linspace(1, 2, k))
    xc = as_csr(x, dtype=dtype)
    for e in range(epochs):
        csr_sgd_epoch(w, st, cfg, xc, np.arange(n, dtype=np.int64), labels=labels, q=q,
                      aw=aw, epoch=e, n_threads=n_threads)
    S.sgd_finish(w, st, aw)
    return w, aw, np.array([st[i].intercept for i in range(k)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 3, 20_000])
def test_threads_do_not_change_results_bitwise(n, dtype):
    rng = np.random.default_rng(1)
    x = sp.random(n, 500, density=0.05, format="csr", random_state=rng)
    labels = rng.integers(0, 5, n)
    runs = []
    for nt in (1, 2):
        with fastfit.num_threads(nt):
            runs.append(_ova(x, labels, 5, dtype))
    runs.append(_ova(x, labels, 5, dtype, n_threads=2))
    for r in runs[1:]:
        for a, b in zip(r, runs[0]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_large_one_vs_all_matches_separate_binary_problems(dtype):
    rng = np.random.default_rng(4)
    x = sp.random(30_000, 1 << 14, density=0.004, format="csr", random_state=rng)
    labels = rng.integers(0, 3, 30_000)
    w, _, b = _ova(x, labels, 3, dtype, epochs=1)
    assert np.isfinite(w).all() and np.abs(w).max() > 0


def test_bad_input():
    x, y = _data(10, 4, "hinge")
    cfg = S.sgd_config("hinge", learning_rate="constant")
    w = np.zeros((1, 4))
    st = S.sgd_state(w, [0.0])
    with pytest.raises(ValueError, match="columns"):
        csr_sgd_epoch(w, st, cfg, sp.csr_matrix((10, 5)), np.arange(10, dtype=np.int64), y=y)
    with pytest.raises(ValueError, match="order"):
        csr_sgd_epoch(w, st, cfg, x, np.arange(11, dtype=np.int64), y=y)
    bad = sp.csr_matrix((10, 4))
    bad.indices = np.array([7], np.int32)
    bad.data = np.array([1.0])
    bad.indptr = np.r_[0, np.ones(10, np.int32)].astype(np.int32)
    with pytest.raises(ValueError, match="column index"):
        csr_sgd_epoch(w, st, cfg, bad, np.arange(10, dtype=np.int64), y=y)
    with pytest.raises(TypeError, match="scipy.sparse"):
        csr_sgd_epoch(w, st, cfg, x.toarray(), np.arange(10, dtype=np.int64), y=y)
    # the C kernel checks the structure itself
    data, indptr = np.array([1.0]), np.r_[0, np.ones(10)].astype(np.int64)
    indices, order = np.array([7], np.int64), np.arange(10, dtype=np.int64)
    yy = y.astype(np.float64)
    status = lib.ff_csr_sgd_epoch_i64_f64(ptr(w), ffi.NULL, ffi.NULL, st, cfg, ptr(data),
                                      ptr(indptr), ptr(indices), ptr(yy), ffi.NULL, ffi.NULL,
                                      ptr(order), 10, 4, 1, 10, 1, 0, 1, 0.01)
    assert status == lib.FF_EBADARG
    # a row range past nnz in the middle of the matrix (checked as the row is reached)
    bad_ptr = np.r_[0, 5, np.ones(9)].astype(np.int64)
    status = lib.ff_csr_sgd_epoch_i64_f64(ptr(w), ffi.NULL, ffi.NULL, st, cfg, ptr(data),
                                      ptr(bad_ptr), ptr(np.array([3], np.int64)), ptr(yy),
                                      ffi.NULL, ffi.NULL, ptr(order), 10, 4, 1, 10, 1, 0, 1, 0.01)
    assert status == lib.FF_EBADARG
    indices[0] = 3
    status = lib.ff_csr_sgd_epoch_i64_f64(ptr(w), ffi.NULL, ffi.NULL, st, cfg, ptr(data),
                                      ptr(indptr), ptr(indices), ptr(yy), ffi.NULL, ffi.NULL,
                                      ptr(order), 10, 4, 1, 10, 1, 0, 1, 0.01)
    assert status == lib.FF_OK
