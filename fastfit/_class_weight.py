"""The one class-weight rule of fastfit: the estimators' ``class_weight=`` and the
classification losses' (``fastfit.losses.CrossEntropy(class_weight=...)``).

It computes what scikit-learn's ``compute_class_weight`` does, from class indices rather
than labels (no LabelEncoder pass: ~0.1 ms of a small fit), and also serves classes that
are absent from y (a partial_fit chunk, an MLP whose ``classes=`` lists more than the
data): "balanced" gives them weight 0, as they have no rows to weigh.
"""

from __future__ import annotations

import math

import numpy as np


def check_class_weight(class_weight) -> None:
    """ValueError unless ``class_weight`` is None, "balanced" or a dict."""
    if not (class_weight is None or isinstance(class_weight, dict)
            or (isinstance(class_weight, str) and class_weight == "balanced")):
        raise ValueError("class_weight must be None, 'balanced' or a dict {class: weight}, "
                         f"got {class_weight!r}")


def class_weights(class_weight, classes, y_index, sample_weight=None) -> np.ndarray:
    """Weight of each class, float64 of ``len(classes)``.

    Parameters
    ----------
    class_weight : None, "balanced" or dict
        None: all ones. "balanced": ``total / (n_present * class_total)`` for the classes
        present in ``y_index``, totals counted in rows or, with ``sample_weight``, in
        weight (scikit-learn's rule); 0 for absent classes. A dict maps class labels
        (elements of ``classes``) to finite non-negative weights; unlisted classes weigh
        1, and a key that is no class is an error unless every class is listed
        (scikit-learn's rule: a fold missing a class keeps working).
    classes : array-like
        The class labels, in the order of the returned weights.
    y_index : ndarray of int
        Each row's class as an index into ``classes``.
    sample_weight : ndarray or None
        Row weights for "balanced" totals.
    """
    check_class_weight(class_weight)
    n_classes = len(classes)
    if class_weight is None:
        return np.ones(n_classes)
    if isinstance(class_weight, str):   # "balanced"
        totals = np.bincount(y_index, weights=sample_weight, minlength=n_classes)
        totals = totals.astype(np.float64, copy=False)
        present = np.bincount(y_index, minlength=n_classes) > 0
        weights = np.zeros(n_classes)
        weights[present] = totals[present].sum() / (present.sum() * totals[present])
        return weights
    weights = np.ones(n_classes)
    listed = 0
    for i, label in enumerate(classes):
        key = label.item() if isinstance(label, np.generic) else label
        if key in class_weight:
            value = class_weight[key]
            try:
                value = float(value)
            except (TypeError, ValueError):
                value = math.nan
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"class_weight[{key!r}] must be a finite number >= 0, "
                                 f"got {class_weight[key]!r}")
            weights[i] = value
            listed += 1
    if listed < n_classes and listed != len(class_weight):
        unlisted = [c.item() if isinstance(c, np.generic) else c for c in classes
                    if (c.item() if isinstance(c, np.generic) else c) not in class_weight]
        raise ValueError(f"The classes, {unlisted}, are not in class_weight (its keys "
                         f"{list(class_weight)} must be classes of y: {list(classes)})")
    return weights
