"""Memory bandwidth of this machine, the limit for streaming kernels such as batch norm.

STREAM triad a = b + s*c over 3 x 64 MiB float32 arrays (far beyond L3), timed with the
library's own OpenMP kernel (ff_stream_triad_f32, plain stores as in STREAM) and, for
comparison, NumPy's single-threaded ``np.multiply``/``np.add`` with ``out=``. Bytes are
counted as STREAM does: 3 x n x 4 for the triad (write-allocate traffic not counted).
"""

import numpy as np

from _compare import min_time
from fastfit._lib import lib, ptr

N = 16 * 1024 * 1024  # floats per array (64 MiB)


def stream_triad_gbs(repeat: int = 7) -> float:
    """Best triad bandwidth in GB/s of ff_stream_triad_f32 on the current thread count."""
    a = np.zeros(N, np.float32)
    b = np.ones(N, np.float32)
    c = np.full(N, 2.0, np.float32)
    pa, pb, pc = ptr(a), ptr(b), ptr(c)
    t = min_time(lambda: lib.ff_stream_triad_f32(pa, pb, pc, N, 3.0), repeat)
    return 3 * N * 4 / t / 1e9


def test_stream_triad(benchmark):
    a = np.zeros(N, np.float32)
    b = np.ones(N, np.float32)
    c = np.full(N, 2.0, np.float32)
    pa, pb, pc = ptr(a), ptr(b), ptr(c)
    ours = min_time(lambda: lib.ff_stream_triad_f32(pa, pb, pc, N, 3.0))
    tmp = np.empty_like(a)

    def numpy_triad():
        np.multiply(c, np.float32(3.0), out=tmp)
        np.add(b, tmp, out=a)

    # NumPy's two-pass triad moves 5 arrays' worth; count STREAM's 3 so the figures compare
    numpy_t = min_time(numpy_triad)
    benchmark.pedantic(lambda: lib.ff_stream_triad_f32(pa, pb, pc, N, 3.0), rounds=5, iterations=1)
    gbs = 3 * N * 4 / ours / 1e9
    benchmark.extra_info.update({"triad_GBps": gbs, "numpy_triad_GBps": 3 * N * 4 / numpy_t / 1e9})
    np.testing.assert_allclose(a[:4], 7.0)
    print(f"\n[bandwidth] STREAM triad (ff_stream_triad_f32): {gbs:.1f} GB/s; "
          f"NumPy multiply+add: {3 * N * 4 / numpy_t / 1e9:.1f} GB/s (STREAM bytes)")
