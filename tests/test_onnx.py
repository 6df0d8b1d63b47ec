"""fastfit.onnx: exported graphs run in onnxruntime and match fastfit's predictions to
float rounding (labels equal) for every estimator, every layer kind and both dtypes;
skl2onnx converts pipelines holding fastfit estimators."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastfit
from fastfit import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

RNG = np.random.default_rng(1)
X = RNG.normal(size=(150, 5))
Y3 = RNG.integers(0, 3, 150)
Y2S = np.array(["no", "yes"])[(X[:, 0] + 0.3 * RNG.normal(size=150) > 0).astype(int)]
YR = X @ RNG.normal(size=5)
YML = (RNG.random((150, 3)) > 0.5).astype(int)


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


CASES = {
    "linear": lambda X: (fastfit.LinearRegression(), YR),
    "linear-2out": lambda X: (fastfit.LinearRegression(), np.c_[YR, 2 * YR]),
    "ridge": lambda X: (fastfit.Ridge(), YR),
    "sgdreg": lambda X: (fastfit.SGDRegressor(random_state=0, max_iter=5), YR),
    "logistic-3": lambda X: (fastfit.LogisticRegression(), Y3),
    "logistic-2-str": lambda X: (fastfit.LogisticRegression(), Y2S),
    "sgd-hinge-3": lambda X: (fastfit.SGDClassifier(random_state=0, max_iter=5), Y3),
    "sgd-hinge-2": lambda X: (fastfit.SGDClassifier(random_state=0, max_iter=5), Y2S),
    "sgd-log-3": lambda X: (fastfit.SGDClassifier("log_loss", random_state=0, max_iter=5), Y3),
    "sgd-log-2": lambda X: (fastfit.SGDClassifier("log_loss", random_state=0, max_iter=5), Y2S),
    "sgd-mhuber-3": lambda X: (fastfit.SGDClassifier("modified_huber", random_state=0,
                                                     max_iter=5), Y3),
    "mlp-softmax": lambda X: (fastfit.MLPClassifier((16, 16), random_state=0, max_iter=20,
                                                    batch_norm=True, residual=True,
                                                    dropout=0.1), Y3),
    "mlp-binary-str": lambda X: (fastfit.MLPClassifier((8,), activation="tanh",
                                                       random_state=0, max_iter=20), Y2S),
    "mlp-multilabel": lambda X: (fastfit.MLPClassifier((8,), activation="logistic",
                                                       random_state=0, max_iter=20), YML),
    "mlpreg": lambda X: (fastfit.MLPRegressor(hidden_layer_sizes=(8,), random_state=0,
                                              max_iter=20), YR),
    "mlpreg-2out": lambda X: (fastfit.MLPRegressor(hidden_layer_sizes=(8,), random_state=0,
                                                   max_iter=20, activation="identity"),
                              np.c_[YR, -YR]),
    "mlpreg-poisson": lambda X: (fastfit.MLPRegressor("poisson", hidden_layer_sizes=(8,),
                                                      random_state=0, max_iter=20),
                                 np.abs(YR)),
}


def _run(model, Xp):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: Xp})))


def _tol(dtype, erf=False):
    """Float rounding of the dtype (onnxruntime's float64 graphs compute erf in float32)."""
    return ({"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 or erf
            else {"rtol": 1e-9, "atol": 1e-11})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_estimators_match_onnxruntime(case, dtype):
    import fastfit.onnx

    Xp = X.astype(dtype)
    est, y = CASES[case](Xp)
    est = _fit(est, Xp, y)
    model = fastfit.onnx.to_onnx(est, Xp[:1])
    onnx.checker.check_model(model)
    out = _run(model, Xp)
    if "variable" in out:
        want = est.predict(Xp)
        np.testing.assert_allclose(out["variable"], want.reshape(len(Xp), -1), **_tol(dtype))
        assert out["variable"].dtype == dtype
        return
    np.testing.assert_array_equal(out["label"], est.predict(Xp))
    if "probabilities" in out:
        np.testing.assert_allclose(out["probabilities"], est.predict_proba(Xp), **_tol(dtype))
        assert out["probabilities"].dtype == dtype
    else:
        scores = est.decision_function(Xp)
        np.testing.assert_allclose(out["scores"], scores.reshape(len(Xp), -1), **_tol(dtype))


LAYERS = {
    "linear-nobias": lambda: [nn.Linear(5, 7, bias=False)],
    "batchnorm": lambda: [nn.Linear(5, 7), nn.BatchNorm(7)],
    "relu": lambda: [nn.Linear(5, 7), nn.ReLU()],
    "leaky": lambda: [nn.Linear(5, 7), nn.LeakyReLU(0.3)],
    "tanh": lambda: [nn.Linear(5, 7), nn.Tanh()],
    "sigmoid": lambda: [nn.Linear(5, 7), nn.Sigmoid()],
    "gelu": lambda: [nn.Linear(5, 7), nn.GELU()],
    "identity": lambda: [nn.Linear(5, 7), nn.Identity()],
    "dropout": lambda: [nn.Linear(5, 7), nn.Dropout(0.5)],
    "residual": lambda: [nn.Linear(5, 7), nn.Residual(nn.Linear(7, 7), nn.ReLU())],
    "residual-projection": lambda: [nn.Residual(nn.Linear(5, 9), nn.BatchNorm(9), nn.GELU())],
    "batchnorm-first": lambda: [nn.BatchNorm(5), nn.Linear(5, 3)],
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layers", sorted(LAYERS))
def test_every_layer_kind_matches_onnxruntime(layers, dtype):
    import fastfit.onnx

    model = nn.Sequential(*LAYERS[layers](),
                          dtype=dtype, random_state=0)
    if model.stats.size:   # running statistics away from 0 / 1
        trainer = fastfit.Trainer(model, loss="mse", batch_size=32, epochs=2, random_state=0)
        trainer.fit(X, RNG.normal(size=(150, model.n_outputs)))
    Xp = X.astype(dtype)
    out = _run(fastfit.onnx.to_onnx(model), Xp)
    np.testing.assert_allclose(out["variable"], model.predict(Xp),
                               **_tol(np.dtype(dtype), erf="gelu" in repr(model).lower()))


def test_skl2onnx_pipeline_with_fastfit_estimators():
    import fastfit.onnx  # noqa: F401  (registers the converters)

    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xf = X.astype(np.float32)
    for case in ("mlp-softmax", "logistic-2-str", "sgd-hinge-3", "ridge", "mlpreg"):
        est, y = CASES[case](Xf)
        pipe = _fit(make_pipeline(StandardScaler(), est), Xf, y)
        options = {id(est): {"zipmap": False}} if hasattr(est, "classes_") else None
        model = skl2onnx.to_onnx(pipe, Xf[:1], options=options)
        out = list(_run(model, Xf).values())
        if hasattr(est, "classes_"):
            np.testing.assert_array_equal(out[0], pipe.predict(Xf))
            second = (pipe.predict_proba(Xf) if hasattr(pipe, "predict_proba")
                      else pipe.decision_function(Xf).reshape(len(Xf), -1))
            np.testing.assert_allclose(out[1], second, rtol=1e-4, atol=1e-5)
        else:
            np.testing.assert_allclose(out[0].ravel(), pipe.predict(Xf).ravel(), rtol=1e-4,
                                       atol=1e-5)


def test_to_onnx_rejects_bad_input():
    import fastfit.onnx

    est = _fit(fastfit.Ridge(), X, YR)
    with pytest.raises(ValueError, match="shape"):
        fastfit.onnx.to_onnx(est, X[:, :3])
    with pytest.raises(ValueError, match="n_features"):
        fastfit.onnx.to_onnx(est, n_features=9)
    with pytest.raises(ValueError, match="target_opset"):
        fastfit.onnx.to_onnx(est, target_opset=9)
    with pytest.raises(TypeError, match="converts fastfit"):
        fastfit.onnx.to_onnx(object())
    with pytest.raises(ValueError, match="not fitted"):
        fastfit.onnx.to_onnx(fastfit.Ridge())


def test_import_fastfit_imports_no_serialisation_package():
    code = ("import sys, fastfit, numpy as np\n"
            "m = fastfit.nn.Sequential(fastfit.nn.Linear(3, 2))\n"
            "bad = [n for n in ('onnx', 'onnxruntime', 'skl2onnx', 'safetensors') "
            "if n in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")
