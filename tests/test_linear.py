"""ff_linear_forward/backward and ff_sum_rows against the float64 reference, finite
differences in float64, torch autograd, accumulate semantics, thread-count invariance,
argument checks."""

import numpy as np
import pytest

import fastfit
from fastfit import ops
from fastfit._lib import ffi, lib, ptr
from reference import (assert_gemm_close, gemm_error_bound, linear_backward_ref,
                       linear_forward_ref)

DTYPES = [np.float32, np.float64]
SHAPES = [(1, 1, 1), (3, 7, 13), (13, 1, 5), (17, 33, 15), (31, 65, 63), (256, 64, 10),
          (300, 129, 257)]


def data(rng, n, i, o, dtype):
    return (rng.standard_normal((n, i)).astype(dtype), rng.standard_normal((i, o)).astype(dtype),
            rng.standard_normal(o).astype(dtype), rng.standard_normal((n, o)).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward(dtype):
    rng = np.random.default_rng(0)
    for (n, i, o) in SHAPES:
        x, w, b, _ = data(rng, n, i, o, dtype)
        y = ops.linear_forward(x, w, b)
        assert y.dtype == dtype and y.shape == (n, o)
        assert_gemm_close(y, linear_forward_ref(x, w, b),
                          gemm_error_bound(dtype, i, x, w, bias=b), f"{(n, i, o)}")
        y = ops.linear_forward(x, w)
        assert_gemm_close(y, linear_forward_ref(x, w), gemm_error_bound(dtype, i, x, w))


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward(dtype):
    rng = np.random.default_rng(1)
    for (n, i, o) in SHAPES:
        x, w, _, dy = data(rng, n, i, o, dtype)
        dx, dw, db = ops.linear_backward(dy, x, w)
        rdx, rdw, rdb = linear_backward_ref(dy, x, w)
        assert_gemm_close(dx, rdx, gemm_error_bound(dtype, o, dy, w, trans_b=True), "dx")
        assert_gemm_close(dw, rdw, gemm_error_bound(dtype, n, x, dy, trans_a=True), "dw")
        assert_gemm_close(db, rdb, gemm_error_bound(dtype, n, np.ones((1, n)), dy)[0], "db")
        dx2, dw2, db2 = ops.linear_backward(dy, x, w, need_dx=False)
        assert dx2 is None
        assert np.array_equal(dw, dw2) and np.array_equal(db, db2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_accumulates(dtype):
    """dw and db accumulate (+=), dx is written (its old contents are ignored)."""
    rng = np.random.default_rng(2)
    n, i, o = 33, 17, 9
    x, w, _, dy = data(rng, n, i, o, dtype)
    dw0 = rng.standard_normal((i, o)).astype(dtype)
    db0 = rng.standard_normal(o).astype(dtype)
    dx = np.full((n, i), np.nan, dtype)
    dw, db = dw0.copy(), db0.copy()
    f = lib.ff_linear_backward_f32 if dtype == np.float32 else lib.ff_linear_backward_f64
    for _ in range(2):
        assert f(ptr(dx), ptr(dw), ptr(db), ptr(dy), ptr(x), ptr(w), n, i, o) == lib.FF_OK
    rdx, rdw, rdb = linear_backward_ref(dy, x, w)
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, rdx, **tol)
    np.testing.assert_allclose(dw, dw0 + 2 * rdw, **tol)
    np.testing.assert_allclose(db, db0 + 2 * rdb, **tol)
    # NULL dx and NULL db are skipped
    dw, db = dw0.copy(), db0.copy()
    assert f(ffi.NULL, ptr(dw), ffi.NULL, ptr(dy), ptr(x), ptr(w), n, i, o) == lib.FF_OK
    np.testing.assert_allclose(dw, dw0 + rdw, **tol)
    np.testing.assert_array_equal(db, db0)


def test_finite_differences():
    """Gradients of L = sum(y * g) for y = x @ w + b, by central differences (float64)."""
    rng = np.random.default_rng(3)
    n, i, o = 5, 4, 3
    x, w, b, g = data(rng, n, i, o, np.float64)
    dx, dw, db = ops.linear_backward(g, x, w)

    def loss(x_, w_, b_):
        return float(np.sum(ops.linear_forward(x_, w_, b_) * g))

    h = 1e-6
    for name, arr, grad in (("x", x, dx), ("w", w, dw), ("b", b, db)):
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += h
            minus[idx] -= h
            args = {"x": (x, w, b), "w": (x, w, b), "b": (x, w, b)}[name]
            pa = [plus if t is arr else t for t in args]
            ma = [minus if t is arr else t for t in args]
            num[idx] = (loss(*pa) - loss(*ma)) / (2 * h)
        np.testing.assert_allclose(grad, num, rtol=1e-7, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_autograd(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    n, i, o = 64, 33, 17
    x, w, b, dy = data(rng, n, i, o, dtype)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    ty = torch.nn.functional.linear(tx, tw.T, tb)  # torch's weight is (out, in)
    ty.backward(torch.tensor(dy))
    y = ops.linear_forward(x, w, b)
    dx, dw, db = ops.linear_backward(dy, x, w)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tol)
    np.testing.assert_allclose(dw, tw.grad.numpy(), **tol)
    np.testing.assert_allclose(db, tb.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_bitwise(dtype):
    rng = np.random.default_rng(5)
    n, i, o = 4096, 64, 256  # crosses the parallel thresholds of gemm and sum_rows
    x, w, b, dy = data(rng, n, i, o, dtype)
    res = []
    for t in (1, 2):
        with fastfit.num_threads(t):
            res.append((ops.linear_forward(x, w, b), *ops.linear_backward(dy, x, w),
                        ops.sum_rows(dy)))
    for r1, r2 in zip(*res, strict=True):
        assert np.array_equal(r1, r2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_rows(dtype):
    rng = np.random.default_rng(6)
    for (n, o) in [(1, 1), (7, 3), (255, 17), (257, 33), (5000, 65)]:
        dy = rng.standard_normal((n, o)).astype(dtype)
        s = ops.sum_rows(dy)
        assert_gemm_close(s, dy.astype(np.float64).sum(axis=0),
                          gemm_error_bound(dtype, n, np.ones((1, n)), dy)[0], f"{(n, o)}")
    db = np.ones(4, dtype)
    f = lib.ff_sum_rows_f32 if dtype == np.float32 else lib.ff_sum_rows_f64
    dy = np.arange(12, dtype=dtype).reshape(3, 4)
    assert f(ptr(db), ptr(dy), 3, 4) == lib.FF_OK
    np.testing.assert_array_equal(db, 1 + dy.sum(axis=0))  # accumulates
    assert ops.sum_rows(np.zeros((0, 3), dtype)).tolist() == [0, 0, 0]


def test_empty_sizes():
    x = np.zeros((0, 3), np.float32)
    w = np.ones((3, 2), np.float32)
    assert ops.linear_forward(x, w).shape == (0, 2)
    dx, dw, db = ops.linear_backward(np.zeros((0, 2), np.float32), x, w)
    assert dx.shape == (0, 3) and not dw.any() and not db.any()
    # in == 0: y = b
    y = ops.linear_forward(np.zeros((2, 0)), np.zeros((0, 3)), np.arange(3.0))
    np.testing.assert_array_equal(y, [[0, 1, 2], [0, 1, 2]])


def test_wrapper_rejects():
    x = np.ones((4, 3), np.float32)
    w = np.ones((3, 2), np.float32)
    dy = np.ones((4, 2), np.float32)
    with pytest.raises(TypeError):
        ops.linear_forward(x.astype(np.int32), w)
    with pytest.raises(TypeError):
        ops.linear_forward(x, w.astype(np.float64))
    with pytest.raises(TypeError):
        ops.linear_forward(x, w, np.ones(2, np.float64))
    with pytest.raises(ValueError):
        ops.linear_forward(x, np.ones((4, 2), np.float32))
    with pytest.raises(ValueError):
        ops.linear_forward(x, w, np.ones(3, np.float32))
    with pytest.raises(ValueError):
        ops.linear_forward(x.ravel(), w)
    with pytest.raises(TypeError):
        ops.linear_backward(dy, x.astype(np.float64), w)
    with pytest.raises(ValueError):
        ops.linear_backward(dy[:3], x, w)
    with pytest.raises(ValueError):
        ops.linear_backward(dy, x, np.ones((3, 3), np.float32))
    with pytest.raises(TypeError):
        ops.sum_rows(np.ones((2, 2), np.int64))
    with pytest.raises(ValueError):
        ops.sum_rows(np.ones(3, np.float32))


def test_c_rejects_bad_arguments():
    x = np.ones((4, 3), np.float32)
    w = np.ones((3, 2), np.float32)
    y = np.ones((4, 2), np.float32)
    db = np.zeros(2, np.float32)
    assert lib.ff_linear_forward_f32(ptr(y), ptr(x), ptr(w), ffi.NULL, -1, 3, 2) == lib.FF_EBADARG
    assert lib.ff_linear_forward_f32(ffi.NULL, ptr(x), ptr(w), ffi.NULL, 4, 3, 2) == lib.FF_EBADARG
    assert lib.ff_linear_backward_f32(ffi.NULL, ffi.NULL, ffi.NULL, ptr(y), ptr(x), ptr(w),
                                      4, 3, 2) == lib.FF_EBADARG  # dw is required
    assert lib.ff_linear_backward_f32(ffi.NULL, ptr(w), ffi.NULL, ffi.NULL, ptr(x), ptr(w),
                                      4, 3, 2) == lib.FF_EBADARG  # dy is required
    assert lib.ff_sum_rows_f32(ptr(db), ptr(y), 4, -2) == lib.FF_EBADARG
    assert lib.ff_sum_rows_f32(ffi.NULL, ptr(y), 4, 2) == lib.FF_EBADARG
