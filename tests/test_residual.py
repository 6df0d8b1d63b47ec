"""Residual add: forward y = x + fx, backward dx += dy (in place)."""

import numpy as np
import pytest

import fastfit
from fastfit import ops
from fastfit._lib import ffi, lib
from reference import assert_close


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 3, 17, 33, 65, 100001])
def test_forward_backward(n, dtype):
    rng = np.random.default_rng(n)
    x, fx, dy = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    assert_close(ops.residual_forward(x, fx), x.astype(np.float64) + fx, dtype)
    dx = rng.standard_normal(n).astype(dtype)
    expect = dx.astype(np.float64) + dy
    out = ops.residual_backward(dx, dy)
    assert out is dx
    assert_close(dx, expect, dtype)
    ops.residual_backward(dx, dy)  # accumulates: called twice adds twice
    assert_close(dx, expect + dy, dtype)


def test_shapes_threads_and_aliasing():
    x = np.random.default_rng(0).standard_normal((300, 201)).astype(np.float32)
    with fastfit.num_threads(1):
        a = ops.residual_forward(x, x)
    with fastfit.num_threads(2):
        b = ops.residual_forward(x, x)
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape
    buf = x.copy()
    p = ffi.from_buffer("float[]", buf)
    assert lib.ff_residual_forward_f32(p, p, p, buf.size) == 0  # y aliasing x and fx
    np.testing.assert_array_equal(buf, a)


def test_rejects_bad_input():
    x = np.ones(4, np.float32)
    with pytest.raises(TypeError):
        ops.residual_forward(x, np.ones(4))
    with pytest.raises(ValueError):
        ops.residual_forward(x, np.ones(5, np.float32))
    with pytest.raises(TypeError):
        ops.residual_backward(np.ones(4, np.int32), x)
    with pytest.raises(TypeError):
        ops.residual_backward([1.0, 2.0], x)
    with pytest.raises(ValueError):
        ops.residual_backward(np.ones((4, 2), np.float32)[:, 0], x)  # not contiguous
    with pytest.raises(ValueError):
        ops.residual_backward(x, np.ones(3, np.float32))
    p = ffi.from_buffer("float[]", x)
    assert lib.ff_residual_forward_f32(p, p, ffi.NULL, 4) == lib.FF_EBADARG
    assert lib.ff_residual_backward_f32(p, p, -1) == lib.FF_EBADARG
