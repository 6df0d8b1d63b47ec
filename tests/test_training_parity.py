"""Trainer against PyTorch on real data: same start, same batches, same accuracy.

A batch-normalised MLP on scikit-learn's digits, trained by ``fastfit.Trainer`` and by the
textbook PyTorch eager loop from the same initial weights over the same batches (the
Trainer's epoch order is Philox ``shuffle(n, seed, stream=epoch)``; the torch loop replays
it). After the same epochs the test accuracies must agree within 1 percentage point (the
issue's target), and the weights must still be close: float32 rounding differs between the
two, but Adam's normalised steps keep the trajectories together over a few epochs.
"""

import numpy as np
import pytest

from fastfit import Trainer, nn, ops, optim
from fastfit._random import seeds_from

HIDDEN, BATCH, EPOCHS, SEED = 64, 64, 8, 0


def _digits(dtype=np.float32):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_tr)
    return (scaler.transform(x_tr).astype(dtype), scaler.transform(x_te).astype(dtype),
            y_tr.astype(np.int64), y_te.astype(np.int64))


def _view(model, layer, name):
    """A parameter view found by owner and name through the plan's offsets."""
    for p in model.plan.params:
        if p.owner is layer and p.name == name:
            return model.params[p.offset:p.offset + p.size].reshape(p.shape)
    raise KeyError(name)


def _torch_twin(torch, model):
    """The same layers in torch with fastfit's initial values (Linear W is (in, out) here)."""
    tnn = torch.nn
    tm = tnn.Sequential(tnn.Linear(64, HIDDEN), tnn.BatchNorm1d(HIDDEN), tnn.ReLU(),
                        tnn.Linear(HIDDEN, 10))
    if model.dtype == np.float64:
        tm = tm.double()
    with torch.no_grad():
        for layer, tlayer in zip(model.layers, tm, strict=True):
            if isinstance(layer, nn.Linear):
                tlayer.weight.copy_(torch.from_numpy(_view(model, layer, "weight").T.copy()))
                tlayer.bias.copy_(torch.from_numpy(_view(model, layer, "bias").copy()))
            elif isinstance(layer, nn.BatchNorm):
                tlayer.weight.copy_(torch.from_numpy(_view(model, layer, "gamma").copy()))
                tlayer.bias.copy_(torch.from_numpy(_view(model, layer, "beta").copy()))
    return tm


def _train_both(epochs, dtype=np.float32):
    torch = pytest.importorskip("torch")
    x_tr, x_te, y_tr, y_te = _digits(dtype)
    model = nn.Sequential(nn.Linear(64, HIDDEN), nn.BatchNorm(HIDDEN), nn.ReLU(),
                          nn.Linear(HIDDEN, 10), dtype=dtype, random_state=SEED)
    tm = _torch_twin(torch, model)
    trainer = Trainer(model, "cross_entropy", optim.Adam(lr=1e-3), epochs=epochs,
                      batch_size=BATCH, random_state=SEED, n_threads=1)
    history = trainer.fit(x_tr, y_tr)

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        opt = torch.optim.Adam(tm.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
        shuffle_seed = seeds_from(SEED, 3)[0]   # the Trainer's first stream: shuffling
        n = len(x_tr)
        assert n % BATCH != 1  # no merged last batch to replay
        losses = []
        tm.train()
        for epoch in range(epochs):
            order = torch.from_numpy(ops.shuffle(n, seed=shuffle_seed, stream=epoch))
            total = 0.0
            for lo in range(0, n, BATCH):
                idx = order[lo:lo + BATCH]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(tm(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            losses.append(total / n)
        tm.eval()
        with torch.no_grad():
            acc_torch = float((tm(torch.from_numpy(x_te)).argmax(1).numpy() == y_te).mean())
    finally:
        torch.set_num_threads(previous)
    acc_ours = float(np.mean(trainer.predict(x_te).argmax(1) == y_te))
    return model, tm, history, losses, acc_ours, acc_torch


def test_same_accuracy_as_torch_after_the_same_epochs():
    model, tm, history, losses, acc_ours, acc_torch = _train_both(EPOCHS)
    assert acc_ours > 0.9 and acc_torch > 0.9
    assert abs(acc_ours - acc_torch) <= 0.01, (acc_ours, acc_torch)
    np.testing.assert_allclose(history["loss"], losses, rtol=2e-2)


def _assert_same_weights(model, tm, atol):
    # The bias of a Linear that feeds BatchNorm has a zero gradient in exact arithmetic (BN
    # subtracts the mean), so Adam walks it by rounding noise: only the last bias is compared.
    last = model.layers[-1]
    for layer, tlayer in zip(model.layers, tm, strict=True):
        if isinstance(layer, nn.Linear):
            np.testing.assert_allclose(_view(model, layer, "weight"),
                                       tlayer.weight.detach().numpy().T, rtol=0, atol=atol)
            if layer is last:
                np.testing.assert_allclose(_view(model, layer, "bias"),
                                           tlayer.bias.detach().numpy(), rtol=0, atol=atol)
        elif isinstance(layer, nn.BatchNorm):
            np.testing.assert_allclose(_view(model, layer, "gamma"),
                                       tlayer.weight.detach().numpy(), rtol=0, atol=atol)
            np.testing.assert_allclose(layer.running_var, tlayer.running_var.numpy(),
                                       rtol=max(atol, 1e-12))


def test_same_trajectory_as_torch_float64():
    # The same arithmetic in float64: 22 Adam steps agree to rounding (~1e-16 per operation).
    model, tm, history, losses, _, _ = _train_both(1, np.float64)
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-12)
    _assert_same_weights(model, tm, atol=1e-10)


def test_same_trajectory_as_torch_float32():
    # float32: Adam divides each gradient by its running RMS, so a weight whose batch gradient
    # cancels to rounding noise moves by up to lr a step in a direction the rounding picks
    # (GEMM order differs between the two, and between CPUs: 1.5e-4 on one machine, 2.1e-4 on
    # CI's). The bound is a few such steps out of 22; the float64 test checks the arithmetic.
    model, tm, history, losses, _, _ = _train_both(1)
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-4)
    _assert_same_weights(model, tm, atol=2e-3)
