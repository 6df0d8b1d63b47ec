"""``fastfit.save`` / ``fastfit.load``: models as data-only safetensors files.

A file is a safetensors container. Its tensors are the arrays (flat parameter and
batch-norm buffers, optimizer state, fitted arrays such as ``coef_``); its
``__metadata__`` holds ``format`` ("fastfit"), ``version``, the object's ``kind``, the
writing fastfit's version and ``description``, a JSON tree (see ``_codec``) with the
estimator's ``get_params()``, its fitted state (layer list, fitted scalars) and
references to the tensors. Reading never runs code from the file: kinds, layer types
and every nested object come from fixed allow-lists, and everything is checked before
a model is built.
"""

from __future__ import annotations

import json

import numpy as np

from fastfit._io import _container
from fastfit._io._codec import Decoder, Encoder
from fastfit._io._objects import MAX_WIDTH, handlers
from fastfit._params import validate_params

__all__ = ["save", "load"]

VERSION = "1"
_KEYS = {"format", "version", "kind", "fastfit_version", "description"}
# kind -> (module, class): the estimator classes a file may name (fixed here, never
# looked up by a name read from a file)
ESTIMATORS = {
    "LinearRegression": ("_linear", "LinearRegression"),
    "Ridge": ("_linear", "Ridge"),
    "LogisticRegression": ("_logistic", "LogisticRegression"),
    "SGDClassifier": ("_sgd", "SGDClassifier"),
    "SGDRegressor": ("_sgd", "SGDRegressor"),
    "MLPClassifier": ("_mlp", "MLPClassifier"),
    "MLPRegressor": ("_mlp", "MLPRegressor"),
}


def _estimator_class(kind):
    import importlib

    module, name = ESTIMATORS[kind]
    return getattr(importlib.import_module(f"fastfit._estimators.{module}"), name)


def save(obj, file) -> None:
    """Write a fitted estimator, an ``nn.Sequential`` or a ``Trainer`` to a file.

    Parameters
    ----------
    obj : estimator, fastfit.nn.Sequential or fastfit.Trainer
        One of fastfit's seven estimators (fitted), a model, or a trainer. A trainer is
        written with its model, optimizer state and settings, schedule state, step,
        epoch counter, seeds and history, so that a loaded trainer goes on training
        bitwise as the saved one would; its callbacks (code, not data) are not written.
    file : str, os.PathLike or binary file object
        A path is written atomically (a temporary file in the same folder, then a
        rename): a crash never leaves half a file.

    Raises
    ------
    TypeError
        For other objects, or when a parameter holds a value the format cannot
        describe (a callback instance, a NumPy Generator ``random_state``, ...).
    ValueError
        When a fitted array holds NaN or infinite values.
    """
    kind, description, enc = _describe(obj)
    metadata = {"format": _container.MAGIC, "version": VERSION, "kind": kind,
                "fastfit_version": _fastfit_version(),
                "description": json.dumps(description, separators=(",", ":"),
                                          allow_nan=False)}
    _container.write_file(_container.write_bytes(enc.tensors, metadata), file)


def load(file):
    """Read an object written by ``fastfit.save``.

    Parameters
    ----------
    file : str, os.PathLike or binary file object

    Returns
    -------
    estimator, fastfit.nn.Sequential or fastfit.Trainer
        Predicts bitwise as the saved object did; an estimator's ``get_params()`` is
        the saved one's.

    Raises
    ------
    ValueError
        For anything that is not a well-formed fastfit file: truncated or oversized
        files, a corrupt header, unknown kinds or layer types, shapes, dtypes or element
        counts that do not match the description, non-finite weights. The message names
        what is wrong. Nothing is built before the whole description has been checked
        against these rules, and no code from the file is ever run.
    """
    metadata, tensors = _container.read_bytes(_container.read_file(file))
    if set(metadata) != _KEYS:
        raise ValueError(f"fastfit file: __metadata__ keys must be {sorted(_KEYS)}, got "
                         f"{sorted(metadata)}")
    if metadata["version"] != VERSION:
        raise ValueError(f"fastfit file: format version {metadata['version']!r} is not "
                         f"supported (this fastfit reads version {VERSION})")
    kind = metadata["kind"]
    if kind not in ESTIMATORS and kind not in ("Sequential", "Trainer"):
        raise ValueError(f"fastfit file: kind {kind!r} is not one fastfit writes")
    try:
        description = json.loads(metadata["description"])
    except (ValueError, RecursionError) as err:
        raise ValueError(f"fastfit file: the description is not valid JSON ({err})") from None
    tensors = {name: a if a.flags.writeable else a.copy() for name, a in tensors.items()}
    dec = Decoder(handlers()[1], tensors)
    try:
        obj = _rebuild(kind, description, dec)
    except RecursionError:
        raise ValueError("fastfit file: the description is nested too deeply") from None
    dec.finish()
    return obj


def _fastfit_version():
    import fastfit

    return fastfit.__version__


# ---- one object to (kind, description) ------------------------------------------------------
def _describe(obj):
    from fastfit import nn
    from fastfit._trainer import Trainer

    enc = Encoder(handlers()[0])
    if type(obj) is nn.Sequential:
        return "Sequential", enc.value(obj, "model"), enc
    if type(obj) is Trainer:
        return "Trainer", enc.value(obj, "trainer"), enc
    kind = type(obj).__name__
    if kind not in ESTIMATORS or type(obj) is not _estimator_class(kind):
        raise TypeError("fastfit.save writes fastfit's estimators, nn.Sequential models and "
                        f"Trainers, not {type(obj).__module__}.{type(obj).__qualname__}")
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(obj)
    params = obj.get_params(deep=False)
    state = {k: v for k, v in obj.__getstate__().items() if k not in params}
    description = {"params": enc.value(params, "params"), "state": enc.value(state, "state")}
    return kind, description, enc


# ---- (kind, description) back to an object ------------------------------------------------
def _rebuild(kind, description, dec):
    from fastfit import nn
    from fastfit._trainer import Trainer

    if kind in ("Sequential", "Trainer"):
        obj = dec.value(description, kind.lower())
        want = nn.Sequential if kind == "Sequential" else Trainer
        if type(obj) is not want:
            raise ValueError(f"fastfit file: kind {kind} describes a {type(obj).__name__}")
        return obj
    if not isinstance(description, dict) or set(description) != {"params", "state"}:
        raise ValueError("fastfit file: an estimator's description must hold exactly "
                         "'params' and 'state'")
    cls = _estimator_class(kind)
    params = dec.value(description["params"], "params")
    state = dec.value(description["state"], "state")
    names = set(cls._get_param_names())
    if not isinstance(params, dict) or set(params) != names:
        got = sorted(params, key=repr) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"fastfit file: {kind} parameters must be {sorted(names)}, got {got}")
    if not isinstance(state, dict) or not all(isinstance(k, str) and k not in names
                                              for k in state):
        raise ValueError(f"fastfit file: {kind} state must map attribute names to values")
    _check_state(kind, cls, state)
    if kind == "MLPRegressor" and "out_activation_" in state and state["out_activation_"] != (
            "exp" if params.get("loss") == "poisson" else "identity"):
        raise ValueError(f"fastfit file: out_activation_ {state['out_activation_']!r} does not "
                         f"fit loss={params.get('loss')!r}")
    try:
        est = cls(**params)
        # the constraints fit checks: prediction reads some parameters too (n_threads),
        # and a hand-edited value must not reach the C call
        validate_params(est)
    except (TypeError, ValueError) as err:
        raise ValueError(f"fastfit file: {kind} parameters: {err}") from None
    est.__setstate__(dict(state))
    return est


def _float_array(name, a, ndims):
    if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64) \
            or a.ndim not in ndims:
        raise ValueError(f"fastfit file: {name} must be a float32/float64 array with "
                         f"{' or '.join(map(str, ndims))} dimensions")
    return a


def _check_state(kind, cls, state):
    """What prediction reads, checked against itself: widths, class counts, dtypes."""
    def need(name):
        if name not in state:
            raise ValueError(f"fastfit file: {kind} state lacks {name}")
        return state[name]

    n_features = need("n_features_in_")
    if isinstance(n_features, bool) or not isinstance(n_features, int) \
            or not 1 <= n_features <= MAX_WIDTH:
        raise ValueError(f"fastfit file: n_features_in_ must be a positive int, got "
                         f"{n_features!r}")
    names = state.get("feature_names_in_")
    if names is not None and not (isinstance(names, np.ndarray) and names.shape == (n_features,)
                                  and all(isinstance(x, str) for x in names)):
        raise ValueError(f"fastfit file: feature_names_in_ must be {n_features} strings")
    classes = state.get("classes_")
    if classes is not None and not (isinstance(classes, np.ndarray) and classes.ndim == 1
                                    and len(classes) >= 1):
        raise ValueError("fastfit file: classes_ must be a non-empty 1-D array")
    if kind.startswith("MLP"):
        _check_mlp(kind, state, need, n_features, classes)
        return
    coef = _float_array("coef_", need("coef_"), (1, 2))
    # LinearRegression, Ridge and LogisticRegression predict in _dtype (SGD in coef_'s)
    if not kind.startswith("SGD") and not (isinstance(need("_dtype"), np.dtype)
                                           and state["_dtype"] == coef.dtype):
        raise ValueError(f"fastfit file: _dtype must be coef_'s dtype ({coef.dtype}), got "
                         f"{state['_dtype']!r}")
    if coef.shape[-1] != n_features:
        raise ValueError(f"fastfit file: coef_ has {coef.shape[-1]} columns, "
                         f"n_features_in_ is {n_features}")
    intercept = need("intercept_")
    if isinstance(intercept, np.ndarray):
        _float_array("intercept_", intercept, (0, 1))
        rows = 1 if coef.ndim == 1 else coef.shape[0]
        if intercept.ndim == 1 and intercept.shape[0] != rows:
            raise ValueError(f"fastfit file: intercept_ has {intercept.shape[0]} values, "
                             f"coef_ {rows} rows")
    elif isinstance(intercept, bool) or not isinstance(intercept, (float, int, np.floating)):
        raise ValueError("fastfit file: intercept_ must be a number or a float array")
    if kind in ("LogisticRegression", "SGDClassifier"):
        if classes is None or len(classes) < 2:
            raise ValueError(f"fastfit file: {kind} needs classes_ of at least 2 classes")
        rows = 1 if len(classes) == 2 else len(classes)
        if coef.ndim != 2 or coef.shape[0] != rows:
            raise ValueError(f"fastfit file: {len(classes)} classes need coef_ of {rows} "
                             f"row(s), got shape {coef.shape}")


def _check_mlp(kind, state, need, n_features, classes):
    from sklearn.preprocessing import LabelBinarizer

    from fastfit import nn
    from fastfit._trainer import Trainer

    model = need("_model")
    if type(model) is not nn.Sequential:
        raise ValueError("fastfit file: _model must be a Sequential")
    if model.n_features != n_features:
        raise ValueError(f"fastfit file: the model takes {model.n_features} features, "
                         f"n_features_in_ is {n_features}")
    if type(need("n_outputs_")) is not int or state["n_outputs_"] != model.n_outputs:
        raise ValueError(f"fastfit file: the model gives {model.n_outputs} outputs, "
                         f"n_outputs_ is {state['n_outputs_']!r}")
    if not isinstance(need("_dtype"), np.dtype) or state["_dtype"] != model.dtype:
        raise ValueError("fastfit file: _dtype differs from the model's dtype")
    linears = [layer for layer in _walk(model.layers) if type(layer) is nn.Linear]
    got = need("_linears")
    if not isinstance(got, list) or len(got) != len(linears) or any(
            a is not b for a, b in zip(got, linears)):
        raise ValueError("fastfit file: _linears must be the model's Linear layers in order")
    trainer = state.get("_trainer")
    if trainer is not None and (type(trainer) is not Trainer or trainer.model is not model):
        raise ValueError("fastfit file: _trainer must be None or a Trainer of _model")
    act = need("out_activation_")
    if kind == "MLPRegressor":
        # exp: the Poisson loss's log link (checked against the loss parameter by load)
        if act not in ("identity", "exp"):
            raise ValueError(f"fastfit file: out_activation_ {act!r} for a regressor")
        return
    lb = need("_label_binarizer")
    if type(lb) is not LabelBinarizer or classes is None \
            or not np.array_equal(lb.classes_, classes):
        raise ValueError("fastfit file: _label_binarizer must be a LabelBinarizer of classes_")
    want = {"softmax": len(classes), "logistic": 1 if lb.y_type_ == "binary" else len(classes)}
    if not isinstance(act, str) or act not in want or (act == "softmax") != (lb.y_type_ == "multiclass"):
        raise ValueError(f"fastfit file: out_activation_ {act!r} does not fit the "
                         f"{lb.y_type_} targets")
    if model.n_outputs != want[act]:
        raise ValueError(f"fastfit file: {len(classes)} classes ({lb.y_type_}) need "
                         f"{want[act]} outputs, the model gives {model.n_outputs}")


def _walk(layers):
    for layer in layers:
        yield layer
        yield from _walk(layer.sublayers())
