"""Export to ONNX: ``to_onnx`` for fastfit's models, and skl2onnx converters.

``import fastfit.onnx`` needs ``pip install 'fastfit[onnx]'`` (onnx, onnxruntime,
skl2onnx); ``import fastfit`` never imports any of them. Importing this module
registers converters for the seven estimators with skl2onnx (when it is installed), so
``skl2onnx.to_onnx`` converts pipelines that contain them.

Graphs use opset 17 by default with an explicit IR version (newer onnx packages write
IR versions older onnxruntime releases refuse). Linear layers are ``Gemm`` (``MatMul``
without bias), batch norm is ``BatchNormalization`` on the running statistics, GELU
the erf formula, ``Residual`` an ``Add``, and dropout disappears (evaluation mode).
"""

from __future__ import annotations

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper
except ImportError as err:   # pragma: no cover - depends on the environment
    raise ImportError("fastfit.onnx needs the onnx package: pip install 'fastfit[onnx]'") \
        from err

from fastfit import nn
from fastfit.onnx import _heads
from fastfit.onnx._graph import ONNX_TYPE, GraphSink, sequential

__all__ = ["to_onnx", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17
_MIN_OPSET = 13   # ReduceSum with axes as an input, Softmax over one axis


def to_onnx(obj, X=None, *, n_features=None, target_opset=None) -> onnx.ModelProto:
    """An ONNX model computing what ``obj`` predicts.

    Parameters
    ----------
    obj : fitted estimator or fastfit.nn.Sequential
        One of fastfit's seven estimators, or a model (its raw outputs).
    X : array-like of shape (n_samples, n_features), optional
        Sample input; only its width is used.
    n_features : int, optional
        The input width, instead of ``X``; default: the model's.
    target_opset : int, optional
        ONNX opset (default 17, at least 13).

    Returns
    -------
    onnx.ModelProto
        One input ``X`` (batch x n_features) in the model's dtype (float32 or float64).
        Classifiers output ``label`` (the class labels; an indicator matrix for
        multilabel MLPs) and ``probabilities`` (as ``predict_proba``), as skl2onnx does
        with ``zipmap=False``; SGDClassifier losses without ``predict_proba`` output
        ``scores`` (``decision_function``, one column per binary problem) instead.
        Regressors and models output ``variable`` (n_samples x n_outputs).
        The model passes ``onnx.checker.check_model``.
    """
    opset = DEFAULT_OPSET if target_opset is None else int(target_opset)
    if opset < _MIN_OPSET:
        raise ValueError(f"target_opset must be >= {_MIN_OPSET}, got {opset}")
    if isinstance(obj, nn.Sequential):
        dtype, width, outputs = obj.dtype, obj.n_features, None
    else:
        kind = type(obj).__name__
        if kind not in _heads.KINDS or type(obj).__module__.split(".")[0] != "fastfit":
            raise TypeError("to_onnx converts fastfit's estimators and nn.Sequential models, "
                            f"not {type(obj).__qualname__}")
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(obj)
        dtype, width = _heads.dtype_of(obj), _heads.n_features_of(obj)
    width = _check_width(width, X, n_features)
    sink = GraphSink()
    x = sink.name("X")
    if isinstance(obj, nn.Sequential):
        outputs = {"variable": sequential(sink, obj, x)}
        shapes = {"variable": (ONNX_TYPE[dtype], ["N", obj.n_outputs])}
    else:
        outputs = _heads.build(sink, obj, x)
        shapes = _output_shapes(obj, dtype)
    graph_outputs = []
    for role, (elem, shape) in shapes.items():
        sink.node("Identity", [outputs[role]], [sink.name(role)])
        graph_outputs.append(helper.make_tensor_value_info(role, elem, shape))
    graph = helper.make_graph(
        sink.nodes, f"fastfit_{type(obj).__name__}",
        [helper.make_tensor_value_info(x, ONNX_TYPE[dtype], ["N", width])], graph_outputs,
        initializer=sink.initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="fastfit",
                              ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(model)
    return model


def _check_width(width, X, n_features):
    if X is not None:
        shape = np.shape(X)
        if len(shape) != 2 or shape[1] != width:
            raise ValueError(f"X must have shape (n_samples, {width}), got {shape}")
    if n_features is not None and int(n_features) != width:
        raise ValueError(f"n_features={n_features} but the model takes {width} features")
    return width


def _output_shapes(est, dtype):
    """role -> (ONNX element type, shape) of the graph's outputs."""
    k = _heads.n_columns(est)
    floats = ONNX_TYPE[dtype]
    if type(est).__name__ not in _heads.CLASSIFIERS:
        return {"variable": (floats, ["N", k])}
    if _heads.label_is_matrix(est):
        label = (TensorProto.INT64, ["N", k])
    elif np.asarray(est.classes_).dtype.kind in "iub":
        label = (TensorProto.INT64, ["N"])
    else:
        label = (TensorProto.STRING, ["N"])
    if not _heads.has_proba(est):
        cols = 1 if k == 2 else k
        return {"label": label, "scores": (floats, ["N", cols])}
    return {"label": label, "probabilities": (floats, ["N", k])}


def _register():
    try:
        import skl2onnx  # noqa: F401
    except ImportError:
        return
    from fastfit.onnx import _skl2onnx

    _skl2onnx.register()


_register()
