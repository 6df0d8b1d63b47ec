"""End to end: ``fastfit demo`` trains on digits with the Trainer and with scikit-learn."""

import functools

import numpy as np

from fastfit import _demo
from fastfit._cli import main


def test_fastfit_and_sklearn_learn_digits():
    data = _demo.load_digits()
    assert data[0].dtype == np.float32 and data[0].shape == (1347, 64)
    trainer, seconds, accuracy = _demo.train_fastfit(data, epochs=5, verbose=False)
    assert seconds > 0 and accuracy > 0.9
    assert len(trainer.history) == 5 and trainer.step_ == 5 * -(-1347 // _demo.BATCH)
    clf, seconds, accuracy = _demo.train_sklearn(data, epochs=5)
    assert seconds > 0 and accuracy > 0.9
    assert clf.n_iter_ == 5  # the same number of epochs, no early stop


def test_cli_demo_quick(capsys):
    assert main(["demo", "--quick"]) == 0
    out = capsys.readouterr().out
    assert f"{_demo.QUICK_EPOCHS} epochs" in out
    assert f"epoch {_demo.QUICK_EPOCHS}/{_demo.QUICK_EPOCHS}" in out  # the progress bar
    lines = {line.split()[0]: line for line in out.splitlines() if "test accuracy" in line}
    assert set(lines) == {"fastfit", "scikit-learn"}
    for line in lines.values():
        assert "samples/s" in line and float(line.split()[3].rstrip("%")) > 50
    assert "faster than scikit-learn" in out


def test_cli_demo_epochs_and_kernel_table(capsys, monkeypatch):
    # The kernel table at a small size: its rows are what is checked, not its timings.
    monkeypatch.setattr(_demo, "kernel_table",
                        functools.partial(_demo.kernel_table, rows=1024, params=10_000))
    assert main(["demo", "--epochs", "1", "--kernels"]) == 0
    out = capsys.readouterr().out
    assert "1 epochs" in out and "epoch 1/1" in out
    for row in ("GEMM 64x256 @ 256x256", "batch norm fwd+bwd 1024x256", "Adam step, 0.01M"):
        assert row in out
