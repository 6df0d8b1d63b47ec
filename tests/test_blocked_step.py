"""The engine's blocked training step (csrc/engine.inc, ff_step_blocks): a small model's
batch is cut into blocks of rows, each thread of one parallel region runs forward, loss
and backward over whole blocks, and the block gradients are added in block order. Which
steps take it (ff_train_step_blocks), that its gradient is the batch's (against NumPy in
float64), and that every option gives the same bits on 1, 2 and 3 threads. The
optimizers on the blocked step against NumPy: tests/test_optim_schedules.py (rows=300)."""

import numpy as np
import pytest
import scipy.sparse as sp

import reference as ref
from fastfit import Trainer, nn, optim
from fastfit._lib import ffi, lib


def _defaults_mlp(dtype=np.float32):
    """scikit-learn's default MLP shape: 64-100-10."""
    return nn.Sequential(nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 10), dtype=dtype,
                         random_state=0)


def test_which_steps_are_blocked():
    m = _defaults_mlp()
    blocks = m._native.step_blocks
    # blocks of at least 64 rows, a power of two, at most 8: fixed by the rows alone
    assert [blocks(n) for n in (1, 32, 127, 128, 200, 255, 256, 511, 512, 1024, 4096)] == \
        [1, 1, 1, 2, 2, 2, 4, 4, 8, 8, 1]         # 4096 rows: a product of 26M FMAs
    assert blocks(200, data_parallel=True) == 1   # batch norm and dropout span the ranks
    bn = nn.Sequential(nn.Linear(64, 100), nn.BatchNorm(100), nn.ReLU(), nn.Linear(100, 10),
                       random_state=0)
    assert bn._native.step_blocks(200) == 1       # statistics span the batch
    wide = nn.Sequential(nn.Linear(64, 1024), nn.ReLU(), nn.Linear(1024, 10), random_state=0)
    assert wide._native.step_blocks(200) == 1     # 13M FMAs: each kernel splits its own
    assert lib.ff_train_step_blocks_f32(ffi.NULL, 200, 0) == 0
    assert lib.ff_train_step_blocks_f32(m._native.struct, 0, 0) == 0


def _tanh_mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3), dtype=np.float64,
                         random_state=0)


@pytest.mark.parametrize("rows", [128, 300, 513])
def test_blocked_gradient_is_the_batchs(rows):
    rng = np.random.default_rng(rows)
    X, Y = rng.standard_normal((rows, 6)), rng.standard_normal((rows, 3))
    model = _tanh_mlp()
    assert model._native.step_blocks(rows) > 1
    t = Trainer(model, loss="mse", optimizer=optim.SGD(0.1), batch_size=rows)
    before = model.params.copy()
    got_loss = t.train_step(X, Y, update=False)
    np.testing.assert_array_equal(model.params, before)
    w1, b1, w2, b2 = (ref.layer_param(layer, name) for layer in model.layers[::2]
                      for name in ("weight", "bias"))
    loss, dw1, db1, dw2, db2 = ref.tanh_mlp_ref(w1, b1, w2, b2, X, Y)
    expected = np.concatenate([g.ravel() for g in (dw1, db1, dw2, db2)])
    order = [p for layer in model.layers[::2] for p in model.plan.params if p.owner is layer]
    got = np.concatenate([t.grads[p.offset:p.offset + p.size] for p in order])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_loss, loss, rtol=1e-13)


# Every step option the blocked step handles itself: the losses (a share of the batch's
# mean each block), sample weights, dropout (masks keyed by the batch row), residual
# blocks with a projection, clipping (the update after the region), the optimizers and
# their L1 and decay paths.
CASES = {
    "softmax_adam": dict(loss="cross_entropy", optimizer=lambda: optim.Adam(1e-2)),
    "softmax_weighted_dropout": dict(loss="cross_entropy", weights=True, dropout=0.2,
                                     optimizer=lambda: optim.AdamW(1e-2, weight_decay=0.1)),
    "bce_residual_clip": dict(loss="bce", residual=True,
                              optimizer=lambda: optim.SGD(0.05, momentum=0.9, clip_norm=0.5)),
    "mse_rmsprop_l1": dict(loss="mse", optimizer=lambda: optim.RMSProp(1e-3, l1=1e-3)),
    "huber_nesterov": dict(loss="huber", weights=True,
                           optimizer=lambda: optim.SGD(0.02, momentum=0.9, nesterov=True)),
    "poisson_adam_l1_clip": dict(loss="poisson", optimizer=lambda: optim.Adam(1e-3, l1=1e-4,
                                                                             clip_norm=1.0)),
}


def _case_fit(case, threads, dtype, sparse=False):
    c = CASES[case]
    rng = np.random.default_rng(1)
    n, d, k = 700, 20, 4
    X = rng.standard_normal((n, d)).astype(dtype)
    X[rng.random((n, d)) < 0.7] = 0                 # one-hot-like: the CSR cases' X
    layers = [nn.Linear(d, 48), nn.ReLU()]
    if c.get("dropout"):
        layers.append(nn.Dropout(c["dropout"]))
    if c.get("residual"):
        layers.append(nn.Residual(nn.Linear(48, 32), nn.Tanh()))
    layers.append(nn.Linear(32 if c.get("residual") else 48, k))
    model = nn.Sequential(*layers, dtype=dtype, random_state=0)
    start = model.params.copy()
    loss = c["loss"]
    y = {"cross_entropy": rng.integers(0, k, n), "bce": (rng.random((n, k)) < 0.4).astype(dtype),
         "poisson": rng.poisson(2.0, (n, k)).astype(dtype)}.get(loss)
    if y is None:
        y = rng.standard_normal((n, k)).astype(dtype)
    w = rng.uniform(0, 2, n).astype(dtype) if c.get("weights") else None
    t = Trainer(model, loss=loss, optimizer=c["optimizer"](), batch_size=200, epochs=3,
                random_state=0, n_threads=threads)
    assert model._native.step_blocks(200) == 2
    hist = t.fit(sp.csr_matrix(X) if sparse else X, y, sample_weight=w)
    return model.params.copy(), hist["loss"], start


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_blocked_steps_are_bitwise_equal_on_any_thread_count(case, dtype):
    p1, l1, _ = _case_fit(case, 1, dtype)
    for threads in (2, 3):
        p, losses, _ = _case_fit(case, threads, dtype)
        np.testing.assert_array_equal(p, p1, err_msg=f"{threads} threads")
        assert losses == l1
    start = _case_fit(case, 1, dtype)[2]
    assert np.all(np.isfinite(p1)) and np.mean(p1 != start) > 0.5   # it trained


@pytest.mark.parametrize("case", ["softmax_weighted_dropout", "mse_rmsprop_l1"])
def test_blocked_steps_on_csr_input(case):
    """The first layer reads each block's CSR rows in place: the dense fit's weights to
    float rounding, and the same bits on any thread count."""
    dense, ld, _ = _case_fit(case, 1, np.float64)
    one, l1, _ = _case_fit(case, 1, np.float64, sparse=True)
    two, l2, _ = _case_fit(case, 2, np.float64, sparse=True)
    np.testing.assert_array_equal(one, two)
    assert l1 == l2
    np.testing.assert_allclose(one, dense, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(l1, ld, rtol=1e-12)


def test_a_non_finite_block_stops_the_step_on_every_thread_count():
    """An infinite loss in the second block only: no update, the same error and weights
    for 1 and 2 threads (the statuses are merged in block order after the region)."""
    from fastfit import NonFiniteLossError

    for threads in (1, 2):
        model = nn.Sequential(nn.Linear(6, 3), dtype=np.float64, random_state=0)
        assert model._native.step_blocks(256) == 4
        X = np.random.default_rng(0).standard_normal((256, 6))
        X[200] = 1e200                              # its squared error overflows
        t = Trainer(model, loss="mse", optimizer="adam", batch_size=256, n_threads=threads)
        before = model.params.copy()
        with pytest.raises(NonFiniteLossError):
            t.train_step(X, np.zeros((256, 3)))
        np.testing.assert_array_equal(model.params, before)
        assert t.step_ == 0
