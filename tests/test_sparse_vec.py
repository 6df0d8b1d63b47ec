"""The one-vector CSR products (ff_csr_matvec_<ix>, ff_csr_tmatvec_<ix>: Ridge's sparse
conjugate gradients) against their float64 references and the block kernels, with int32
and int64 indices (bitwise the same), across thread counts (bitwise), and on bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastfit
from fastfit._lib import ffi, lib, ptr
from fastfit.ops import CSR, as_csr, csr_matmul, csr_matvec, csr_tmatmul, csr_tmatvec

import reference as R

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
# sizes: 1, odd, rows shorter and longer than the 4-sum split (8 non-zeros) with tails,
# several row chunks and row blocks (parallel), empty rows
SHAPES = [(1, 1), (1, 9), (5, 1), (13, 17), (33, 65), (257, 31), (1025, 200), (5003, 333)]


def _x(n, i, dtype, seed=0):
    rng = np.random.default_rng(seed)
    density = min(1.0, 12.0 / i + 0.02)
    x = sp.random(n, i, density=density, format="lil", dtype=np.float64, random_state=rng,
                  data_rvs=rng.standard_normal)
    if n > 2:
        x[::3] = 0  # every third row empty
    x = x.tocsr()
    x.sort_indices()
    return x.astype(dtype)


def _close(got, ref, dtype):
    scale = np.abs(ref).max() + 1.0
    assert np.abs(np.asarray(got, np.float64) - ref).max() <= RTOL[dtype] * 50 * scale


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,i", SHAPES)
def test_matvec_and_tmatvec_match_reference_and_block_kernels(dtype, n, i):
    x = _x(n, i, dtype)
    rng = np.random.default_rng(1)
    v, u = rng.standard_normal(i).astype(dtype), rng.standard_normal(n).astype(dtype)
    y, z = csr_matvec(x, v), csr_tmatvec(x, u)
    assert y.dtype == dtype and y.shape == (n,) and z.dtype == dtype and z.shape == (i,)
    _close(y, R.csr_matvec_ref(x, v), dtype)
    _close(z, R.csr_tmatvec_ref(x, u), dtype)
    _close(y, csr_matmul(x, v[:, None])[:, 0].astype(np.float64), dtype)
    _close(z, csr_tmatmul(x, u[:, None])[:, 0].astype(np.float64), dtype)


def _raw(name, dtype, x, idx, vec, out_len):
    out = np.full(out_len, np.nan, dtype)
    suffix = "f32" if dtype == np.float32 else "f64"
    fn = getattr(lib, f"ff_{name}_{suffix}")
    status = fn(ptr(out), ptr(x.data), ptr(x.indptr), ptr(idx), ptr(vec), x.shape[0],
                x.shape[1], x.nnz)
    return status, out


@pytest.mark.parametrize("dtype", DTYPES)
def test_int32_and_int64_indices_give_the_same_bits(dtype):
    x = as_csr(_x(3001, 700, dtype))
    rng = np.random.default_rng(2)
    v, u = rng.standard_normal(700).astype(dtype), rng.standard_normal(3001).astype(dtype)
    i32 = x.narrow_indices()
    assert i32.dtype == np.int32 and x.narrow_indices() is i32  # made once
    for name, vec, size in (("csr_matvec", v, 3001), ("csr_tmatvec", u, 700)):
        s64, a = _raw(f"{name}_i64", dtype, x, x.indices, vec, size)
        s32, b = _raw(f"{name}_i32", dtype, x, i32, vec, size)
        assert s64 == s32 == lib.FF_OK
        np.testing.assert_array_equal(a, b)


def test_columns_past_int32_keep_int64_indices():
    x = CSR(np.ones(2), np.array([0, 1, 2], np.int64), np.array([0, 2**31 + 3], np.int64),
            (2, 2**31 + 5))
    assert x.narrow_indices() is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_bits(dtype):
    x = as_csr(_x(40009, 3000, dtype))
    rng = np.random.default_rng(3)
    v, u = rng.standard_normal(3000), rng.standard_normal(40009)
    runs = []
    for nt in (1, 2, 3):
        with fastfit.num_threads(nt):
            runs.append((csr_matvec(x, v), csr_tmatvec(x, u)))
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0][0], other[0])
        np.testing.assert_array_equal(runs[0][1], other[1])


@pytest.mark.parametrize("ix", ["i32", "i64"])
@pytest.mark.parametrize("name", ["csr_matvec", "csr_tmatvec"])
def test_kernels_never_read_out_of_bounds_when_called_directly(ix, name):
    itype = np.int32 if ix == "i32" else np.int64
    data = np.array([1.0, 2.0])
    bad_range = CSR(data, np.array([0, 1, 5], np.int64), np.array([0, 1], np.int64), (2, 3))
    bad_index = CSR(data, np.array([0, 1, 2], np.int64), np.array([0, 99], np.int64), (2, 3))
    negative = CSR(data, np.array([0, 1, 2], np.int64), np.array([0, -1], np.int64), (2, 3))
    for x in (bad_range, bad_index, negative):
        vec = np.ones(3 if name == "csr_matvec" else 2)
        size = 2 if name == "csr_matvec" else 3
        status, _ = _raw(f"{name}_{ix}", np.float64, x, x.indices.astype(itype), vec, size)
        assert status == lib.FF_EBADARG
    # a long row (the 4-sum path) with its bad index past the first group of four
    long = CSR(np.ones(12), np.array([0, 12], np.int64),
               np.r_[np.arange(9), 50, 10, 11].astype(np.int64), (1, 12))
    vec = np.ones(12 if name == "csr_matvec" else 1)
    status, _ = _raw(f"{name}_{ix}", np.float64, long, long.indices.astype(itype), vec,
                     1 if name == "csr_matvec" else 12)
    assert status == lib.FF_EBADARG
    assert lib.ff_csr_matvec_i64_f64(ffi.NULL, ptr(data), ffi.NULL, ffi.NULL, ffi.NULL, 2, 3,
                                     2) == lib.FF_EBADARG


def test_bad_vectors_are_clear_errors():
    x = _x(5, 4, np.float64)
    with pytest.raises(ValueError, match="v"):
        csr_matvec(x, np.ones(5))
    with pytest.raises(ValueError, match="u"):
        csr_tmatvec(x, np.ones(4))
    with pytest.raises(TypeError, match="scipy.sparse"):
        csr_matvec(x.toarray(), np.ones(4))


def test_empty_shapes():
    assert csr_matvec(sp.csr_matrix((0, 3)), np.ones(3)).shape == (0,)
    np.testing.assert_array_equal(csr_tmatvec(sp.csr_matrix((0, 3)), np.ones(0)), np.zeros(3))
    np.testing.assert_array_equal(csr_matvec(sp.csr_matrix((4, 3)), np.ones(3)), np.zeros(4))
