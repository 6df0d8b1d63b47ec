"""Thread control for the native kernels.

The kernels' OpenMP regions use the calling thread's ``omp_get_max_threads()``, so
``threadpoolctl.threadpool_limits(user_api="openmp")`` is honoured as well as these.
"""

import contextlib

from fastfit._lib import check_status, lib


def get_num_threads() -> int:
    """Return the number of threads the kernels use from the calling thread."""
    return int(lib.ff_get_num_threads())


def set_num_threads(n: int) -> None:
    """Set the number of threads the kernels use from the calling thread.

    Parameters
    ----------
    n : int
        Number of OpenMP threads, at least 1.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    check_status(lib.ff_set_num_threads(n), "set_num_threads")


@contextlib.contextmanager
def num_threads(n: int):
    """Context manager running the kernels on ``n`` threads, restoring the count after.

    Examples
    --------
    >>> with fastfit.num_threads(1):
    ...     y = fastfit.ops.matmul(a, b)
    """
    previous = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(previous)
