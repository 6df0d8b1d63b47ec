"""Activations, their gradients and the row-wise softmax against float64 references,
finite differences and torch autograd."""

import numpy as np
import pytest

import fastfit
from fastfit import ops
from fastfit._lib import ffi, lib
from reference import (activation_grad_ref, activation_ref, assert_close, normal_cdf_ref,
                       softmax_ref)

ACTS = ["identity", "relu", "leaky_relu", "tanh", "sigmoid", "gelu"]
SIZES = [1, 3, 7, 13, 15, 17, 31, 33, 63, 65, 40000]  # 40000 crosses FF_PARALLEL_MIN
DTYPES = [np.float32, np.float64]


def _x(n, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(n) * 3
    x[: min(n, 2)] = 0.0  # the kink of relu/leaky
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("n", SIZES)
def test_forward_backward_vs_reference(act, n, dtype):
    x = _x(n, dtype)
    y = ops.activation_forward(x, act, negative_slope=0.1)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, activation_ref(x, act, 0.1), dtype, scale=5)
    dy = np.random.default_rng(1).standard_normal(n).astype(dtype)
    dx = ops.activation_backward(dy, act, x=x, y=y, negative_slope=0.1)
    assert_close(dx, dy.astype(np.float64) * activation_grad_ref(x, act, 0.1), dtype, scale=5)


@pytest.mark.parametrize("act", ACTS)
def test_finite_difference_f64(act):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(64) * 2
    x = x[np.abs(x) > 1e-3]  # away from the kinks
    dy = rng.standard_normal(x.size)
    h = 1e-6
    num = (activation_ref(x + h, act, 0.2) - activation_ref(x - h, act, 0.2)) / (2 * h) * dy
    y = ops.activation_forward(x, act, 0.2)
    dx = ops.activation_backward(dy, act, x=x, y=y, negative_slope=0.2)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("act", ACTS)
def test_in_place_aliasing(act):
    """y may alias x and dx may alias dy: call the kernels directly on one buffer."""
    for dtype, sfx in ((np.float32, "f32"), (np.float64, "f64")):
        x = _x(1001, dtype, seed=3)
        expect = ops.activation_forward(x, act)
        buf = x.copy()
        p = ffi.from_buffer("float[]" if sfx == "f32" else "double[]", buf)
        assert getattr(lib, f"ff_activation_forward_{sfx}")(p, p, buf.size, lib.__dict__[
            "FF_ACT_" + act.upper()], 0.01) == 0
        np.testing.assert_array_equal(buf, expect)
        dy = np.random.default_rng(4).standard_normal(1001).astype(dtype)
        expect_dx = ops.activation_backward(dy, act, x=x, y=expect)
        g = dy.copy()
        pg = ffi.from_buffer("float[]" if sfx == "f32" else "double[]", g)
        px = ffi.from_buffer("float[]" if sfx == "f32" else "double[]", x)
        py = ffi.from_buffer("float[]" if sfx == "f32" else "double[]", expect)
        code = getattr(lib, "FF_ACT_" + act.upper())
        assert getattr(lib, f"ff_activation_backward_{sfx}")(pg, pg, px, py, g.size, code, 0.01) == 0
        np.testing.assert_array_equal(g, expect_dx)


def test_leaky_negative_slope_uses_x():
    x = np.array([-2.0, -0.5, 0.5, 3.0])
    y = ops.activation_forward(x, "leaky_relu", negative_slope=-0.5)
    dx = ops.activation_backward(np.ones(4), "leaky_relu", x=x, y=y, negative_slope=-0.5)
    np.testing.assert_array_equal(dx, [-0.5, -0.5, 1.0, 1.0])
    with pytest.raises(ValueError, match="needs x"):
        ops.activation_backward(np.ones(4), "leaky_relu", y=y, negative_slope=-0.5)


def test_extremes():
    x = np.array([-1e4, -100.0, 100.0, 1e4, np.nan], np.float32)
    s = ops.activation_forward(x, "sigmoid")
    np.testing.assert_array_equal(s[:4], [0.0, s[1], 1.0, 1.0])
    assert np.isnan(s[4]) and np.isnan(ops.activation_forward(x, "relu")[4])
    assert np.all(np.isfinite(ops.activation_forward(x[:4], "gelu")))
    assert np.all(np.isfinite(ops.activation_forward(x[:4], "tanh")))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_vectorised_tanh_sigmoid_ulp_sweep(act, dtype):
    # tanh and sigmoid are our own polynomials (csrc/ff_vmath.inc), not libm: check them
    # elementwise, in relative terms, from 1e-30 to the saturated range, both signs,
    # where a naive (1 - e)/(1 + e) tanh would lose all digits near 0.
    mags = np.concatenate([np.geomspace(1e-30, 1e-3, 200), np.linspace(1e-3, 30, 20001)])
    x = np.concatenate([mags, -mags, [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(dtype)
    y = ops.activation_forward(x, act)
    ref = activation_ref(x, act)
    eps = np.finfo(dtype).eps
    finite = np.isfinite(x)
    np.testing.assert_allclose(y[finite], ref[finite], rtol=6 * eps, atol=np.finfo(dtype).tiny)
    assert np.isnan(y[-1])
    assert y[-3] == (1.0 if act == "tanh" else 1.0) and y[-2] == (-1.0 if act == "tanh" else 0.0)
    if act == "tanh":
        assert np.signbit(y[-4]) and y[-4] == 0  # tanh(-0.0) = -0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_accuracy_in_both_tails(dtype):
    # float32 GELU uses its own erfc (csrc/ff_act.inc); both dtypes use the erfc form
    # x * erfc(-x/sqrt2)/2, which keeps relative accuracy where x * (1 + erf) cancels.
    lim = 13.0 if dtype == np.float32 else 37.0  # beyond, x * Phi(x) is subnormal
    x = np.concatenate([np.linspace(-lim, lim, 40001), np.geomspace(1e-30, 1e-3, 50),
                        -np.geomspace(1e-30, 1e-3, 50)]).astype(dtype)
    eps = np.finfo(dtype).eps
    x64 = x.astype(np.float64)
    # Phi(x) has relative condition number ~x^2 in the tail: an ulp of x/sqrt2 (rounded once
    # here and once in the reference, differently) moves it by ~x^2 ulp each.
    y = ops.activation_forward(x, "gelu")
    ref = activation_ref(x, "gelu")
    assert np.all(np.abs(y - ref) <= (16 + 2 * x64 * x64) * eps * np.abs(ref))
    dx = ops.activation_backward(np.ones_like(x), "gelu", x=x)
    # Phi(x) + x phi(x) cancels near x = -0.75 (GELU's minimum): bound the error by the
    # size of the two terms, with the same x^2 ulp allowance for the tails.
    terms = normal_cdf_ref(x64) + np.abs(x64) * np.exp(-0.5 * x64 * x64) / np.sqrt(2 * np.pi)
    bound = (32 + x64 * x64) * eps * terms
    assert np.all(np.abs(dx - activation_grad_ref(x, "gelu")) <= bound)
    special = ops.activation_forward(np.array([np.inf, -np.inf, np.nan, 0.0], dtype), "gelu")
    assert special[0] == np.inf and np.isnan(special[1]) and np.isnan(special[2]) and special[3] == 0


def test_softmax_extremes_match_torch_semantics():
    x = np.array([[1e4, 0.0, -1e4], [-np.inf, 0.0, 1.0], [88.0, 88.0, -88.0]], np.float32)
    y = ops.softmax(x)
    np.testing.assert_allclose(y, softmax_ref(x), rtol=1e-6, atol=1e-30)
    assert np.all(np.isnan(ops.softmax(np.array([[np.nan, 1.0, 2.0]], np.float32))))


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "gelu", "relu", "leaky_relu"])
def test_threads_bitwise(act):
    x = _x(100003, np.float32, seed=5)
    dy = np.random.default_rng(6).standard_normal(x.size).astype(np.float32)
    out = []
    for t in (1, 2):
        with fastfit.num_threads(t):
            y = ops.activation_forward(x, act)
            out.append((y, ops.activation_backward(dy, act, x=x, y=y)))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "gelu", "leaky_relu", "relu"])
def test_torch_parity(act):
    torch = pytest.importorskip("torch")
    x = _x(997, np.float64, seed=7)
    dy = np.random.default_rng(8).standard_normal(x.size)
    mod = {"tanh": torch.nn.Tanh(), "sigmoid": torch.nn.Sigmoid(), "gelu": torch.nn.GELU(),
           "leaky_relu": torch.nn.LeakyReLU(0.1), "relu": torch.nn.ReLU()}[act]
    for dtype in DTYPES:
        xt = torch.tensor(x.astype(dtype), requires_grad=True)
        yt = mod(xt)
        yt.backward(torch.tensor(dy.astype(dtype)))
        y = ops.activation_forward(x.astype(dtype), act, 0.1)
        dx = ops.activation_backward(dy.astype(dtype), act, x=x.astype(dtype), y=y, negative_slope=0.1)
        assert_close(y, yt.detach().numpy().astype(np.float64), dtype, scale=10)
        assert_close(dx, xt.grad.numpy().astype(np.float64), dtype, scale=10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (33, 10), (3000, 17), (257, 33), (2, 300)])
def test_softmax(shape, dtype):
    x = (np.random.default_rng(9).standard_normal(shape) * 10).astype(dtype)
    x[0, 0] = 80  # exp overflows in float32 without the max shift
    y = ops.softmax(x)
    assert_close(y, softmax_ref(x), dtype, scale=5)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


def test_softmax_torch_and_threads():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(10).standard_normal((5000, 10)).astype(np.float32)
    np.testing.assert_allclose(ops.softmax(x), torch.softmax(torch.from_numpy(x), 1).numpy(),
                               rtol=1e-5, atol=1e-7)
    with fastfit.num_threads(1):
        a = ops.softmax(x)
    with fastfit.num_threads(2):
        b = ops.softmax(x)
    np.testing.assert_array_equal(a, b)


def test_wrappers_reject_bad_input():
    x = np.ones(4, np.float32)
    with pytest.raises(TypeError):
        ops.activation_forward(np.ones(4, np.int64))
    with pytest.raises(ValueError):
        ops.activation_forward(x, "swish")
    with pytest.raises(TypeError):
        ops.activation_backward(x, "tanh", y=np.ones(4))
    with pytest.raises(ValueError):
        ops.activation_backward(x, "tanh", y=np.ones(5, np.float32))
    with pytest.raises(ValueError):
        ops.activation_backward(x, "tanh")
    with pytest.raises(ValueError):
        ops.activation_backward(x, "gelu", y=x)
    with pytest.raises(ValueError):
        ops.softmax(x)
    with pytest.raises(TypeError):
        ops.softmax(np.ones((2, 2), np.int32))


def test_c_rejects_bad_arguments():
    buf = np.ones(4, np.float32)
    p = ffi.from_buffer("float[]", buf)
    assert lib.ff_activation_forward_f32(p, p, -1, lib.FF_ACT_RELU, 0.0) == lib.FF_EBADARG
    assert lib.ff_activation_forward_f32(p, p, 4, 99, 0.0) == lib.FF_EBADARG
    assert lib.ff_activation_forward_f32(ffi.NULL, p, 4, lib.FF_ACT_RELU, 0.0) == lib.FF_EBADARG
    assert lib.ff_activation_backward_f32(p, p, ffi.NULL, ffi.NULL, 4, lib.FF_ACT_GELU, 0.0) == lib.FF_EBADARG
    assert lib.ff_activation_backward_f32(p, p, ffi.NULL, ffi.NULL, 4, lib.FF_ACT_TANH, 0.0) == lib.FF_EBADARG
    assert lib.ff_softmax_forward_f32(p, p, 2, -2) == lib.FF_EBADARG
    assert lib.ff_activation_forward_f32(ffi.NULL, ffi.NULL, 0, lib.FF_ACT_TANH, 0.0) == lib.FF_OK
    assert ops.activation_forward(np.empty(0, np.float32), "gelu").shape == (0,)
