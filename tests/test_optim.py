"""Optimizer updates (SGD, RMSProp, Adam/AdamW, L1), gradient norm and clipping.

Each kernel runs 1 and 10 steps against the float64 NumPy reference in tests/reference.py
(each option on its own, a large learning rate), in float32 and float64 over sizes that hit
the SIMD tails and the OpenMP path; against torch.optim over 10 steps fed the same
gradients; bitwise across thread counts; and every wrapper and C entry point refuses bad
input without touching the buffers.
"""

import numpy as np
import pytest

import fastfit
import reference as ref
from fastfit import ops
from fastfit._lib import ffi, lib

DTYPES = [np.float32, np.float64]
# 1, small odd, around the 8/16-lane vector widths and their unrolled tails, and one size
# past FF_PARALLEL_MIN (32768) that is not a multiple of the thread-split unit.
SIZES = [1, 3, 13, 15, 16, 17, 31, 33, 63, 65, 100_003]
BIG = 100_003


def _data(n, dtype, steps, seed=0):
    """param and one gradient per step."""
    rng = np.random.default_rng(seed)
    param = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(steps)]
    return param, grads


def _close(actual, expected, dtype, tol, what):
    """assert_allclose with atol relative to the buffer's scale: elements that cancel to
    near zero (a momentum buffer, a decayed weight) carry the rounding error of the large
    terms they came from."""
    rtol, atol = tol[np.dtype(dtype).type]
    expected = np.asarray(expected, np.float64)
    if expected.size:
        atol *= max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol, atol=atol,
                               err_msg=what)


# Per-case tolerances (tinygrad style): {dtype: (rtol, atol)} against the float64 reference.
# float32 keeps its state in float32, so errors grow with the number of steps and the lr.
TOL_1 = {np.float32: (2e-6, 2e-6), np.float64: (1e-13, 1e-13)}
TOL_10 = {np.float32: (2e-5, 2e-5), np.float64: (1e-12, 1e-12)}
TOL_BIG_LR = {np.float32: (1e-4, 1e-4), np.float64: (1e-11, 1e-11)}


def _tol(case, step):
    return TOL_BIG_LR if case == "large_lr" else (TOL_1 if step == 1 else TOL_10)


# ---- SGD ---------------------------------------------------------------------------

SGD_CASES = {
    "plain": dict(lr=0.1),
    "momentum": dict(lr=0.1, momentum=0.9),
    "nesterov": dict(lr=0.1, momentum=0.9, nesterov=True),
    "weight_decay": dict(lr=0.1, weight_decay=0.05),
    "all": dict(lr=0.05, momentum=0.8, weight_decay=0.01, nesterov=True),
    "large_lr": dict(lr=3.0, momentum=0.5),
}


@pytest.mark.parametrize("case", SGD_CASES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_matches_reference(dtype, n, case):
    kw = SGD_CASES[case]
    param, grads = _data(n, dtype, 10)
    vel = np.zeros_like(param) if kw.get("momentum", 0) else None
    p_ref, v_ref = param.astype(np.float64), np.zeros(n)
    for step, g in enumerate(grads, start=1):
        ops.sgd_update(param, g, vel, **kw)
        p_ref, v_ref = ref.sgd_update(p_ref, g, v_ref, **kw)
        if step in (1, 10):
            tol = _tol(case, step)
            _close(param, p_ref, dtype, tol, f"param, step {step}")
            if vel is not None:
                _close(vel, v_ref, dtype, tol, f"velocity, step {step}")


# ---- RMSProp -----------------------------------------------------------------------

RMS_CASES = {
    "plain": dict(lr=0.01),
    "alpha": dict(lr=0.01, alpha=0.9, eps=1e-6),
    "weight_decay": dict(lr=0.01, weight_decay=0.1),
    "momentum": dict(lr=0.01, momentum=0.9),
    "all": dict(lr=0.02, alpha=0.95, weight_decay=0.05, momentum=0.5),
    "large_lr": dict(lr=1.0),
}


@pytest.mark.parametrize("case", RMS_CASES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_rmsprop_matches_reference(dtype, n, case):
    kw = RMS_CASES[case]
    param, grads = _data(n, dtype, 10)
    sq = np.zeros_like(param)
    buf = np.zeros_like(param) if kw.get("momentum", 0) else None
    p_ref, sq_ref, b_ref = param.astype(np.float64), np.zeros(n), np.zeros(n)
    for step, g in enumerate(grads, start=1):
        ops.rmsprop_update(param, g, sq, buf, **kw)
        p_ref, sq_ref, b_ref = ref.rmsprop_update(p_ref, g, sq_ref, b_ref, **kw)
        if step in (1, 10):
            tol = _tol(case, step)
            _close(param, p_ref, dtype, tol, f"param, step {step}")
            _close(sq, sq_ref, dtype, tol, f"square_avg, step {step}")
            if buf is not None:
                _close(buf, b_ref, dtype, tol, f"momentum_buf, step {step}")


# ---- Adam / AdamW --------------------------------------------------------------------

ADAM_CASES = {
    "plain": dict(lr=1e-3),
    "betas": dict(lr=1e-2, beta1=0.5, beta2=0.9, eps=1e-6),
    "weight_decay": dict(lr=1e-3, weight_decay=0.1),
    "decoupled": dict(lr=1e-3, weight_decay=0.1, decoupled=True),
    "large_lr": dict(lr=1.0, weight_decay=0.01, decoupled=True),
}


@pytest.mark.parametrize("case", ADAM_CASES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_matches_reference(dtype, n, case):
    kw = ADAM_CASES[case]
    param, grads = _data(n, dtype, 10)
    m, v = np.zeros_like(param), np.zeros_like(param)
    p_ref, m_ref, v_ref = param.astype(np.float64), np.zeros(n), np.zeros(n)
    for t, g in enumerate(grads, start=1):
        ops.adam_update(param, g, m, v, t, **kw)
        p_ref, m_ref, v_ref = ref.adam_update(p_ref, g, m_ref, v_ref, t, **kw)
        if t in (1, 10):
            tol = _tol(case, t)
            _close(param, p_ref, dtype, tol, f"param, step {t}")
            _close(m, m_ref, dtype, tol, f"m, step {t}")
            _close(v, v_ref, dtype, tol, f"v, step {t}")


def test_adam_zero_weight_decay_keeps_inf_param_out_of_the_state():
    # As torch, weight_decay == 0 adds nothing (not 0 * param): an inf parameter stays
    # inf without turning m and v into NaN.
    param = np.array([np.inf, 1.0], np.float32)
    m, v = np.zeros(2, np.float32), np.zeros(2, np.float32)
    ops.adam_update(param, np.ones(2, np.float32), m, v, 1, lr=0.1)
    assert np.isinf(param[0]) and np.all(np.isfinite(m)) and np.all(np.isfinite(v))


def test_adam_any_shape():
    param, (g,) = _data(60, np.float64, 1)
    p2 = param.reshape(3, 4, 5).copy()
    m, v = np.zeros_like(p2), np.zeros_like(p2)
    ops.adam_update(p2, g.reshape(3, 4, 5), m, v, 1, 0.01)
    p_ref, _, _ = ref.adam_update(param, g, np.zeros(60), np.zeros(60), 1, 0.01)
    _close(p2.ravel(), p_ref, np.float64, TOL_1, "param")


# ---- L1 ------------------------------------------------------------------------------

@pytest.mark.parametrize("threshold", [0.0, 0.3, 5.0])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_l1_matches_reference(dtype, n, threshold):
    param, _ = _data(n, dtype, 0)
    expected = ref.l1_update(param, threshold)
    ops.l1_update(param, threshold)
    _close(param, expected, dtype, TOL_1, "param")


def test_l1_edges():
    param = np.array([0.3, -0.3, 0.0, -0.0, np.nan, np.inf, -np.inf, 0.2999], np.float64)
    ops.l1_update(param, 0.3)
    np.testing.assert_array_equal(param[:4], 0.0)
    assert np.isnan(param[4]) and param[5] == np.inf and param[6] == -np.inf
    assert param[7] == 0.0


# ---- gradient norm and clipping --------------------------------------------------------

@pytest.mark.parametrize("n", [0, *SIZES, 4096 * 9 + 5])
@pytest.mark.parametrize("dtype", DTYPES)
def test_grad_norm(dtype, n):
    _, grads = _data(n, dtype, 1)
    g = grads[0]
    norm = ops.grad_norm(g)
    assert isinstance(norm, float)
    expected = np.linalg.norm(g.astype(np.float64))
    # accumulated in double for both dtypes: only summation order differs
    np.testing.assert_allclose(norm, expected, rtol=1e-13, atol=0)


def test_grad_norm_f32_no_overflow():
    # squares of 1e30 overflow float32 but not the float64 accumulator
    g = np.full(10, 1e30, np.float32)
    np.testing.assert_allclose(ops.grad_norm(g), np.sqrt(10) * 1e30, rtol=1e-6)


@pytest.mark.parametrize("max_norm", [0.0, 0.5, 10.0, 1e6, np.inf])
@pytest.mark.parametrize("n", [1, 17, 65, BIG])
@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_grad_norm(dtype, n, max_norm):
    _, (g,) = _data(n, dtype, 1)
    expected, norm_ref = ref.clip_grad_norm(g, max_norm)
    before = g.copy()
    norm = ops.clip_grad_norm(g, max_norm)
    np.testing.assert_allclose(norm, norm_ref, rtol=1e-13)
    _close(g, expected, dtype, TOL_1, "grad")
    if max_norm >= norm_ref:
        np.testing.assert_array_equal(g, before)  # not clipped: untouched, bit for bit


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("n", [5, BIG])
@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_nonfinite_raises_and_leaves_grad(dtype, n, bad):
    _, (g,) = _data(n, dtype, 1)
    g[n // 2] = bad
    before = g.copy()
    with pytest.raises(FloatingPointError):
        ops.clip_grad_norm(g, 1.0)
    np.testing.assert_array_equal(g, before)
    assert not np.isfinite(ops.grad_norm(g))  # grad_norm reports it without raising


# ---- threads: bitwise equal for 1 and 2 threads --------------------------------------

def _run_all(dtype, n):
    param, grads = _data(n, dtype, 3, seed=7)
    out = {}
    for name, fn in [
        ("sgd", lambda p, g, s: ops.sgd_update(p, g, s[0], lr=0.1, momentum=0.9, nesterov=True,
                                               weight_decay=0.01)),
        ("rmsprop", lambda p, g, s: ops.rmsprop_update(p, g, s[0], s[1], lr=0.01, momentum=0.5,
                                                       weight_decay=0.01)),
        ("adam", lambda p, g, s: ops.adam_update(p, g, s[0], s[1], 2, 1e-3, weight_decay=0.01)),
        ("adamw", lambda p, g, s: ops.adam_update(p, g, s[0], s[1], 2, 1e-3, weight_decay=0.01,
                                                  decoupled=True)),
    ]:
        p, state = param.copy(), [np.zeros_like(param), np.zeros_like(param)]
        for g in grads:
            fn(p, g, state)
        out[name] = [p, *state]
    p = param.copy()
    ops.l1_update(p, 0.5)
    out["l1"] = [p]
    g = grads[0].copy()
    out["norm"] = [np.array(ops.grad_norm(g)), np.array(ops.clip_grad_norm(g, 1.0)), g]
    return out


@pytest.mark.parametrize("n", [BIG, 1_000_000])
@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_bitwise(dtype, n):
    with fastfit.num_threads(1):
        one = _run_all(dtype, n)
    with fastfit.num_threads(2):
        two = _run_all(dtype, n)
    for name in one:
        for a, b in zip(one[name], two[name], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)


# ---- PyTorch parity over 10 steps --------------------------------------------------------

TORCH_TOL = {np.float32: (1e-5, 1e-6), np.float64: (1e-12, 1e-13)}


def _torch_run(torch, opt_cls, param, grads, **kw):
    t = torch.tensor(param.copy(), requires_grad=True)
    opt = opt_cls([t], **kw)
    for g in grads:
        t.grad = torch.tensor(g)
        opt.step()
    return t.detach().numpy(), opt.state[t]


TORCH_SGD = [dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9, nesterov=True),
             dict(lr=0.1, weight_decay=0.05), dict(lr=0.05, momentum=0.8, weight_decay=0.01)]


@pytest.mark.parametrize("kw", TORCH_SGD, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_torch_parity(dtype, kw):
    torch = pytest.importorskip("torch")
    param, grads = _data(1000, dtype, 10, seed=3)
    expected, state = _torch_run(torch, torch.optim.SGD, param, grads, **kw)
    vel = np.zeros_like(param) if kw.get("momentum", 0) else None
    for g in grads:
        ops.sgd_update(param, g, vel, **kw)
    _close(param, expected, dtype, TORCH_TOL, "param")
    if vel is not None:
        _close(vel, state["momentum_buffer"].numpy(), dtype, TORCH_TOL, "velocity")


TORCH_RMS = [dict(lr=0.01), dict(lr=0.01, momentum=0.9), dict(lr=0.01, weight_decay=0.1),
             dict(lr=0.02, alpha=0.9, momentum=0.5, weight_decay=0.05, eps=1e-6)]


@pytest.mark.parametrize("kw", TORCH_RMS, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_rmsprop_torch_parity(dtype, kw):
    torch = pytest.importorskip("torch")
    param, grads = _data(1000, dtype, 10, seed=4)
    expected, state = _torch_run(torch, torch.optim.RMSprop, param, grads, **kw)
    sq = np.zeros_like(param)
    buf = np.zeros_like(param) if kw.get("momentum", 0) else None
    for g in grads:
        ops.rmsprop_update(param, g, sq, buf, **kw)
    _close(param, expected, dtype, TORCH_TOL, "param")
    _close(sq, state["square_avg"].numpy(), dtype, TORCH_TOL, "square_avg")
    if buf is not None:
        _close(buf, state["momentum_buffer"].numpy(), dtype, TORCH_TOL, "momentum_buf")


TORCH_ADAM = [("Adam", dict(lr=1e-3)), ("Adam", dict(lr=1e-2, weight_decay=0.1)),
              ("Adam", dict(lr=1e-2, betas=(0.5, 0.9), eps=1e-6)),
              ("AdamW", dict(lr=1e-3)), ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
              ("Adam", dict(lr=1e-3, weight_decay=0.1, fused=True)),
              ("AdamW", dict(lr=1e-3, weight_decay=0.1, fused=True))]


@pytest.mark.parametrize("cls,kw", TORCH_ADAM, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_torch_parity(dtype, cls, kw):
    torch = pytest.importorskip("torch")
    param, grads = _data(1000, dtype, 10, seed=5)
    expected, state = _torch_run(torch, getattr(torch.optim, cls), param, grads, **kw)
    # AdamW's default weight_decay is 0.01, Adam's 0
    wd = kw.get("weight_decay", 0.01 if cls == "AdamW" else 0.0)
    b1, b2 = kw.get("betas", (0.9, 0.999))
    m, v = np.zeros_like(param), np.zeros_like(param)
    for t, g in enumerate(grads, start=1):
        ops.adam_update(param, g, m, v, t, kw["lr"], beta1=b1, beta2=b2,
                        eps=kw.get("eps", 1e-8), weight_decay=wd, decoupled=cls == "AdamW")
    _close(param, expected, dtype, TORCH_TOL, "param")
    _close(m, state["exp_avg"].numpy(), dtype, TORCH_TOL, "m")
    _close(v, state["exp_avg_sq"].numpy(), dtype, TORCH_TOL, "v")


@pytest.mark.parametrize("max_norm", [0.1, 1e6])
@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_torch_parity(dtype, max_norm):
    torch = pytest.importorskip("torch")
    _, (g,) = _data(BIG, dtype, 1, seed=6)
    t = torch.zeros(BIG, dtype=torch.float32 if dtype == np.float32 else torch.float64,
                    requires_grad=True)
    t.grad = torch.tensor(g.copy())
    expected_norm = float(torch.nn.utils.clip_grad_norm_([t], max_norm))
    norm = ops.clip_grad_norm(g, max_norm)
    rtol = 1e-5 if dtype == np.float32 else 1e-12  # torch sums float32 in float32
    np.testing.assert_allclose(norm, expected_norm, rtol=rtol)
    _close(g, t.grad.numpy(), dtype, TORCH_TOL, "grad")


# ---- argument checking: Python -------------------------------------------------------------

def _adam_args(dtype=np.float32, n=8):
    p = np.arange(n, dtype=dtype)
    return p, np.ones(n, dtype), np.zeros(n, dtype), np.zeros(n, dtype)


def _snapshot(*arrays):
    return [a.copy() for a in arrays]


def _unchanged(before, *arrays):
    for b, a in zip(before, arrays, strict=True):
        np.testing.assert_array_equal(a, b)


BAD_HYPER = [
    ("sgd", dict(lr=-0.1)), ("sgd", dict(lr=np.nan)), ("sgd", dict(lr=0.1, momentum=-0.5)),
    ("sgd", dict(lr=0.1, weight_decay=-1.0)), ("sgd", dict(lr=0.1, nesterov=True)),
    ("sgd", dict(lr=np.inf)),
    ("rmsprop", dict(lr=-1.0)), ("rmsprop", dict(lr=0.1, alpha=1.5)),
    ("rmsprop", dict(lr=0.1, alpha=-0.1)), ("rmsprop", dict(lr=0.1, eps=-1e-8)),
    ("rmsprop", dict(lr=0.1, weight_decay=-0.1)), ("rmsprop", dict(lr=0.1, momentum=-0.9)),
    ("adam", dict(lr=-1e-3)), ("adam", dict(lr=1e-3, beta1=1.0)), ("adam", dict(lr=1e-3, beta1=-0.1)),
    ("adam", dict(lr=1e-3, beta2=1.0)), ("adam", dict(lr=1e-3, eps=-1.0)),
    ("adam", dict(lr=1e-3, weight_decay=-0.1)), ("adam", dict(lr=1e-3, step=0)),
    ("adam", dict(lr=1e-3, step=-3)), ("adam", dict(lr=1e-3, beta2=np.nan)),
    # finite in float64 but inf once rounded to float32: caught by the C check
    ("adam", dict(lr=1e300)),
    ("l1", dict(threshold=-0.1)), ("l1", dict(threshold=np.nan)),
    ("clip", dict(max_norm=-1.0)), ("clip", dict(max_norm=np.nan)),
]


def _call(kind, p, g, s1, s2, **kw):
    if kind == "sgd":
        ops.sgd_update(p, g, s1, **kw)
    elif kind == "rmsprop":
        ops.rmsprop_update(p, g, s1, s2, **kw)
    elif kind == "adam":
        step = kw.pop("step", 1)
        ops.adam_update(p, g, s1, s2, step, **kw)
    elif kind == "l1":
        ops.l1_update(p, **kw)
    else:
        ops.clip_grad_norm(g, **kw)


@pytest.mark.parametrize("kind,kw", BAD_HYPER, ids=str)
def test_bad_hyperparameters_raise_and_change_nothing(kind, kw):
    p, g, s1, s2 = _adam_args()
    g[:] = 100.0  # large enough that clipping would change it
    before = _snapshot(p, g, s1, s2)
    with pytest.raises(ValueError):
        _call(kind, p, g, s1, s2, **kw)
    _unchanged(before, p, g, s1, s2)


def test_missing_state_raises():
    p, g, s1, s2 = _adam_args()
    with pytest.raises(ValueError, match="velocity"):
        ops.sgd_update(p, g, None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="momentum_buf"):
        ops.rmsprop_update(p, g, s1, None, lr=0.1, momentum=0.9)


def test_null_state_allowed_without_momentum():
    p, g, s1, _ = _adam_args(np.float64)
    ops.sgd_update(p, g, lr=0.5)
    np.testing.assert_array_equal(p, np.arange(8) - 0.5)
    ops.rmsprop_update(p, g, s1, lr=0.1)


def test_bad_types_raise():
    p, g, s1, s2 = _adam_args()
    with pytest.raises(TypeError, match="step"):
        ops.adam_update(p, g, s1, s2, 1.5, 1e-3)
    with pytest.raises(TypeError, match="step"):
        ops.adam_update(p, g, s1, s2, True, 1e-3)
    with pytest.raises(TypeError, match="lr"):
        ops.adam_update(p, g, s1, s2, 1, "fast")
    with pytest.raises(TypeError, match="lr"):
        ops.sgd_update(p, g, lr=None)
    with pytest.raises(TypeError, match="lr"):
        ops.sgd_update(p, g, lr="0.1")


def _wrappers():
    """(name, fn(p, g, s1, s2)) for every wrapper that takes param/state."""
    return [
        ("sgd", lambda p, g, s1, s2: ops.sgd_update(p, g, s1, lr=0.1, momentum=0.9)),
        ("rmsprop", lambda p, g, s1, s2: ops.rmsprop_update(p, g, s1, s2, lr=0.1, momentum=0.9)),
        ("adam", lambda p, g, s1, s2: ops.adam_update(p, g, s1, s2, 1, 1e-3)),
    ]


@pytest.mark.parametrize("which", range(3))
def test_wrappers_reject_bad_arrays(which):
    _, fn = _wrappers()[which]
    f32 = lambda n=8: np.zeros(n, np.float32)  # noqa: E731
    # int param, int grad, mixed precision state or grad: TypeError naming the argument
    with pytest.raises(TypeError, match="param"):
        fn(np.zeros(8, np.int64), f32(), f32(), f32())
    with pytest.raises(TypeError, match="grad"):
        fn(f32(), np.zeros(8, np.int32), f32(), f32())
    with pytest.raises(TypeError, match="grad"):
        fn(f32(), np.zeros(8), f32(), f32())
    with pytest.raises(TypeError):
        fn(f32(), f32(), np.zeros(8), np.zeros(8))
    with pytest.raises(TypeError, match="param"):
        fn([0.0] * 8, f32(), f32(), f32())
    # wrong shapes: ValueError
    with pytest.raises(ValueError, match="grad"):
        fn(f32(), f32(9), f32(), f32())
    with pytest.raises(ValueError):
        fn(f32(), f32(), f32(7), f32(7))
    with pytest.raises(ValueError):
        fn(f32(), f32(), f32().reshape(2, 4), f32().reshape(2, 4))
    # non-contiguous or read-only param/state: ValueError (updated in place)
    with pytest.raises(ValueError, match="param"):
        fn(np.zeros(16, np.float32)[::2], f32(), f32(), f32())
    ro = f32()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="param"):
        fn(ro, f32(), f32(), f32())
    # overlapping buffers: ValueError, nothing written
    p = np.ones(8, np.float32)
    with pytest.raises(ValueError, match="share memory"):
        fn(p, f32(), p, f32())
    big = np.zeros(12, np.float32)
    with pytest.raises(ValueError, match="share memory"):
        fn(p, big[4:], big[:8], f32())  # grad overlaps the state
    # a non-contiguous grad is only read: accepted (copied)
    fn(f32(), np.ones(16, np.float32)[::2], f32(), f32())


def test_l1_and_norm_reject_bad_arrays():
    with pytest.raises(TypeError):
        ops.l1_update(np.zeros(4, np.int64), 0.1)
    with pytest.raises(ValueError):
        ops.l1_update(np.zeros(8)[::2], 0.1)
    with pytest.raises(TypeError):
        ops.grad_norm(np.zeros(4, np.int64))
    with pytest.raises(TypeError):
        ops.clip_grad_norm(np.zeros(4, np.int64), 1.0)
    with pytest.raises(TypeError):
        ops.clip_grad_norm([1.0, 2.0], 1.0)
    with pytest.raises(ValueError):
        ops.clip_grad_norm(np.zeros(8)[::2], 1.0)


def test_size_zero_is_a_no_op():
    e = np.zeros(0, np.float32)
    ops.sgd_update(e, e.copy(), e.copy(), lr=0.1, momentum=0.9)
    ops.rmsprop_update(e, e.copy(), e.copy(), e.copy(), lr=0.1, momentum=0.9)
    ops.adam_update(e, e.copy(), e.copy(), e.copy(), 1, 0.1)
    ops.l1_update(e, 0.1)
    assert ops.grad_norm(e) == 0.0
    assert ops.clip_grad_norm(e, 1.0) == 0.0


# ---- argument checking: the C entry points directly -----------------------------------------

@pytest.mark.parametrize("sfx,ctype", [("f32", "float[]"), ("f64", "double[]")])
def test_c_rejects_bad_arguments(sfx, ctype):
    n = 8
    bufs = [ffi.new(ctype, n) for _ in range(4)]
    for b in bufs:
        for i in range(n):
            b[i] = 1.0
    p, s1, s2, g = bufs
    N = ffi.NULL
    norm = ffi.new("double *")
    sgd = getattr(lib, f"ff_sgd_update_{sfx}")
    rms = getattr(lib, f"ff_rmsprop_update_{sfx}")
    adam = getattr(lib, f"ff_adam_update_{sfx}")
    l1 = getattr(lib, f"ff_l1_update_{sfx}")
    gn = getattr(lib, f"ff_grad_norm_{sfx}")
    clip = getattr(lib, f"ff_clip_grad_norm_{sfx}")
    bad_calls = [
        lambda: sgd(N, s1, g, n, 0.1, 0.9, 0.0, 0),
        lambda: sgd(p, s1, N, n, 0.1, 0.9, 0.0, 0),
        lambda: sgd(p, N, g, n, 0.1, 0.9, 0.0, 0),        # momentum needs velocity
        lambda: sgd(p, s1, g, -1, 0.1, 0.9, 0.0, 0),
        lambda: sgd(p, s1, g, n, -0.1, 0.9, 0.0, 0),
        lambda: sgd(p, s1, g, n, float("nan"), 0.9, 0.0, 0),
        lambda: sgd(p, s1, g, n, 0.1, 0.0, 0.0, 1),        # nesterov without momentum
        lambda: sgd(p, s1, g, n, 0.1, 0.9, -1.0, 0),
        lambda: rms(p, N, s2, g, n, 0.1, 0.99, 1e-8, 0.0, 0.0),
        lambda: rms(p, s1, N, g, n, 0.1, 0.99, 1e-8, 0.0, 0.9),
        lambda: rms(p, s1, s2, g, -5, 0.1, 0.99, 1e-8, 0.0, 0.0),
        lambda: rms(p, s1, s2, g, n, 0.1, 1.01, 1e-8, 0.0, 0.0),
        lambda: rms(p, s1, s2, g, n, 0.1, 0.99, -1e-8, 0.0, 0.0),
        lambda: rms(p, s1, s2, g, n, 0.1, 0.99, 1e-8, float("inf"), 0.0),
        lambda: adam(p, s1, s2, g, n, 0, 1e-3, 0.9, 0.999, 1e-8, 0.0, 0),   # step 0
        lambda: adam(p, s1, s2, g, -1, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, 0),
        lambda: adam(p, N, s2, g, n, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, 0),
        lambda: adam(p, s1, s2, g, n, 1, 1e-3, 1.0, 0.999, 1e-8, 0.0, 0),
        lambda: adam(p, s1, s2, g, n, 1, 1e-3, 0.9, 1.0, 1e-8, 0.0, 0),
        lambda: adam(p, s1, s2, g, n, 1, 1e-3, 0.9, 0.999, -1e-8, 0.0, 0),
        lambda: adam(p, s1, s2, g, n, 1, -1e-3, 0.9, 0.999, 1e-8, 0.0, 1),
        lambda: adam(p, s1, s2, g, n, 1, 1e-3, 0.9, 0.999, 1e-8, -0.1, 1),
        lambda: l1(N, n, 0.1),
        lambda: l1(p, -1, 0.1),
        lambda: l1(p, n, -0.1),
        lambda: gn(N, g, n),
        lambda: gn(norm, N, n),
        lambda: gn(norm, g, -1),
        lambda: clip(norm, g, n, -1.0),
        lambda: clip(norm, g, n, float("nan")),
        lambda: clip(N, g, n, 1.0),
    ]
    for i, call in enumerate(bad_calls):
        assert call() == lib.FF_EBADARG, f"call {i}"
    for b in bufs:  # no call wrote anything
        assert list(b) == [1.0] * n
    # and the same calls with good arguments succeed
    assert sgd(p, s1, g, n, 0.1, 0.9, 0.0, 1) == lib.FF_OK
    assert adam(p, s1, s2, g, n, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, 0) == lib.FF_OK
    assert sgd(p, N, g, 0, 0.1, 0.0, 0.0, 0) == lib.FF_OK
