"""Losses fused with their gradient (csrc/loss.inc): mse, huber, bce on logits, Poisson
on the log link and softmax cross-entropy, each a weighted mean over rows of the per-row mean over K outputs.

Launches, none waiting for the host: the weight sum (when weighted) into a device
scalar; the fused loss + gradient pass, whose chunks write double partial sums (the
gradient scale w_i / (sum_w * K) is read from the device scalar); one block adding the
partials into the loss. The launcher then reads (loss, sum_w, bad-label flag) back in
one copy to return the C status.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32, float64

from fastfit._lib import lib
from fastfit.cuda import _fmath as fm
from fastfit.cuda import _reduce as R
from fastfit.cuda._reduce import RT  # a plain global: shared array shapes must be compile-time constants
from fastfit.cuda._device import flat, is_device, scratch
from fastfit.cuda._status import FF_EBADARG, FF_ENONFINITE, FF_OK, scalar

# enum ff_loss_kind, from the compiled module
MSE = lib.FF_LOSS_MSE
HUBER = lib.FF_LOSS_HUBER
BCE = lib.FF_LOSS_BCE_LOGITS
SOFTMAX_CE = lib.FF_LOSS_SOFTMAX_CE
POISSON = lib.FF_LOSS_POISSON


@cuda.jit(device=True, inline=True)
def _elem(kind, p, t, delta):
    """(dl/dp, l) of one element; l in double, formed from the input's values."""
    if kind == MSE:
        r = p - t
        return float32(2) * r, float64(r) * float64(r)
    if kind == HUBER:
        # c = r clipped to [-delta, delta]: dl/dr = c, l = c (r - c/2); NaN stays NaN
        r = p - t
        lo = -delta if r < -delta else r
        gr = delta if lo > delta else lo
        return gr, float64(gr) * (float64(r) - 0.5 * float64(gr))
    if kind == POISSON:
        # half Poisson deviance of mu = exp(p) in the input's dtype (inf where it
        # overflows, as C): t log t - t p - t + mu, t log t = 0 at t = 0
        mu = fm.exp(p)
        tt = float64(t)
        tlogt = tt * fm.log(tt) if tt != 0.0 else 0.0
        return mu - t, tlogt - tt * float64(p) - tt + float64(mu)
    # BCE on logit p, target t: e = exp(-|z|) never overflows
    e = fm.exp(-abs(p))
    inv1pe = float32(1) / (float32(1) + e)
    gr = (inv1pe if p >= float32(0) else e * inv1pe) - t
    zp = float64(p) if p > float32(0) else 0.0
    return gr, (zp - float64(p) * float64(t)) + float64(fm.log1p(e))


@cuda.jit
def _k_elementwise_loss(part, dpred, pred, target, weight, sumw, n, k, kind, delta):
    """Chunks of the n*k elements; part[chunk] = sum of w_i * l_ij."""
    sh = cuda.shared.array(RT, float64)
    sw = sumw[0]
    if not sw > 0:  # C returns FF_EBADARG before any gradient is written
        return
    inv = 1.0 / (sw * float64(k))
    T = pred.dtype.type
    tinv = T(inv)
    m = n * k
    for ch in range(cuda.blockIdx.x, (m + R.CHUNK - 1) // R.CHUNK, cuda.gridDim.x):
        acc = float64(0)
        for idx in range(ch * R.CHUNK + cuda.threadIdx.x, min(m, (ch + 1) * R.CHUNK), R.RT):
            gr, l = _elem(kind, pred[idx], target[idx], delta)
            if weight is not None:
                w = weight[idx // k]
                acc += float64(w) * l
                if dpred is not None:
                    dpred[idx] = T(float64(w) * inv) * gr
            else:
                acc += l
                if dpred is not None:
                    dpred[idx] = tinv * gr
        total = R.block_sum(sh, acc)
        if cuda.threadIdx.x == 0:
            part[ch] = total


@cuda.jit
def _k_softmax_ce(part, bad, dlogits, logits, labels, weight, sumw, n, c):
    """Chunks of rows, one thread per row; part[chunk] = sum of w_i * l_i."""
    sh = cuda.shared.array(RT, float64)
    sw = sumw[0]
    if not sw > 0:
        return
    inv = 1.0 / sw
    T = logits.dtype.type
    for ch in range(cuda.blockIdx.x, (n + R.CHUNK - 1) // R.CHUNK, cuda.gridDim.x):
        acc = float64(0)
        for i in range(ch * R.CHUNK + cuda.threadIdx.x, min(n, (ch + 1) * R.CHUNK), R.RT):
            y = labels[i]
            if y < 0 or y >= c:
                bad[0] = 1
                continue
            w = float64(weight[i]) if weight is not None else 1.0
            dscale = w * inv
            base = i * c
            m = logits[base]
            for j in range(1, c):
                v = logits[base + j]
                m = v if v > m else m
            s = float64(0)
            for j in range(c):
                e = fm.exp(logits[base + j] - m)
                s += float64(e)
                if dlogits is not None:
                    dlogits[base + j] = e  # parked, normalised below: one exp per element
            if dlogits is not None:
                f = T(dscale / s)
                for j in range(c):
                    dlogits[base + j] *= f
                dlogits[base + y] -= T(dscale)
            acc += w * ((float64(m) - float64(logits[base + y])) + fm.log(s))
        total = R.block_sum(sh, acc)
        if cuda.threadIdx.x == 0:
            part[ch] = total


@cuda.jit
def _k_set(out, value):
    out[0] = value


@cuda.jit
def _k_finish(out, total, sumw, bad, outputs):
    """out = (loss, sum_w, bad label?): loss = total / (sum_w * outputs)."""
    out[0] = total[0] / (sumw[0] * outputs)
    out[1] = sumw[0]
    out[2] = bad[0]


def _run(loss, dpred, pred, target, labels, weight, n, k, kind, delta):
    if n < 1 or k < 1:
        return FF_EBADARG
    if kind == HUBER and not (delta > 0 and math.isfinite(delta)):
        return FF_EBADARG
    pred, dpred = flat(pred), flat(dpred) if dpred is not None else None
    target = flat(target) if target is not None else None
    sumw = scratch("loss_sumw", 1, np.float64)
    if weight is None:
        _k_set[1, 1](sumw, float64(n))
    else:
        wpart = scratch("loss_wpart", R.nchunks(n), np.float64)
        R.k_chunk_sum[R.chunk_blocks(n), R.RT](wpart, weight, n)
        R.k_sum_partials[1, R.RT](sumw, wpart, R.nchunks(n))
    items = n if kind == SOFTMAX_CE else n * k
    part = scratch("loss_part", R.nchunks(items), np.float64)
    bad = scratch("loss_bad", 1, np.int32)
    _k_set[1, 1](bad, np.int32(0))
    if kind == SOFTMAX_CE:
        _k_softmax_ce[R.chunk_blocks(items), R.RT](part, bad, dpred, pred, labels, weight, sumw, n, k)
    else:
        _k_elementwise_loss[R.chunk_blocks(items), R.RT](part, dpred, pred, target, weight, sumw, n, k,
                                                         kind, scalar(pred, delta))
    total = scratch("loss_total", 1, np.float64)
    R.k_sum_partials[1, R.RT](total, part, R.nchunks(items))
    res = scratch("loss_res", 3, np.float64)
    _k_finish[1, 1](res, total, sumw, bad, float64(1 if kind == SOFTMAX_CE else k))
    value, sw, flag = res.copy_to_host()  # the one wait: the status depends on the data
    if not sw > 0 or flag:
        return FF_EBADARG
    if is_device(loss):
        _k_set[1, 1](loss, value)
    else:
        loss[0] = value
    return FF_OK if math.isfinite(value) else FF_ENONFINITE


# ---- C-twin launchers (loss: a float64 array of length >= 1, on the host or the device) ----

def ff_mse_loss(loss, dpred, pred, target, weight, n, k):
    return _run(loss, dpred, pred, target, None, weight, n, k, MSE, 0.0)


def ff_huber_loss(loss, dpred, pred, target, weight, n, k, delta):
    return _run(loss, dpred, pred, target, None, weight, n, k, HUBER, delta)


def ff_bce_logits_loss(loss, dlogits, logits, target, weight, n, k):
    return _run(loss, dlogits, logits, target, None, weight, n, k, BCE, 0.0)


def ff_softmax_cross_entropy(loss, dlogits, logits, labels, weight, n, c):
    return _run(loss, dlogits, logits, None, labels, weight, n, c, SOFTMAX_CE, 0.0)


def ff_poisson_loss(loss, dpred, pred, target, weight, n, k):
    return _run(loss, dpred, pred, target, None, weight, n, k, POISSON, 0.0)
