"""The fit-time fast path of input checks (``_base.check_fit_data``): an array already
right skips ``validate_data``, and the estimator ends exactly as the full path leaves it."""

import warnings

import numpy as np
import pytest

from sklearn.base import clone

import fastfit

ESTIMATORS = [fastfit.SGDClassifier, fastfit.SGDRegressor, fastfit.LogisticRegression,
              fastfit.LinearRegression, fastfit.Ridge]


def _data(cls, n=60, d=4):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] > 0).astype(np.int64) if "Class" in cls.__name__ or "Logistic" in \
        cls.__name__ else X @ np.arange(1.0, d + 1)
    return X, y


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_fast_path_fits_what_the_full_path_fits(cls):
    X, y = _data(cls)
    fast = cls(random_state=0) if "random_state" in cls().get_params() else cls()
    full = clone(fast)
    fast.fit(X, y)
    full.fit(X.tolist(), y.tolist())      # lists: validate_data's path
    np.testing.assert_array_equal(fast.coef_, full.coef_)
    assert fast.n_features_in_ == full.n_features_in_ == X.shape[1]


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_feature_names_follow_scikit_learn(cls):
    pd = pytest.importorskip("pandas")
    X, y = _data(cls)
    df = pd.DataFrame(X, columns=list("abcd"))
    est = cls().fit(df, y)
    assert list(est.feature_names_in_) == list("abcd")
    est.fit(X, y)                          # refit on an ndarray: the names are dropped
    assert not hasattr(est, "feature_names_in_")
    est.fit(df, y)
    if hasattr(est, "partial_fit"):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            est.partial_fit(X, y)          # fitted with names, given none: the full path warns
        assert any("feature names" in str(w.message) for w in seen)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("where", ["X", "y"])
def test_non_finite_input_gets_scikit_learn_s_message(bad, where):
    X, y = _data(fastfit.SGDRegressor)
    (X if where == "X" else y)[3] = bad
    with pytest.raises(ValueError, match="Input (X|y) contains (NaN|infinity)"):
        fastfit.SGDRegressor().fit(X, y)


def test_partial_fit_checks_the_width_without_names():
    X, y = _data(fastfit.SGDClassifier)
    est = fastfit.SGDClassifier(random_state=0).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :3], y)


def test_the_fast_path_predicate_takes_only_arrays_already_right():
    # fit's, predict's, the MLP one-row path's and nn.Sequential.predict's fast paths all
    # ask this one question; anything it refuses takes the full validation
    from fastfit._validation import is_ready_matrix

    X = np.ones((4, 3))
    assert is_ready_matrix(X) and is_ready_matrix(X, np.float64, 3)
    assert is_ready_matrix(X.astype(np.float32)) and is_ready_matrix(X.astype(np.float32),
                                                                     np.float32)
    refused = [(np.asfortranarray(np.ones((4, 3))), {}), (X[:, ::2], {}), (X[:0], {}),
               (X[:, :0], {}), (X[0], {}), (X[None], {}), (X.astype(int), {}),
               (np.asmatrix(X), {}), (X.tolist(), {}), (X, {"dtype": np.float32}),
               (X, {"n_features": 4}), (X.astype(np.float32), {"dtype": np.float64})]
    for bad, kw in refused:
        assert not is_ready_matrix(bad, **kw), (type(bad), getattr(bad, "shape", None), kw)
