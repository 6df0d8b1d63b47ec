"""The one parameter-validation mechanism (fastfit._params): every estimator's table covers
its parameters, and one rule holds for +-inf, NaN, bools and the error type."""

import math

import numpy as np
import pytest

import fastfit
from fastfit import nn
from fastfit._params import InvalidParameterError, _table

ESTIMATORS = [fastfit.LinearRegression, fastfit.Ridge, fastfit.LogisticRegression,
              fastfit.SGDClassifier, fastfit.SGDRegressor, fastfit.MLPClassifier,
              fastfit.MLPRegressor]

# one float parameter of each estimator, bounded on neither side or one (inf was taken by
# the MLP where its interval had no upper bound, refused by SGD)
FLOAT_PARAMS = {"LinearRegression": ["tol"], "Ridge": ["alpha", "tol"],
                "LogisticRegression": ["tol", "learning_rate", "intercept_scaling"],
                "SGDClassifier": ["alpha", "eta0", "power_t", "epsilon"],
                "SGDRegressor": ["alpha", "eta0", "power_t", "epsilon"],
                "MLPClassifier": ["alpha", "learning_rate_init", "power_t", "tol", "epsilon"],
                "MLPRegressor": ["alpha", "learning_rate_init", "power_t", "tol", "epsilon"]}


def _data(cls):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    return X, (X[:, 0] > 0).astype(int) if "Classifier" in cls.__name__ or \
        cls is fastfit.LogisticRegression else X[:, 0]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_parameter_has_constraints(cls):
    names = {name for name, _ in _table(cls)}
    assert names == set(cls().get_params())


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, True, "1.0", None])
def test_float_parameters_refuse_inf_nan_bool_and_strings_alike(cls, bad):
    X, y = _data(cls)
    for name in FLOAT_PARAMS[cls.__name__]:
        est = cls(**{name: bad})
        message = rf"'{name}' parameter must be .*\({cls.__name__}\)"
        with pytest.raises(InvalidParameterError, match=message):
            est.fit(X, y)
        # both types, as scikit-learn's InvalidParameterError: either except clause works
        for kind in (ValueError, TypeError):
            with pytest.raises(kind):
                est.fit(X, y)


def test_inf_passes_only_where_the_table_says_so():
    X, y = _data(fastfit.LogisticRegression)
    # C=inf is scikit-learn's "no penalty"; n_iter_no_change=inf its "never stop early"
    with pytest.warns(Warning, match="lbfgs failed to converge"):
        fastfit.LogisticRegression(C=math.inf, max_iter=5).fit(X, y)
    with pytest.warns(Warning, match="Maximum iterations"):
        fastfit.MLPClassifier((4,), n_iter_no_change=math.inf, max_iter=2).fit(X, y)
    with pytest.raises(InvalidParameterError, match="n_iter_no_change"):
        fastfit.MLPClassifier(n_iter_no_change=2.5).fit(X, y)


def test_a_refused_parameter_leaves_a_fitted_model_as_it_was():
    X, y = _data(fastfit.SGDClassifier)
    est = fastfit.SGDClassifier(max_iter=5, tol=None, random_state=0).fit(X, y)
    coef = est.coef_.copy()
    est.set_params(alpha=math.inf)
    with pytest.raises(ValueError, match="'alpha' parameter"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.coef_, coef)


def test_layers_raise_the_same_error_as_the_estimators():
    # nn raised TypeError for a string, ValueError for a range; now one error of both types
    for make in (lambda: nn.Dropout("x"), lambda: nn.Dropout(2.0),
                 lambda: nn.BatchNorm(3, eps=math.nan), lambda: nn.Linear(0, 2),
                 lambda: nn.Linear(2.5, 2)):
        with pytest.raises(InvalidParameterError):
            make()
