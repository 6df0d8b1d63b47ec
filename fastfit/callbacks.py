"""Callbacks: code that runs between epochs (and, only when asked, between batches).

Hooks receive the trainer. They stop training by setting ``trainer.stop_training``,
never by raising. Batch hooks (``on_batch_begin``/``on_batch_end``) make the trainer run
one batch per C call, so define them only when you need them; ``on_progress`` is called
after every block of batches the engine runs (a few per second) and costs nothing.
"""

from __future__ import annotations

import math
import os
import sys
import time

from fastfit.history import is_maximized

__all__ = ["Callback", "EarlyStopping", "ProgressBar", "LearningRateScheduler", "ModelCheckpoint"]


class Callback:
    """Base class; override the hooks you need."""

    def on_train_begin(self, trainer) -> None: ...

    def on_train_end(self, trainer) -> None: ...

    def on_epoch_begin(self, trainer, epoch: int) -> None: ...

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None: ...

    def on_progress(self, trainer, epoch: int, samples_done: int, samples_total: int) -> None: ...

    def on_batch_begin(self, trainer, batch: int) -> None: ...

    def on_batch_end(self, trainer, batch: int, logs: dict) -> None: ...


def wants_batch_hooks(callback) -> bool:
    """True when a callback overrides a batch hook (the trainer then runs batch by batch)."""
    cls = type(callback)
    return (cls.on_batch_begin is not Callback.on_batch_begin
            or cls.on_batch_end is not Callback.on_batch_end)


def _monitored(logs, monitor, who):
    if monitor not in logs:
        raise ValueError(f"{who} monitors {monitor!r}, which this fit does not record; "
                         f"available: {sorted(logs)} (validation metrics need "
                         "validation_data or validation_fraction)")
    return logs[monitor]


class _Monitor:
    """Tracks the best value of a monitored metric."""

    def __init__(self, monitor, mode, min_delta):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.monitor, self.mode, self.min_delta = monitor, mode, float(min_delta)
        self.best = None

    @property
    def maximize(self):
        return self.mode == "max" or (self.mode == "auto" and is_maximized(self.monitor))

    def improved(self, value) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.maximize:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta


class EarlyStopping(Callback):
    """Stop when the monitored metric has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default="val_loss"
        A history key ("loss", "val_loss", "val_accuracy", ...).
    patience : int, default=10
        Epochs without improvement before stopping.
    min_delta : float, default=0
        Smallest change that counts as an improvement.
    mode : {"auto", "min", "max"}, default="auto"
        "auto" maximises accuracy/r2-like names and minimises the rest.
    restore_best_weights : bool, default=False
        At the end of training, put back the parameters (and batch-norm statistics) of
        the best epoch.

    Attributes
    ----------
    best : float or None
    best_epoch : int or None
    stopped_epoch : int or None
        Epoch after which training was stopped (None if it ran out of epochs).
    """

    def __init__(self, monitor="val_loss", patience=10, min_delta=0.0, mode="auto",
                 restore_best_weights=False):
        if int(patience) < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        self.monitor, self.patience = monitor, int(patience)
        self.min_delta, self.mode = float(min_delta), mode
        self.restore_best_weights = bool(restore_best_weights)
        self._tracker = _Monitor(monitor, mode, min_delta)
        self.on_train_begin(None)

    def on_train_begin(self, trainer):
        self._tracker.best = None
        self.best = self.best_epoch = self.stopped_epoch = None
        self.wait = 0
        self._best_weights = None

    def on_epoch_end(self, trainer, epoch, logs):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if self._tracker.improved(value):
            self._tracker.best = self.best = value
            self.best_epoch, self.wait = epoch, 0
            if self.restore_best_weights and trainer is not None:
                self._best_weights = trainer.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            if trainer is not None:
                trainer.stop_training = True

    def on_train_end(self, trainer):
        if self.restore_best_weights and self._best_weights is not None and trainer is not None:
            trainer.set_weights(self._best_weights)


class LearningRateScheduler(Callback):
    """Set the optimizer's base rate before each epoch: ``lr = schedule(epoch, lr)``."""

    def __init__(self, schedule):
        if not callable(schedule):
            raise TypeError("schedule must be callable as schedule(epoch, lr) -> lr")
        self.schedule = schedule

    def on_epoch_begin(self, trainer, epoch):
        lr = float(self.schedule(epoch, trainer.optimizer.lr))
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"LearningRateScheduler returned {lr} for epoch {epoch}")
        trainer.optimizer.lr = lr


class ModelCheckpoint(Callback):
    """Save the trainer (model, optimizer state, history) after epochs with
    ``fastfit.save`` (a safetensors file; read it back with ``fastfit.load``).

    Parameters
    ----------
    path : str or os.PathLike
        File to write; ``{epoch}`` in it is replaced by the 1-based epoch number.
    monitor : str, optional
        With ``save_best_only``, the metric deciding what "best" is.
    save_best_only : bool, default=False
    mode : {"auto", "min", "max"}, default="auto"
    what : {"trainer", "model"}, default="trainer"
        A loaded trainer resumes training with ``fit``; a model only predicts.

    Files are written to a temporary name and renamed, so a crash never leaves half a
    checkpoint. They hold data only (no pickle): loading one never runs code. In a
    data-parallel fit (``Trainer(comm=...)``) only rank 0 writes.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto",
                 what="trainer"):
        if what not in ("trainer", "model"):
            raise ValueError(f"what must be 'trainer' or 'model', got {what!r}")
        self.path, self.monitor, self.save_best_only = os.fspath(path), monitor, save_best_only
        self.mode, self.what = mode, what
        self._tracker = _Monitor(monitor, mode, 0.0)

    def on_train_begin(self, trainer):
        self._tracker.best = None

    def on_epoch_end(self, trainer, epoch, logs):
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if not self._tracker.improved(value):
                return
            self._tracker.best = value
        if getattr(trainer, "rank", 0) != 0:   # data-parallel fits: rank 0 writes
            return
        path = self.path.replace("{epoch}", str(epoch + 1))
        obj = trainer if self.what == "trainer" else trainer.model
        from fastfit._io import save   # atomic: temporary file + rename

        save(obj, path)


class ProgressBar(Callback):
    """Epoch progress: samples, loss, validation metric, samples/s.

    Uses tqdm when it is installed, plain text lines otherwise. Added by the trainer
    when ``verbose`` is true.
    """

    def __init__(self, file=None):
        self.file = file
        self._bar = None

    def _out(self):
        return self.file if self.file is not None else sys.stderr

    def on_train_begin(self, trainer):
        self._epochs = trainer._fit_epochs
        try:
            import tqdm  # noqa: F401
            self._tqdm = True
        except ImportError:
            self._tqdm = False

    def on_epoch_begin(self, trainer, epoch):
        self._t0 = time.perf_counter()
        self._epoch_label = f"epoch {epoch + 1}/{trainer._first_epoch + self._epochs}"
        if self._tqdm:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=trainer._samples_per_epoch, desc=self._epoch_label,
                             unit="samples", unit_scale=True, leave=True, file=self._out())

    def on_progress(self, trainer, epoch, samples_done, samples_total):
        if self._bar is not None:
            self._bar.update(samples_done - self._bar.n)

    def on_epoch_end(self, trainer, epoch, logs):
        parts = [f"loss {logs['loss']:.4f}"]
        for key in logs:
            if key.startswith("val_") or key == "accuracy":
                parts.append(f"{key} {logs[key]:.4f}")
        parts.append(f"{logs['samples_per_second']:,.0f} samples/s")
        text = ", ".join(parts)
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.close()
            self._bar = None
        else:
            print(f"{self._epoch_label}: {text} ({logs['seconds']:.2f} s)", file=self._out(),
                  flush=True)

    def on_train_end(self, trainer):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
