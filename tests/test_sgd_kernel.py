"""The per-sample SGD kernel (ff_sgd_epoch / ff_sgd_finish) against the explicit float64
reference (tests/reference.py: no scale trick, plain running average), in both dtypes;
one-vs-all problems across threads; the shuffle; bad arguments."""

import numpy as np
import pytest

import fastfit
from fastfit._lib import lib, ptr
from fastfit.ops import _sgd as S

import reference as R

LOSSES = ["hinge", "perceptron", "squared_hinge", "log_loss", "modified_huber",
          "squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"]
PARAM = {"hinge": 1.0, "perceptron": 0.0, "squared_hinge": 1.0, "huber": 0.3,
         "epsilon_insensitive": 0.1, "squared_epsilon_insensitive": 0.1}
SIZES = [1, 7, 16, 33, 100]  # one feature, odd, exactly one lane block, blocks + tail


def _data(n, d, loss, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    s = x @ w
    if loss in ("squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"):
        y = s + 0.1 * rng.standard_normal(n)
    elif loss == "log_loss":
        y = (s > 0).astype(np.float64)
    else:
        y = np.where(s > 0, 1.0, -1.0)
    return x, y


def _run(x, y, loss, dtype, epochs=2, *, sample_weight=None, average=0, **hyper):
    """Epochs through the kernel on K=1 regression-style targets; returns w, b, aw, ab,
    the last epoch's state and the reference's results."""
    n, d = x.shape
    cfg_kw = dict(loss_param=PARAM.get(loss, 1.0), average=average, **hyper)
    cfg = S.sgd_config(loss, **cfg_kw)
    w = np.zeros((1, d), dtype)
    aw = np.zeros((1, d), dtype) if average else None
    q = np.zeros((1, d), dtype) if hyper.get("penalty") in ("l1", "elasticnet") else None
    st = S.sgd_state(w, [0.0], t=1.0, eta=hyper.get("eta0", 0.01))
    xd, yd = x.astype(dtype), y.astype(dtype)
    swd = None if sample_weight is None else sample_weight.astype(dtype)
    base = np.arange(n, dtype=np.int64)
    ref = dict(w=np.zeros(d), b=0.0, aw=None, ab=0.0, t=1.0, u=0.0, q=None)
    losses = []
    for e in range(epochs):
        order = base.copy()
        S.sgd_epoch(w, st, cfg, xd, order, y=yd, sample_weight=swd, aw=aw, q=q, epoch=e)
        rw, rb, raw, rab, rt, ru, rq, rs, ro = R.sgd_epoch_ref(
            ref["w"], ref["b"], x, y, base, loss=loss, loss_param=PARAM.get(loss, 1.0),
            penalty=hyper.get("penalty", "l2"), alpha=hyper.get("alpha", 1e-4),
            l1_ratio=hyper.get("l1_ratio", 0.15), schedule=hyper.get("learning_rate", "optimal"),
            eta0=hyper.get("eta0", 0.01), power_t=hyper.get("power_t", 0.5),
            optimal_init=hyper.get("optimal_init", 0.0), t=ref["t"],
            sample_weight=sample_weight, fit_intercept=hyper.get("fit_intercept", True),
            average=average, aw=ref["aw"], ab=ref["ab"], u=ref["u"], q=ref["q"])
        ref = dict(w=rw, b=rb, aw=raw, ab=rab, t=rt, u=ru, q=rq)
        losses.append((st[0].sumloss, st[0].objective, rs, ro))
    t_end = st[0].t
    S.sgd_finish(w, st, aw)
    return w[0], st[0].intercept, aw, st[0].avg_intercept, t_end, ref, losses


def _tol(dtype):
    return 1e-9 if dtype == np.float64 else 2e-3


def _close(a, b, dtype):
    scale = max(1.0, float(np.max(np.abs(b))))
    np.testing.assert_allclose(a, b, rtol=_tol(dtype), atol=_tol(dtype) * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", LOSSES)
def test_epoch_matches_reference_every_loss(loss, dtype):
    x, y = _data(40, 7, loss)
    w, b, _, _, t, ref, losses = _run(x, y, loss, dtype, penalty="l2", alpha=1e-2,
                                      learning_rate="invscaling", eta0=0.05, power_t=0.5)
    _close(w, ref["w"], dtype)
    _close(b, ref["b"], dtype)
    assert t == ref["t"] == 81
    for sumloss, objective, rs, ro in losses:
        _close(sumloss, rs, dtype)
        _close(objective, ro, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", SIZES)
@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet", None])
@pytest.mark.parametrize("schedule", ["optimal", "constant", "invscaling"])
def test_epoch_matches_reference_penalties_schedules_sizes(penalty, schedule, d, dtype):
    x, y = _data(30, d, "log_loss", seed=d)
    hyper = dict(penalty=penalty, alpha=1e-2, l1_ratio=0.3, learning_rate=schedule,
                 eta0=0.05, optimal_init=100.0)
    w, b, _, _, _, ref, losses = _run(x, y, "log_loss", dtype, **hyper)
    _close(w, ref["w"], dtype)
    _close(b, ref["b"], dtype)
    if penalty in ("l2", None):  # scikit-learn's L1 norm for the objective skips the truncation
        for _, objective, _, ro in losses:
            _close(objective, ro, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("penalty", ["l2", None])
def test_averaging_matches_running_mean(penalty, dtype):
    x, y = _data(25, 33, "squared_error")
    w, b, aw, ab, _, ref, _ = _run(x, y, "squared_error", dtype, epochs=3, average=7,
                                   penalty=penalty, alpha=1e-2, learning_rate="invscaling",
                                   eta0=0.02, power_t=0.25)
    _close(w, ref["w"], dtype)
    _close(aw[0], ref["aw"], dtype)
    _close(ab, ref["ab"], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sample_weights_and_fit_intercept_false(dtype):
    x, y = _data(30, 5, "hinge")
    sw = np.random.default_rng(3).uniform(0, 2, 30)
    w, b, _, _, _, ref, _ = _run(x, y, "hinge", dtype, sample_weight=sw, penalty="l2",
                                 alpha=1e-2, learning_rate="constant", eta0=0.1,
                                 fit_intercept=False)
    _close(w, ref["w"], dtype)
    assert b == 0.0 and ref["b"] == 0.0


def _ova(x, labels, k, dtype, n_threads=None, shuffle=False, epochs=2, **hyper):
    n, d = x.shape
    cfg = S.sgd_config("hinge", shuffle=shuffle, seed=1234, **hyper)
    w = np.zeros((k, d), dtype)
    st = S.sgd_state(w, np.zeros(k), labels=np.arange(k),
                     weight_pos=np.linspace(1, 2, k))
    xd = x.astype(dtype)
    q = np.zeros_like(w) if hyper.get("penalty") in ("l1", "elasticnet") else None
    for e in range(epochs):
        S.sgd_epoch(w, st, cfg, xd, np.arange(n, dtype=np.int64), labels=labels, q=q,
                    epoch=e, n_threads=n_threads)
    S.sgd_finish(w, st)
    return w, np.array([st[i].intercept for i in range(k)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_vs_all_problems_are_independent_binary_problems(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 9))
    labels = rng.integers(0, 4, 60)
    w, b = _ova(x, labels, 4, dtype, optimal_init=50.0)
    for k in range(4):
        y = np.where(labels == k, 1.0, -1.0)
        cfg = S.sgd_config("hinge", optimal_init=50.0)
        wk = np.zeros((1, 9), dtype)
        st = S.sgd_state(wk, [0.0], weight_pos=np.linspace(1, 2, 4)[k])
        for e in range(2):
            S.sgd_epoch(wk, st, cfg, x.astype(dtype), np.arange(60, dtype=np.int64),
                        y=y.astype(dtype), epoch=e)
        S.sgd_finish(wk, st)
        np.testing.assert_array_equal(w[k], wk[0])
        assert b[k] == st[0].intercept


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 3, 40_000])  # the last one shuffles on threads
def test_threads_do_not_change_results_bitwise(n, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 37))
    labels = rng.integers(0, 5, n)
    epochs = 1 if n > 1000 else 3
    results = []
    for nt in (1, 2):
        with fastfit.num_threads(nt):
            results.append(_ova(x, labels, 5, dtype, shuffle=True, epochs=epochs,
                                optimal_init=100.0, penalty="elasticnet"))
    results.append(_ova(x, labels, 5, dtype, n_threads=2, shuffle=True, epochs=epochs,
                        optimal_init=100.0, penalty="elasticnet"))
    for w, b in results[1:]:
        np.testing.assert_array_equal(w, results[0][0])
        np.testing.assert_array_equal(b, results[0][1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_problem_any_thread_count_bitwise(dtype):
    # K = 1 with shuffled rows, L1, averaging: nothing depends on the thread count.
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5000, 29)).astype(dtype)
    y = (x @ rng.standard_normal(29)).astype(dtype)
    out = []
    for nt in (1, 2):
        cfg = S.sgd_config("huber", loss_param=0.5, shuffle=True, seed=9, penalty="l1",
                           learning_rate="invscaling", average=100)
        w, aw, q = np.zeros((1, 29), dtype), np.zeros((1, 29), dtype), np.zeros((1, 29), dtype)
        st = S.sgd_state(w, [0.0])
        for e in range(2):
            S.sgd_epoch(w, st, cfg, x, np.arange(5000, dtype=np.int64), y=y, aw=aw, q=q,
                        epoch=e, n_threads=nt)
        S.sgd_finish(w, st, aw)
        out.append((w, aw, st[0].intercept, st[0].objective))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    assert out[0][2:] == out[1][2:]


def test_shuffle_is_a_seeded_permutation_per_epoch():
    x, y = _data(50, 3, "squared_error")
    cfg = S.sgd_config("squared_error", shuffle=True, seed=7, learning_rate="constant")
    w = np.zeros((1, 3))
    st = S.sgd_state(w, [0.0])
    orders = []
    for e in (0, 1, 0):
        order = np.arange(50, dtype=np.int64)
        S.sgd_epoch(w, st, cfg, x, order, y=y, epoch=e)
        orders.append(order)
    assert sorted(orders[0]) == list(range(50))
    assert not np.array_equal(orders[0], np.arange(50))
    assert not np.array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(orders[0], orders[2])


def test_pa1_skips_zero_rows_entirely():
    x = np.zeros((4, 3))
    x[1] = [1.0, 2.0, 0.0]
    cfg = S.sgd_config("hinge", learning_rate="pa1", eta0=1.0, penalty=None)
    w = np.zeros((1, 3))
    st = S.sgd_state(w, [0.0])
    S.sgd_epoch(w, st, cfg, x, np.arange(4, dtype=np.int64), y=np.ones(4))
    assert st[0].t == 2.0  # only the non-zero row counts, as scikit-learn's `continue`
    # loss 1, |x|^2 = 5: step min(1, 1/5) along y x
    np.testing.assert_allclose(w[0] * st[0].wscale, [0.2, 0.4, 0.0])


def test_nonfinite_weights_are_reported():
    x = np.full((5, 2), 1e300)
    cfg = S.sgd_config("squared_error", learning_rate="constant", penalty=None)
    w = np.zeros((1, 2))
    st = S.sgd_state(w, [0.0], eta=1.0)
    with pytest.raises(FloatingPointError):
        S.sgd_epoch(w, st, cfg, x, np.arange(5, dtype=np.int64), y=np.ones(5))
    assert st[0].nonfinite == 1


def _status(**over):
    """Raw status of ff_sgd_epoch_f64 on a small valid call with one thing changed."""
    n, d, k = 4, 3, 1
    a = dict(w=np.zeros((k, d)), aw=None, q=None, x=np.ones((n, d)), y=np.ones(n),
             labels=None, sw=None, order=np.arange(n, dtype=np.int64), n=n, d=d, k=k, m=n)
    cfg = S.sgd_config("squared_error", learning_rate="constant")
    st = S.sgd_state(a["w"], [0.0])
    for key, value in over.items():
        if key.startswith("cfg_"):
            setattr(cfg, key[4:], value)
        elif key.startswith("st_"):
            setattr(st[0], key[3:], value)
        else:
            a[key] = value
    return lib.ff_sgd_epoch_f64(ptr(a["w"]), ptr(a["aw"]), ptr(a["q"]), st, cfg, ptr(a["x"]),
                                ptr(a["y"]), ptr(a["labels"]), ptr(a["sw"]), ptr(a["order"]),
                                a["n"], a["d"], a["k"], a["m"], 0, 0)


def test_valid_call_is_ok():
    assert _status() == lib.FF_OK


@pytest.mark.parametrize("over", [
    dict(cfg_loss=99), dict(cfg_penalty=7), dict(cfg_schedule=0), dict(cfg_alpha=-1.0),
    dict(cfg_l1_ratio=1.5), dict(cfg_eta0=float("nan")), dict(cfg_average=3.0),
    dict(cfg_penalty=1), dict(cfg_schedule=2, cfg_alpha=0.0), dict(cfg_schedule=5),
    dict(st_wscale=0.0), dict(st_eta=0.0), dict(st_t=0.0), dict(st_weight_pos=-1.0),
    dict(d=0), dict(k=0), dict(n=-1), dict(m=-1),
    dict(order=np.array([0, 1, 2, 4], np.int64)), dict(order=np.array([0, -1, 2, 3], np.int64)),
    dict(labels=np.zeros(4, np.int64)), dict(y=None), dict(x=None),
])
def test_bad_arguments_return_ebadarg(over):
    assert _status(**over) == lib.FF_EBADARG


def test_wrapper_rejects_bad_arrays():
    x = np.ones((4, 3))
    cfg = S.sgd_config("squared_error")
    w = np.zeros((1, 3))
    st = S.sgd_state(w, [0.0])
    order = np.arange(4, dtype=np.int64)
    with pytest.raises(TypeError):
        S.sgd_epoch(w, st, cfg, x.astype(np.float32), order, y=np.ones(4))
    with pytest.raises(ValueError):
        S.sgd_epoch(w, st, cfg, np.ones((4, 2)), order, y=np.ones(4))
    with pytest.raises(ValueError):
        S.sgd_epoch(w, st, cfg, x, order)
    with pytest.raises(TypeError):
        S.sgd_epoch(w, st, cfg, x, order.astype(np.int32), y=np.ones(4))
    with pytest.raises(ValueError):
        S.sgd_epoch(np.zeros((2, 3)), st, cfg, x, order, y=np.ones(4))
    with pytest.raises(ValueError):
        S.sgd_config("nope")


@pytest.mark.parametrize("loss", LOSSES)
def test_reference_derivatives_match_finite_differences(loss):
    # The kernel matches the reference step for step; the reference's dloss is the
    # derivative of its loss (central differences in float64, away from the kinks).
    a = PARAM.get(loss, 1.0)
    ys = [0.0, 1.0] if loss == "log_loss" else ([-1.0, 1.0] if loss not in (
        "squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive")
        else [-0.7, 0.4])
    h = 1e-6
    for y in ys:
        for p in np.linspace(-3.1, 3.3, 23):
            fd = (R.sgd_loss_ref(loss, a, y, p + h) - R.sgd_loss_ref(loss, a, y, p - h)) / (2 * h)
            assert abs(fd - R.sgd_dloss_ref(loss, a, y, p)) < 1e-5, (y, p)


@pytest.mark.parametrize("loss", LOSSES)
def test_sgd_dloss_is_the_kernels_derivative(loss):
    # the estimators' 'optimal' initial rate reads the C derivative (ff_sgd_gradient);
    # a Python copy of it overflowed for log_loss below p = -709 (exp(-p) = inf: NaN)
    a = PARAM.get(loss, 1.0)
    ys = [0.0, 1.0] if loss == "log_loss" else [-1.0, 1.0, -0.7, 0.4]
    for y in ys:
        for p in [-800.0, -40.0, *np.linspace(-3.1, 3.3, 23), 40.0]:
            got = S.sgd_dloss(loss, a, y, p)
            assert np.isfinite(got) and got == pytest.approx(R.sgd_dloss_ref(loss, a, y, p),
                                                             rel=1e-12, abs=1e-12), (y, p)
    with pytest.raises(ValueError, match="loss must be one of"):
        S.sgd_dloss("nope", a, 1.0, 0.0)
