"""Activations, row softmax and dropout against PyTorch's eager CPU ops, 4096 x 256 float32
(the softmax also 4096 x 10), 2 threads. Forward through the ``fastfit.ops`` wrappers (a
new output array per call, as torch allocates one); the same-run ratio is printed and
stored.

Run: PYTHONPATH=benchmarks python -m pytest benchmarks/bench_layers.py --benchmark-only -s \
         -p no:cacheprovider --import-mode=importlib
"""

import numpy as np
import pytest

from _compare import compare
from fastfit import ops

SHAPE = (4096, 256)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu"])
def test_activation_forward(benchmark, torch, x, activation):
    fn = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
          "gelu": torch.nn.functional.gelu}[activation]
    xt = torch.from_numpy(x)
    compare(benchmark, lambda: ops.activation_forward(x, activation), lambda: fn(xt),
            baseline_name="torch")


@pytest.mark.parametrize("classes", [256, 10])
def test_softmax(benchmark, torch, x, classes):
    # 10 classes: predict_proba's shape, rows too short to fill a vector on their own
    xs = np.ascontiguousarray(x[:, :classes])
    xt = torch.from_numpy(xs)
    compare(benchmark, lambda: ops.softmax(xs), lambda: torch.softmax(xt, 1),
            baseline_name="torch")


def test_dropout_forward(benchmark, torch, x):
    xt = torch.from_numpy(x)
    compare(benchmark, lambda: ops.dropout_forward(x, 0.1, seed=1),
            lambda: torch.nn.functional.dropout(xt, 0.1, training=True), baseline_name="torch")
