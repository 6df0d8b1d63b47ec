"""How fastfit's OpenMP pool shares the cores with NumPy/SciPy's BLAS pool.

Two thread pools that each believe they own every core fight: a pool that has just
finished keeps its workers spinning, and the other pool's threads then wait for a time
slice at each of their barriers. On a 2-core machine a 2000 x 20 LogisticRegression fit
took 96 ms against 1.5 ms without the fight. fastfit removes it from both sides:

- **Its own pool stops spinning soon.** libgomp's idle workers spin ``GOMP_SPINCOUNT``
  iterations (300 000 by default, several milliseconds) before they sleep. fastfit's
  kernels need the spin only between back-to-back regions of one C call (microseconds),
  so the module is loaded with a spin count of ``OPENMP_SPIN_COUNT`` (~0.1-0.5 ms),
  unless the user set ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` themselves. The variable
  is set only while the compiled module loads (libgomp reads it once, then) and the
  environment is restored, so child processes see the user's environment.
- **BLAS runs single-threaded where fastfit's kernels carry the load** (the L-BFGS
  loop between kernel calls, the SGD and MLP epoch loops, predictions):
  ``blas_single_threaded()`` sets every loaded BLAS to one thread through threadpoolctl's
  controllers (found once, then a few C calls per use) and restores the previous counts.
"""

from __future__ import annotations

import contextlib
import os
import threading

# libgomp spins this many pause-loops (~20-50 ns each) before an idle worker sleeps.
OPENMP_SPIN_COUNT = "10000"
_USER_WAIT_SETTINGS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")


@contextlib.contextmanager
def short_openmp_spin():
    """While the compiled module loads, ask libgomp for a short spin (see module doc)."""
    if any(name in os.environ for name in _USER_WAIT_SETTINGS):
        yield
        return
    os.environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_COUNT
    try:
        yield
    finally:
        os.environ.pop("GOMP_SPINCOUNT", None)


_lock = threading.Lock()
_depth = 0
_saved: list = []
_blas = None


def _blas_controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded now (found once: the
    search walks every loaded library, milliseconds)."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = [lc for lc in ThreadpoolController().lib_controllers if lc.user_api == "blas"]
    return _blas


@contextlib.contextmanager
def blas_single_threaded():
    """Run the block with every BLAS library on one thread, then restore the counts.

    Nested and concurrent uses share one limit (the counts are process-wide); the last
    one out restores them. A user's own ``threadpool_limits`` outside is respected: its
    counts are the ones restored.
    """
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = []
            for lc in _blas_controllers():
                n = lc.get_num_threads()
                if n is not None and n > 1:
                    lc.set_num_threads(1)
                    _saved.append((lc, n))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for lc, n in _saved:
                    lc.set_num_threads(n)
                _saved = []
