"""The rank side of tests/test_mpi.py: ``mpiexec -n 2 python -m mpi4py mpi_cases.py CASE OUT``.

Each case runs on every rank, asserts (an AssertionError aborts the whole job through
``-m mpi4py``, so the pytest side sees a non-zero exit) and rank 0 writes what it
measured to OUT as JSON for the pytest side to check again. The one-process reference
of each data-parallel fit is trained in the same script, on every rank.
"""

import copy
import json
import os
import sys

import numpy as np
from mpi4py import MPI

from fastfit import MLPClassifier, MLPRegressor, NonFiniteLossError, Trainer, nn, optim
from fastfit.callbacks import Callback, EarlyStopping, ModelCheckpoint

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()


def bn_dropout_model(dtype, n_features=7, n_out=3):
    return nn.Sequential(nn.Linear(n_features, 16), nn.BatchNorm(16), nn.ReLU(),
                         nn.Dropout(0.25), nn.Linear(16, 12), nn.BatchNorm(12), nn.Tanh(),
                         nn.Linear(12, n_out), dtype=dtype, random_state=3)


def same_on_every_rank(*arrays):
    """Bitwise: every rank's bytes equal rank 0's."""
    mine = b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)
    return all(other == mine for other in COMM.allgather(mine))


def pair(dtype, make, fit_kwargs, **trainer_kwargs):
    """(one process, data-parallel) trainers after the same fit."""
    single = Trainer(make(dtype), random_state=5, n_threads=1, **copy.deepcopy(trainer_kwargs))
    single.fit(**fit_kwargs)
    dist = Trainer(make(dtype), random_state=5, n_threads=1, comm=COMM,
                   **copy.deepcopy(trainer_kwargs))
    dist.fit(**fit_kwargs)
    return single, dist


def case_size():
    return {"size": SIZE, "ranks": COMM.allgather(RANK)}


def case_replicated():
    """2 ranks with global batch B give one process's weights with batch B."""
    rng = np.random.default_rng(0)
    out = {}
    # 203 rows / 32: a short last batch; 161 rows / 32 = 5 r 1: batch norm merges the
    # single last row into the batch before it
    for n in (203, 161):
        X = rng.normal(size=(n, 7))
        y = rng.integers(0, 3, n)
        w = rng.uniform(0.5, 2.0, n)
        # float32: SGD, whose update is linear in the gradient (Adam's sign-like update
        # turns a float32 rounding of a near-zero gradient into a full lr step)
        for dtype, tol, opt in (
                (np.float64, 1e-9, optim.Adam(lr=3e-3, clip_norm=1.0, weight_decay=1e-3)),
                (np.float32, 1e-4, optim.SGD(lr=0.05, momentum=0.9, clip_norm=1.0))):
            single, dist = pair(dtype, bn_dropout_model,
                                {"X": X, "y": y, "sample_weight": w, "validation_fraction": 0.2},
                                optimizer=opt, batch_size=32, epochs=4)
            m1, m2 = single.model, dist.model
            diff = max(float(np.max(np.abs(m1.params - m2.params))),
                       float(np.max(np.abs(m1.stats - m2.stats))))
            assert diff <= tol * max(1.0, float(np.max(np.abs(m1.params)))), (n, dtype, diff)
            assert same_on_every_rank(m2.params, m2.stats, *dist._slots)
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                a = [row[key] for row in single.history.rows]
                b = [row[key] for row in dist.history.rows]
                assert np.allclose(a, b, rtol=tol, atol=tol), (key, a, b)
            assert dist.step_ == single.step_
            out[f"{n}-{np.dtype(dtype).name}"] = diff
    # a global batch smaller than the ranks: one rank holds no row of the last batch
    X = rng.normal(size=(97, 5))
    y = rng.normal(size=(97, 2))

    def mlp(dtype):
        return nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.Dropout(0.1), nn.Linear(8, 2),
                             dtype=dtype, random_state=1)

    single, dist = pair(np.float64, mlp, {"X": X, "y": y}, loss="mse", optimizer="sgd",
                        batch_size=32, epochs=3)
    diff = float(np.max(np.abs(single.model.params - dist.model.params)))
    assert diff <= 1e-9, diff
    assert same_on_every_rank(dist.model.params)
    out["empty-slice"] = diff
    return out


def case_sharded():
    """Own rows per rank (37 and 63): one global batch over them is one process's batch
    of the concatenated rows; with more batches the ranks stay identical."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 7))
    y = rng.integers(0, 3, 100)
    Xv = rng.normal(size=(40, 7))
    yv = rng.integers(0, 3, 40)
    cut, vcut = 37, 15
    mine = slice(0, cut) if RANK == 0 else slice(cut, None)
    vmine = slice(0, vcut) if RANK == 0 else slice(vcut, None)
    single = Trainer(bn_dropout_model(np.float64), random_state=2, batch_size=100, epochs=3,
                     shuffle=False, n_threads=1)
    single.fit(X, y, validation_data=(Xv, yv))
    dist = Trainer(bn_dropout_model(np.float64), random_state=2, batch_size=100, epochs=3,
                   shuffle=False, n_threads=1, comm=COMM, data="sharded")
    dist.fit(X[mine], y[mine], validation_data=(Xv[vmine], yv[vmine]))
    diff = float(np.max(np.abs(single.model.params - dist.model.params)))
    assert diff <= 1e-9, diff
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        a = [row[key] for row in single.history.rows]
        b = [row[key] for row in dist.history.rows]
        assert np.allclose(a, b, rtol=1e-9, atol=1e-12), (key, a, b)
    # several batches, shuffled, a regression with global r2
    yr = X[:, :2] @ np.array([[1.0, -2.0], [0.5, 1.0]])
    reg = Trainer(nn.Sequential(nn.Linear(7, 16), nn.BatchNorm(16), nn.ReLU(), nn.Linear(16, 2),
                                random_state=0, dtype=np.float64),
                  loss="mse", optimizer=optim.Adam(lr=1e-2), batch_size=16, epochs=20,
                  random_state=4, n_threads=1, comm=COMM, data="sharded")
    reg.fit(X[mine], yr[mine], validation_data=(X[mine], yr[mine]))
    assert same_on_every_rank(reg.model.params, reg.model.stats)
    rows = reg.history.rows
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert same_on_every_rank(np.array([[r["loss"], r["val_loss"], r["val_r2"]] for r in rows]))
    # the global r2 is that of every rank's rows together
    from sklearn.metrics import r2_score

    pred = reg.predict(X)
    assert abs(rows[-1]["val_r2"] - r2_score(yr, pred)) < 1e-9
    return {"diff": diff, "r2": rows[-1]["val_r2"]}


class _FailOn(Callback):
    def __init__(self, rank):
        self.rank = rank

    def on_epoch_end(self, trainer, epoch, logs):
        if RANK == self.rank and epoch == 1:
            raise KeyError("callback failed on purpose")


def _raised(fn):
    """(type name, message) of what fn raised, on this rank."""
    try:
        fn()
    except Exception as err:   # noqa: BLE001 -- the case compares what every rank saw
        return type(err).__name__, str(err)
    return None


def case_errors():
    """An error on one rank raises the same exception on every rank; nothing hangs."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(64, 7))
    y = rng.integers(0, 3, 64)
    seen = {}

    def trainer(**kw):
        return Trainer(bn_dropout_model(np.float64), batch_size=16, epochs=3, random_state=0,
                       n_threads=1, comm=COMM, **kw)

    # invalid input on rank 1 only
    Xbad = X.copy()
    if RANK == 1:
        Xbad[3, 2] = np.nan
    seen["nan_input"] = _raised(lambda: trainer().fit(Xbad, y))
    # replicated fits need the same rows everywhere
    seen["different_rows"] = _raised(lambda: trainer().fit(X + RANK, y))
    # a non-finite loss on one rank's shard: every rank stops at the same batch
    Xbig = X.copy()
    if RANK == 1:
        Xbig[:, :] = 1e200
    t = Trainer(nn.Sequential(nn.Linear(7, 4), nn.Linear(4, 1), dtype=np.float64,
                              random_state=0),
                loss="mse", batch_size=16, epochs=2, random_state=0, n_threads=1, comm=COMM,
                data="sharded")
    before = t.model.params.copy()
    seen["nonfinite"] = _raised(lambda: t.fit(Xbig, rng.normal(size=64)))
    assert np.array_equal(t.model.params, before)   # the last good weights kept
    # a callback failing on rank 1
    seen["callback"] = _raised(lambda: trainer(callbacks=[_FailOn(1)]).fit(X, y))
    everyone = COMM.allgather(seen)
    for key, value in seen.items():
        assert value is not None, key
        assert all(other[key] == value for other in everyone), (key, everyone)
    assert seen["nan_input"][0] == "ValueError" and "rank 1" in seen["nan_input"][1]
    assert seen["different_rows"][0] == "ValueError"
    assert seen["nonfinite"][0] == NonFiniteLossError.__name__
    assert seen["callback"][0] == "KeyError"
    # the communicator still works: a clean fit after the failures
    t = trainer()
    t.fit(X, y)
    assert same_on_every_rank(t.model.params)
    return {k: list(v) for k, v in seen.items()}


def case_estimators():
    """MLP*(distributed=True) fits what distributed=False fits, the same on every rank."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    out = {}
    for cls, target, extra in ((MLPClassifier, y, {"batch_norm": True, "dropout": 0.1}),
                               (MLPRegressor, X[:, :2].sum(1), {})):
        kw = {"hidden_layer_sizes": (12, 8), "max_iter": 6, "batch_size": 40, "random_state": 0,
              "n_threads": 1, "early_stopping": True, "n_iter_no_change": 100, **extra}
        one = cls(**kw).fit(X.astype(np.float64), target)
        many = cls(distributed=True, **kw).fit(X.astype(np.float64), target)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(one.coefs_, many.coefs_))
        assert diff <= 1e-9, (cls.__name__, diff)
        assert np.allclose(one.loss_curve_, many.loss_curve_, rtol=1e-9)
        assert same_on_every_rank(*many.coefs_, *many.intercepts_)
        out[cls.__name__] = diff
    # partial_fit: each call one distributed epoch
    kw = {"hidden_layer_sizes": (12,), "batch_size": 32, "random_state": 1, "n_threads": 1}
    one, many = MLPClassifier(**kw), MLPClassifier(distributed=True, **kw)
    for _ in range(2):
        one.partial_fit(X, y, classes=[0, 1, 2])
        many.partial_fit(X, y, classes=[0, 1, 2])
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(one.coefs_, many.coefs_))
    assert diff <= 1e-9 and same_on_every_rank(*many.coefs_), diff
    out["partial_fit"] = diff
    # random_state=None: the ranks still draw one model and one batch order
    free = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, distributed=True,
                         n_threads=1).fit(X, y)
    assert same_on_every_rank(*free.coefs_)
    return out


def case_checkpoint(folder):
    """Only rank 0 writes checkpoints."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(64, 7))
    y = rng.integers(0, 3, 64)
    path = os.path.join(folder, f"rank{RANK}-{{epoch}}.safetensors")
    t = Trainer(bn_dropout_model(np.float32), batch_size=16, epochs=2, random_state=0,
                n_threads=1, comm=COMM, callbacks=[ModelCheckpoint(path), EarlyStopping("loss")])
    t.fit(X, y)
    COMM.Barrier()
    return {"files": sorted(os.listdir(folder))}


if __name__ == "__main__":
    name, out_path = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    result = globals()[f"case_{name}"](*args)
    if RANK == 0:
        with open(out_path, "w") as f:
            json.dump(result, f)
