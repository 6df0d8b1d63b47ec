"""``fastfit demo``: train a batch-normalised MLP on real data, then scikit-learn's MLP on the same.

Data: scikit-learn's bundled digits (1797 8x8 images, 10 classes; no download), standardised,
75% for training. fastfit trains ``Linear(64, 128) - BatchNorm - ReLU - Linear(128, 10)`` with
Adam through ``fastfit.Trainer`` (whole blocks of batches per C call) and shows its progress bar;
then scikit-learn's ``MLPClassifier`` trains the same hidden sizes with the same epochs, optimiser,
learning rate and batch size (it has no batch norm). Both test accuracies and training speeds
(samples/s) are printed, and their ratio.

``--kernels`` adds a table of the heavy kernels (GEMM, batch norm, Adam) on training-sized shapes
against NumPy.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from fastfit import Trainer, nn, ops, optim
from fastfit.callbacks import ProgressBar

HIDDEN = 128
EPOCHS = 30
QUICK_EPOCHS = 3
BATCH = 64
LR = 1e-3
EPS = 1e-5


def load_digits(dtype=np.float32):
    """Standardised digits split 75/25 (stratified, fixed seed)."""
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = _load(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_train)
    return (scaler.transform(x_train).astype(dtype), scaler.transform(x_test).astype(dtype),
            y_train.astype(np.int64), y_test.astype(np.int64))


def train_fastfit(data, epochs: int = EPOCHS, verbose: bool = True, random_state: int = 0):
    """Train the demo's MLP with fastfit; returns ``(trainer, seconds, test_accuracy)``.

    ``seconds`` is the training time the trainer records per epoch (``history["seconds"]``):
    the C calls and the Python between them, not the printing of the progress bar.
    """
    x_train, x_test, y_train, y_test = data
    model = nn.Sequential(nn.Linear(x_train.shape[1], HIDDEN), nn.BatchNorm(HIDDEN), nn.ReLU(),
                          nn.Linear(HIDDEN, 10), dtype=x_train.dtype, random_state=random_state)
    # The bar goes to stdout, so that it sits between the demo's own lines when piped.
    trainer = Trainer(model, "cross_entropy", optim.Adam(lr=LR), epochs=epochs, batch_size=BATCH,
                      shuffle=True, random_state=random_state, verbose=verbose,
                      callbacks=[ProgressBar(file=sys.stdout)] if verbose else None)
    history = trainer.fit(x_train, y_train)
    seconds = float(sum(history["seconds"]))
    accuracy = float(np.mean(trainer.predict(x_test).argmax(1) == y_test))
    return trainer, seconds, accuracy


def train_sklearn(data, epochs: int = EPOCHS, random_state: int = 0):
    """scikit-learn's MLPClassifier with the same hidden sizes, epochs, Adam settings and
    batch size; returns ``(model, seconds, test_accuracy)`` (wall time of ``fit``)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_train, x_test, y_train, y_test = data
    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), solver="adam", learning_rate_init=LR,
                        batch_size=BATCH, max_iter=epochs, alpha=0.0, shuffle=True,
                        n_iter_no_change=epochs + 1, tol=0.0, random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the epoch count
        t0 = time.perf_counter()
        clf.fit(x_train, y_train)
        seconds = time.perf_counter() - t0
    return clf, seconds, float(clf.score(x_test, y_test))


def _best_time(fn, repeat=5):
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def kernel_table(rows: int = 65536, params: int = 4_000_000):
    """Time the heavy kernels on training-sized shapes against their NumPy equivalents."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    a, b = rng.standard_normal((rows // 16, 256), f32), rng.standard_normal((256, 256), f32)
    x = rng.standard_normal((rows, 256), f32)
    gamma, beta = np.ones(256, f32), np.zeros(256, f32)
    dy = rng.standard_normal(x.shape, f32)
    p, gr = rng.standard_normal(params, f32), rng.standard_normal(params, f32)
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
        (f"GEMM {rows // 16}x256 @ 256x256", lambda: ops.matmul(a, b), lambda: a @ b),
        (f"batch norm fwd+bwd {rows}x256", bn_fastfit, bn_numpy),
        (f"Adam step, {params / 1e6:g}M parameters", lambda: ops.adam_update(p, gr, m, v, 1, 1e-3),
         adam_numpy),
    ]
    print(f"\n{'kernel (float32)':32s} {'fastfit':>10s} {'NumPy':>10s} {'speed-up':>9s}")
    for name, ours, theirs in rows:
        t_ours, t_numpy = _best_time(ours), _best_time(theirs)
        print(f"{name:32s} {t_ours * 1e3:8.2f}ms {t_numpy * 1e3:8.2f}ms {t_numpy / t_ours:8.1f}x")


def run_demo(epochs: int = EPOCHS, kernels: bool = False, verbose: bool = True) -> int:
    """Print the fastfit vs scikit-learn comparison (and the kernel table); return 0."""
    data = load_digits()
    n_train, n_test = len(data[0]), len(data[1])
    print(f"digits (scikit-learn's bundled copy): {n_train} training / {n_test} test rows, "
          f"64 features, 10 classes")
    print(f"MLP 64-{HIDDEN}-10, Adam lr={LR:g}, batch {BATCH}, {epochs} epochs, float32\n")
    print("fastfit: Linear - BatchNorm - ReLU - Linear, fastfit.Trainer", flush=True)
    _, t_ours, acc_ours = train_fastfit(data, epochs, verbose=verbose)
    print(f"\nscikit-learn: MLPClassifier(hidden_layer_sizes=({HIDDEN},), solver='adam') "
          "(no batch norm)", flush=True)
    _, t_sk, acc_sk = train_sklearn(data, epochs)
    samples = n_train * epochs
    print()
    for name, seconds, accuracy in (("fastfit", t_ours, acc_ours),
                                    ("scikit-learn", t_sk, acc_sk)):
        print(f"{name:12s}  test accuracy {accuracy:7.2%}   training {seconds:7.3f} s   "
              f"{samples / seconds:12,.0f} samples/s")
    print(f"fastfit trained {t_sk / t_ours:.1f}x faster than scikit-learn's MLPClassifier "
          f"(same data, hidden sizes, epochs, optimiser and batch size)")
    if kernels:
        print()
        kernel_table()
    return 0
