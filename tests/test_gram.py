"""ff_gram_* (ops.gram) against the float64 reference: every micro-kernel path this CPU
has, both dtypes, sizes 1 and odd, the micro-tile tails on either side of the diagonal,
several column blocks, weights (any sign) or none, the appended column, beta, exact
symmetry, thread-count invariance and argument checking."""

import numpy as np
import pytest

import fastfit
from fastfit import ops
from fastfit._lib import ffi, lib, ptr
from reference import assert_gemm_close, gram_error_bound, gram_ref
from test_gemm import path  # noqa: F401 - the micro-kernel path fixture

DTYPES = [np.float32, np.float64]
# p around the tile sizes (MR 4/6/8, NR 8..32 lanes), n around the K block (256)
SHAPES = [(1, 1), (0, 3), (5, 1), (3, 7), (257, 8), (255, 9), (256, 16), (300, 17),
          (31, 33), (513, 47), (100, 100), (1000, 101), (70, 300)]


def _case(rng, n, p, dtype, weighted):
    a = rng.standard_normal((n, p)).astype(dtype)
    w = rng.standard_normal(n).astype(dtype) if weighted else None
    return a, w


def _check(got, dtype, a, w, **kw):
    assert got.dtype == dtype
    assert np.array_equal(got, got.T)  # the lower triangle is the upper's copy
    assert_gemm_close(got, gram_ref(a, w, **kw), gram_error_bound(dtype, a, w, **kw))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("append", [None, 0.5])
@pytest.mark.parametrize("weighted", [False, True])
def test_shapes(path, dtype, append, weighted):
    rng = np.random.default_rng(1)
    for n, p in SHAPES:
        a, w = _case(rng, n, p, dtype, weighted)
        _check(ops.gram(a, w, append=append), dtype, a, w, append=append)


@pytest.mark.parametrize("dtype", DTYPES)
def test_several_column_blocks(dtype):
    # past the packed B block's width (256 float64 / 512 float32 columns): the tiles of
    # the later column blocks left of the diagonal are skipped whole
    rng = np.random.default_rng(2)
    for n, p in [(300, 600), (40, 1100)]:
        a, w = _case(rng, n, p, dtype, True)
        _check(ops.gram(a, w, append=2.0), dtype, a, w, append=2.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_row_chunks(dtype):
    # from 8 chunks of 2048 rows on, fixed row chunks run one per thread into partials
    # added in chunk order (beta's term first)
    rng = np.random.default_rng(6)
    for n, p in [(16384, 5), (20000, 37), (70001, 16)]:
        a, w = _case(rng, n, p, dtype, True)
        _check(ops.gram(a, w, append=0.25), dtype, a, w, append=0.25)
        c0 = rng.standard_normal((p, p)).astype(dtype)
        c = c0.copy()
        ops.gram(a, None, c, beta=-2.0)
        _check(c, dtype, a, None, c=c0, beta=-2.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("append", [None, -1.5])
def test_beta_uses_only_the_upper_triangle(dtype, append):
    rng = np.random.default_rng(3)
    for n, p in [(50, 1), (300, 21), (600, 100)]:
        a, w = _case(rng, n, p, dtype, True)
        q = p + (append is not None)
        c0 = rng.standard_normal((q, q)).astype(dtype)
        c0[np.tril_indices(q, -1)] = np.nan  # never used
        c = c0.copy()
        assert ops.gram(a, w, c, beta=0.75, append=append) is c
        _check(c, dtype, a, w, c=c0, beta=0.75, append=append)
        c = np.full((q, q), np.nan, dtype)  # beta == 0: c not read at all
        ops.gram(a, w, c, append=append)
        _check(c, dtype, a, w, append=append)


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_rows_and_no_columns(dtype):
    c = np.ones((3, 3), dtype)
    ops.gram(np.empty((0, 2), dtype), None, c, beta=2.0, append=1.0)
    assert np.array_equal(c, np.full((3, 3), 2.0, dtype))
    assert ops.gram(np.empty((4, 0), dtype)).shape == (0, 0)
    w = np.array([1.0, 2.0, 3.0], dtype)
    got = ops.gram(np.empty((3, 0), dtype), w, append=2.0)
    assert got.shape == (1, 1) and got[0, 0] == 24.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_bitwise(dtype):
    rng = np.random.default_rng(4)
    for n, p in [(4096, 101), (2000, 300), (700, 64), (50000, 20), (17000, 101)]:
        a, w = _case(rng, n, p, dtype, True)
        with fastfit.num_threads(1):
            g1 = ops.gram(a, w, append=1.0)
        for t in (2, 3):
            with fastfit.num_threads(t):
                assert np.array_equal(ops.gram(a, w, append=1.0), g1), (n, p, t)


def test_matches_the_full_gemm_bitwise_on_the_upper_triangle():
    # the kept tiles are the packed GEMM's own tiles: the same sums in the same order
    rng = np.random.default_rng(5)
    a = rng.standard_normal((700, 150))
    full = ops.gemm(a, np.ascontiguousarray(a), trans_a=True)
    up = np.triu_indices(150)
    assert np.array_equal(ops.gram(a)[up], full[up])


def test_bad_arguments():
    a = np.ones((5, 3))
    with pytest.raises(TypeError):
        ops.gram(a.astype(np.int64))
    with pytest.raises(TypeError):
        ops.gram(a, np.ones(5, np.float32))
    with pytest.raises(ValueError, match="weights"):
        ops.gram(a, np.ones(4))
    with pytest.raises(ValueError, match="beta"):
        ops.gram(a, beta=1.0)
    with pytest.raises(ValueError, match="shape"):
        ops.gram(a, c=np.zeros((4, 4)))
    with pytest.raises(ValueError, match="shape"):
        ops.gram(a, c=np.zeros((3, 3)), append=1.0)
    with pytest.raises(TypeError):
        ops.gram(a, c=np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        ops.gram(a, c=np.zeros((3, 6))[:, ::2])
    buf = np.zeros(30)
    with pytest.raises(ValueError, match="share memory"):
        ops.gram(buf[:15].reshape(5, 3), c=buf[6:15].reshape(3, 3))


def test_the_kernel_checks_its_arguments():
    c, a = np.zeros(9), np.ones(6)
    f = lib.ff_gram_f64
    assert f(ptr(c), ptr(a), ffi.NULL, -1, 3, 3, 3, 0.0, 0, 0.0) == lib.FF_EBADARG
    assert f(ptr(c), ptr(a), ffi.NULL, 2, 3, 2, 3, 0.0, 0, 0.0) == lib.FF_EBADARG   # lda < p
    assert f(ptr(c), ptr(a), ffi.NULL, 2, 3, 3, 2, 0.0, 0, 0.0) == lib.FF_EBADARG   # ldc < q
    assert f(ptr(c), ptr(a), ffi.NULL, 2, 2, 3, 3, 0.0, 1, 1.0) == lib.FF_OK        # strided a
    assert f(ffi.NULL, ptr(a), ffi.NULL, 2, 3, 3, 3, 0.0, 0, 0.0) == lib.FF_EBADARG
