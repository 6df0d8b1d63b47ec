"""The seven estimators as ONNX: scores (a Gemm or the MLP's layers) plus the head that
turns them into what ``predict`` / ``predict_proba`` return.

``build`` returns ``{role: tensor name}`` with roles ``label`` and ``probabilities``
(classifiers; ``scores`` instead of probabilities for SGDClassifier losses without
``predict_proba``) or ``variable`` (regressors), each computed as fastfit computes it
(same formulas, same tie rules), in the estimator's dtype.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from fastfit.onnx._graph import labels_from, sequential, two_columns

CLASSIFIERS = ("LogisticRegression", "SGDClassifier", "MLPClassifier")
KINDS = ("LinearRegression", "Ridge", "SGDRegressor", "MLPRegressor") + CLASSIFIERS


def dtype_of(est) -> np.dtype:
    """The dtype the fitted estimator predicts in."""
    if type(est).__name__.startswith("MLP"):
        return est._model.dtype
    return np.asarray(est.coef_).dtype


def n_features_of(est) -> int:
    return int(est.n_features_in_)


def n_columns(est) -> int:
    """Width of the probabilities / variable output."""
    kind = type(est).__name__
    if kind == "MLPRegressor":
        return int(est.n_outputs_)
    if kind in CLASSIFIERS:
        return len(est.classes_)
    coef = np.asarray(est.coef_)
    return 1 if coef.ndim == 1 else coef.shape[0]


def has_proba(est) -> bool:
    return type(est).__name__ != "SGDClassifier" or est.loss in ("log_loss", "modified_huber")


def label_is_matrix(est) -> bool:
    """Multilabel MLPs predict an indicator matrix, not one label per row."""
    return (type(est).__name__ == "MLPClassifier"
            and est._label_binarizer.y_type_ == "multilabel-indicator")


def build(sink, est, x: str) -> dict:
    kind = type(est).__name__
    if kind not in KINDS:
        raise TypeError(f"no ONNX converter for {kind}")
    dtype = dtype_of(est)
    if kind.startswith("MLP"):
        return _mlp(sink, est, x, dtype)
    coef = np.asarray(est.coef_)
    w = coef.reshape(-1, coef.shape[-1]).astype(dtype)
    b = np.broadcast_to(np.asarray(est.intercept_, dtype).reshape(-1), (w.shape[0],))
    scores = sink.node("Gemm", [x, sink.const("coef", w), sink.const("intercept", b.copy())],
                       transB=1)
    if kind not in CLASSIFIERS:
        return {"variable": scores}
    binary = w.shape[0] == 1
    out = {"label": labels_from(sink, est.classes_, scores, dtype, binary, sink.name("label"))}
    if kind == "LogisticRegression":
        if binary:   # each column's sigmoid, as fastfit (1 - p would lose small values)
            neg = sink.node("Sigmoid", [sink.node("Neg", [scores])])
            out["probabilities"] = sink.node("Concat", [neg, sink.node("Sigmoid", [scores])],
                                             axis=1)
        else:
            out["probabilities"] = sink.node("Softmax", [scores], axis=1)
        return out
    if not has_proba(est):
        out["scores"] = scores
        return out
    one = sink.const("one", np.array(1, dtype))
    if est.loss == "log_loss":   # 1 / (1 + exp(-s)), fastfit's formula (not Sigmoid's)
        p = sink.node("Div", [one, sink.node("Add", [one, sink.node("Exp", [
            sink.node("Neg", [scores])])])])
    else:   # modified_huber: (clip(s, -1, 1) + 1) / 2
        clipped = sink.node("Clip", [scores, sink.const("lo", np.array(-1, dtype)),
                                     sink.const("hi", np.array(1, dtype))])
        p = sink.node("Mul", [sink.node("Add", [clipped, one]),
                              sink.const("half", np.array(0.5, dtype))])
    if binary:
        out["probabilities"] = two_columns(sink, p, dtype)
        return out
    # one-vs-rest normalised over the classes; all-zero rows become uniform
    total = sink.node("ReduceSum", [p, sink.const("axes", np.array([1], np.int64))], keepdims=1)
    zero = sink.node("Equal", [total, sink.const("zero", np.array(0, dtype))])
    p = sink.node("Where", [zero, sink.const("ones", np.array(1, dtype)), p])
    total = sink.node("Where", [zero, sink.const("k", np.array(w.shape[0], dtype)), total])
    out["probabilities"] = sink.node("Div", [p, total])
    return out


def _mlp(sink, est, x, dtype):
    raw = sequential(sink, est._model, x)
    if type(est).__name__ == "MLPRegressor":
        if est.out_activation_ == "exp":   # loss="poisson": the log link's mean
            raw = sink.node("Exp", [raw])
        return {"variable": raw}
    if est.out_activation_ == "softmax":
        return {"label": labels_from(sink, est.classes_, raw, dtype, False, sink.name("label")),
                "probabilities": sink.node("Softmax", [raw], axis=1)}
    p = sink.node("Sigmoid", [raw])
    if label_is_matrix(est):
        positive = sink.node("Greater", [raw, sink.const("zero", np.zeros((), dtype))])
        return {"label": sink.node("Cast", [positive], to=TensorProto.INT64),
                "probabilities": p}
    return {"label": labels_from(sink, est.classes_, raw, dtype, True, sink.name("label")),
            "probabilities": two_columns(sink, p, dtype)}
