"""The linear models' predictions through one fastfit GEMM (_base.linear_decision):
equal to X @ coef_.T + intercept_, finiteness checked on the output."""

import numpy as np
import pytest

import fastfit

LINEAR = [
    lambda: fastfit.LinearRegression(),
    lambda: fastfit.Ridge(alpha=0.5),
    lambda: fastfit.SGDRegressor(random_state=0),
    lambda: fastfit.LogisticRegression(),
    lambda: fastfit.SGDClassifier(random_state=0),
]


def _data(n, d, dtype, classes):
    rng = np.random.default_rng(n + d + classes)
    X = rng.standard_normal((n, d)).astype(dtype)
    if classes == 0:
        y = X @ rng.standard_normal(d) + 0.1
    else:
        y = np.arange(n) % classes
    return X, y


def _reference(est, X):
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
    b = np.asarray(est.intercept_, dtype=np.float64).reshape(-1)
    return X.astype(np.float64) @ coef.T + b


@pytest.mark.parametrize("make", LINEAR)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 4099])
@pytest.mark.parametrize("d", [1, 13, 300])
def test_decision_matches_reference(make, dtype, n, d):
    est = make()
    classes = 3 if isinstance(est, (fastfit.LogisticRegression, fastfit.SGDClassifier)) else 0
    X, y = _data(max(n, 40), d, dtype, classes)
    est.fit(X, y)
    Xp = X[:n]
    ref = _reference(est, Xp)
    got = est.decision_function(Xp) if classes else est.predict(Xp)
    assert got.dtype == dtype
    got = np.asarray(got, dtype=np.float64).reshape(ref.shape[0], -1)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * (1 + np.abs(ref).max()))


@pytest.mark.parametrize("make", LINEAR)
def test_binary_and_multi_output_shapes(make):
    est = make()
    X, _ = _data(50, 4, np.float64, 0)
    if isinstance(est, (fastfit.LogisticRegression, fastfit.SGDClassifier)):
        y = (X[:, 0] > 0).astype(int)
        est.fit(X, y)
        assert est.decision_function(X).shape == (50,)
        assert est.predict(X[:1]).shape == (1,)
    elif isinstance(est, (fastfit.LinearRegression, fastfit.Ridge)):
        Y = np.stack([X[:, 0], X[:, 1] - 2], axis=1)
        est.fit(X, Y)
        np.testing.assert_allclose(est.predict(X), _reference(est, X), atol=1e-10)
        assert est.predict(X[:1]).shape == (1, 2)
    else:
        est.fit(X, X[:, 0])
        assert est.predict(X).shape == (50,)


@pytest.mark.parametrize("make", LINEAR)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 2])  # a feature whose weight may be anything, 0 too
def test_non_finite_input_rejected(make, bad, where):
    est = make()
    classes = 2 if isinstance(est, (fastfit.LogisticRegression, fastfit.SGDClassifier)) else 0
    X, y = _data(60, 3, np.float64, classes)
    est.fit(X, y)
    est.coef_ = np.zeros_like(est.coef_)  # 0 * inf is NaN: still caught
    Xb = X[:5].copy()
    Xb[3, where] = bad
    with pytest.raises(ValueError, match="NaN|infinity|infinite"):
        est.predict(Xb)


def test_overflow_is_not_mistaken_for_bad_input():
    X, y = _data(60, 3, np.float32, 0)
    est = fastfit.LinearRegression().fit(X, y)
    est.coef_ = np.full_like(est.coef_, 1e30)
    big = np.full((2, 3), 1e30, np.float32)  # finite input, the product overflows float32
    with np.errstate(over="ignore"):
        out = est.predict(big)
    assert np.all(np.isinf(out))
