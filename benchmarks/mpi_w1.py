"""The rank side of bench_mpi.py: W1 data-parallel over 2 ranks against one process.

    mpiexec -n 2 python -m mpi4py benchmarks/mpi_w1.py OUT.json [ROWS] [ROUNDS]

W1 = MLP 64-256(BN, ReLU)-256(BN, ReLU)-10, Adam(1e-3), global batch 512, float32, one
epoch over ROWS rows per measurement. Three configurations, timed in interleaved rounds
in this one job (so load from other processes hits all three; medians reported):

- "2x1": both ranks, one thread each, ``Trainer(comm=COMM_WORLD)`` (replicated data);
- "1x1": rank 0 alone, one thread (rank 1 sleeps in a non-blocking barrier, no spinning);
- "1x2": rank 0 alone, two OpenMP threads;
- "self": rank 0 alone, one thread, ``comm=COMM_SELF``: the data-parallel engine path with
  one rank, so its extra time over "1x1" is the per-step overhead of the hook itself (the
  cffi callbacks into mpi4py, the global scalars, batch norm's split passes).

Also measured: the time the 2-rank fit spends inside the engine's collectives (waits for
the other rank included), and the bare cost of the step's collectives (the gradient
buffer, 4 x P bytes, and a 7-double scalar allreduce) from Python, from which a ring
allreduce model (latency + bandwidth terms) projects 8 and 64 ranks.
"""

import json
import math
import statistics
import sys
import time

import numpy as np
from mpi4py import MPI

from fastfit import Trainer, nn, optim

COMM = MPI.COMM_WORLD
RANK = COMM.Get_rank()
BATCH, HIDDEN, FEATURES, CLASSES = 512, 256, 64, 10


def data(rows):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    w = rng.standard_normal((FEATURES, CLASSES)).astype(np.float32)
    return x, np.argmax(np.tanh(x @ w), 1).astype(np.int64)


def w1():
    return nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.BatchNorm(HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, HIDDEN), nn.BatchNorm(HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, CLASSES), random_state=0)


def epoch_seconds(x, y, threads, comm):
    t = Trainer(w1(), optimizer=optim.Adam(1e-3), batch_size=BATCH, epochs=1, random_state=0,
                n_threads=threads, comm=comm)
    t.fit(x[:BATCH * 2], y[:BATCH * 2])           # warm up: workspace, pages, callback
    start = t.comm_stats["seconds"] if comm is not None else 0.0
    t0 = time.perf_counter()
    t.fit(x, y)
    seconds = time.perf_counter() - t0
    inside = (t.comm_stats["seconds"] - start) if comm is not None else 0.0
    return seconds, inside, t.model.n_params


def idle_wait():
    """Rank 1 waits for rank 0 without spinning on a core (MPI barriers busy-poll)."""
    req = COMM.Ibarrier()
    while not req.Test():
        time.sleep(0.002)


def alone(fn):
    if RANK == 0:
        out = fn()
        COMM.Ibarrier().Wait()
        return out
    idle_wait()
    return None


def allreduce_seconds(n_values, dtype, repeat=200):
    buf = np.ones(n_values, dtype)
    COMM.Barrier()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        COMM.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ring(ranks, n_bytes, alpha, beta):
    """Ring allreduce: 2 (R-1) messages of n/R bytes each (reduce-scatter + allgather)."""
    return 2 * (ranks - 1) * alpha + 2 * (ranks - 1) / ranks * n_bytes / beta


def main():
    out_path = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 65536
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    x, y = data(rows)
    steps = rows // BATCH
    runs = {"2x1": [], "1x1": [], "1x2": [], "self": []}
    inside = []
    n_params = None
    for _ in range(rounds):
        seconds, comm_s, n_params = epoch_seconds(x, y, 1, COMM)
        runs["2x1"].append(COMM.bcast(seconds, root=0))
        inside.append(COMM.bcast(comm_s, root=0))
        for key, threads, comm in (("1x1", 1, None), ("1x2", 2, None),
                                   ("self", 1, MPI.COMM_SELF)):
            got = alone(lambda threads=threads, comm=comm: epoch_seconds(x, y, threads, comm)[0])
            runs[key].append(COMM.bcast(got, root=0))
    med = {k: statistics.median(v) for k, v in runs.items()}
    grad_bytes = 4 * n_params
    t_grad = allreduce_seconds(n_params, np.float32)
    t_small = allreduce_seconds(7, np.float64)
    t_bn = allreduce_seconds(2 * HIDDEN + 1, np.float64)
    # per step: the scalars, two per batch-norm layer (2), the gradient buffer
    comm_step = t_small + 4 * t_bn + t_grad
    # the 2-rank ring: 2 (R-1) = 2 messages; alpha from the small message, beta from the big
    alpha = t_small / 2
    beta = grad_bytes / max(t_grad - t_small, 1e-9)
    step_1 = med["1x1"] / steps                    # one process, one thread, batch 512
    projection = {}
    # measured (shared memory, this machine) and an assumed network between nodes
    # (100 Gb/s InfiniBand-class: 5 us latency per message, 12.5 GB/s)
    for net, (a, b) in (("measured", (alpha, beta)), ("network", (5e-6, 12.5e9))):
        for ranks in (2, 8, 64):
            small = math.log2(ranks) * 2 * a       # recursive doubling: log2 R exchanges
            comm = ring(ranks, grad_bytes, a, b) + 5 * small
            strong = step_1 / ranks + comm         # global batch 512 cut R ways
            local = step_1 / 2                     # 256 rows per rank (global 256 R)
            weak = local / (local + comm)
            projection[f"{net}-{ranks}"] = {
                "comm_us": comm * 1e6, "strong_speedup": step_1 / strong,
                "strong_efficiency": step_1 / strong / ranks,
                "weak_efficiency_256_per_rank": weak}
    result = {
        "rows": rows, "steps_per_epoch": steps, "n_params": n_params, "rounds": rounds,
        "seconds": runs, "median_seconds": med,
        "samples_per_s": {k: rows / v for k, v in med.items()},
        "speedup_2x1_vs_1x1": med["1x1"] / med["2x1"],
        "speedup_2x1_vs_1x2": med["1x2"] / med["2x1"],
        "step_ms_1x1": step_1 * 1e3,
        "step_ms_2x1": med["2x1"] / steps * 1e3,
        "hook_overhead_us_per_step": (med["self"] - med["1x1"]) / steps * 1e6,
        "inside_collectives_share": statistics.median(inside) / med["2x1"],
        "bare_collectives_us_per_step": comm_step * 1e6,
        "bare_collectives_share": comm_step / (med["2x1"] / steps),
        "allreduce_grad_us": t_grad * 1e6, "allreduce_small_us": t_small * 1e6,
        "allreduce_bn_us": t_bn * 1e6, "alpha_us": alpha * 1e6, "beta_GBps": beta / 1e9,
        "projection": projection,
    }
    if RANK == 0:
        with open(out_path, "w") as f:
            json.dump(result, f, indent=1)
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
