"""fastfit.plot: PNGs of training curves and the LR-finder curve; matplotlib stays lazy."""

import os
import subprocess
import sys

import numpy as np
import pytest

from fastfit import Trainer, nn, optim
from fastfit.diagnostics import lr_finder

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_import_does_not_pull_matplotlib(tmp_path):
    # a fresh interpreter outside the repository (its source folder would shadow the
    # installed package)
    code = ("import sys, fastfit, fastfit.diagnostics, fastfit.plot; "
            "bad = [m for m in sys.modules if m.startswith('matplotlib')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=60)


def test_missing_matplotlib_gives_a_clear_error(tmp_path):
    code = ("import sys\n"
            "sys.modules['matplotlib'] = sys.modules['matplotlib.figure'] = None\n"
            "from fastfit.plot import plot_history\n"
            "try:\n    plot_history({'loss': [1.0, 0.5]})\n"
            "except ImportError as e:\n    assert \"pip install 'fastfit[plot]'\" in str(e), e\n"
            "else:\n    raise SystemExit('no ImportError')\n")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=60)


def _assert_png(path):
    assert os.path.getsize(path) > 1000
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    image = pytest.importorskip("matplotlib.image").imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    t = Trainer(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2), random_state=0),
                "cross_entropy", optim.Adam(1e-2, schedule=optim.Cosine()), epochs=6,
                random_state=0)
    t.fit(X, y, validation_fraction=0.2)
    return t, X, y


def test_plot_history_png(tmp_path, trained):
    pytest.importorskip("matplotlib")
    from fastfit.plot import plot_history

    t, _, _ = trained
    path = tmp_path / "history.png"
    fig = plot_history(t, path, title="six epochs")
    _assert_png(path)
    assert len(fig.axes) == 3          # loss, accuracy metrics, learning rate
    assert [line.get_label() for line in fig.axes[0].lines] == ["loss", "val_loss"]
    assert fig.axes[2].get_yscale() == "log"
    # the same from the History, a plain dict (no lr: two panels), and an estimator
    assert len(plot_history(t.history).axes) == 3
    fig = plot_history({"loss": [1.0, 0.6, 0.5], "val_r2": [0.1, 0.5, 0.6]})
    assert len(fig.axes) == 2

    class Est:
        history_ = t.history

    assert len(plot_history(Est(), metrics=["val_accuracy"]).axes) == 3
    with pytest.raises(ValueError, match="not in the history"):
        plot_history(t, metrics=["val_f1"])
    with pytest.raises(ValueError, match="no 'loss'"):
        plot_history({})


def test_plot_lr_finder_png(tmp_path, trained):
    pytest.importorskip("matplotlib")
    from fastfit.plot import plot_lr_finder

    t, X, y = trained
    result = lr_finder(t, X, y, n_steps=80, reinitialize=True)
    path = tmp_path / "lr.png"
    fig = plot_lr_finder(result, path)
    _assert_png(path)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    marked = [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--"]
    assert marked == [result.suggested_lr]
    path2 = tmp_path / "lr2.png"
    result.plot(path2)                 # the result's convenience method
    _assert_png(path2)
