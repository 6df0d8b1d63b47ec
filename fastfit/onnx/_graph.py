"""ONNX nodes for fastfit's models, written into a ``Sink``.

The same code fills a standalone graph (``fastfit.onnx.to_onnx``) and a skl2onnx
container (the registered converters): a sink only knows how to make a unique name, a
constant and a node. Every function takes the name of its input tensor and returns the
names of its outputs, so the estimator graphs are the model graphs plus a head.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from fastfit import nn

ONNX_TYPE = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
             np.dtype(np.int64): TensorProto.INT64}


class GraphSink:
    """Collects nodes and initializers for a standalone ``onnx.GraphProto``."""

    def __init__(self):
        self.nodes, self.initializers, self._names = [], [], set()

    def name(self, base: str) -> str:
        name, i = base, 0
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.name(base)
        if value.dtype.kind in "OU":
            self.initializers.append(helper.make_tensor(
                name, TensorProto.STRING, value.shape, [str(v).encode() for v in value.ravel()]))
        else:
            self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list, outputs=None, **attrs) -> str:
        outputs = outputs or [self.name(op.lower())]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=self.name(f"n_{op}"),
                                           **attrs))
        return outputs[0]


# ---- layers ---------------------------------------------------------------------------------
def sequential(sink, model: nn.Sequential, x: str) -> str:
    """The model's evaluation-mode forward pass on ``x`` (N, n_features): raw outputs."""
    return _layers(sink, model.layers, x, model.n_features, model.dtype)


def _layers(sink, layers, x, width, dtype):
    for layer in layers:
        x, width = _layer(sink, layer, x, width, dtype)
    return x


def _layer(sink, layer, x, width, dtype):
    kind = type(layer)
    if kind is nn.Linear:
        w = sink.const("W", np.array(layer.weight))
        if layer.has_bias:
            return sink.node("Gemm", [x, w, sink.const("B", np.array(layer.bias))]), \
                layer.out_features
        return sink.node("MatMul", [x, w]), layer.out_features
    if kind is nn.BatchNorm:
        # inference form: the running statistics (the running variance is unbiased, as
        # torch's; the formula is the same)
        args = [x] + [sink.const(n, np.array(v)) for n, v in (
            ("gamma", layer.gamma), ("beta", layer.beta), ("mean", layer.running_mean),
            ("var", layer.running_var))]
        return sink.node("BatchNormalization", args, epsilon=float(layer.eps)), width
    if kind is nn.Residual:
        out = layer.output_width(width)
        skip = x if out == width else sink.node("MatMul", [x, sink.const(
            "P", np.array(layer.projection))])
        z = _layers(sink, layer.layers, x, width, dtype)
        return sink.node("Add", [skip, z]), out
    if kind in (nn.Dropout, nn.Identity):
        return x, width      # evaluation mode: nothing to do
    if kind is nn.ReLU:
        return sink.node("Relu", [x]), width
    if kind is nn.LeakyReLU:
        # Where, not LeakyRelu: that op's alpha is a float32 attribute, off in float64
        slope = sink.node("Mul", [x, sink.const("slope", np.array(layer.alpha, dtype))])
        positive = sink.node("Greater", [x, sink.const("zero", np.zeros((), dtype))])
        return sink.node("Where", [positive, x, slope]), width
    if kind is nn.Tanh:
        return sink.node("Tanh", [x]), width
    if kind is nn.Sigmoid:
        return sink.node("Sigmoid", [x]), width
    if kind is nn.GELU:
        # exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)); opset 17 has no Gelu op
        t = dtype.type
        scaled = sink.node("Mul", [x, sink.const("rsqrt2", np.array(t(1 / math.sqrt(2))))])
        if dtype == np.float64:
            # onnxruntime implements Erf for float32 only: float64 GELU is exact to
            # float32 rounding of erf
            erf = sink.node("Cast", [sink.node("Erf", [sink.node(
                "Cast", [scaled], to=TensorProto.FLOAT)])], to=TensorProto.DOUBLE)
        else:
            erf = sink.node("Erf", [scaled])
        one_plus = sink.node("Add", [erf, sink.const("one", np.array(t(1)))])
        half_x = sink.node("Mul", [x, sink.const("half", np.array(t(0.5)))])
        return sink.node("Mul", [half_x, one_plus]), width
    raise TypeError(f"no ONNX form for layer {type(layer).__name__}")


# ---- heads: estimator outputs from raw scores -------------------------------------------------
def labels_from(sink, classes, scores: str, dtype, binary: bool, out: str) -> str:
    """``classes_[argmax]`` (``scores > 0`` for one binary column), as fastfit predicts."""
    if binary:
        positive = sink.node("Greater", [scores, sink.const("zero", np.zeros((), dtype))])
        idx = sink.node("Reshape", [sink.node("Cast", [positive], to=TensorProto.INT64),
                                    sink.const("flat", np.array([-1], np.int64))])
    else:
        idx = sink.node("ArgMax", [scores], axis=1, keepdims=0)
    return sink.node("Gather", [class_constant(sink, classes), idx], [out], axis=0)


def class_constant(sink, classes):
    classes = np.asarray(classes)
    if classes.dtype.kind in "iub":
        return sink.const("classes", classes.astype(np.int64))
    if classes.dtype.kind in "OU" and all(isinstance(c, str) for c in classes.tolist()):
        return sink.const("classes", classes.astype(object))
    raise TypeError(f"ONNX export supports integer or string class labels, got {classes.dtype}")


def two_columns(sink, p1: str, dtype) -> str:
    """[1 - p, p] from one probability column, as fastfit's binary predict_proba."""
    one = sink.const("one", np.array(1, dtype))
    return sink.node("Concat", [sink.node("Sub", [one, p1]), p1], axis=1)
