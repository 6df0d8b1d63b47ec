"""The contract between ``fastfit.Trainer`` and a training backend.

Two backends run a fit: the C engine (``fastfit._engine.NativeTrainer``, ``ff_train``)
and its GPU twin (``fastfit.cuda._train.CudaTrainer``). The Trainer builds one per fit
with the same keyword arguments and then uses nothing but what ``Backend`` lists here:
what either keeps inside (a cffi struct, device arrays) is its own business.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Totals:
    """A backend's books after its last call.

    Attributes
    ----------
    loss_sum, weight_sum : float
        The epoch's loss summed over its batches so far, each weighted by its weight sum
        (by its rows in scikit-learn mode), and the sum of those weights.
    correct, counted : int
        Classification hits and predictions counted over the epoch's batches so far.
    last_loss : float
        The last batch's loss (the failing one's after ``FF_ENONFINITE``).
    failed_batch : int
        The epoch's batch whose loss was not finite, or -1.
    step : int
        Optimizer steps taken (Adam's t; the dropout counter).
    """

    loss_sum: float
    weight_sum: float
    correct: int
    counted: int
    last_loss: float
    failed_batch: int
    step: int

    @classmethod
    def of(cls, books) -> "Totals":
        """The fields read from any object that has them as attributes (the engine's
        ``ff_train`` struct, the GPU trainer's host-side books)."""
        return cls(**{f.name: getattr(books, f.name) for f in dataclasses.fields(cls)})


@runtime_checkable
class Backend(Protocol):
    """What the Trainer calls on a backend (every status is an ``FF_*`` code).

    Attributes
    ----------
    whole_epochs : bool
        True when one call per epoch is the backend's best block (a GPU waits for the
        device once per call); False lets the Trainer size blocks by time.
    """

    whole_epochs: bool

    def set_data(self, x, target, labels, weight, rows) -> None:
        """Take one fit's validated arrays (``rows``: the selected rows, or None)."""

    def run_batches(self, epoch: int, first: int, lr: np.ndarray) -> int:
        """Batches ``first .. first + len(lr) - 1`` of ``epoch``, with rate ``lr[i]`` for
        the i-th; ``first == 0`` shuffles and resets the epoch's totals."""

    def run_one(self, x, target, labels, weight, lr: float, flags: int) -> int:
        """One given batch (``FF_BATCH_UPDATE`` / ``FF_BATCH_STATS`` flags)."""

    def can_run_one(self, rows: int, n_threads: int, sparse_input: bool) -> bool:
        """Whether ``run_one`` takes a batch of ``rows`` rows of this kind on
        ``n_threads`` threads (else the Trainer builds a backend that does)."""

    def totals(self) -> Totals:
        """The books after the last call."""

    def set_step(self, step: int) -> None:
        """Put the optimizer step counter back (after a rollback)."""

    def sync_to_host(self) -> None:
        """Make the host buffers (the model's parameters and statistics, the Trainer's
        gradients and optimizer state) hold the backend's current state."""

    def slot_rows(self, slot: int, width: int, rows: int) -> np.ndarray:
        """The first ``rows`` rows (``width`` values each) of workspace slot ``slot``
        (``model.plan`` offsets) as the last step left them, on the host."""
