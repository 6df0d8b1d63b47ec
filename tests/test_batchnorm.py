"""Batch normalisation (training forward, inference, backward) against float64
references, finite differences, torch autograd, and thread-count determinism."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastfit
from fastfit import ops
from fastfit._lib import ffi, lib
from reference import (assert_close, batchnorm_backward_ref, batchnorm_forward_ref,
                       batchnorm_inference_ref)

DTYPES = [np.float32, np.float64]
SHAPES = [(1, 1), (1, 5), (2, 3), (7, 13), (15, 17), (33, 31), (65, 63), (256, 256), (32, 64),
          (513, 3), (2048, 130)]  # 2048 x 130 crosses the parallel threshold


def _data(n, c, dtype, seed=0, loc=0.0):
    rng = np.random.default_rng(seed)
    x = (loc + rng.standard_normal((n, c)) * rng.uniform(0.5, 2, c)).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    dy = rng.standard_normal((n, c)).astype(dtype)
    return x, gamma, beta, dy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_backward_vs_reference(shape, dtype):
    n, c = shape
    x, gamma, beta, dy = _data(n, c, dtype)
    rm = np.zeros(c, dtype)
    rv = np.ones(c, dtype)
    y, mean, rstd = ops.batchnorm_forward(x, gamma, beta, 1e-5, rm, rv, 0.1)
    y_ref, mean_ref, rstd_ref, var_unb = batchnorm_forward_ref(x, gamma, beta)
    assert_close(y, y_ref, dtype, scale=10)
    assert_close(mean, mean_ref, dtype, scale=5)
    assert_close(rstd, rstd_ref, dtype, scale=10)
    if n > 1:
        assert_close(rm, 0.1 * mean_ref, dtype, scale=5)
        assert_close(rv, 0.9 + 0.1 * var_unb, dtype, scale=10)
    else:  # one row: running statistics untouched, y = beta
        np.testing.assert_array_equal(rm, 0)
        np.testing.assert_array_equal(rv, 1)
        np.testing.assert_array_equal(y, np.broadcast_to(beta, y.shape))
    dx, dgamma, dbeta = ops.batchnorm_backward(dy, x, gamma, mean, rstd)
    dx_ref, dgamma_ref, dbeta_ref = batchnorm_backward_ref(dy, x, gamma)
    scale = 10 * np.sqrt(n)  # sums over n rows
    assert_close(dx, dx_ref, dtype, scale=scale)
    assert_close(dgamma, dgamma_ref, dtype, scale=scale)
    assert_close(dbeta, dbeta_ref, dtype, scale=scale)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_mean(dtype):
    """x ~ 1000 + N(0,1): a naive sum-of-squares variance would lose it in float32."""
    x, gamma, beta, dy = _data(4096, 24, dtype, seed=1, loc=1000.0)
    y, mean, rstd = ops.batchnorm_forward(x, gamma, beta)
    y_ref, mean_ref, rstd_ref, _ = batchnorm_forward_ref(x, gamma, beta)
    # float32: mean itself is rounded to ~3e-5 (half an ulp of 1000), which shifts y by that much
    tol = dict(rtol=1e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(rstd, rstd_ref, **tol)
    np.testing.assert_allclose(y, y_ref, **tol)
    dx, dgamma, dbeta = ops.batchnorm_backward(dy, x, gamma, mean, rstd)
    dx_ref, dgamma_ref, dbeta_ref = batchnorm_backward_ref(dy, x, gamma)
    tol = dict(rtol=1e-3, atol=2e-3) if dtype == np.float32 else dict(rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(dx, dx_ref, **tol)
    np.testing.assert_allclose(dgamma, dgamma_ref, **tol)


def test_backward_accumulates_and_writes_dx():
    x, gamma, beta, dy = _data(50, 9, np.float64)
    y, mean, rstd = ops.batchnorm_forward(x, gamma, beta)
    dx0, dg0, db0 = ops.batchnorm_backward(dy, x, gamma, mean, rstd)
    dx = np.full_like(x, np.nan)  # written, never read
    dg = np.ones(9)
    db = np.full(9, 2.0)
    p = lambda a: ffi.from_buffer("double[]", a)  # noqa: E731
    for _ in range(2):
        assert lib.ff_batchnorm_backward_f64(p(dx), p(dg), p(db), p(dy), p(x), p(gamma), p(mean),
                                             p(rstd), 50, 9) == 0
    np.testing.assert_array_equal(dx, dx0)
    np.testing.assert_allclose(dg, 1 + 2 * dg0, rtol=1e-12)
    np.testing.assert_allclose(db, 2 + 2 * db0, rtol=1e-12)


def test_finite_differences_f64():
    n, c = 6, 3
    x, gamma, beta, dy = _data(n, c, np.float64, seed=3)

    def loss(x_, g_, b_):
        return float((ops.batchnorm_forward(x_, g_, b_)[0] * dy).sum())

    _, mean, rstd = ops.batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = ops.batchnorm_backward(dy, x, gamma, mean, rstd)
    h = 1e-6
    for arr, grad, which in ((x, dx, 0), (gamma, dgamma, 1), (beta, dbeta, 2)):
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            args = [x.copy(), gamma.copy(), beta.copy()]
            args[which][idx] += h
            up = loss(*args)
            args[which][idx] -= 2 * h
            num[idx] = (up - loss(*args)) / (2 * h)
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_parity(dtype):
    torch = pytest.importorskip("torch")
    n, c = 300, 20
    x, gamma, beta, dy = _data(n, c, dtype, seed=4)
    rm, rv = np.zeros(c, dtype), np.ones(c, dtype)
    trm, trv = torch.zeros(c, dtype=torch.from_numpy(x).dtype), torch.ones(c, dtype=torch.from_numpy(x).dtype)
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    for _step in range(3):  # running statistics over several steps
        yt = torch.nn.functional.batch_norm(xt, trm, trv, gt, bt, training=True, momentum=0.2, eps=1e-5)
        y, mean, rstd = ops.batchnorm_forward(x, gamma, beta, 1e-5, rm, rv, 0.2)
    yt.backward(torch.tensor(dy))
    dx, dgamma, dbeta = ops.batchnorm_backward(dy, x, gamma, mean, rstd)
    s = 50 if dtype == np.float32 else 10
    assert_close(y, yt.detach().numpy(), dtype, scale=s)
    assert_close(rm, trm.numpy(), dtype, scale=s)
    assert_close(rv, trv.numpy(), dtype, scale=s)
    assert_close(dx, xt.grad.numpy(), dtype, scale=s)
    assert_close(dgamma, gt.grad.numpy(), dtype, scale=s * 10)
    assert_close(dbeta, bt.grad.numpy(), dtype, scale=s * 10)
    # evaluation mode with the running statistics
    ye = torch.nn.functional.batch_norm(torch.tensor(x), trm, trv, gt.detach(), bt.detach(), training=False)
    assert_close(ops.batchnorm_inference(x, gamma, beta, rm, rv), ye.numpy(), dtype, scale=s)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 4), (9, 5), (700, 33)])
def test_inference(shape, dtype):
    n, c = shape
    x, gamma, beta, _ = _data(n, c, dtype, seed=5)
    rng = np.random.default_rng(6)
    rm = rng.standard_normal(c).astype(dtype)
    rv = rng.uniform(0.5, 2, c).astype(dtype)
    assert_close(ops.batchnorm_inference(x, gamma, beta, rm, rv),
                 batchnorm_inference_ref(x, gamma, beta, rm, rv), dtype, scale=5)


@pytest.mark.parametrize("shape", [(65536, 40), (20000, 5), (300000, 1), (1024, 1000)])
def test_threads_bitwise(shape):
    """Row blocks and their combination order do not depend on the thread count."""
    n, c = shape
    x, gamma, beta, dy = _data(n, c, np.float32, seed=7, loc=3.0)
    out = []
    for t in (1, 2):
        with fastfit.num_threads(t):
            rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
            y, mean, rstd = ops.batchnorm_forward(x, gamma, beta, 1e-5, rm, rv)
            out.append((y, mean, rstd, rm, rv, *ops.batchnorm_backward(dy, x, gamma, mean, rstd),
                        ops.batchnorm_inference(x, gamma, beta, rm, rv)))
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)


# Outputs of >= 8 MiB with rows of >= 256 bytes take the non-temporal store path on CPUs
# with AVX-512; odd widths give rows that start off a 64-byte boundary (plain-store heads
# and tails), 256 columns aligned rows.
STREAM_SHAPES = [(np.float32, (4099, 515)), (np.float32, (8200, 256)), (np.float64, (2053, 517))]


@pytest.mark.parametrize("dtype,shape", STREAM_SHAPES)
def test_streaming_outputs(dtype, shape):
    n, c = shape
    x, gamma, beta, dy = _data(n, c, dtype, seed=8, loc=2.0)
    out = []
    for t in (1, 2):
        with fastfit.num_threads(t):
            y, mean, rstd = ops.batchnorm_forward(x, gamma, beta)
            out.append((y, mean, rstd, *ops.batchnorm_backward(dy, x, gamma, mean, rstd)))
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)
    y, mean, rstd, dx, dgamma, dbeta = out[0]
    y_ref, mean_ref, rstd_ref, _ = batchnorm_forward_ref(x, gamma, beta)
    assert_close(y, y_ref, dtype, scale=10)
    assert_close(rstd, rstd_ref, dtype, scale=10)
    dx_ref, dgamma_ref, dbeta_ref = batchnorm_backward_ref(dy, x, gamma)
    scale = 10 * np.sqrt(n)
    assert_close(dx, dx_ref, dtype, scale=scale)
    assert_close(dgamma, dgamma_ref, dtype, scale=scale)
    assert_close(dbeta, dbeta_ref, dtype, scale=scale)


@pytest.mark.parametrize("dtype,shape", STREAM_SHAPES)
def test_streaming_inference_same_bits(dtype, shape):
    """The streaming kernel computes exactly what the small-size kernel does."""
    n, c = shape
    x, gamma, beta, _ = _data(n, c, dtype, seed=9)
    rng = np.random.default_rng(10)
    rm = rng.standard_normal(c).astype(dtype)
    rv = rng.uniform(0.5, 2, c).astype(dtype)
    big = ops.batchnorm_inference(x, gamma, beta, rm, rv)
    for r0 in (0, n // 2, n - 7):
        small = ops.batchnorm_inference(np.ascontiguousarray(x[r0:r0 + 7]), gamma, beta, rm, rv)
        np.testing.assert_array_equal(big[r0:r0 + 7], small)
    assert_close(big, batchnorm_inference_ref(x, gamma, beta, rm, rv), dtype, scale=5)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 300), c=st.integers(1, 40), dtype=st.sampled_from(DTYPES),
       loc=st.sampled_from([0.0, 50.0]))
def test_property_normalised_output(n, c, dtype, loc):
    x, _, _, _ = _data(n, c, dtype, seed=n * 1000 + c, loc=loc)
    gamma, beta = np.ones(c, dtype), np.zeros(c, dtype)
    y, mean, rstd = ops.batchnorm_forward(x, gamma, beta, eps=0.0)
    tol = 2e-3 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(y.astype(np.float64).mean(axis=0), 0, atol=tol)
    np.testing.assert_allclose(y.astype(np.float64).var(axis=0), 1, atol=tol * 5)
    y_ref, mean_ref, _, _ = batchnorm_forward_ref(x, gamma, beta, eps=0.0)
    np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


def test_wrappers_reject_bad_input():
    x, g, b, dy = _data(4, 3, np.float32)
    m, r = np.zeros(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(TypeError):
        ops.batchnorm_forward(x.astype(np.int32), g, b)
    with pytest.raises(TypeError):
        ops.batchnorm_forward(x, g.astype(np.float64), b)
    with pytest.raises(ValueError):
        ops.batchnorm_forward(x[0], g, b)
    with pytest.raises(ValueError):
        ops.batchnorm_forward(x, g[:2], b)
    with pytest.raises(TypeError):
        ops.batchnorm_forward(x, g, b, running_mean=np.zeros(3))
    with pytest.raises(ValueError):
        ops.batchnorm_forward(x, g, b, running_var=np.ones(4, np.float32))
    with pytest.raises(ValueError):
        ops.batchnorm_forward(x, g, b, eps=-1.0)  # FF_EBADARG from C
    with pytest.raises(ValueError):
        ops.batchnorm_forward(x, g, b, momentum=1.5)
    with pytest.raises(TypeError):
        ops.batchnorm_backward(dy, x.astype(np.float64), g, m, r)
    with pytest.raises(ValueError):
        ops.batchnorm_backward(dy, x[:3], g, m, r)
    with pytest.raises(ValueError):
        ops.batchnorm_backward(dy, x, g, m[:1], r)
    with pytest.raises(ValueError):
        ops.batchnorm_inference(x, g, b, m, r[:2])


def test_c_rejects_bad_arguments():
    a = np.ones(8, np.float32)
    p = ffi.from_buffer("float[]", a)
    N = ffi.NULL
    assert lib.ff_batchnorm_forward_f32(p, p, p, N, N, p, p, p, -1, 2, 1e-5, 0.1) == lib.FF_EBADARG
    assert lib.ff_batchnorm_forward_f32(p, N, p, N, N, p, p, p, 2, 2, 1e-5, 0.1) == lib.FF_EBADARG
    assert lib.ff_batchnorm_forward_f32(p, p, p, N, N, p, p, p, 2, 2, float("nan"), 0.1) == lib.FF_EBADARG
    assert lib.ff_batchnorm_backward_f32(p, p, N, p, p, p, p, p, 2, 2) == lib.FF_EBADARG
    assert lib.ff_batchnorm_backward_f32(p, p, p, p, p, p, p, p, 2, -2) == lib.FF_EBADARG
    assert lib.ff_batchnorm_inference_f32(p, p, p, p, N, p, 2, 2, 1e-5) == lib.FF_EBADARG
    assert lib.ff_batchnorm_forward_f32(N, N, N, N, N, N, N, N, 0, 4, 1e-5, 0.1) == lib.FF_OK


def test_short_lived_threads_get_correct_results_and_free_their_scratch():
    # Each calling thread keeps its own scratch (csrc/runtime.c), freed at thread exit.
    # A 16384 x 256 batch needs 1 MB of it (256 blocks of partial sums; each OpenMP worker
    # has its own too): a scratch leaked per thread, as the first _Thread_local version
    # did, stays allocated. Counted as glibc's bytes in use (mallinfo2, all arenas):
    # RSS was too noisy -- glibc's per-thread arenas keep 0-20 MB of freed memory
    # depending on what ran before, which failed this test in CI without any leak.
    import ctypes
    import os
    import threading

    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("AddressSanitizer replaces malloc: mallinfo2 says nothing there")
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    mallinfo2.restype = MallInfo2

    def in_use_mb():
        info = mallinfo2()
        return (info.uordblks + info.hblkhd) / 2**20

    x = np.random.default_rng(5).standard_normal((16384, 256)).astype(np.float32)
    gamma, beta = np.ones(256, np.float32), np.zeros(256, np.float32)
    expected = ops.batchnorm_forward(x, gamma, beta)[0]
    results = []

    def work():  # keep a verdict, not the 16 MB output
        results.append(np.array_equal(ops.batchnorm_forward(x, gamma, beta)[0], expected))

    def run(k):
        for _ in range(k):
            t = threading.Thread(target=work)
            t.start()
            t.join()

    run(10)  # the first threads' one-off allocations (OpenMP, NumPy)
    results.clear()
    before = in_use_mb()
    run(100)
    assert in_use_mb() - before < 12   # a leak: >= 100 MB
    assert len(results) == 100 and all(results)
