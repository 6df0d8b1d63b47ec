"""Fused loss + gradient against PyTorch's loss forward + autograd backward, and the data
kernels against NumPy (2 threads, float32)."""

import numpy as np
import pytest

import fastfit.ops as F
from _compare import compare

N, K, C = 65536, 4, 10


@pytest.mark.parametrize("kind", ["mse", "huber", "bce", "ce"])
def test_loss_vs_torch(benchmark, kind):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF
    rng = np.random.default_rng(0)
    if kind == "ce":
        pred = rng.standard_normal((N, C)).astype(np.float32)
        target = rng.integers(0, C, N)
    else:
        pred = rng.standard_normal((N, K)).astype(np.float32)
        target = rng.random((N, K)).astype(np.float32)
    ours = {"mse": lambda: F.mse_loss(pred, target), "huber": lambda: F.huber_loss(pred, target),
            "bce": lambda: F.bce_with_logits(pred, target),
            "ce": lambda: F.softmax_cross_entropy(pred, target)}[kind]
    tfn = {"mse": TF.mse_loss, "huber": TF.huber_loss, "bce": TF.binary_cross_entropy_with_logits,
           "ce": TF.cross_entropy}[kind]
    tt = torch.from_numpy(target)

    def baseline():
        z = torch.from_numpy(pred).requires_grad_(True)
        tfn(z, tt).backward()
        return z.grad

    compare(benchmark, ours, baseline, baseline_name="torch")


def test_poisson_loss_vs_numpy(benchmark):
    # no torch twin with scikit-learn's half deviance and the same gradient: NumPy's
    # vectorised formula (what scikit-learn's MLP computes per batch) is the baseline
    from scipy.special import xlogy

    rng = np.random.default_rng(0)
    z = rng.standard_normal((N, K)).astype(np.float32)
    t = rng.poisson(1.5, (N, K)).astype(np.float32)

    def baseline():
        mu = np.exp(z)
        loss = float(np.mean(xlogy(t, t) - t * z - t + mu))
        return loss, (mu - t) / np.float32(N * K)

    compare(benchmark, lambda: F.poisson_loss(z, t), baseline, baseline_name="numpy")


def test_gather_vs_numpy_take(benchmark):
    x = np.random.default_rng(0).standard_normal((200_000, 64)).astype(np.float32)
    idx = F.shuffle(200_000, 1)[:65536]
    compare(benchmark, lambda: F.gather_rows(x, idx), lambda: np.take(x, idx, axis=0), baseline_name="numpy")


def test_shuffle_vs_numpy_permutation(benchmark):
    rng = np.random.default_rng(0)
    compare(benchmark, lambda: F.shuffle(1 << 20, 1), lambda: rng.permutation(1 << 20), baseline_name="numpy")


def test_count_nonfinite_vs_numpy(benchmark):
    x = np.random.default_rng(0).standard_normal(1 << 22).astype(np.float32)
    compare(benchmark, lambda: F.count_nonfinite(x), lambda: np.isfinite(x).all(), baseline_name="numpy")
