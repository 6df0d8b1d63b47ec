"""fastfit's compact L-BFGS (fastfit/_estimators/_lbfgs.py), which LogisticRegression's
lbfgs runs from 2^16 coefficients on: its step against the textbook two-loop recursion,
its optimum and stopping rules against scipy's L-BFGS-B, and the estimator on a wide
sparse problem against scikit-learn."""

import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

import fastfit
from fastfit._estimators import _logistic_solvers
from fastfit._estimators._lbfgs import _Memory, _strong_wolfe, minimize_lbfgs

FTOL = 64 * np.finfo(float).eps


def _two_loop(pairs, g):
    """H g by the two-loop recursion (Nocedal and Wright, algorithm 7.4)."""
    q, alphas = g.copy(), []
    for s, y in reversed(pairs):
        a = (s @ q) / (s @ y)
        alphas.append(a)
        q -= a * y
    s, y = pairs[-1]
    r = (s @ y) / (y @ y) * q
    for (s, y), a in zip(pairs, reversed(alphas)):
        r += (a - (y @ r) / (s @ y)) * s
    return r


@pytest.mark.parametrize("pair_dtype, rtol", [(np.float64, 1e-9), (np.float32, 2e-5)])
@pytest.mark.parametrize("skip_at", [None, 3])
def test_compact_step_is_the_two_loop_recursion(skip_at, pair_dtype, rtol):
    # a quasi-Newton walk on a quadratic: the pairs' products with the held ones come from
    # the last gradient and direction (no third read of the pairs), so feed real steps;
    # 13 steps wrap the ring of 5, and one step may bring no pair (skipped curvature).
    # Pairs stored in float32 (the default) give the step to float32 rounding.
    rng = np.random.default_rng(0)
    n, m = 40, 5
    a = rng.standard_normal((n, n))
    a = a @ a.T + n * np.eye(n)
    c = rng.standard_normal(n)
    mem, pairs = _Memory(n, m, pair_dtype), []
    x = rng.standard_normal(n)
    g, new_pair = a @ x - c, None
    for it in range(13):
        d = mem.step(g, new_pair)
        if pairs:
            np.testing.assert_allclose(-d, _two_loop(pairs[-m:], g), rtol=rtol, atol=1e-12)
        else:
            np.testing.assert_array_equal(d, -g)
        t = rng.uniform(0.2, 1.0)
        s = t * d
        x = x + s
        g_new = a @ x - c
        y = g_new - g
        g = g_new
        if it == skip_at:
            new_pair = None
        else:
            new_pair = (t, s, y, s @ y, y @ y)
            pairs.append((s, y))


def _logistic(x, y, l2):
    def fun(w):
        z = x @ w
        f = np.logaddexp(0, z).sum() - z[y].sum() + 0.5 * l2 * w @ w
        return f, x.T @ (1 / (1 + np.exp(-z)) - y) + l2 * w
    return fun


def test_reaches_scipy_lbfgsb_optimum():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 40))
    y = rng.random(300) < 1 / (1 + np.exp(-x @ rng.standard_normal(40)))
    fun = _logistic(x, y, 1.0)
    ours = minimize_lbfgs(fun, np.zeros(40), max_iter=500, gtol=1e-6, ftol=0.0)
    ref = scipy.optimize.minimize(fun, np.zeros(40), jac=True, method="L-BFGS-B",
                                  options=dict(maxiter=500, gtol=1e-6, ftol=0.0))
    assert ours.status == 0 and ours.message.startswith("CONVERGENCE: NORM")
    np.testing.assert_allclose(ours.x, ref.x, rtol=1e-5, atol=1e-6)
    assert abs(ours.fun - ref.fun) <= 1e-12 * abs(ref.fun)
    assert np.max(np.abs(ours.jac)) <= 1e-6


def test_stopping_rules():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 8))
    y = rng.random(50) < 0.5
    fun = _logistic(x, y, 0.1)
    start = minimize_lbfgs(fun, np.zeros(8), max_iter=100, gtol=1e3, ftol=FTOL)
    assert start.nit == 0 and start.status == 0  # already within gtol
    capped = minimize_lbfgs(fun, np.zeros(8), max_iter=2, gtol=0.0, ftol=0.0)
    assert capped.nit == 2 and capped.status == 1 and "LIMIT" in capped.message
    flat = minimize_lbfgs(fun, np.zeros(8), max_iter=1000, gtol=0.0, ftol=FTOL)
    assert flat.status == 0 and "REL_REDUCTION" in flat.message and flat.nit < 1000


def test_line_search_meets_strong_wolfe_and_survives_overflow():
    def phi_of(fn):
        def phi(t):
            f, d = fn(t)
            return f, d, t
        return phi
    quad = phi_of(lambda t: ((t - 3.0) ** 2, 2 * (t - 3.0)))
    t, f, _ = _strong_wolfe(quad, 9.0, -6.0, 1.0, 50)
    assert f <= 9.0 + 1e-3 * t * -6.0 and abs(2 * (t - 3.0)) <= 0.9 * 6.0
    # inf beyond t = 0.5 (an overflowing loss): the step is shortened, not accepted
    wall = phi_of(lambda t: (np.inf, np.nan) if t > 0.5 else ((t - 0.4) ** 2, 2 * (t - 0.4)))
    t, f, _ = _strong_wolfe(wall, 0.16, -0.8, 1.0, 50)
    assert t <= 0.5 and np.isfinite(f)
    assert _strong_wolfe(phi_of(lambda t: (np.nan, np.nan)), 1.0, -1.0, 1.0, 5) is None


def _wide_sparse(k):
    """A sparse problem with k x 70000 coefficients: above _COMPACT_LBFGS_MIN."""
    rng = np.random.default_rng(2)
    n, p = 400, 70_000
    x = sp.random(n, p, density=20 / p, format="csr", random_state=rng)
    x.data = rng.random(x.nnz)
    y = rng.integers(0, k, n)
    return x, y


@pytest.mark.parametrize("k", [2, 3])
def test_wide_logistic_regression_reaches_sklearns_optimum(k):
    from sklearn.linear_model import LogisticRegression
    x, y = _wide_sparse(k)
    assert (k if k > 2 else 1) * x.shape[1] >= _logistic_solvers._COMPACT_LBFGS_MIN
    ours = fastfit.LogisticRegression(tol=1e-8, max_iter=2000).fit(x, y)
    ref = LogisticRegression(tol=1e-8, max_iter=2000).fit(x, y)

    def objective(m):
        z = np.asarray(x @ m.coef_.T) + m.intercept_
        if k == 2:
            loss = np.mean(np.logaddexp(0, z[:, 0]) - y * z[:, 0])
        else:
            zmax = z.max(axis=1, keepdims=True)
            loss = np.mean(np.log(np.exp(z - zmax).sum(1)) + zmax[:, 0] - z[np.arange(len(y)), y])
        return loss + 0.5 * np.sum(m.coef_ ** 2) / len(y)
    assert abs(objective(ours) - objective(ref)) <= 1e-7 * objective(ref)
    np.testing.assert_allclose(ours.predict_proba(x), ref.predict_proba(x), atol=1e-4)
    assert ours.n_iter_.dtype == np.int32 and 0 < ours.n_iter_[0] < 2000


def test_wide_logistic_regression_warns_at_max_iter():
    x, y = _wide_sparse(2)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge after 3 iteration"):
        m = fastfit.LogisticRegression(max_iter=3).fit(x, y)
    assert m.n_iter_[0] == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fastfit.LogisticRegression(max_iter=1000).fit(x, y)


# ---- csrc/lbfgs.c: the two passes over the stored pairs --------------------------------

def _pair_kernels(dtype):
    from fastfit._lib import lib
    suffix = "f32" if dtype == np.float32 else "f64"
    return getattr(lib, f"ff_lbfgs_dots_{suffix}"), getattr(lib, f"ff_lbfgs_direction_{suffix}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 33, 32767, 32768, 32769, 100003])
def test_pair_kernels_match_reference_and_threads(dtype, n):
    # column blocks of 32768 (the dot products' partial slots), tiles of 1024 (the
    # direction), their tails and one-element vectors; rows in any order, a row twice
    from fastfit._lib import ptr
    import reference as R
    dots, direction = _pair_kernels(dtype)
    rng = np.random.default_rng(n)
    w = rng.standard_normal((6, n)).astype(dtype)
    v, g = rng.standard_normal(n), rng.standard_normal(n)
    for rows in (np.array([4, 0, 5, 2], np.int64), np.array([3], np.int64),
                 np.array([1, 1], np.int64)):
        c = rng.standard_normal(rows.size)
        outs = []
        for threads in (1, 2, 3):
            out, d = np.empty(rows.size), np.empty(n)
            with fastfit.num_threads(threads):
                assert dots(ptr(out), ptr(w), ptr(rows), rows.size, 6, n, ptr(v)) == 0
                assert direction(ptr(d), ptr(w), ptr(rows), rows.size, 6, n, ptr(c), 0.7,
                                 ptr(g)) == 0
            outs.append((out, d))
        for out, d in outs[1:]:   # same bits for any thread count
            np.testing.assert_array_equal(out, outs[0][0])
            np.testing.assert_array_equal(d, outs[0][1])
        out, d = outs[0]
        np.testing.assert_allclose(out, R.lbfgs_dots_ref(w, rows, v), rtol=1e-12,
                                   atol=1e-12 * np.sqrt(n))
        np.testing.assert_allclose(d, R.lbfgs_direction_ref(w, rows, c, 0.7, g), rtol=1e-13,
                                   atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pair_kernels_reject_bad_arguments(dtype):
    from fastfit._lib import ffi, lib, ptr
    dots, direction = _pair_kernels(dtype)
    w, v = np.zeros((4, 5), dtype), np.zeros(5)
    out, d, c = np.zeros(2), np.zeros(5), np.zeros(2)
    for rows in (np.array([0, 4], np.int64), np.array([-1, 0], np.int64)):
        assert dots(ptr(out), ptr(w), ptr(rows), 2, 4, 5, ptr(v)) == lib.FF_EBADARG
        assert direction(ptr(d), ptr(w), ptr(rows), 2, 4, 5, ptr(c), 1.0, ptr(v)) == lib.FF_EBADARG
    rows = np.array([0, 1], np.int64)
    assert dots(ptr(out), ptr(w), ptr(rows), -1, 4, 5, ptr(v)) == lib.FF_EBADARG
    assert dots(ptr(out), ffi.NULL, ptr(rows), 2, 4, 5, ptr(v)) == lib.FF_EBADARG
    assert direction(ptr(d), ptr(w), ptr(rows), 2, 4, 5, ptr(c), np.nan, ptr(v)) == lib.FF_EBADARG
    assert direction(ptr(d), ptr(w), ptr(rows), 2, 4, 5, ffi.NULL, 1.0, ptr(v)) == lib.FF_EBADARG
    # no rows: the dot products are nothing, the direction is -gamma g
    assert dots(ptr(out), ptr(w), ptr(rows), 0, 4, 5, ptr(v)) == lib.FF_OK
    g = np.arange(5.0)
    assert direction(ptr(d), ffi.NULL, ffi.NULL, 0, 4, 5, ffi.NULL, 2.0, ptr(g)) == lib.FF_OK
    np.testing.assert_array_equal(d, -2.0 * g)
