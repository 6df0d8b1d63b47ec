"""The epoch's host-side rules, decided once in C and read by every backend.

How an epoch is cut into batches (a lone last row merged into the batch before it when
the model has batch norm), each batch's weight sum (a batch weighing nothing is
skipped), the dropout counter of a step and scikit-learn mode's optimizer coefficients
are exported by ``csrc/engine.c`` / ``csrc/engine.inc`` (``ff_batch_count``,
``ff_batch_bounds``, ``ff_batch_weight_sums_<dtype>``, ``ff_dropout_offset``,
``ff_step_coefficients``), which the C engine itself follows. The Trainer and the CUDA
trainer call these wrappers instead of restating the rules.
"""

from __future__ import annotations

import numpy as np

from fastfit._lib import check_status, ffi, kernel, lib, ptr


def batch_count(n: int, batch_size: int, merge_single: bool) -> int:
    """Batches in an epoch of ``n`` rows."""
    return int(lib.ff_batch_count(n, batch_size, int(merge_single)))


def batch_bounds(n: int, batch_size: int, merge_single: bool) -> list[tuple[int, int]]:
    """``(lo, hi)`` of every batch of an epoch of ``n`` rows, in the epoch order."""
    lo, hi = ffi.new("int64_t *"), ffi.new("int64_t *")
    out = []
    for b in range(batch_count(n, batch_size, merge_single)):
        check_status(lib.ff_batch_bounds(lo, hi, b, n, batch_size, int(merge_single)),
                     "batch_bounds")
        out.append((int(lo[0]), int(hi[0])))
    return out


def batch_weight_sums(weight: np.ndarray | None, order: np.ndarray, n_total: int,
                      batch_size: int, merge_single: bool, dtype) -> np.ndarray:
    """The weight sum (float64) of every batch of the epoch order ``order`` (int64 row
    numbers into ``weight``'s ``n_total`` rows; the rows' count without weights)."""
    n = order.shape[0]
    out = np.empty(batch_count(n, batch_size, merge_single), np.float64)
    status = kernel("batch_weight_sums", dtype)(ptr(out), ptr(weight), ptr(order), n, n_total,
                                               batch_size, int(merge_single))
    check_status(status, "batch_weight_sums")
    return out


def dropout_offset(step: int, mask_width: int, capacity: int) -> int:
    """The first dropout counter of optimizer step ``step`` (a layer adds its mask byte
    slot times ``capacity``)."""
    return int(lib.ff_dropout_offset(step, mask_width, capacity))


def step_coefficients(optimizer: dict, step: int, wsum: float) -> tuple[float, float]:
    """``(weight_decay, eps)`` of optimizer step ``step`` (from 1) on a batch of weight
    sum ``wsum``, for the settings ``optimizer`` (``fastfit.optim.Optimizer.settings()``):
    folded as the engine folds them in scikit-learn mode, else the settings' own."""
    wd, eps = ffi.new("double *", float(optimizer["weight_decay"])), \
        ffi.new("double *", float(optimizer["eps"]))
    status = lib.ff_step_coefficients(wd, eps, int(optimizer.get("sklearn", False)),
                                      int(optimizer["kind"]), int(optimizer["decoupled"]),
                                      float(optimizer["beta2"]), int(step), float(wsum))
    check_status(status, "step_coefficients")
    return float(wd[0]), float(eps[0])
