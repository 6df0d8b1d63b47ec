"""Fused losses (MSE, Huber, BCE on logits, softmax cross-entropy, Poisson) against their float64
references, PyTorch, finite differences, and across thread counts."""

import numpy as np
import pytest

import fastfit
import fastfit.ops as F
from fastfit._lib import ffi, lib, ptr

import reference as R

DTYPES = [np.float32, np.float64]
SIZES = [1, 3, 7, 13, 15, 17, 31, 33, 63, 65]
ELEMENTWISE = ["mse", "huber", "bce", "poisson"]
SUFFIX = {np.float32: "f32", np.float64: "f64"}


def _data(kind, n, k, dtype, seed=0, weighted=False):
    rng = np.random.default_rng(seed)
    if kind == "ce":
        pred = (3 * rng.standard_normal((n, k))).astype(dtype)
        target = rng.integers(0, k, n)
    elif kind == "bce":
        pred = (4 * rng.standard_normal((n, k))).astype(dtype)
        target = rng.random((n, k)).astype(dtype)
        target[: n // 2] = np.round(target[: n // 2])  # hard 0/1 labels and soft targets
    elif kind == "poisson":   # log-means and counts, zeros included
        pred = (1.5 * rng.standard_normal((n, k))).astype(dtype)
        target = rng.poisson(2.0, (n, k)).astype(dtype)
    else:
        pred = (2 * rng.standard_normal((n, k))).astype(dtype)
        target = rng.standard_normal((n, k)).astype(dtype)
    w = rng.uniform(0.1, 2.0, n).astype(dtype) if weighted else None
    return pred, target, w


def _ours(kind, pred, target, w, delta=1.0):
    if kind == "mse":
        return F.mse_loss(pred, target, sample_weight=w)
    if kind == "huber":
        return F.huber_loss(pred, target, delta=delta, sample_weight=w)
    if kind == "bce":
        return F.bce_with_logits(pred, target, sample_weight=w)
    if kind == "poisson":
        return F.poisson_loss(pred, target, sample_weight=w)
    return F.softmax_cross_entropy(pred, target, sample_weight=w)


def _ref(kind, pred, target, w, delta=1.0):
    if kind == "mse":
        return R.mse_loss_ref(pred, target, w)
    if kind == "huber":
        return R.huber_loss_ref(pred, target, delta, w)
    if kind == "bce":
        return R.bce_logits_loss_ref(pred, target, w)
    if kind == "poisson":
        return R.poisson_loss_ref(pred, target, w)
    return R.softmax_cross_entropy_ref(pred, target, w)


def _check(kind, pred, target, w, dtype, delta=1.0):
    loss, grad = _ours(kind, pred, target, w, delta)
    ref_loss, ref_grad = _ref(kind, pred, target, w, delta)
    assert isinstance(loss, float)
    assert grad.dtype == dtype and grad.shape == pred.shape
    # The loss is summed in double from the (rounded) inputs: tight even for f32.
    lrtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(loss, ref_loss, rtol=lrtol, atol=lrtol)
    gscale = np.abs(ref_grad).max() + 1e-300
    R.assert_close(grad / gscale, ref_grad / gscale, dtype, scale=2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ELEMENTWISE + ["ce"])
@pytest.mark.parametrize("n", SIZES)
def test_losses_match_reference(kind, n, dtype):
    for k in (1, 3) if kind != "ce" else (2, 5):
        for weighted in (False, True):
            pred, target, w = _data(kind, n, k, dtype, seed=n * 7 + k, weighted=weighted)
            _check(kind, pred, target, w, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ELEMENTWISE + ["ce"])
def test_losses_large_and_thread_count_bitwise(kind, dtype):
    # Crosses FF_PARALLEL_MIN and spans many reduction blocks.
    n, k = (40000, 3) if kind != "ce" else (9000, 10)
    for weighted in (False, True):
        pred, target, w = _data(kind, n, k, dtype, seed=11, weighted=weighted)
        with fastfit.num_threads(1):
            l1, g1 = _ours(kind, pred, target, w)
        with fastfit.num_threads(2):
            l2, g2 = _ours(kind, pred, target, w)
        assert l1 == l2
        assert np.array_equal(g1, g2)
        _check(kind, pred, target, w, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_huber_delta_and_regions(dtype):
    rng = np.random.default_rng(3)
    pred = (3 * rng.standard_normal((33, 4))).astype(dtype)
    target = rng.standard_normal((33, 4)).astype(dtype)
    for delta in (0.1, 0.5, 1.0, 2.5, 100.0):
        _check("huber", pred, target, None, dtype, delta=delta)


@pytest.mark.parametrize("kind", ["mse", "huber", "bce"])
def test_one_dimensional_prediction_is_one_output_per_row(kind):
    pred, target, w = _data(kind, 17, 1, np.float64, weighted=True)
    loss, grad = _ours(kind, pred[:, 0], target[:, 0], w)
    loss2, grad2 = _ours(kind, pred, target, w)
    assert grad.shape == (17,)
    assert loss == loss2
    assert np.array_equal(grad, grad2[:, 0])


def test_unit_weights_equal_no_weights_and_weight_scale_invariance():
    pred, target, _ = _data("mse", 50, 3, np.float64)
    l0, g0 = F.mse_loss(pred, target)
    l1, g1 = F.mse_loss(pred, target, sample_weight=np.ones(50))
    l2, g2 = F.mse_loss(pred, target, sample_weight=np.full(50, 7.5))
    np.testing.assert_allclose([l1, l2], l0, rtol=1e-14)
    np.testing.assert_allclose(g1, g0, rtol=1e-14)
    np.testing.assert_allclose(g2, g0, rtol=1e-14)
    # A zero weight removes the row from the loss and zeroes its gradient.
    w = np.ones(50)
    w[10] = 0.0
    l3, g3 = F.mse_loss(pred, target, sample_weight=w)
    l4, _ = F.mse_loss(np.delete(pred, 10, 0), np.delete(target, 10, 0))
    np.testing.assert_allclose(l3, l4, rtol=1e-14)
    assert not g3[10].any()


# ---- finite differences (float64) ---------------------------------------------------

@pytest.mark.parametrize("kind", ELEMENTWISE + ["ce"])
def test_gradient_matches_finite_differences(kind):
    n, k = 7, 4
    pred, target, w = _data(kind, n, k, np.float64, seed=5, weighted=True)
    if kind == "huber":  # keep residuals away from the kink at |r| = delta
        r = pred - target
        r[np.abs(np.abs(r) - 1.0) < 0.05] += 0.2
        pred = target + r
    _, grad = _ours(kind, pred, target, w)
    h = 1e-6
    num = np.empty_like(pred)
    for idx in np.ndindex(pred.shape):
        p, m = pred.copy(), pred.copy()
        p[idx] += h
        m[idx] -= h
        num[idx] = (_ours(kind, p, target, w)[0] - _ours(kind, m, target, w)[0]) / (2 * h)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-9)


# ---- numerical stability ------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("big", [88.0, 1e4, 3e38])
def test_bce_extreme_logits_are_finite_and_correct(dtype, big):
    z = np.array([[big, -big], [big, -big], [-big, big], [0.0, 1.0]], dtype=dtype)
    t = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.25], [1.0, 0.0]], dtype=dtype)
    loss, grad = F.bce_with_logits(z, t)
    ref_loss, ref_grad = R.bce_logits_loss_ref(z, t)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("big", [88.0, 1e4, 3e38])
def test_softmax_ce_extreme_logits_are_finite_and_correct(dtype, big):
    z = np.array([[big, -big, 0.0], [-big, big, 0.0], [big, big, -big], [0.0, 1.0, 2.0]], dtype=dtype)
    y = np.array([0, 0, 1, 2])
    loss, grad = F.softmax_cross_entropy(z, y)
    ref_loss, ref_grad = R.softmax_cross_entropy_ref(z, y)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ELEMENTWISE + ["ce"])
def test_nonfinite_loss_raises_floating_point_error(kind):
    pred, target, _ = _data(kind, 5, 2, np.float32)
    pred[2, 1] = np.nan
    with pytest.raises(FloatingPointError, match="non-finite"):
        _ours(kind, pred, target, None)
    # The C status is FF_ENONFINITE with the (NaN) loss still written.
    loss = ffi.new("double *")
    fn = getattr(lib, f"ff_{ {'mse': 'mse_loss', 'huber': 'huber_loss', 'bce': 'bce_logits_loss', 'poisson': 'poisson_loss', 'ce': 'softmax_cross_entropy'}[kind]}_f32")
    target_arr = np.asarray(target, np.int64) if kind == "ce" else target
    args = (loss, ffi.NULL, ptr(pred), ptr(target_arr), ffi.NULL, 5, 2) + ((1.0,) if kind == "huber" else ())
    assert fn(*args) == lib.FF_ENONFINITE
    assert np.isnan(loss[0])


def test_mse_overflow_in_float32_is_reported():
    pred = np.array([3e38], dtype=np.float32)
    with pytest.raises(FloatingPointError):
        F.mse_loss(pred, -pred)


# ---- C-level contract ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_only_when_dpred_is_null(dtype):
    pred, target, w = _data("bce", 40, 3, dtype, weighted=True)
    loss = ffi.new("double *")
    fn = getattr(lib, f"ff_bce_logits_loss_{SUFFIX[dtype]}")
    assert fn(loss, ffi.NULL, ptr(pred), ptr(target), ptr(w), 40, 3) == lib.FF_OK
    assert loss[0] == F.bce_with_logits(pred, target, w)[0]
    labels = np.arange(40, dtype=np.int64) % 3
    fn = getattr(lib, f"ff_softmax_cross_entropy_{SUFFIX[dtype]}")
    assert fn(loss, ffi.NULL, ptr(pred), ptr(labels), ptr(w), 40, 3) == lib.FF_OK
    assert loss[0] == F.softmax_cross_entropy(pred, labels, w)[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, k", [(600, 10), (97, 100), (5, 4097), (3, 5000)])
def test_softmax_ce_sub_blocks_and_many_classes(n, k, dtype):
    # The kernel exponentiates sub-blocks of min(256, 4096 // k) rows at once; loss-only
    # calls with more than 4096 classes go a row at a time. Both agree with the
    # reference, and the loss-only call gives the loss of the call with a gradient.
    pred, labels, w = _data("ce", n, k, dtype, seed=k, weighted=True)
    _check("ce", pred, labels, w, dtype)
    loss = ffi.new("double *")
    fn = getattr(lib, f"ff_softmax_cross_entropy_{SUFFIX[dtype]}")
    assert fn(loss, ffi.NULL, ptr(pred), ptr(labels), ptr(w), n, k) == lib.FF_OK
    assert loss[0] == F.softmax_cross_entropy(pred, labels, w)[0]
    bad = labels.copy()
    bad[n // 2] = k   # one bad label in the middle of a sub-block
    assert fn(loss, ffi.NULL, ptr(pred), ptr(bad), ptr(w), n, k) == lib.FF_EBADARG


def test_c_rejects_bad_arguments():
    pred = np.zeros((4, 2))
    target = np.zeros((4, 2))
    grad = np.empty((4, 2))
    loss = ffi.new("double *")
    f = lib.ff_mse_loss_f64
    assert f(loss, ptr(grad), ptr(pred), ptr(target), ffi.NULL, -1, 2) == lib.FF_EBADARG
    assert f(loss, ptr(grad), ptr(pred), ptr(target), ffi.NULL, 4, 0) == lib.FF_EBADARG
    assert f(loss, ptr(grad), ptr(pred), ptr(target), ffi.NULL, 0, 2) == lib.FF_EBADARG
    assert f(ffi.NULL, ptr(grad), ptr(pred), ptr(target), ffi.NULL, 4, 2) == lib.FF_EBADARG
    assert f(loss, ptr(grad), ffi.NULL, ptr(target), ffi.NULL, 4, 2) == lib.FF_EBADARG
    assert f(loss, ptr(grad), ptr(pred), ffi.NULL, ffi.NULL, 4, 2) == lib.FF_EBADARG
    for w in (np.zeros(4), np.array([1.0, -1.0, 0.5, -0.5])):
        assert f(loss, ptr(grad), ptr(pred), ptr(target), ptr(w), 4, 2) == lib.FF_EBADARG
    for delta in (0.0, -1.0, float("nan"), float("inf")):
        assert lib.ff_huber_loss_f64(loss, ptr(grad), ptr(pred), ptr(target), ffi.NULL, 4, 2,
                                     delta) == lib.FF_EBADARG
    for bad in (-1, 2):
        labels = np.array([0, 1, bad, 0], dtype=np.int64)
        assert lib.ff_softmax_cross_entropy_f64(loss, ptr(grad), ptr(pred), ptr(labels), ffi.NULL,
                                                4, 2) == lib.FF_EBADARG


def test_wrappers_reject_bad_labels_and_weights():
    z = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="labels"):
        F.softmax_cross_entropy(z, [0, 4, 1])
    with pytest.raises(ValueError, match="labels"):
        F.softmax_cross_entropy(z, [0, -1, 1])
    with pytest.raises(ValueError, match="positive"):
        F.mse_loss(z, z, sample_weight=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(z, z, delta=0.0)


@pytest.mark.parametrize("kind", ELEMENTWISE)
def test_elementwise_wrappers_reject_bad_dtypes_and_shapes(kind):
    p32 = np.zeros((4, 2), np.float32)
    with pytest.raises(TypeError):
        _ours(kind, p32.astype(np.int32), p32, None)
    with pytest.raises(TypeError):
        _ours(kind, p32, p32.astype(np.float64), None)
    with pytest.raises(TypeError):
        _ours(kind, p32, p32, np.ones(4, np.float64))
    with pytest.raises(ValueError):
        _ours(kind, p32, np.zeros((4, 3), np.float32), None)
    with pytest.raises(ValueError):
        _ours(kind, np.zeros((2, 2, 2), np.float32), np.zeros((2, 2, 2), np.float32), None)
    with pytest.raises(ValueError):
        _ours(kind, p32, p32, np.ones(3, np.float32))
    with pytest.raises(ValueError):
        _ours(kind, np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32), None)


def test_softmax_wrapper_rejects_bad_dtypes_and_shapes():
    z = np.zeros((4, 3), np.float64)
    with pytest.raises(TypeError):
        F.softmax_cross_entropy(z, np.zeros(4, np.float64))  # float labels
    with pytest.raises(TypeError):
        F.softmax_cross_entropy(z.astype(np.int64), np.zeros(4, np.int64))
    with pytest.raises(TypeError):
        F.softmax_cross_entropy(z, np.zeros(4, np.int64), np.ones(4, np.float32))
    with pytest.raises(ValueError):
        F.softmax_cross_entropy(z[0], np.zeros(1, np.int64))
    with pytest.raises(ValueError):
        F.softmax_cross_entropy(z, np.zeros(5, np.int64))
    with pytest.raises(ValueError):
        F.softmax_cross_entropy(z, np.zeros((4, 1), np.int64))
    # Any integer dtype is accepted and non-contiguous input is fine.
    zz = np.random.default_rng(0).standard_normal((4, 6))[:, ::2]
    l1, _ = F.softmax_cross_entropy(zz, np.array([0, 1, 2, 1], np.int8))
    l2, _ = F.softmax_cross_entropy(np.ascontiguousarray(zz), np.array([0, 1, 2, 1]))
    assert l1 == l2


# ---- PyTorch parity (autograd) ------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_overflow_negative_targets_and_zero_counts(dtype):
    # exp(z) past the dtype's range: a non-finite loss, not a finite loss with an inf gradient
    big = 89.0 if dtype == np.float32 else 710.0
    z = np.array([[0.5], [big]], dtype)
    t = np.array([[1.0], [2.0]], dtype)
    with pytest.raises(FloatingPointError, match="non-finite"):
        F.poisson_loss(z, t)
    with pytest.raises(ValueError, match=">= 0"):
        F.poisson_loss(z[:1], -t[:1])
    # the C kernel itself: a negative target is a NaN loss, never a crash
    loss = ffi.new("double *")
    neg = np.array([[-1.0]], dtype)
    fn = getattr(lib, f"ff_poisson_loss_{SUFFIX[dtype]}")
    assert fn(loss, ffi.NULL, ptr(z[:1]), ptr(neg), ffi.NULL, 1, 1) == lib.FF_ENONFINITE
    # zero counts: l = exp(z), the t*log(t) term is 0
    zz = np.array([[-3.0, 0.0, 2.0]], dtype)
    loss, grad = F.poisson_loss(zz, np.zeros_like(zz))
    np.testing.assert_allclose(loss, np.exp(zz.astype(np.float64)).mean(), rtol=1e-6)
    np.testing.assert_allclose(grad, np.exp(zz) / 3, rtol=1e-6)


def test_poisson_matches_scikit_learn_half_deviance():
    from sklearn.metrics import mean_poisson_deviance

    pred, target, w = _data("poisson", 41, 1, np.float64, seed=4, weighted=True)
    loss, _ = F.poisson_loss(pred[:, 0], target[:, 0], sample_weight=w)
    mu = np.exp(pred[:, 0])
    np.testing.assert_allclose(loss, 0.5 * mean_poisson_deviance(target[:, 0], mu, sample_weight=w),
                               rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["mse", "huber", "bce", "ce"])
@pytest.mark.parametrize("weighted", [False, True])
def test_torch_parity(kind, dtype, weighted):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF
    n, k = 37, 5
    pred, target, w = _data(kind, n, k, dtype, seed=2, weighted=weighted)
    loss, grad = _ours(kind, pred, target, w, delta=0.7)
    z = torch.tensor(pred, requires_grad=True)
    tt = torch.tensor(target)
    if kind == "ce":
        if weighted:
            # Per-sample weights: the weighted mean of the unreduced losses.
            tw = torch.tensor(w)
            tl = (TF.cross_entropy(z, tt, reduction="none") * tw).sum() / tw.sum()
        else:
            tl = TF.cross_entropy(z, tt)
    else:
        fn = {"mse": lambda a, b, **kw: TF.mse_loss(a, b, **kw),
              "huber": lambda a, b, **kw: TF.huber_loss(a, b, delta=0.7, **kw),
              "bce": lambda a, b, **kw: TF.binary_cross_entropy_with_logits(a, b, **kw)}[kind]
        if weighted:
            tw = torch.tensor(w)
            tl = (fn(z, tt, reduction="none").mean(dim=1) * tw).sum() / tw.sum()
        else:
            tl = fn(z, tt)
    tl.backward()
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss, tl.item(), rtol=tol)
    gscale = np.abs(grad).max()
    np.testing.assert_allclose(grad / gscale, z.grad.numpy() / gscale, rtol=tol, atol=tol)


def test_torch_bce_with_per_element_weight_argument():
    # torch's `weight` argument broadcast over rows is our per-row weight when K == 1.
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF
    pred, target, w = _data("bce", 29, 1, np.float64, weighted=True)
    loss, grad = F.bce_with_logits(pred[:, 0], target[:, 0], w)
    z = torch.tensor(pred[:, 0], requires_grad=True)
    tw = torch.tensor(w)
    tl = TF.binary_cross_entropy_with_logits(z, torch.tensor(target[:, 0]), weight=tw,
                                             reduction="sum") / tw.sum()
    tl.backward()
    np.testing.assert_allclose(loss, tl.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_vectorised_exp_log1p_accuracy_sweep(dtype):
    # BCE's exp/log1p are our own polynomials (csrc/ff_vmath.inc): check the gradient
    # sigmoid(z) and the per-element loss softplus(z) elementwise over the whole range,
    # including the flush-to-zero end, against float64 libm.
    z = np.concatenate([np.linspace(-110, 110, 40001), [-1e-30, 0.0, 1e-30, -87.3, -87.4, 88.0]])
    z = z.astype(dtype)
    t = np.zeros_like(z)
    n = len(z)
    _, grad = F.bce_with_logits(z[:, None], t[:, None])
    ref_grad = R.sigmoid_ref(z.astype(np.float64)) / n
    ulp = {np.float32: 2.0**-23, np.float64: 2.0**-52}[dtype]
    tiny = np.finfo(dtype).tiny / n  # below this the kernel flushes exp to zero
    np.testing.assert_allclose(grad[:, 0], ref_grad, rtol=8 * ulp, atol=tiny)
    # per-element losses: one row at a time through the loss-only path
    for zi in z[::997]:
        loss, _ = F.bce_with_logits(np.array([[zi]], dtype), np.zeros((1, 1), dtype))
        ref = np.logaddexp(0.0, float(zi))
        assert loss == pytest.approx(ref, rel=8 * ulp, abs=float(np.finfo(dtype).tiny))
