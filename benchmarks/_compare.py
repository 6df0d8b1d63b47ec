"""Same-run comparisons: time ours and a baseline back to back, report the ratio.

These machines are shared and noisy, so an absolute time means little; a ratio of two
minima measured in the same process, interleaved, means more. ``compare`` stores the
ratio in pytest-benchmark's ``extra_info`` (it lands in ``--benchmark-json``) and prints
it; the README's table is read from those lines.
"""

from __future__ import annotations

import functools
import statistics
import time
from typing import Callable


def min_time(fn: Callable[[], object], repeat: int = 7, number: int = 1) -> float:
    """Best wall time of ``number`` back-to-back calls, over ``repeat`` tries (seconds/call)."""
    return min(_times(fn, repeat, number))


def _times(fn: Callable[[], object], repeat: int, number: int) -> list[float]:
    """Wall times (seconds/call) of ``repeat`` tries of ``number`` back-to-back calls."""
    fn()  # warm up: first-touch pages, lazy init, caches
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        out.append((time.perf_counter() - t0) / number)
    return out


def compare(benchmark, ours: Callable[[], object], baseline: Callable[[], object], *,
            baseline_name: str, repeat: int = 7, number: int = 1,
            statistic: str = "min", rounds: int = 3, settle: float = 0.0) -> float:
    """Time ``ours`` under pytest-benchmark and ``baseline`` alongside; return the speed-up.

    The two are timed in alternating rounds so that load from other processes hits both.
    ``statistic`` is "min" (the best try: the code's speed without interference) or
    "median" (the typical try: what a user meets, thread-pool contention included).
    ``settle`` seconds pass before each switch from one side to the other, so that each
    side starts with the other's thread pools asleep: OpenBLAS's idle workers spin ~0.1 s
    after every call (libgomp's, under fastfit, ~20 us), and without a pause the side
    timed second runs on cores the first side's pool still spins on.
    Returns ``baseline_time / ours_time`` (> 1 means fastfit is faster).
    """
    pick = {"min": min, "median": statistics.median}[statistic]
    ours_times, baseline_times = [], []
    for _ in range(rounds):
        time.sleep(settle)
        baseline_times += _times(baseline, repeat, number)
        time.sleep(settle)
        ours_times += _times(ours, repeat, number)
    ours_best, baseline_best = pick(ours_times), pick(baseline_times)
    benchmark.pedantic(ours, rounds=repeat, iterations=number, warmup_rounds=0)
    ratio = baseline_best / ours_best
    benchmark.extra_info.update({
        "ours_s": ours_best, f"{baseline_name}_s": baseline_best,
        f"speedup_vs_{baseline_name}": ratio,
    })
    print(f"\n[ratio] {benchmark.name}: fastfit {ours_best * 1e3:.3f} ms, "
          f"{baseline_name} {baseline_best * 1e3:.3f} ms, speed-up {ratio:.2f}x")
    return ratio


@functools.cache
def gemm_peak_flops(dtype: str = "float32", n: int = 1024) -> tuple[float, float, float]:
    """(best, fastfit's, NumPy's) GEMM rate on n^3 in FLOP/s, measured once per run and
    dtype: the compute limit the benchmarks write down (hosts differ: 210 GFLOP/s float32
    on one Zen 4 VM, 280 on one Xeon VM, both two cores)."""
    import numpy as np

    from fastfit import ops
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    t_ours = min_time(lambda: ops.matmul(a, b), repeat=5)
    t_numpy = min_time(lambda: a @ b, repeat=5)
    return 2 * n**3 / min(t_ours, t_numpy), 2 * n**3 / t_ours, 2 * n**3 / t_numpy
