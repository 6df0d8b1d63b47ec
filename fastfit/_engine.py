"""The bridge to the C engine: cffi structs built once, calls with prepared pointers.

``NativeModel`` wraps ``ff_model_<dtype>`` (the plan plus the parameter and statistics
buffers); ``NativeTrainer`` wraps ``ff_train_<dtype>`` (data, loss, optimizer settings,
optimizer state, workspace). Both keep every array they point to alive and never
re-point: buffers are updated in place (``np.copyto``), so a struct built once stays
valid. Hot calls go straight to ``lib`` -- the per-call argument checks of
``fastfit.ops`` would cost more than a small model's forward pass.
"""

from __future__ import annotations

import numpy as np

from fastfit._backend import Totals
from fastfit._lib import DTYPE_SUFFIX, check_predict_status, check_status, ffi, kernel, lib, ptr

_OP_FIELDS = ("kind", "act", "x", "z", "y", "dx", "dy", "w", "b", "stat", "save", "a", "a2")


class NativeModel:
    """``ff_model_<dtype>`` for a compiled plan and its buffers."""

    def __init__(self, plan, params: np.ndarray, stats: np.ndarray):
        dtype = params.dtype
        self.dtype = dtype
        self.suffix = DTYPE_SUFFIX[dtype]
        ops = ffi.new("ff_op[]", len(plan.ops))
        for c_op, op in zip(ops, plan.ops, strict=True):
            for field in _OP_FIELDS:
                setattr(c_op, field, getattr(op, field))
            c_op.__setattr__("in", op.in_)
            c_op.out = op.out
        s = ffi.new(f"ff_model_{self.suffix} *")
        s.ops, s.n_ops = ops, len(plan.ops)
        s.n_in, s.n_out, s.out_slot = plan.n_in, plan.n_out, plan.out_slot
        s.width, s.mask_width, s.save_size = plan.width, plan.mask_width, plan.save_size
        s.n_params, s.stats_size = plan.n_params, plan.stats_size
        self._params_ptr = ptr(params)
        self._stats_ptr = ptr(stats)
        s.params, s.stats = self._params_ptr, self._stats_ptr
        self._ops = ops
        self.struct = s
        self.n_in, self.n_out = plan.n_in, plan.n_out
        self._predict = kernel("model_predict", dtype)
        self._predict_csr = kernel("model_predict_csr", dtype)
        self._step_blocks = kernel("train_step_blocks", dtype)

    def step_blocks(self, rows: int, data_parallel: bool = False) -> int:
        """Blocks of rows of a training step of ``rows`` rows (1: the whole batch at
        once; see ``ff_train_step_blocks``): the most threads such a step uses."""
        return int(self._step_blocks(self.struct, rows, int(data_parallel)))

    def predict_into(self, out: np.ndarray, x: np.ndarray, rows: np.ndarray | None,
                     n_threads: int, check_finite: bool = False) -> None:
        """Evaluation-mode forward of x (or its rows ``rows``) into out; with
        check_finite, ValueError if those rows hold NaN/inf."""
        n = out.shape[0]
        status = self._predict(ptr(out), self.struct, ptr(x), ptr(rows), n, x.shape[0],
                               n_threads, check_finite)
        if status:
            check_predict_status(status, input_checked=check_finite)

    def predict_csr_into(self, out: np.ndarray, x, n_threads: int, output: int = 0) -> None:
        """Evaluation-mode forward of a checked ``fastfit.ops.CSR`` (finite values) into
        out; the first layer reads the sparse rows in place. ``output``: 0, or the
        kernel's FF_PREDICT_SOFTMAX / FF_PREDICT_SIGMOID output function."""
        status = self._predict_csr(ptr(out), self.struct, ptr(x.data), ptr(x.indptr),
                                   ptr(x.indices), x.shape[0], x.nnz, n_threads, output)
        if status:
            check_predict_status(status)


def _workspace(layout: dict, spare: dict | None) -> dict:
    """Scratch arrays of the given (size, dtype), taken from ``spare`` (a previous fit's
    workspace) when it has exactly this layout: the fresh pages of a new workspace cost
    more than a small ``partial_fit`` step itself (a 100-row chunk of 2000 features
    writes 3.4 MB of activations)."""
    if spare is not None and spare.keys() == layout.keys() and all(
            spare[k].size == n and spare[k].dtype == dt for k, (n, dt) in layout.items()):
        return spare
    return {k: np.empty(n, dt) for k, (n, dt) in layout.items()}


def lib_status(status: int, what: str) -> None:
    """Raise for a non-OK engine status. The engine's inputs were validated in Python, so
    an invalid-argument status here is a bug in fastfit and reported as one; the other
    codes raise as everywhere else (``fastfit._lib.check_status``)."""
    if status == lib.FF_EBADARG:
        raise RuntimeError(f"fastfit {what}: the native engine rejected its arguments; "
                           "this is a bug in fastfit, please report it")
    check_status(status, f"fastfit {what}")


class NativeTrainer:
    """``ff_train_<dtype>``: one fit's data and workspace plus the persistent optimizer
    state, for one model. A ``fastfit._backend.Backend``: the engine trains in place in
    the host buffers, so ``sync_to_host`` has nothing to do."""

    #: blocks of batches sized by time (the Trainer's choice)
    whole_epochs = False

    def __init__(self, model, *, loss_kind: int, delta: float, optimizer: dict,
                 grads: np.ndarray, slots: tuple, batch_size: int, merge_single: bool,
                 n_threads: int, shuffle: bool, shuffle_seed: int, dropout_seed: int, step: int,
                 sparse_input: bool = False, capacity: int | None = None, dist=None,
                 spare_workspace: dict | None = None):
        native = model._native
        self.native_model = native
        sfx = native.suffix
        plan = model.plan
        t = ffi.new(f"ff_train_{sfx} *")
        self.struct = t
        self._keep = {}
        # a data-parallel fit (dist: fastfit._distributed.Dist) holds this rank's share
        # of a global batch of batch_size rows
        cap = capacity or batch_size + (1 if merge_single else 0)
        dtype = native.dtype
        # a CSR input is read in place by the first layer: no dense input slot (ff_train)
        self.sparse_input = bool(sparse_input)
        width = plan.width - (plan.n_in if sparse_input else 0)
        layout = {
            "act": (cap * width, dtype),
            "dact": (cap * width, dtype),
            "save": (max(plan.save_size, 1), dtype),
            "mask": (cap * plan.mask_width, np.uint8),
            "weight_b": (cap, dtype),
        }
        if loss_kind == lib.FF_LOSS_SOFTMAX_CE:
            layout["labels_b"] = (cap, np.int64)
        else:
            layout["target_b"] = (cap * plan.n_out, dtype)
        self.workspace = ws = _workspace(layout, spare_workspace)
        t.capacity = cap
        self._set("act", ws["act"])
        self._set("dact", ws["dact"])
        self._set("save", ws["save"])
        self._set("mask", ws["mask"])
        self._set("weight_b", ws["weight_b"])
        self._set("labels_b", ws.get("labels_b"))
        self._set("target_b", ws.get("target_b"))
        self._set("grads", grads)
        self._set("slot1", slots[0])
        self._set("slot2", slots[1])
        t.batch_size, t.merge_single, t.n_threads = batch_size, int(merge_single), n_threads
        t.loss, t.delta = loss_kind, delta
        t.shuffle, t.shuffle_seed, t.dropout_seed = int(shuffle), shuffle_seed, dropout_seed
        t.optimizer = optimizer["kind"]
        t.nesterov, t.decoupled = int(optimizer["nesterov"]), int(optimizer["decoupled"])
        for field in ("momentum", "alpha", "beta1", "beta2", "eps", "weight_decay", "l1"):
            setattr(t, field, optimizer[field])
        t.clip_norm = optimizer["clip_norm"] or 0.0
        # scikit-learn's MLP conventions (fastfit.MLPClassifier/MLPRegressor): see ff_train
        t.sklearn = int(optimizer.get("sklearn", False))
        t.l2_loss = float(optimizer.get("l2_loss", 0.0))
        t.n_decay = plan.n_params if optimizer["decay_all"] else plan.n_decay
        t.step = step
        t.failed_batch = -1
        self.dist = dist
        t.dist = dist.struct if dist is not None else ffi.NULL
        self._epoch = kernel("train_epoch", native.dtype)
        self._batch = kernel("train_batch", native.dtype)

    def _set(self, field, array):
        self._keep[field] = array
        setattr(self.struct, field, ptr(array))

    def _set_x(self, x) -> None:
        """x: a dense array, or a checked ``fastfit.ops.CSR`` (trainers built with
        sparse_input)."""
        if self.sparse_input != (not isinstance(x, np.ndarray)):
            raise RuntimeError("fastfit: a trainer's workspace was sized for "
                               f"{'sparse' if self.sparse_input else 'dense'} input")
        t = self.struct
        if self.sparse_input:
            self._set("x", None)
            self._set("x_data", x.data)
            self._set("x_indptr", x.indptr)
            self._set("x_indices", x.indices)
            t.x_nnz = x.nnz
        else:
            self._set("x", x)

    def set_data(self, x, target, labels, weight, rows) -> None:
        """Point the struct at one fit's data (validated arrays, kept alive here)."""
        t = self.struct
        self._set_x(x)
        self._set("target", target)
        self._set("labels", labels)
        self._set("weight", weight)
        self._set("rows", rows)
        n = x.shape[0] if rows is None else rows.shape[0]
        self._set("order", np.empty(n, np.int64))
        t.n, t.n_total = n, x.shape[0]

    def run_batches(self, epoch: int, first: int, lr: np.ndarray) -> int:
        """Batches first .. first+len(lr)-1 of an epoch; returns the engine status."""
        return self._epoch(self.struct, self.native_model.struct, epoch, first, len(lr),
                           ffi.from_buffer("double[]", lr))

    def run_one(self, x, target, labels, weight, lr: float, flags: int) -> int:
        if self.sparse_input:   # rows 0..n-1 of the CSR, read in place (x NULL)
            self._set_x(x)
            self.struct.n_total = x.shape[0]
            return self._batch(self.struct, self.native_model.struct, ffi.NULL, ptr(target),
                               ptr(labels), ptr(weight), x.shape[0], lr, flags)
        return self._batch(self.struct, self.native_model.struct, ptr(x), ptr(target),
                           ptr(labels), ptr(weight), x.shape[0], lr, flags)

    def can_run_one(self, rows: int, n_threads: int, sparse_input: bool) -> bool:
        t = self.struct
        return t.capacity >= rows and t.n_threads == n_threads and \
            self.sparse_input == bool(sparse_input)

    def totals(self) -> Totals:
        return Totals.of(self.struct)

    def set_step(self, step: int) -> None:
        self.struct.step = step

    def sync_to_host(self) -> None:
        """Nothing to copy: the engine updates the host buffers in place."""

    def slot_rows(self, slot: int, width: int, rows: int) -> np.ndarray:
        """A view into the workspace (a CSR input's workspace starts at slot n_in)."""
        cap = self.struct.capacity
        start = (slot - (self.native_model.n_in if self.sparse_input else 0)) * cap
        if start < 0 or rows > cap:
            raise ValueError(f"slot {slot} / {rows} rows lie outside the workspace")
        return self.workspace["act"][start:start + rows * width].reshape(rows, width)
