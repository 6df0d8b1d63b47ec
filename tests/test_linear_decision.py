"""ff_linear_decision (ops.linear_decision): a linear model's x @ w^T + b, w stored
(k, in) as coef_, against the float64 reference."""

import numpy as np
import pytest

import fastfit
from fastfit import ops
from fastfit._lib import ffi, lib
from reference import assert_gemm_close, gemm_error_bound, linear_decision_ref

DTYPES = [np.float32, np.float64]
# k <= 8: row dots (k = 1 the binary/regression case); k > 8: the GEMM. in covers the
# SIMD tails (1, 7, 17 of 8/16 lanes) and several vectors.
SHAPES = [(1, 1, 1), (1, 20, 3), (5, 7, 1), (13, 17, 2), (2049, 20, 1), (4097, 33, 8),
          (300, 64, 9), (257, 100, 100)]


def data(rng, n, i, k, dtype):
    return (rng.standard_normal((n, i)).astype(dtype), rng.standard_normal((k, i)).astype(dtype),
            rng.standard_normal(k).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_reference(dtype, shape):
    rng = np.random.default_rng(sum(shape))
    x, w, b = data(rng, *shape, dtype)
    for bias in (b, None):
        y = ops.linear_decision(x, w, bias)
        assert y.dtype == dtype and y.shape == (shape[0], shape[2])
        assert_gemm_close(y, linear_decision_ref(x, w, bias),
                          gemm_error_bound(dtype, shape[1], x, w.T, bias=bias), str(shape))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_large(dtype):
    rng = np.random.default_rng(3)
    x, w, b = data(rng, 300_001, 20, 2, dtype)
    assert_gemm_close(ops.linear_decision(x, w, b), linear_decision_ref(x, w, b),
                      gemm_error_bound(dtype, 20, x, w.T, bias=b), "large")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 3, 12])
def test_threads_bitwise(dtype, k):
    rng = np.random.default_rng(4)
    x, w, b = data(rng, 100_003, 21, k, dtype)  # many dynamic chunks, a short tail chunk
    res = []
    for t in (1, 2):
        with fastfit.num_threads(t):
            res.append(ops.linear_decision(x, w, b))
    assert np.array_equal(res[0], res[1])


def test_empty_and_rejects():
    x = np.zeros((0, 3))
    assert ops.linear_decision(x, np.ones((2, 3))).shape == (0, 2)
    with pytest.raises(ValueError, match="shape"):
        ops.linear_decision(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(TypeError):
        ops.linear_decision(np.ones((2, 3), np.float32), np.ones((1, 3)))
    with pytest.raises(ValueError, match="b must"):
        ops.linear_decision(np.ones((2, 3)), np.ones((2, 3)), np.ones(3))


def test_c_rejects_bad_arguments():
    out = ffi.new("double[4]")
    x = ffi.new("double[4]")
    for n, i, k in [(-1, 2, 1), (2, 0, 1), (2, 2, 0)]:
        assert lib.ff_linear_decision_f64(out, x, x, ffi.NULL, n, i, k) == lib.FF_EBADARG
    assert lib.ff_linear_decision_f64(ffi.NULL, x, x, ffi.NULL, 2, 2, 1) == lib.FF_EBADARG
