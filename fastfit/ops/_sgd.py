"""scikit-learn's per-sample SGD for linear models, one epoch per native call.

The estimators ``fastfit.SGDClassifier`` / ``fastfit.SGDRegressor`` drive these; they are
public so that a custom loop (or a test) can run epochs itself. A fit is a set of K
independent problems (the one-vs-all columns of a multiclass classifier; K = 1 for a
binary classifier or a regression) sharing one :func:`sgd_config`; each problem's scalar
state (intercept, scale of the weights, schedule position, averages) lives in a
:func:`sgd_state` array of C structs, its weights in row k of ``w``.

The weights are kept as ``w = wscale * v`` between epochs (``v`` is the array you pass):
call :func:`sgd_finish` once the epochs are done to fold the scale (and the averages)
back into the arrays.
"""

from __future__ import annotations

import numbers

import numpy as np

from fastfit._lib import (check_status, ffi, float_array, index_array, inplace_dtype, kernel,
                          lib, out_array, ptr)

__all__ = ["SGD_LOSSES", "SGD_PENALTIES", "SGD_SCHEDULES", "sgd_config", "sgd_state",
           "sgd_epoch", "sgd_runner", "sgd_finish", "sgd_dloss", "shuffle_sklearn"]

#: Loss names (scikit-learn's), mapped to ``enum ff_sgd_loss``; perceptron is the hinge
#: with threshold 0.
SGD_LOSSES = {
    "hinge": lib.FF_SGD_HINGE,
    "perceptron": lib.FF_SGD_HINGE,
    "squared_hinge": lib.FF_SGD_SQUARED_HINGE,
    "log_loss": lib.FF_SGD_LOG,
    "modified_huber": lib.FF_SGD_MODIFIED_HUBER,
    "squared_error": lib.FF_SGD_SQUARED_ERROR,
    "huber": lib.FF_SGD_HUBER,
    "epsilon_insensitive": lib.FF_SGD_EPSILON_INSENSITIVE,
    "squared_epsilon_insensitive": lib.FF_SGD_SQUARED_EPSILON_INSENSITIVE,
}
#: Penalty names mapped to ``enum ff_sgd_penalty`` (scikit-learn's codes).
SGD_PENALTIES = {None: lib.FF_SGD_NO_PENALTY, "l1": lib.FF_SGD_L1, "l2": lib.FF_SGD_L2,
                 "elasticnet": lib.FF_SGD_ELASTICNET}
#: Learning-rate schedules mapped to ``enum ff_sgd_schedule`` (scikit-learn's codes).
SGD_SCHEDULES = {"constant": lib.FF_SGD_CONSTANT, "optimal": lib.FF_SGD_OPTIMAL,
                 "invscaling": lib.FF_SGD_INVSCALING, "adaptive": lib.FF_SGD_ADAPTIVE,
                 "pa1": lib.FF_SGD_PA1, "pa2": lib.FF_SGD_PA2}


def _code(table: dict, name: str, value) -> int:
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ValueError(f"{name} must be one of {sorted(table, key=str)}, got {value!r}") from None


def sgd_config(loss, *, loss_param=1.0, penalty="l2", alpha=1e-4, l1_ratio=0.15,
               learning_rate="optimal", eta0=0.01, power_t=0.5, optimal_init=0.0, average=0,
               fit_intercept=True, objective=True, shuffle=False, seed=0):
    """The settings every problem of one fit shares, as a ``ff_sgd_config *``.

    Parameters
    ----------
    loss : str
        A key of :data:`SGD_LOSSES`.
    loss_param : float
        Hinge threshold (1 for hinge, 0 for perceptron), Huber delta or epsilon.
    penalty : {"l2", "l1", "elasticnet", None}
    alpha, l1_ratio, eta0, power_t : float
        As scikit-learn's SGD estimators.
    learning_rate : str
        A key of :data:`SGD_SCHEDULES`.
    optimal_init : float
        ``1 / (initial_eta0 * alpha)`` for the 'optimal' schedule.
    average : int
        0 for no averaging, else average from ``t >= average``.
    fit_intercept, objective, shuffle : bool
        Whether to learn the intercept, to sum the objective (for the tol rule), and to
        shuffle the row order (Philox, ``seed``, stream = epoch) before each epoch.
    seed : int
        uint64 seed of the shuffle.

    Returns
    -------
    config : cffi ``ff_sgd_config *``
    """
    c = ffi.new("ff_sgd_config *")
    c.loss = _code(SGD_LOSSES, "loss", loss)
    c.penalty = _code(SGD_PENALTIES, "penalty", penalty)
    c.schedule = _code(SGD_SCHEDULES, "learning_rate", learning_rate)
    c.fit_intercept = bool(fit_intercept)
    c.objective = bool(objective)
    c.shuffle = bool(shuffle)
    c.loss_param = float(loss_param)
    c.alpha = float(alpha)
    c.l1_ratio = float(l1_ratio)
    c.eta0 = float(eta0)
    c.power_t = float(power_t)
    c.optimal_init = float(optimal_init)
    c.average = float(average)
    c.seed = int(seed) % (1 << 64)
    return c


def sgd_state(w, intercept, *, t=1.0, eta=0.01, weight_pos=None, weight_neg=None,
              labels=None, avg_intercept=None):
    """Fresh per-problem states for the weights ``w`` (K, D), as scikit-learn's
    WeightVector at the start of a fit/partial_fit call.

    Parameters
    ----------
    w : ndarray of shape (K, D)
        Initial weights (their norms seed the objective's penalty term).
    intercept : array-like of shape (K,)
    t : float
        Schedule position (scikit-learn's ``t_``, 1 for a fresh fit).
    eta : float
        The rate of the 'constant' / 'adaptive' schedules.
    weight_pos, weight_neg : array-like of shape (K,) or None
        Class weights of targets > 0 and <= 0 (default 1).
    labels : array-like of int, shape (K,) or None
        The positive label of each problem (classification with integer labels).
    avg_intercept : array-like of shape (K,) or None
        Averaged intercepts carried over (default 0).

    Returns
    -------
    state : cffi ``ff_sgd_state[K]``
    """
    w = np.asarray(w)
    k = w.shape[0]
    st = ffi.new("ff_sgd_state[]", k)
    ones = np.ones(k)
    intercept = np.broadcast_to(np.asarray(intercept, np.float64), (k,))
    wp = ones if weight_pos is None else np.broadcast_to(np.asarray(weight_pos, np.float64), (k,))
    wn = ones if weight_neg is None else np.broadcast_to(np.asarray(weight_neg, np.float64), (k,))
    ai = np.zeros(k) if avg_intercept is None else np.broadcast_to(
        np.asarray(avg_intercept, np.float64), (k,))
    for i in range(k):
        s = st[i]
        s.intercept = float(intercept[i])
        s.avg_intercept = float(ai[i])
        s.t = float(t)
        s.eta = float(eta)
        s.wscale = 1.0
        s.avg_a = 0.0
        s.avg_b = 1.0
        s.sq_norm = float(np.dot(w[i], w[i]))
        s.l1_norm = float(np.abs(w[i]).sum())
        s.u = 0.0
        s.weight_pos = float(wp[i])
        s.weight_neg = float(wn[i])
        s.label = int(labels[i]) if labels is not None else 0
        s.active = 1
        s.nonfinite = 0
    return st


def sgd_epoch(w, state, config, x, order, *, y=None, labels=None, sample_weight=None,
              aw=None, q=None, epoch=0, n_threads=None) -> None:
    """One epoch of per-sample SGD over the rows ``order`` for every active problem.

    Parameters
    ----------
    w : ndarray of shape (K, D), float32 or float64
        The scaled weights ``v`` (``w = wscale * v``), updated in place; the call follows
        its dtype.
    state : cffi ``ff_sgd_state[K]`` from :func:`sgd_state`, updated in place.
    config : cffi ``ff_sgd_config *`` from :func:`sgd_config`.
    x : ndarray of shape (N, D)
    order : ndarray of shape (M,), int64
        Rows to visit, each in ``[0, N)``; shuffled in place first when the config says so.
    y : ndarray of shape (N,) or None
        Regression targets (exactly one of ``y`` / ``labels``).
    labels : ndarray of shape (N,), int or None
        Class labels; problem k treats ``labels == state[k].label`` as positive.
    sample_weight : ndarray of shape (N,) or None
    aw : ndarray of shape (K, D) or None
        Averaged weights (required when ``config.average > 0``).
    q : ndarray of shape (K, D) or None
        L1 bookkeeping, zeros at the start of a call sequence (required for l1/elasticnet).
    epoch : int
        The shuffle's stream.
    n_threads : int or None
        Threads across problems (None: the caller's OpenMP setting).

    Raises
    ------
    FloatingPointError
        If a problem's weights or intercept became NaN/inf (``state[k].nonfinite``).
    """
    sgd_runner(w, state, config, x, order, y=y, labels=labels, sample_weight=sample_weight,
               aw=aw, q=q, n_threads=n_threads)(epoch)


def sgd_runner(w, state, config, x, order, *, y=None, labels=None, sample_weight=None,
               aw=None, q=None, n_threads=None):
    """Check the arguments of :func:`sgd_epoch` once and return ``run(epoch)``, which runs
    one epoch with them (the arrays are updated in place as by :func:`sgd_epoch`). For a
    loop over many epochs: the per-epoch cost is then one native call."""
    dtype = inplace_dtype("w", w)
    if w.ndim != 2:
        raise ValueError(f"w must be 2-D (K, D), got shape {w.shape}")
    k, d = w.shape
    out_array("w", w, dtype, (k, d))
    x = float_array("x", x, dtype=dtype, ndim=2)
    if x.shape[1] != d:
        raise ValueError(f"x has {x.shape[1]} columns but w has {d}")
    n = x.shape[0]
    if not isinstance(order, np.ndarray) or order.dtype != np.int64 or order.ndim != 1:
        raise TypeError("order must be a 1-D int64 ndarray (it is shuffled in place)")
    out_array("order", order, np.int64, order.shape)
    if (y is None) == (labels is None):
        raise ValueError("pass exactly one of y (regression) and labels (classification)")
    if y is not None:
        y = float_array("y", y, dtype=dtype, shape=(n,))
    if labels is not None:
        labels = index_array("labels", labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
    if sample_weight is not None:
        sample_weight = float_array("sample_weight", sample_weight, dtype=dtype, shape=(n,))
    if aw is not None:
        out_array("aw", aw, dtype, (k, d))
    if q is not None:
        out_array("q", q, dtype, (k, d))
    if len(state) != k:
        raise ValueError(f"state has {len(state)} problems but w has {k} rows")
    nt = 0 if n_threads is None else int(n_threads)
    fn = kernel("sgd_epoch", dtype)
    args = (ptr(w), ptr(aw), ptr(q), state, config, ptr(x), ptr(y), ptr(labels),
            ptr(sample_weight), ptr(order), n, d, k, order.shape[0])
    keep = (w, aw, q, x, y, labels, sample_weight, order)  # the pointers' owners

    def run(epoch: int = 0) -> None:
        status = fn(*args, int(epoch) % (1 << 64), nt)
        if status != lib.FF_OK:
            check_status(status, "sgd_epoch")

    run.arrays = keep
    return run


def sgd_finish(w, state, aw=None) -> None:
    """Fold each problem's scale into ``w`` (and its averages into ``aw``), in place:
    afterwards ``w`` holds the weights and ``aw`` the averaged weights."""
    dtype = inplace_dtype("w", w)
    k, d = w.shape
    out_array("w", w, dtype, (k, d))
    if aw is not None:
        out_array("aw", aw, dtype, (k, d))
    if len(state) != k:
        raise ValueError(f"state has {len(state)} problems but w has {k} rows")
    check_status(kernel("sgd_finish", dtype)(ptr(w), ptr(aw), state, d, k), "sgd_finish")


def sgd_dloss(loss: str, loss_param: float, y: float, p: float) -> float:
    """d loss / d p at prediction ``p`` and target ``y``: the C epoch's own derivative
    (scikit-learn's ``py_dloss``). ``loss`` is a key of :data:`SGD_LOSSES`; ``y`` is in
    {-1, 1} for the margin losses, {0, 1} for "log_loss"."""
    if loss not in SGD_LOSSES:
        raise ValueError(f"loss must be one of {sorted(SGD_LOSSES)}, got {loss!r}")
    out = ffi.new("double *")
    check_status(lib.ff_sgd_gradient(out, SGD_LOSSES[loss], float(loss_param), float(y),
                                     float(p)), "sgd_dloss")
    return out[0]


def shuffle_sklearn(perm, seed):
    """Permute ``perm`` in place as scikit-learn's SGD shuffles its rows each epoch.

    scikit-learn's ``SequentialDataset.shuffle``: Fisher-Yates from the front with its
    xorshift generator ``our_rand_r``, restarted from ``seed`` on every call and applied
    to the previous order. Calling this once per epoch on the same array with the same
    seed gives scikit-learn's row order of every epoch.

    Parameters
    ----------
    perm : ndarray of shape (n,), int64
        C-contiguous, writeable, ``n < 2**31``; permuted in place.
    seed : int
        ``0 <= seed < 2**32`` (0 acts as 1, as in scikit-learn).

    Returns
    -------
    perm : ndarray
        The same array.
    """
    if not isinstance(perm, np.ndarray) or perm.ndim != 1:
        raise ValueError("perm must be a 1-D NumPy array (it is permuted in place)")
    perm = out_array("perm", perm, np.int64, perm.shape)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) \
            or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    if perm.shape[0] >= 2**31:
        raise ValueError(f"perm must have fewer than 2**31 entries, got {perm.shape[0]}")
    check_status(lib.ff_shuffle_sklearn_i64(ptr(perm), perm.shape[0], int(seed)),
                 "shuffle_sklearn")
    return perm
