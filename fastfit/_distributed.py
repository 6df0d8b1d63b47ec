"""Data-parallel training over MPI: the communicator side of ``Trainer(comm=...)``.

The C engine knows nothing of MPI: it sums buffers over the ranks through a function
pointer (``ff_dist.allreduce``, see csrc/fastfit.h). Here that pointer is a cffi
callback into mpi4py's in-place ``Allreduce``; the engine calls it from the epoch loop
(the GIL is taken back for the call only). Everything else a data-parallel fit needs
from Python -- one collective of a status where the ranks must agree, broadcasting the
starting state from rank 0, global validation sums -- is here too. mpi4py is imported
only when a communicator is given: ``import fastfit`` never imports it.
"""

from __future__ import annotations

import time

import numpy as np

from fastfit._lib import ffi, lib

__all__ = ["Dist", "check_comm"]

# Exceptions re-raised by type on every rank when one rank fails; others as RuntimeError.
_KINDS = {cls.__name__: cls for cls in (ValueError, TypeError, FloatingPointError,
                                        MemoryError, KeyError, IndexError, RuntimeError)}


def check_comm(comm):
    """``comm`` if it is an mpi4py intracommunicator (TypeError otherwise), or None."""
    if comm is None:
        return None
    try:
        from mpi4py import MPI
    except ImportError as err:   # a comm object without mpi4py installed cannot be one
        raise TypeError("comm must be an mpi4py communicator (pip install 'fastfit[mpi]')") \
            from err
    if not isinstance(comm, MPI.Intracomm) or comm == MPI.COMM_NULL:
        raise TypeError(f"comm must be an mpi4py intracommunicator, got {comm!r}")
    return comm


class Dist:
    """One data-parallel fit's view of the communicator.

    Attributes
    ----------
    struct : cdata ``ff_dist *``
        What the engine reads (callback, rank, mode, rows per rank, counter range).
    comm_seconds, comm_calls : float, int
        Time spent in, and number of, the engine's collectives (for the benchmarks).
    """

    def __init__(self, comm, sharded: bool):
        from mpi4py import MPI

        self._mpi = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.sharded = bool(sharded)
        self._types = {4: MPI.FLOAT, 8: MPI.DOUBLE}
        self.comm_seconds = 0.0
        self.comm_calls = 0
        # error=: an exception inside the callback returns FF_ECOMM to the engine, which
        # stops the step on this rank (the fit then raises RuntimeError)
        self._callback = ffi.callback("ff_allreduce_fn", self._allreduce, error=lib.FF_ECOMM)
        s = ffi.new("ff_dist *")
        s.allreduce = self._callback
        s.ctx = ffi.NULL
        s.rank, s.n_ranks, s.sharded = self.rank, self.size, int(self.sharded)
        self.struct = s
        self._counts = None

    def _allreduce(self, ctx, buf, count, itemsize):
        t0 = time.perf_counter()
        view = ffi.buffer(buf, count * itemsize)
        self.comm.Allreduce(self._mpi.IN_PLACE, [view, count, self._types[itemsize]],
                            op=self._mpi.SUM)
        self.comm_seconds += time.perf_counter() - t0
        self.comm_calls += 1
        return lib.FF_OK

    def set_layout(self, counts, n_batches: int, cap: int) -> None:
        """Rows per rank (sharded), batches per epoch and the dropout counter range."""
        self._counts = np.ascontiguousarray(counts, dtype=np.int64)
        s = self.struct
        s.counts = ffi.from_buffer("int64_t[]", self._counts)
        s.n_batches, s.cap = n_batches, cap

    # ---- agreement ---------------------------------------------------------------------
    def agree(self, exc: BaseException | None = None, value=None):
        """One collective: if any rank failed, raise the first failure on every rank (the
        same type and message; the failing rank chains its own exception). Returns the
        list of every rank's ``value``."""
        info = None if exc is None else (type(exc).__name__, str(exc))
        gathered = self.comm.allgather((info, value))
        for rank, (other, _) in enumerate(gathered):
            if other is not None:
                cls = _KINDS.get(other[0], RuntimeError)
                err = cls(f"rank {rank}: {other[1]}")
                if exc is not None and rank == self.rank:
                    raise err from exc
                raise err
        return [v for _, v in gathered]

    def broadcast(self, arrays) -> None:
        """Rank 0's contents into every rank's arrays, in place."""
        for a in arrays:
            self.comm.Bcast(a, root=0)

    def sum(self, values) -> np.ndarray:
        """Elementwise sum over the ranks of a small float64 vector."""
        v = np.ascontiguousarray(values, dtype=np.float64)
        self.comm.Allreduce(self._mpi.IN_PLACE, v, op=self._mpi.SUM)
        return v


def fingerprint(data) -> float:
    """A cheap checksum of a fit's rows (about 64 of them, and their targets and weights):
    replicated data must be the same on every rank. Reads only the sampled rows."""
    step = max(1, data.n // 64)
    take = slice(None, None, step) if data.rows is None else data.rows[::step]
    total = float(np.sum(data.x[take], dtype=np.float64))
    for a in (data.target, data.labels, data.weight):
        if a is not None:
            total += float(np.sum(a[take], dtype=np.float64))
    return total
