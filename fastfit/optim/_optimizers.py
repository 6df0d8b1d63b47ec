"""Optimizers: settings for the one fused update C applies to the flat buffer.

An optimizer here holds hyper-parameters only; its state (momentum, Adam's moments)
lives in flat buffers owned by the trainer, one per slot, laid out like the
parameters. Weight decay and L1 apply to the weight matrices (the prefix of the buffer
the plan reserves for them), not to biases and batch-norm parameters, unless
``decay_all=True`` (which is what torch does when given all parameters in one group).
"""

from __future__ import annotations

import math

from fastfit._lib import lib
from fastfit.ops._args import hyper
from fastfit.optim._schedules import Constant, Schedule

__all__ = ["Optimizer", "SGD", "RMSProp", "Adam", "AdamW", "get"]


class Optimizer:
    """Common settings.

    Parameters
    ----------
    lr : float
        Base learning rate (the schedule multiplies it).
    weight_decay : float, default=0
        L2 penalty (coupled into the gradient; decoupled for AdamW).
    l1 : float, default=0
        L1 penalty, applied as a proximal step after each update.
    clip_norm : float or None, default=None
        Clip the global gradient norm to this value before each update.
    schedule : Schedule, optional
        Learning-rate schedule; default constant.
    decay_all : bool, default=False
        Apply weight decay and L1 to biases and batch-norm parameters too.
    """

    kind = -1
    n_slots = 0

    def __init__(self, lr, weight_decay=0.0, l1=0.0, clip_norm=None, schedule=None,
                 decay_all=False):
        self.lr = hyper("lr", lr)
        self.weight_decay = hyper("weight_decay", weight_decay)
        self.l1 = hyper("l1", l1)
        if clip_norm is not None:
            clip_norm = float(clip_norm)
            if not (math.isfinite(clip_norm) and clip_norm > 0):
                raise ValueError(f"clip_norm must be finite and > 0, got {clip_norm}")
        self.clip_norm = clip_norm
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a fastfit.optim schedule, got {schedule!r}")
        self.schedule = schedule if schedule is not None else Constant()
        self.decay_all = bool(decay_all)

    def settings(self) -> dict:
        """The fields of ``ff_train`` this optimizer sets."""
        return {"kind": self.kind, "momentum": 0.0, "alpha": 0.0, "beta1": 0.0, "beta2": 0.0,
                "eps": 0.0, "nesterov": False, "decoupled": False,
                "weight_decay": self.weight_decay, "l1": self.l1, "clip_norm": self.clip_norm,
                "decay_all": self.decay_all}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    Parameters
    ----------
    lr : float, default=0.01
    momentum : float, default=0
    nesterov : bool, default=False
    **kwargs : see ``Optimizer``
    """

    kind = lib.FF_OPTIM_SGD

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(lr, **kwargs)
        self.momentum = hyper("momentum", momentum)
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov momentum needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.n_slots = 1 if self.momentum > 0 else 0

    def settings(self):
        return {**super().settings(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSProp(Optimizer):
    """RMSProp (not centred), as ``torch.optim.RMSprop``.

    Parameters
    ----------
    lr : float, default=0.01
    alpha : float, default=0.99
        Smoothing of the squared-gradient average.
    eps : float, default=1e-8
    momentum : float, default=0
    **kwargs : see ``Optimizer``
    """

    kind = lib.FF_OPTIM_RMSPROP

    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, **kwargs):
        super().__init__(lr, **kwargs)
        self.alpha = hyper("alpha", alpha, high=1.0)
        self.eps = hyper("eps", eps)
        self.momentum = hyper("momentum", momentum)
        self.n_slots = 2 if self.momentum > 0 else 1

    def settings(self):
        return {**super().settings(), "alpha": self.alpha, "eps": self.eps,
                "momentum": self.momentum}


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (L2 ``weight_decay`` coupled into the gradient).

    Parameters
    ----------
    lr : float, default=1e-3
    betas : (float, float), default=(0.9, 0.999)
    eps : float, default=1e-8
    **kwargs : see ``Optimizer``
    """

    kind = lib.FF_OPTIM_ADAM
    n_slots = 2
    decoupled = False

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, **kwargs):
        super().__init__(lr, **kwargs)
        self.betas = tuple(hyper("betas", b, high=1.0, high_open=True) for b in betas)
        if len(self.betas) != 2:
            raise ValueError(f"betas must be two numbers, got {betas!r}")
        self.eps = hyper("eps", eps)

    def settings(self):
        return {**super().settings(), "beta1": self.betas[0], "beta2": self.betas[1],
                "eps": self.eps, "decoupled": self.decoupled}


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    Parameters
    ----------
    lr : float, default=1e-3
    weight_decay : float, default=0.01
    **kwargs : see ``Adam``
    """

    decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, **kwargs):
        super().__init__(lr, betas=betas, eps=eps, weight_decay=weight_decay, **kwargs)


_NAMES = {"sgd": SGD, "rmsprop": RMSProp, "adam": Adam, "adamw": AdamW}


def get(optimizer) -> Optimizer:
    """An Optimizer from an instance or a name ("sgd", "rmsprop", "adam", "adamw")."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _NAMES:
        return _NAMES[optimizer.lower()]()
    raise ValueError(f"optimizer must be a fastfit.optim.Optimizer or one of {sorted(_NAMES)}, "
                     f"got {optimizer!r}")
