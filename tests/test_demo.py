"""End to end: the demo's training loop on fastfit kernels matches the same loop in NumPy."""

import numpy as np

from fastfit import _demo
from fastfit._cli import main


def test_kernel_training_loop_matches_numpy_and_learns():
    results = _demo.train_both(epochs=3, dtype=np.float64)
    ours, _, acc_ours = results["fastfit"]
    numpy_model, _, acc_numpy = results["NumPy"]
    # Same initial weights, same batches, same maths: in float64 the two runs agree to
    # rounding, step after step (Adam's normalisation keeps small differences small).
    np.testing.assert_allclose(ours.flat, numpy_model.flat, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.running_var, numpy_model.running_var, rtol=1e-9)
    assert acc_ours > 0.9 and acc_numpy > 0.9


def test_cli_demo_runs(capsys):
    assert main(["demo", "--epochs", "1", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "fastfit  test accuracy" in out and "NumPy" in out
