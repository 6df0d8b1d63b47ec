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
from fastfit._estimators import _lbfgs, _logistic_solvers
from fastfit._estimators._lbfgs import _Memory, minimize_lbfgs
from fastfit._estimators._line_search import more_thuente

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


@pytest.mark.parametrize("tile", [1024, 7])
@pytest.mark.parametrize("pair_dtype, rtol", [(np.float64, 1e-9), (np.float32, 2e-5)])
@pytest.mark.parametrize("skip_at", [None, 3])
def test_compact_step_is_the_two_loop_recursion(skip_at, pair_dtype, rtol, tile, monkeypatch):
    # a quasi-Newton walk on a quadratic: the pairs' products with the held ones come from
    # the last gradient and direction (no third read of the pairs), so feed real steps;
    # 13 steps wrap the ring of 5, and one step may bring no pair. Pairs stored in
    # float32 (the default) give the step to float32 rounding; tiles of 7 split the 40
    # coordinates into several, with a tail.
    monkeypatch.setattr(_lbfgs, "_TILE", tile)
    rng = np.random.default_rng(0)
    n, m = 40, 5
    a = rng.standard_normal((n, n))
    a = a @ a.T + n * np.eye(n)
    c = rng.standard_normal(n)
    mem, pairs = _Memory(n, m, pair_dtype), []
    x = rng.standard_normal(n)
    g = a @ x - c
    assert mem.update(g) == np.max(np.abs(g))
    for it in range(13):
        d, slope, d_d = mem.direction(g)
        if pairs:
            np.testing.assert_allclose(-d, _two_loop(pairs[-m:], g), rtol=rtol, atol=1e-12)
        else:
            np.testing.assert_array_equal(d, -g)
        np.testing.assert_allclose([slope, d_d], [d @ g, d @ d], rtol=1e-13)
        t = rng.uniform(0.2, 1.0)
        s = t * d
        x = x + s
        g_new = a @ x - c
        if it == skip_at:
            g_max = mem.update(g_new)
        else:
            g_max = mem.update(g_new, (t, d, g, d @ g))
            pairs.append((s, g_new - g))
        assert g_max == np.max(np.abs(g_new)) and mem.k == min(len(pairs), m)
        g = g_new


def test_pair_without_curvature_is_skipped_and_keeps_the_oldest():
    # y = 0 (s.y = 0): not stored, as L-BFGS-B; with the ring full, the pair written to
    # the free slot must not have displaced the oldest one
    rng = np.random.default_rng(1)
    n, m = 30, 3
    a = np.diag(rng.uniform(1.0, 5.0, n))
    mem, pairs = _Memory(n, m, np.float64), []
    x = rng.standard_normal(n)
    g = a @ x
    mem.update(g)
    for _ in range(m):
        d, _, _ = mem.direction(g)
        x = x + 0.5 * d
        g_new = a @ x
        mem.update(g_new, (0.5, d, g, d @ g))
        pairs.append((0.5 * d, g_new - g))
        g = g_new
    before, _, _ = mem.direction(g)
    mem.update(g, (0.5, before, g, before @ g))  # g_new = g_old
    assert mem.k == m
    after, _, _ = mem.direction(g)
    np.testing.assert_allclose(-after, _two_loop(pairs, g), rtol=1e-10)
    np.testing.assert_array_equal(after, before)


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


def _phi_of(fn):
    def phi(t):
        f, d = fn(t)
        return f, d, t
    return phi


def test_line_search_meets_strong_wolfe_and_survives_overflow():
    quad = _phi_of(lambda t: ((t - 3.0) ** 2, 2 * (t - 3.0)))
    t, f, _ = more_thuente(quad, 9.0, -6.0, 1.0, 50)
    assert f <= 9.0 + 1e-3 * t * -6.0 and abs(2 * (t - 3.0)) <= 0.9 * 6.0
    # inf beyond t = 0.5 (an overflowing loss): the step is shortened, not accepted
    wall = _phi_of(lambda t: (np.inf, np.nan) if t > 0.5 else ((t - 0.4) ** 2, 2 * (t - 0.4)))
    t, f, _ = more_thuente(wall, 0.16, -0.8, 1.0, 50)
    assert t <= 0.5 and np.isfinite(f)
    assert more_thuente(_phi_of(lambda t: (np.nan, np.nan)), 1.0, -1.0, 1.0, 5) is None
    # a first step beyond the largest one (1 / |d| of a tiny d) starts at the largest
    seen = []
    far = _phi_of(lambda t: (seen.append(t) or (t * 1e-11 - 1.0) ** 2, 2e-11 * (t * 1e-11 - 1.0)))
    more_thuente(far, 1.0, -2e-11, 1e12, 50)
    assert seen[0] == 1e10


# 1-D functions phi(t) with phi'(0) < 0: Moré and Thuente's test functions 1-3 and a
# steep quadratic, started below, at and beyond their minimisers
_SEARCHES = [
    (lambda t: (-t / (t * t + 2.0), (t * t - 2.0) / (t * t + 2.0) ** 2), (1e-3, 1e-1, 10.0, 1e3)),
    (lambda t: ((t + 0.004) ** 5 - 2.0 * (t + 0.004) ** 4, 5 * (t + 0.004) ** 4
                - 8 * (t + 0.004) ** 3), (1e-3, 1e-1, 10.0)),
    (lambda t: (-np.sin(t) - t * 0.5, -np.cos(t) - 0.5), (1e-2, 1.0, 30.0)),
    (lambda t: (100.0 * (t - 0.01) ** 2, 200.0 * (t - 0.01)), (1.0, 1e-4, 3e-3)),
]


@pytest.mark.parametrize("case", range(len(_SEARCHES)))
def test_line_search_takes_dcsrchs_steps(case):
    # L-BFGS-B's search (MINPACK-2's dcsrch): scipy's port must visit the same steps
    dcsrch = pytest.importorskip("scipy.optimize._dcsrch").DCSRCH
    fn, starts = _SEARCHES[case]
    f0, d0 = fn(0.0)
    for t0 in starts:
        ours = []
        found = more_thuente(lambda t: (*fn(t), ours.append(t)), f0, d0, t0, 30)
        theirs = []

        def phi(t):
            theirs.append(t)
            return fn(t)[0]
        stp, _, _, task = dcsrch(phi, lambda t: fn(t)[1], 1e-3, 0.9, 0.1, 0.0, 1e10)(
            t0, phi0=f0, derphi0=d0, maxiter=30)
        np.testing.assert_allclose(ours, theirs, rtol=1e-13)
        if task.startswith(b"WARN"):  # rounding or xtol ended it: L-BFGS-B takes the point
            assert found[0] == theirs[-1]
            continue
        assert task.startswith(b"CONV") and found[0] == stp
        f, d = fn(stp)
        assert f <= f0 + 1e-3 * stp * d0 and abs(d) <= 0.9 * abs(d0)


def test_iterates_follow_lbfgsb():
    # same direction, same line search, same pair and stopping rules: with the pairs in
    # double, L-BFGS-B's iterates to rounding, iteration by iteration
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 40))
    y = rng.random(300) < 1 / (1 + np.exp(-x @ rng.standard_normal(40)))
    fun = _logistic(x, y, 1.0)
    for k in (1, 2, 5, 10, 20):
        ours = minimize_lbfgs(fun, np.zeros(40), max_iter=k, gtol=0.0, ftol=0.0,
                              pair_dtype=np.float64)
        ref = scipy.optimize.minimize(fun, np.zeros(40), jac=True, method="L-BFGS-B",
                                      options=dict(maxiter=k, gtol=0.0, ftol=0.0, maxls=50))
        assert ours.nit == ref.nit == k
        np.testing.assert_allclose(ours.x, ref.x, rtol=1e-9, atol=1e-11)


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
    return getattr(lib, f"ff_lbfgs_update_{suffix}"), getattr(lib, f"ff_lbfgs_direction_{suffix}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tile, n", [(1024, 1), (1024, 7), (1024, 1023), (1024, 1024),
                                     (1024, 1025), (1024, 8192), (1024, 8193),
                                     (1024, 100003), (7, 1), (7, 57), (7, 58), (1, 9)])
def test_pair_kernels_match_reference_and_threads(dtype, tile, n):
    # chunks of 8 tiles (the partial sums' slots), tiles and their tails, one-element
    # vectors; rows in any order, a row twice, the stored pair's rows among them or not
    from fastfit._lib import ptr
    import reference as R
    update, direction = _pair_kernels(dtype)
    rng = np.random.default_rng(n + tile)
    flat = rng.standard_normal((6, n)).astype(dtype)
    d, g_old, g_new, g = (rng.standard_normal(n) for _ in range(4))
    cases = [(np.array([4, 0, 5, 2], np.int64), (1, 3, 0.7)),
             (np.array([3], np.int64), None), (np.array([1, 1], np.int64), (5, 0, -1.5)),
             (np.zeros(0, np.int64), (2, 4, 1.0))]
    for rows, pair in cases:
        c = rng.standard_normal(rows.size)
        results = []
        for threads in (1, 2, 3):
            w = R.lbfgs_tile(flat, tile, dtype)
            dots, stats, dd, dstats = np.empty(rows.size), np.empty(3), np.empty(n), np.empty(2)
            s_row, y_row, t = pair if pair else (-1, -1, 0.0)
            with fastfit.num_threads(threads):
                assert update(ptr(dots), ptr(stats), ptr(w), 6, tile, n, ptr(rows), rows.size,
                              s_row, y_row, t, ptr(d), ptr(g_old), ptr(g_new)) == 0
                assert direction(ptr(dd), ptr(dstats), ptr(w), 6, tile, n, ptr(rows),
                                 rows.size, ptr(c), 0.7, ptr(g)) == 0
            results.append((w, dots, stats, dd, dstats))
        for got in results[1:]:   # same bits for any thread count
            for x, y in zip(got, results[0]):
                np.testing.assert_array_equal(x, y)
        w, dots, stats, dd, dstats = results[0]
        ref_pair = (pair[0], pair[1], pair[2], d, g_old) if pair else None
        w_ref, dots_ref, stats_ref = R.lbfgs_update_ref(flat, rows, ref_pair, g_new, dtype)
        np.testing.assert_array_equal(R.lbfgs_untile(w, n), w_ref)
        np.testing.assert_allclose(dots, dots_ref, rtol=1e-12, atol=1e-12 * np.sqrt(n))
        np.testing.assert_allclose(stats, stats_ref, rtol=1e-12, atol=1e-12 * np.sqrt(n))
        d_ref, dstats_ref = R.lbfgs_direction_ref(w_ref, rows, c, 0.7, g)
        np.testing.assert_allclose(dd, d_ref, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(dstats, dstats_ref, rtol=1e-12, atol=1e-12 * n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_update_reports_a_nan_gradient(dtype):
    from fastfit._lib import ptr
    import reference as R
    update, _ = _pair_kernels(dtype)
    n = 20000
    w = R.lbfgs_tile(np.zeros((2, n)), 1024, dtype)
    g = np.ones(n)
    g[15000] = np.nan
    stats = np.empty(3)
    for threads in (1, 2):
        with fastfit.num_threads(threads):
            assert update(ptr(None), ptr(stats), ptr(w), 2, 1024, n, ptr(None), 0, -1, -1, 0.0,
                          ptr(None), ptr(None), ptr(g)) == 0
        assert np.isnan(stats[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pair_kernels_reject_bad_arguments(dtype):
    from fastfit._lib import ffi, lib, ptr
    update, direction = _pair_kernels(dtype)
    w, v = np.zeros((1, 4, 5), dtype), np.zeros(5)
    dots, st, d, c = np.zeros(2), np.zeros(3), np.zeros(5), np.zeros(2)
    bad = lib.FF_EBADARG
    rows = np.array([0, 1], np.int64)

    def upd(rows=rows, nr=2, s_row=2, y_row=3, t=1.0, tile=5, n=5, dd=ptr(v)):
        return update(ptr(dots), ptr(st), ptr(w), 4, tile, n, ptr(rows), nr, s_row, y_row, t,
                      dd, ptr(v), ptr(v))

    def drc(rows=rows, nr=2, gamma=1.0, tile=5, cc=ptr(c)):
        return direction(ptr(d), ptr(st), ptr(w), 4, tile, 5, ptr(rows), nr, cc, gamma, ptr(v))
    assert upd() == lib.FF_OK and drc() == lib.FF_OK
    for r in (np.array([0, 4], np.int64), np.array([-1, 0], np.int64)):
        assert upd(rows=r) == bad and drc(rows=r) == bad
    assert upd(nr=-1) == bad and drc(nr=-1) == bad
    assert upd(s_row=3) == bad  # the pair's rows must differ
    assert upd(s_row=4) == bad and upd(y_row=-1) == bad
    assert upd(t=np.nan) == bad and upd(dd=ffi.NULL) == bad
    assert upd(tile=0) == bad and drc(tile=0) == bad
    assert upd(tile=1025) == bad and drc(tile=1025) == bad
    assert upd(n=0) == bad
    assert drc(gamma=np.nan) == bad and drc(cc=ffi.NULL) == bad
    assert update(ptr(dots), ffi.NULL, ptr(w), 4, 5, 5, ptr(rows), 2, -1, -1, 0.0, ffi.NULL,
                  ffi.NULL, ptr(v)) == bad
    # no rows: the direction is -gamma g
    g = np.arange(5.0)
    assert direction(ptr(d), ptr(st), ffi.NULL, 4, 5, 5, ffi.NULL, 0, ffi.NULL, 2.0,
                     ptr(g)) == lib.FF_OK
    np.testing.assert_array_equal(d, -2.0 * g)
    np.testing.assert_allclose(st[:2], [-2.0 * g @ g, 4.0 * g @ g])
