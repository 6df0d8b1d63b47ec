"""Optimizers and learning-rate schedules as the Trainer runs them.

Each optimizer trains a tiny tanh MLP for several full-batch steps (shuffle=False, no
batch norm, so every step is deterministic) and is compared with a NumPy float64 loop
(tests/reference.py: tanh_mlp_ref + optimizer_step_ref) and, when torch is installed,
with torch.optim + autograd on the same network. Schedules are compared with per-step
learning rates computed by hand, both as factors and as the rates SGD actually applied;
ReduceOnPlateau with torch's ReduceLROnPlateau on scripted metric sequences.
"""

import math

import numpy as np
import pytest

import reference as ref
from fastfit import Trainer, callbacks, nn, optim

N, D, H, K = 10, 3, 5, 2
STEPS = 6


def _data(seed=0, n=N):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, D)), rng.standard_normal((n, K))


def _mlp(dtype=np.float64, seed=0):
    model = nn.Sequential(nn.Linear(D, H), nn.Tanh(), nn.Linear(H, K), dtype=dtype, random_state=0)
    rng = np.random.default_rng(seed + 100)
    model.params[:] = rng.normal(0, 0.7, model.n_params)
    return model


def _parts(model, theta):
    """(w1, b1, w2, b2) of a flat vector laid out as the model's parameters."""
    l1, l2 = model.layers[0], model.layers[2]
    out = []
    for layer, name in ((l1, "weight"), (l1, "bias"), (l2, "weight"), (l2, "bias")):
        p = next(q for q in model.plan.params if q.owner is layer and q.name == name)
        out.append(theta[p.offset:p.offset + p.size].reshape(p.shape))
    return out


def _ref_kwargs(opt, model):
    kw = dict(lr=opt.lr, weight_decay=opt.weight_decay, l1=opt.l1, clip_norm=opt.clip_norm,
              n_decay=model.n_params if opt.decay_all else model.plan.n_decay)
    if isinstance(opt, optim.SGD):
        kw.update(kind="sgd", momentum=opt.momentum, nesterov=opt.nesterov)
    elif isinstance(opt, optim.RMSProp):
        kw.update(kind="rmsprop", momentum=opt.momentum, alpha=opt.alpha, eps=opt.eps)
    else:
        kw.update(kind="adam", betas=opt.betas, eps=opt.eps, decoupled=opt.decoupled)
    return kw


def _numpy_run(model, opt, X, Y, steps):
    """Losses before each step, final parameters and optimizer slots, in float64."""
    theta = model.params.astype(np.float64)
    state = [np.zeros_like(theta), np.zeros_like(theta)]
    kw = _ref_kwargs(opt, model)
    losses = []
    for step in range(1, steps + 1):
        loss, dw1, db1, dw2, db2 = ref.tanh_mlp_ref(*_parts(model, theta), X, Y)
        losses.append(loss)
        grad = np.zeros_like(theta)
        for dst, src in zip(_parts(model, grad), (dw1, db1, dw2, db2), strict=True):
            dst[...] = src
        theta, state = ref.optimizer_step_ref(theta, grad, state, step, **kw)
    return losses, theta, state


OPTIMIZERS = {
    "sgd": lambda: optim.SGD(0.2),
    "sgd_weight_decay": lambda: optim.SGD(0.2, weight_decay=0.05),
    "sgd_momentum": lambda: optim.SGD(0.1, momentum=0.9),
    "sgd_nesterov": lambda: optim.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.02),
    "sgd_l1": lambda: optim.SGD(0.2, l1=0.05),
    "sgd_clip": lambda: optim.SGD(0.5, clip_norm=0.3),
    "rmsprop": lambda: optim.RMSProp(0.01),
    "rmsprop_momentum": lambda: optim.RMSProp(0.01, alpha=0.9, momentum=0.8, weight_decay=0.01),
    "rmsprop_clip_l1": lambda: optim.RMSProp(0.02, clip_norm=0.5, l1=0.01),
    "adam": lambda: optim.Adam(0.05),
    "adam_weight_decay": lambda: optim.Adam(0.05, betas=(0.8, 0.95), weight_decay=0.1),
    "adam_l1_clip": lambda: optim.Adam(0.05, l1=0.02, clip_norm=0.2),
    "adamw": lambda: optim.AdamW(0.05, weight_decay=0.1),
    "adamw_decay_all_clip": lambda: optim.AdamW(0.05, weight_decay=0.2, clip_norm=0.5,
                                                decay_all=True),
    "sgd_decay_all_l1": lambda: optim.SGD(0.1, momentum=0.5, weight_decay=0.1, l1=0.03,
                                          decay_all=True),
}


def _fit(model, opt, X, Y, steps, **kw):
    t = Trainer(model, loss="mse", optimizer=opt, batch_size=len(X), shuffle=False, epochs=steps,
                random_state=0, **kw)
    hist = t.fit(X, Y)
    assert t.step_ == steps
    return t, hist


@pytest.mark.parametrize("rows", [N, 300])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_matches_numpy(name, dtype, rows):
    """300 rows: the engine's blocked step (block gradients added, the update on each
    thread's share of the parameters; with clipping after the parallel region)."""
    X, Y = _data(n=rows)
    model = _mlp(dtype)
    assert (model._native.step_blocks(rows) > 1) == (rows == 300)
    opt = OPTIMIZERS[name]()
    losses, theta, state = _numpy_run(model, opt, X.astype(dtype), Y.astype(dtype), STEPS)
    t, hist = _fit(model, opt, X.astype(dtype), Y.astype(dtype), STEPS)
    rtol, atol = (1e-11, 1e-13) if dtype == np.float64 else (2e-4, 2e-5)
    np.testing.assert_allclose(hist["loss"], losses, rtol=rtol, atol=atol)
    np.testing.assert_allclose(model.params, theta, rtol=rtol, atol=atol)
    for i in range(opt.n_slots):
        np.testing.assert_allclose(t._slots[i], state[i], rtol=rtol * 10, atol=atol * 10,
                                   err_msg=f"optimizer slot {i}")
    assert hist["lr"] == [opt.lr] * STEPS


def test_optimizer_penalties_really_change_the_result():
    """Guards the reference comparisons above against options silently ignored."""
    X, Y = _data()
    base = _mlp()
    _fit(base, optim.SGD(0.2), X, Y, STEPS)
    nd = base.plan.n_decay
    for opt in (optim.SGD(0.2, weight_decay=0.05), optim.SGD(0.2, l1=0.05),
                optim.SGD(0.2, clip_norm=0.01)):
        other = _mlp()
        _fit(other, opt, X, Y, STEPS)
        assert not np.allclose(other.params, base.params), opt
    # decay only on the weights: with a zero gradient (lr irrelevant) biases stay put
    a = _mlp()
    t = Trainer(a, loss="mse", optimizer=optim.SGD(0.1, weight_decay=1.0), batch_size=N)
    out = a.predict(X)
    before = a.params.copy()
    t.train_step(X, out)                      # targets = predictions: zero loss gradient
    np.testing.assert_allclose(a.params[:nd], before[:nd] * (1 - 0.1), rtol=1e-14)
    np.testing.assert_array_equal(a.params[nd:], before[nd:])


# ---- torch parity --------------------------------------------------------------------

def _torch_run(torch, model, opt, X, Y, steps):
    w1, b1, w2, b2 = (torch.tensor(np.array(a, np.float64), requires_grad=True)
                      for a in _parts(model, model.params.astype(np.float64)))
    weights, others = [w1, w2], [b1, b2]
    if opt.decay_all:
        groups = [{"params": weights + others, "weight_decay": opt.weight_decay}]
    else:
        groups = [{"params": weights, "weight_decay": opt.weight_decay},
                  {"params": others, "weight_decay": 0.0}]
    if isinstance(opt, optim.SGD):
        topt = torch.optim.SGD(groups, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov)
    elif isinstance(opt, optim.RMSProp):
        topt = torch.optim.RMSprop(groups, lr=opt.lr, alpha=opt.alpha, eps=opt.eps,
                                   momentum=opt.momentum)
    elif isinstance(opt, optim.AdamW):
        topt = torch.optim.AdamW(groups, lr=opt.lr, betas=opt.betas, eps=opt.eps)
    else:
        topt = torch.optim.Adam(groups, lr=opt.lr, betas=opt.betas, eps=opt.eps)
    xt, yt = torch.tensor(X), torch.tensor(Y)
    l1_targets = weights + (others if opt.decay_all else [])
    losses = []
    for _ in range(steps):
        topt.zero_grad()
        out = torch.tanh(xt @ w1 + b1) @ w2 + b2
        loss = ((out - yt) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        if opt.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_([w1, b1, w2, b2], opt.clip_norm)
        topt.step()
        if opt.l1:
            with torch.no_grad():
                for p in l1_targets:
                    p.copy_(torch.sign(p) * torch.clamp(p.abs() - opt.lr * opt.l1, min=0))
    theta = np.zeros(model.n_params)
    for dst, src in zip(_parts(model, theta), (w1, b1, w2, b2), strict=True):
        dst[...] = src.detach().numpy()
    return losses, theta


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_matches_torch(name):
    torch = pytest.importorskip("torch")
    X, Y = _data(1)
    model = _mlp(seed=1)
    opt = OPTIMIZERS[name]()
    losses, theta = _torch_run(torch, model, opt, X, Y, STEPS)
    _, hist = _fit(model, opt, X, Y, STEPS)
    np.testing.assert_allclose(hist["loss"], losses, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.params, theta, rtol=1e-9, atol=1e-11)


def test_optimizer_torch_parity_float32():
    torch = pytest.importorskip("torch")
    X, Y = _data(2)
    model = _mlp(np.float32, seed=2)
    opt = optim.AdamW(0.05, weight_decay=0.1, clip_norm=0.5, decay_all=True)
    losses, theta = _torch_run(torch, model, opt, X, Y, STEPS)
    _, hist = _fit(model, opt, X.astype(np.float32), Y.astype(np.float32), STEPS)
    np.testing.assert_allclose(hist["loss"], losses, rtol=1e-4)
    np.testing.assert_allclose(model.params, theta, rtol=2e-4, atol=2e-5)


# ---- schedules -------------------------------------------------------------------------

def test_schedule_factors_by_hand():
    ctx = {"steps_per_epoch": 2, "total_steps": 6, "samples_per_epoch": 10}
    steps = np.arange(8)
    f = optim.Constant().factors(steps, ctx)
    np.testing.assert_array_equal(f, np.ones(8))
    f = optim.StepDecay(step_size=2, gamma=0.5).factors(steps, ctx)
    np.testing.assert_allclose(f, [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5], rtol=0)
    f = optim.Exponential(0.9).factors(steps, ctx)
    np.testing.assert_allclose(f, [1, 1, 0.9, 0.9, 0.81, 0.81, 0.729, 0.729], rtol=1e-15)
    f = optim.InverseScaling(0.5).factors(steps, ctx)
    np.testing.assert_allclose(f, np.repeat([1, 1 / math.sqrt(11), 1 / math.sqrt(21),
                                             1 / math.sqrt(31)], 2), rtol=1e-15)
    # warm-up over epoch 0 (2 steps: 1/2, 2/2), then half a cosine over the 4 steps left
    # of the 6 (progress 0, 1/4, 1/2, 3/4), held at min_factor after the end
    c = 0.5 * (1 + math.cos(math.pi / 4))
    f = optim.Cosine(warmup_epochs=1).factors(steps, ctx)
    np.testing.assert_allclose(f, [0.5, 1.0, 1.0, c, 0.5, 1 - c, 0.0, 0.0], rtol=1e-14, atol=1e-15)
    f = optim.Cosine(warmup_epochs=0.5, epochs=2, min_factor=0.2).factors(steps, ctx)
    # total 4 steps, 1 warm-up step, progress (s - 1) / 3
    expect = [1.0] + [0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * p)) for p in (0, 1 / 3, 2 / 3)]
    np.testing.assert_allclose(f, expect + [0.2] * 4, rtol=1e-14)
    np.testing.assert_allclose(optim.Cosine().factors(steps, ctx)[:6],
                               [ref.cosine_factor_ref(s, 6, 0) for s in range(6)], rtol=1e-14)


class _LrRecorder(callbacks.Callback):
    """Records the rate of every batch (batch hooks: one C call per batch)."""

    def __init__(self):
        self.lrs = []

    def on_batch_end(self, trainer, batch, logs):
        self.lrs.append(logs["lr"])


def _schedule_cases(n, bs, epochs):
    spe = -(-n // bs)
    total = spe * epochs
    steps = range(total)
    return {
        "constant": (optim.Constant(), [1.0] * total),
        "step": (optim.StepDecay(2, gamma=0.3), [0.3 ** ((s // spe) // 2) for s in steps]),
        "exponential": (optim.Exponential(0.7), [0.7 ** (s // spe) for s in steps]),
        "cosine_fit_length": (optim.Cosine(warmup_epochs=1),
                              [ref.cosine_factor_ref(s, total, spe) for s in steps]),
        "cosine_short_min": (optim.Cosine(warmup_epochs=0.5, epochs=2, min_factor=0.1),
                             [ref.cosine_factor_ref(s, 2 * spe, round(0.5 * spe), 0.1)
                              for s in steps]),
        "inverse_scaling": (optim.InverseScaling(0.25),
                            [1 / (n * (s // spe) + 1) ** 0.25 for s in steps]),
    }


@pytest.mark.parametrize("name", ["constant", "step", "exponential", "cosine_fit_length",
                                  "cosine_short_min", "inverse_scaling"])
def test_schedule_rates_applied_in_fit(name):
    """Per-step rates (batch hooks), the epoch's last rate in history["lr"], and the rates
    SGD really applied: a linear model's parameters against NumPy mini-batch descent."""
    n, bs, epochs, lr = 12, 5, 4, 0.05
    schedule, factors = _schedule_cases(n, bs, epochs)[name]
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n, 3)), rng.standard_normal(n)
    model = nn.Sequential(nn.Linear(3, 1), dtype=np.float64, random_state=0)
    w, b = model.params[:3].copy(), 0.0
    rec = _LrRecorder()
    t = Trainer(model, loss="mse", optimizer=optim.SGD(lr, schedule=schedule), batch_size=bs,
                shuffle=False, epochs=epochs, callbacks=[rec])
    hist = t.fit(X, y)
    rates = [lr * f for f in factors]
    np.testing.assert_allclose(rec.lrs, rates, rtol=1e-14)
    spe = -(-n // bs)
    np.testing.assert_allclose(hist["lr"], rates[spe - 1::spe], rtol=1e-14)
    s = 0
    for _ in range(epochs):
        for lo in range(0, n, bs):
            xb, yb = X[lo:lo + bs], y[lo:lo + bs]
            r = xb @ w + b - yb
            w = w - rates[s] * (2 * xb.T @ r / len(yb))
            b = b - rates[s] * (2 * r.mean())
            s += 1
    np.testing.assert_allclose(model.params, np.r_[w, b], rtol=1e-12, atol=1e-14)


def test_step_and_exponential_match_torch_schedulers():
    torch = pytest.importorskip("torch")
    ctx = {"steps_per_epoch": 3, "total_steps": 30, "samples_per_epoch": 7}
    for ours, make in ((optim.StepDecay(3, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
                       (optim.Exponential(0.8), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.8))):
        p = torch.zeros(1, requires_grad=True)
        topt = torch.optim.SGD([p], lr=1.0)
        sched = make(topt)
        expected = []
        for _ in range(10):
            expected += [topt.param_groups[0]["lr"]] * 3
            topt.step()
            sched.step()
        np.testing.assert_allclose(ours.factors(np.arange(30), ctx), expected, rtol=1e-14)


# ---- ReduceOnPlateau ---------------------------------------------------------------------

SEQUENCE = [1.0, 0.9, 0.95, 0.91, 0.9, 0.89999, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7, 0.71, 0.72,
            0.73, 0.74, 0.75, 0.6, 0.6, 0.6, 0.59995, 0.5, 0.6, 0.6]
PLATEAU_CONFIGS = [
    dict(factor=0.5, patience=0, cooldown=0, min_delta=1e-4, mode="min", min_factor=0.0),
    dict(factor=0.5, patience=1, cooldown=0, min_delta=1e-4, mode="min", min_factor=0.0),
    dict(factor=0.1, patience=2, cooldown=0, min_delta=0.0, mode="min", min_factor=0.0),
    dict(factor=0.5, patience=1, cooldown=2, min_delta=1e-4, mode="min", min_factor=0.0),
    dict(factor=0.5, patience=0, cooldown=1, min_delta=0.05, mode="min", min_factor=0.2),
    dict(factor=0.3, patience=1, cooldown=0, min_delta=1e-3, mode="max", min_factor=0.0),
    dict(factor=0.3, patience=0, cooldown=1, min_delta=0.0, mode="max", min_factor=0.05),
]


def _torch_plateau(torch, cfg, values):
    p = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([p], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        topt, mode=cfg["mode"], factor=cfg["factor"], patience=cfg["patience"],
        threshold=cfg["min_delta"], threshold_mode="rel", cooldown=cfg["cooldown"],
        min_lr=cfg["min_factor"], eps=0.0)
    lrs = []
    for v in values:
        topt.step()
        sched.step(v)
        lrs.append(topt.param_groups[0]["lr"])
    return lrs


@pytest.mark.parametrize("cfg", PLATEAU_CONFIGS, ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_reduce_on_plateau_matches_torch(cfg):
    torch = pytest.importorskip("torch")
    values = SEQUENCE if cfg["mode"] == "min" else [1.0 - v for v in SEQUENCE]
    sched = optim.ReduceOnPlateau(monitor="val_loss", **cfg)
    ours = []
    for v in values:
        sched.epoch_end(v)
        ours.append(float(sched.factors(np.arange(1), {})[0]))
    expected = _torch_plateau(torch, cfg, values)
    np.testing.assert_allclose(ours, expected, rtol=1e-14)
    assert min(expected) < 1.0   # the sequence does trigger reductions


def test_reduce_on_plateau_by_hand():
    """patience=1: the second epoch in a row without a relative improvement of 10%
    multiplies the factor by 0.5; cooldown=1 then ignores one epoch."""
    sched = optim.ReduceOnPlateau(factor=0.5, patience=1, min_delta=0.1, cooldown=1)
    got = []
    for v in [10, 9.5, 9.4, 9.3, 8.0, 7.9, 7.8, 7.7, 7.6]:
        sched.epoch_end(v)
        got.append(sched._scale)
    # 10 best; 9.5 bad(1); 9.4 bad(2) > 1 -> 0.5, cool; 9.3 cooldown; 8.0 better;
    # 7.9 bad(1); 7.8 bad(2) -> 0.25, cool; 7.7 cooldown; 7.6 bad(1)
    assert got == [1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    sched.epoch_end(float("nan"))      # ignored
    sched.epoch_end(None)
    assert sched._scale == 0.25
    assert optim.ReduceOnPlateau(monitor="val_accuracy").maximize
    assert not optim.ReduceOnPlateau(monitor="val_loss").maximize


def test_reduce_on_plateau_in_fit_matches_torch():
    """In a fit the schedule sees each epoch's val_loss; the rate of every epoch equals
    torch's ReduceLROnPlateau fed the same recorded values."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    Xv, yv = rng.standard_normal((20, 3)), rng.standard_normal(20)
    cfg = dict(factor=0.5, patience=1, cooldown=0, min_delta=0.02, mode="min", min_factor=0.0)
    lr = 0.05
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1), dtype=np.float64,
                          random_state=0)
    t = Trainer(model, loss="mse", batch_size=8, epochs=15, random_state=0,
                optimizer=optim.SGD(lr, schedule=optim.ReduceOnPlateau(monitor="val_loss", **cfg)))
    hist = t.fit(X, y, validation_data=(Xv, yv))
    expected = [1.0] + _torch_plateau(torch, cfg, hist["val_loss"])[:-1]
    np.testing.assert_allclose(hist["lr"], [lr * e for e in expected], rtol=1e-14)
    assert min(hist["lr"]) < lr


def test_reduce_on_plateau_falls_back_to_training_loss():
    """monitor="val_loss" without validation data follows the training loss: with lr=0
    the loss never improves, so patience=0 halves the rate after every epoch but the first."""
    X, y = np.random.default_rng(0).standard_normal((16, 2)), np.zeros(16)
    model = nn.Sequential(nn.Linear(2, 1), dtype=np.float64, random_state=0)
    sched = optim.ReduceOnPlateau(factor=0.5, patience=0)
    t = Trainer(model, loss="mse", optimizer=optim.SGD(0.0, schedule=sched), batch_size=16,
                epochs=4)
    t.fit(X, y)
    assert sched._scale == 0.5 ** 3
