"""``fastfit demo``: the native kernels at work on real data, side by side with NumPy.

Until the training engine lands, the demo drives the kernels from Python one batch at a
time: a batch-normalised MLP on scikit-learn's bundled digits (no download), written
once with ``fastfit.ops`` and once with plain NumPy, same initial weights, same batches.
It prints both test accuracies and times, then times the heavy kernels on training-sized
shapes against their NumPy equivalents.
"""

from __future__ import annotations

import time

import numpy as np

from fastfit import ops

HIDDEN = 128
EPOCHS = 40
BATCH = 64
LR = 3e-3
EPS = 1e-5


def _load_digits(dtype):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_train)
    return (scaler.transform(x_train).astype(dtype), scaler.transform(x_test).astype(dtype),
            y_train.astype(np.int64), y_test.astype(np.int64))


class _FlatMLP:
    """in -> Linear -> BatchNorm -> ReLU -> Linear -> softmax, parameters in one flat buffer.

    The first Linear has no bias: batch norm subtracts the batch mean, so a bias there has a
    zero gradient and Adam would only amplify rounding noise into it.

    One buffer for the parameters, one for the gradients, one per Adam moment: the
    optimizer step is then a single kernel call over every parameter (llm.c style).
    """

    def __init__(self, n_in, n_hidden, n_out, dtype, seed):
        shapes = {"w1": (n_in, n_hidden), "gamma": (n_hidden,),
                  "beta": (n_hidden,), "w2": (n_hidden, n_out), "b2": (n_out,)}
        size = sum(int(np.prod(s)) for s in shapes.values())
        self.flat = np.zeros(size, dtype)
        self.grad = np.zeros(size, dtype)
        self.m = np.zeros(size, dtype)
        self.v = np.zeros(size, dtype)
        self.p, self.g, offset = {}, {}, 0
        for name, shape in shapes.items():
            n = int(np.prod(shape))
            self.p[name] = self.flat[offset:offset + n].reshape(shape)
            self.g[name] = self.grad[offset:offset + n].reshape(shape)
            offset += n
        self.p["w1"][...] = ops.init_weights((n_in, n_hidden), "he_normal", seed=seed, dtype=dtype)
        self.p["w2"][...] = ops.init_weights((n_hidden, n_out), "glorot_uniform", seed=seed,
                                             offset=n_in * n_hidden, dtype=dtype)
        self.p["gamma"][...] = 1
        self.running_mean = np.zeros(n_hidden, dtype)
        self.running_var = np.ones(n_hidden, dtype)
        self.step = 0


def _train_fastfit(model, x, y, order):
    p, g = model.p, model.g
    for batch in order:
        xb, yb = ops.gather_rows(x, batch), y[batch]
        z1 = ops.linear_forward(xb, p["w1"])
        h, mean, rstd = ops.batchnorm_forward(z1, p["gamma"], p["beta"], EPS,
                                              model.running_mean, model.running_var, 0.1)
        a = ops.activation_forward(h, "relu")
        logits = ops.linear_forward(a, p["w2"], p["b2"])
        _, dlogits = ops.softmax_cross_entropy(logits, yb)
        da, dw2, db2 = ops.linear_backward(dlogits, a, p["w2"])
        g["w2"][...], g["b2"][...] = dw2, db2
        dh = ops.activation_backward(da, "relu", y=a)
        dz1, dgamma, dbeta = ops.batchnorm_backward(dh, z1, p["gamma"], mean, rstd)
        g["gamma"][...], g["beta"][...] = dgamma, dbeta
        _, g["w1"][...], _ = ops.linear_backward(dz1, xb, p["w1"], need_dx=False)
        model.step += 1
        ops.adam_update(model.flat, model.grad, model.m, model.v, model.step, LR)


def _predict_fastfit(model, x):
    p = model.p
    h = ops.batchnorm_inference(ops.linear_forward(x, p["w1"]), p["gamma"], p["beta"],
                                model.running_mean, model.running_var, EPS)
    return ops.linear_forward(ops.activation_forward(h, "relu"), p["w2"], p["b2"]).argmax(1)


def _train_numpy(model, x, y, order):
    """The same maths in plain NumPy: the baseline a user would otherwise write."""
    p, g = model.p, model.g
    b1, b2 = 0.9, 0.999
    for batch in order:
        xb, yb = x[batch], y[batch]
        n = len(batch)
        z1 = xb @ p["w1"]
        mean, var = z1.mean(0), z1.var(0)
        rstd = 1 / np.sqrt(var + EPS)
        xhat = (z1 - mean) * rstd
        model.running_mean[...] = 0.9 * model.running_mean + 0.1 * mean
        model.running_var[...] = 0.9 * model.running_var + 0.1 * var * n / (n - 1)
        a = np.maximum(xhat * p["gamma"] + p["beta"], 0)
        logits = a @ p["w2"] + p["b2"]
        e = np.exp(logits - logits.max(1, keepdims=True))
        dlogits = e / e.sum(1, keepdims=True)
        dlogits[np.arange(n), yb] -= 1
        dlogits /= n
        g["w2"][...], g["b2"][...] = a.T @ dlogits, dlogits.sum(0)
        dh = (dlogits @ p["w2"].T) * (a > 0)
        g["gamma"][...], g["beta"][...] = (dh * xhat).sum(0), dh.sum(0)
        dxhat = dh * p["gamma"]
        dz1 = rstd * (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0))
        g["w1"][...] = xb.T @ dz1
        model.step += 1
        model.m[...] = b1 * model.m + (1 - b1) * model.grad
        model.v[...] = b2 * model.v + (1 - b2) * model.grad**2
        denom = np.sqrt(model.v) / np.sqrt(1 - b2**model.step) + 1e-8
        model.flat -= (LR / (1 - b1**model.step)) * model.m / denom


def _predict_numpy(model, x):
    p = model.p
    z1 = x @ p["w1"]
    h = (z1 - model.running_mean) / np.sqrt(model.running_var + EPS) * p["gamma"] + p["beta"]
    return (np.maximum(h, 0) @ p["w2"] + p["b2"]).argmax(1)


def _best_time(fn, repeat=5):
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _kernel_table():
    rng = np.random.default_rng(0)
    f32 = np.float32
    a, b = rng.standard_normal((4096, 256), f32), rng.standard_normal((256, 256), f32)
    x = rng.standard_normal((65536, 256), f32)
    gamma, beta = np.ones(256, f32), np.zeros(256, f32)
    dy = rng.standard_normal(x.shape, f32)
    p, gr = rng.standard_normal(4_000_000, f32), rng.standard_normal(4_000_000, f32)
    m, v = np.zeros_like(p), np.zeros_like(p)

    def bn_numpy():
        mean, var = x.mean(0), x.var(0)
        rstd = 1 / np.sqrt(var + EPS)
        xhat = (x - mean) * rstd
        _ = xhat * gamma + beta
        dxhat = dy * gamma
        return rstd * (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0))

    def bn_fastfit():
        _, mean, rstd = ops.batchnorm_forward(x, gamma, beta)
        return ops.batchnorm_backward(dy, x, gamma, mean, rstd)

    def adam_numpy():
        m[...] = 0.9 * m + 0.1 * gr
        v[...] = 0.999 * v + 0.001 * gr * gr
        p[...] -= 1e-3 / 0.1 * m / (np.sqrt(v) / np.sqrt(0.001) + 1e-8)

    rows = [
        ("GEMM 4096x256 @ 256x256", lambda: ops.matmul(a, b), lambda: a @ b),
        ("batch norm fwd+bwd 65536x256", bn_fastfit, bn_numpy),
        ("Adam step, 4M parameters", lambda: ops.adam_update(p, gr, m, v, 1, 1e-3), adam_numpy),
    ]
    print(f"\n{'kernel (float32)':32s} {'fastfit':>10s} {'NumPy':>10s} {'speed-up':>9s}")
    for name, ours, theirs in rows:
        t_ours, t_numpy = _best_time(ours), _best_time(theirs)
        print(f"{name:32s} {t_ours * 1e3:8.2f}ms {t_numpy * 1e3:8.2f}ms {t_numpy / t_ours:8.1f}x")


def train_both(epochs: int = EPOCHS, dtype=np.float32) -> dict:
    """Train the digits MLP with fastfit's kernels and with NumPy from the same start.

    Returns ``{name: (model, seconds, test_accuracy)}`` for "fastfit" and "NumPy".
    """
    x_train, x_test, y_train, y_test = _load_digits(dtype)
    n = len(x_train)
    perms = [ops.shuffle(n, seed=0, stream=e) for e in range(epochs)]
    order = [perm[i:i + BATCH] for perm in perms for i in range(0, n, BATCH)]
    results = {}
    for name, train, predict in (("fastfit", _train_fastfit, _predict_fastfit),
                                 ("NumPy", _train_numpy, _predict_numpy)):
        model = _FlatMLP(x_train.shape[1], HIDDEN, 10, dtype, seed=0)
        t0 = time.perf_counter()
        train(model, x_train, y_train, order)
        seconds = time.perf_counter() - t0
        results[name] = (model, seconds, float((predict(model, x_test) == y_test).mean()))
    return results


def run_demo(epochs: int = EPOCHS, kernel_table: bool = True) -> int:
    """Print the digits comparison (and the kernel timings); return an exit status."""
    n_train = 1347  # 75% of digits' 1797 rows
    print(f"digits: {n_train} training / 450 test rows, 64 features, 10 classes")
    print(f"MLP 64-{HIDDEN}(BatchNorm, ReLU)-10, Adam lr={LR}, batch {BATCH}, {epochs} epochs, float32")
    print("(kernel-level demo: one C call per op per batch, driven from Python)\n")
    results = train_both(epochs)
    for name, (_, seconds, accuracy) in results.items():
        print(f"{name:8s} test accuracy {accuracy:6.2%}   {seconds:6.2f} s   "
              f"{n_train * epochs / seconds:10,.0f} samples/s")
    speedup = results["NumPy"][1] / results["fastfit"][1]
    print(f"fastfit kernels: {speedup:.1f}x NumPy on this training loop")
    if kernel_table:
        _kernel_table()
    return 0
