"""Learning-rate schedules: multipliers of the optimizer's base rate.

A schedule maps global optimizer steps to factors of the base rate. The trainer asks
for the factors of a block of steps at once (one vectorised NumPy call) and hands the
resulting rates to C with the block, so schedules cost nothing per step. Epoch-based
schedules (step, exponential, inverse scaling) read the epoch a step belongs to;
``ReduceOnPlateau`` changes its factor between epochs from a monitored metric.
"""

from __future__ import annotations

import math

import numpy as np

from fastfit.history import is_maximized

__all__ = ["Schedule", "Constant", "StepDecay", "Exponential", "Cosine", "InverseScaling",
           "ReduceOnPlateau"]


class Schedule:
    """Base: ``factors(steps, ctx)`` -> multipliers of the base learning rate.

    ``ctx`` gives ``steps_per_epoch`` (int), ``total_steps`` (int, for a whole fit) and
    ``samples_per_epoch`` (int).
    """

    def factors(self, steps: np.ndarray, ctx: dict) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def epoch_end(self, value: float | None) -> None:
        """Called once per epoch with the monitored value (ReduceOnPlateau uses it)."""

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _epochs(steps, ctx):
    return steps // ctx["steps_per_epoch"]


class Constant(Schedule):
    """The base rate throughout."""

    def factors(self, steps, ctx):
        return np.ones(len(steps))


class StepDecay(Schedule):
    """``gamma ** (epoch // step_size)`` (as ``torch.optim.lr_scheduler.StepLR``).

    Parameters
    ----------
    step_size : int
        Epochs between decays.
    gamma : float, default=0.1
    """

    def __init__(self, step_size, gamma=0.1):
        if int(step_size) < 1:
            raise ValueError(f"step_size must be >= 1 epoch, got {step_size}")
        if not gamma > 0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        self.step_size, self.gamma = int(step_size), float(gamma)

    def factors(self, steps, ctx):
        return self.gamma ** (_epochs(steps, ctx) // self.step_size).astype(np.float64)


class Exponential(Schedule):
    """``gamma ** epoch`` (as ``torch.optim.lr_scheduler.ExponentialLR``)."""

    def __init__(self, gamma):
        if not gamma > 0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        self.gamma = float(gamma)

    def factors(self, steps, ctx):
        return self.gamma ** _epochs(steps, ctx).astype(np.float64)


class Cosine(Schedule):
    """Linear warm-up, then cosine decay to ``min_factor``, per step.

    Parameters
    ----------
    warmup_epochs : float, default=0
        Epochs of linear warm-up from ``1 / warmup_steps`` to 1.
    epochs : int, optional
        Length of the schedule in epochs; default: the fit's ``epochs``.
    min_factor : float, default=0
        Factor reached at the end (and kept after it).
    """

    def __init__(self, warmup_epochs=0.0, epochs=None, min_factor=0.0):
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        if epochs is not None and int(epochs) < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        if not 0 <= min_factor <= 1:
            raise ValueError(f"min_factor must be in [0, 1], got {min_factor}")
        self.warmup_epochs = float(warmup_epochs)
        self.epochs = None if epochs is None else int(epochs)
        self.min_factor = float(min_factor)

    def factors(self, steps, ctx):
        spe = ctx["steps_per_epoch"]
        total = self.epochs * spe if self.epochs is not None else ctx["total_steps"]
        warm = int(round(self.warmup_epochs * spe))
        s = steps.astype(np.float64)
        progress = np.clip((s - warm) / max(total - warm, 1), 0.0, 1.0)
        out = self.min_factor + (1 - self.min_factor) * 0.5 * (1 + np.cos(math.pi * progress))
        if warm > 0:
            out = np.where(s < warm, (s + 1) / warm, out)
        return out


class InverseScaling(Schedule):
    """``1 / (t + 1) ** power_t``, t the samples seen before the epoch, updated once
    per epoch -- scikit-learn's ``learning_rate="invscaling"``.

    Parameters
    ----------
    power_t : float, default=0.5
    """

    def __init__(self, power_t=0.5):
        if power_t < 0:
            raise ValueError(f"power_t must be >= 0, got {power_t}")
        self.power_t = float(power_t)

    def factors(self, steps, ctx):
        seen = _epochs(steps, ctx).astype(np.float64) * ctx["samples_per_epoch"]
        return 1.0 / (seen + 1.0) ** self.power_t


class ReduceOnPlateau(Schedule):
    """Multiply the rate by ``factor`` once the monitored value has not improved for
    ``patience`` epochs (as ``torch.optim.lr_scheduler.ReduceLROnPlateau``).

    The trainer passes the monitored value (``monitor``, default the validation loss,
    else the training loss) after every epoch.

    Parameters
    ----------
    monitor : str, default="val_loss"
    factor : float, default=0.1
    patience : int, default=10
    min_delta : float, default=1e-4
        Relative improvement needed to count as better.
    mode : {"auto", "min", "max"}, default="auto"
        "auto": maximise accuracy/r2-like names, minimise the rest.
    cooldown : int, default=0
    min_factor : float, default=0
        The factor never goes below this.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, min_delta=1e-4, mode="auto",
                 cooldown=0, min_factor=0.0):
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        if int(patience) < 0 or int(cooldown) < 0:
            raise ValueError("patience and cooldown must be >= 0")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.min_delta, self.mode, self.cooldown = float(min_delta), mode, int(cooldown)
        self.min_factor = float(min_factor)
        self.reset()

    def reset(self):
        self._scale, self._best, self._bad, self._cool = 1.0, None, 0, 0

    @property
    def maximize(self) -> bool:
        return self.mode == "max" or (self.mode == "auto" and is_maximized(self.monitor))

    def factors(self, steps, ctx):
        return np.full(len(steps), self._scale)

    def epoch_end(self, value):
        if value is None or not np.isfinite(value):
            return
        sign = -1.0 if self.maximize else 1.0
        v = sign * value
        if self._best is None or v < self._best - self.min_delta * abs(self._best):
            self._best, self._bad = v, 0
        else:
            self._bad += 1
        if self._cool > 0:
            self._cool -= 1
            self._bad = 0
        elif self._bad > self.patience:
            self._scale = max(self._scale * self.factor, self.min_factor)
            self._cool, self._bad = self.cooldown, 0
