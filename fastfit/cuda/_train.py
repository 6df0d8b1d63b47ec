"""Training on the GPU: the compiled plan (``model.plan``) executed by the Numba twins.

``CudaTrainer`` is the device twin of ``fastfit._engine.NativeTrainer``: the same
constructor and the same contract (``fastfit._backend.Backend``: ``set_data``,
``run_batches``, ``totals``, ``sync_to_host``, ...), so ``fastfit.Trainer`` drives both
with one loop. It follows ``csrc/engine.inc`` op for op:

* one fit's data (X, targets or labels, sample weights) is copied to the device once,
  in ``set_data``; parameters, gradients, running statistics and the optimizer state
  stay on the device for the whole ``run_batches`` call (the Trainer makes it a whole
  epoch unless a callback asks for per-batch hooks);
* the epoch order is the C engine's: ``rows`` (or 0..n-1) shuffled by the same
  Philox Fisher-Yates with stream = epoch. It is drawn on the host by the C kernel
  (the permutation is serial by nature: one GPU thread would take ~n dependent memory
  round trips) and copied up once per epoch with the per-batch weight sums;
* batches as the engine cuts them (the last row merged into the previous batch when
  the model has batch norm), batches whose weights sum to zero skipped (no launch, no
  optimizer step), the dropout stream offset ``step * mask_width * capacity`` + the
  layer's mask offset, so the masks are the C engine's bit for bit;
* per step: one launch zeroes the gradients and gathers the batch (input rows,
  targets/labels, weights); forward; the fused loss + gradient; the loss bookkeeping
  (epoch sums, hits, first non-finite batch) in one single-block launch that stays on
  the device; backward; global-norm clipping when configured; one optimizer launch over
  the flat buffer (two, as the engine, when weight decay splits it into [0, n_decay) and
  the rest; plus L1 when set). Batch norm and the activation after it run fused (forward:
  statistics, finalisation, normalise + activate; backward: the activation's gradient
  inside batch norm's partial sums), a bias gradient is one launch, and with CuPy the
  products run in cuBLAS directly between the workspace slots (2-D views built once per
  batch size). A W1 step (64-256-256-10 + BN, Adam) is 22 Numba launches + 8 cuBLAS
  products. Nothing waits for the device inside the block;
* at the end of the call: one copy of the epoch's sums back; ``sync_to_host``, which
  the Trainer calls after every call, copies the parameters, running statistics,
  gradients and optimizer state into the host buffers (the model's ``params``/``stats``,
  the Trainer's ``grads``/slots), so callbacks, snapshots,
  EarlyStopping, pickling and ``predict`` see the current weights. At the start of each
  epoch the host buffers are copied up again, so whatever a callback did to them between
  epochs (EarlyStopping's restore, a user's set_weights) is what trains next.

The engine's scikit-learn mode (optimizer settings ``sklearn`` and ``l2_loss``, as
fastfit.MLPClassifier/MLPRegressor set them) follows ff_step and ff_optimizer_step: the
coupled L2 coefficient divided by the batch's weight sum (not for decoupled AdamW) and
Adam's eps replaced by eps / sqrt(1 - beta2^t), both folded on the host in double; the
batch loss gains l2_loss/2 * ||params[:n_decay]||^2 / weight sum with the weights before
the step (two more launches: the chunked sum of squares and its total) and the epoch loss
is averaged over the batches by rows, in the bookkeeping launch.

A non-finite loss (or gradient norm, with clipping) is recorded on the device as the
first failing batch; the call then returns ``FF_ENONFINITE`` like the C engine and the
Trainer restores the last good epoch from its host snapshot (the device steps after
the failure are discarded).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
from numba import cuda, float64

from fastfit._backend import Totals
from fastfit._epoch import batch_bounds, batch_weight_sums, dropout_offset, step_coefficients
from fastfit._lib import lib
from fastfit.cuda import _ops
from fastfit.cuda import _reduce as R
from fastfit.cuda import kernels as K
from fastfit.cuda._k_gemm import cupy_module
from fastfit.cuda._device import THREADS, blocks, is_available, to_device, zeros
from fastfit.cuda._k_losses import BCE, SOFTMAX_CE, _k_elementwise_loss, _k_softmax_ce
from fastfit.cuda._k_optim import _k_scale_if_over, norm_on_device
from fastfit.cuda._reduce import RT
from fastfit.cuda._status import FF_ENONFINITE, FF_OK, scalar

# engine constants (enum ff_op_kind, enum ff_optimizer_kind), from the compiled module
OP_LINEAR = lib.FF_OP_LINEAR
OP_BATCHNORM = lib.FF_OP_BATCHNORM
OP_DROPOUT = lib.FF_OP_DROPOUT
OP_SKIP = lib.FF_OP_SKIP
OPTIM_SGD = lib.FF_OPTIM_SGD
OPTIM_RMSPROP = lib.FF_OPTIM_RMSPROP

# the epoch accumulators on the device (float64): counts are exact below 2^53
ACC_LOSS, ACC_WEIGHT, ACC_HITS, ACC_FAILED, ACC_FAILED_LOSS, ACC_LAST = range(6)


def require_device() -> None:
    """Raise RuntimeError when no CUDA GPU is visible (the simulator counts as one)."""
    if not is_available():
        raise RuntimeError(
            "device='cuda' needs an NVIDIA GPU with a working CUDA driver, and numba-cuda "
            "found none (numba.cuda.is_available() is False). Train with device='cpu', or "
            "set NUMBA_ENABLE_CUDASIM=1 before importing numba to run the GPU path on "
            "Numba's (slow) CPU simulator.")


# ---- kernels ---------------------------------------------------------------------------------

@cuda.jit
def _k_gather_batch(grads, xb, tb, wb, x, t, w, order, lo, rows, d, k):
    """The start of a step, in one launch: the gradient buffer zeroed, and the batch in
    the epoch's order: input rows (d wide), target rows or labels (k wide) and weights
    (when w is not None)."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for e in range(start, grads.size, stride):
        grads[e] = 0
    for e in range(start, rows * d, stride):
        r = e // d
        xb[e] = x[order[lo + r] * d + (e - r * d)]
    for e in range(start, rows * k, stride):
        r = e // k
        tb[e] = t[order[lo + r] * k + (e - r * k)]
    if w is not None:
        for r in range(start, rows, stride):
            wb[r] = w[order[lo + r]]


@cuda.jit
def _k_account(acc, total, sumw, out, ref, n, k, kind, batch, sumsq, half_l2, by_rows):
    """The engine's per-step bookkeeping, one block: the batch loss total / (sum_w * K)
    (K = 1 for softmax), its epoch sums and the hits (argmax == label; sign(logit) ==
    target > 1/2), or the first non-finite batch.

    scikit-learn mode (ff_step): the loss gains half_l2 * ||W||^2 / sum_w, ||W|| the norm
    of the decayed weights before the step (sumsq[0] its square, summed as ff_grad_norm;
    half_l2 = l2_loss / 2, 0 when off), and with by_rows the epoch sums weigh each
    batch by its rows, not its weight sum. As the engine, finiteness is judged on the
    loss before the L2 term (that is the loss kernel's status)."""
    sh = cuda.shared.array(RT, float64)
    tid = cuda.threadIdx.x
    hits = float64(0)
    if kind == SOFTMAX_CE:
        for i in range(tid, n, RT):
            base = i * k
            best = 0
            for j in range(1, k):
                if out[base + j] > out[base + best]:
                    best = j
            if best == ref[i]:
                hits += 1.0
    elif kind == BCE:
        for i in range(tid, n * k, RT):
            if (out[i] > 0) == (ref[i] > 0.5):
                hits += 1.0
    hits = R.block_sum(sh, hits)
    if tid == 0:
        sw = sumw[0]
        kk = 1.0 if kind == SOFTMAX_CE else float64(k)
        base = total[0] / (sw * kk)
        loss = base
        if half_l2 > 0:
            norm = math.sqrt(sumsq[0])
            loss = base + half_l2 * norm * norm / sw
        acc[ACC_LAST] = loss
        if math.isfinite(base):
            bw = float64(n) if by_rows else sw
            acc[ACC_LOSS] += loss * bw
            acc[ACC_WEIGHT] += bw
            acc[ACC_HITS] += hits
        elif acc[ACC_FAILED] < 0:
            acc[ACC_FAILED] = batch
            acc[ACC_FAILED_LOSS] = loss


@cuda.jit
def _k_check_norm(acc, norm, batch):
    """A non-finite gradient norm fails the step (ff_clip_grad_norm's FF_ENONFINITE)."""
    if cuda.grid(1) == 0 and not math.isfinite(norm[0]) and acc[ACC_FAILED] < 0:
        acc[ACC_FAILED] = batch
        acc[ACC_FAILED_LOSS] = acc[ACC_LAST]


@cuda.jit
def _k_reset(acc):
    if cuda.grid(1) == 0:
        for i in range(acc.size):
            acc[i] = 0.0
        acc[ACC_FAILED] = -1.0


# ---- the trainer -------------------------------------------------------------------------------

class _View:
    """Device views of one op's operands for a batch of n rows (built once per n)."""

    __slots__ = ("x", "y", "z", "dx", "dy", "w", "b", "gw", "gb", "mean", "rstd", "rmean", "rvar",
                 "mask", "mask_offset", "len", "cx", "cy", "cdx", "cdy", "cw", "cgw")


class CudaTrainer:
    """``ff_train`` on the GPU for one fit (see the module docstring)."""

    #: the Trainer runs a whole epoch per call (one sync per epoch)
    whole_epochs = True

    def __init__(self, model, *, loss_kind: int, delta: float, optimizer: dict, grads, slots,
                 batch_size: int, merge_single: bool, n_threads: int, shuffle: bool,
                 shuffle_seed: int, dropout_seed: int, step: int):
        require_device()
        plan = model.plan
        self.model, self.plan = model, plan
        self.dtype = np.dtype(model.dtype)
        self.loss_kind, self.delta = int(loss_kind), float(delta)
        self.opt = dict(optimizer)
        self.batch_size, self.merge_single = int(batch_size), bool(merge_single)
        self.shuffle = bool(shuffle)
        self.shuffle_seed, self.dropout_seed = int(shuffle_seed), int(dropout_seed)
        self.cap = cap = self.batch_size + (1 if self.merge_single else 0)
        self.n_decay = plan.n_params if self.opt["decay_all"] else plan.n_decay
        # scikit-learn's MLP conventions (ff_train's sklearn, l2_loss; see _update, _step)
        self.sklearn = bool(self.opt.get("sklearn", False))
        l2 = float(self.opt.get("l2_loss", 0.0))
        self.half_l2 = 0.5 * l2 if l2 > 0 and self.n_decay > 0 else 0.0
        self.host_grads = grads
        self.host_slots = [s for s in slots if s is not None]
        # the books run_batches keeps (fastfit._backend.Totals' fields)
        self._books = SimpleNamespace(step=int(step), loss_sum=0.0, weight_sum=0.0, correct=0,
                                      counted=0, last_loss=0.0, failed_batch=-1)
        dt = self.dtype
        self.P = to_device(model.params)
        self.S = to_device(model.stats if model.stats.size else np.zeros(1, dt))
        self.G = zeros(plan.n_params, dt)
        self.slots = [to_device(s) for s in self.host_slots]
        self.act = cuda.device_array(cap * plan.width, dt)
        self.dact = zeros(cap * plan.width, dt)
        self.save = cuda.device_array(max(plan.save_size, 1), dt)
        self.mask = cuda.device_array(max(cap * plan.mask_width, 1), np.uint8)
        k = plan.n_out
        self.is_ce = self.loss_kind == SOFTMAX_CE
        self.tb = cuda.device_array(cap, np.int64) if self.is_ce else cuda.device_array(cap * k, dt)
        self.wb = cuda.device_array(cap, dt)
        self.acc = zeros(6, np.float64)
        self.part = cuda.device_array(R.nchunks(cap * k), np.float64)
        self.total = cuda.device_array(1, np.float64)
        self.bad = cuda.device_array(1, np.int32)
        # ||params[:n_decay]||^2 before each step (the L2 loss term), when it is on
        self.sumsq = zeros(1, np.float64)
        self.sumsq_part = cuda.device_array(R.nchunks(self.n_decay), np.float64)
        self._views = {}
        # With CuPy, the products run in cuBLAS straight between the workspace's slots
        # (2-D CuPy views made once per batch size: wrapping an array costs ~10 us).
        self.cp = cupy_module()
        # batch norm followed by its activation: one fused pass forward, one backward
        self.fused = _ops.fused_pairs(plan.ops)

    # ---- data ----------------------------------------------------------------------------
    def set_data(self, x, target, labels, weight, rows) -> None:
        """Copy one fit's data to the device (once per fit)."""
        self.x = to_device(np.ascontiguousarray(x).reshape(-1))
        ref = labels if self.is_ce else target
        self.t = to_device(np.ascontiguousarray(ref).reshape(-1))
        self.host_weight = weight
        self.w = to_device(weight) if weight is not None else None
        self.rows = rows
        self.n = x.shape[0] if rows is None else rows.shape[0]
        self.n_total = x.shape[0]

    def _start_epoch(self, epoch):
        from fastfit import ops

        base = (np.arange(self.n, dtype=np.int64) if self.rows is None
                else self.rows.astype(np.int64))
        order = base[ops.shuffle(self.n, self.shuffle_seed, epoch)] if self.shuffle and self.n > 1 \
            else base
        # the engine's batches and weight sums (fastfit._epoch: the C engine's own rules)
        self.bounds = batch_bounds(self.n, self.batch_size, self.merge_single)
        self.wsum = wsum = batch_weight_sums(self.host_weight, order, self.n_total,
                                             self.batch_size, self.merge_single, self.dtype)
        self.order = cuda.to_device(order)
        self.d_wsum = cuda.to_device(wsum)
        # the host buffers are the truth between epochs (callbacks may have set them)
        m = self.model
        self.P.copy_to_device(m.params)
        if m.stats.size:
            self.S.copy_to_device(m.stats)
        for d, h in zip(self.slots, self.host_slots, strict=True):
            d.copy_to_device(h)
        _k_reset[1, 1](self.acc)
        s = self._books
        s.loss_sum = s.weight_sum = 0.0
        s.correct = s.counted = 0
        self._counted = 0

    def sync_to_host(self) -> None:
        """The device state into the host buffers: the model's parameters and running
        statistics, the Trainer's gradients and optimizer state."""
        m = self.model
        self.P.copy_to_host(m.params)
        if m.stats.size:
            self.S.copy_to_host(m.stats)
        self.G.copy_to_host(self.host_grads)
        for d, h in zip(self.slots, self.host_slots, strict=True):
            d.copy_to_host(h)

    # ---- one epoch's batches -------------------------------------------------------------
    def run_batches(self, epoch: int, first: int, lr: np.ndarray) -> int:
        """Batches first .. first+len(lr)-1 of an epoch on the device; one sync at the end.
        Returns FF_OK or FF_ENONFINITE (``totals()``'s failed_batch and last_loss set)."""
        if first == 0:
            self._start_epoch(epoch)
        s = self._books
        s.failed_batch = -1
        k = self.plan.n_out
        for bi in range(len(lr)):
            b = first + bi
            lo, hi = self.bounds[b]
            if not self.wsum[b] > 0:
                continue  # every row weighs zero: the engine skips the batch
            self._step(b, lo, hi - lo, float(lr[bi]))
            self._counted += (hi - lo) * (k if self.loss_kind == BCE else 1)
        acc = self.acc.copy_to_host()  # the one wait of the call
        s.loss_sum, s.weight_sum = float(acc[ACC_LOSS]), float(acc[ACC_WEIGHT])
        s.correct = int(acc[ACC_HITS])
        s.counted = self._counted if self.loss_kind in (BCE, SOFTMAX_CE) else 0
        s.last_loss = float(acc[ACC_LAST])
        if acc[ACC_FAILED] >= 0:
            s.failed_batch = int(acc[ACC_FAILED])
            s.last_loss = float(acc[ACC_FAILED_LOSS])
            return FF_ENONFINITE
        return FF_OK

    def run_one(self, x, target, labels, weight, lr: float, flags: int) -> int:
        raise RuntimeError("fastfit: train_step runs on the CPU (can_run_one is False)")

    def can_run_one(self, rows: int, n_threads: int, sparse_input: bool) -> bool:
        """Never: ``Trainer.train_step`` runs on the CPU."""
        return False

    def totals(self) -> Totals:
        return Totals.of(self._books)

    def set_step(self, step: int) -> None:
        self._books.step = int(step)

    def slot_rows(self, slot: int, width: int, rows: int) -> np.ndarray:
        """A host copy of the device workspace's rows (one sync)."""
        if rows > self.cap:
            raise ValueError(f"{rows} rows lie outside the workspace of {self.cap}")
        start = slot * self.cap
        return self.act[start:start + rows * width].copy_to_host().reshape(rows, width)

    def _op_views(self, n):
        views = self._views.get(n)
        if views is not None:
            return views
        cap, P, G, act, dact = self.cap, self.P, self.G, self.act, self.dact
        views = []
        for op in self.plan.ops:
            v = _View()
            v.len = n * op.out
            v.x = act[op.x * cap:op.x * cap + n * op.in_]
            v.y = act[op.y * cap:op.y * cap + n * op.out]
            v.dy = dact[op.dy * cap:op.dy * cap + n * op.out]
            v.dx = dact[op.dx * cap:op.dx * cap + n * op.in_] if op.dx >= 0 else None
            v.z = act[op.z * cap:op.z * cap + n * op.out] if op.z >= 0 else None
            v.w = v.gw = v.b = v.gb = None
            if op.kind == OP_BATCHNORM:
                v.w, v.gw = P[op.w:op.w + op.out], G[op.w:op.w + op.out]
                v.b, v.gb = P[op.b:op.b + op.out], G[op.b:op.b + op.out]
                v.mean = self.save[op.save:op.save + op.out]
                v.rstd = self.save[op.save + op.out:op.save + 2 * op.out]
                v.rmean = self.S[op.stat:op.stat + op.out]
                v.rvar = self.S[op.stat + op.out:op.stat + 2 * op.out]
            elif op.w >= 0:
                v.w, v.gw = P[op.w:op.w + op.in_ * op.out], G[op.w:op.w + op.in_ * op.out]
                if op.b >= 0:
                    v.b, v.gb = P[op.b:op.b + op.out], G[op.b:op.b + op.out]
            if op.kind == OP_DROPOUT:
                v.mask = self.mask[op.save * cap:op.save * cap + v.len]
                v.mask_offset = op.save * cap
            v.cx = None
            if self.cp is not None and op.w >= 0 and op.kind in (OP_LINEAR, OP_SKIP):
                cp = self.cp
                v.cx = cp.asarray(v.x).reshape(n, op.in_)
                v.cy = cp.asarray(v.y).reshape(n, op.out)
                v.cdy = cp.asarray(v.dy).reshape(n, op.out)
                v.cdx = cp.asarray(v.dx).reshape(n, op.in_) if v.dx is not None else None
                v.cw = cp.asarray(v.w).reshape(op.in_, op.out)
                v.cgw = cp.asarray(v.gw).reshape(op.in_, op.out)
            views.append(v)
        self._views[n] = views
        return views

    def _step(self, b, lo, n, lr):
        plan, s = self.plan, self._books
        k = plan.n_out
        views = self._op_views(n)
        xb = self.act[:n * plan.n_in]
        d = plan.n_in
        kt = 1 if self.is_ce else k
        _k_gather_batch[blocks(max(n * d, plan.n_params)), THREADS](
            self.G, xb, self.tb, self.wb, self.x, self.t, self.w, self.order, lo, n, d, kt)
        if self.half_l2 > 0:  # the weights before the step, as ff_step's ff_grad_norm
            nd = self.n_decay
            R.k_chunk_sumsq[R.chunk_blocks(nd), RT](self.sumsq_part, self.P, nd)
            R.k_sum_partials[1, RT](self.sumsq, self.sumsq_part, R.nchunks(nd))
        offset = dropout_offset(s.step, plan.mask_width, self.cap)
        ps = _ops.Pass(self.cp, self.dropout_seed, offset, self.dtype)
        _ops.forward(plan.ops, views, self.fused, n, ps)
        # the loss and its gradient into the output slot's gradient
        cap, o = self.cap, plan.out_slot
        out = self.act[o * cap:o * cap + n * k]
        dout = self.dact[o * cap:o * cap + n * k]
        sumw = self.d_wsum[b:b + 1]
        w = self.wb if self.w is not None else None
        items = n if self.is_ce else n * k
        if self.is_ce:
            _k_softmax_ce[R.chunk_blocks(items), RT](self.part, self.bad, dout, out, self.tb, w,
                                                     sumw, n, k)
        else:
            _k_elementwise_loss[R.chunk_blocks(items), RT](self.part, dout, out, self.tb, w, sumw,
                                                           n, k, self.loss_kind,
                                                           scalar(out, self.delta))
        total = self.part  # one chunk (a batch of <= 4096 values): its partial is the total
        if R.nchunks(items) > 1:
            R.k_sum_partials[1, RT](self.total, self.part, R.nchunks(items))
            total = self.total
        _k_account[1, RT](self.acc, total, sumw, out, self.tb, n, k, self.loss_kind, float64(b),
                          self.sumsq, float64(self.half_l2), self.sklearn)
        _ops.backward(plan.ops, views, self.fused, n, ps)
        self._update(b, lr)

    def _update(self, b, lr):
        """ff_optimizer_step: clipping, then the update of [0, n_decay) with weight decay
        and the rest without -- one launch when there is no weight decay -- then L1.

        scikit-learn mode, as the engine (in double on the host, then cast by the
        kernels): the coupled L2 coefficient divided by the batch's weight sum (not for
        decoupled AdamW), Adam's eps replaced by eps / sqrt(1 - beta2^step)."""
        o, s = self.opt, self._books
        np_, nd = self.plan.n_params, self.n_decay
        P, G = self.P, self.G
        clip = o["clip_norm"] or 0.0
        if clip > 0:
            norm = norm_on_device(G, np_)
            _k_check_norm[1, 1](self.acc, norm, float64(b))
            _k_scale_if_over[blocks(np_), THREADS](G, np_, norm, float64(clip))
        s.step += 1
        wd, eps = step_coefficients(o, s.step, float(self.wsum[b]))
        parts = [(0, np_, wd)] if wd == 0 else [(0, nd, wd), (nd, np_, 0.0)]
        s1 = self.slots[0] if self.slots else None
        s2 = self.slots[1] if len(self.slots) > 1 else None
        kind = o["kind"]
        for lo, hi, decay in parts:
            if hi <= lo:
                continue
            p, g = P[lo:hi], G[lo:hi]
            if kind == OPTIM_SGD:
                st = K.ff_sgd_update(p, s1[lo:hi] if o["momentum"] > 0 else None, g, hi - lo, lr,
                                     o["momentum"], decay, bool(o["nesterov"]))
            elif kind == OPTIM_RMSPROP:
                st = K.ff_rmsprop_update(p, s1[lo:hi], s2[lo:hi] if o["momentum"] > 0 else None, g,
                                         hi - lo, lr, o["alpha"], o["eps"], decay, o["momentum"])
            else:
                st = K.ff_adam_update(p, s1[lo:hi], s2[lo:hi], g, hi - lo, s.step, lr, o["beta1"],
                                      o["beta2"], eps, decay, bool(o["decoupled"]))
            if st != FF_OK:
                raise RuntimeError(f"fastfit cuda optimizer update rejected its arguments ({st})")
        if o["l1"] > 0 and nd > 0:
            K.ff_l1_update(P[:nd], nd, lr * o["l1"])
