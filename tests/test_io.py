"""fastfit.save / fastfit.load: bitwise round trips for every kind, the trainer's
continued training, and rejection (ValueError naming the problem) of corrupt files,
including a hypothesis fuzz test over bytes and header fields of real saved files."""

import io
import json
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone

import fastfit
from fastfit import callbacks, losses, nn, optim
from fastfit import Trainer

pytest.importorskip("safetensors")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(120, 6))
Y3 = RNG.integers(0, 3, 120)
YS = np.array(["cat", "dog"])[RNG.integers(0, 2, 120)]
YR = X @ RNG.normal(size=6) + 0.1 * RNG.normal(size=120)
YML = (RNG.random((120, 3)) > 0.5).astype(int)


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


CASES = {
    "linear": lambda: _fit(fastfit.LinearRegression(), X, YR),
    "linear-2out-f32": lambda: _fit(fastfit.LinearRegression(), X.astype(np.float32),
                                    np.c_[YR, -YR]),
    "ridge": lambda: _fit(fastfit.Ridge(alpha=0.5), X, YR),
    "logistic-3": lambda: _fit(fastfit.LogisticRegression(C=0.5), X, Y3),
    "logistic-str-f32": lambda: _fit(fastfit.LogisticRegression(), X.astype(np.float32), YS),
    "sgdclf-hinge": lambda: _fit(fastfit.SGDClassifier(random_state=0, max_iter=5), X, Y3),
    "sgdclf-log-avg": lambda: _fit(fastfit.SGDClassifier(loss="log_loss", average=True,
                                                         class_weight={"cat": 2.0},
                                                         random_state=0, max_iter=5), X, YS),
    "sgdreg": lambda: _fit(fastfit.SGDRegressor(random_state=0, max_iter=5), X, YR),
    "mlpclf": lambda: _fit(fastfit.MLPClassifier((8, 8), max_iter=3, random_state=0,
                                                 batch_norm=True, residual=True, dropout=0.1,
                                                 lr_schedule="plateau"), X, Y3),
    "mlpclf-binary-str-f32": lambda: _fit(fastfit.MLPClassifier((8,), max_iter=3,
                                                                random_state=0,
                                                                early_stopping=True),
                                          X.astype(np.float32), YS),
    "mlpclf-multilabel": lambda: _fit(fastfit.MLPClassifier((8,), max_iter=3, random_state=0,
                                                            activation="tanh"), X, YML),
    "mlpclf-lbfgs": lambda: _fit(fastfit.MLPClassifier((8,), solver="lbfgs", max_iter=5,
                                                       random_state=0), X, Y3),
    "mlpreg-sgd": lambda: _fit(fastfit.MLPRegressor(hidden_layer_sizes=(8,), solver="sgd",
                                                    max_iter=3, random_state=0,
                                                    activation="logistic"), X, YR),
}
METHODS = ("predict", "predict_proba", "decision_function", "predict_log_proba")


def _round_trip(obj, tmp_path=None):
    if tmp_path is None:
        buf = io.BytesIO()
        fastfit.save(obj, buf)
        return fastfit.load(io.BytesIO(buf.getvalue()))
    path = tmp_path / "model.safetensors"
    fastfit.save(obj, path)
    return fastfit.load(path)


def _input(est):
    dtype = getattr(est, "_dtype", None) or est.coef_.dtype
    return X.astype(dtype)


@pytest.mark.parametrize("case", sorted(CASES))
def test_estimator_round_trip_is_bitwise(case, tmp_path):
    est = CASES[case]()
    back = _round_trip(est, tmp_path)
    assert type(back) is type(est)
    assert back.get_params() == est.get_params()
    Xp = _input(est)
    checked = 0
    for method in METHODS:
        if hasattr(est, method):
            with np.errstate(divide="ignore"):
                np.testing.assert_array_equal(getattr(back, method)(Xp),
                                              getattr(est, method)(Xp), err_msg=method)
            checked += 1
    assert checked >= 1
    for name, value in vars(est).items():   # every public fitted attribute, dtype included
        if name.endswith("_") and isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(back, name), value, err_msg=name)
            assert getattr(back, name).dtype == value.dtype, name
    # clone and pickle of the loaded estimator work, and the clone fits
    classes = getattr(est, "classes_", None)   # every class present, whatever est predicts
    _fit(clone(back), X, YR if classes is None else classes[np.arange(len(X)) % len(classes)])
    again = pickle.loads(pickle.dumps(back))
    np.testing.assert_array_equal(again.predict(Xp), est.predict(Xp))


def test_save_and_pickle_leave_the_estimator_intact():
    est = _fit(fastfit.MLPClassifier((8,), random_state=0, max_iter=2), X, Y3)
    before = est.predict_proba(X)
    fastfit.save(est, io.BytesIO())
    pickle.dumps(est)
    assert len(est.coefs_) == 2 and len(est.intercepts_) == 2
    np.testing.assert_array_equal(est.predict_proba(X), before)


def test_mlp_partial_fit_continues_bitwise_after_load():
    est = _fit(fastfit.MLPClassifier((8,), random_state=0, max_iter=2), X, Y3)
    back = _round_trip(est)
    for _ in range(2):
        est.partial_fit(X, Y3)
        back.partial_fit(X, Y3)
    np.testing.assert_array_equal(back._model.params, est._model.params)
    assert back.loss_curve_ == est.loss_curve_


def _all_layers_model(dtype):
    return nn.Sequential(
        nn.Linear(6, 12), nn.BatchNorm(12), nn.ReLU(),
        nn.Residual(nn.Linear(12, 12), nn.LeakyReLU(0.2)),
        nn.Residual(nn.Linear(12, 8, bias=False, init="glorot_uniform"), nn.GELU()),
        nn.Dropout(0.2), nn.Tanh(), nn.Linear(8, 8), nn.Sigmoid(), nn.Identity(),
        nn.Linear(8, 3), dtype=dtype, random_state=3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sequential_round_trip_every_layer_kind(dtype):
    model = _all_layers_model(dtype)
    t = Trainer(model, optimizer="adam", epochs=1, batch_size=16, random_state=0)
    t.fit(X, Y3)    # batch-norm statistics away from their initial values
    back = _round_trip(model)
    assert repr(back) == repr(model)
    np.testing.assert_array_equal(back.params, model.params)
    np.testing.assert_array_equal(back.stats, model.stats)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    for (name, a), (name2, b) in zip(model.named_parameters().items(),
                                     back.named_parameters().items()):
        assert name == name2
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("optimizer", [
    optim.Adam(0.01, schedule=optim.ReduceOnPlateau(monitor="loss", patience=0)),
    optim.SGD(0.05, momentum=0.9, nesterov=True, clip_norm=1.0, schedule=optim.Cosine(1)),
    optim.RMSProp(0.01, momentum=0.5, weight_decay=1e-3, schedule=optim.StepDecay(1, 0.5)),
    optim.AdamW(0.01, l1=1e-4, schedule=optim.Exponential(0.9)),
], ids=["adam-plateau", "sgd-cosine", "rmsprop-step", "adamw-exp"])
def test_trainer_continues_bitwise_after_load(optimizer, tmp_path):
    def make():
        return Trainer(_all_layers_model("float32"), loss=losses.CrossEntropy("balanced"),
                       optimizer=optimizer, batch_size=16, random_state=7)

    a = make()
    a.fit(X, Y3, epochs=2)
    b = _round_trip(a, tmp_path)
    assert (b.epoch_, b.step_) == (a.epoch_, a.step_)
    assert b.history.rows == a.history.rows
    a.fit(X, Y3, epochs=2)
    b.fit(X, Y3, epochs=2)
    np.testing.assert_array_equal(b.model.params, a.model.params)
    np.testing.assert_array_equal(b.model.stats, a.model.stats)
    for sa, sb in zip(a._slots, b._slots):
        np.testing.assert_array_equal(sa, sb)
    assert b.history["loss"] == a.history["loss"]
    assert b.optimizer.lr == a.optimizer.lr


def test_model_checkpoint_writes_the_fastfit_format(tmp_path):
    t = Trainer(_all_layers_model("float32"), batch_size=16, epochs=2, random_state=0,
                callbacks=[callbacks.ModelCheckpoint(tmp_path / "last.safetensors")])
    t.fit(X, Y3)
    back = fastfit.load(tmp_path / "last.safetensors")
    assert isinstance(back, Trainer) and back.epoch_ == 2
    np.testing.assert_array_equal(back.model.params, t.model.params)
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]   # no temporaries


# ---- what save refuses -------------------------------------------------------------------
def test_save_refuses_what_it_cannot_describe():
    buf = io.BytesIO()
    with pytest.raises(TypeError, match="fastfit.save writes"):
        fastfit.save({"a": 1}, buf)
    from sklearn.linear_model import LinearRegression

    with pytest.raises(TypeError, match="fastfit.save writes"):
        fastfit.save(LinearRegression().fit(X, YR), buf)
    with pytest.raises(ValueError, match="not fitted"):
        fastfit.save(fastfit.Ridge(), buf)
    est = _fit(fastfit.MLPClassifier((4,), max_iter=1, callbacks=[callbacks.EarlyStopping("loss")]),
               X, Y3)
    with pytest.raises(TypeError, match="EarlyStopping"):
        fastfit.save(est, buf)
    est = _fit(fastfit.Ridge(), X, YR)
    est.coef_ = est.coef_.copy()
    est.coef_[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fastfit.save(est, buf)
    with pytest.raises(TypeError, match="file"):
        fastfit.save(_fit(fastfit.Ridge(), X, YR), 3.5)


# ---- corrupt files -------------------------------------------------------------------------
def _saved(obj):
    buf = io.BytesIO()
    fastfit.save(obj, buf)
    return buf.getvalue()


def _split(data):
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header, body):
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw + body


def _edit(data, fn):
    """The file with its description JSON edited in place by ``fn(description)``."""
    header, body = _split(data)
    desc = json.loads(header["__metadata__"]["description"])
    fn(desc)
    header["__metadata__"]["description"] = json.dumps(desc)
    return _join(header, body)


def _load_bytes(data):
    return fastfit.load(io.BytesIO(data))


def _find(node, pred):
    """The first dict node of the description satisfying pred (depth first)."""
    if isinstance(node, dict):
        if pred(node):
            return node
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find(child, pred)
        if found is not None:
            return found
    return None


MLP_FILE = None


def _mlp_file():
    global MLP_FILE
    if MLP_FILE is None:
        MLP_FILE = _saved(CASES["mlpclf"]())
    return MLP_FILE


def _linear_layer(desc):
    return _find(desc, lambda d: d.get("$obj") == "nn.Linear")


def _set_in_features(desc, value):
    _linear_layer(desc)["fields"]["in_features"] = value


CORRUPTIONS = {
    "empty": (lambda d: b"", "truncated"),
    "truncated-header": (lambda d: d[:40], "truncated"),
    "truncated-body": (lambda d: d[:-9], "safetensors"),
    "huge-header-length": (lambda d: (1 << 60).to_bytes(8, "little") + d[8:], "header length"),
    "header-not-json": (lambda d: d[:8] + b"\xff" * 16 + d[24:], "not JSON"),
    "not-fastfit": (lambda d: _join({**_split(d)[0], "__metadata__": {
        **_split(d)[0]["__metadata__"], "format": "pt"}}, _split(d)[1]), "format"),
    "version": (lambda d: _join({**_split(d)[0], "__metadata__": {
        **_split(d)[0]["__metadata__"], "version": "99"}}, _split(d)[1]), "version"),
    "kind": (lambda d: _join({**_split(d)[0], "__metadata__": {
        **_split(d)[0]["__metadata__"], "kind": "os.system"}}, _split(d)[1]), "kind"),
    "layer-type": (lambda d: _edit(d, lambda desc: _linear_layer(desc).update(
        {"$obj": "builtins.eval"})), "not allowed"),
    "layer-width": (lambda d: _edit(d, lambda desc: _set_in_features(desc, 7)), "input features"),
    "huge-layer": (lambda d: _edit(d, lambda desc: _set_in_features(desc, 1 << 40)),
                   "input features|params"),
    "unknown-marker": (lambda d: _edit(d, lambda desc: desc["state"]["$dict"].append(
        ["x", {"$pickle": "gASV"}])), "marker"),
    "missing-field": (lambda d: _edit(d, lambda desc: _linear_layer(desc)["fields"].pop("init")),
                      "fields"),
    "bad-param": (lambda d: _edit(d, lambda desc: desc["params"]["$dict"].append(["evil", 1])),
                  "parameters"),
    "nan-float": (lambda d: _edit(d, lambda desc: _find(
        desc, lambda n: n.get("$obj") == "nn.BatchNorm")["fields"].update(
        {"eps": {"$float": "nan"}})), "finite"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_files_raise_value_error_naming_the_problem(name):
    corrupt, match = CORRUPTIONS[name]
    with pytest.raises(ValueError, match=match):
        _load_bytes(corrupt(_mlp_file()))


@pytest.mark.parametrize("bad", [1, False, {"$dtype": "int64"}])
def test_linear_model_dtype_is_checked(bad):
    """A hand-edited _dtype (found by the header fuzz test) is refused at load, not left
    for predict to trip over."""
    def set_dtype(desc):
        entry = next(e for e in desc["state"]["$dict"] if e[0] == "_dtype")
        entry[1] = bad
    data = _edit(_saved(CASES["logistic-str-f32"]()), set_dtype)
    with pytest.raises(ValueError, match="_dtype"):
        _load_bytes(data)


def test_tensor_mismatches_are_named():
    from safetensors.numpy import save

    data = _saved(_fit(fastfit.LogisticRegression(), X, Y3))
    header, _ = _split(data)
    meta = header["__metadata__"]
    from safetensors.numpy import load

    tensors = load(data)
    swapped = {k: (v.T.copy() if v.ndim == 2 else v) for k, v in tensors.items()}
    with pytest.raises(ValueError, match="coef_"):
        _load_bytes(save(swapped, metadata=meta))
    bad = {k: (np.full_like(v, np.nan) if v.dtype.kind == "f" else v)
           for k, v in tensors.items()}
    with pytest.raises(ValueError, match="NaN"):
        _load_bytes(save(bad, metadata=meta))
    with pytest.raises(ValueError, match="not referenced"):
        _load_bytes(save({**tensors, "extra": np.zeros(3)}, metadata=meta))
    with pytest.raises(ValueError, match="dtype"):
        _load_bytes(save({k: v.astype(np.float16) if v.dtype.kind == "f" else v
                          for k, v in tensors.items()}, metadata=meta))


# ---- fuzzing: any mutation of a real file loads cleanly or raises ValueError ---------------
def _fuzz_files():
    trainer = Trainer(nn.Sequential(nn.Linear(6, 4), nn.BatchNorm(4), nn.ReLU(),
                                    nn.Residual(nn.Linear(4, 4), nn.GELU()), nn.Linear(4, 3)),
                      optimizer=optim.Adam(schedule=optim.ReduceOnPlateau()), batch_size=32,
                      random_state=0)
    trainer.fit(X, Y3, epochs=1)
    return [_mlp_file(), _saved(CASES["logistic-str-f32"]()), _saved(trainer)]


FUZZ_FILES = []


def _check_loads_or_value_error(data):
    try:
        obj = _load_bytes(data)
    except ValueError:
        return
    if isinstance(obj, Trainer):
        obj = obj.model
    Xp = X.astype(obj.dtype) if isinstance(obj, nn.Sequential) else _input(obj)
    with np.errstate(all="ignore"):
        obj.predict(Xp)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["$tensor", "$ref", "$obj", "nn.Linear", "t0"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["$tensor", "$ref", "$obj", "fields", "$dict",
                                       "$tuple", "$strings", "dtype", "shape", "$float"]),
                      inner, max_size=3),
    max_leaves=8)


def _paths(node, prefix=()):
    yield prefix
    items = (node.items() if isinstance(node, dict)
             else enumerate(node) if isinstance(node, list) else ())
    for key, child in items:
        yield from _paths(child, prefix + (key,))


def _replace(node, path, value):
    if not path:
        return value
    node[path[0]] = _replace(node[path[0]], path[1:], value)
    return node


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(which=st.integers(0, 2), data=st.data())
def test_fuzz_bytes(which, data):
    if not FUZZ_FILES:
        FUZZ_FILES.extend(_fuzz_files())
    raw = bytearray(FUZZ_FILES[which])
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    _check_loads_or_value_error(bytes(raw))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(which=st.integers(0, 2), data=st.data())
def test_fuzz_header_fields(which, data):
    if not FUZZ_FILES:
        FUZZ_FILES.extend(_fuzz_files())
    header, body = _split(FUZZ_FILES[which])
    target = data.draw(st.sampled_from(["description", "metadata", "tensor"]))
    if target == "description":
        desc = json.loads(header["__metadata__"]["description"])
        paths = list(_paths(desc))
        path = data.draw(st.sampled_from(paths))
        desc = _replace(desc, path, data.draw(_JSON))
        header["__metadata__"]["description"] = json.dumps(desc)
    elif target == "metadata":
        key = data.draw(st.sampled_from(sorted(header["__metadata__"])))
        header["__metadata__"][key] = data.draw(st.text(max_size=12))
    else:
        name = data.draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
        field = data.draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        header[name][field] = data.draw(_JSON)
    _check_loads_or_value_error(_join(header, body))


def test_hand_edited_parameters_are_refused_at_load():
    # a parameter value fit would refuse (here n_threads=1.0, which prediction reads) is
    # refused by load, not left for the C call to trip over (found by the fuzz test)
    m = fastfit.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(
        X, (X[:, 0] > 0).astype(int))
    buf = io.BytesIO()
    fastfit.save(m, buf)
    header, body = _split(buf.getvalue())
    desc = json.loads(header["__metadata__"]["description"])
    assert desc["params"]["$dict"]
    text = json.dumps(desc).replace('"n_threads", null', '"n_threads", 1.0')
    assert text != json.dumps(desc)
    header["__metadata__"]["description"] = text
    with pytest.raises(ValueError, match="n_threads"):
        _load_bytes(_join(header, body))
