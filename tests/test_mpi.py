"""Data-parallel training over MPI: each test starts ``mpiexec -n 2 python -m mpi4py
tests/mpi_cases.py CASE`` (the rank side asserts; ``-m mpi4py`` turns an uncaught
exception on any rank into an abort of the job, so a failure is a non-zero exit, never a
hang -- the timeout is the last guard). Skips when mpi4py or mpiexec is missing
(``pip install '.[mpi]'`` brings both; CI installs them)."""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("mpi4py")

CASES = pathlib.Path(__file__).with_name("mpi_cases.py")
MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join(
    [str(pathlib.Path(sys.executable).parent), os.environ.get("PATH", "")]))
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install '.[mpi]')")
RANKS = 2


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(CASES.parent))
    # MPICH's hydra launcher resolves the host name; where it does not resolve (containers,
    # some CI runners) mpi4py's and conda-forge's CI point it at the loopback interface
    try:
        socket.gethostbyname(socket.gethostname())
    except OSError:
        env.setdefault("HYDRA_IFACE", "lo")
    env.setdefault("HYDRA_LAUNCHER", "fork")   # one machine: no ssh
    return env


def run_case(name, tmp_path, *args, timeout=240):
    out = tmp_path / f"{name}.json"
    cmd = [MPIEXEC, "-n", str(RANKS), sys.executable, "-m", "mpi4py", str(CASES), name,
           str(out), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(),
                          cwd=tmp_path, check=False)
    assert proc.returncode == 0, f"{name}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(out.read_text())


def test_world_size(tmp_path):
    got = run_case("size", tmp_path)
    assert got == {"size": RANKS, "ranks": list(range(RANKS))}


def test_replicated_matches_one_process(tmp_path):
    diffs = run_case("replicated", tmp_path)
    # float64 to rounding (1e-9); float32 within its own tolerance; all cases ran
    assert set(diffs) == {"203-float64", "203-float32", "161-float64", "161-float32",
                          "empty-slice"}
    assert diffs["203-float64"] <= 1e-9 and diffs["161-float64"] <= 1e-9


def test_sharded(tmp_path):
    got = run_case("sharded", tmp_path)
    assert got["diff"] <= 1e-9
    assert 0 < got["r2"] <= 1


def test_error_on_one_rank_raises_on_all(tmp_path):
    seen = run_case("errors", tmp_path)
    assert seen["nan_input"][0] == "ValueError"
    assert seen["nonfinite"][0] == "NonFiniteLossError"
    assert seen["callback"][0] == "KeyError"


def test_estimators_distributed(tmp_path):
    got = run_case("estimators", tmp_path)
    assert got["MLPClassifier"] <= 1e-9 and got["MLPRegressor"] <= 1e-9


def test_checkpoint_on_rank0_only(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    got = run_case("checkpoint", tmp_path, folder)
    assert got["files"] == ["rank0-1.safetensors", "rank0-2.safetensors"]


def test_import_does_not_import_mpi4py():
    code = "import sys, fastfit; assert 'mpi4py' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=pathlib.Path.home())


def test_comm_argument_checked():
    from fastfit import Trainer, nn

    model = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(TypeError, match="mpi4py"):
        Trainer(model, comm=object())
    with pytest.raises(ValueError, match="replicated"):
        Trainer(model, data="scattered")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, batch, width, threads", [
    (203, 32, 16, 1),        # odd sizes, a short last batch
    (33, 32, 5, 1),          # batch norm merges the single last row
    (7, 1, 3, 1),            # batch size 1 (no batch norm: one row has no variance)
    (3000, 1024, 256, 2),    # large: batch norm's parallel passes, two threads
])
def test_one_rank_equals_one_process(dtype, n, batch, width, threads):
    """The data-parallel engine path (synchronised batch norm, global scalars, gradient
    allreduce) on MPI.COMM_SELF: one process's fit to rounding (batch norm's sums are
    centred on the running mean there, on the batch's first row here)."""
    from mpi4py import MPI

    from fastfit import Trainer, nn, optim

    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 6)) + 3.0
    y = rng.integers(0, 4, n)
    bn = [nn.BatchNorm(width)] if batch > 1 else []

    def fit(comm):
        model = nn.Sequential(nn.Linear(6, width), *bn, nn.ReLU(), nn.Dropout(0.2),
                              nn.Linear(width, 4), dtype=dtype, random_state=0)
        t = Trainer(model, optimizer=optim.SGD(lr=0.05, momentum=0.9), batch_size=batch,
                    epochs=2, random_state=1, n_threads=threads, comm=comm)
        t.fit(X, y)
        return model, t

    (m1, t1), (m2, t2) = fit(None), fit(MPI.COMM_SELF)
    tol = 1e-9 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(m2.params, m1.params, rtol=tol, atol=tol)
    np.testing.assert_allclose(m2.stats, m1.stats, rtol=tol, atol=tol)
    np.testing.assert_allclose(t2.history["loss"], t1.history["loss"], rtol=tol)
    # the step's collectives: scalars, two per batch-norm layer, the gradient buffer
    assert t2.comm_stats["calls"] == t2.step_ * (2 + 2 * len(bn))
