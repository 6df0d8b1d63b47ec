"""ff_logistic_loss_grad (the fused loss-and-gradient pass of LogisticRegression) against
its float64 reference, finite differences, across thread counts, and on bad arguments."""

import numpy as np
import pytest

import fastfit
from fastfit._lib import ffi, lib, ptr
from fastfit.ops import logistic_loss_grad

import reference as R

DTYPES = [np.float32, np.float64]
SUFFIX = {np.float32: "f32", np.float64: "f64"}
RTOL = {np.float32: 2e-5, np.float64: 1e-12}


def _data(n, i, k, dtype, seed=0, weighted=True, scale=1.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, i)).astype(dtype)
    coef = (scale * rng.standard_normal((k, i)) / np.sqrt(i)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    y = rng.integers(0, max(k, 2), n)
    w = rng.uniform(0.1, 2.0, n).astype(dtype) if weighted else None
    return x, y, coef, b, w


def _check(got, ref, dtype):
    loss, dw, db = got
    rl, rdw, rdb = ref
    rt = RTOL[dtype]
    assert abs(loss - rl) <= rt * (abs(rl) + 1e-30) * 10
    gscale = np.abs(rdw).max() + 1e-30
    assert np.abs(dw - rdw).max() <= rt * 50 * gscale
    if db is not None:
        assert np.abs(db - rdb).max() <= rt * 50 * (np.abs(rdb).max() + gscale)


# sizes: 1, odd, sub-block/unroll tails, several reduction blocks (multi-threaded)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,i,k", [(1, 1, 1), (1, 5, 3), (7, 3, 1), (13, 17, 2), (33, 65, 10),
                                   (257, 31, 1), (1025, 100, 5), (5003, 33, 3), (20011, 7, 1)])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_reference(dtype, n, i, k, weighted):
    x, y, coef, b, w = _data(n, i, k, dtype, weighted=weighted)
    scale = 1.0 / n
    _check(logistic_loss_grad(x, y, coef, b, w, scale),
           R.logistic_loss_grad_ref(x, y, coef, b, w, scale), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 4])
def test_no_intercept_and_loss_only(dtype, k):
    x, y, coef, b, w = _data(300, 9, k, dtype)
    loss, dw, db = logistic_loss_grad(x, y, coef, None, w, 0.5)
    assert db is None
    _check((loss, dw, None), R.logistic_loss_grad_ref(x, y, coef, None, w, 0.5), dtype)
    loss2, dw2, db2 = logistic_loss_grad(x, y, coef, None, w, 0.5, need_grad=False)
    assert dw2 is None and db2 is None and loss2 == loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 3])
def test_extreme_logits_stay_finite(dtype, k):
    x, y, coef, b, w = _data(200, 4, k, dtype, scale=1e3)
    got = logistic_loss_grad(x, y, coef, b, w, 1 / 200)
    assert np.isfinite(got[0]) and np.all(np.isfinite(got[1])) and np.all(np.isfinite(got[2]))
    _check(got, R.logistic_loss_grad_ref(x, y, coef, b, w, 1 / 200), dtype)


@pytest.mark.parametrize("k", [1, 3])
def test_finite_differences_f64(k):
    x, y, coef, b, w = _data(50, 6, k, np.float64)
    _, dw, db = logistic_loss_grad(x, y, coef, b, w, 0.02)
    h = 1e-6
    for idx in [(0, 0), (k - 1, 5), (0, 3)]:
        cp, cm = coef.copy(), coef.copy()
        cp[idx] += h
        cm[idx] -= h
        fd = (logistic_loss_grad(x, y, cp, b, w, 0.02)[0]
              - logistic_loss_grad(x, y, cm, b, w, 0.02)[0]) / (2 * h)
        assert abs(fd - dw[idx]) < 1e-7
    bp, bm = b.copy(), b.copy()
    bp[0] += h
    bm[0] -= h
    fd = (logistic_loss_grad(x, y, coef, bp, w, 0.02)[0]
          - logistic_loss_grad(x, y, coef, bm, w, 0.02)[0]) / (2 * h)
    assert abs(fd - db[0]) < 1e-7


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,i,k", [(3001, 17, 1), (20000, 40, 7), (70001, 5, 2)])
def test_bitwise_same_for_1_and_2_threads(dtype, n, i, k):
    x, y, coef, b, w = _data(n, i, k, dtype)
    with fastfit.num_threads(1):
        one = logistic_loss_grad(x, y, coef, b, w, 1 / n)
    with fastfit.num_threads(2):
        two = logistic_loss_grad(x, y, coef, b, w, 1 / n)
    assert one[0] == two[0]
    assert np.array_equal(one[1], two[1]) and np.array_equal(one[2], two[2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_bad_arguments_return_ebadarg(dtype):
    x, y, coef, b, w = _data(10, 3, 2, dtype)
    fn = getattr(lib, f"ff_logistic_loss_grad_{SUFFIX[dtype]}")
    loss = np.zeros(1)
    dw = np.empty((2, 3))
    db = np.empty(2)
    good = [ptr(loss), ptr(dw), ptr(db), ptr(x), ptr(coef), ptr(b), ptr(y), ptr(w)]
    assert fn(*good, 10, 3, 2, 1.0) == lib.FF_OK
    for j in (0, 3, 4, 6):  # loss, x, w, labels NULL
        args = list(good)
        args[j] = ffi.NULL
        assert fn(*args, 10, 3, 2, 1.0) == lib.FF_EBADARG
    for n, i, k in [(0, 3, 2), (10, 0, 2), (10, 3, 0), (-1, 3, 2)]:
        assert fn(*good, n, i, k, 1.0) == lib.FF_EBADARG
    assert fn(*good, 10, 3, 2, float("nan")) == lib.FF_EBADARG
    bad = y.copy()
    bad[4] = 2  # out of [0, K)
    assert fn(*good[:6], ptr(bad), good[7], 10, 3, 2, 1.0) == lib.FF_EBADARG
    bad[4] = -1
    assert fn(*good[:6], ptr(bad), good[7], 10, 3, 2, 1.0) == lib.FF_EBADARG
    # K = 1: labels must be 0/1
    bad = (y > 0).astype(np.int64)
    bad[0] = 2
    assert fn(*good[:4], ptr(coef[:1].copy()), ptr(b[:1].copy()), ptr(bad), good[7],
              10, 3, 1, 1.0) == lib.FF_EBADARG


def test_wrapper_checks_shapes():
    x, y, coef, b, w = _data(10, 3, 2, np.float64)
    with pytest.raises(ValueError):
        logistic_loss_grad(x, y[:5], coef, b)
    with pytest.raises(ValueError):
        logistic_loss_grad(x, y, coef[:, :2], b)
    with pytest.raises(TypeError):
        logistic_loss_grad(x.astype(np.int64), y, coef, b)
    with pytest.raises(ValueError):
        logistic_loss_grad(x, y + 5, coef, b)
