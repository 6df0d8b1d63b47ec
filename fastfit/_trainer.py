"""Trainer: validates once, then hands blocks of batches to C and keeps the books.

Per epoch the Python work is: take a snapshot of the model state (for Ctrl-C and
non-finite losses), compute the block's learning rates, call C once per block of
batches (blocks last ~0.1 s so Ctrl-C and progress bars stay responsive; results do
not depend on the block size), evaluate the validation set (one C call), append to the
history and run the callbacks.
"""

from __future__ import annotations

import copy
import math
import os
import time

import numpy as np

from fastfit import losses as _losses
from fastfit import optim as _optim
from fastfit._engine import NativeTrainer, lib_status
from fastfit._epoch import batch_count
from fastfit._lib import lib
from fastfit._random import seeds_from
from fastfit._runtime import get_num_threads
from fastfit._sparse_input import check_sparse_model
from fastfit._validation import (as_float_matrix, as_sample_weight, as_sparse_matrix,
                                is_sparse, positive_int)
from fastfit.callbacks import Callback, ProgressBar, wants_batch_hooks
from fastfit.history import History
from fastfit.nn import Sequential

__all__ = ["Trainer", "NonFiniteLossError"]

# Seconds of work per C call: short enough for Ctrl-C and progress bars to react,
# long enough that the Python between calls (~10 us) is noise.
_BLOCK_SECONDS = 0.1
# Models whose batch costs fewer multiply-adds than this run on one thread when each
# kernel splits its own work: a second thread does not pay (measured, 2 epochs of 60k
# rows, 1 thread / 2 threads: batch x parameters 1.5M 0.97x, 3.8M 1.09-1.12x, 7.5M 1.34x,
# 17M 1.60x), and a two-thread team is exposed to the scheduler putting both threads on
# one core for a whole fit (seen after a BLAS-heavy scikit-learn fit with torch's libgomp
# loaded: the default MLP fit 0.55 -> 1.15 s). Training steps the engine runs as blocks
# of rows in one parallel region (scikit-learn's default MLP among them) take threads by
# their block count instead (Trainer._train_threads).
SERIAL_WORK = 1 << 21
# Fit calls whose whole work (rows x epochs x parameters) is below this run on one thread
# (~5 ms of it): a second thread saves at most half of that, and right after another
# pool's call (BLAS workers spin ~0.1 s on the cores) every kernel's fork and join waits
# for a core. Measured on a 100-row partial_fit of a 2000-100-1 MLP (20M): 6.6 ms on one
# thread, 3.8 ms on two alone, 13-15 ms on two right after scikit-learn's partial_fit.
_SMALL_CALL_WORK = 1 << 25
# Bytes of checkpoint buffers (weights, statistics, optimizer state), and of the engine's
# workspace, kept between fits.
_KEEP_CHECKPOINT_BYTES = 32 << 20


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the model keeps its last good weights.

    Attributes
    ----------
    loss : float
        The non-finite batch loss.
    epoch, batch : int
        Where it happened (0-based), when raised by ``fit``; None from ``train_step``.
    last_batch : bool
        Whether that batch was the last of its epoch.
    """

    def __init__(self, message, *, loss=math.nan, epoch=None, batch=None, last_batch=False):
        super().__init__(message)
        self.loss, self.epoch, self.batch, self.last_batch = loss, epoch, batch, last_batch


class _Data:
    """One fit's validated arrays; ``rows`` selects a subset without copying X."""

    def __init__(self, x, target, labels, weight, rows=None):
        self.x, self.target, self.labels, self.weight, self.rows = x, target, labels, weight, rows
        self._selected = None

    @property
    def n(self):
        return self.x.shape[0] if self.rows is None else self.rows.shape[0]

    def selected(self):
        """(target, labels, weight) of the selected rows, gathered once (small arrays;
        evaluation reads them every epoch)."""
        if self._selected is None:
            take = (lambda a: a) if self.rows is None else (
                lambda a: None if a is None else a[self.rows])
            self._selected = (take(self.target), take(self.labels), take(self.weight))
        return self._selected


class _Snapshot:
    """Trainer.snapshot()'s result: the checkpoint tuple, the state a trainer that never
    ran lacks ((seeds, no slots, no gradient buffer)), and the block size."""

    def __init__(self, state, unset, block):
        self.state, self.unset, self.block = state, unset, block


def _row_selection(rows, n: int) -> np.ndarray:
    """``rows`` as a non-empty 1-D int64 array of indices in [0, n) (ValueError/TypeError)."""
    rows = np.asarray(rows)
    if rows.ndim != 1 or rows.shape[0] == 0:
        raise ValueError(f"rows must be a non-empty 1-D array, got shape {rows.shape}")
    if rows.dtype.kind not in "iu":
        raise TypeError(f"rows must hold integers, got dtype {rows.dtype}")
    if rows.min() < 0 or rows.max() >= n:
        raise ValueError(f"rows must be in [0, {n}), got values in [{rows.min()}, {rows.max()}]")
    return np.ascontiguousarray(rows, dtype=np.int64)


class Trainer:
    """Train a ``fastfit.nn.Sequential`` model; whole blocks of batches run in C.

    Parameters
    ----------
    model : fastfit.nn.Sequential
    loss : Loss or str, default="cross_entropy"
        "mse", "huber", "bce", "cross_entropy" or "poisson", or a ``fastfit.losses`` instance.
    optimizer : Optimizer or str, default="adam"
        "sgd", "rmsprop", "adam", "adamw", or a ``fastfit.optim`` instance (with its
        learning rate, penalties, clipping and schedule).
    epochs : int, default=10
        Epochs per ``fit`` call (``fit(..., epochs=)`` overrides).
    batch_size : int, default=32
    shuffle : bool, default=True
        Reshuffle the rows every epoch (epoch ``e``'s order depends only on
        ``random_state`` and ``e``).
    random_state : int, NumPy generator or None
        Seeds shuffling, dropout and the validation split.
    n_threads : int, optional
        Threads for the kernels; default: the calling thread's OpenMP setting (which
        ``threadpoolctl`` limits), or 1 for models too small to gain from more.
    callbacks : list of Callback, optional
    verbose : bool, default=False
        Show a progress bar (tqdm if installed, else one line per epoch).
    device : {"cpu", "cuda"}, default="cpu"
        Where ``fit`` trains. "cuda" runs the same plan on an NVIDIA GPU through
        ``fastfit.cuda`` (needs ``pip install 'fastfit[cuda]'``): the data is copied to
        the device once per fit, the state stays there during an epoch and is copied
        back to the model's buffers at the end of every epoch, so callbacks, snapshots,
        pickling and ``predict`` (on the CPU) see it. The same ``random_state`` gives
        the CPU path's epoch order and dropout masks; results agree to floating-point
        tolerance (the reductions are summed in a different order). Validation,
        ``evaluate``, ``predict`` and ``train_step`` run on the CPU.
    comm : mpi4py communicator, optional
        Train data-parallel over its ranks (needs ``pip install 'fastfit[mpi]'``; start
        every rank with the same script: ``mpiexec -n 4 python -m mpi4py train.py``).
        Every rank calls ``fit``; ``batch_size`` is the global batch; each step sums the
        flat gradient buffer over the ranks with one in-place Allreduce before clipping
        and the update, and batch norm normalises with the global batch's statistics.
        Rank 0's parameters, statistics and optimizer state are broadcast at the start of
        every ``fit``; the ranks end with the same weights. The history (losses, metrics,
        validation) is global; callbacks run on every rank and ``stop_training`` stops all
        of them if any sets it; only rank 0 shows the progress bar and writes checkpoints.
        An error on one rank (invalid input, a non-finite loss, a failing callback)
        raises the same exception on every rank. ``train_step``, ``evaluate`` and
        ``predict`` stay local to the calling process.
    data : {"replicated", "sharded"}, default="replicated"
        With ``comm``: "replicated" -- every rank passes the same X, y; the epoch's order
        is the same everywhere and each rank computes its share of every global batch,
        so the result is that of one process with the same ``batch_size`` (to rounding;
        dropout masks are keyed by the row of the global batch). "sharded" -- each rank
        passes its own rows (their numbers may differ); each rank shuffles its own rows
        and every step takes the same fraction of each rank's rows, losses and gradients
        weighted by rows. Validation data is then also per rank and its scores global.

    Attributes
    ----------
    history : History
    epoch_ : int
        Epochs completed (over every ``fit`` call).
    step_ : int
        Optimizer steps taken.
    stop_training : bool
        Set by a callback to stop after the current epoch.

    Notes
    -----
    ``fit`` continues from the current state: a second call trains more epochs.
    Weights are bitwise identical for any ``n_threads`` given the same ``random_state``.
    """

    def __init__(self, model, loss="cross_entropy", optimizer="adam", *, epochs=10,
                 batch_size=32, shuffle=True, random_state=None, n_threads=None,
                 callbacks=None, verbose=False, device="cpu", comm=None, data="replicated"):
        if not isinstance(model, Sequential):
            raise TypeError(f"model must be a fastfit.nn.Sequential, got {type(model).__name__}")
        self.model = model
        self.loss = _losses.get(loss)
        self.optimizer = _optim.get(optimizer)
        self.epochs = positive_int("epochs", epochs)
        self.batch_size = positive_int("batch_size", batch_size)
        self.shuffle = bool(shuffle)
        self.random_state = random_state
        if n_threads is not None:
            n_threads = positive_int("n_threads", n_threads)
        self.n_threads = n_threads
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError("callbacks must be fastfit.callbacks.Callback instances, "
                                f"got {cb!r}")
        self.callbacks = callbacks
        self.verbose = bool(verbose)
        self.device = check_device(device)
        from fastfit._distributed import check_comm

        self.comm = check_comm(comm)
        if data not in ("replicated", "sharded"):
            raise ValueError(f"data must be 'replicated' or 'sharded', got {data!r}")
        self.data = data
        if self.comm is not None and self.device != "cpu":
            raise ValueError("data-parallel training (comm=) runs on the CPU only")
        self.history = History()
        self.epoch_ = 0
        self.step_ = 0
        self.stop_training = False
        self._seeds = None
        self._slots = None
        self._grads = None
        self._native = None
        self._dist = None
        self._block = 0
        self._good = None   # the fit loop's rollback point, buffers reused across epochs/fits

    # ---- state ----------------------------------------------------------------------
    def _ensure_state(self):
        if self._seeds is None:
            self._seeds = seeds_from(self.random_state, 3)
        n = self.model.n_params
        dtype = self.model.dtype
        if self._grads is None or self._grads.shape != (n,) or self._grads.dtype != dtype:
            self._grads = np.zeros(n, dtype)
        need = self.optimizer.n_slots
        if self._slots is None or len(self._slots) < need or any(
                s.shape != (n,) or s.dtype != dtype for s in self._slots):
            self._slots = [np.zeros(n, dtype) for _ in range(need)]  # the optimizer's state

    def get_weights(self):
        """A copy of the model's parameters and running statistics."""
        return self.model.params.copy(), self.model.stats.copy()

    def set_weights(self, weights):
        """Put back what ``get_weights`` returned (in place: views stay valid)."""
        params, stats = weights
        np.copyto(self.model.params, params)
        np.copyto(self.model.stats, stats)

    def training_state(self):
        """``(seeds, slots)``: the three seeds drawn from ``random_state`` (shuffle,
        dropout, validation split; None before the first fit) and the optimizer's state
        arrays (momentum, Adam moments; None before the first step) -- with the public
        attributes, all a trainer needs to go on exactly where it stopped (fastfit.save).
        The arrays are the trainer's own, not copies."""
        return (None if self._seeds is None else [int(s) for s in self._seeds],
                None if self._slots is None else list(self._slots))

    def set_training_state(self, seeds, slots):
        """Put back what :meth:`training_state` returned (checked by the caller: three
        seeds, and at least the optimizer's number of flat arrays of the model's size
        and dtype; fastfit.load checks a file's before it builds anything)."""
        self._seeds = None if seeds is None else list(seeds)
        self._slots = None if slots is None else list(slots)

    def snapshot(self):
        """Everything a fit changes, for :meth:`restore` (an opaque object): the weights,
        batch-norm statistics, optimizer state and step, epoch count, learning rate,
        schedule state and history length, and the gradient buffer. An estimator takes
        one before each fit to undo a rejected call. Copied into the buffers of the
        previous snapshot (kept between calls while small: fresh copies of every buffer
        cost page faults that dominated small ``partial_fit`` calls)."""
        # a trainer that never ran (or came from fastfit.load) has no optimizer slots or
        # gradient buffer yet: restore() takes it back to that, bit for bit
        unset = (self._seeds, self._slots is None, self._grads is None)
        self._ensure_state()
        return _Snapshot(self._checkpoint("_pre_fit", with_grads=True), unset, self._block)

    def restore(self, snapshot):
        """Put back the state :meth:`snapshot` took, and drop the callbacks and the
        engine's hold on the last fit's data (what a rejected fit left)."""
        if not isinstance(snapshot, _Snapshot):
            raise TypeError("restore takes what Trainer.snapshot() returned")
        state = snapshot.state
        self._ensure_state()   # the fit may have replaced them (another optimizer)
        self._restore(state)
        np.copyto(self._grads, state[6])
        seeds, no_slots, no_grads = snapshot.unset
        self._seeds = seeds
        if no_slots:
            self._slots = None
        if no_grads:
            self._grads = None
        self._block = snapshot.block
        self.callbacks = []
        self.release_data()

    def _checkpoint(self, store="_good", with_grads=False):
        """Everything an epoch changes, restored after Ctrl-C or a non-finite loss: copied
        into the buffers of the previous copy kept in ``store``. The fit loop takes one per
        epoch, and fresh copies of every flat buffer cost page faults that dominated small
        ``partial_fit`` calls (15 fresh copies of 1.6 MB: 7 of a 100 x 2000 call's 15 ms)."""
        good = getattr(self, store, None)   # None also in pickles from before it existed
        arrays = [self.model.params, self.model.stats, *self._slots]
        if with_grads and self._grads is not None:
            arrays.append(self._grads)
        if good is None or len(good[1]) != len(arrays) or any(
                a.shape != b.shape or a.dtype != b.dtype for a, b in zip(good[1], arrays)):
            good = [None, [a.copy() for a in arrays]]
        else:
            for dst, src in zip(good[1], arrays):
                np.copyto(dst, src)
        params, stats, *slots = good[1]
        grads = slots.pop() if with_grads and self._grads is not None else None
        snap = ((params, stats), slots, self.step_, self.epoch_, self.optimizer.lr,
                copy.deepcopy(self.optimizer.schedule.__dict__), grads)
        setattr(self, store, [snap, good[1]])
        return snap

    def _restore(self, snap):
        weights, slots, step, epoch, lr, schedule_state = snap[:6]
        self.set_weights(weights)
        self.optimizer.lr = lr
        self.optimizer.schedule.__dict__.update(schedule_state)
        for dst, src in zip(self._slots, slots, strict=True):
            np.copyto(dst, src)
        self.step_, self.epoch_ = step, epoch
        del self.history.rows[epoch:]
        if self._native is not None:
            self._native.set_step(step)

    # ---- data -----------------------------------------------------------------------
    def _prepare(self, X, y, sample_weight, name="X"):
        model = self.model
        if is_sparse(X):   # the first layer reads the CSR rows in place
            check_sparse_model(model)
            x = as_sparse_matrix(X, model.dtype, name=name, n_features=model.n_features)
        else:
            x = as_float_matrix(X, model.dtype, name=name, n_features=model.n_features)
        target, labels = self.loss.prepare(y, x.shape[0], model.n_outputs, model.dtype)
        sw = as_sample_weight(sample_weight, x.shape[0], model.dtype)
        w = self.loss.sample_weights(target, labels, sw)
        if w is not None:
            w = np.ascontiguousarray(w, dtype=model.dtype)
        return _Data(x, target, labels, w)

    def _split(self, data, fraction):
        from sklearn.model_selection import train_test_split

        if not 0 < fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
        n = data.n
        if n < 2:
            raise ValueError("validation_fraction needs at least 2 samples")
        stratify = data.labels if data.labels is not None else None
        rows = np.arange(n, dtype=np.int64)
        seed = self._seeds[2] % (2**32)
        try:
            train, val = train_test_split(rows, test_size=fraction, random_state=seed,
                                          stratify=stratify)
        except ValueError:  # a class too small to stratify: split at random
            train, val = train_test_split(rows, test_size=fraction, random_state=seed)
        train, val = np.sort(train), np.sort(val)
        return (_Data(data.x, data.target, data.labels, data.weight, train),
                _Data(data.x, data.target, data.labels, data.weight, val))

    def _threads(self, call_work=None):
        if self.n_threads is not None:
            return self.n_threads
        if call_work is not None and call_work < _SMALL_CALL_WORK:
            return 1
        return default_threads(self.batch_size, self.model.n_params)

    def _train_threads(self, call_work=None, data_parallel=False):
        """Threads for training steps: as ``_threads``, but where that picks one thread
        for small kernels, a model whose steps run as blocks of rows in one parallel
        region (the C engine's choice, from the plan and the batch size alone) gets up to
        one thread a block."""
        threads = self._threads(call_work)
        small_call = call_work is not None and call_work < _SMALL_CALL_WORK
        if self.n_threads is None and threads == 1 and not small_call and not data_parallel:
            blocks = self.model._native.step_blocks(self.batch_size)
            if blocks > 1:
                return min(blocks, _spare_cores(get_num_threads()))
        return threads

    def _make_native(self, capacity_batch, device="cpu", call_work=None, sparse_input=False,
                     capacity=None, dist=None):
        self._ensure_state()
        cls = NativeTrainer
        extra = {"sparse_input": True} if sparse_input else {}
        if device == "cuda":
            if sparse_input:
                raise ValueError("sparse input trains on the CPU only: use device='cpu', or "
                                 "dense X with device='cuda'")
            from fastfit.cuda._train import CudaTrainer as cls
        spare = {} if device == "cuda" else {"spare_workspace": getattr(self, "_spare_ws", None)}
        native = cls(
            self.model, loss_kind=self.loss.kind, delta=self.loss.delta,
            optimizer=self.optimizer.settings(), grads=self._grads,
            slots=(self._slots + [None, None])[:2], batch_size=capacity_batch,
            merge_single=self.model.plan.has_batchnorm,
            n_threads=self._train_threads(call_work, data_parallel=dist is not None),
            shuffle=self.shuffle, shuffle_seed=self._seeds[0], dropout_seed=self._seeds[1],
            step=self.step_, **extra, **spare,
            **({} if dist is None else {"capacity": capacity, "dist": dist}))
        if device != "cuda":   # the next fit reuses it (a trainer runs one fit at a time)
            small = sum(a.nbytes for a in native.workspace.values()) <= _KEEP_CHECKPOINT_BYTES
            self._spare_ws = native.workspace if small else None
        return native

    # ---- fit ------------------------------------------------------------------------
    def _n_batches(self, n):
        return batch_count(n, self.batch_size, self.model.plan.has_batchnorm)

    def fit(self, X, y, *, sample_weight=None, validation_data=None, validation_fraction=None,
            epochs=None, rows=None):
        """Train for ``epochs`` more epochs (default: the trainer's ``epochs``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Converted once to C-contiguous in the model's dtype (no copy when it already is).
        y : array-like
            Targets as the loss expects (see ``fastfit.losses``).
        sample_weight : array-like of shape (n_samples,), optional
        validation_data : tuple (X_val, y_val) or (X_val, y_val, w_val), optional
        validation_fraction : float, optional
            Hold out this fraction of the rows (stratified for classification) instead;
            rows are selected by index, X is not copied.
        epochs : int, optional
        rows : array-like of int, optional
            Train on these rows of X (and of y and sample_weight), in this order, without
            copying X: the same model as ``fit(X[rows], y[rows], ...)``. Not with
            ``validation_fraction``.

        Returns
        -------
        History
            ``self.history``, with one row appended per epoch.

        Raises
        ------
        NonFiniteLossError
            When the loss becomes NaN/inf; the model keeps the state it had after the
            last completed epoch.
        KeyboardInterrupt
            Re-raised after putting back the state of the last completed epoch.
        """
        comm = getattr(self, "comm", None)
        if comm is not None:
            return self._fit_dist(X, y, sample_weight, validation_data, validation_fraction,
                                  epochs, rows)
        epochs = self.epochs if epochs is None else positive_int("epochs", epochs)
        self._ensure_state()
        data, val = self._fit_data(X, y, sample_weight, validation_data, validation_fraction,
                                   rows)
        native = self._make_native(self.batch_size, check_device(getattr(self, "device", "cpu")),
                                   call_work=data.n * epochs * self.model.n_params,
                                   sparse_input=not isinstance(data.x, np.ndarray))
        return self._train(native, data, val, epochs, self._n_batches(data.n), data.n, None)

    def _fit_data(self, X, y, sample_weight, validation_data, validation_fraction, rows=None):
        """The validated training rows and validation rows (or None) of one fit."""
        if validation_data is not None and validation_fraction is not None:
            raise ValueError("pass validation_data or validation_fraction, not both")
        if rows is not None and validation_fraction is not None:
            raise ValueError("pass rows or validation_fraction, not both")
        data = self._prepare(X, y, sample_weight)
        if rows is not None:
            data = _Data(data.x, data.target, data.labels, data.weight,
                         _row_selection(rows, data.x.shape[0]))
        val = None
        if validation_fraction is not None:
            data, val = self._split(data, float(validation_fraction))
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be (X_val, y_val) or (X_val, y_val, w_val)")
            val = self._prepare(*validation_data[:2],
                                validation_data[2] if len(validation_data) == 3 else None,
                                name="X_val")
        return data, val

    def _fit_dist(self, X, y, sample_weight, validation_data, validation_fraction, epochs,
                  rows=None):
        """``fit`` over the ranks of ``self.comm`` (see the class docstring)."""
        from fastfit._distributed import Dist, fingerprint

        dist = Dist(self.comm, getattr(self, "data", "replicated") == "sharded")
        # one epoch order and one validation split everywhere, even with random_state=None
        if self._seeds is None:
            self._seeds = seeds_from(self.random_state, 3)
        self._seeds = self.comm.bcast(self._seeds, root=0)
        meta, data, val = None, None, None
        try:
            epochs = self.epochs if epochs is None else positive_int("epochs", epochs)
            self._ensure_state()
            data, val = self._fit_data(X, y, sample_weight, validation_data,
                                       validation_fraction, rows)
            if data.n < 1:
                raise ValueError("every rank needs at least one training row")
            if not isinstance(data.x, np.ndarray):
                raise ValueError("data-parallel training (comm=) needs dense X; sparse X "
                                 "trains in one process")
            meta = {"n": data.n, "epochs": epochs, "batch_size": self.batch_size,
                    "shape": (self.model.n_params, self.model.n_features, str(self.model.dtype)),
                    "val": val is not None, "step": self.step_, "epoch": self.epoch_,
                    "rows": None if dist.sharded else fingerprint(data)}
            error = None
        except Exception as err:   # every rank learns of it; nothing waits forever
            error = err
        metas = dist.agree(error, meta)
        _check_ranks(metas, dist.sharded)
        # the starting state is rank 0's (same seeds give the same state anyway, but a
        # model built or loaded differently on one rank must not diverge silently)
        dist.broadcast([self.model.params, self.model.stats, *self._slots])
        self.step_, self.epoch_ = metas[0]["step"], metas[0]["epoch"]
        counts = [m["n"] for m in metas]
        has_bn = self.model.plan.has_batchnorm
        if dist.sharded:
            n_total = sum(counts)
            n_batches = self._n_batches(n_total)
            # at least one process's range: one global batch is then keyed as there
            cap = max(self.batch_size + has_bn, sum(-(-c // n_batches) for c in counts))
            local = -(-data.n // n_batches)
        else:
            n_total = data.n
            n_batches = self._n_batches(n_total)
            cap = self.batch_size + (1 if has_bn else 0)
            local = -(-cap // dist.size)
        dist.set_layout(counts, n_batches, cap)
        native = self._make_native(self.batch_size, capacity=local, dist=dist)
        self._dist = dist
        return self._train(native, data, val, epochs, n_batches, n_total, dist)

    def _train(self, native, data, val, epochs, n_batches, n_samples, dist):
        """The epochs of one fit (``dist``: a data-parallel fit, else None)."""
        native.set_data(data.x, data.target, data.labels, data.weight, data.rows)
        self._native = native
        callbacks = list(self.callbacks)
        if self.verbose and not any(isinstance(cb, ProgressBar) for cb in callbacks):
            callbacks.append(ProgressBar())
        if dist is not None and dist.rank != 0:   # rank 0 alone reports
            callbacks = [cb for cb in callbacks if not isinstance(cb, ProgressBar)]
        self._fit_epochs, self._first_epoch = epochs, self.epoch_
        self._samples_per_epoch = n_samples
        ctx = {"steps_per_epoch": n_batches, "samples_per_epoch": n_samples,
               "total_steps": (self.epoch_ + epochs) * n_batches}
        batch_hooks = [cb for cb in callbacks if wants_batch_hooks(cb)]
        self.stop_training = False
        # The rollback point of the running epoch, copied when an epoch starts: after the
        # last epoch (or before the first) the model's state is itself the rollback point,
        # and a one-epoch fit (a partial_fit) copies its buffers once, not twice.
        good = None
        sharded_val = dist if dist is not None and dist.sharded else None
        try:
            _guarded(dist, lambda: [cb.on_train_begin(self) for cb in callbacks])
            for _ in range(epochs):
                if self.stop_training:
                    break
                epoch = self.epoch_
                good = self._checkpoint()
                _guarded(dist, lambda: [cb.on_epoch_begin(self, epoch) for cb in callbacks])
                t0 = time.perf_counter()
                last_lr = self._run_epoch(native, epoch, n_batches, n_samples, ctx, callbacks,
                                          batch_hooks, good, dist)
                seconds = time.perf_counter() - t0
                t = native.totals()
                logs = {"loss": t.loss_sum / t.weight_sum if t.weight_sum > 0 else math.nan}
                if self.loss.is_classifier and t.counted:
                    logs["accuracy"] = t.correct / t.counted
                if val is not None:
                    logs.update(self._evaluate(val, sharded_val))
                if dist is not None:   # the history is the same on every rank: rank 0's time
                    seconds = dist.agree(None, seconds)[0]
                logs["lr"] = last_lr
                logs["seconds"] = seconds
                logs["samples_per_second"] = n_samples / seconds if seconds > 0 else float("inf")
                self.epoch_ += 1
                self.history.append(logs)
                schedule = self.optimizer.schedule
                monitor = getattr(schedule, "monitor", None)
                if monitor is not None:  # without validation, val_loss falls back to loss
                    # (the same global logs on every rank: the same decision everywhere)
                    schedule.epoch_end(logs.get(monitor, logs.get(monitor.replace("val_", ""))))
                good = None   # the epoch is complete: Ctrl-C from here on keeps it
                stops = _guarded(dist, lambda: [cb.on_epoch_end(self, epoch, logs)
                                                for cb in callbacks],
                                 lambda: self.stop_training)
                if stops is not None:   # one rank's early stopping stops them all
                    self.stop_training = any(stops)
            _guarded(dist, lambda: [cb.on_train_end(self) for cb in callbacks])
        except KeyboardInterrupt:
            if good is not None:
                self._restore(good)
            raise
        finally:
            self._release_checkpoint()
        return self.history

    def _release_checkpoint(self):
        """Keep the checkpoint's buffers for the next fit only while they are small (the
        page faults of fresh copies dominate small partial_fit calls); a large model's
        would double its memory for the life of the trainer."""
        for store in ("_good", "_pre_fit"):
            good = getattr(self, store, None)
            if good is not None and sum(a.nbytes for a in good[1]) > _KEEP_CHECKPOINT_BYTES:
                setattr(self, store, None)

    def _run_epoch(self, native, epoch, n_batches, n_samples, ctx, callbacks, batch_hooks, good,
                   dist=None):
        # batch hooks: one batch per call; else start small and size blocks by speed
        # (on the GPU: the whole epoch, one device sync)
        whole = native.whole_epochs
        block = 1 if batch_hooks else n_batches if whole else min(n_batches, self._block or 4)
        if dist is not None:   # every rank runs the same blocks: rank 0 sizes them
            block = 1 if batch_hooks else min(n_batches, 4)
        first, last_lr = 0, self.optimizer.lr
        while first < n_batches:
            count = min(block, n_batches - first)
            steps = self.step_ + np.arange(count, dtype=np.int64)
            factors = self.optimizer.schedule.factors(steps, ctx)
            lrs = np.ascontiguousarray(self.optimizer.lr * factors, dtype=np.float64)
            for cb in batch_hooks:
                cb.on_batch_begin(self, first)
            t0 = time.perf_counter()
            status = native.run_batches(epoch, first, lrs)
            native.sync_to_host()
            dt = time.perf_counter() - t0
            totals = native.totals()
            self.step_ = int(totals.step)
            if status != lib.FF_OK:
                self._fail(native, status, epoch, good, n_batches)
            last_lr = float(lrs[-1])
            first += count

            def hooks():
                for cb in batch_hooks:
                    cb.on_batch_end(self, first - 1,
                                    {"loss": totals.last_loss, "lr": last_lr})
                for cb in callbacks:
                    done = n_samples if first == n_batches else first * self.batch_size
                    cb.on_progress(self, epoch, done, n_samples)

            if not batch_hooks and not whole:
                per_batch = dt / count
                fits = int(_BLOCK_SECONDS / per_batch) if per_batch > 0 else n_batches
                block = self._block = max(1, min(n_batches, fits))
            sizes = _guarded(dist, hooks, lambda: block)
            if sizes is not None:
                block = sizes[0]
        return last_lr

    def _fail(self, native, status, epoch, good, n_batches):
        if status == lib.FF_ENONFINITE:
            totals = native.totals()
            batch, loss = int(totals.failed_batch), float(totals.last_loss)
            self._restore(good)
            raise NonFiniteLossError(
                f"the training loss became {loss} at epoch {epoch + 1}, batch {batch + 1}; "
                f"training stopped and the model keeps its weights from the end of epoch "
                f"{epoch}. Try a lower learning rate, standardised inputs or clip_norm=.",
                loss=loss, epoch=epoch, batch=batch, last_batch=batch == n_batches - 1)
        self._restore(good)
        lib_status(status, "training")

    # ---- evaluation -----------------------------------------------------------------
    def _outputs(self, data):
        out = np.empty((data.n, self.model.n_outputs), self.model.dtype)
        if isinstance(data.x, np.ndarray):
            self.model._native.predict_into(out, data.x, data.rows, self._threads())
        else:   # CSR: the selected rows copied once (evaluation reads them every epoch)
            if data.rows is not None:
                data.x, data.target, data.labels, data.weight, data.rows = (
                    as_sparse_matrix(data.x.to_scipy()[data.rows], self.model.dtype,
                                    check_finite=False), *data.selected(), None)
            self.model._native.predict_csr_into(out, data.x, self._threads())
        return out

    def _evaluate(self, data, dist=None) -> dict:
        """Loss and metric of the model on ``data`` (its selected rows), eval mode;
        with ``dist`` (sharded data-parallel fits), over every rank's rows."""
        from fastfit import ops

        out = self._outputs(data)
        target, labels, w = data.selected()
        if dist is not None:
            return _global_scores(self.loss, out, target, labels, w, dist)
        loss = self.loss
        if loss.kind == lib.FF_LOSS_SOFTMAX_CE:
            value, _ = ops.softmax_cross_entropy(out, labels, sample_weight=w)
            return {"val_loss": float(value),
                    "val_accuracy": float(np.mean(out.argmax(1) == labels))}
        if loss.kind == lib.FF_LOSS_BCE_LOGITS:
            value, _ = ops.bce_with_logits(out, target, sample_weight=w)
            return {"val_loss": float(value),
                    "val_accuracy": float(np.mean((out > 0) == (target > 0.5)))}
        if loss.kind == lib.FF_LOSS_HUBER:
            value, _ = ops.huber_loss(out, target, delta=loss.delta, sample_weight=w)
        elif loss.kind == lib.FF_LOSS_POISSON:
            value, _ = ops.poisson_loss(out, target, sample_weight=w)
            out = np.exp(out)   # r2 of the predicted means
        else:
            value, _ = ops.mse_loss(out, target, sample_weight=w)
        from sklearn.metrics import r2_score  # uniform average over outputs, as score()

        return {"val_loss": float(value),
                "val_r2": float(r2_score(target.astype(np.float64), out.astype(np.float64)))}

    def evaluate(self, X, y, sample_weight=None) -> dict:
        """Loss and metric (accuracy or r2) of the model on (X, y), evaluation mode."""
        logs = self._evaluate(self._prepare(X, y, sample_weight))
        return {k.removeprefix("val_"): v for k, v in logs.items()}

    def predict(self, X):
        """The model's raw outputs (logits for classification), evaluation mode."""
        return self.model.predict(X, n_threads=self._threads())

    def predict_proba(self, X):
        """Class probabilities: softmax (cross-entropy) or sigmoid (binary) of the logits."""
        from fastfit import ops

        if self.loss.kind == lib.FF_LOSS_SOFTMAX_CE:
            return ops.softmax(self.predict(X))
        if self.loss.kind == lib.FF_LOSS_BCE_LOGITS:
            return ops.activation_forward(self.predict(X), "sigmoid")
        raise ValueError("predict_proba needs a classification loss")

    # ---- custom loops -----------------------------------------------------------------
    def prepare(self, X, y, sample_weight=None):
        """X, y and sample_weight checked and converted once, for ``train_step`` calls on
        the same batch: ``train_step(trainer.prepare(X, y))`` skips the per-call checks
        of X (an L-BFGS fit evaluates its full batch a hundred times). The returned
        object is opaque; it holds references to the arrays, which must not change."""
        return self._prepare(X, y, sample_weight)

    def train_step(self, X, y=None, sample_weight=None, lr=None, update=True):
        """One training step on the batch (X, y): forward, loss, backward and (with
        ``update``) the optimizer update, in one C call. Returns the batch loss.

        ``X`` may instead be what :meth:`prepare` returned (then no y or sample_weight).
        Gradients stay in ``trainer.grads`` (layout of ``model.params``) for inspection.
        """
        if isinstance(X, _Data):
            if y is not None or sample_weight is not None:
                raise ValueError("a prepared batch carries its own y and sample_weight")
            data = X
        else:
            if y is None:
                raise ValueError("train_step needs y (or a batch from Trainer.prepare)")
            data = self._prepare(X, y, sample_weight)
        n = data.n
        native = self._native
        sparse_input = not isinstance(data.x, np.ndarray)
        if native is None or not native.can_run_one(n, self._train_threads(), sparse_input):
            native = self._native = self._make_native(max(n, self.batch_size),
                                                      sparse_input=sparse_input)
        native.set_step(self.step_)
        if lr is None:
            steps = np.array([self.step_], dtype=np.int64)
            ctx = {"steps_per_epoch": 1, "samples_per_epoch": n,
                   "total_steps": max(self.step_ + 1, 1)}
            lr = float(self.optimizer.lr * self.optimizer.schedule.factors(steps, ctx)[0])
        flags = lib.FF_BATCH_STATS | (lib.FF_BATCH_UPDATE if update else 0)
        status = native.run_one(data.x, data.target, data.labels, data.weight, float(lr), flags)
        native.sync_to_host()
        totals = native.totals()
        loss = float(totals.last_loss)
        if status == lib.FF_ENONFINITE:
            raise NonFiniteLossError(f"the batch loss is {loss}", loss=loss)
        lib_status(status, "train_step")
        self.step_ = int(totals.step)
        return loss

    def iter_steps(self, X, y, learning_rates, *, sample_weight=None):
        """Take one optimizer step per learning rate, yielding each step's batch loss.

        The batches are those ``fit`` would take (shuffled and cut the same way; a new
        epoch's order starts where one ends), one C call per step so that the loss of
        every batch is seen. The model, the optimizer state and ``step_`` move on as in
        ``fit``; the history, the callbacks and ``epoch_`` are left alone. For sweeps
        such as ``fastfit.diagnostics.lr_finder``.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        y : array-like
            Targets as the loss expects (see ``fastfit.losses``).
        learning_rates : array-like of float
            The rate of each step, in order.
        sample_weight : array-like of shape (n_samples,), optional

        Yields
        ------
        float
            The batch loss of each step, in order.

        Raises
        ------
        NonFiniteLossError
            When a step's loss (or, with clipping, its gradient norm) is NaN or
            infinite; that step is not applied.
        """
        data = self._prepare(X, y, sample_weight)
        lrs = np.ascontiguousarray(learning_rates, dtype=np.float64).reshape(-1)
        backend = self._make_native(self.batch_size,
                                    sparse_input=not isinstance(data.x, np.ndarray))
        backend.set_data(data.x, data.target, data.labels, data.weight, data.rows)
        per_epoch = self._n_batches(data.n)
        for i in range(lrs.shape[0]):
            status = backend.run_batches(self.epoch_ + i // per_epoch, i % per_epoch,
                                         lrs[i:i + 1])
            backend.sync_to_host()
            totals = backend.totals()
            self.step_ = int(totals.step)
            loss = float(totals.last_loss)
            if status == lib.FF_ENONFINITE:
                raise NonFiniteLossError(f"the batch loss is {loss} at step {i + 1}", loss=loss)
            lib_status(status, "iter_steps")
            yield loss

    def set_learning_rate(self, lr, *, velocity_lr=None):
        """Set the optimizer's base learning rate between ``fit`` calls or epochs.

        Parameters
        ----------
        lr : float
            The new rate (>= 0).
        velocity_lr : float, optional
            With SGD momentum: the rate the momentum buffer was built at. The buffer is
            rescaled by ``velocity_lr / lr`` so that the step it carries, rate x buffer,
            is unchanged -- scikit-learn's convention, whose velocity holds the rate.
            None (default) leaves the buffer as it is (torch's convention).
        """
        lr = float(lr)
        if not (lr >= 0 and math.isfinite(lr)):
            raise ValueError(f"lr must be finite and >= 0, got {lr}")
        self.optimizer.lr = lr
        if (velocity_lr is not None and lr > 0 and getattr(self.optimizer, "momentum", 0) > 0
                and self._slots):
            self._slots[0] *= self._slots[0].dtype.type(float(velocity_lr) / lr)

    def activations(self, slot, width, rows):
        """What the last ``train_step`` left in workspace slot ``slot`` of the model's
        plan (``model.plan``'s op offsets: an op reads ``op.x``, writes ``op.y``), for
        inspection: e.g. the inputs of every ReLU, whose signs ``gradient_check`` watches.

        Parameters
        ----------
        slot, width : int
            The slot and its width in values per row (an op's ``x`` and ``in_``).
        rows : int
            Rows of the batch to return (at most the batch's).

        Returns
        -------
        ndarray of shape (rows, width)
            A view into the training workspace: the next step overwrites it.
        """
        if self._native is None:
            raise RuntimeError("no training step has run yet: call train_step first")
        return self._native.slot_rows(int(slot), int(width), int(rows))

    def release_data(self):
        """Drop the engine's hold on the last fit's data and workspace (the trainer
        otherwise keeps them for the next ``train_step``), e.g. before pickling or
        keeping a trained trainer around; the next ``fit`` or ``train_step`` builds a
        new one. The model, optimizer state and history are kept."""
        self._native = None

    @property
    def grads(self) -> np.ndarray:
        """The gradient buffer of the last step (layout of ``model.params``)."""
        self._ensure_state()
        return self._grads

    @property
    def comm_stats(self) -> dict | None:
        """Of the last data-parallel fit (None before one): ``calls`` to the engine's
        collectives and ``seconds`` spent in them (waits for other ranks included)."""
        dist = getattr(self, "_dist", None)
        return None if dist is None else {"calls": dist.comm_calls,
                                          "seconds": dist.comm_seconds}

    @property
    def rank(self) -> int:
        """This process's rank in ``comm`` (0 without one)."""
        comm = getattr(self, "comm", None)
        return 0 if comm is None else comm.Get_rank()

    # ---- pickling ---------------------------------------------------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_native"] = None   # workspace and data pointers: rebuilt by the next fit
        state["_good"] = None     # scratch copies of the buffers
        state["_spare_ws"] = state["_pre_fit"] = None
        state["comm"] = None      # a communicator belongs to the processes of one job
        state["_dist"] = None
        return state


def check_device(device) -> str:
    """"cpu" or "cuda" (ValueError otherwise); "cuda" also checks that fastfit.cuda
    imports (ImportError naming what to install) and sees a GPU (RuntimeError)."""
    if not isinstance(device, str) or device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda":
        from fastfit.cuda._train import require_device

        require_device()
    return device


def default_threads(rows: int, n_params: int) -> int:
    """Threads for a pass over ``rows`` rows of a model of ``n_params`` parameters (a
    training batch, or rows to predict): one for small work, whose kernels are serial
    anyway, else the caller's OpenMP setting unless the machine is oversubscribed."""
    if rows * n_params < SERIAL_WORK:
        return 1
    return _spare_cores(get_num_threads())


def _spare_cores(threads: int) -> int:
    """One thread when the machine is clearly oversubscribed (1-minute load average
    at least one more than the cores, whoever is busy), else ``threads``.

    A training step has dozens of OpenMP barriers; when another process holds one of
    the team's cores, every barrier waits for a scheduler slice (measured here: 2
    threads on a 2-core machine with 3 other busy processes ran W1 13x slower than 1
    thread). Only the speed depends on the thread count, never the weights.
    """
    if threads <= 1 or not hasattr(os, "getloadavg"):
        return threads
    cores = os.cpu_count() or threads
    return 1 if os.getloadavg()[0] >= cores + 1 else threads


def _guarded(dist, work, value=lambda: None):
    """Run ``work()``; in a data-parallel fit, follow it by one collective so that an
    exception on any rank is raised on every rank (and none waits forever in the next
    collective). Returns every rank's ``value()`` (None without ``dist``)."""
    if dist is None:
        work()
        return None
    error = None
    try:
        work()
    except Exception as err:
        error = err
    return dist.agree(error, None if error is not None else value())


def _check_ranks(metas, sharded):
    """The same fit on every rank: raises the same ValueError on each when not."""
    first = metas[0]
    for rank, m in enumerate(metas):
        for key in ("epochs", "batch_size", "shape", "val"):
            if m[key] != first[key]:
                raise ValueError(f"data-parallel fit: rank {rank} has {key}={m[key]!r}, "
                                 f"rank 0 has {first[key]!r}")
        if not sharded and (m["n"], m["rows"]) != (first["n"], first["rows"]):
            raise ValueError(f"data='replicated' needs the same rows on every rank; rank "
                             f"{rank}'s differ from rank 0's (use data='sharded' for "
                             "per-rank rows)")


def _global_scores(loss, out, target, labels, w, dist) -> dict:
    """Validation loss and metric over the rows of every rank (sharded fits)."""
    from fastfit import ops

    n = out.shape[0]
    wsum = float(n if w is None else np.sum(w, dtype=np.float64))
    if loss.kind == lib.FF_LOSS_SOFTMAX_CE:
        value, _ = ops.softmax_cross_entropy(out, labels, sample_weight=w)
        hits = float(np.sum(out.argmax(1) == labels))
        count = n
    elif loss.kind == lib.FF_LOSS_BCE_LOGITS:
        value, _ = ops.bce_with_logits(out, target, sample_weight=w)
        hits = float(np.sum((out > 0) == (target > 0.5)))
        count = out.size
    else:
        if loss.kind == lib.FF_LOSS_HUBER:
            value, _ = ops.huber_loss(out, target, delta=loss.delta, sample_weight=w)
        else:
            value, _ = ops.mse_loss(out, target, sample_weight=w)
        y = target.astype(np.float64).reshape(n, -1)
        p = out.astype(np.float64).reshape(n, -1)
        k = y.shape[1]
        # r2 from global sums: residual and total sums of squares per output
        tot = dist.sum(np.concatenate([[float(value) * wsum, wsum, n],
                                       np.sum((y - p) ** 2, 0), np.sum(y, 0), np.sum(y * y, 0)]))
        rows = tot[2]
        ss_res, s1, s2 = tot[3:3 + k], tot[3 + k:3 + 2 * k], tot[3 + 2 * k:]
        ss_tot = s2 - s1 * s1 / rows
        r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1),
                      np.where(ss_res == 0, 1.0, 0.0))
        return {"val_loss": tot[0] / tot[1], "val_r2": float(np.mean(r2))}
    tot = dist.sum([float(value) * wsum, wsum, hits, count])
    return {"val_loss": tot[0] / tot[1], "val_accuracy": tot[2] / tot[3]}
