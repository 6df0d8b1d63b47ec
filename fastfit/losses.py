"""Losses the engine fuses with their gradient: what they are, and how targets and
weights are prepared for them.

Each loss is a weighted mean over samples (``sum_i w_i l_i / sum_i w_i``) of the
per-sample mean over outputs, computed in C together with its gradient. Weights are the
product of ``sample_weight`` and, for classification, ``class_weight``.

====================  ===================================  ===========================
loss                  targets                              prediction link
====================  ===================================  ===========================
``MSE``               (n,) or (n, k) real                  identity
``Huber(delta)``      (n,) or (n, k) real                  identity
``BinaryCrossEntropy``(n,) or (n, k) in [0, 1]             sigmoid (model gives logits)
``CrossEntropy``      (n,) integer labels in [0, k)        softmax (model gives logits)
``Poisson``           (n,) or (n, k) real >= 0             exp (model gives log-means)
====================  ===================================  ===========================
"""

from __future__ import annotations

import numpy as np

from fastfit._class_weight import check_class_weight, class_weights
from fastfit._lib import lib
from fastfit._validation import check_finite

__all__ = ["Loss", "MSE", "Huber", "BinaryCrossEntropy", "CrossEntropy", "Poisson", "get"]


class Loss:
    """Base class: a loss kind plus target preparation."""

    kind: int = -1
    delta: float = 0.0
    is_classifier = False
    metric = "r2"

    def prepare(self, y, n: int, n_outputs: int, dtype):
        """Validate targets for ``n`` samples: returns ``(target, labels)``, one of them
        None: a C-contiguous (n, n_outputs) float array, or (n,) int64 labels."""
        y = _as_numeric(y)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2:
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}")
        if y.shape[0] != n:
            raise ValueError(f"X has {n} samples but y has {y.shape[0]}")
        if y.shape[1] != n_outputs:
            raise ValueError(f"y has {y.shape[1]} output(s) per sample but the model "
                             f"produces {n_outputs}")
        y = np.ascontiguousarray(y, dtype=dtype)
        check_finite(y, "y")
        return y, None

    def sample_weights(self, target, labels, sample_weight):
        """The per-sample weights the loss uses (None: all ones)."""
        return sample_weight

    def __repr__(self):
        return f"{type(self).__name__}()"


class MSE(Loss):
    """Mean squared error, ``l = (pred - y)^2`` averaged over outputs."""

    kind = lib.FF_LOSS_MSE


class Huber(Loss):
    """Huber loss (as ``torch.nn.HuberLoss``): quadratic within ``delta``, linear beyond.

    Parameters
    ----------
    delta : float, default=1.0
    """

    kind = lib.FF_LOSS_HUBER

    def __init__(self, delta=1.0):
        delta = float(delta)
        if not (np.isfinite(delta) and delta > 0):
            raise ValueError(f"delta must be finite and > 0, got {delta}")
        self.delta = delta

    def __repr__(self):
        return f"Huber(delta={self.delta})"


class Poisson(Loss):
    """Half Poisson deviance on the log link, as scikit-learn's ``MLPRegressor(loss="poisson")``.

    The model's outputs are log-means ``z``; ``l = t log(t / exp(z)) - t + exp(z)``. Targets
    must be >= 0; predictions of the mean are ``exp`` of the outputs.
    """

    kind = lib.FF_LOSS_POISSON

    def prepare(self, y, n, n_outputs, dtype):
        target, _ = super().prepare(y, n, n_outputs, dtype)
        if target.size and target.min() < 0:
            raise ValueError("Poisson targets must be >= 0 (counts or rates), got a minimum "
                             f"of {target.min()}")
        return target, None


class _Classification(Loss):
    is_classifier = True
    metric = "accuracy"

    def __init__(self, class_weight=None):
        check_class_weight(class_weight)
        self.class_weight = class_weight

    def _class_weights(self, classes_of_rows, n_classes):
        """Per-row weight from class_weight (None when not set)."""
        if self.class_weight is None:
            return None
        # the classes are indices here: a dict's keys are 0 .. n_classes - 1
        return class_weights(self.class_weight, np.arange(n_classes), classes_of_rows)[
            classes_of_rows]

    def __repr__(self):
        arg = "" if self.class_weight is None else f"class_weight={self.class_weight!r}"
        return f"{type(self).__name__}({arg})"


class BinaryCrossEntropy(_Classification):
    """Binary cross-entropy on logits (sigmoid fused, stable for any logit).

    Targets are 0/1 (or probabilities in [0, 1]), one column per output.

    Parameters
    ----------
    class_weight : None, "balanced" or dict {0: w0, 1: w1}, optional
        Weights rows by their (single-output) class, as scikit-learn does.
    """

    kind = lib.FF_LOSS_BCE_LOGITS

    def prepare(self, y, n, n_outputs, dtype):
        target, _ = super().prepare(y, n, n_outputs, dtype)
        if target.size and (target.min() < 0 or target.max() > 1):
            raise ValueError("binary cross-entropy targets must lie in [0, 1]")
        return target, None

    def sample_weights(self, target, labels, sample_weight):
        if self.class_weight is None:
            return sample_weight
        if target.shape[1] != 1:
            raise ValueError("class_weight needs a single-output binary model")
        w = self._class_weights((target[:, 0] > 0.5).astype(np.int64), 2).astype(target.dtype)
        return w if sample_weight is None else w * sample_weight


class CrossEntropy(_Classification):
    """Softmax cross-entropy on logits with integer labels ``0 .. n_classes-1``.

    Parameters
    ----------
    class_weight : None, "balanced" or dict {label: weight}, optional
        ``"balanced"`` weights class c by ``n_samples / (n_classes * count_c)``.
    """

    kind = lib.FF_LOSS_SOFTMAX_CE

    def prepare(self, y, n, n_outputs, dtype):
        y = _as_numeric(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"cross-entropy labels must be 1-D integers, got shape {y.shape}")
        if y.shape[0] != n:
            raise ValueError(f"X has {n} samples but y has {y.shape[0]}")
        if y.dtype.kind == "f":
            if not np.isfinite(y).all() or (y != np.round(y)).any():
                raise ValueError("cross-entropy labels must be integers (class indices)")
        elif y.dtype.kind not in "iub":
            raise TypeError(f"cross-entropy labels must be integers, got dtype {y.dtype}")
        labels = np.ascontiguousarray(y, dtype=np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= n_outputs):
            raise ValueError(f"labels must lie in [0, {n_outputs}) for a model with "
                             f"{n_outputs} outputs, got [{labels.min()}, {labels.max()}]")
        return None, labels

    def sample_weights(self, target, labels, sample_weight):
        w = self._class_weights(labels, int(labels.max()) + 1 if labels.size else 0)
        if w is None:
            return sample_weight
        dtype = sample_weight.dtype if sample_weight is not None else np.float64
        w = w.astype(dtype)
        return w if sample_weight is None else w * sample_weight


def _as_numeric(y):
    y = np.asarray(y)
    if y.dtype.kind == "c":
        raise TypeError("y is complex; targets must be real")
    if y.dtype.kind not in "fiub":
        raise TypeError(f"y must be numeric, got dtype {y.dtype}")
    return y


_NAMES = {"mse": MSE, "squared_error": MSE, "huber": Huber, "bce": BinaryCrossEntropy,
          "binary_cross_entropy": BinaryCrossEntropy, "cross_entropy": CrossEntropy,
          "softmax_cross_entropy": CrossEntropy, "poisson": Poisson}


def get(loss) -> Loss:
    """A Loss from an instance or a name ("mse", "huber", "bce", "cross_entropy", "poisson")."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in _NAMES:
        return _NAMES[loss]()
    raise ValueError(f"loss must be a fastfit.losses.Loss or one of {sorted(_NAMES)}, got {loss!r}")
