"""GEMM and linear layer against NumPy's BLAS (OpenBLAS) ``@`` on training shapes,
2 threads, float32: the plain products and the transposed ones the backward pass uses.

Run: PYTHONPATH=benchmarks python -m pytest benchmarks/bench_gemm.py --benchmark-only -s \
        -p no:cacheprovider --import-mode=importlib
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from _compare import compare
from conftest import BENCH_THREADS
from fastfit import ops
from fastfit._lib import ffi, lib, ptr

# (M, K, N): (batch x in) @ (in x out)
SHAPES = [(256, 64, 256), (256, 256, 256), (256, 256, 10), (4096, 256, 256), (1024, 1024, 1024)]
IDS = [f"{m}x{k}.{k}x{n}" for m, k, n in SHAPES]


@pytest.fixture(autouse=True)
def _blas_threads():
    with threadpool_limits(BENCH_THREADS, user_api="blas"):
        yield


def _operands(m, k, n):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((m, k)).astype(np.float32),
            rng.standard_normal((k, n)).astype(np.float32))


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_matmul(benchmark, shape):
    a, b = _operands(*shape)
    compare(benchmark, lambda: ops.matmul(a, b), lambda: a @ b, baseline_name="numpy")


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_matmul_trans_a(benchmark, shape):
    """x^T @ dy, as the weight gradient computes it (a stored transposed)."""
    a, b = _operands(*shape)
    at = np.ascontiguousarray(a.T)
    compare(benchmark, lambda: ops.gemm(at, b, trans_a=True), lambda: at.T @ b,
            baseline_name="numpy")


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_matmul_trans_b(benchmark, shape):
    """dy @ w^T, as the input gradient computes it (b stored transposed)."""
    a, b = _operands(*shape)
    bt = np.ascontiguousarray(b.T)
    compare(benchmark, lambda: ops.gemm(a, bt, trans_b=True), lambda: a @ bt.T,
            baseline_name="numpy")


@pytest.mark.parametrize("shape", [(256, 64, 256), (256, 256, 256), (256, 256, 10)],
                         ids=["256x64x256", "256x256x256", "256x256x10"])
def test_linear_fused(benchmark, shape):
    """Forward with bias and relu fused vs NumPy's ``np.maximum(x @ w + b, 0)``."""
    x, w = _operands(*shape)
    bias = np.ones(shape[2], np.float32)
    compare(benchmark, lambda: ops.gemm(x, w, bias=bias, activation="relu"),
            lambda: np.maximum(x @ w + bias, 0), baseline_name="numpy")


@pytest.mark.parametrize("shape", [(256, 64, 256), (256, 256, 256), (256, 256, 10)],
                         ids=["256x64x256", "256x256x256", "256x256x10"])
def test_linear_backward(benchmark, shape):
    """dx, dw, db together vs NumPy's three expressions."""
    x, w = _operands(*shape)
    dy = np.random.default_rng(1).standard_normal((shape[0], shape[2])).astype(np.float32)
    compare(benchmark, lambda: ops.linear_backward(dy, x, w),
            lambda: (dy @ w.T, x.T @ dy, dy.sum(axis=0)), baseline_name="numpy")


# Training-backward and small-batch shapes where N or M is narrow, as (label, M, K, N, ta, tb):
# MLP 64-256-256-10 at batch 256 and the engine's W2 net 32-64-64-2 at batch 32. The
# batch-32 products take ~1 us: there the Python wrapper (~3 us) dominates both sides.
NARROW = [
    ("dW3 x^T@dy 256x256.256x10", 256, 256, 10, True, False),
    ("dW1 x^T@dy 64x256.256x256", 64, 256, 256, True, False),
    ("dx3 dy@w^T 256x10.10x256", 256, 10, 256, False, True),
    ("fw3 x@w 256x256.256x10", 256, 256, 10, False, False),
    ("fwbin x@w 256x256.256x2", 256, 256, 2, False, False),
    ("b32-fw2 32x64.64x64", 32, 64, 64, False, False),
    ("b32-fw3 32x64.64x2", 32, 64, 2, False, False),
    ("b32-dW2 64x32.32x64", 64, 32, 64, True, False),
    ("b32-dW3 64x32.32x2", 64, 32, 2, True, False),
    ("b32-dx2 32x64.64x64", 32, 64, 64, False, True),
    ("b32-dx3 32x2.2x64", 32, 2, 64, False, True),
]


@pytest.mark.parametrize("label,m,k,n,ta,tb", NARROW,
                         ids=[f"{s[0].split()[0]}-{s[0].split()[-1]}" for s in NARROW])
def test_narrow(benchmark, label, m, k, n, ta, tb):
    """op(a) (M,K) @ op(b) (K,N) with operands stored as the backward pass has them."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    na, nb = (a.T if ta else a), (b.T if tb else b)
    compare(benchmark, lambda: ops.gemm(a, b, trans_a=ta, trans_b=tb), lambda: na @ nb,
            baseline_name="numpy")


@pytest.mark.parametrize("label,m,k,n,ta,tb", [s for s in NARROW if s[0].startswith("b32")],
                         ids=[s[0].split()[0] for s in NARROW if s[0].startswith("b32")])
def test_narrow_raw(benchmark, label, m, k, n, ta, tb):
    """The batch-32 products as the engine calls them: ff_gemm_f32 with pointers prepared
    (no wrapper), vs NumPy's ``@`` (which does include its own small Python overhead)."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = np.empty((m, n), np.float32)
    na, nb = (a.T if ta else a), (b.T if tb else b)
    pc, pa, pb, null, f = ptr(c), ptr(a), ptr(b), ffi.NULL, lib.ff_gemm_f32
    lda, ldb = a.shape[1], b.shape[1]
    compare(benchmark,
            lambda: f(pc, pa, pb, null, m, n, k, lda, ldb, n, ta, tb, 1.0, 0.0, 0, 0.0),
            lambda: na @ nb, baseline_name="numpy")


# Weighted Gram a^T diag(w) a (the Newton Hessian's and the linear models' product),
# float64, against NumPy's a.T @ (a * w[:, None]) (a weighted copy, then a full product).
# The limit: the upper tiles are ~60% of the full product's n p^2 multiply-adds (at p =
# 100), at the GEMM's measured ~50 GFMA/s on 2 threads.
GRAM_SHAPES = [(200_000, 100), (20_000, 300), (4096, 101)]


@pytest.mark.parametrize("n,p", GRAM_SHAPES, ids=[f"{n}x{p}" for n, p in GRAM_SHAPES])
def test_gram_weighted(benchmark, n, p):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, p))
    w = rng.random(n)
    ratio = compare(benchmark, lambda: ops.gram(a, w), lambda: a.T @ (a * w[:, None]),
                    baseline_name="numpy", repeat=5)
    fma = n * p * (p + 1) / 2
    ours = benchmark.extra_info["ours_s"]
    print(f"[limit] gram {n}x{p}: {fma / 1e9:.2f} GFMA in the upper triangle, "
          f"{ours * 1e3:.1f} ms ({fma / ours / 1e9:.1f} useful GFMA/s); {ratio:.2f}x numpy")
