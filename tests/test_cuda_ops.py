"""fastfit.cuda.ops against the C kernels (fastfit.ops) and the float64 references, on
Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1): every twin, both dtypes, sizes small
enough for the simulator (about a thousand threads, a few dozen barriers per call) but
past one block so the grid-stride loops and the multi-block reductions run.

The simulator is chosen when numba is first imported. This module sets the variable
just for that import and restores it, so it does not leak into other tests; if numba
was already imported for real hardware, the module skips (run it on its own).
"""


import numpy as np
import pytest
from cudasim import import_simulated_cuda

fc, cuda = import_simulated_cuda(__file__)

from fastfit import ops  # noqa: E402
import reference as ref  # noqa: E402

G = fc.ops
DTYPES = [np.float32, np.float64]
ACTS = ["identity", "relu", "leaky_relu", "tanh", "sigmoid", "gelu"]
pytestmark = [pytest.mark.skipif(not fc.SIMULATOR, reason="needs the CUDA simulator"),
              # the simulator runs kernels as Python: inf * 0 warns where a GPU stays silent
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def rtol(dtype):
    return 2e-6 if dtype == np.float32 else 1e-12


def close(a, b, dtype, scale=1.0):
    np.testing.assert_allclose(a, b, rtol=rtol(dtype) * scale, atol=rtol(dtype) * scale)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---- activations, softmax ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_activation_forward_backward(act, dtype, rng):
    x = (rng.standard_normal(1100) * 3).astype(dtype)  # > 4 blocks of 256: the stride runs
    x[:3] = [0, np.inf, -np.inf]
    y = G.activation_forward(x, act)
    assert y.dtype == dtype and isinstance(y, np.ndarray)
    close(y, ops.activation_forward(x, act), dtype, 4)
    close(y, ref.activation_ref(x.astype(np.float64), act), dtype, 8)
    dy = rng.standard_normal(x.size).astype(dtype)
    dx = G.activation_backward(dy, act, x=x, y=y)
    close(dx, ops.activation_backward(dy, act, x=x, y=ops.activation_forward(x, act)), dtype, 8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_leaky_negative_slope_reads_x(dtype, rng):
    x = rng.standard_normal(37).astype(dtype)
    y = ops.activation_forward(x, "leaky_relu", negative_slope=-0.5)
    dy = np.ones_like(x)
    close(G.activation_backward(dy, "leaky_relu", x=x, negative_slope=-0.5),
          ops.activation_backward(dy, "leaky_relu", x=x, y=y, negative_slope=-0.5), dtype)
    with pytest.raises(ValueError, match="needs x"):
        G.activation_backward(dy, "leaky_relu", y=y, negative_slope=-0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax(dtype, rng):
    x = (rng.standard_normal((37, 11)) * 5).astype(dtype)
    close(G.softmax(x), ops.softmax(x), dtype, 4)
    close(G.softmax(x), ref.softmax_ref(x.astype(np.float64)), dtype, 4)


# ---- batch norm, sum_rows ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,c", [(1, 5), (2, 3), (37, 45), (300, 7)])
def test_batchnorm_forward_backward(n, c, dtype, rng):
    x = (rng.standard_normal((n, c)) * 2 + 100).astype(dtype)  # a large mean: the shift matters
    gamma = rng.standard_normal(c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    rm_c, rv_c = np.full(c, 0.5, dtype), np.full(c, 2.0, dtype)
    rm_g, rv_g = rm_c.copy(), rv_c.copy()
    y_c, m_c, r_c = ops.batchnorm_forward(x, gamma, beta, 1e-5, rm_c, rv_c, 0.1)
    y_g, m_g, r_g = G.batchnorm_forward(x, gamma, beta, 1e-5, rm_g, rv_g, 0.1)
    close(y_g, y_c, dtype, 50)
    close(m_g, m_c, dtype)
    close(r_g, r_c, dtype, 50)
    close(rm_g, rm_c, dtype)  # in place on the host arrays, as the CPU wrapper
    close(rv_g, rv_c, dtype, 50)
    if n == 1:  # one row: running stats untouched, y = beta
        assert np.array_equal(rm_g, np.full(c, 0.5, dtype)) and np.array_equal(y_g[0], beta)
    else:
        y_r = ref.batchnorm_forward_ref(x.astype(np.float64), gamma, beta, 1e-5)[0]
        close(y_g, y_r, dtype, 100)
    dy = rng.standard_normal((n, c)).astype(dtype)
    dx_c, dg_c, db_c = ops.batchnorm_backward(dy, x, gamma, m_c, r_c)
    dx_g, dg_g, db_g = G.batchnorm_backward(dy, x, gamma, m_c, r_c)
    close(dx_g, dx_c, dtype, 200)
    close(dg_g, dg_c, dtype, 50)
    close(db_g, db_c, dtype, 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_inference_and_sum_rows(dtype, rng):
    x = rng.standard_normal((37, 40)).astype(dtype)
    g, b = rng.standard_normal(40).astype(dtype), rng.standard_normal(40).astype(dtype)
    rm, rv = rng.standard_normal(40).astype(dtype), rng.uniform(0.5, 2, 40).astype(dtype)
    close(G.batchnorm_inference(x, g, b, rm, rv), ops.batchnorm_inference(x, g, b, rm, rv), dtype, 4)
    dy = rng.standard_normal((300, 9)).astype(dtype)
    close(G.sum_rows(dy), ops.sum_rows(dy), dtype, 10)


def test_batchnorm_rejects_like_cpu():
    x = np.ones((4, 3), np.float32)
    with pytest.raises(TypeError, match="gamma"):
        G.batchnorm_forward(x, np.ones(3), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="beta"):
        G.batchnorm_forward(x, np.ones(3, np.float32), np.ones(4, np.float32))
    with pytest.raises(ValueError, match="batchnorm_forward"):
        G.batchnorm_forward(x, np.ones(3, np.float32), np.ones(3, np.float32), momentum=2.0)


# ---- dropout, residual ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [0, 3, 2**40 + 5])
def test_dropout_same_mask_as_c(offset, dtype, rng):
    x = rng.standard_normal((33, 31)).astype(dtype)
    y_g, m_g = G.dropout_forward(x, 0.3, seed=12345, offset=offset)
    y_c, m_c = ops.dropout_forward(x, 0.3, seed=12345, offset=offset)
    np.testing.assert_array_equal(m_g, m_c)
    close(y_g, y_c, dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    close(G.dropout_backward(dy, m_g, 0.3), ops.dropout_backward(dy, m_c, 0.3), dtype)
    with pytest.raises(ValueError, match="p must be"):
        G.dropout_forward(x, 1.0, seed=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_residual(dtype, rng):
    x, fx = rng.standard_normal((2, 50)).astype(dtype)
    close(G.residual_forward(x, fx), x + fx, dtype)
    dx = x.copy()
    out = G.residual_backward(dx, fx)
    assert out is dx
    close(dx, x + fx, dtype)


# ---- losses -----------------------------------------------------------------------------------

LOSSES = [("mse_loss", ref.mse_loss_ref), ("huber_loss", ref.huber_loss_ref),
          ("bce_with_logits", ref.bce_logits_loss_ref), ("poisson_loss", ref.poisson_loss_ref)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,reference", LOSSES)
@pytest.mark.parametrize("shape", [(7,), (41, 3), (1500, 3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_elementwise_losses(name, reference, shape, weighted, dtype, rng):
    pred = (rng.standard_normal(shape) * 2).astype(dtype)
    target = rng.uniform(0, 1, shape).astype(dtype)
    if name == "poisson_loss":   # counts, zeros included
        target = rng.poisson(1.5, shape).astype(dtype)
    w = rng.uniform(0.1, 2, shape[0]).astype(dtype) if weighted else None
    loss_g, d_g = getattr(G, name)(pred, target, sample_weight=w)
    loss_c, d_c = getattr(ops, name)(pred, target, sample_weight=w)
    assert isinstance(loss_g, float)
    np.testing.assert_allclose(loss_g, loss_c, rtol=1e-12 if dtype == np.float64 else 1e-6)
    close(d_g, d_c, dtype, 4)
    as2d = (lambda a: a.reshape(a.shape[0], -1).astype(np.float64))
    loss_r, _ = reference(as2d(pred), as2d(target), weight=None if w is None else w.astype(np.float64))
    np.testing.assert_allclose(loss_g, loss_r, rtol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_cross_entropy(weighted, dtype, rng):
    logits = (rng.standard_normal((301, 5)) * 3).astype(dtype)
    y = rng.integers(0, 5, 301)
    w = rng.uniform(0.1, 2, 301).astype(dtype) if weighted else None
    loss_g, d_g = G.softmax_cross_entropy(logits, y, w)
    loss_c, d_c = ops.softmax_cross_entropy(logits, y, w)
    np.testing.assert_allclose(loss_g, loss_c, rtol=1e-12 if dtype == np.float64 else 1e-6)
    close(d_g, d_c, dtype, 4)


def test_loss_errors_like_cpu():
    p = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="sum to a positive"):
        G.mse_loss(p, p, sample_weight=np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="labels y must lie"):
        G.softmax_cross_entropy(p, np.array([0, 1, 2, 0]))
    with pytest.raises(FloatingPointError):
        G.mse_loss(np.array([np.inf], np.float32), np.zeros(1, np.float32))
    with pytest.raises(ValueError, match="delta"):
        G.huber_loss(p, p, delta=0.0)
    with pytest.raises(TypeError, match="target"):
        G.mse_loss(p, p.astype(np.float64))


# ---- optimizers -------------------------------------------------------------------------------

P = 1100


def _bufs(dtype, rng, k):
    return [rng.standard_normal(P).astype(dtype) for _ in range(k)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,nesterov,wd", [(0.0, False, 0.0), (0.9, False, 0.01), (0.9, True, 0.0)])
def test_sgd(momentum, nesterov, wd, dtype, rng):
    p, g, vel = _bufs(dtype, rng, 3)
    pc, vc = p.copy(), vel.copy()
    for _ in range(2):
        G.sgd_update(p, g, vel if momentum else None, lr=0.1, momentum=momentum, weight_decay=wd,
                     nesterov=nesterov)
        ops.sgd_update(pc, g, vc if momentum else None, lr=0.1, momentum=momentum, weight_decay=wd,
                       nesterov=nesterov)
    close(p, pc, dtype)
    close(vel, vc, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,wd", [(0.0, 0.0), (0.5, 0.01)])
def test_rmsprop(momentum, wd, dtype, rng):
    p, g = _bufs(dtype, rng, 2)
    sq, buf = np.zeros(P, dtype), np.zeros(P, dtype)
    pc, sqc, bufc = p.copy(), sq.copy(), buf.copy()
    for _ in range(2):
        G.rmsprop_update(p, g, sq, buf if momentum else None, lr=0.01, weight_decay=wd, momentum=momentum)
        ops.rmsprop_update(pc, g, sqc, bufc if momentum else None, lr=0.01, weight_decay=wd,
                           momentum=momentum)
    close(p, pc, dtype, 4)
    close(sq, sqc, dtype, 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wd,decoupled", [(0.0, False), (0.01, False), (0.01, True)])
def test_adam(wd, decoupled, dtype, rng):
    p, g = _bufs(dtype, rng, 2)
    m, v = np.zeros(P, dtype), np.zeros(P, dtype)
    pc, mc, vc = p.copy(), m.copy(), v.copy()
    pr, mr, vr = (a.astype(np.float64) for a in (p, m, v))
    for step in (1, 2, 3):
        G.adam_update(p, g, m, v, step, 1e-2, weight_decay=wd, decoupled=decoupled)
        ops.adam_update(pc, g, mc, vc, step, 1e-2, weight_decay=wd, decoupled=decoupled)
        pr, mr, vr = ref.adam_update(pr, g, mr, vr, step, 1e-2, weight_decay=wd, decoupled=decoupled)
    close(p, pc, dtype, 4)
    close(m, mc, dtype)
    close(v, vc, dtype)
    close(p, pr, dtype, 50)


@pytest.mark.parametrize("dtype", DTYPES)
def test_l1_norm_clip(dtype, rng):
    p = rng.standard_normal(P).astype(dtype)
    p[:2] = [0.0, -0.0]
    pc = p.copy()
    G.l1_update(p, 0.3)
    ops.l1_update(pc, 0.3)
    np.testing.assert_array_equal(p, pc)
    g = rng.standard_normal(5000).astype(dtype)  # two reduction chunks
    np.testing.assert_allclose(G.grad_norm(g), ops.grad_norm(g), rtol=1e-14)
    gg, gc = g.copy(), g.copy()
    assert G.clip_grad_norm(gg, 1.0) == pytest.approx(ops.clip_grad_norm(gc, 1.0), rel=1e-14)
    close(gg, gc, dtype)
    bad = g.copy()
    bad[7] = np.nan
    with pytest.raises(FloatingPointError):
        G.clip_grad_norm(bad, 1.0)
    assert np.isnan(bad[7]) and np.array_equal(bad[:7], g[:7])  # left unchanged


def test_optimizer_checks_like_cpu():
    p = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="share memory"):
        G.adam_update(p, p, np.zeros(4, np.float32), np.zeros(4, np.float32), 1, 0.1)
    with pytest.raises(ValueError, match="step"):
        G.adam_update(p, p.copy(), np.zeros(4, np.float32), np.zeros(4, np.float32), 0, 0.1)
    with pytest.raises(TypeError, match="grad"):
        G.sgd_update(p, np.zeros(4), lr=0.1)
    with pytest.raises(ValueError, match="velocity is required"):
        G.sgd_update(p, p.copy(), lr=0.1, momentum=0.9)


# ---- data ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_gather(dtype, rng):
    x = rng.standard_normal((50, 7)).astype(dtype) if dtype != np.int64 else rng.integers(0, 9, 50)
    idx = rng.integers(0, 50, 33)
    np.testing.assert_array_equal(G.gather_rows(x, idx), ops.gather_rows(x, idx))
    with pytest.raises(ValueError, match="outside"):
        G.gather_rows(x, np.array([0, 50]))


@pytest.mark.parametrize("n,seed,stream", [(1, 1, 0), (2, 7, 0), (517, 3, 5), (1000, 2**63 + 11, 2**40)])
def test_shuffle_same_permutation_as_c(n, seed, stream):
    np.testing.assert_array_equal(G.shuffle(n, seed, stream), ops.shuffle(n, seed, stream))


def test_shuffle_partner_64bit_path():
    """Positions past 2^32 draw 64-bit words (a 128-bit product): check the partner
    function against the pure-Python reference on a few such positions."""
    from fastfit.cuda._k_data import shuffle_partner

    @cuda.jit
    def partners(out, pos, seed, stream):
        i = cuda.grid(1)
        if i < pos.size:
            out[i] = shuffle_partner(seed, stream, pos[i])

    pos = np.array([2**32 - 1, 2**32, 2**33 + 5, 2**47 + 3], np.uint64)
    out = np.zeros(pos.size, np.int64)
    partners[1, 32](out, pos, np.uint64(99), np.uint64(4))
    expected = []
    for i in pos:
        i = int(i)
        r = i + 1
        blk = [int(v) for v in ref.philox_block_ref(99, i, 4)]
        if r <= 0xFFFFFFFF:
            expected.append((blk[0] * r) >> 32)  # first word accepted: rejection is ~r/2^32 rare
        else:
            expected.append(((blk[0] | (blk[1] << 32)) * r) >> 64)
    np.testing.assert_array_equal(out, np.array(expected, np.int64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scheme", ["he_normal", "he_uniform", "glorot_normal", "glorot_uniform"])
def test_init_same_draws_as_c(scheme, dtype):
    w_g = G.init_weights((33, 31), scheme, seed=5, dtype=dtype, offset=7)
    w_c = ops.init_weights((33, 31), scheme, seed=5, dtype=dtype, offset=7)
    close(w_g, w_c, dtype)


def test_philox_and_count_nonfinite():
    np.testing.assert_array_equal(G.philox_u32(1030, 42, 3), ops.philox_u32(1030, 42, 3))
    x = np.zeros(1100, np.float32)
    x[[3, 700, 1099]] = [np.nan, np.inf, -np.inf]
    assert G.count_nonfinite(x) == 3 and not G.is_finite(x) and G.is_finite(np.ones(3))


# ---- matrix products ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
def test_gemm_epilogue(ta, tb, dtype, rng):
    m, n, k = 13, 11, 19  # two tiles each way (8 x 8 under the simulator), three along k
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    kw = dict(bias=bias, alpha=0.5, beta=2.0, trans_a=ta, trans_b=tb, activation="gelu")
    cg, cc = c.copy(), c.copy()
    assert G.gemm(a, b, cg, **kw) is cg
    ops.gemm(a, b, cc, **kw)
    close(cg, cc, dtype, 50)
    close(G.matmul(a.T if ta else a, b.T if tb else b),
          (a.T if ta else a).astype(np.float64) @ (b.T if tb else b), dtype, 50)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear(dtype, rng):
    x = rng.standard_normal((11, 9)).astype(dtype)
    w = rng.standard_normal((9, 5)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    close(G.linear_forward(x, w, b), ops.linear_forward(x, w, b), dtype, 50)
    close(G.linear_decision(x, w.T.copy(), b), ops.linear_decision(x, w.T, b), dtype, 50)
    dy = rng.standard_normal((11, 5)).astype(dtype)
    for got, want in zip(G.linear_backward(dy, x, w), ops.linear_backward(dy, x, w), strict=True):
        close(got, want, dtype, 50)
    dx, dw, db = G.linear_backward(dy, x, w, need_dx=False)
    assert dx is None
    with pytest.raises(ValueError, match="w must have shape"):
        G.linear_forward(x, w.T)


# ---- device arrays in, device arrays out ------------------------------------------------------------

def test_device_in_device_out(rng):
    x = rng.standard_normal((12, 5)).astype(np.float32)
    dx = cuda.to_device(x)
    y = G.activation_forward(dx, "tanh")
    assert not isinstance(y, np.ndarray) and getattr(y, "__cuda_ndarray__", False)
    close(y.copy_to_host(), ops.activation_forward(x, "tanh"), np.float32)
    p, g = rng.standard_normal((2, 40)).astype(np.float32)
    dp, dm, dv = cuda.to_device(p), cuda.to_device(np.zeros(40, np.float32)), cuda.to_device(np.zeros(40, np.float32))
    G.adam_update(dp, cuda.to_device(g), dm, dv, 1, 0.1)  # in place on the device
    pc = p.copy()
    ops.adam_update(pc, g, np.zeros(40, np.float32), np.zeros(40, np.float32), 1, 0.1)
    close(dp.copy_to_host(), pc, np.float32)
    loss, dpred = G.mse_loss(dx, cuda.to_device(np.zeros_like(x)))
    assert isinstance(loss, float) and getattr(dpred, "__cuda_ndarray__", False)


def test_kernel_level_status_codes():
    K = fc.kernels
    a = cuda.to_device(np.zeros(4, np.float32))
    assert K.ff_activation_forward(a, a, -1, 1, 0.0) == K.FF_EBADARG
    assert K.ff_activation_forward(a, a, 4, 9, 0.0) == K.FF_EBADARG
    assert K.ff_adam_update(a, a, a, a, 4, 0, 0.1, 0.9, 0.999, 1e-8, 0.0, False) == K.FF_EBADARG
    assert K.ff_batchnorm_forward(a, a, a, None, None, a, a, a, 2, 2, -1.0, 0.1) == K.FF_EBADARG
    assert K.ff_residual_forward(a, a, a, 0) == K.FF_OK
