"""Time the GEMMs of one W1 training step alone, with raw C calls (no wrapper overhead).

W1 is the MLP 64-256-256-10 with batch norm, batch 256 (bench_training.py). Prints each
product's time and GFLOP/s and their sum, to compare with a whole step's time:

    python benchmarks/w1_parts.py [threads]
"""

import sys
import timeit

import numpy as np

import fastfit
from fastfit._lib import ffi, lib

# (m, n, k, trans_a, trans_b, beta): forward y = x @ W, backward dW += x^T dy, dx = dy @ W^T
SHAPES = {
    "fwd 256x64 @ 64x256": (256, 256, 64, 0, 0, 0.0),
    "fwd 256x256 @ 256x256": (256, 256, 256, 0, 0, 0.0),
    "fwd 256x256 @ 256x10": (256, 10, 256, 0, 0, 0.0),
    "dW3 h^T @ dy (256x10)": (256, 10, 256, 1, 0, 1.0),
    "dx3 dy @ W^T (k=10)": (256, 256, 10, 0, 1, 0.0),
    "dW2 h^T @ dy (256x256)": (256, 256, 256, 1, 0, 1.0),
    "dx2 dy @ W^T (256x256)": (256, 256, 256, 0, 1, 0.0),
    "dW1 x^T @ dy (64x256)": (64, 256, 256, 1, 0, 1.0),
}


def time_gemm(m, n, k, ta, tb, beta, rng):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = np.zeros((m, n), np.float32)
    pa, pb, pc = (ffi.from_buffer("float[]", z) for z in (a, b, c))
    lda, ldb = a.shape[1], b.shape[1]

    def call():
        lib.ff_gemm_f32(pc, pa, pb, ffi.NULL, m, n, k, lda, ldb, n, ta, tb, 1.0, beta, 0, 0.0)

    return min(timeit.repeat(call, number=200, repeat=5)) / 200


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rng = np.random.default_rng(0)
    total = 0.0
    with fastfit.num_threads(threads):
        for name, (m, n, k, ta, tb, beta) in SHAPES.items():
            t = time_gemm(m, n, k, ta, tb, beta, rng)
            total += t
            print(f"{name:26s} {t * 1e6:7.1f} us {2 * m * n * k / t / 1e9:6.1f} GFLOP/s")
    print(f"{'sum':26s} {total * 1e6:7.1f} us on {threads} thread(s)")


if __name__ == "__main__":
    main()
