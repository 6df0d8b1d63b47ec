"""fastfit.nn models run by the engine: whole-model gradients by finite differences for
every layer type and loss, the evaluation forward against a NumPy float64 forward,
batch normalisation's batch-of-one handling and running statistics, and pickling.

Gradients come from ``Trainer.train_step(X, y, update=False)`` (one C call: forward in
training mode, loss, backward) and are compared with central differences of the loss
that the same call returns, in float64. Dropout's mask is a function of the step
counter, which ``update=False`` leaves alone, so the loss is a deterministic function
of the parameters and dropout models are checked the same way.
"""

import pickle

import numpy as np
import pytest

import reference as ref
from fastfit import Trainer, losses, nn, optim

F64 = "float64"


def _randomize(model, seed=0, scale=0.5):
    """Every parameter (biases, batch-norm scales and shifts included) away from its
    initial value, so no gradient term is hidden by a zero or a one."""
    rng = np.random.default_rng(seed)
    model.params[:] = rng.normal(0.0, scale, model.params.size)
    return model


def _class_weights_balanced(classes):
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(classes)
    per_class = dict(zip(present, compute_class_weight("balanced", classes=present, y=classes),
                         strict=True))
    return np.array([per_class[c] for c in classes])


def _loss_ref(loss, out, y, sample_weight=None):
    """The loss value of outputs ``out`` in float64, weights as the engine forms them."""
    w = None if sample_weight is None else np.asarray(sample_weight, np.float64)
    loss = losses.get(loss)
    if isinstance(loss, losses.CrossEntropy):
        labels = np.asarray(y, np.int64)
        if loss.class_weight == "balanced":
            cw = _class_weights_balanced(labels)
            w = cw if w is None else w * cw
        elif isinstance(loss.class_weight, dict):
            cw = np.array([loss.class_weight.get(c, 1.0) for c in labels])
            w = cw if w is None else w * cw
        return ref.softmax_cross_entropy_ref(out, labels, w)[0]
    y2 = np.asarray(y, np.float64).reshape(out.shape[0], -1)
    if isinstance(loss, losses.BinaryCrossEntropy):
        if loss.class_weight == "balanced":
            cw = _class_weights_balanced((y2[:, 0] > 0.5).astype(np.int64))
            w = cw if w is None else w * cw
        return ref.bce_logits_loss_ref(out, y2, w)[0]
    if isinstance(loss, losses.Huber):
        return ref.huber_loss_ref(out, y2, loss.delta, w)[0]
    return ref.mse_loss_ref(out, y2, w)[0]


def _has_dropout(layers):
    for layer in layers:
        if isinstance(layer, nn.Dropout) and layer.p > 0:
            return True
        if isinstance(layer, nn.Residual) and _has_dropout(layer.layers):
            return True
    return False


def _fd_check(model, loss, X, y, sample_weight=None, h=1e-6, rtol=1e-6, atol=1e-9):
    """Analytic gradients of train_step(update=False) against central differences; also
    the loss against the NumPy training-mode forward when the model has no dropout."""
    t = Trainer(model, loss=loss, optimizer=optim.SGD(0.1), batch_size=X.shape[0],
                shuffle=False, random_state=0)
    p = model.params
    before = p.copy()
    f0 = t.train_step(X, y, sample_weight, update=False)
    g = t.grads.copy()
    assert np.array_equal(p, before), "update=False changed the parameters"
    assert t.step_ == 0
    assert np.all(np.isfinite(g)) and np.any(g != 0)
    if not _has_dropout(model.layers):
        out = ref.model_forward_ref(model.layers, X, training=True)
        assert f0 == pytest.approx(_loss_ref(t.loss, out, y, sample_weight), rel=1e-12, abs=1e-14)
    num = np.empty_like(g)
    for i in range(p.size):
        old = p[i]
        p[i] = old + h
        fp = t.train_step(X, y, sample_weight, update=False)
        p[i] = old - h
        fm = t.train_step(X, y, sample_weight, update=False)
        p[i] = old
        num[i] = (fp - fm) / (2 * h)
    assert t.train_step(X, y, sample_weight, update=False) == f0, "the loss is not deterministic"
    assert t.step_ == 0
    names = {}
    for q in model.plan.params:
        names.update({j: f"{type(q.owner).__name__}.{q.name}"
                      for j in range(q.offset, q.offset + q.size)})
    bad = ~np.isclose(g, num, rtol=rtol, atol=atol)
    assert not bad.any(), (
        f"{bad.sum()} of {g.size} gradients differ, first in "
        f"{sorted({names[j] for j in np.flatnonzero(bad)})}: analytic {g[bad][:5]} vs "
        f"numeric {num[bad][:5]}")
    return g


# ---- every layer type ------------------------------------------------------------------

def _layer_models():
    """(id, layer-list factory, n_features, n_outputs)."""
    L, A = nn.Linear, nn
    cases = {
        "linear_bias": (lambda: [L(4, 3)], 4),
        "linear_nobias": (lambda: [L(4, 5, bias=False), A.Tanh(), L(5, 3, bias=False)], 4),
        "batchnorm": (lambda: [L(4, 5), A.BatchNorm(5), L(5, 3)], 4),
        "batchnorm_first": (lambda: [A.BatchNorm(4), L(4, 3)], 4),
        "batchnorm_last": (lambda: [L(4, 3), A.BatchNorm(3, eps=1e-3)], 4),
        "dropout": (lambda: [L(4, 6), A.Dropout(0.3), L(6, 3)], 4),
        "dropout_first": (lambda: [A.Dropout(0.25), L(4, 3)], 4),
        "residual_identity": (lambda: [L(4, 5), A.Residual(L(5, 5), A.Tanh()), L(5, 3)], 4),
        "residual_projection": (lambda: [L(4, 5), A.Residual(L(5, 6), A.Tanh()), L(6, 3)], 4),
        "residual_projection_shrinks": (lambda: [L(4, 6), A.Residual(L(6, 3), A.GELU())], 4),
        "residual_nested": (lambda: [L(4, 5), A.Residual(L(5, 5), A.Residual(A.Tanh(), L(5, 5)),
                                                         A.Sigmoid()), L(5, 3)], 4),
        "residual_nested_projection": (lambda: [L(4, 5), A.Residual(A.Residual(L(5, 6)), A.Tanh(),
                                                                    L(6, 4)), L(4, 3)], 4),
        "residual_first": (lambda: [A.Residual(L(4, 4), A.Tanh()), L(4, 3)], 4),
        "residual_first_projection": (lambda: [A.Residual(L(4, 6), A.Tanh()), L(6, 3)], 4),
        "residual_first_activation_first": (lambda: [A.Residual(A.Tanh(), L(4, 4)), L(4, 3)], 4),
        "residual_last": (lambda: [L(4, 3), A.Residual(L(3, 3), A.Tanh())], 4),
        "residual_only": (lambda: [A.Residual(L(4, 3), A.Tanh())], 4),
        "residual_activation_only": (lambda: [L(4, 3), A.Residual(A.Tanh())], 4),
        "residual_branch_starts_with_activation": (
            lambda: [L(4, 5), A.Residual(A.Tanh(), L(5, 5)), L(5, 3)], 4),
        "residual_twice": (lambda: [L(4, 5), A.Residual(L(5, 5)), A.Residual(L(5, 5), A.Tanh()),
                                    L(5, 3)], 4),
        "residual_bn_dropout": (lambda: [L(4, 5), A.Residual(L(5, 5), A.BatchNorm(5), A.ReLU(),
                                                             A.Dropout(0.2)), L(5, 3)], 4),
        "mlp_everything": (lambda: [L(4, 7), A.BatchNorm(7), A.GELU(), A.Dropout(0.1),
                                    A.Residual(L(7, 7), A.BatchNorm(7), A.LeakyReLU(0.1)),
                                    A.Residual(L(7, 5), A.Sigmoid()), L(5, 3)], 4),
    }
    for act in (A.ReLU, A.LeakyReLU, A.Tanh, A.Sigmoid, A.GELU, A.Identity):
        cases[f"activation_{act.__name__}"] = (lambda act=act: [L(4, 6), act(), L(6, 3)], 4)
    cases["activation_LeakyReLU_slope"] = (lambda: [L(4, 6), A.LeakyReLU(0.3), L(6, 3)], 4)
    return cases


LAYER_CASES = _layer_models()


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_layer_gradients_fd(case):
    make, n_features = LAYER_CASES[case]
    model = _randomize(nn.Sequential(*make(), dtype=F64, n_features=n_features, random_state=0),
                       seed=len(case))
    rng = np.random.default_rng(1)
    X = rng.standard_normal((7, n_features))
    y = rng.standard_normal((7, model.n_outputs))
    _fd_check(model, "mse", X, y)


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_layer_gradients_float32_follow_float64(case):
    """The float32 engine (its own kernels' paths) gives the float64 gradients and loss
    to float32 accuracy for the same parameters, dropout masks included."""
    make, n_features = LAYER_CASES[case]
    m64 = _randomize(nn.Sequential(*make(), dtype=F64, n_features=n_features), seed=len(case))
    m32 = nn.Sequential(*make(), dtype=np.float32, n_features=n_features)
    m32.params[:] = m64.params
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((7, n_features)), rng.standard_normal((7, m64.n_outputs))
    res = []
    for m in (m64, m32):
        t = Trainer(m, loss="mse", optimizer="sgd", batch_size=7, random_state=0)
        res.append((t.train_step(X, y, update=False), t.grads.astype(np.float64)))
    assert res[1][0] == pytest.approx(res[0][0], rel=1e-5)
    scale = np.abs(res[0][1]).max()
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-3, atol=1e-5 * scale)


def test_dropout_is_applied_in_gradients():
    """The dropout case above really drops: p=0.5 changes the loss and gradients of the
    same parameters, and only through the mask (p=0 equals no dropout layer)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((9, 4)), rng.standard_normal((9, 2))
    res = {}
    for p in (0.0, 0.5):
        model = nn.Sequential(nn.Linear(4, 6), nn.Dropout(p), nn.Linear(6, 2), dtype=F64,
                              random_state=3)
        t = Trainer(model, loss="mse", optimizer="sgd", batch_size=9)
        res[p] = (t.train_step(X, y, update=False), t.grads.copy())
    plain = nn.Sequential(nn.Linear(4, 6), nn.Linear(6, 2), dtype=F64, random_state=3)
    t = Trainer(plain, loss="mse", optimizer="sgd", batch_size=9)
    assert t.train_step(X, y, update=False) == res[0.0][0]
    np.testing.assert_array_equal(t.grads, res[0.0][1])
    assert res[0.5][0] != res[0.0][0]
    assert not np.allclose(res[0.5][1], res[0.0][1])


# ---- every loss --------------------------------------------------------------------------

def _mlp(n_out, seed=0):
    return _randomize(nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, n_out), dtype=F64,
                                    random_state=seed), seed=seed, scale=0.8)


def _loss_cases():
    rng = np.random.default_rng(7)
    n = 11
    sw = rng.uniform(0.1, 3.0, n)
    y_reg1 = rng.standard_normal(n) * 2
    y_reg3 = rng.standard_normal((n, 3)) * 2
    y_bin = (rng.uniform(size=n) < 0.3).astype(np.float64)
    y_bin3 = (rng.uniform(size=(n, 3)) < 0.5).astype(np.float64)
    y_soft = rng.uniform(size=(n, 2))                       # probabilities as targets
    labels = np.array([0, 1, 2, 3, 0, 0, 0, 1, 2, 0, 0])    # unbalanced, 4 classes
    return {
        "mse_1": ("mse", y_reg1, 1, None),
        "mse_3": ("mse", y_reg3, 3, None),
        "mse_3_weighted": ("mse", y_reg3, 3, sw),
        "huber_quadratic": (losses.Huber(10.0), y_reg3, 3, None),
        "huber_mixed": (losses.Huber(0.5), y_reg3, 3, None),
        "huber_mixed_weighted": (losses.Huber(0.7), y_reg1, 1, sw),
        "bce_1": ("bce", y_bin, 1, None),
        "bce_3": ("bce", y_bin3, 3, None),
        "bce_soft_targets": ("bce", y_soft, 2, None),
        "bce_3_weighted": ("bce", y_bin3, 3, sw),
        "bce_balanced": (losses.BinaryCrossEntropy(class_weight="balanced"), y_bin, 1, None),
        "bce_balanced_weighted": (losses.BinaryCrossEntropy(class_weight="balanced"), y_bin, 1, sw),
        "ce": ("cross_entropy", labels, 4, None),
        "ce_weighted": ("cross_entropy", labels, 4, sw),
        "ce_balanced": (losses.CrossEntropy(class_weight="balanced"), labels, 4, None),
        "ce_balanced_weighted": (losses.CrossEntropy(class_weight="balanced"), labels, 4, sw),
        "ce_dict_weights": (losses.CrossEntropy(class_weight={1: 3.0, 3: 0.5}), labels, 4, None),
    }


LOSS_CASES = _loss_cases()


@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_loss_gradients_fd(case):
    loss, y, n_out, sw = LOSS_CASES[case]
    X = np.random.default_rng(2).standard_normal((len(y), 4))
    _fd_check(_mlp(n_out, seed=len(case)), loss, X, y, sw)


@pytest.mark.parametrize("case", ["ce_dict_weights"])
def test_dict_class_weights_match_sample_weights(case):
    """class_weight={c: w} is the same as giving each row its class's weight."""
    loss, y, n_out, _ = LOSS_CASES[case]
    X = np.random.default_rng(2).standard_normal((len(y), 4))
    w = np.array([{1: 3.0, 3: 0.5}.get(c, 1.0) for c in y])
    a = Trainer(_mlp(n_out), loss=loss, optimizer="sgd", batch_size=len(y))
    b = Trainer(_mlp(n_out), loss="cross_entropy", optimizer="sgd", batch_size=len(y))
    assert a.train_step(X, y, update=False) == pytest.approx(
        b.train_step(X, y, sample_weight=w, update=False), rel=1e-14)
    np.testing.assert_allclose(a.grads, b.grads, rtol=1e-13, atol=1e-15)


# ---- evaluation forward against NumPy --------------------------------------------------

def _eval_model(dtype, seed=0):
    model = nn.Sequential(
        nn.Linear(7, 13), nn.BatchNorm(13), nn.GELU(), nn.Dropout(0.4),
        nn.Residual(nn.Linear(13, 13), nn.BatchNorm(13, eps=1e-3), nn.LeakyReLU(0.2)),
        nn.Residual(nn.Linear(13, 5), nn.Tanh()),
        nn.Sigmoid(), nn.Identity(), nn.Linear(5, 9), nn.ReLU(), nn.Linear(9, 3, bias=False),
        dtype=dtype, random_state=seed)
    _randomize(model, seed)
    rng = np.random.default_rng(seed + 1)
    for layer in (model.layers[1], model.layers[4].layers[1]):
        layer.running_mean[:] = rng.normal(0, 0.5, layer.num_features)
        layer.running_var[:] = rng.uniform(0.3, 2.0, layer.num_features)
    return model


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 17, 255, 256, 257, 600])
def test_eval_forward_matches_numpy(dtype, n):
    model = _eval_model(dtype)
    X = np.random.default_rng(n).standard_normal((n, 7)).astype(dtype)
    out = model.predict(X)
    assert out.dtype == dtype and out.shape == (n, 3)
    expected = ref.model_forward_ref(model.layers, X)
    ref.assert_close(out, expected, dtype, scale=20 if dtype == np.float32 else 10)
    # every row is computed independently: a row's output does not depend on its chunk
    np.testing.assert_array_equal(model.predict(X[n // 2:n // 2 + 1]), out[n // 2:n // 2 + 1])
    np.testing.assert_array_equal(model(X), out)
    np.testing.assert_array_equal(model.forward(X.tolist()), out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_proba_and_evaluate_match_numpy(dtype):
    model = _eval_model(dtype)
    X = np.random.default_rng(5).standard_normal((300, 7)).astype(dtype)
    labels = np.arange(300) % 3
    t = Trainer(model, loss="cross_entropy")
    logits = ref.model_forward_ref(model.layers, X)
    ref.assert_close(t.predict_proba(X), ref.softmax_ref(logits), dtype, scale=20)
    got = t.evaluate(X, labels)
    assert got["loss"] == pytest.approx(ref.softmax_cross_entropy_ref(logits, labels)[0],
                                        rel=1e-4 if dtype == np.float32 else 1e-10)
    assert got["accuracy"] == np.mean(logits.argmax(1) == labels)


def test_predict_validates_input():
    model = _eval_model(np.float32)
    good = np.zeros((3, 7), np.float32)
    with pytest.raises(ValueError, match="7"):
        model.predict(np.zeros((3, 6), np.float32))
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict(np.full((3, 7), np.nan, np.float32))
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict(np.full((3, 7), np.inf))          # the converting path too
    one_bad = good.copy()
    one_bad[-1, -1] = -np.inf                           # counted in the C call, last value
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict(one_bad)
    with pytest.raises(ValueError, match="2-D"):
        model.predict(np.zeros((2, 3, 7), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        model.predict(np.zeros(7, np.float32))
    with pytest.raises(ValueError, match="0 samples"):
        model.predict(np.zeros((0, 7), np.float32))
    with pytest.raises(TypeError, match="complex"):
        model.predict(good.astype(np.complex64))
    with pytest.raises(ValueError, match="non-numeric"):
        model.predict(np.array([["a"] * 7]))
    # non-contiguous and other dtypes are converted, not refused
    wide = np.random.default_rng(0).standard_normal((3, 14))
    np.testing.assert_array_equal(model.predict(wide[:, ::2]),
                                  model.predict(np.ascontiguousarray(wide[:, ::2], np.float32)))


# ---- batch normalisation: a batch of one, running statistics ----------------------------

def test_batchnorm_single_last_row_is_merged():
    """n % batch_size == 1: the lone last row joins the batch before it, so training
    stays finite and an epoch has n // batch_size steps."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((9, 4))
    y = rng.standard_normal(9)
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm(5), nn.ReLU(), nn.Linear(5, 1),
                          dtype=F64, random_state=0)
    t = Trainer(model, loss="mse", optimizer=optim.SGD(0.05), batch_size=4, epochs=3,
                shuffle=True, random_state=0)
    hist = t.fit(X, y)
    assert t.step_ == 3 * 2
    assert np.all(np.isfinite(hist["loss"])) and np.all(np.isfinite(model.params))
    assert np.all(np.isfinite(model.stats))
    # without batch norm nothing is merged: 3 batches per epoch
    plain = Trainer(nn.Sequential(nn.Linear(4, 1), dtype=F64), loss="mse", batch_size=4, epochs=2)
    plain.fit(X, y)
    assert plain.step_ == 2 * 3


def test_batchnorm_running_stats_after_one_epoch():
    """shuffle=False: batches are rows [0:4], [4:8], [8:13] (the single last row merged);
    batch norm first, so its inputs are the raw rows whatever the weights do."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((13, 4)) * [1.0, 2.0, 0.5, 3.0] + [0.0, 1.0, -2.0, 5.0]
    y = rng.standard_normal(13)
    model = nn.Sequential(nn.BatchNorm(4, momentum=0.3), nn.Linear(4, 6), nn.BatchNorm(6),
                          nn.Linear(6, 1), dtype=F64, random_state=0)
    t = Trainer(model, loss="mse", optimizer=optim.SGD(0.1), batch_size=4, shuffle=False)
    t.fit(X, y, epochs=1)
    bn = model.layers[0]
    rm, rv = ref.batchnorm_running_ref([X[0:4], X[4:8], X[8:13]], np.zeros(4), np.ones(4), 0.3)
    np.testing.assert_allclose(bn.running_mean, rm, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(bn.running_var, rv, rtol=1e-13, atol=1e-15)


def test_batchnorm_running_stats_through_train_step_and_batch_of_one():
    """train_step updates running statistics from the given batch (the layer's input
    there computed by NumPy); one row gives y = beta and leaves them alone."""
    rng = np.random.default_rng(2)
    model = _randomize(nn.Sequential(nn.Linear(3, 5), nn.BatchNorm(5, momentum=0.2), nn.Tanh(),
                                     nn.Linear(5, 2), dtype=F64, random_state=0), seed=4)
    t = Trainer(model, loss="mse", optimizer=optim.SGD(0.0), batch_size=8)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    bn = model.layers[1]
    h = ref.model_forward_ref(model.layers[:1], X)
    rm0, rv0 = bn.running_mean.copy(), bn.running_var.copy()
    t.train_step(X, y)
    rm, rv = ref.batchnorm_running_ref([h], rm0, rv0, 0.2)
    np.testing.assert_allclose(bn.running_mean, rm, rtol=1e-13)
    np.testing.assert_allclose(bn.running_var, rv, rtol=1e-13)
    stats = model.stats.copy()
    loss = t.train_step(X[:1], y[:1], update=False)
    out = ref.model_forward_ref(model.layers, X[:1], training=True)
    assert np.isfinite(loss)
    assert loss == pytest.approx(ref.mse_loss_ref(out, y[:1])[0], rel=1e-12)
    np.testing.assert_array_equal(model.stats, stats)
    assert np.all(np.isfinite(t.grads))
    # one row: the BN output is beta whatever its input, so nothing before it (and not
    # gamma) gets a gradient; the rest matches finite differences
    grad = {(id(q.owner), q.name): t.grads[q.offset:q.offset + q.size] for q in model.plan.params}
    lin = model.layers[0]
    for key in ((id(lin), "weight"), (id(lin), "bias"), (id(bn), "gamma")):
        np.testing.assert_allclose(grad[key], 0, atol=1e-12)  # rounding only
    assert np.any(grad[(id(bn), "beta")] != 0)
    _fd_check(model, "mse", X[:1], y[:1])


# ---- pickling ----------------------------------------------------------------------------

def _views_share(model):
    for name, view in model.named_parameters().items():
        assert np.shares_memory(view, model.params), name
    for layer in model.layers:
        if isinstance(layer, nn.BatchNorm):
            assert np.shares_memory(layer.running_mean, model.stats)
            assert np.shares_memory(layer.running_var, model.stats)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_model_pickle_round_trip(dtype):
    model = _eval_model(dtype, seed=3)
    X = np.random.default_rng(0).standard_normal((40, 7)).astype(dtype)
    out = model.predict(X)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.dtype == dtype and clone.n_params == model.n_params
    np.testing.assert_array_equal(clone.params, model.params)
    np.testing.assert_array_equal(clone.stats, model.stats)
    np.testing.assert_array_equal(clone.predict(X), out)
    _views_share(clone)
    assert not np.shares_memory(clone.params, model.params)
    # the rebuilt views are live: writing through a layer's view changes predictions
    ref.layer_param(clone.layers[-1], "weight")[0, 0] += 1.0
    assert not np.array_equal(clone.predict(X), out)
    np.testing.assert_array_equal(model.predict(X), out)
    # and a pickled clone trains like the original
    y = np.arange(40) % 3
    a = Trainer(model, loss="cross_entropy", optimizer="adam", batch_size=16, random_state=0)
    b = Trainer(pickle.loads(pickle.dumps(model)), loss="cross_entropy", optimizer="adam",
                batch_size=16, random_state=0)
    a.fit(X, y, epochs=2)
    b.fit(X, y, epochs=2)
    np.testing.assert_array_equal(a.model.params, b.model.params)


def _offset(view, buffer):
    return (view.__array_interface__["data"][0] - buffer.__array_interface__["data"][0]) \
        // buffer.itemsize


def test_plan_layout():
    """Weight matrices (decayed) first, so [0, n_decay) is exactly the weights; BN
    starts at gamma=1, beta=0, running mean 0 / var 1; biases at 0."""
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm(4), nn.ReLU(),
                          nn.Residual(nn.Linear(4, 2)), nn.Linear(2, 1, bias=False), dtype=F64)
    plan = model.plan
    assert [(type(p.owner).__name__, p.name, p.shape) for p in plan.params] == [
        ("Linear", "weight", (3, 4)), ("Residual", "projection", (4, 2)),
        ("Linear", "weight", (4, 2)), ("Linear", "weight", (2, 1)),
        ("Linear", "bias", (4,)), ("BatchNorm", "gamma", (4,)), ("BatchNorm", "beta", (4,)),
        ("Linear", "bias", (2,))]
    assert [p.offset for p in plan.params] == [0, 12, 20, 28, 30, 34, 38, 42]
    assert plan.n_decay == 30 and model.n_params == 44 == model.params.size
    np.testing.assert_array_equal(ref.layer_param(model.layers[1], "gamma"), 1)
    np.testing.assert_array_equal(ref.layer_param(model.layers[1], "beta"), 0)
    np.testing.assert_array_equal(ref.layer_param(model.layers[0], "bias"), 0)
    np.testing.assert_array_equal(model.layers[1].running_mean, 0)
    np.testing.assert_array_equal(model.layers[1].running_var, 1)
    _views_share(model)


def test_layer_views_point_at_their_own_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm(4), nn.ReLU(),
                          nn.Residual(nn.Linear(4, 2)), nn.Linear(2, 1, bias=False), dtype=F64)
    named = model.named_parameters()
    assert list(named) == ["0.weight", "0.bias", "1.gamma", "1.beta", "3.projection",
                           "3.layers.0.weight", "3.layers.0.bias", "4.weight"]
    expected = {"0.weight": (model.layers[0], "weight"), "0.bias": (model.layers[0], "bias"),
                "1.gamma": (model.layers[1], "gamma"), "1.beta": (model.layers[1], "beta"),
                "3.projection": (model.layers[3], "projection"),
                "3.layers.0.weight": (model.layers[3].layers[0], "weight"),
                "3.layers.0.bias": (model.layers[3].layers[0], "bias"),
                "4.weight": (model.layers[4], "weight")}
    for name, (layer, pname) in expected.items():
        want = ref.layer_param(layer, pname)
        for got in (named[name], getattr(layer, pname)):
            assert got.shape == want.shape, name
            assert _offset(got, model.params) == _offset(want, model.params), name
    assert model.layers[4].bias is None


def test_init_depends_on_random_state_only():
    a = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2), random_state=3)
    b = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2), random_state=3)
    c = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2), random_state=4)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    # "auto": U(-1/sqrt(fan_in), +1/sqrt(fan_in))
    w = a.layers[0].weight
    assert np.abs(w).max() <= 1 / np.sqrt(5) and w.std() > 0.5 / np.sqrt(3 * 5)


def test_bad_layer_hyper_parameters():
    # one error type for every parameter, as the estimators' (a ValueError and a TypeError)
    for bad in (1.0, -0.1, float("nan"), "0.5", True):
        with pytest.raises(ValueError, match=r"'p' parameter must be a float in the range "
                                             r"\[0, 1\).*\(Dropout\)"):
            nn.Dropout(bad)
        with pytest.raises(TypeError):
            nn.Dropout(bad)
    with pytest.raises(TypeError, match="negative_slope"):
        nn.LeakyReLU(float("inf"))
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(3, -1)
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        nn.BatchNorm(3, eps=-1.0)
    with pytest.raises(ValueError, match="init"):
        nn.Linear(3, 3, init="xavier")
    with pytest.raises(ValueError, match="expects 4 input features"):
        nn.Sequential(nn.Linear(3, 5), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="appears twice"):
        layer = nn.Linear(3, 3)
        nn.Sequential(layer, layer)
    with pytest.raises(TypeError, match="dtype"):
        nn.Sequential(nn.Linear(3, 3), dtype="float16")
    with pytest.raises(ValueError, match="n_features"):
        nn.Sequential(nn.ReLU())
    with pytest.raises(ValueError, match="at least one layer"):
        nn.Residual()


def test_default_init_is_torch_linear_default_and_explicit_schemes_are_exact():
    """"auto": U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as torch.nn.Linear's default (the
    scale behind batch norm sets Adam's effective step; see Sequential._init_schemes);
    an explicit scheme gives exactly ops.init_weights at the parameter's offset."""
    from fastfit import ops

    model = nn.Sequential(nn.Linear(400, 300), nn.ReLU(), nn.Linear(300, 7, init="glorot_normal"),
                          dtype=F64, random_state=3)
    w0 = model.layers[0].weight
    bound = 1 / np.sqrt(400)
    assert np.abs(w0).max() <= bound
    assert np.std(w0) == pytest.approx(bound / np.sqrt(3), rel=0.02)
    np.testing.assert_array_equal(model.layers[0].bias, 0)
    p = next(q for q in model.plan.params if q.owner is model.layers[2] and q.name == "weight")
    from fastfit._random import seeds_from
    expected = ops.init_weights((300, 7), "glorot_normal", seed=seeds_from(3, 1)[0],
                                dtype=F64, offset=p.offset)
    np.testing.assert_array_equal(model.layers[2].weight, expected)


def test_engine_rejects_a_corrupt_plan_without_touching_memory():
    """The C engine checks every offset of the plan against its buffers: a plan that
    points outside them (only reachable by editing the cffi structs) is FF_EBADARG."""
    from fastfit._lib import ffi, lib

    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm(4), nn.ReLU(), nn.Linear(4, 2), dtype=F64)
    x = np.zeros((2, 3))
    out = np.zeros((2, 2))

    def status():
        return lib.ff_model_predict_f64(ffi.from_buffer("double[]", out), model._native.struct,
                                        ffi.from_buffer("double[]", x), ffi.NULL, 2, 2, 1, 0)

    assert status() == lib.FF_OK
    c_ops = model._native._ops
    for i, field, bad in [(0, "w", model.n_params - 1), (0, "b", model.n_params - 1),
                          (1, "stat", 5), (1, "w", -1), (1, "save", 7), (2, "act", 42),
                          (2, "y", 10**6), (3, "x", -1), (0, "kind", 99), (0, "kind", 0),
                          (0, "kind", -1), (2, "out", 5)]:
        old = getattr(c_ops[i], field)
        setattr(c_ops[i], field, bad)
        try:
            assert status() == lib.FF_EBADARG, (i, field, bad)
        finally:
            setattr(c_ops[i], field, old)
    assert status() == lib.FF_OK


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prediction_fuses_linear_and_activation_without_changing_bits(dtype):
    # In evaluation passes a Linear followed by relu / leaky relu (slope >= 0) runs as one
    # GEMM with the activation in its epilogue; tanh, a negative slope, and a Linear whose
    # output another op also reads (a residual's skip) keep two passes. Every case gives
    # the bits of the separate kernels.
    from fastfit import ops
    model = nn.Sequential(nn.Linear(7, 33), nn.ReLU(), nn.Linear(33, 40), nn.LeakyReLU(0.1),
                          nn.Linear(40, 16), nn.Tanh(), nn.Linear(16, 16),
                          nn.LeakyReLU(-0.2), nn.Residual(nn.Linear(16, 16), nn.ReLU()),
                          nn.Linear(16, 3), dtype=dtype, random_state=0)
    X = np.random.default_rng(6).standard_normal((600, 7)).astype(dtype)

    def run(layers, h):
        for layer in layers:
            if isinstance(layer, nn.Linear):
                h = ops.linear_forward(h, layer.weight, layer.bias)
            elif isinstance(layer, nn.Residual):
                h = ops.residual_forward(h, run(layer.layers, h))
            else:
                h = ops.activation_forward(h, *{nn.ReLU: ("relu",), nn.Tanh: ("tanh",)}.get(
                    type(layer), ("leaky_relu", layer.alpha)))
        return h
    want = run(model.layers, X)
    for threads in (1, 2):
        np.testing.assert_array_equal(model.predict(X, n_threads=threads), want)
        np.testing.assert_array_equal(model.predict(X[:1], n_threads=threads), want[:1])
