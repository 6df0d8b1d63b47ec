"""The allow-list: every object type a fastfit file may describe, and how.

Each ``Handler`` names an exact class (subclasses are not accepted), the fields it
writes (in a fixed order, which the reader also follows) and a ``decode`` that checks
the decoded field values before it builds anything from them. A ``Sequential``'s
parameter and statistics counts are computed from its layer descriptions and compared
with the tensors' element counts before the model (and its buffers) is allocated.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from fastfit import losses as _losses
from fastfit import nn
from fastfit import optim as _optim
from fastfit._trainer import Trainer
from fastfit.history import History

MAX_LAYERS = 10_000
MAX_WIDTH = 1 << 31


class Handler:
    """How one allow-listed class is written and read back.

    Parameters
    ----------
    name : str
        The kind written to the file (``"nn.Linear"``).
    cls : type
        The exact class.
    fields : tuple of str
        Field names, in the order written and read.
    get : callable, optional
        ``obj -> {field: value}``; default: the attributes of the same names.
    build : callable
        ``{field: value} -> obj``; raises TypeError/ValueError for bad values.
    nonfinite : tuple of str
        Fields where NaN/inf floats are legitimate (elsewhere they are rejected).
    """

    def __init__(self, name, cls, fields, build, get=None, nonfinite=()):
        self.name, self.cls, self.fields = name, cls, tuple(fields)
        self._build, self._get, self.nonfinite = build, get, set(nonfinite)

    def encode(self, obj, enc, path):
        raw = self._get(obj) if self._get else {f: getattr(obj, f) for f in self.fields}
        return {f: enc.value(raw[f], f"{path}.{f}") for f in self.fields}

    def decode(self, values, path):
        for key, v in values.items():
            if key not in self.nonfinite and _has_nonfinite(v):
                raise ValueError(f"{path}.{key}: must be finite")
        try:
            return self._build(values)
        except (TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"{path}: {err}") from None


def _has_nonfinite(v):
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, (list, tuple)):
        return any(_has_nonfinite(x) for x in v)
    return False


def _int(name, v, low=0, high=1 << 63):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not low <= v < high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}), got {v!r}")
    return int(v)


def _bool(name, v):
    if not isinstance(v, bool):
        raise ValueError(f"{name} must be a bool, got {v!r}")
    return v


# ---- layers and models ------------------------------------------------------------------
def _layers_list(name, layers):
    if not isinstance(layers, list) or not layers or len(layers) > MAX_LAYERS:
        raise ValueError(f"{name} must be a list of 1 to {MAX_LAYERS} layers")
    for layer in layers:
        if not isinstance(layer, nn.Layer) or layer._model is not None:
            raise ValueError(f"{name} holds {type(layer).__name__}, not a new layer")
    return layers


def _counts(layers, width):
    """(parameters, statistics, output width) the layers need from ``width`` inputs,
    ValueError where widths do not chain; arithmetic only, nothing allocated."""
    params = stats = 0
    for layer in layers:
        kind = type(layer)
        if kind is nn.Linear:
            if width != layer.in_features:
                raise ValueError(f"{layer!r} gets {width} input features")
            params += layer.in_features * layer.out_features + layer.out_features * layer.has_bias
            width = layer.out_features
        elif kind is nn.BatchNorm:
            if width != layer.num_features:
                raise ValueError(f"{layer!r} gets {width} features")
            params += 2 * width
            stats += 2 * width
        elif kind is nn.Residual:
            p, s, out = _counts(layer.layers, width)
            params += p + (width * out if out != width else 0)
            stats += s
            width = out
        if width > MAX_WIDTH:
            raise ValueError(f"layer width {width} exceeds {MAX_WIDTH}")
    return params, stats, width


def _flat(name, a, n, dtype):
    if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype != dtype or a.size != n:
        got = (f"{a.dtype} array of shape {a.shape}" if isinstance(a, np.ndarray)
               else type(a).__name__)
        raise ValueError(f"{name} must be a ({n},) {dtype} array, got {got}")
    return a


def _build_sequential(v):
    layers = _layers_list("layers", v["layers"])
    dtype = v["dtype"]
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    n_features = _int("n_features", v["n_features"], 1, MAX_WIDTH + 1)
    rs = v["random_state"]
    if rs is not None and not isinstance(rs, np.random.RandomState):
        _int("random_state", rs)
    n_params, n_stats, _ = _counts(layers, n_features)
    params = _flat("params", v["params"], n_params, dtype)
    stats = _flat("stats", v["stats"], n_stats, dtype)
    seen = set()
    for layer in _walk(layers):
        if id(layer) in seen:
            raise ValueError(f"the layer {layer!r} appears twice")
        seen.add(id(layer))
    # the unpickling path: builds the plan and copies the buffers without running the
    # weight initialisation first (which cost ~40% of a load)
    model = nn.Sequential.__new__(nn.Sequential)
    model.__setstate__({"layers": layers, "dtype": dtype.str, "n_features": n_features,
                        "random_state": rs, "params": params, "stats": stats})
    return model


def _walk(layers):
    for layer in layers:
        yield layer
        yield from _walk(layer.sublayers())


def _get_sequential(m):
    return {"layers": m.layers, "dtype": m.dtype, "n_features": m.n_features,
            "random_state": m.random_state, "params": m.params, "stats": m.stats}


def _layer_handlers():
    out = [
        Handler("nn.Linear", nn.Linear, ("in_features", "out_features", "bias", "init"),
                lambda v: nn.Linear(_int("in_features", v["in_features"], 1),
                                    _int("out_features", v["out_features"], 1),
                                    bias=_bool("bias", v["bias"]), init=v["init"]),
                get=lambda m: {"in_features": m.in_features, "out_features": m.out_features,
                               "bias": m.has_bias, "init": m.init}),
        Handler("nn.BatchNorm", nn.BatchNorm, ("num_features", "eps", "momentum"),
                lambda v: nn.BatchNorm(_int("num_features", v["num_features"], 1),
                                       eps=v["eps"], momentum=v["momentum"])),
        Handler("nn.LeakyReLU", nn.LeakyReLU, ("negative_slope",),
                lambda v: nn.LeakyReLU(v["negative_slope"]),
                get=lambda m: {"negative_slope": m.alpha}),
        Handler("nn.Dropout", nn.Dropout, ("p",), lambda v: nn.Dropout(v["p"])),
        Handler("nn.Residual", nn.Residual, ("layers",),
                lambda v: nn.Residual(*_layers_list("layers", v["layers"]))),
        Handler("nn.Sequential", nn.Sequential,
                ("layers", "dtype", "n_features", "random_state", "params", "stats"),
                _build_sequential, get=_get_sequential),
    ]
    for cls in (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.Identity):
        out.append(Handler(f"nn.{cls.__name__}", cls, (), lambda v, cls=cls: cls()))
    return out


# ---- optimizers, schedules, losses --------------------------------------------------------
_COMMON = ("lr", "weight_decay", "l1", "clip_norm", "schedule", "decay_all")
_OPTIM_FIELDS = {_optim.SGD: _COMMON + ("momentum", "nesterov"),
                 _optim.RMSProp: _COMMON + ("alpha", "eps", "momentum"),
                 _optim.Adam: _COMMON + ("betas", "eps"),
                 _optim.AdamW: _COMMON + ("betas", "eps")}


def _optimizer_handler(name, cls, base, sklearn):
    fields = _OPTIM_FIELDS[base] + (("l2_loss",) if sklearn else ())

    def get(opt):
        extra = set(vars(opt)) - set(fields) - {"n_slots"}
        if extra:
            raise TypeError(f"cannot save {type(opt).__name__}: unknown attributes "
                            f"{sorted(extra)}")
        return {f: getattr(opt, f) for f in fields}

    def build(v):
        if not isinstance(v["schedule"], _optim.Schedule):
            raise ValueError("schedule must be a fastfit.optim schedule")
        kwargs = {k: v[k] for k in _OPTIM_FIELDS[base]}
        if not isinstance(kwargs["betas"] if "betas" in kwargs else (), tuple):
            raise ValueError("betas must be a tuple")
        opt = cls(**kwargs)
        if sklearn:
            l2 = v["l2_loss"]
            if isinstance(l2, bool) or not isinstance(l2, (int, float)) or l2 < 0:
                raise ValueError(f"l2_loss must be a number >= 0, got {l2!r}")
            opt.l2_loss = float(l2)
        return opt

    return Handler(name, cls, fields, build, get=get)


_SCHEDULE_FIELDS = {
    _optim.Constant: (), _optim.StepDecay: ("step_size", "gamma"),
    _optim.Exponential: ("gamma",), _optim.Cosine: ("warmup_epochs", "epochs", "min_factor"),
    _optim.InverseScaling: ("power_t",),
    _optim.ReduceOnPlateau: ("monitor", "factor", "patience", "min_delta", "mode", "cooldown",
                             "min_factor")}
# ReduceOnPlateau's running state, checked then set after construction
_PLATEAU_STATE = ("_scale", "_best", "_bad", "_cool")


def _real(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{name} must be a number, got {v!r}")
    return v


def _schedule_handler(cls):
    public = _SCHEDULE_FIELDS[cls]
    fields = public + (_PLATEAU_STATE if cls is _optim.ReduceOnPlateau else ())

    def build(v):
        for key in public:
            if key not in ("monitor", "mode", "epochs"):
                _real(key, v[key])
        if cls is _optim.ReduceOnPlateau and not isinstance(v["monitor"], str):
            raise ValueError("monitor must be a string")
        sched = cls(**{k: v[k] for k in public})
        if cls is _optim.ReduceOnPlateau:
            if not 0 < _real("_scale", v["_scale"]) <= 1:
                raise ValueError(f"_scale must be in (0, 1], got {v['_scale']}")
            if v["_best"] is not None:
                _real("_best", v["_best"])
            sched._scale, sched._best = float(v["_scale"]), v["_best"]
            sched._bad, sched._cool = _int("_bad", v["_bad"]), _int("_cool", v["_cool"])
        return sched

    return Handler(f"optim.{cls.__name__}", cls, fields, build)


def _loss_handlers():
    def class_weight(v):
        cw = v["class_weight"]
        if isinstance(cw, dict):
            for key, w in cw.items():
                _int("class_weight key", key)
                _real(f"class_weight[{key}]", w)
        return cw

    return [
        Handler("losses.MSE", _losses.MSE, (), lambda v: _losses.MSE()),
        Handler("losses.Poisson", _losses.Poisson, (), lambda v: _losses.Poisson()),
        Handler("losses.Huber", _losses.Huber, ("delta",),
                lambda v: _losses.Huber(_real("delta", v["delta"]))),
        Handler("losses.BinaryCrossEntropy", _losses.BinaryCrossEntropy, ("class_weight",),
                lambda v: _losses.BinaryCrossEntropy(class_weight(v))),
        Handler("losses.CrossEntropy", _losses.CrossEntropy, ("class_weight",),
                lambda v: _losses.CrossEntropy(class_weight(v))),
    ]


# ---- history, trainer ---------------------------------------------------------------------
def _build_history(v):
    rows = v["rows"]
    if not isinstance(rows, list):
        raise ValueError("rows must be a list")
    for row in rows:
        if not isinstance(row, dict) or not all(
                isinstance(k, str) and (x is None or (isinstance(x, (int, float))
                                                      and not isinstance(x, bool)))
                for k, x in row.items()):
            raise ValueError("each history row must map names to numbers")
    h = History()
    h.rows = [dict(r) for r in rows]
    return h


_TRAINER_FIELDS = ("model", "loss", "optimizer", "epochs", "batch_size", "shuffle",
                   "random_state", "n_threads", "verbose", "device", "history", "epoch_",
                   "step_", "stop_training", "seeds", "slots")


def _get_trainer(t):
    # Callbacks are code, not data: they are not written (a loaded trainer has none).
    rs = t.random_state
    seeds, slots = t.training_state()
    if isinstance(rs, np.random.Generator):
        if seeds is None:
            raise TypeError("cannot save a Trainer whose random_state is a NumPy Generator "
                            "before it has trained; pass an int random_state")
        rs = None   # the seeds derived from it are saved and are all that is used
    return {"model": t.model, "loss": t.loss, "optimizer": t.optimizer, "epochs": t.epochs,
            "batch_size": t.batch_size, "shuffle": t.shuffle, "random_state": rs,
            "n_threads": t.n_threads, "verbose": t.verbose,
            "device": getattr(t, "device", "cpu"), "history": t.history, "epoch_": t.epoch_,
            "step_": t.step_, "stop_training": t.stop_training,
            "seeds": seeds, "slots": slots}


def _build_trainer(v):
    model, loss, opt, history = v["model"], v["loss"], v["optimizer"], v["history"]
    if not isinstance(model, nn.Sequential):
        raise ValueError("model must be a Sequential")
    if not isinstance(loss, _losses.Loss) or not isinstance(opt, _optim.Optimizer):
        raise ValueError("loss and optimizer must be fastfit objects")
    if not isinstance(history, History):
        raise ValueError("history must be a History")
    if v["device"] not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {v['device']!r}")
    rs = v["random_state"]
    if rs is not None and not isinstance(rs, np.random.RandomState):
        _int("random_state", rs)
    seeds = v["seeds"]
    if seeds is not None:
        if not isinstance(seeds, list) or len(seeds) != 3:
            raise ValueError("seeds must be a list of three integers")
        seeds = [_int("seed", s, 0, 1 << 64) for s in seeds]
    slots = v["slots"]
    if slots is not None:
        if not isinstance(slots, list) or len(slots) > 2:
            raise ValueError("slots must be a list of at most two arrays")
        for i, s in enumerate(slots):
            _flat(f"slots[{i}]", s, model.n_params, model.dtype)
        if len(slots) < opt.n_slots:
            raise ValueError(f"the optimizer needs {opt.n_slots} state slots, the file has "
                             f"{len(slots)}")
        slots = [np.array(s) for s in slots]
    trainer = Trainer(model, loss, opt, epochs=_int("epochs", v["epochs"], 1),
                      batch_size=_int("batch_size", v["batch_size"], 1),
                      shuffle=_bool("shuffle", v["shuffle"]), random_state=rs,
                      n_threads=None if v["n_threads"] is None else _int("n_threads",
                                                                          v["n_threads"], 1),
                      verbose=_bool("verbose", v["verbose"]))
    trainer.device = v["device"]   # checked (GPU present) by the next fit, not by load
    trainer.history = history
    trainer.epoch_ = _int("epoch_", v["epoch_"])
    trainer.step_ = _int("step_", v["step_"])
    trainer.stop_training = _bool("stop_training", v["stop_training"])
    trainer.set_training_state(seeds, slots)
    return trainer


# ---- scikit-learn helpers -------------------------------------------------------------------
def _sklearn_handlers():
    from sklearn.preprocessing import LabelBinarizer

    lb_fields = ("neg_label", "pos_label", "sparse_output", "y_type_", "sparse_input_",
                 "classes_")

    def get_lb(lb):
        extra = set(vars(lb)) - set(lb_fields)
        if extra:
            raise TypeError(f"cannot save LabelBinarizer attributes {sorted(extra)}")
        return {f: getattr(lb, f) for f in lb_fields}

    def build_lb(v):
        lb = LabelBinarizer(neg_label=_int("neg_label", v["neg_label"], -(1 << 31)),
                            pos_label=_int("pos_label", v["pos_label"], -(1 << 31)),
                            sparse_output=_bool("sparse_output", v["sparse_output"]))
        if v["y_type_"] not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"y_type_ {v['y_type_']!r} is not a supported target type")
        classes = v["classes_"]
        if not isinstance(classes, np.ndarray) or classes.ndim != 1:
            raise ValueError("classes_ must be a 1-D array")
        lb.y_type_, lb.classes_ = v["y_type_"], classes
        lb.sparse_input_ = _bool("sparse_input_", v["sparse_input_"])
        return lb

    def get_rs(rs):
        name, keys, pos, has_gauss, cached = rs.get_state(legacy=True)
        return {"keys": keys, "pos": int(pos), "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached)}

    def build_rs(v):
        keys = v["keys"]
        if not (isinstance(keys, np.ndarray) and keys.shape == (624,)
                and keys.dtype == np.uint32):
            raise ValueError("keys must be a (624,) uint32 array")
        rs = np.random.RandomState()
        rs.set_state(("MT19937", keys, _int("pos", v["pos"], 0, 625),
                      _int("has_gauss", v["has_gauss"], 0, 2),
                      float(_real("cached_gaussian", v["cached_gaussian"]))))
        return rs

    return [Handler("sklearn.LabelBinarizer", LabelBinarizer, lb_fields, build_lb, get=get_lb),
            Handler("numpy.RandomState", np.random.RandomState,
                    ("keys", "pos", "has_gauss", "cached_gaussian"), build_rs, get=get_rs)]


def _mlp_optimizers():
    from fastfit._estimators import _mlp

    return [_optimizer_handler(f"mlp.{cls.__name__}", cls, base, True)
            for base, cls in _mlp._SK_OPTIMIZERS.items()]


_TABLE = None


def handlers():
    """(by type, by name): the allow-list, built on first use."""
    global _TABLE
    if _TABLE is None:
        hs = _layer_handlers() + _loss_handlers() + _sklearn_handlers() + _mlp_optimizers()
        hs += [_optimizer_handler(f"optim.{c.__name__}", c, c, False) for c in _OPTIM_FIELDS]
        hs += [_schedule_handler(c) for c in _SCHEDULE_FIELDS]
        hs += [Handler("History", History, ("rows",), _build_history,
                       nonfinite=("rows",)),
               Handler("Trainer", Trainer, _TRAINER_FIELDS, _build_trainer, get=_get_trainer)]
        _TABLE = ({h.cls: h for h in hs}, {h.name: h for h in hs})
    return _TABLE
