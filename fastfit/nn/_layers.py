"""Layers: small descriptions that compile themselves into plan ops.

A layer holds its hyper-parameters only. Its parameters live in the model's flat
buffer; after the model is built, ``layer.weight`` and friends are NumPy views into it.
"""

from __future__ import annotations

from numbers import Real

from fastfit._lib import ACTIVATIONS, lib
from fastfit._params import Interval, check_param
from fastfit._validation import positive_int
from fastfit.nn._plan import Builder, Op

INITS = ("auto", "he_normal", "he_uniform", "glorot_normal", "glorot_uniform")


def _real(owner, name, value, interval):
    return float(check_param(owner, name, value, [interval]))


class Layer:
    """Base class. Subclasses define ``output_width`` and ``compile``."""

    _model = None
    _params: dict = {}

    def output_width(self, width: int) -> int:
        """The width this layer produces from ``width`` inputs (ValueError if wrong)."""
        return width

    def compile(self, builder: Builder, x: int, width: int) -> int:  # pragma: no cover
        raise NotImplementedError

    def _view(self, name):
        if self._model is None:
            raise AttributeError(f"{type(self).__name__}.{name}: the layer is not part of a "
                                 "built model")
        return self._model._param_view(self._params[name])

    def sublayers(self):
        """Layers nested inside this one (Residual's branch)."""
        return ()

    def __repr__(self):
        return f"{type(self).__name__}({self._repr_args()})"

    def _repr_args(self):
        return ""

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_model", None)
        state.pop("_params", None)
        return state


class Linear(Layer):
    """Fully connected layer ``y = x @ weight + bias``, weight of shape (in, out).

    Parameters
    ----------
    in_features, out_features : int
        Input and output widths.
    bias : bool, default=True
        Learn an additive bias.
    init : {"auto", "he_normal", "he_uniform", "glorot_normal", "glorot_uniform"}
        Weight initialisation; "auto" is PyTorch's default for ``nn.Linear`` (Kaiming
        uniform with a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in))); the others are
        He / Glorot with gain 1. Biases start at 0.
    """

    def __init__(self, in_features, out_features, bias=True, init="auto"):
        self.in_features = positive_int("in_features", in_features)
        self.out_features = positive_int("out_features", out_features)
        self.has_bias = bool(bias)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.init = init

    def output_width(self, width):
        if width != self.in_features:
            raise ValueError(f"{self!r} expects {self.in_features} input features, "
                             f"the layer before it gives {width}")
        return self.out_features

    def compile(self, builder, x, width):
        self.output_width(width)
        shape = (self.in_features, self.out_features)
        self._params = {"weight": builder.param(self, "weight", shape, decay=True, init="weight")}
        b = None
        if self.has_bias:
            b = self._params["bias"] = builder.param(self, "bias", (self.out_features,),
                                                     decay=False, init="zeros")
        y = builder.slot(self.out_features)
        return builder.emit(Op(lib.FF_OP_LINEAR, self.in_features, self.out_features, x, y,
                               w=self._params["weight"], b=b if b is not None else -1))

    @property
    def weight(self):
        """(in_features, out_features) view of the weights."""
        return self._view("weight")

    @property
    def bias(self):
        """(out_features,) view of the bias, or None."""
        return self._view("bias") if self.has_bias else None

    def _repr_args(self):
        extra = "" if self.has_bias else ", bias=False"
        return f"{self.in_features}, {self.out_features}{extra}"


class BatchNorm(Layer):
    """Batch normalisation over the batch rows (as ``torch.nn.BatchNorm1d``).

    Training normalises with the batch statistics and moves the running ones:
    ``running = (1 - momentum) * running + momentum * batch`` (unbiased variance);
    evaluation uses the running statistics. A batch of one row gives ``y = beta``.

    Parameters
    ----------
    num_features : int
        Width of the input.
    eps : float, default=1e-5
        Added to the variance.
    momentum : float, default=0.1
        Weight of the batch statistics in the running ones.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.num_features = positive_int("num_features", num_features)
        self.eps = _real("BatchNorm", "eps", eps, Interval(Real, 0, None, "left"))
        self.momentum = _real("BatchNorm", "momentum", momentum, Interval(Real, 0, 1, "both"))

    def output_width(self, width):
        if width != self.num_features:
            raise ValueError(f"{self!r} expects {self.num_features} features, "
                             f"the layer before it gives {width}")
        return width

    def compile(self, builder, x, width):
        self.output_width(width)
        c = self.num_features
        self._params = {"gamma": builder.param(self, "gamma", (c,), decay=False, init="ones"),
                        "beta": builder.param(self, "beta", (c,), decay=False, init="zeros")}
        self._stat = builder.stats(2 * c)
        builder.has_batchnorm = True
        y = builder.slot(c)
        return builder.emit(Op(lib.FF_OP_BATCHNORM, c, c, x, y, w=self._params["gamma"],
                               b=self._params["beta"], stat=self._stat, save=builder.save(2 * c),
                               a=self.eps, a2=self.momentum))

    @property
    def gamma(self):
        """(num_features,) view of the scale."""
        return self._view("gamma")

    @property
    def beta(self):
        """(num_features,) view of the shift."""
        return self._view("beta")

    @property
    def running_mean(self):
        """(num_features,) view of the running mean."""
        return self._model._stats_view(self._stat, self.num_features)

    @property
    def running_var(self):
        """(num_features,) view of the running (unbiased) variance."""
        return self._model._stats_view(self._stat + self.num_features, self.num_features)

    def _repr_args(self):
        return f"{self.num_features}"


class _Activation(Layer):
    name = "identity"
    alpha = 0.0

    def compile(self, builder, x, width):
        y = builder.slot(width)
        return builder.emit(Op(lib.FF_OP_ACTIVATION, width, width, x, y,
                               act=ACTIVATIONS[self.name], a=self.alpha))


class Identity(_Activation):
    """``y = x``."""


class ReLU(_Activation):
    """``y = max(x, 0)``."""

    name = "relu"


class LeakyReLU(_Activation):
    """``y = x if x > 0 else negative_slope * x``."""

    name = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        self.alpha = _real("LeakyReLU", "negative_slope", negative_slope,
                           Interval(Real, None, None))

    def _repr_args(self):
        return f"{self.alpha}"


class Tanh(_Activation):
    """``y = tanh(x)``."""

    name = "tanh"


class Sigmoid(_Activation):
    """``y = 1 / (1 + exp(-x))``."""

    name = "sigmoid"


class GELU(_Activation):
    """``y = x * Phi(x)`` (exact erf form, as ``torch.nn.GELU()``)."""

    name = "gelu"


class Dropout(Layer):
    """Inverted dropout: in training each value is zeroed with probability ``p`` and the
    rest scaled by ``1 / (1 - p)``; evaluation passes values through.

    Parameters
    ----------
    p : float, default=0.5
        Drop probability, in [0, 1).
    """

    def __init__(self, p=0.5):
        self.p = _real("Dropout", "p", p, Interval(Real, 0, 1, "left"))

    def compile(self, builder, x, width):
        y = builder.slot(width)
        return builder.emit(Op(lib.FF_OP_DROPOUT, width, width, x, y, save=builder.mask(width),
                               a=self.p))

    def _repr_args(self):
        return f"p={self.p}"


class Residual(Layer):
    """Residual block ``y = x + F(x)``, ``F`` the given layers in sequence.

    When ``F`` changes the width, the skip path becomes a learned projection
    ``x @ projection`` (no bias), as in ResNet's projection shortcuts.

    Parameters
    ----------
    *layers : Layer
        The branch ``F``; at least one layer.
    """

    def __init__(self, *layers):
        if not layers:
            raise ValueError("Residual needs at least one layer in its branch")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Residual: item {i} is not a fastfit.nn layer: {layer!r}")
        self.layers = list(layers)

    def sublayers(self):
        return tuple(self.layers)

    def output_width(self, width):
        for layer in self.layers:
            width = layer.output_width(width)
        return width

    def compile(self, builder, x, width):
        out = self.output_width(width)
        self._params = {}
        if out != width:
            self._params["projection"] = builder.param(self, "projection", (width, out),
                                                       decay=True, init="weight")
            skip = builder.slot(out)
        else:
            skip = x
        skip_op = Op(lib.FF_OP_SKIP, width, out, x, skip, w=self._params.get("projection", -1))
        builder.emit(skip_op)
        z, w = x, width
        for layer in self.layers:
            z = layer.compile(builder, z, w)
            w = layer.output_width(w)
        y = builder.slot(out)
        builder.emit(Op(lib.FF_OP_ADD, out, out, skip, y, z=z))
        builder.grad_alias[z] = y    # the add passes its gradient to the branch unchanged
        skip_op.dy_of = y
        return y

    @property
    def projection(self):
        """(in, out) view of the skip projection, or None when the widths match."""
        return self._view("projection") if "projection" in self._params else None

    def _repr_args(self):
        return ", ".join(repr(layer) for layer in self.layers)
