"""The CSR kernels (ff_csr_matmul, ff_csr_tmatmul, ff_csr_logistic_loss_grad, ff_csr_check)
against their float64 references, against the dense kernels on the densified matrix,
across thread counts (bitwise), on every scipy format and index dtype, and on bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastfit
from fastfit._lib import ffi, lib, ptr
from fastfit.ops import (CSR, as_csr, csr_logistic_loss_grad, csr_matmul, csr_tmatmul,
                         linear_backward, linear_forward, logistic_loss_grad)

import reference as R

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-5, np.float64: 1e-12}


def _x(n, i, density, dtype, seed=0, empty_rows=True):
    """A random CSR with some rows emptied (sizes, density and index dtype as asked)."""
    rng = np.random.default_rng(seed)
    x = sp.random(n, i, density=density, format="csr", dtype=np.float64, random_state=rng,
                  data_rvs=rng.standard_normal)
    if empty_rows and n > 2:
        x = x.tolil()
        x[::3] = 0  # every third row empty
        x = x.tocsr()
    x.sort_indices()
    return x.astype(dtype)


def _close(got, ref, dtype, scale=None):
    scale = np.abs(ref).max() + 1e-30 if scale is None else scale
    assert np.abs(np.asarray(got, np.float64) - ref).max() <= RTOL[dtype] * 50 * scale


# sizes: 1, odd, SIMD tails in O, several row chunks (parallel), empty rows
SHAPES = [(1, 1, 1), (1, 7, 3), (5, 1, 2), (13, 17, 1), (33, 65, 10), (257, 31, 17),
          (1025, 200, 5), (5003, 333, 16)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,i,o", SHAPES)
@pytest.mark.parametrize("bias", [False, True])
def test_matmul_matches_reference_and_dense(dtype, n, i, o, bias):
    x = _x(n, i, 0.1 if i > 10 else 0.5, dtype)
    rng = np.random.default_rng(1)
    w = rng.standard_normal((i, o)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype) if bias else None
    y = csr_matmul(x, w, b)
    assert y.dtype == dtype and y.shape == (n, o)
    ref = R.csr_matmul_ref(x, w, b)
    _close(y, ref, dtype, np.abs(ref).max() + 1.0)
    dense = linear_forward(x.toarray(), w, b)
    _close(y, dense.astype(np.float64), dtype, np.abs(ref).max() + 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,i,o", SHAPES)
def test_tmatmul_matches_reference_and_dense_backward(dtype, n, i, o):
    x = _x(n, i, 0.1 if i > 10 else 0.5, dtype)
    rng = np.random.default_rng(2)
    g = rng.standard_normal((n, o)).astype(dtype)
    dw = csr_tmatmul(x, g)
    ref = R.csr_tmatmul_ref(x, g)
    _close(dw, ref, dtype, np.abs(ref).max() + 1.0)
    # the dense layer's backward (dw accumulated) on the densified matrix
    w = np.zeros((i, o), dtype)
    _, dwd, _ = linear_backward(g, x.toarray(), w)
    _close(dw, dwd.astype(np.float64), dtype, np.abs(ref).max() + 1.0)
    # accumulates into out
    out = np.ones((i, o), dtype)
    csr_tmatmul(x, g, out=out)
    _close(out, ref + 1.0, dtype, np.abs(ref).max() + 1.0)


def _logistic_data(n, i, k, dtype, seed=0, weighted=True):
    rng = np.random.default_rng(seed)
    x = _x(n, i, min(1.0, 8.0 / i + 0.05), dtype, seed)
    coef = (rng.standard_normal((k, i))).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    y = rng.integers(0, max(k, 2), n)
    w = rng.uniform(0.1, 2.0, n).astype(dtype) if weighted else None
    return x, y, coef, b, w


def _check_logistic(got, ref, dtype):
    loss, dw, db = got
    rl, rdw, rdb = ref
    rt = RTOL[dtype]
    assert abs(loss - rl) <= rt * (abs(rl) + 1e-30) * 10
    gscale = np.abs(rdw).max() + 1e-30
    assert np.abs(dw - rdw).max() <= rt * 50 * gscale
    if db is not None:
        assert np.abs(db - rdb).max() <= rt * 50 * (np.abs(rdb).max() + gscale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,i,k", [(1, 1, 1), (1, 5, 3), (7, 3, 1), (13, 17, 2), (33, 65, 10),
                                   (257, 31, 1), (1025, 100, 5), (5003, 333, 3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_logistic_matches_reference_and_dense_kernel(dtype, n, i, k, weighted):
    x, y, coef, b, w = _logistic_data(n, i, k, dtype, weighted=weighted)
    got = csr_logistic_loss_grad(x, y, coef, b, w, 1.0 / n)
    _check_logistic(got, R.csr_logistic_loss_grad_ref(x, y, coef, b, w, 1.0 / n), dtype)
    _check_logistic(got, logistic_loss_grad(x.toarray(), y, coef, b, w, 1.0 / n), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 4])
def test_logistic_no_intercept_and_loss_only(dtype, k):
    x, y, coef, b, w = _logistic_data(300, 29, k, dtype)
    loss, dw, db = csr_logistic_loss_grad(x, y, coef, None, w, 0.5)
    assert db is None
    _check_logistic((loss, dw, None), R.csr_logistic_loss_grad_ref(x, y, coef, None, w, 0.5), dtype)
    loss2, dw2, db2 = csr_logistic_loss_grad(x, y, coef, None, w, 0.5, need_grad=False)
    assert dw2 is None and db2 is None and loss2 == loss


def test_logistic_gradient_is_the_derivative_of_the_loss():
    x, y, coef, b, w = _logistic_data(40, 9, 3, np.float64, weighted=True)
    _, dw, db = csr_logistic_loss_grad(x, y, coef, b, w, 0.1)
    h = 1e-6
    for (r, c) in [(0, 0), (1, 4), (2, 8)]:
        cp, cm = coef.copy(), coef.copy()
        cp[r, c] += h
        cm[r, c] -= h
        fd = (csr_logistic_loss_grad(x, y, cp, b, w, 0.1)[0]
              - csr_logistic_loss_grad(x, y, cm, b, w, 0.1)[0]) / (2 * h)
        assert abs(fd - dw[r, c]) < 1e-6


def _three_kernels(x, dtype):
    rng = np.random.default_rng(5)
    n, i = x.shape
    w = rng.standard_normal((i, 7)).astype(dtype)
    g = rng.standard_normal((n, 7)).astype(dtype)
    y = rng.integers(0, 3, n)
    c = rng.standard_normal((3, i)).astype(dtype)
    y1 = rng.integers(0, 2, n)
    c1 = rng.standard_normal((1, i)).astype(dtype)
    sw = rng.uniform(0.5, 1.5, n).astype(dtype)
    return (csr_matmul(x, w, w[0]), csr_tmatmul(x, g),
            csr_logistic_loss_grad(x, y, c, c[:, 0], sw, 1.0 / n),
            csr_logistic_loss_grad(x, y1, c1, c1[:, 0], sw, 1.0 / n))


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_bits(dtype):
    x = as_csr(_x(20011, 1500, 0.01, dtype))
    runs = []
    for nt in (1, 2):
        with fastfit.num_threads(nt):
            runs.append(_three_kernels(x, dtype))
    a, b = runs
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for la, lb in ((a[2], b[2]), (a[3], b[3])):
        assert la[0] == lb[0]
        np.testing.assert_array_equal(la[1], lb[1])
        np.testing.assert_array_equal(la[2], lb[2])


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_large_text_like_matrix(dtype):
    # 2^16 features, ~60 non-zeros a row: the rows and columns are split over threads
    rng = np.random.default_rng(7)
    n, i, per = 30_000, 1 << 16, 60
    cols = np.minimum(rng.zipf(1.3, n * per) - 1, i - 1)
    rows = np.repeat(np.arange(n), per)
    x = sp.csr_matrix((rng.random(n * per), (rows, cols)), shape=(n, i)).astype(dtype)
    w = rng.standard_normal((i, 10)).astype(dtype)
    _close(csr_matmul(x, w), R.csr_matmul_ref(x, w), dtype)
    g = rng.standard_normal((n, 10)).astype(dtype)
    _close(csr_tmatmul(x, g), R.csr_tmatmul_ref(x, g), dtype)
    y = rng.integers(0, 10, n)
    _check_logistic(csr_logistic_loss_grad(x, y, w.T, None, None, 1.0 / n),
                    R.csr_logistic_loss_grad_ref(x, y, w.T, None, None, 1.0 / n), dtype)


# ---- formats, index dtypes, conversion ------------------------------------------

FORMATS = ["csr_matrix", "csc_matrix", "coo_matrix", "csr_array", "csc_array", "coo_array",
           "lil_matrix", "dok_matrix"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_every_format_and_index_dtype(fmt, index_dtype):
    x = _x(37, 23, 0.2, np.float64)
    m = getattr(sp, fmt)(x)
    if hasattr(m, "indices"):
        m.indices = m.indices.astype(index_dtype)
        m.indptr = m.indptr.astype(index_dtype)
    w = np.random.default_rng(0).standard_normal((23, 3))
    np.testing.assert_allclose(csr_matmul(m, w), x @ w, rtol=1e-12, atol=1e-12)
    c = as_csr(m)
    assert c.indptr.dtype == np.int64 and c.indices.dtype == np.int64


def test_as_csr_converts_once_and_never_densifies_or_modifies():
    x = _x(50, 40, 0.1, np.float32)
    c = as_csr(x)
    assert as_csr(c) is c  # a prepared CSR goes through as it is
    assert c.dtype == np.float32 and c.shape == (50, 40) and c.nnz == x.nnz
    assert c.transpose() is c.transpose() and c.transpose().transpose() is c
    # integer data becomes float64 (as scikit-learn); the input is left alone
    xi = sp.csr_matrix(np.array([[0, 2], [3, 0]], np.int64))
    assert as_csr(xi).dtype == np.float64
    # unsorted indices with duplicates: summed and sorted on a copy
    u = sp.csr_matrix((np.array([1.0, 2.0, 4.0]), np.array([2, 0, 2]), np.array([0, 3])),
                      shape=(1, 3))
    before = (u.data.copy(), u.indices.copy())
    cu = as_csr(u)
    np.testing.assert_array_equal(cu.indices, [0, 2])
    np.testing.assert_array_equal(cu.data, [2.0, 5.0])
    np.testing.assert_array_equal(u.data, before[0])
    np.testing.assert_array_equal(u.indices, before[1])
    np.testing.assert_allclose(csr_matmul(u, np.eye(3)), [[2.0, 0.0, 5.0]])


def _raw_csr(data, indices, indptr, shape):
    m = sp.csr_matrix(shape)
    m.data, m.indices, m.indptr = (np.asarray(data, np.float64), np.asarray(indices, np.int32),
                                   np.asarray(indptr, np.int32))
    return m


@pytest.mark.parametrize("bad", [
    dict(data=[1.0, 2.0], indices=[0, 5], indptr=[0, 1, 2], match="column index"),
    dict(data=[1.0, 2.0], indices=[0, -1], indptr=[0, 1, 2], match="column index"),
    dict(data=[1.0, 2.0], indices=[0, 1], indptr=[0, 2, 1], match="never decrease"),
    dict(data=[1.0, 2.0], indices=[0, 1], indptr=[0, 1, 3], match="nnz"),
    dict(data=[1.0, 2.0], indices=[0, 1], indptr=[1, 1, 2], match="start at 0"),
    dict(data=[np.nan, 2.0], indices=[0, 1], indptr=[0, 1, 2], match="NaN"),
    dict(data=[np.inf, 2.0], indices=[0, 1], indptr=[0, 1, 2], match="NaN"),
])
def test_bad_sparse_input_is_a_clear_value_error(bad):
    m = _raw_csr(bad["data"], bad["indices"], bad["indptr"], (2, 3))
    with pytest.raises(ValueError, match=bad["match"]):
        csr_matmul(m, np.ones((3, 2)))
    with pytest.raises(ValueError, match=bad["match"]):
        csr_logistic_loss_grad(m, [0, 1], np.ones((1, 3)))


def test_dense_input_and_bad_shapes_are_refused():
    with pytest.raises(TypeError, match="scipy.sparse"):
        csr_matmul(np.ones((2, 3)), np.ones((3, 1)))
    x = _x(4, 3, 0.5, np.float64)
    with pytest.raises(ValueError, match="w must have shape"):
        csr_matmul(x, np.ones((4, 1)))
    with pytest.raises(ValueError, match="g must have 4 rows"):
        csr_tmatmul(x, np.ones((3, 2)))
    with pytest.raises(ValueError, match="label out of range"):
        csr_logistic_loss_grad(x, [0, 1, 2, 0], np.ones((1, 3)))
    with pytest.raises(ValueError, match="coef must have shape"):
        csr_logistic_loss_grad(x, [0, 1, 1, 0], np.ones((1, 2)))


def test_kernels_never_read_out_of_bounds_when_called_directly():
    # the C kernels check every row range and index themselves: FF_EBADARG, no crash
    data = np.array([1.0, 2.0])
    indptr = np.array([0, 1, 5], np.int64)  # row 1 runs past nnz
    indices = np.array([0, 99], np.int64)  # 99 >= in
    w = np.ones((3, 2))
    y = np.empty((2, 2))
    assert lib.ff_csr_matmul_f64(ptr(y), ptr(data), ptr(indptr), ptr(indices), ptr(w),
                                 ffi.NULL, 2, 3, 2, 2) == lib.FF_EBADARG
    indptr2 = np.array([0, 1, 2], np.int64)
    assert lib.ff_csr_matmul_f64(ptr(y), ptr(data), ptr(indptr2), ptr(indices), ptr(w),
                                 ffi.NULL, 2, 3, 2, 2) == lib.FF_EBADARG
    dw = np.zeros((2, 2))
    assert lib.ff_csr_tmatmul_f64(ptr(dw), ptr(data), ptr(indptr2), ptr(indices), ptr(y),
                                  2, 2, 2, 2) == lib.FF_EBADARG
    loss = np.zeros(1)
    labels = np.zeros(2, np.int64)
    for ix, idx in (("i64", indices), ("i32", indices.astype(np.int32))):
        assert getattr(lib, f"ff_csr_logistic_loss_grad_{ix}_f64")(
            ptr(loss), ffi.NULL, ffi.NULL, ptr(data), ptr(indptr2), ptr(idx), ffi.NULL,
            ffi.NULL, ffi.NULL, ptr(np.ones((1, 3))), ffi.NULL, ptr(labels), ffi.NULL, 2, 3, 1,
            2, 1.0) == lib.FF_EBADARG
        # the gradient pass's CSC row indices are checked too (row 7 of 2)
        cptr, crow = np.array([0, 1, 1, 2], np.int64), np.array([0, 7], idx.dtype)
        assert getattr(lib, f"ff_csr_logistic_loss_grad_{ix}_f64")(
            ptr(loss), ptr(np.zeros((1, 3))), ptr(np.zeros(1)), ptr(data), ptr(indptr2),
            ptr(np.array([0, 2], idx.dtype)), ptr(data), ptr(cptr), ptr(crow),
            ptr(np.ones((1, 3))), ffi.NULL, ptr(labels), ffi.NULL, 2, 3, 1, 2,
            1.0) == lib.FF_EBADARG
    for check, idx in ((lib.ff_csr_check_i64, indices), (lib.ff_csr_check_i32,
                                                         indices.astype(np.int32))):
        assert check(ffi.NULL, ptr(indptr2), ptr(idx), 2, 3, 2) == lib.FF_EBADARG
        assert check(ffi.NULL, ptr(indptr2), ptr(idx), 2, 100, 2) == lib.FF_OK


@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
@pytest.mark.parametrize("rows", [1, 3, 70_000])  # 70k rows x ~16: past the parallel size
def test_structure_check_per_index_width(index_dtype, rows):
    # every verdict for any row: the canonical flag, an index out of range, a decreasing
    # indptr in the middle, a range past nnz -- with int32 and int64 indices
    rng = np.random.default_rng(rows)
    x = sp.random(rows, 40, density=0.4, format="csr", random_state=rng)
    indptr = x.indptr.astype(np.int64)
    idx = x.indices.astype(index_dtype)
    check = lib.ff_csr_check_i32 if index_dtype == np.int32 else lib.ff_csr_check_i64
    canon = ffi.new("int32_t *")
    assert check(canon, ptr(indptr), ptr(idx), rows, 40, x.nnz) == lib.FF_OK and canon[0] == 1
    last = indptr[-2]  # the last row's first non-zero
    if x.nnz - last >= 2:
        swapped = idx.copy()
        swapped[[last, last + 1]] = swapped[[last + 1, last]]
        assert check(canon, ptr(indptr), ptr(swapped), rows, 40, x.nnz) == lib.FF_OK
        assert canon[0] == 0
    out = idx.copy()
    out[-1] = 40
    assert check(canon, ptr(indptr), ptr(out), rows, 40, x.nnz) == lib.FF_EBADARG
    if rows > 2:
        dip = indptr.copy()
        dip[rows // 2] = dip[rows // 2 + 1] + 1
        assert check(canon, ptr(dip), ptr(idx), rows, 40, x.nnz) == lib.FF_EBADARG


def test_empty_matrix_and_all_empty_rows():
    x = sp.csr_matrix((5, 4))
    np.testing.assert_array_equal(csr_matmul(x, np.ones((4, 2)), [1.0, 2.0]),
                                  np.tile([1.0, 2.0], (5, 1)))
    np.testing.assert_array_equal(csr_tmatmul(x, np.ones((5, 2))), np.zeros((4, 2)))
    loss, dw, db = csr_logistic_loss_grad(x, [0, 1, 0, 1, 1], np.zeros((1, 4)), [0.0])
    assert abs(loss - 5 * np.log(2)) < 1e-12 and not dw.any()
    assert csr_matmul(sp.csr_matrix((0, 4)), np.ones((4, 2))).shape == (0, 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 4])
def test_logistic_int32_and_int64_indices_give_the_same_bits(dtype, k):
    x, y, coef, b, w = _logistic_data(3001, 700, k, dtype)
    x = as_csr(x)
    got = csr_logistic_loss_grad(x, y, coef, b, w, 1.0 / 3001)  # the int32 kernel
    t = x.transpose() if k > 1 else None  # K = 1: the gradient scatters the rows, no CSC
    assert x.narrow_indices() is not None
    loss, dw, db = np.zeros(1), np.empty((k, 700)), np.empty(k)
    fn64 = getattr(lib, "ff_csr_logistic_loss_grad_i64_" + ("f32" if dtype == np.float32 else "f64"))
    assert fn64(ptr(loss), ptr(dw), ptr(db), ptr(x.data), ptr(x.indptr), ptr(x.indices),
                ptr(t and t.data), ptr(t and t.indptr), ptr(t and t.indices),
                ptr(np.ascontiguousarray(coef, dtype)),
                ptr(np.ascontiguousarray(b, dtype)), ptr(np.ascontiguousarray(y, np.int64)),
                ptr(None if w is None else np.ascontiguousarray(w, dtype)), 3001, 700, k, x.nnz,
                1.0 / 3001) == lib.FF_OK
    assert loss[0] == got[0]
    np.testing.assert_array_equal(dw, got[1])
    np.testing.assert_array_equal(db, got[2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_gradient_without_csc_matches_the_column_pass(dtype):
    # K = 1 scatters fixed row blocks instead of reading a CSC copy: the same gradient to
    # rounding (a different summation order), the same loss bit for bit, and its own bits
    # for any thread count
    x, y, coef, b, w = _logistic_data(20011, 900, 1, dtype)
    x = as_csr(x)
    t = x.transpose()
    loss, dw, db = np.zeros(1), np.empty((1, 900)), np.empty(1)
    fn = getattr(lib, "ff_csr_logistic_loss_grad_i64_" + ("f32" if dtype == np.float32 else "f64"))
    assert fn(ptr(loss), ptr(dw), ptr(db), ptr(x.data), ptr(x.indptr), ptr(x.indices),
              ptr(t.data), ptr(t.indptr), ptr(t.indices), ptr(np.ascontiguousarray(coef, dtype)),
              ptr(np.ascontiguousarray(b, dtype)), ptr(np.ascontiguousarray(y, np.int64)),
              ptr(np.ascontiguousarray(w, dtype)), 20011, 900, 1, x.nnz,
              1.0 / 20011) == lib.FF_OK
    runs = []
    for nt in (1, 2, 3):
        with fastfit.num_threads(nt):
            runs.append(csr_logistic_loss_grad(x, y, coef, b, w, 1.0 / 20011))
    for other in runs[1:]:
        assert other[0] == runs[0][0]
        np.testing.assert_array_equal(other[1], runs[0][1])
    assert runs[0][0] == loss[0]
    if dtype == np.float64:
        np.testing.assert_allclose(runs[0][1], dw, rtol=1e-12, atol=1e-15 * np.abs(dw).max())
    else:
        # float32 X: each of the 4 row blocks sums its column in float32, as scipy's float32
        # X^T g does (scikit-learn's gradient for float32 input); first-order bound: a
        # block's rows times 2^-24 times sum |x_rj g_r|, with |g_r| <= w_r / n (logistic)
        bound = 2.0**-24 * (20011 // 4 + 1) * (abs(x.to_scipy()).T @ (np.abs(w) / 20011))
        assert np.all(np.abs(runs[0][1][0] - dw[0]) <= bound + 1e-15)
    np.testing.assert_array_equal(runs[0][2], db)
