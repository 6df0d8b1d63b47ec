"""The binary logistic objective's line-search trials from its logits
(fastfit/_estimators/_logistic_lines.py): each trial's value and slope, and the accepted
point's gradient, against a full evaluation of the fused CSR pass; the logits carried
from one accepted point to the next; and an overflowing trial."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastfit._estimators._logistic import _Objective
from fastfit.ops import as_csr

TOL = {np.float32: {"rtol": 2e-6, "atol": 2e-7}, np.float64: {"rtol": 1e-12, "atol": 1e-14}}


def _problem(dtype, intercept, weighted, k=1, n=3001, p=517):
    # odd sizes: row blocks and scatter blocks end in tails
    rng = np.random.default_rng(7)
    x = sp.random(n, p, density=0.03, format="csr", random_state=rng, dtype=dtype)
    x.data = rng.standard_normal(x.nnz).astype(dtype)
    labels = rng.integers(0, 2 if k == 1 else k, n).astype(np.int64)
    w = rng.uniform(0.5, 2.0, n).astype(dtype) if weighted else None
    sw_sum = float(n if w is None else np.sum(w, dtype=np.float64))
    obj = _Objective(as_csr(x), labels, w, k, intercept, sw_sum, l2=0.37 / sw_sum)
    size = k * p + (k if intercept else 0)
    return obj, rng.standard_normal(size) * 0.2, rng.standard_normal(size) * 0.2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_trials_and_accepted_gradient_match_full_evaluations(dtype, intercept, weighted):
    obj, x, d = _problem(dtype, intercept, weighted)
    lines = obj.lines()
    phi = lines.along(x, d)
    for t in (0.0, 0.3, 1.0, 2.7):
        f, slope, point = phi(t)
        f_ref, g_ref = obj(x + t * d)
        np.testing.assert_allclose(f, f_ref, **TOL[dtype])
        np.testing.assert_allclose(slope, g_ref @ d, **TOL[dtype])
        x_t, g = lines.accept(point)
        np.testing.assert_array_equal(x_t, x + t * d)
        np.testing.assert_allclose(g, g_ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_carry_over_accepted_points(dtype):
    # three accepted steps, each search started from the point the last one accepted: the
    # carried logits z + t X d stay those of the iterate
    obj, x, d = _problem(dtype, True, True)
    lines = obj.lines()
    rng = np.random.default_rng(3)
    for t in (0.5, 1.3, 0.8):
        _, _, point = lines.along(x, d)(t)
        x, _ = lines.accept(point)
        d = rng.standard_normal(x.shape[0]) * 0.2
    f, slope, _ = lines.along(x, d)(0.0)
    f_ref, g_ref = obj(x)
    np.testing.assert_allclose(f, f_ref, **TOL[dtype])
    np.testing.assert_allclose(slope, g_ref @ d, **TOL[dtype])


def test_an_overflowing_trial_is_infinite():
    obj, x, d = _problem(np.float64, True, False)
    f, _, point = obj.lines().along(x, d)(1e306)
    assert f == np.inf and point is None


def test_only_binary_csr_objectives_have_lines():
    obj, _, _ = _problem(np.float64, True, False, k=3)
    assert obj.lines() is None
    rng = np.random.default_rng(0)
    dense = _Objective(rng.standard_normal((20, 3)), rng.integers(0, 2, 20).astype(np.int64),
                       None, 1, True, 20.0, 0.1)
    assert dense.lines() is None


def test_a_wide_binary_fit_has_the_same_bits_on_any_thread_count():
    # past 2^16 coefficients (the compact L-BFGS, whose trials come from the logits) and
    # past 2^20 non-zeros and rows (where the gather and the scatter take threads)
    import warnings

    import fastfit
    rng = np.random.default_rng(4)
    n, p = 36_000, 70_000
    x = sp.random(n, p, density=30 / p, format="csr", random_state=rng, dtype=np.float32)
    y = (x @ rng.standard_normal(p) > 0).astype(int)
    assert x.nnz + n >= 1 << 20
    coefs = []
    for threads in (1, 2):
        with fastfit.num_threads(threads), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = fastfit.LogisticRegression(max_iter=6).fit(x, y)
        coefs.append((m.coef_, m.intercept_))
    np.testing.assert_array_equal(coefs[0][0], coefs[1][0])
    np.testing.assert_array_equal(coefs[0][1], coefs[1][1])
