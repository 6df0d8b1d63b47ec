"""Peak memory of ``Trainer.fit``: the data once, the model state, a workspace linear in batch x width.

NumPy allocations are traced by ``tracemalloc``; what a fit allocates beyond the arrays
passed in must be the optimizer state and gradients (a few copies of the parameters), the
workspace (activations and their gradients for one batch), and the epoch's int64 order --
never another copy of an X that is already C-contiguous in the model's dtype, and exactly
one copy of one that is not.
"""

import tracemalloc

import numpy as np
import pytest

from fastfit import Trainer, nn, optim

N, D, H, K, BATCH = 200_000, 64, 32, 10, 256
SLACK = 1 << 20  # Python objects, history, small temporaries


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D), dtype=np.float32)
    y = (x[:, :K] + 0.5 * rng.standard_normal((N, K), dtype=np.float32)).argmax(1).astype(np.int64)
    return x, y


def _trainer():
    model = nn.Sequential(nn.Linear(D, H), nn.BatchNorm(H), nn.ReLU(), nn.Linear(H, K),
                          random_state=0)
    return Trainer(model, "cross_entropy", optim.Adam(), epochs=1, batch_size=BATCH,
                   random_state=0, n_threads=1)


def _expected(trainer, n_rows):
    model = trainer.model
    item = model.dtype.itemsize
    # Gradients and Adam's m and v exist before the measured fit; the fit keeps epoch
    # snapshots (parameters, statistics, m, v) to undo Ctrl-C, two alive at a swap.
    state = 2 * (3 * model.n_params + model.stats.size) * item
    workspace = (2 * (BATCH + 1) * model.plan.width + model.plan.save_size) * item
    workspace += (BATCH + 1) * (model.plan.mask_width + item + 8)  # masks, batch weights, labels
    return state + workspace + n_rows * 8          # + the epoch's int64 order


def _fit_peak(trainer, x, y):
    """Peak NumPy memory allocated during fit beyond what existed before it (bytes)."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        trainer.fit(x, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def test_fit_does_not_copy_ready_data(data):
    x, y = data
    trainer = _trainer()
    trainer.fit(x[:1024], y[:1024])  # state allocated outside the measurement
    extra = _fit_peak(trainer, x, y)
    assert extra <= _expected(trainer, N) + SLACK, (extra, _expected(trainer, N))
    assert extra < x.nbytes / 8


def test_fit_with_validation_fraction_does_not_copy(data):
    x, y = data
    trainer = _trainer()
    trainer.fit(x[:1024], y[:1024], validation_fraction=0.1)  # imports sklearn's splitter
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        trainer.fit(x, y, validation_fraction=0.1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The split selects rows by index, it does not copy X; what it allocates is O(rows)
    # index temporaries (scikit-learn's stratified splitter: ~72 bytes a row, 14 MB here).
    assert peak - before < x.nbytes / 2


@pytest.mark.parametrize("layout", ["float64", "fortran"])
def test_fit_copies_other_layouts_once(data, layout):
    x, y = data
    x_in = x.astype(np.float64) if layout == "float64" else np.asfortranarray(x)
    trainer = _trainer()
    trainer.fit(x[:1024], y[:1024])
    extra = _fit_peak(trainer, x_in, y)
    copy = x.nbytes  # one C-contiguous float32 copy
    assert copy <= extra <= copy + _expected(trainer, N) + SLACK, (extra, copy)
