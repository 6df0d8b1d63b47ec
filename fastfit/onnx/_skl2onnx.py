"""skl2onnx converters for the seven estimators, registered by ``import fastfit.onnx``.

A converter writes the same nodes as ``to_onnx`` into skl2onnx's container through a
sink that asks skl2onnx's scope for unique names. The input is cast to the estimator's
dtype when the pipeline feeds another one (a StandardScaler on float64 before a float32
MLP), and float outputs are cast to the type skl2onnx expects downstream.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, numpy_helper
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import (DoubleTensorType, FloatTensorType, Int64TensorType,
                                        StringTensorType)

from fastfit.onnx import _heads
from fastfit.onnx._graph import ONNX_TYPE


class _ContainerSink:
    """The sink interface of ``_graph`` over a skl2onnx scope and container."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def name(self, base):
        return self.scope.get_unique_variable_name(base)

    def const(self, base, value):
        name = self.name(base)
        if value.dtype.kind in "OU":
            self.container.add_initializer(name, TensorProto.STRING, list(value.shape),
                                           [str(v) for v in value.ravel()])
        else:
            self.container.add_initializer(
                name, None, None, numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op, inputs, outputs=None, **attrs):
        outputs = outputs or [self.name(op.lower())]
        self.container.add_node(op, inputs, outputs, name=self.scope.get_unique_operator_name(
            f"fastfit_{op}"), **attrs)
        return outputs[0]


def _float_type(var):
    return np.float64 if isinstance(var.type, DoubleTensorType) else np.float32


def _shape(operator):
    est = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    k = _heads.n_columns(est)
    floats = DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType) \
        else FloatTensorType
    if type(est).__name__ not in _heads.CLASSIFIERS:
        operator.outputs[0].type = floats([n, k])
        return
    if _heads.label_is_matrix(est):
        operator.outputs[0].type = Int64TensorType([n, k])
    elif np.asarray(est.classes_).dtype.kind in "iub":
        operator.outputs[0].type = Int64TensorType([n])
    else:
        operator.outputs[0].type = StringTensorType([n])
    cols = k if _heads.has_proba(est) or k > 2 else 1
    operator.outputs[1].type = floats([n, cols])


def _convert(scope, operator, container):
    est = operator.raw_operator
    sink = _ContainerSink(scope, container)
    dtype = _heads.dtype_of(est)
    x = operator.inputs[0].full_name
    if _float_type(operator.inputs[0]) != dtype:
        x = sink.node("Cast", [x], to=ONNX_TYPE[np.dtype(dtype)])
    outputs = _heads.build(sink, est, x)
    if type(est).__name__ in _heads.CLASSIFIERS:
        roles = ["label", "probabilities" if "probabilities" in outputs else "scores"]
    else:
        roles = ["variable"]
    for role, var in zip(roles, operator.outputs):
        want = None if role == "label" else _float_type(var)
        if want is not None and want != dtype:
            sink.node("Cast", [outputs[role]], [var.full_name], to=ONNX_TYPE[np.dtype(want)])
        else:
            sink.node("Identity", [outputs[role]], [var.full_name])


def register():
    """Register the converters (idempotent: skl2onnx replaces earlier registrations)."""
    import fastfit

    for name in _heads.KINDS:
        options = ({"zipmap": [True, False, "columns"], "nocl": [True, False]}
                   if name in _heads.CLASSIFIERS else None)
        update_registered_converter(getattr(fastfit, name), f"Fastfit{name}", _shape,
                                    _convert, options=options)
