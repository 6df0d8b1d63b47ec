"""The sparse first layer's kernels (ff_csr_rows_matmul, ff_csr_rows_tmatmul): a batch of
rows of a CSR times the weights, and its weight gradient, read in place. Against their
float64 references and the dense layer on the densified batch, in f32 and f64, on sizes
1, odd and large, repeated and empty rows, across thread counts (bitwise), and on bad
row numbers and structures (FF_EBADARG, never a crash)."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastfit
from fastfit._lib import ffi, lib, ptr
from fastfit.ops import as_csr, csr_rows_matmul, csr_rows_tmatmul, linear_backward, linear_forward

import reference as R

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-5, np.float64: 1e-12}


def _x(n, i, density, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = sp.random(n, i, density=density, format="lil", dtype=np.float64, random_state=rng,
                  data_rvs=rng.standard_normal)
    if n > 2:
        x[::3] = 0   # empty rows
    return x.tocsr().astype(dtype)


def _rows(n_rows, n, seed):
    """A batch of n row numbers, with repeats when n > n_rows."""
    return np.random.default_rng(seed).integers(0, n_rows, n)


def _close(got, ref, dtype):
    scale = np.abs(ref).max() + 1.0
    assert np.abs(np.asarray(got, np.float64) - ref).max() <= RTOL[dtype] * 50 * scale


# (rows of X, batch rows, features, outputs): size 1, odd, SIMD tails, several chunks
SHAPES = [(1, 1, 1, 1), (3, 1, 7, 3), (5, 9, 1, 2), (13, 7, 17, 1), (40, 33, 65, 10),
          (300, 257, 31, 17), (2000, 1025, 200, 100), (9001, 5003, 333, 129)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nr,n,i,o", SHAPES)
@pytest.mark.parametrize("gathered", [True, False])
def test_rows_matmul_matches_reference_and_dense_layer(dtype, nr, n, i, o, gathered):
    x = _x(nr, i, 0.1 if i > 10 else 0.5, dtype)
    rows = _rows(nr, n, 1) if gathered else None
    rng = np.random.default_rng(2)
    w = rng.standard_normal((i, o)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    for bias in (None, b):
        y = csr_rows_matmul(x, rows, w, bias)
        assert y.dtype == dtype and y.shape == ((n if gathered else nr), o)
        ref = R.csr_rows_matmul_ref(x, rows, w, bias)
        _close(y, ref, dtype)
        dense = (x.toarray() if rows is None else x.toarray()[rows])
        _close(y, linear_forward(dense, w, bias).astype(np.float64), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nr,n,i,o", SHAPES)
@pytest.mark.parametrize("gathered", [True, False])
def test_rows_tmatmul_matches_reference_and_dense_backward(dtype, nr, n, i, o, gathered):
    x = _x(nr, i, 0.1 if i > 10 else 0.5, dtype)
    rows = _rows(nr, n, 3) if gathered else None
    m = n if gathered else nr
    g = np.random.default_rng(4).standard_normal((m, o)).astype(dtype)
    dw = csr_rows_tmatmul(x, rows, g)
    ref = R.csr_rows_tmatmul_ref(x, rows, g)
    _close(dw, ref, dtype)
    dense = x.toarray() if rows is None else x.toarray()[rows]
    _, dwd, _ = linear_backward(g, dense, np.zeros((i, o), dtype))
    _close(dw, dwd.astype(np.float64), dtype)
    out = np.ones((i, o), dtype)   # accumulates
    csr_rows_tmatmul(x, rows, g, out=out)
    _close(out, ref + 1.0, dtype)


def test_gradient_is_the_derivative_of_the_forward():
    # d/dW of sum(G * (X[rows] @ W)) is X[rows]^T G: finite differences in float64
    x = _x(11, 6, 0.4, np.float64)
    rows = np.array([3, 0, 10, 3, 7])
    rng = np.random.default_rng(5)
    w = rng.standard_normal((6, 4))
    g = rng.standard_normal((5, 4))
    dw = csr_rows_tmatmul(x, rows, g)
    h = 1e-6
    for idx in np.ndindex(w.shape):
        wp, wm = w.copy(), w.copy()
        wp[idx] += h
        wm[idx] -= h
        num = (np.sum(g * csr_rows_matmul(x, rows, wp)) - np.sum(g * csr_rows_matmul(x, rows, wm)))
        assert abs(num / (2 * h) - dw[idx]) <= 1e-7 * (1 + abs(dw[idx]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("o", [5, 100, 129])
def test_thread_count_does_not_change_bits(dtype, o):
    # text-like: Zipf columns (hot features hit by many rows of the batch)
    rng = np.random.default_rng(7)
    nr, i, per = 4000, 1 << 14, 30
    cols = np.minimum(rng.zipf(1.3, nr * per) - 1, i - 1)
    x = as_csr(sp.csr_matrix((rng.random(nr * per), (np.repeat(np.arange(nr), per), cols)),
                             shape=(nr, i)).astype(dtype))
    rows = _rows(nr, 1500, 8)
    w = rng.standard_normal((i, o)).astype(dtype)
    g = rng.standard_normal((1500, o)).astype(dtype)
    runs = []
    for nt in (1, 2, 3):
        with fastfit.num_threads(nt):
            runs.append((csr_rows_matmul(x, rows, w, w[0]), csr_rows_tmatmul(x, rows, g)))
    for y, dw in runs[1:]:
        np.testing.assert_array_equal(y, runs[0][0])
        np.testing.assert_array_equal(dw, runs[0][1])
    _close(runs[0][1], R.csr_rows_tmatmul_ref(x.to_scipy(), rows, g), dtype)


def test_wrappers_reject_bad_rows_and_shapes():
    x = _x(5, 4, 0.5, np.float64)
    w = np.ones((4, 2))
    with pytest.raises(ValueError, match="rows"):
        csr_rows_matmul(x, [0, 5], w)
    with pytest.raises(ValueError, match="rows"):
        csr_rows_tmatmul(x, [-1], np.ones((1, 2)))
    with pytest.raises(ValueError, match="g must have 2 rows"):
        csr_rows_tmatmul(x, [0, 1], np.ones((3, 2)))
    with pytest.raises(ValueError, match="w must have shape"):
        csr_rows_matmul(x, None, np.ones((3, 2)))
    with pytest.raises(TypeError):
        csr_rows_matmul(x, None, w.astype(np.float32))


@pytest.mark.parametrize("sfx", ["f32", "f64"])
def test_kernels_never_read_out_of_bounds_when_called_directly(sfx):
    dtype = np.float32 if sfx == "f32" else np.float64
    mm, tm = getattr(lib, f"ff_csr_rows_matmul_{sfx}"), getattr(lib, f"ff_csr_rows_tmatmul_{sfx}")
    data = np.array([1.0, 2.0], dtype)
    good_ptr = np.array([0, 1, 2], np.int64)
    indices = np.array([0, 2], np.int64)
    w = np.ones((3, 2), dtype)
    y = np.empty((2, 2), dtype)
    dw = np.zeros((3, 2), dtype)
    assert mm(ptr(y), ptr(data), ptr(good_ptr), ptr(indices), ffi.NULL, ptr(w), ffi.NULL,
              2, 2, 3, 2, 2) == lib.FF_OK
    for rows in (np.array([0, 2], np.int64), np.array([-1, 0], np.int64)):   # row out of range
        assert mm(ptr(y), ptr(data), ptr(good_ptr), ptr(indices), ptr(rows), ptr(w), ffi.NULL,
                  2, 2, 3, 2, 2) == lib.FF_EBADARG
        assert tm(ptr(dw), ptr(data), ptr(good_ptr), ptr(indices), ptr(rows), ptr(y),
                  2, 2, 3, 2, 2) == lib.FF_EBADARG
    bad_ptr = np.array([0, 1, 5], np.int64)            # a row past nnz
    bad_idx = np.array([0, 99], np.int64)              # an index past `in`
    for p_, i_ in ((bad_ptr, indices), (good_ptr, bad_idx)):
        assert mm(ptr(y), ptr(data), ptr(p_), ptr(i_), ffi.NULL, ptr(w), ffi.NULL,
                  2, 2, 3, 2, 2) == lib.FF_EBADARG
        assert tm(ptr(dw), ptr(data), ptr(p_), ptr(i_), ffi.NULL, ptr(y),
                  2, 2, 3, 2, 2) == lib.FF_EBADARG
    assert mm(ptr(y), ptr(data), ptr(good_ptr), ptr(indices), ffi.NULL, ptr(w), ffi.NULL,
              3, 2, 3, 2, 2) == lib.FF_EBADARG   # n > n_rows without rows
