"""ff_gemm_* against the float64 reference: every micro-kernel path this CPU has, both
dtypes, tail sizes, strides, transposes, alpha/beta, the fused epilogue, thread-count
invariance, argument checking, and hypothesis over shapes."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastfit
from fastfit import ops
from fastfit._lib import ACTIVATIONS, ffi, lib, ptr
from reference import activation_ref, assert_gemm_close, gemm_error_bound, gemm_ref

DTYPES = [np.float32, np.float64]
ALL_PATHS = {"generic": lib.FF_GEMM_PATH_GENERIC, "avx2": lib.FF_GEMM_PATH_AVX2,
             "avx512": lib.FF_GEMM_PATH_AVX512}
BEST = lib.ff_gemm_best_path()
PATHS = [name for name, p in ALL_PATHS.items() if p <= BEST]


@pytest.fixture(params=PATHS)
def path(request):
    """Run the test on one micro-kernel path, restoring automatic choice after."""
    assert lib.ff_gemm_set_path(ALL_PATHS[request.param]) == lib.FF_OK
    assert lib.ff_gemm_get_path() == ALL_PATHS[request.param]
    yield request.param
    lib.ff_gemm_set_path(lib.FF_GEMM_PATH_AUTO)


def raw_gemm(c, a, b, bias, m, n, k, lda, ldb, ldc, ta, tb, alpha, beta, act, slope):
    """Call the C kernel on (possibly larger, strided) buffers directly."""
    f = lib.ff_gemm_f32 if c.dtype == np.float32 else lib.ff_gemm_f64
    return f(ptr(c), ptr(a), ptr(b), ptr(bias), m, n, k, lda, ldb, ldc, int(ta), int(tb),
             alpha, beta, act, slope)


def operands(rng, m, n, k, dtype, ta=False, tb=False):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a, b


def check(out, a, b, k, dtype, msg="", **kw):
    ref = gemm_ref(a, b, **kw)
    bound_kw = {key: kw[key] for key in ("c", "bias", "alpha", "beta", "trans_a", "trans_b")
                if key in kw}
    assert_gemm_close(out, ref, gemm_error_bound(dtype, k, a, b, **bound_kw), err_msg=msg)


# ---- path control ------------------------------------------------------------------------

def test_path_control():
    assert BEST in ALL_PATHS.values()
    assert lib.ff_gemm_set_path(lib.FF_GEMM_PATH_AUTO) == lib.FF_OK
    assert lib.ff_gemm_get_path() == BEST
    assert lib.ff_gemm_set_path(-1) == lib.FF_EBADARG
    assert lib.ff_gemm_set_path(99) == lib.FF_EBADARG
    for p in ALL_PATHS.values():
        assert lib.ff_gemm_set_path(p) == (lib.FF_OK if p <= BEST else lib.FF_EBADARG)
    lib.ff_gemm_set_path(lib.FF_GEMM_PATH_AUTO)


# ---- shapes, tails, transposes -------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_tails_all_transposes(path, dtype):
    """M/N tails of every micro-tile size, K around the KC block, all four transposes."""
    rng = np.random.default_rng(1)
    cases = [(m, n, k) for m in (1, 5, 6, 7, 13, 31, 33) for n in (1, 15, 16, 17, 31, 33, 47, 49)
             for k in (1, 3, 17)]
    cases += [(m, n, k) for m, n in ((1, 1), (7, 49), (33, 17), (13, 33)) for k in (255, 257)]
    for i, (m, n, k) in enumerate(cases):
        ta, tb = bool(i & 1), bool(i & 2)
        a, b = operands(rng, m, n, k, dtype, ta, tb)
        c = ops.gemm(a, b, trans_a=ta, trans_b=tb)
        check(c, a, b, k, dtype, f"{path} m={m} n={n} k={k} ta={ta} tb={tb}",
              trans_a=ta, trans_b=tb)


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_trans_a(path, dtype):
    """A stored (K,M) with narrow N: the M-vectorised kernel. M around its row tile on every
    path (2..32 rows: shifted bottom tile, and too few rows for one tile), N around its
    column blocks (6 or 12) and limits (24; 64 or any N for M <= 128 at long K while A
    is at most 512 kB or N at most 128: (150, 700) takes the packed kernel at M = 100 in
    float64 only),
    beta, bias and activation."""
    rng = np.random.default_rng(11)
    i = 0
    for m in (1, 3, 4, 5, 8, 9, 16, 17, 31, 32, 33, 47, 100):
        for n, k in ((1, 5), (2, 1), (7, 40), (10, 33), (12, 7), (13, 3), (24, 9), (25, 2),
                     (40, 130), (64, 129), (65, 128), (30, 127), (150, 128), (150, 700)):
            i += 1
            tb = bool(i & 1)
            beta = (0.0, 0.5)[i % 2 == 0 and i % 3 != 0]
            act = ("identity", "leaky_relu", "sigmoid")[i % 3]
            a, b = operands(rng, m, n, k, dtype, True, tb)
            c0 = rng.standard_normal((m, n)).astype(dtype)
            bias = rng.standard_normal(n).astype(dtype) if i % 4 else None
            # beta == 0 must not read c: pass NaN there
            c_in = c0.copy() if beta else np.full_like(c0, np.nan)
            c = ops.gemm(a, b, c_in, bias=bias, alpha=1.5, beta=beta, trans_a=True,
                         trans_b=tb, activation=act)
            ref = gemm_ref(a, b, c=c0, bias=bias, alpha=1.5, beta=beta, trans_a=True,
                           trans_b=tb, activation=act)
            bound = gemm_error_bound(dtype, k, a, b, c=c0, bias=bias, alpha=1.5, beta=beta,
                                     trans_a=True, trans_b=tb)
            assert_gemm_close(c, ref, bound, err_msg=f"{path} m={m} n={n} k={k} tb={tb}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_trans_a_k_blocks(path, dtype):
    """A^T past 512 kB: the narrow kernel sums K in blocks (C += each block; the epilogue
    on the last; a K tail; the shifted bottom tile), beta, bias, activation, transposed B,
    and the same bits for any thread count."""
    rng = np.random.default_rng(12)
    for i, (m, n, k) in enumerate([(100, 1, 3000), (33, 7, 9001), (17, 24, 4100),
                                   (100, 101, 1500), (128, 12, 1025)]):
        tb = bool(i & 1)
        beta = 0.5 if i % 2 == 0 else 0.0
        a, b = operands(rng, m, n, k, dtype, True, tb)
        c0 = rng.standard_normal((m, n)).astype(dtype)
        bias = rng.standard_normal(n).astype(dtype)
        kw = dict(bias=bias, alpha=1.5, beta=beta, trans_a=True, trans_b=tb)
        c = ops.gemm(a, b, c0.copy() if beta else np.full_like(c0, np.nan), activation="tanh",
                     **kw)
        assert_gemm_close(c, gemm_ref(a, b, c=c0, activation="tanh", **kw),
                          gemm_error_bound(dtype, k, a, b, c=c0, **kw),
                          err_msg=f"{path} m={m} n={n} k={k}")
        with fastfit.num_threads(1):
            c1 = ops.gemm(a, b, c0.copy(), activation="tanh", **kw)
        with fastfit.num_threads(3):
            c3 = ops.gemm(a, b, c0.copy(), activation="tanh", **kw)
        assert np.array_equal(c1, c3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_dot(path, dtype):
    """A stored (M,K) with N <= 8 (12 for K >= 128) and K >= 32: dot products along K.
    M around the 4-row tile (fewer go to the panel kernel), N around the column blocks
    (2 or 4) and the limits, K around whole vectors (K mod VW is summed as a scalar tail),
    beta, bias and activation."""
    rng = np.random.default_rng(12)
    i = 0
    for m in (1, 2, 3, 4, 5, 7, 8, 9, 33):
        for n, k in ((1, 32), (2, 33), (3, 47), (4, 64), (5, 40), (1, 31), (2, 257), (4, 100),
                     (3, 16), (7, 81), (8, 35), (9, 127), (11, 128), (12, 200), (13, 300)):
            i += 1
            tb = bool(i & 1)
            beta = (0.0, 0.5)[i % 2 == 0 and i % 3 != 0]
            act = ("identity", "relu", "tanh")[i % 3]
            a, b = operands(rng, m, n, k, dtype, False, tb)
            c0 = rng.standard_normal((m, n)).astype(dtype)
            bias = rng.standard_normal(n).astype(dtype) if i % 4 else None
            c_in = c0.copy() if beta else np.full_like(c0, np.nan)
            c = ops.gemm(a, b, c_in, bias=bias, alpha=-0.75, beta=beta, trans_b=tb,
                         activation=act)
            ref = gemm_ref(a, b, c=c0, bias=bias, alpha=-0.75, beta=beta, trans_b=tb,
                           activation=act)
            bound = gemm_error_bound(dtype, k, a, b, c=c0, bias=bias, alpha=-0.75, beta=beta,
                                     trans_b=tb)
            assert_gemm_close(c, ref, bound, err_msg=f"{path} m={m} n={n} k={k} tb={tb}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_multi_block(path, dtype, ta, tb):
    """Several KC blocks and NC blocks (N past one packed B block), odd sizes."""
    rng = np.random.default_rng(2)
    m, n, k = 37, 1100 if dtype == np.float32 else 600, 531
    a, b = operands(rng, m, n, k, dtype, ta, tb)
    c = ops.gemm(a, b, trans_a=ta, trans_b=tb)
    check(c, a, b, k, dtype, f"{path} ta={ta} tb={tb}", trans_a=ta, trans_b=tb)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_1024(dtype):
    rng = np.random.default_rng(3)
    a, b = operands(rng, 1024, 1024, 1024, dtype)
    c = ops.matmul(a, b)
    check(c, a, b, 1024, dtype, "1024^3")


@pytest.mark.parametrize("dtype", DTYPES)
def test_degenerate_sizes(path, dtype):
    rng = np.random.default_rng(4)
    a, b = operands(rng, 1, 1, 1, dtype)
    np.testing.assert_allclose(ops.matmul(a, b), a @ b, rtol=1e-6)
    # M or N == 0: nothing to do, nothing touched
    assert ops.matmul(np.ones((0, 3), dtype), np.ones((3, 4), dtype)).shape == (0, 4)
    assert ops.matmul(np.ones((2, 3), dtype), np.ones((3, 0), dtype)).shape == (2, 0)
    # K == 0: c = act(beta*c + bias), and with beta == 0 the NaN in c is not read
    c = np.full((3, 5), np.nan, dtype)
    bias = rng.standard_normal(5).astype(dtype)
    out = ops.gemm(np.ones((3, 0), dtype), np.ones((0, 5), dtype), c, bias=bias, activation="relu")
    assert out is c
    np.testing.assert_array_equal(c, np.broadcast_to(np.maximum(bias, 0), (3, 5)))
    c0 = rng.standard_normal((3, 5)).astype(dtype)
    c = c0.copy()
    ops.gemm(np.ones((3, 0), dtype), np.ones((0, 5), dtype), c, bias=bias, beta=2.0,
             activation="tanh")
    np.testing.assert_allclose(c, np.tanh(2.0 * c0.astype(np.float64) + bias), rtol=1e-6)
    # alpha == 0: the product is skipped (inf * 0 would be NaN otherwise)
    a = np.full((4, 6), np.inf, dtype)
    c = np.ones((4, 3), dtype)
    ops.gemm(a, np.ones((6, 3), dtype), c, alpha=0.0, beta=3.0)
    np.testing.assert_array_equal(c, 3.0)


# ---- leading dimensions: sub-matrix views through lib directly ---------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_leading_dimensions(path, dtype):
    rng = np.random.default_rng(5)
    for (m, n, k) in [(5, 17, 3), (33, 49, 257), (13, 40, 31), (64, 33, 70)]:
        for ta in (False, True):
            for tb in (False, True):
                ar, ac = (k, m) if ta else (m, k)
                br, bc = (n, k) if tb else (k, n)
                abig = rng.standard_normal((ar, ac + 7)).astype(dtype)
                bbig = rng.standard_normal((br, bc + 3)).astype(dtype)
                cbig = rng.standard_normal((m, n + 5)).astype(dtype)
                c0 = cbig.copy()
                a, b = abig[:, :ac], bbig[:, :bc]
                st_ = raw_gemm(cbig, abig, bbig, None, m, n, k, ac + 7, bc + 3, n + 5, ta, tb,
                               1.5, 0.5, lib.FF_ACT_IDENTITY, 0.0)
                assert st_ == lib.FF_OK
                msg = f"{path} m={m} n={n} k={k} ta={ta} tb={tb}"
                check(cbig[:, :n], a, b, k, dtype, msg, c=c0[:, :n], alpha=1.5, beta=0.5,
                      trans_a=ta, trans_b=tb)
                # the columns between n and ldc are not touched
                np.testing.assert_array_equal(cbig[:, n:], c0[:, n:], err_msg=msg)


@pytest.mark.parametrize("dtype", DTYPES)
def test_short_rows(path, dtype):
    """1-4 rows of A stored (M,K) by B stored (K,N): the unpacked short-product kernel
    (one-row predictions), every accumulator block width (16/8/4 vectors) and its column
    tail, leading dimensions, beta (NaN in c when beta == 0), bias and activation; and
    5 rows, which goes back to the packed kernel."""
    rng = np.random.default_rng(17)
    i = 0
    for m in (1, 2, 3, 4, 5):
        for n in (1, 7, 16, 17, 64, 65, 129, 256, 300):
            for k in (1, 9, 64, 300):
                i += 1
                beta = 0.5 if i % 3 == 0 else 0.0
                act = ("identity", "relu", "tanh", "gelu")[i % 4]
                abig = rng.standard_normal((m, k + 3)).astype(dtype)
                bbig = rng.standard_normal((k, n + 2)).astype(dtype)
                bbig[:, n:] = np.nan   # read by the tail's whole-vector loads, never summed in
                c0 = rng.standard_normal((m, n)).astype(dtype)
                cbig = np.full((m, n + 5), np.nan, dtype)
                if beta:
                    cbig[:, :n] = c0
                bias = rng.standard_normal(n).astype(dtype) if i % 2 else None
                st_ = raw_gemm(cbig, abig, bbig, bias, m, n, k, k + 3, n + 2, n + 5, False, False,
                               1.5, beta, ACTIVATIONS[act], 0.0)
                assert st_ == lib.FF_OK
                a, b = abig[:, :k], bbig[:, :n]
                ref = gemm_ref(a, b, c=c0, bias=bias, alpha=1.5, beta=beta, activation=act)
                bound = gemm_error_bound(dtype, k, a, b, c=c0, bias=bias, alpha=1.5, beta=beta)
                msg = f"{path} m={m} n={n} k={k} beta={beta} act={act}"
                assert_gemm_close(cbig[:, :n], ref, bound, err_msg=msg)
                assert np.isnan(cbig[:, n:]).all(), msg  # nothing past n written


@pytest.mark.parametrize("dtype", DTYPES)
def test_short_rows_exact_b(path, dtype):
    """B allocated exactly (K*N values, ldb == N): the column tail's whole-vector loads
    stop before B's end (ASan in CI would report a read past it), for every tail width
    and K from 1 row (all lane by lane) up."""
    rng = np.random.default_rng(18)
    for m in (1, 2, 4):
        for n in (1, 3, 10, 15, 17, 31, 33):
            for k in (1, 2, 3, 256):
                a = rng.standard_normal((m, k)).astype(dtype)
                b = rng.standard_normal((k, n)).astype(dtype)
                c = np.empty((m, n), dtype)
                assert raw_gemm(c, a, b, None, m, n, k, k, n, n, False, False, 1.0, 0.0,
                                ACTIVATIONS["identity"], 0.0) == lib.FF_OK
                assert_gemm_close(c, gemm_ref(a, b), gemm_error_bound(dtype, k, a, b),
                                  err_msg=f"{path} m={m} n={n} k={k}")


# ---- alpha, beta, NaN in c -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_alpha_beta(path, dtype):
    rng = np.random.default_rng(6)
    for (m, n, k) in [(7, 33, 17), (40, 70, 300)]:
        a, b = operands(rng, m, n, k, dtype)
        for alpha, beta in [(1.0, 1.0), (-0.5, 2.0), (2.0, 0.0), (1.0, -1.0)]:
            c0 = rng.standard_normal((m, n)).astype(dtype)
            c = ops.gemm(a, b, c0.copy(), alpha=alpha, beta=beta)
            check(c, a, b, k, dtype, f"alpha={alpha} beta={beta}", c=c0, alpha=alpha, beta=beta)


@pytest.mark.parametrize("dtype", DTYPES)
def test_beta_zero_ignores_nan(path, dtype):
    rng = np.random.default_rng(7)
    for (m, n, k) in [(9, 17, 5), (64, 64, 600)]:
        a, b = operands(rng, m, n, k, dtype)
        c = np.full((m, n), np.nan, dtype)
        ops.gemm(a, b, c, beta=0.0)
        assert np.isfinite(c).all()
        check(c, a, b, k, dtype)


# ---- fused epilogue --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["identity", "relu", "leaky_relu", "tanh", "sigmoid", "gelu"])
def test_epilogue(path, dtype, activation):
    rng = np.random.default_rng(8)
    for (m, n, k) in [(13, 31, 17), (33, 49, 300)]:
        for ta in (False, True):
            a, b = operands(rng, m, n, k, dtype, ta)
            a *= 0.3
            bias = rng.standard_normal(n).astype(dtype)
            c0 = rng.standard_normal((m, n)).astype(dtype)
            c = ops.gemm(a, b, c0.copy(), bias=bias, beta=0.5, trans_a=ta,
                         activation=activation, negative_slope=0.2)
            check(c, a, b, k, dtype, f"{activation} ta={ta}", c=c0, bias=bias, beta=0.5,
                  trans_a=ta, activation=activation, negative_slope=0.2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["identity", "relu"])
def test_plain_product_epilogue_in_registers(path, dtype, activation):
    """alpha 1, beta 0: full tiles take bias and ReLU in registers, edge tiles after the
    store; the same bits either way, so a row or column does not depend on the shape
    around it. A NaN row stays NaN through ReLU."""
    rng = np.random.default_rng(9)
    for k in (17, 300):   # one K block, two
        a, b = operands(rng, 40, 70, k, dtype, False)
        bias = rng.standard_normal(70).astype(dtype)
        for bs in (bias, None):
            c = ops.gemm(a, b, bias=bs, activation=activation)
            check(c, a, b, k, dtype, f"{activation} k={k}", bias=bs, activation=activation)
            part = ops.gemm(a[:37], b[:, :40], bias=None if bs is None else bs[:40],
                            activation=activation)
            np.testing.assert_array_equal(part, c[:37, :40])
        a[3, 0] = np.nan
        c = ops.gemm(a, b, bias=bias, activation=activation)
        assert np.isnan(c[3]).all() and np.isfinite(np.delete(c, 3, axis=0)).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_epilogue_extremes(dtype):
    """Saturating inputs: sigmoid/tanh finite at +-1e4, relu keeps NaN like torch.relu."""
    z = np.array([[-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4]], dtype)
    eye = np.ones((1, 1), dtype)
    for act in ("sigmoid", "tanh", "gelu", "relu", "leaky_relu"):
        y = ops.gemm(eye, z, activation=act)
        assert np.isfinite(y).all(), act
        np.testing.assert_allclose(y, activation_ref(z, act), rtol=1e-6, atol=1e-30)
    y = ops.gemm(eye, np.array([[np.nan, -1.0]], dtype), activation="relu")
    assert np.isnan(y[0, 0]) and y[0, 1] == 0


# ---- determinism -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
def test_threads_bitwise(path, dtype, ta, tb):
    rng = np.random.default_rng(9)
    for (m, n, k) in [(256, 64, 256), (300, 10, 700), (129, 700, 300), (257, 24, 999),
                      (75, 64, 4000), (3001, 2, 77), (501, 4, 1000), (1003, 11, 300),
                      (100, 300, 256)]:
        a, b = operands(rng, m, n, k, dtype, ta, tb)
        bias = rng.standard_normal(n).astype(dtype)
        with fastfit.num_threads(1):
            c1 = ops.gemm(a, b, bias=bias, trans_a=ta, trans_b=tb, activation="gelu")
        with fastfit.num_threads(2):
            c2 = ops.gemm(a, b, bias=bias, trans_a=ta, trans_b=tb, activation="gelu")
        with fastfit.num_threads(3):
            c3 = ops.gemm(a, b, bias=bias, trans_a=ta, trans_b=tb, activation="gelu")
        assert np.array_equal(c1, c2) and np.array_equal(c1, c3), (m, n, k)


# ---- hypothesis --------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(m=st.integers(1, 70), n=st.integers(1, 90), k=st.integers(0, 300),
       ta=st.booleans(), tb=st.booleans(), f64=st.booleans(), beta=st.sampled_from([0.0, 1.0, -0.5]),
       path=st.sampled_from(PATHS), seed=st.integers(0, 2**31 - 1))
def test_hypothesis_shapes(m, n, k, ta, tb, f64, beta, path, seed):
    dtype = np.float64 if f64 else np.float32
    rng = np.random.default_rng(seed)
    a, b = operands(rng, m, n, k, dtype, ta, tb)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    lib.ff_gemm_set_path(ALL_PATHS[path])
    try:
        c = ops.gemm(a, b, c0.copy(), beta=beta, trans_a=ta, trans_b=tb)
    finally:
        lib.ff_gemm_set_path(lib.FF_GEMM_PATH_AUTO)
    check(c, a, b, k, dtype, f"{path}", c=c0, beta=beta, trans_a=ta, trans_b=tb)


# ---- wrapper and C argument checks -------------------------------------------------------------

def test_transposed_views_need_no_copy():
    rng = np.random.default_rng(10)
    a = rng.standard_normal((40, 30)).astype(np.float32)
    b = rng.standard_normal((50, 40)).astype(np.float32)
    c = ops.matmul(a.T, b.T)  # F-contiguous views: read as transposes
    check(c, a, b, 40, np.float32, trans_a=True, trans_b=True)
    c = ops.gemm(a.T, b, trans_b=True)
    check(c, a.T, b.T, 40, np.float32)


def test_wrapper_rejects():
    f32 = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError):
        ops.matmul(np.ones((3, 4), np.int64), np.ones((4, 2), np.int64))
    with pytest.raises(TypeError):
        ops.matmul(f32, np.ones((4, 2), np.float64))
    with pytest.raises(ValueError):
        ops.matmul(f32, np.ones((3, 2), np.float32))
    with pytest.raises(ValueError):
        ops.matmul(np.ones(4, np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError):
        ops.gemm(f32, np.ones((4, 2), np.float32), bias=np.ones(3, np.float32))
    with pytest.raises(TypeError):
        ops.gemm(f32, np.ones((4, 2), np.float32), bias=np.ones(2, np.float64))
    with pytest.raises(ValueError):
        ops.gemm(f32, np.ones((4, 2), np.float32), activation="softplus")
    with pytest.raises(ValueError):
        ops.gemm(f32, np.ones((4, 2), np.float32), beta=1.0)  # no c to scale
    with pytest.raises(ValueError):
        ops.gemm(f32, np.ones((4, 2), np.float32), np.ones((3, 3), np.float32))
    with pytest.raises(TypeError):
        ops.gemm(f32, np.ones((4, 2), np.float32), np.ones((3, 2), np.float64))


def test_c_rejects_bad_arguments():
    a = np.ones((4, 4), np.float32)
    c = np.ones((4, 4), np.float32)
    ok = dict(m=4, n=4, k=4, lda=4, ldb=4, ldc=4)

    def call(**kw):
        args = {**ok, **kw}
        return lib.ff_gemm_f32(kw.get("cp", ptr(c)), kw.get("ap", ptr(a)), kw.get("bp", ptr(a)),
                               ffi.NULL, args["m"], args["n"], args["k"], args["lda"], args["ldb"],
                               args["ldc"], 0, 0, 1.0, 0.0, kw.get("act", 0), 0.0)

    assert call() == lib.FF_OK
    for bad in (dict(m=-1), dict(n=-1), dict(k=-1), dict(lda=3), dict(ldb=3), dict(ldc=3),
                dict(act=6), dict(act=-1), dict(ap=ffi.NULL), dict(bp=ffi.NULL),
                dict(cp=ffi.NULL)):
        assert call(**bad) == lib.FF_EBADARG, bad
    f = lib.ff_gemm_f64
    assert f(ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, 0, 5, 5, 5, 5, 5, 0, 0, 1.0, 0.0, 0, 0.0) == lib.FF_OK
