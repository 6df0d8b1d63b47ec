"""Compile a layer stack into a plan: the ordered kernel calls C runs, with offsets.

The plan is what ``csrc/engine.inc`` executes (``ff_op`` in ``csrc/fastfit.h``). Layers
ask the builder for an output slot in the activation workspace, for parameters, running
statistics, a save area and dropout-mask bytes; the builder lays them out:

* parameters: every weight matrix first, then biases and batch-norm scales/shifts, so
  weight decay and L1 (which apply to weights only) cover one prefix ``[0, n_decay)``
  and an optimizer step is still one kernel call per part;
* workspace slots in values per row (slot 0 is the input);
* gradients of activations use the same slots, except that a residual branch's output
  gradient *is* the block output's gradient (the add passes it through unchanged).
"""

from __future__ import annotations

import dataclasses

from fastfit._lib import lib

@dataclasses.dataclass
class Op:
    """One kernel call of the plan (mirrors ``ff_op``)."""

    kind: int
    in_: int
    out: int
    x: int
    y: int
    z: int = -1
    act: int = 0
    w: object = -1       # Param until the plan is laid out, then its offset (-1: none)
    b: object = -1
    stat: int = -1
    save: int = -1
    a: float = 0.0
    a2: float = 0.0
    dx: int = -1
    dy: int = -1
    dy_of: int = -1      # take dy from this slot's gradient instead of y's (residual SKIP)


@dataclasses.dataclass
class Param:
    """A parameter tensor a layer asked for: ``decay`` ones go first."""

    owner: object
    name: str
    shape: tuple
    decay: bool
    init: str            # "weight" (owner decides the scheme), "zeros" or "ones"
    offset: int = -1

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


@dataclasses.dataclass
class Plan:
    """A compiled model: ops with final offsets and the sizes of every buffer."""

    ops: list
    params: list
    n_in: int
    n_out: int
    out_slot: int
    width: int
    mask_width: int
    save_size: int
    stats_size: int
    n_params: int
    n_decay: int
    has_batchnorm: bool


class Builder:
    """Collects ops and buffer requests while layers compile themselves."""

    def __init__(self, n_in: int):
        self.n_in = n_in
        self.width = n_in          # slot 0 is the input
        self.ops: list[Op] = []
        self.params: list[Param] = []
        self.mask_width = 0
        self.save_size = 0
        self.stats_size = 0
        self.grad_alias: dict[int, int] = {}
        self.has_batchnorm = False

    def slot(self, width: int) -> int:
        start = self.width
        self.width += width
        return start

    def param(self, owner, name, shape, *, decay, init) -> Param:
        """A parameter tensor; ops refer to it (its offset is set by ``finish``)."""
        param = Param(owner, name, tuple(shape), decay, init)
        self.params.append(param)
        return param

    def stats(self, n: int) -> int:
        start = self.stats_size
        self.stats_size += n
        return start

    def save(self, n: int) -> int:
        start = self.save_size
        self.save_size += n
        return start

    def mask(self, n: int) -> int:
        start = self.mask_width
        self.mask_width += n
        return start

    def emit(self, op: Op) -> int:
        self.ops.append(op)
        return op.y

    def finish(self, out_slot: int, n_out: int) -> Plan:
        # Parameters: decayed (weights) first, then the rest, each in request order.
        offset = 0
        ordered = [p for p in self.params if p.decay] + [p for p in self.params if not p.decay]
        for p in ordered:
            p.offset = offset
            offset += p.size
        n_decay = sum(p.size for p in self.params if p.decay)

        def grad_slot(s: int) -> int:
            while s in self.grad_alias:
                s = self.grad_alias[s]
            return s

        for op in self.ops:
            op.w = op.w.offset if isinstance(op.w, Param) else -1
            op.b = op.b.offset if isinstance(op.b, Param) else -1
            op.dy = grad_slot(op.dy_of if op.dy_of >= 0 else op.y)
            # Nobody needs the input's gradient: a linear map reading slot 0 skips it;
            # other kinds write it to slot 0 of the gradient workspace, unread.
            if op.x == 0 and op.kind in (lib.FF_OP_LINEAR, lib.FF_OP_SKIP):
                op.dx = -1
            else:
                op.dx = grad_slot(op.x)
        return Plan(ops=self.ops, params=ordered, n_in=self.n_in, n_out=n_out,
                    out_slot=out_slot, width=self.width, mask_width=self.mask_width,
                    save_size=self.save_size, stats_size=self.stats_size, n_params=offset,
                    n_decay=n_decay, has_batchnorm=self.has_batchnorm)
