"""Diagnostics a practitioner runs around a training: is the gradient right, which
learning rate to use, and does the model under- or over-fit.

- ``gradient_check``: the engine's analytic gradient (one C call) against central finite
  differences of the loss, in float64.
- ``lr_finder``: the exponential learning-rate sweep (Leslie Smith 2015; fastai's
  ``lr_find``) on a copy of the model, one optimizer step per rate.
- ``diagnose_fit``: a verdict from the training and validation loss curves.

Each accepts a ``fastfit.nn.Sequential`` (with ``loss=``), a ``fastfit.Trainer`` or a
fitted fastfit estimator. The hook for estimators is duck-typed: an object with a
``_fastfit_trainer()`` method or a ``trainer_`` attribute returning the fitted
``fastfit.Trainer`` it trains with; if it also has ``classes_``, class labels ``y`` are
encoded as their index in ``classes_`` (the target the trainer's loss sees). For
``diagnose_fit`` an object with ``history_`` (or ``history``) is enough.

This module never imports matplotlib; ``LRFinderResult.plot`` does, when called.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from fastfit import losses as _losses
from fastfit import optim as _optim
from fastfit._lib import lib
from fastfit._random import seeds_from
from fastfit._trainer import NonFiniteLossError, Trainer
from fastfit.history import History
from fastfit.nn import Dropout, Sequential

__all__ = ["gradient_check", "GradientCheckResult", "lr_finder", "LRFinderResult",
           "diagnose_fit", "FitDiagnosis"]

# gradient_check passes when the largest relative error is below this. In float64 with
# eps=1e-5 a correct gradient gives ~1e-7 or less (truncation ~eps^2, rounding
# ~1e-15/eps); a wrong one (a missing term, a transposed index) gives ~1e-1.
GRADIENT_TOLERANCE = 1e-5


# ---- resolving what the user passed ---------------------------------------------------
def _trainer_of(obj):
    """The fastfit.Trainer behind a Trainer or a fitted estimator, else None."""
    if isinstance(obj, Trainer):
        return obj
    hook = getattr(obj, "_fastfit_trainer", None)
    if callable(hook):
        trainer = hook()
    else:
        trainer = getattr(obj, "trainer_", None)
    if trainer is None:
        return None
    if not isinstance(trainer, Trainer):
        raise TypeError(f"{type(obj).__name__}'s trainer is not a fastfit.Trainer: {trainer!r}")
    return trainer


def _resolve(obj, loss, what):
    """(model, loss, trainer or None, classes or None) for a model, trainer or estimator."""
    if isinstance(obj, Sequential):
        if loss is None:
            raise ValueError(f"{what}: pass loss= with a bare fastfit.nn.Sequential model "
                             "(e.g. loss='cross_entropy' or 'mse')")
        return obj, _losses.get(loss), None, None
    trainer = _trainer_of(obj)
    if trainer is None:
        raise TypeError(f"{what} needs a fastfit.nn.Sequential, a fastfit.Trainer or a fitted "
                        f"fastfit estimator (with a trainer_ attribute), got {type(obj).__name__}")
    loss = trainer.loss if loss is None else _losses.get(loss)
    classes = getattr(obj, "classes_", None) if obj is not trainer else None
    return trainer.model, loss, trainer, classes


def _encode_targets(y, loss, classes):
    """Estimator class labels -> the loss's targets (index in classes_)."""
    if classes is None:
        return y
    classes = np.asarray(classes)
    y = np.asarray(y)
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    if (classes[idx] != y).any():
        raise ValueError(f"y holds labels the estimator was not fitted on (classes_: {classes})")
    if isinstance(loss, _losses.BinaryCrossEntropy):
        return (idx == len(classes) - 1).astype(np.float64)
    return idx


def _as_float64(model):
    """A float64 copy of a model (parameters and running statistics converted)."""
    state = model.__getstate__()
    state = dict(state, layers=copy.deepcopy(state["layers"]), dtype=np.dtype(np.float64).str,
                 params=state["params"].astype(np.float64),
                 stats=state["stats"].astype(np.float64))
    out = Sequential.__new__(Sequential)
    out.__setstate__(state)
    return out


def _walk(layers):
    for layer in layers:
        yield layer
        yield from _walk(layer.sublayers())


# ---- gradient check -----------------------------------------------------------------------
@dataclass
class GradientCheckResult:
    """What ``gradient_check`` found.

    Attributes
    ----------
    max_rel_error : float
        Largest relative error over the checked entries, ``|a - n| / max(|a|, |n|, floor)``
        with ``a`` the analytic and ``n`` the numerical derivative (see ``floor`` in
        ``gradient_check``).
    errors : dict
        ``{parameter name: largest relative error in that tensor}`` (names as
        ``model.named_parameters()``).
    passed : bool
        ``max_rel_error < tolerance``.
    tolerance : float
    n_checked : int
        Parameter entries compared.
    n_kinks : int
        Entries left out because ``+-eps`` moved a ReLU/LeakyReLU input across zero
        (the loss is not differentiable there, so the difference is meaningless).
    loss : float
        The loss at the unperturbed parameters.
    dropout_note : str
        How dropout was handled ("" when the model has none).
    """

    max_rel_error: float
    errors: dict
    passed: bool
    tolerance: float
    n_checked: int
    n_kinks: int
    loss: float
    dropout_note: str = ""

    def __str__(self):
        worst = max(self.errors, key=self.errors.get) if self.errors else "-"
        verdict = "passed" if self.passed else "FAILED"
        return (f"gradient check {verdict}: max relative error {self.max_rel_error:.2e} "
                f"(tolerance {self.tolerance:.0e}, {self.n_checked} entries, {self.n_kinks} at a "
                f"ReLU kink left out; worst: {worst})")


def gradient_check(model_or_trainer, X, y, *, loss=None, sample_weight=None, eps=1e-5,
                   n_params=None, tolerance=GRADIENT_TOLERANCE, floor=1e-4, random_state=0):
    """Compare the engine's analytic gradient with central finite differences.

    The analytic gradient is what training uses: one C call
    (``Trainer.train_step(X, y, update=False)``) runs forward, loss and backward and
    leaves the gradient of the batch's mean loss in ``trainer.grads``. Each checked
    entry ``p`` of the flat parameter buffer is then perturbed to ``p +- eps`` and the
    loss re-evaluated by the same engine call, giving ``(L(p+eps) - L(p-eps)) / 2eps``.

    Everything runs on a float64 copy of the model (a float32 model is converted;
    float32 differences would be dominated by rounding), so the user's model,
    trainer and estimator are never modified.

    Batch normalisation runs in training mode (the batch's statistics), as in training:
    the check covers the gradient through the statistics. Dropout is handled exactly:
    the mask is drawn from the trainer's dropout seed and its step counter, which a
    gradient-only call does not advance, so every evaluation (analytic and perturbed)
    uses the same mask.

    Parameters
    ----------
    model_or_trainer : fastfit.nn.Sequential, fastfit.Trainer or fitted estimator
        An estimator must expose its trainer (``_fastfit_trainer()`` or ``trainer_``).
    X : array-like of shape (n_samples, n_features)
        One batch. Keep it small (a few dozen rows): each checked entry costs two
        forward+backward passes over it.
    y : array-like
        Targets as the loss expects them (class labels for an estimator with ``classes_``).
    loss : str or fastfit.losses.Loss, optional
        Required for a bare model; default: the trainer's loss.
    sample_weight : array-like of shape (n_samples,), optional
    eps : float, default=1e-5
        Finite-difference step (near-optimal in float64: the truncation error ~eps^2
        and the rounding noise ~1e-15 |loss| / eps balance there).
    n_params : int, optional
        Entries to check per parameter tensor, drawn at random (``random_state``);
        default: every entry. For large models pass e.g. 20.
    tolerance : float, default=1e-5
        ``passed`` is ``max_rel_error < tolerance``. A correct gradient gives ~1e-6 or
        less here (measured: <= 5e-7 on MLPs with batch norm, residual blocks and
        dropout); a wrong one ~1e-2 or more. Entries whose ``+-eps`` moves a
        ReLU/LeakyReLU input across zero are left out (``n_kinks``): the loss has no
        derivative there. (Huber's switch at ``delta`` is not detected; it is rarely
        within ``eps``.)
    floor : float, default=1e-4
        Lower bound of the relative error's denominator, times ``max(1, |loss|)``:
        derivatives smaller than that are compared on an absolute scale (an error of
        ``tolerance * floor``, 1e-9). A derivative that is exactly zero (a bias before
        batch norm) has a finite difference of pure rounding noise,
        ~1e-16 |loss| / eps, which a purely relative error would call a failure.
    random_state : int, default=0
        Seeds the entry sampling and the dropout mask.

    Returns
    -------
    GradientCheckResult

    Examples
    --------
    >>> from fastfit import nn
    >>> from fastfit.diagnostics import gradient_check
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3), random_state=0)
    >>> gradient_check(model, X, y, loss="cross_entropy").passed
    True
    """
    src, loss, _, classes = _resolve(model_or_trainer, loss, "gradient_check")
    eps = float(eps)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be finite and > 0, got {eps}")
    y = _encode_targets(y, loss, classes)
    model = _as_float64(src)
    n_rows = np.shape(X)[0] if np.ndim(X) >= 1 else 0
    # a fresh trainer on the copy (its dropout seed from random_state); with
    # update=False the optimizer never runs
    t = Trainer(model, loss=copy.deepcopy(loss), optimizer=_optim.SGD(lr=0.0),
                batch_size=max(int(n_rows), 1), shuffle=False, random_state=random_state,
                n_threads=1)
    base = t.train_step(X, y, sample_weight=sample_weight, update=False)
    analytic = t.grads.copy()
    params = model.params
    pattern = _kink_pattern(t, int(n_rows))
    base_pattern = pattern()

    def loss_at(i, value):
        """The loss with params[i] = value, and whether a ReLU changed sides."""
        old = params[i]
        params[i] = value
        try:
            value = t.train_step(X, y, sample_weight=sample_weight, update=False)
            return value, not np.array_equal(pattern(), base_pattern)
        finally:
            params[i] = old

    floor = float(floor) * max(1.0, abs(base))
    rng = np.random.default_rng(seeds_from(random_state, 1)[0])
    errors, n_checked, n_kinks, worst = {}, 0, 0, 0.0
    for name, view in model.named_parameters().items():
        start = (view.__array_interface__["data"][0]
                 - params.__array_interface__["data"][0]) // params.itemsize
        idx = np.arange(start, start + view.size)
        if n_params is not None and int(n_params) < idx.size:
            idx = np.sort(rng.choice(idx, size=int(n_params), replace=False))
        err = 0.0
        for i in idx:
            p = params[i]
            up, kink_up = loss_at(i, p + eps)
            down, kink_down = loss_at(i, p - eps)
            if kink_up or kink_down:
                n_kinks += 1  # not differentiable within eps: the difference means nothing
                continue
            numeric = (up - down) / (2 * eps)
            a = analytic[i]
            err = max(err, abs(a - numeric) / max(abs(a), abs(numeric), floor))
            n_checked += 1
        errors[name] = float(err)
        worst = max(worst, err)
    has_dropout = any(isinstance(layer, Dropout) and layer.p > 0 for layer in _walk(model.layers))
    note = ("dropout: the same mask for every evaluation (a gradient-only step does not "
            "advance the mask counter)") if has_dropout else ""
    return GradientCheckResult(max_rel_error=float(worst), errors=errors,
                               passed=bool(worst < tolerance), tolerance=float(tolerance),
                               n_checked=int(n_checked), n_kinks=int(n_kinks),
                               loss=float(base), dropout_note=note)


def _kink_pattern(trainer, rows):
    """A function returning the sign pattern of every ReLU/LeakyReLU input of the last
    forward pass over ``rows`` rows, read from the engine's workspace (backward keeps
    the inputs there): a perturbation that changes it crossed a point where the loss
    is not differentiable."""
    kinks = (lib.FF_ACT_RELU, lib.FF_ACT_LEAKY_RELU)
    spans = [(op.x, op.in_) for op in trainer.model.plan.ops
             if op.kind == lib.FF_OP_ACTIVATION and op.act in kinks]

    def pattern():
        if not spans:
            return np.zeros(0, bool)
        return np.concatenate([trainer.activations(s, w, rows).ravel() > 0 for s, w in spans])

    return pattern


# ---- learning-rate finder -----------------------------------------------------------------
@dataclass
class LRFinderResult:
    """The learning-rate sweep's curve and suggestion.

    Attributes
    ----------
    lrs : ndarray
        Learning rate of each step taken.
    losses : ndarray
        Raw batch loss of each step (the loss before that step's update).
    smoothed : ndarray
        Exponentially smoothed, bias-corrected losses (what the suggestion reads).
    suggested_lr : float
        Where the smoothed loss falls fastest: the rate at the steepest negative slope
        of ``smoothed`` against ``log10(lr)``, searched between the first tenth of the
        sweep (where the average warms up) and the minimum.
    min_lr : float
        The rate at the minimum of the smoothed loss, divided by 10 (fastai's other rule
        of thumb).
    diverged : bool
        Whether the sweep stopped early because the loss exploded.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggested_lr: float
    min_lr: float
    diverged: bool

    def plot(self, path=None, **kwargs):
        """The curve with the suggestion marked (``fastfit.plot.plot_lr_finder``)."""
        from fastfit.plot import plot_lr_finder

        return plot_lr_finder(self, path, **kwargs)

    def __str__(self):
        stop = "diverged" if self.diverged else "completed"
        return (f"lr finder: {len(self.lrs)} steps ({stop}); suggested lr "
                f"{self.suggested_lr:.3g} (steepest descent), min/10 {self.min_lr:.3g}")


def _smooth(values, beta):
    out = np.empty(len(values))
    avg = 0.0
    for i, v in enumerate(values):
        avg = beta * avg + (1 - beta) * v
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def _suggest(lrs, smoothed):
    """(steepest-descent lr, min lr / 10) of a smoothed curve."""
    n = len(lrs)
    # skip the first tenth (the moving average is still warming up there)
    lo = min(n // 10, n - 2)
    i_min = lo + int(np.argmin(smoothed[lo:]))
    min_lr = float(lrs[i_min] / 10)
    if n < 3:
        return float(lrs[i_min]), min_lr
    slope = np.gradient(smoothed, np.log10(lrs))
    # search before the minimum: past it the loss is diverging, and a chaotic dip
    # there is no guide
    hi = max(i_min, lo + 1)
    i = lo + int(np.argmin(slope[lo:hi]))
    return float(lrs[i]), min_lr


def lr_finder(model_or_trainer, X, y, *, loss=None, optimizer=None, sample_weight=None,
              start_lr=1e-7, end_lr=10.0, n_steps=200, batch_size=None, smooth=0.98,
              divergence=4.0, reinitialize=False, random_state=0):
    """Exponential learning-rate sweep: one optimizer step per rate, on a copy.

    The rate grows geometrically from ``start_lr`` to ``end_lr`` over ``n_steps``
    mini-batch steps (cycling through shuffled epochs of ``X``). The loss of each batch
    is recorded and smoothed (exponential moving average, bias-corrected); the sweep
    stops early when the smoothed loss exceeds ``divergence`` times its best so far,
    or becomes NaN/inf. The model is copied first: the user's weights, trainer and
    optimizer state are untouched. Steps run in C, one engine call per step over a
    batch gathered in C (no per-step Python data handling).

    Parameters
    ----------
    model_or_trainer : fastfit.nn.Sequential, fastfit.Trainer or fitted estimator
    X : array-like of shape (n_samples, n_features)
    y : array-like
    loss : str or fastfit.losses.Loss, optional
        Required for a bare model; default: the trainer's.
    optimizer : str or fastfit.optim.Optimizer, optional
        Default: a copy of the trainer's (its schedule is ignored: the sweep sets the
        rate), or Adam for a bare model. Its state starts fresh.
    sample_weight : array-like of shape (n_samples,), optional
    start_lr, end_lr : float, default=1e-7, 10
    n_steps : int, default=200
    batch_size : int, optional
        Default: the trainer's, or 32.
    smooth : float in [0, 1), default=0.98
        The moving average's factor (0: no smoothing).
    divergence : float, default=4.0
        Stop when the smoothed loss exceeds this multiple of its minimum.
    reinitialize : bool, default=False
        Start from freshly initialised weights (``reset_parameters(random_state)`` on
        the copy). The sweep is meant for a model before training: on a trained one
        the curve stays flat until it diverges. Use True with a fitted estimator or
        trainer.
    random_state : int, optional
        Seeds shuffling, dropout and (with ``reinitialize``) the weights.

    Returns
    -------
    LRFinderResult
        ``suggested_lr`` is the rate of steepest descent of the smoothed loss (see
        ``LRFinderResult``); ``min_lr`` the minimum's rate / 10.
    """
    src, loss, trainer, classes = _resolve(model_or_trainer, loss, "lr_finder")
    start_lr, end_lr = float(start_lr), float(end_lr)
    if not (0 < start_lr < end_lr and math.isfinite(end_lr)):
        raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr}, {end_lr}")
    n_steps = int(n_steps)
    if n_steps < 2:
        raise ValueError(f"n_steps must be >= 2, got {n_steps}")
    if not 0 <= smooth < 1:
        raise ValueError(f"smooth must be in [0, 1), got {smooth}")
    if not divergence > 1:
        raise ValueError(f"divergence must be > 1, got {divergence}")
    if optimizer is None:
        optimizer = copy.deepcopy(trainer.optimizer) if trainer is not None else _optim.Adam()
    else:
        optimizer = copy.deepcopy(_optim.get(optimizer))
    optimizer.schedule = _optim.Constant()
    if batch_size is None:
        batch_size = trainer.batch_size if trainer is not None else 32
    y = _encode_targets(y, loss, classes)
    model = copy.deepcopy(src)
    if reinitialize:
        model.reset_parameters(random_state)
    t = Trainer(model, loss=copy.deepcopy(loss), optimizer=optimizer, batch_size=batch_size,
                shuffle=True, random_state=random_state)
    lrs = start_lr * (end_lr / start_lr) ** (np.arange(n_steps) / (n_steps - 1))
    losses, diverged, best, avg = [], False, math.inf, 0.0
    steps = t.iter_steps(X, y, lrs, sample_weight=sample_weight)
    try:
        for i, value in enumerate(steps):
            if not math.isfinite(value):
                diverged = True
                break
            losses.append(value)
            avg = smooth * avg + (1 - smooth) * value
            current = avg / (1 - smooth ** (i + 1))
            best = min(best, current)
            if i > 0 and current > divergence * best:
                diverged = True
                break
    except NonFiniteLossError:
        diverged = True
    if len(losses) < 2:
        raise ValueError(f"the loss diverged at the first steps (lr {lrs[0]:.3g}); "
                         "lower start_lr")
    lrs = lrs[:len(losses)]
    losses = np.asarray(losses)
    smoothed = _smooth(losses, smooth)
    suggested, min_lr = _suggest(lrs, smoothed)
    return LRFinderResult(lrs=lrs, losses=losses, smoothed=smoothed, suggested_lr=suggested,
                          min_lr=min_lr, diverged=diverged)


# ---- fit diagnosis ------------------------------------------------------------------------
@dataclass
class FitDiagnosis:
    """``diagnose_fit``'s verdict and the numbers behind it.

    Attributes
    ----------
    verdict : str
        "underfitting", "overfitting", "good fit" or "not enough data to tell".
    message : str
        A human-readable explanation with advice.
    final_train_loss, final_val_loss : float or None
        The last epoch's training and validation loss.
    gap : float or None
        ``final_val_loss - final_train_loss``.
    relative_gap : float or None
        ``gap / final_train_loss``.
    best_epoch : int or None
        Epoch (0-based) of the lowest validation loss.
    best_val_loss : float or None
    val_rise : float or None
        ``(final_val_loss - best_val_loss) / best_val_loss``.
    train_ratio : float or None
        ``final_train_loss / reference``: the reference is ``baseline_loss`` when given,
        else the first epoch's training loss.
    val_still_improving : bool or None
        Whether the validation loss improved by more than ``improve_tol`` (relative)
        over the last ``max(2, n_epochs // 5)`` epochs.
    n_epochs : int
    reasons : list of str
    """

    verdict: str
    message: str
    final_train_loss: float | None = None
    final_val_loss: float | None = None
    gap: float | None = None
    relative_gap: float | None = None
    best_epoch: int | None = None
    best_val_loss: float | None = None
    val_rise: float | None = None
    train_ratio: float | None = None
    val_still_improving: bool | None = None
    n_epochs: int = 0
    reasons: list = field(default_factory=list)

    def __str__(self):
        return self.message


def history_of(obj) -> dict:
    """{key: list} from a History, a dict of lists, a trainer or an estimator."""
    if isinstance(obj, History):
        return obj.as_dict()
    if isinstance(obj, dict):
        return {k: list(v) for k, v in obj.items()}
    for attr in ("history_", "history"):
        h = getattr(obj, attr, None)
        if h is not None and not callable(h):
            return history_of(h)
    raise TypeError("diagnose_fit needs a fastfit History, a dict of per-epoch lists, a "
                    f"Trainer or a fitted estimator with history_, got {type(obj).__name__}")


def _finite(values):
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def diagnose_fit(history, *, baseline_loss=None, min_epochs=3, overfit_gap=0.3,
                 overfit_rise=0.1, underfit_ratio=0.5, improve_tol=0.05):
    """Under- or over-fitting, from the training and validation loss curves.

    The rules, in order (the numbers are the defaults):

    1. **not enough data to tell**: no ``val_loss`` (train with a validation set:
       ``validation_fraction=`` / ``early_stopping=True``) or fewer than ``min_epochs``
       (3) epochs.
    2. **overfitting**: the validation loss exceeds the training loss by more than
       ``overfit_gap`` (30%) of it, or it has risen more than ``overfit_rise`` (10%)
       above its best while the training loss kept falling.
    3. **underfitting**: the final training loss is still more than ``underfit_ratio``
       (half) of the reference loss (``baseline_loss``, e.g. the loss of predicting
       the class priors or the mean; default: the first epoch's training loss) --
       the model cannot even fit the training set -- or both curves are still falling
       (the validation loss improved by more than ``improve_tol`` (5%) over the last
       fifth of the epochs, at least 2): it has not converged, train longer.
    4. otherwise **good fit**.

    Parameters
    ----------
    history : History, dict, Trainer or estimator
        Needs per-epoch ``loss`` and ``val_loss`` (an estimator's ``history_``).
    baseline_loss : float, optional
        The loss of a trivial predictor, the best reference for "high" training loss:
        ``log(n_classes)`` (uniform) or the class-prior entropy for cross-entropy,
        ``var(y)`` for squared error. Without it, the first epoch's loss is used, which
        misses underfitting that sets in during the first epoch.
    min_epochs : int, default=3
    overfit_gap : float, default=0.3
    overfit_rise : float, default=0.1
    underfit_ratio : float, default=0.5
    improve_tol : float, default=0.05

    Returns
    -------
    FitDiagnosis
    """
    h = history_of(history)
    train = _finite(h.get("loss", []))
    val = _finite(h.get("val_loss", []))
    n = len(train)
    if not val or n < min_epochs or len(val) < min_epochs:
        why = ("no validation loss ('val_loss') in the history: fit with a validation set "
               "(Trainer.fit(validation_fraction=...) or validation_data=)" if not val else
               f"only {min(n, len(val))} epoch(s); at least {min_epochs} are needed")
        return FitDiagnosis("not enough data to tell", f"Not enough data to tell: {why}.",
                            final_train_loss=train[-1] if train else None,
                            final_val_loss=val[-1] if val else None, n_epochs=n, reasons=[why])
    tr, va = train[-1], val[-1]
    gap = va - tr
    rel_gap = gap / max(abs(tr), 1e-12)
    best_epoch = int(np.argmin(val))
    best_val = val[best_epoch]
    val_rise = (va - best_val) / max(abs(best_val), 1e-12)
    reference = train[0] if baseline_loss is None else float(baseline_loss)
    train_ratio = tr / max(abs(reference), 1e-12)
    window = max(2, len(val) // 5)
    before = min(val[:-window]) if len(val) > window else val[0]
    improving = (before - min(val[-window:])) / max(abs(before), 1e-12) > improve_tol
    fell_since_best = train[min(best_epoch, n - 1)] > tr
    falling_recently = train[max(0, n - window - 1)] > tr
    nums = dict(final_train_loss=tr, final_val_loss=va, gap=gap, relative_gap=rel_gap,
                best_epoch=best_epoch, best_val_loss=best_val, val_rise=val_rise,
                train_ratio=train_ratio, val_still_improving=bool(improving), n_epochs=n)
    ref_name = "the baseline loss" if baseline_loss is not None else "the first epoch's loss"
    reasons = []
    if rel_gap > overfit_gap:
        reasons.append(f"validation loss {va:.4g} is {rel_gap:.0%} above the training loss "
                       f"{tr:.4g} (threshold {overfit_gap:.0%})")
    if val_rise > overfit_rise and fell_since_best:
        reasons.append(f"validation loss rose {val_rise:.0%} above its best ({best_val:.4g} at "
                       f"epoch {best_epoch + 1}) while the training loss kept falling")
    if reasons:
        msg = ("Overfitting: " + "; ".join(reasons) + ". Try more data, stronger "
               "regularisation (alpha/weight_decay, dropout), a smaller model, or early "
               f"stopping (the best validation loss was at epoch {best_epoch + 1}).")
        return FitDiagnosis("overfitting", msg, reasons=reasons, **nums)
    if train_ratio > underfit_ratio:
        reasons.append(f"training loss {tr:.4g} is still {train_ratio:.0%} of {ref_name} "
                       f"{reference:.4g} (threshold {underfit_ratio:.0%})")
    if improving and falling_recently:
        reasons.append(f"validation loss still improving (by more than {improve_tol:.0%} over "
                       f"the last {window} epochs)")
    if reasons:
        msg = ("Underfitting: " + "; ".join(reasons) + ". Try a bigger model, more epochs, "
               "a higher learning rate (see lr_finder), less regularisation, or better "
               "features.")
        return FitDiagnosis("underfitting", msg, reasons=reasons, **nums)
    msg = (f"Good fit: training loss {tr:.4g}, validation loss {va:.4g} (gap {rel_gap:.0%}), "
           f"best validation loss at epoch {best_epoch + 1} of {n}.")
    return FitDiagnosis("good fit", msg, reasons=[], **nums)
