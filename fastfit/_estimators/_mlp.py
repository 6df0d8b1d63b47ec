"""MLPClassifier and MLPRegressor: scikit-learn's multi-layer perceptrons on fastfit's engine.

The estimators mirror ``sklearn.neural_network`` (parameters, defaults, fitted attributes,
the stopping rule, the reported loss) and train through ``fastfit.Trainer``: one C call per
block of batches, the stopping rule a callback between epochs. How scikit-learn's
conventions map onto the engine:

* Loss and gradient scale. scikit-learn's gradient of the last layer is ``p - y`` divided
  by the batch's weight sum for every loss; the engine's is that times ``s`` (MSE ``2/k``,
  binary cross-entropy and Poisson ``1/k``, softmax cross-entropy 1, k outputs), and its
  loss is scikit-learn's times ``r`` (MSE 2, BCE and Poisson ``1/k``, CE 1). SGD therefore runs at
  ``lr / s`` with L2 coefficient ``s * alpha``, Adam with ``eps * s`` (Adam is otherwise
  invariant to the scale): the same steps, up to rounding. Reported losses are divided
  by ``r``.
* ``alpha``: the engine's ``sklearn`` mode divides the coupled L2 term by the batch's
  weight sum, adds ``alpha/2 ||W||^2 / weight sum`` to each batch's loss, averages the
  epoch loss by rows and puts Adam's ``eps`` where scikit-learn does (csrc/fastfit.h,
  ``ff_train``).
* SGD momentum: torch's buffer holds gradients, scikit-learn's velocity holds steps; when
  the rate changes between epochs (invscaling, adaptive) the buffer is rescaled so that
  the two stay equal.
* lbfgs: ``scipy.optimize.minimize(L-BFGS-B)`` on the flat parameter buffer; each
  evaluation is one engine call (``Trainer.train_step(update=False)``) plus the L2 term.
  It runs on the CPU only: ``device="cuda"`` with lbfgs is a ValueError.
* A non-finite loss: without early stopping, scikit-learn's "non-finite parameter
  weights" ValueError (at once; scikit-learn reaches it after max_iter epochs of NaN).
  With early stopping, scikit-learn trains on with NaN weights and keeps the best
  epoch; the engine stops at the failing batch and ``_diverged`` plays the rest out.
* ``device="cuda"``: the stochastic solvers train through ``Trainer(device="cuda")``,
  whose GPU trainer implements the same scikit-learn mode (fastfit/cuda/_train.py);
  prediction runs on the CPU with the weights copied back after every epoch.
"""

from __future__ import annotations

import math
import numbers
from numbers import Integral, Real
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from fastfit import losses as _losses
from fastfit import nn, ops
from fastfit.ops import as_csr
from fastfit import optim as _optim
from fastfit._class_weight import check_class_weight, class_weights
from fastfit._params import RANDOM_STATE, Check, Interval, Options, validate_params
from fastfit._estimators._base import check_fit_data, check_predict_data, restore_on_error
from fastfit._sparse_input import check_sparse_model
from fastfit._validation import is_ready_matrix, is_sparse
from fastfit._threads import blas_single_threaded
from fastfit._lib import CTYPES, check_predict_status, ffi, lib
from fastfit._trainer import (SERIAL_WORK, NonFiniteLossError, Trainer, check_device,
                              default_threads)
from fastfit._validation import as_sample_weight
from fastfit.callbacks import Callback
from fastfit.history import History

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"identity": nn.Identity, "logistic": nn.Sigmoid, "tanh": nn.Tanh,
                "relu": nn.ReLU}
_NULL = ffi.NULL
_from_buffer = ffi.from_buffer
_SOLVERS = ("lbfgs", "sgd", "adam", "adamw", "rmsprop")
_STOCHASTIC = ("sgd", "adam", "adamw", "rmsprop")
_SCHEDULES = {"cosine": lambda: _optim.Cosine(), "step": lambda: _optim.StepDecay(30, 0.1),
              "plateau": lambda: _optim.ReduceOnPlateau(monitor="loss"),
              "exponential": lambda: _optim.Exponential(0.95)}


# ---- parameter checks (scikit-learn's constraints, as ValueErrors naming the parameter)
def _is_layer_sizes(value) -> bool:
    """An int or an iterable of ints, all > 0 (scikit-learn's hidden_layer_sizes)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return value > 0
    try:
        sizes = list(value)
    except TypeError:
        return False
    return all(isinstance(h, numbers.Integral) and not isinstance(h, (bool, np.bool_))
               and h > 0 for h in sizes)


def _is_callback_list(value) -> bool:
    try:
        return not isinstance(value, Callback) and all(isinstance(c, Callback) for c in value)
    except TypeError:
        return False


# the prediction kernels' output-function flags (predict_proba's softmax or sigmoid)
_PREDICT_OUTPUT = {"identity": 0, "softmax": lib.FF_PREDICT_SOFTMAX,
                   "logistic": lib.FF_PREDICT_SIGMOID}


def _classes_of(y):
    """np.unique of 1-D integer labels; by counting when their range is small (a tenth
    of the time of NumPy's hash-based unique on 16000 labels)."""
    if y.size == 0:
        return np.unique(y)
    lo, hi = int(y.min()), int(y.max())
    if hi - lo > 4 * y.size + 1024 or not -2**62 < lo <= hi < 2**62:
        return np.unique(y)
    present = np.flatnonzero(np.bincount(y.astype(np.intp) - lo, minlength=hi - lo + 1))
    return (present + lo).astype(y.dtype)


class _Rule(Callback):
    """scikit-learn's end-of-epoch bookkeeping and stopping rule, as a callback.

    Works on a private copy of the estimator's counters (``state``) that the estimator
    commits after a successful fit, so a failed fit leaves the estimator unchanged.
    """

    def __init__(self, est, state, *, r, n_train, lr_to_engine, val, incremental):
        self.est, self.state, self.r, self.n_train = est, state, r, n_train
        self.lr_to_engine = lr_to_engine
        self.val = val
        self.incremental = incremental
        self.stopped = False

    def on_epoch_end(self, trainer, epoch, logs):
        est, st = self.est, self.state
        loss = logs["loss"] / self.r
        logs["loss"] = loss
        trainer.history.rows[-1]["loss"] = loss
        st["n_iter_"] += 1
        st["t_"] += self.n_train
        st["loss_"] = loss
        st["loss_curve_"].append(loss)
        verbose = est.verbose and trainer.rank == 0   # data-parallel: rank 0 reports
        if verbose:
            print("Iteration %d, loss = %.8f" % (st["n_iter_"], loss))
        if self.val is not None:
            score, val_loss = est._validation_score(trainer.model, *self.val)
            st["validation_scores_"].append(score)
            row = trainer.history.rows[-1]
            logs["val_score"] = row["val_score"] = score
            logs["val_loss"] = row["val_loss"] = val_loss
            if verbose:
                print("Validation score: %f" % score)
            if score < st["best_validation_score_"] + est.tol:
                st["_no_improvement_count"] += 1
            else:
                st["_no_improvement_count"] = 0
            if score > st["best_validation_score_"]:
                st["best_validation_score_"] = score
                st["_best_weights"] = trainer.get_weights()
        else:
            if loss > st["best_loss_"] - est.tol:
                st["_no_improvement_count"] += 1
            else:
                st["_no_improvement_count"] = 0
            if loss < st["best_loss_"]:
                st["best_loss_"] = loss
        sgd = est.solver == "sgd"
        if sgd and est.learning_rate == "invscaling":   # the optimizer's iteration_ends
            self._set_lr(trainer, float(est.learning_rate_init) / (st["t_"] + 1) ** est.power_t)
        if st["_no_improvement_count"] > est.n_iter_no_change:
            what = ("Validation score did not improve more than tol=%f for %d consecutive "
                    "epochs." if self.val is not None else
                    "Training loss did not improve more than tol=%f for %d consecutive epochs.")
            msg = what % (est.tol, est.n_iter_no_change)
            if sgd and est.learning_rate == "adaptive" and st["_lr"] > 1e-6:
                self._set_lr(trainer, st["_lr"] / 5.0)
                st["_no_improvement_count"] = 0
                if verbose:
                    print(msg + " Setting learning rate to %f" % st["_lr"])
            else:
                if verbose:
                    print(msg + (" Learning rate too small. Stopping." if sgd and
                                 est.learning_rate == "adaptive" else " Stopping."))
                self.stopped = True
                trainer.stop_training = True

    def _set_lr(self, trainer, lr):
        """New scikit-learn rate; the momentum buffer is rescaled so that lr * buffer (the
        velocity scikit-learn keeps) is unchanged."""
        st = self.state
        old, new = st["_lr"] / self.lr_to_engine, lr / self.lr_to_engine
        st["_lr"] = lr
        trainer.set_learning_rate(new, velocity_lr=old)


class _SklearnConventions:
    """Mixin: the optimizer's settings switch on the engine's scikit-learn mode."""

    l2_loss = 0.0

    def settings(self):
        return {**super().settings(), "sklearn": True, "l2_loss": self.l2_loss}


class _SklearnSGD(_SklearnConventions, _optim.SGD):
    pass


class _SklearnAdam(_SklearnConventions, _optim.Adam):
    pass


class _SklearnAdamW(_SklearnConventions, _optim.AdamW):
    pass


class _SklearnRMSProp(_SklearnConventions, _optim.RMSProp):
    pass


_SK_OPTIMIZERS = {_optim.SGD: _SklearnSGD, _optim.Adam: _SklearnAdam,
                  _optim.AdamW: _SklearnAdamW, _optim.RMSProp: _SklearnRMSProp}


def _sk_optimizer(cls, l2_loss, **kwargs):
    """``cls(**kwargs)`` with the engine's scikit-learn conventions and the L2 loss term."""
    opt = _SK_OPTIMIZERS[cls](**kwargs)
    opt.l2_loss = float(l2_loss)
    return opt


class _BaseMLP(BaseEstimator):
    """Shared by MLPClassifier and MLPRegressor (not public)."""

    _is_clf = False

    # ---- parameters ---------------------------------------------------------------
    _parameter_constraints = {
        "hidden_layer_sizes": [Check(_is_layer_sizes, "an int or an array-like of ints > 0")],
        "activation": [Options(*_ACTIVATIONS)],
        "solver": [Options(*_SOLVERS)],
        "alpha": [Interval(Real, 0, None, "left")],
        "batch_size": [Options("auto"), Interval(Integral, 1, None, "left")],
        "learning_rate": [Options("constant", "invscaling", "adaptive")],
        "learning_rate_init": [Interval(Real, 0, None, "neither")],
        "power_t": [Interval(Real, 0, None, "left")],
        "max_iter": [Interval(Integral, 1, None, "left")],
        "shuffle": ["boolean"],
        "tol": [Interval(Real, 0, None, "left")],
        "verbose": ["boolean", Interval(Integral, 0, None, "left")],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, "both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, "left")],
        "beta_1": [Interval(Real, 0, 1, "left")],
        "beta_2": [Interval(Real, 0, 1, "left")],
        "epsilon": [Interval(Real, 0, None, "neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, "left"),
                             Check(lambda v: isinstance(v, float) and v == np.inf, "np.inf")],
        "max_fun": [Interval(Integral, 1, None, "left")],
        "batch_norm": ["boolean"],
        "dropout": [Interval(Real, 0, 1, "left")],
        "residual": ["boolean"],
        "lr_schedule": [None, Options(*_SCHEDULES), _optim.Schedule],
        "callbacks": [None, Check(_is_callback_list,
                                  "a list of fastfit.callbacks.Callback instances")],
        "n_threads": [None, Interval(Integral, 1, None, "left")],
        "device": [Options("cpu", "cuda")],
        "distributed": ["boolean"],
        "random_state": RANDOM_STATE,
    }

    def _check_params(self):
        validate_params(self)
        hls = self.hidden_layer_sizes
        hls = [int(hls)] if isinstance(hls, numbers.Integral) else [int(h) for h in hls]
        if self.device == "cuda":
            if self.solver == "lbfgs":
                raise ValueError("solver='lbfgs' runs on the CPU only (its full-batch loss and "
                                 "gradient are evaluated by the C engine); use device='cpu', "
                                 "or a stochastic solver ('adam', 'sgd', ...) with "
                                 "device='cuda'.")
            # numba-cuda installed (ImportError saying what to install) and a GPU visible
            # (RuntimeError): found here, before the fit touches the estimator's state
            check_device(self.device)
        if self.early_stopping and self.validation_fraction <= 0:
            raise ValueError("validation_fraction must be > 0 with early_stopping=True.")
        if self.distributed:
            if self.solver == "lbfgs" or self.device != "cpu":
                raise ValueError("distributed=True trains the stochastic solvers on the CPU; "
                                 "solver='lbfgs' and device='cuda' do not distribute.")
            try:
                import mpi4py  # noqa: F401
            except ImportError as err:
                raise ImportError("distributed=True needs mpi4py: pip install "
                                  "'fastfit[mpi]'") from err
        return hls

    # ---- model --------------------------------------------------------------------
    def _build_model(self, hls, n_features, n_outputs, dtype, rs):
        """The network, initialised as scikit-learn does (Glorot uniform weights and
        biases drawn from ``rs`` layer by layer), so the same random_state gives the same
        initial coefficients as scikit-learn's MLP."""
        act = _ACTIVATIONS[self.activation]
        layers, linears = [], []
        width = n_features
        for h in hls:
            lin = nn.Linear(width, h)
            block = [lin]
            if self.batch_norm:
                block.append(nn.BatchNorm(h))
            block.append(act())
            if self.dropout > 0:
                block.append(nn.Dropout(self.dropout))
            if self.residual and width == h:
                layers.append(nn.Residual(*block))
            else:
                layers.extend(block)
            linears.append(lin)
            width = h
        out = nn.Linear(width, n_outputs)
        layers.append(out)
        linears.append(out)
        model = nn.Sequential(*layers, dtype=dtype, n_features=n_features, random_state=0)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for lin in linears:
            bound = np.sqrt(factor / (lin.in_features + lin.out_features))
            lin.weight[...] = rs.uniform(-bound, bound, (lin.in_features, lin.out_features))
            lin.bias[...] = rs.uniform(-bound, bound, lin.out_features)
        return model, linears

    def _loss_kind(self):
        """(engine loss, gradient scale s, loss scale r) for this fit's outputs."""
        k = self.n_outputs_
        if not self._is_clf:
            if self.loss == "poisson":   # scikit-learn sums the half deviance over outputs
                return _losses.Poisson(), 1.0 / k, 1.0 / k
            return _losses.MSE(), 2.0 / k, 2.0
        if self.out_activation_ == "softmax":
            return _losses.CrossEntropy(), 1.0, 1.0
        return _losses.BinaryCrossEntropy(), 1.0 / k, 1.0 / k

    def _make_optimizer(self, s, r, schedule):
        solver, alpha = self.solver, float(self.alpha)
        lr = float(self.learning_rate_init)
        if solver == "sgd":
            mom = float(self.momentum)
            return _sk_optimizer(_optim.SGD, r * alpha, lr=lr / s,
                                 momentum=mom, nesterov=bool(self.nesterovs_momentum and mom > 0),
                                 weight_decay=s * alpha, schedule=schedule)
        if solver == "adam":
            return _sk_optimizer(_optim.Adam, r * alpha, lr=lr, betas=(self.beta_1, self.beta_2),
                                 eps=float(self.epsilon) * s, weight_decay=s * alpha,
                                 schedule=schedule)
        if solver == "adamw":
            return _sk_optimizer(_optim.AdamW, 0.0, lr=lr,
                                 betas=(self.beta_1, self.beta_2), eps=float(self.epsilon) * s,
                                 weight_decay=alpha, schedule=schedule)
        return _sk_optimizer(_optim.RMSProp, r * alpha, lr=lr, eps=float(self.epsilon) * s,
                             weight_decay=s * alpha, schedule=schedule)

    def _schedule(self):
        sched = self.lr_schedule
        if sched is None:
            return None
        if isinstance(sched, str):
            return _SCHEDULES[sched]()
        import copy
        return copy.deepcopy(sched)

    # ---- fit ----------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            float32 input trains in float32, anything else in float64. Sparse X (CSR,
            CSC, COO; matrix or array) is converted to CSR once and never densified: the
            first layer runs on its rows, the rest of the network dense.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classification) or real targets (regression).
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._guarded(X, y, sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC:
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _partial(self, X, y, sample_weight, classes=None):
        return self._guarded(X, y, sample_weight, incremental=True, classes=classes)

    def _guarded(self, X, y, sample_weight, incremental, classes=None):
        # fastfit's engine carries the load; lbfgs's SciPy steps in between are vector
        # work that BLAS threads only slow down (see fastfit._threads)
        with restore_on_error(self), blas_single_threaded():
            return self._fit(X, y, sample_weight, incremental, classes)

    def _inplace_snapshot(self):
        """For restore_on_error: copies of what a fit changes in place, and the function
        that writes them back. The model's flat buffers (weights, batch-norm statistics)
        are trained in place, and partial_fit keeps its trainer, whose optimizer slots,
        step and epoch counts, learning rate and history move on with every epoch."""
        d = self.__dict__
        model, trainer = d.get("_model"), d.get("_trainer")
        if model is None:
            return None
        if trainer is not None and trainer.model is model:
            # the trainer's snapshot holds the weights too, and its scratch (the gradient
            # buffer, the block size), so that the estimator and its pickle are exactly
            # what they were
            snap = trainer.snapshot()
            return lambda: trainer.restore(snap)
        weights = (model.params.copy(), model.stats.copy())

        def restore():
            np.copyto(model.params, weights[0])
            np.copyto(model.stats, weights[1])
        return restore

    def _fit(self, X, y, sample_weight, incremental, classes):
        hls = self._check_params()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None")
        X, y = check_fit_data(self, X, y, multi_output=True, y_numeric=not self._is_clf,
                              reset=first_pass, accept_sparse=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not first_pass and X.dtype != self._dtype:
            X = X.astype(self._dtype) if isinstance(X, np.ndarray) else as_csr(X, self._dtype)
        n_samples, n_features = X.shape
        target, labels, cls_state = self._encode_targets(y, first_pass, incremental, classes)
        n_outputs = target.shape[1] if target is not None else len(cls_state["classes_"])
        sw = as_sample_weight(sample_weight, n_samples, X.dtype)
        sw = self._class_weighted(sw, target, labels, cls_state, n_samples, X.dtype)
        if not first_pass and n_outputs != self.n_outputs_:
            raise ValueError(f"y has {n_outputs} output(s) but the fitted model has "
                             f"{self.n_outputs_}; fit again without warm_start")
        rs = check_random_state(self.random_state)
        if self.distributed and not isinstance(self.random_state, numbers.Integral):
            from mpi4py import MPI   # the ranks must draw the same model and split

            rs = check_random_state(MPI.COMM_WORLD.bcast(int(rs.randint(2**31 - 1)), root=0))
        for key, value in cls_state.items():
            setattr(self, key, value)
        self._random_state = rs
        self.n_outputs_ = n_outputs
        if first_pass:
            model, linears = self._build_model(hls, n_features, n_outputs, X.dtype, rs)
            self._model, self._linears, self._dtype = model, linears, X.dtype
            self.n_layers_ = len(hls) + 2
            if not self._is_clf:
                self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
            self.n_iter_ = 0
            self.t_ = 0
            self._trainer = None
            for attr in ("loss_curve_", "best_loss_", "validation_scores_",
                         "best_validation_score_", "_no_improvement_count", "_best_weights",
                         "_lr"):
                self.__dict__.pop(attr, None)
        if self.solver in _STOCHASTIC and (
                first_pass or not hasattr(self, "loss_curve_")    # warm start after lbfgs
                or (self.early_stopping and self.validation_scores_ is None)
                or (not self.early_stopping and self.best_loss_ is None)):
            model = self._model
            self.loss_curve_ = list(getattr(self, "loss_curve_", []))
            self._no_improvement_count = 0
            self._best_weights = (model.params.copy(), model.stats.copy())
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None
        self._set_views()
        if self.solver in _STOCHASTIC:
            self._fit_stochastic(X, target, labels, sw, incremental, rs)
        else:
            self._fit_lbfgs(X, target, labels, sw)
        if not np.isfinite(self._model.params).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.")
        return self

    def _set_views(self):
        self.coefs_ = [lin.weight for lin in self._linears]
        self.intercepts_ = [lin.bias for lin in self._linears]
        # the one-row fast path; with feature names every call is validated instead
        self._predictor = (None if hasattr(self, "feature_names_in_")
                           else self._predictor_of(self._model))

    def _class_weighted(self, sw, target, labels, cls_state, n, dtype):
        return sw

    def _fit_stochastic(self, X, target, labels, sw, incremental, rs):
        loss, s, r = self._loss_kind()
        state = {k: getattr(self, k, None) for k in (
            "n_iter_", "t_", "loss_", "best_loss_", "best_validation_score_",
            "_no_improvement_count", "_best_weights", "_lr")}
        state["loss_curve_"] = list(self.loss_curve_)
        state["validation_scores_"] = (None if self.validation_scores_ is None
                                       else list(self.validation_scores_))
        val = None
        if self.early_stopping:
            from sklearn.model_selection import train_test_split

            # as scikit-learn: stratified for one-output (binary) classification only
            stratify = target > 0.5 if self._is_clf and self.n_outputs_ == 1 else None
            idx = np.arange(X.shape[0])
            tr, va = train_test_split(idx, random_state=rs, test_size=self.validation_fraction,
                                      stratify=stratify)
            if va.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            vtake = (lambda a: None if a is None else a[va])
            # the training rows are selected by index (trainer.fit(rows=)), X is not
            # copied; the validation rows, scored every epoch, are copied once
            Xv = X[va] if isinstance(X, np.ndarray) else as_csr(X.to_scipy()[va], X.dtype,
                                                                check_finite=False)
            val = (Xv, vtake(target), vtake(labels), vtake(sw))
        n = X.shape[0] if val is None else tr.shape[0]
        if self.batch_size == "auto":
            bs = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                              "It is going to be clipped", stacklevel=5)
            bs = min(max(int(self.batch_size), 1), n)
        trainer = self._trainer if incremental else None
        if trainer is None or trainer.model is not self._model:
            seed = int(rs.randint(np.iinfo(np.int32).max))
            trainer = Trainer(self._model, loss=loss,
                              optimizer=self._make_optimizer(s, r, self._schedule()),
                              epochs=1, batch_size=bs, shuffle=self.shuffle, random_state=seed,
                              n_threads=self.n_threads, device=self.device)
        if self.distributed:   # every rank passed the same X, y: replicated data
            from mpi4py import MPI

            trainer.comm = MPI.COMM_WORLD
        else:
            trainer.comm = None
            state["_lr"] = float(self.learning_rate_init)
        trainer.batch_size = bs
        trainer.device = self.device   # partial_fit after set_params(device=...)
        trainer.shuffle = bool(self.shuffle)
        lr_to_engine = s if self.solver == "sgd" else 1.0
        state["n_iter_"] = 0
        rule = _Rule(self, state, r=r, n_train=n, lr_to_engine=lr_to_engine, val=val,
                     incremental=incremental)
        trainer.callbacks = [rule, *(self.callbacks or [])]
        y_fit = labels if labels is not None else target
        try:
            trainer.fit(X, y_fit, sample_weight=sw, epochs=1 if incremental else self.max_iter,
                        rows=None if val is None else tr)
        except NonFiniteLossError as err:
            if val is None:   # scikit-learn's end: non-finite weights, the error below
                raise ValueError("Solver produced non-finite parameter weights. The input data "
                                 "may contain large values and need to be preprocessed. "
                                 f"({err})") from None
            self._diverged(trainer, rule, err)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=5)
        finally:
            # the rule holds the estimator and the validation data; the native struct holds
            # X and a workspace: neither belongs in a fitted estimator (or its pickle)
            trainer.callbacks = []
            trainer.release_data()
        if (not incremental and not rule.stopped and state["n_iter_"] == self.max_iter):
            warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                          "optimization hasn't converged yet." % self.max_iter, ConvergenceWarning,
                          stacklevel=5)   # the caller of fit
        if self.early_stopping and state["_best_weights"] is not None:
            trainer.set_weights(state["_best_weights"])
        for key, value in state.items():
            setattr(self, key, value)
        self._trainer = trainer
        self.history_ = trainer.history

    def _diverged(self, trainer, rule, err):
        """A non-finite loss with early stopping, as scikit-learn handles it.

        scikit-learn trains on through a non-finite loss: its weights are NaN from that
        step, every later epoch's loss is NaN, and its stopping rule keeps running on the
        validation scores of the NaN model (NaN for a regressor, so no epoch counts as
        "no improvement" and it runs to max_iter; the accuracy of always predicting
        classes_[0] for a classifier). At the end it restores the best epoch's weights,
        raising only if the NaN model itself scored best. The engine stops at that batch
        instead (err: the trainer is back at the end of the last finite epoch); the epochs
        scikit-learn would run on are played out here with NaN weights -- the same
        counters, scores, curves and outcome, without computing NaN batches.
        """
        model = trainer.model
        model.params.fill(np.nan)
        model.stats.fill(np.nan)
        # the diverging epoch's mean loss: the failed batch's if it closed the epoch, else
        # NaN from the batches after it; later epochs NaN (engine units: the rule divides)
        loss = err.loss if err.last_batch else math.nan
        while rule.state["n_iter_"] < self.max_iter and not rule.stopped:
            logs = {"loss": loss * rule.r, "lr": trainer.optimizer.lr}
            trainer.history.append(dict(logs))
            rule.on_epoch_end(trainer, trainer.epoch_, logs)
            trainer.epoch_ += 1
            loss = math.nan

    def _fit_lbfgs(self, X, target, labels, sw):
        from scipy.optimize import minimize

        loss, s, r = self._loss_kind()
        model = self._model
        n = X.shape[0]
        trainer = Trainer(model, loss=loss, optimizer=_optim.SGD(lr=1.0), epochs=1,
                          batch_size=n, shuffle=False, n_threads=self.n_threads)
        batch = trainer.prepare(X, labels if labels is not None else target, sw)  # checked once
        nd = model.plan.n_decay
        alpha = float(self.alpha)
        sw_sum = float(n if sw is None else np.sum(sw, dtype=np.float64))
        params = model.params
        history = History()
        last = {}

        def fun(theta):
            params[:] = theta
            value = trainer.train_step(batch, update=False)
            w = theta[:nd]
            value = value / r + 0.5 * alpha * float(w @ w) / sw_sum
            grad = trainer.grads.astype(np.float64) / s
            grad[:nd] += (alpha / sw_sum) * w
            last["loss"] = value
            return value, grad

        def callback(intermediate_result=None, *args):
            history.append({"loss": last.get("loss", math.nan)})
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (len(history), history.rows[-1]["loss"]))

        theta0 = params.astype(np.float64)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                res = minimize(fun, theta0, method="L-BFGS-B", jac=True, callback=callback,
                               options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                                        "gtol": self.tol})
        except NonFiniteLossError as err:
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             f"contain large values and need to be preprocessed. ({err})") from None
        if res.status != 0:
            msg = res.message.decode("latin1") if isinstance(res.message, bytes) else res.message
            warnings.warn(f"lbfgs failed to converge after {res.nit} iteration(s) "
                          f"(status={res.status}):\n{msg}.\n\nIncrease the number of iterations "
                          f"to improve the convergence (max_iter={self.max_iter}).\nYou might "
                          "also want to scale the data.", ConvergenceWarning, stacklevel=3)
        self.n_iter_ = min(int(res.nit), int(self.max_iter))
        self.loss_ = float(res.fun)
        params[:] = res.x
        self._trainer = None   # its workspace holds every row: not kept
        self.history_ = history

    # ---- prediction ---------------------------------------------------------------
    def _fastfit_trainer(self):
        """The fastfit.Trainer behind this fitted estimator, for fastfit.diagnostics. An
        lbfgs fit keeps none: then a new one on the fitted model and its loss."""
        check_is_fitted(self, "coefs_")
        if self._trainer is not None:
            return self._trainer
        return Trainer(self._model, loss=self._loss_kind()[0], n_threads=self.n_threads)

    def _forward(self, X, output="identity"):
        """The output layer's values in the training dtype: raw (logits for classifiers),
        or with ``output`` "softmax" / "logistic" through that function (predict_proba).

        The fast path is for the embedding case, a C-contiguous ndarray of the training
        dtype and width (no feature names at fit): everything the C call needs was
        gathered once per fitted model (``_predictor``), and the NaN/inf count and the
        output function are left to the prediction kernel itself (the function on each
        chunk while it is in cache). Its Python cost is ~1 us of a ~5 us one-row
        prediction. Anything else goes through check_predict_data.
        """
        d = self.__dict__
        fast = d.get("_predictor")
        if is_sparse(X):   # the first layer reads the CSR rows in place
            if d.get("_model") is None:
                check_is_fitted(self, "coefs_")
            X = check_predict_data(self, X, self._dtype)
            check_sparse_model(self._model)   # fitted densely with a residual input block?
            out = np.empty((X.shape[0], self.n_outputs_), self._dtype)
            n = X.shape[0]
            threads = d["n_threads"] or default_threads(n, self._model.plan.n_params)
            self._model._native.predict_csr_into(out, X, threads, _PREDICT_OUTPUT[output])
            return out
        if fast is not None and is_ready_matrix(X, fast[0], fast[1]):
            check = lib.FF_PREDICT_CHECK_FINITE
        else:
            if d.get("_model") is None:
                check_is_fitted(self, "coefs_")
            X = check_predict_data(self, X, self._dtype)
            fast = self._predictor_of(self._model)
            check = 0
        dtype, _, k, predict, struct, ctype, serial_rows = fast
        n = X.shape[0]
        out = np.empty((n, k), dtype)
        p = _from_buffer(ctype, out)
        # the trainer's rule (under load, 10k rows of a 64-256-256-10 MLP took 18 ms on one
        # thread and 130-530 ms on two); serial_rows is its threshold, precomputed
        threads = d["n_threads"] or (1 if n <= serial_rows
                                     else default_threads(n, self._model.plan.n_params))
        status = predict(p, struct, _from_buffer(ctype, X), _NULL, n, n, threads,
                         check | _PREDICT_OUTPUT[output])
        if status:
            check_predict_status(status, input_checked=check)
        return out

    def _predictor_of(self, model):
        """(dtype, n_features, n_outputs, predict kernel, model struct, cffi array type,
        most rows predicted serially) for ``_forward``."""
        native = model._native
        return (model.dtype, model.n_features, self.n_outputs_, native._predict, native.struct,
                CTYPES[model.dtype], (SERIAL_WORK - 1) // max(model.plan.n_params, 1))

    def _validation_score(self, model, Xv, target, labels, w):
        """(score, loss) on the validation rows: scikit-learn's score (accuracy or R2)
        and the data loss in loss_curve_'s units, without the L2 term (for
        fastfit.diagnostics.diagnose_fit), from one forward pass."""
        out = np.empty((Xv.shape[0], self.n_outputs_), model.dtype)
        threads = self.n_threads or default_threads(Xv.shape[0], model.plan.n_params)
        if isinstance(Xv, np.ndarray):
            model._native.predict_into(out, Xv, None, threads)
        else:
            model._native.predict_csr_into(out, Xv, threads)
        finite = bool(np.isfinite(out).all())
        if self._is_clf:
            # predictions are labels even from non-finite outputs, as scikit-learn's (a NaN
            # row argmaxes to 0 and is not > 0: classes_[0]); only the loss is then NaN
            if labels is not None:
                score = accuracy_score(labels, out.argmax(1), sample_weight=w)
            else:
                score = accuracy_score(target > 0.5, out > 0, sample_weight=w)
            if not finite:
                return float(score), np.nan
        elif not finite:
            return np.nan, np.nan    # scikit-learn's _score of non-finite predictions
        # the loss: the engine's fused loss of this fit (in the outputs' dtype), divided
        # by r as the training loss is
        tw = None if w is None else np.ascontiguousarray(w, out.dtype)
        tt = None if target is None else np.ascontiguousarray(target, out.dtype).reshape(out.shape)
        if not self._is_clf and self.loss == "poisson":
            mean = np.exp(out)
            if not np.isfinite(mean).all():   # exp overflowed: non-finite predictions
                return np.nan, np.nan
            score = r2_score(target, mean, sample_weight=w)
        elif not self._is_clf:
            score = r2_score(target, out, sample_weight=w)
        try:   # finite outputs of a diverging model can still overflow the loss
            if not self._is_clf and self.loss == "poisson":
                loss = ops.poisson_loss(out, tt, tw)[0]   # on the log-means
            elif not self._is_clf:
                loss = ops.mse_loss(out, tt, tw)[0]
            elif labels is not None:
                loss = ops.softmax_cross_entropy(out, labels, tw)[0]
            else:
                loss = ops.bce_with_logits(out, tt, tw)[0]
        except FloatingPointError:
            loss = math.nan
        return float(score), float(loss) / self._loss_kind()[2]

    # ---- pickling: coefs_/intercepts_ are views into the model's flat buffer ----------
    def __getstate__(self):
        # a copy: BaseEstimator.__getstate__ may return the live __dict__ itself (Python
        # >= 3.11, outside sklearn's own modules), and popping from it would strip the
        # fitted estimator being pickled
        state = dict(super().__getstate__())
        state.pop("coefs_", None)
        state.pop("intercepts_", None)
        state.pop("_predictor", None)   # cffi handles: rebuilt by __setstate__
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_linears" in self.__dict__:
            self._set_views()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags



_COMMON_DOC = """
    Parameters
    ----------
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose,
    warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction,
    beta_1, beta_2, epsilon, n_iter_no_change, max_fun :
        As scikit-learn's (same meaning and defaults). ``solver`` also accepts "adamw"
        (decoupled weight decay ``alpha``) and "rmsprop".
    batch_norm : bool, default=False
        Batch normalisation after each hidden linear layer.
    dropout : float, default=0.0
        Dropout probability after each hidden activation.
    residual : bool, default=False
        Wrap hidden layers whose width equals their input's in ``fastfit.nn.Residual``.
    lr_schedule : None, "cosine", "step", "plateau", "exponential" or a fastfit.optim schedule
        Multiplies the learning rate per step (on top of ``learning_rate``).
    callbacks : list of fastfit.callbacks.Callback, optional
        Called by the trainer between epochs (stochastic solvers).
    n_threads : int, optional
        Threads for the kernels; default: the caller's OpenMP setting.
    device : {"cpu", "cuda"}, default="cpu"
        Where the stochastic solvers train: "cuda" runs ``fastfit.Trainer(device="cuda")``
        on an NVIDIA GPU (needs ``pip install 'fastfit[cuda]'``) and gives the CPU's
        results to float32 rounding for the same random_state. Prediction runs on the
        CPU with the fitted weights. solver="lbfgs" is CPU-only (ValueError with "cuda").
    distributed : bool, default=False
        Train data-parallel over ``mpi4py.MPI.COMM_WORLD`` (``pip install
        'fastfit[mpi]'``; run the script on every rank: ``mpiexec -n 4 python -m mpi4py
        train.py``). Every rank passes the same X, y; each computes its share of every
        batch (``batch_size`` is the global batch), so the fit is that of one process to
        rounding and every rank ends with the same weights (see ``fastfit.Trainer``'s
        ``comm``). Stochastic solvers on the CPU only.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` on fastfit.
    """ + _COMMON_DOC + """
    class_weight : None, "balanced" or dict {class: weight}, default=None
        Multiplies the sample weights by the weight of each row's class.

    Attributes
    ----------
    classes_, loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_,
    t_, coefs_, intercepts_, n_features_in_, feature_names_in_, n_iter_, n_layers_,
    n_outputs_, out_activation_ :
        As scikit-learn's. ``coefs_``/``intercepts_`` are views into the model's flat
        parameter buffer (writable, as scikit-learn's arrays).
    history_ : fastfit.History
        Per-epoch records (loss in scikit-learn's units, lr, seconds; with
        early_stopping also val_score and val_loss, the validation data loss in the
        same units without the L2 term).
    """

    _is_clf = True

    _parameter_constraints = {"class_weight": [None, Options("balanced"), dict]}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 batch_norm=False, dropout=0.0, residual=False, lr_schedule=None,
                 class_weight=None, callbacks=None, n_threads=None, device="cpu",
                 distributed=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.residual = residual
        self.lr_schedule = lr_schedule
        self.class_weight = class_weight
        self.callbacks = callbacks
        self.n_threads = n_threads
        self.device = device
        self.distributed = distributed

    def _encode_targets(self, y, first_pass, incremental, classes):
        """(target, labels, fitted label state) without touching the estimator."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        integer_labels = y.ndim == 1 and y.dtype.kind in "iub"
        if not integer_labels:  # 1-D integers are binary or multiclass: nothing to sniff
            check_classification_targets(y)
        if first_pass or not hasattr(self, "classes_"):
            lb = LabelBinarizer()
            if incremental:
                if classes is None:
                    raise ValueError("classes must be passed on the first call to partial_fit.")
                if type_of_target(y).startswith("multilabel"):
                    lb.fit(y)
                else:
                    lb.fit(np.asarray(classes))
                    unseen = np.setdiff1d(np.unique(y), lb.classes_)
                    if len(unseen):
                        raise ValueError(f"`y` has classes {unseen} not in `classes`.")
            elif y.ndim == 1:
                # the state lb.fit(y) leaves, from the classes alone: a binary or multiclass
                # y (checked just above) has its classes' type. LabelBinarizer.fit's own
                # validation and passes over y cost ~0.8 ms of a 16000-row W2 fit (~5%)
                lb.classes_ = _classes_of(y) if integer_labels else np.unique(y)
                lb.y_type_ = "multiclass" if len(lb.classes_) > 2 else "binary"
                lb.sparse_input_ = False
            else:
                lb.fit(y)
            if len(lb.classes_) < 2 and lb.y_type_ != "multilabel-indicator":
                raise ValueError("MLPClassifier needs samples of at least 2 classes in the "
                                 f"data, but the data contains only one class: {lb.classes_[0]!r}")
        else:
            lb = self._label_binarizer
            if incremental and classes is not None and not np.array_equal(
                    np.sort(np.asarray(classes)), np.sort(self.classes_)):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                                 f"partial_fit, was: {self.classes_!r}")
            if lb.y_type_ == "multilabel-indicator":
                if y.ndim != 2 or y.shape[1] != len(lb.classes_):
                    raise ValueError("y must be a label indicator matrix of "
                                     f"{len(lb.classes_)} columns, as in the first fit")
            else:
                present = np.unique(y)
                if self.warm_start and not incremental:
                    if set(present) != set(self.classes_):
                        raise ValueError("warm_start can only be used where `y` has the same "
                                         "classes as in the previous call to fit. Previously "
                                         f"got {self.classes_}, `y` has {present}")
                elif len(np.setdiff1d(present, self.classes_)):
                    raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                     f"has {self.classes_}. 'y' has {present}.")
        state = {"_label_binarizer": lb, "classes_": lb.classes_}
        if lb.y_type_ == "multiclass":
            state["out_activation_"] = "softmax"
            labels = np.searchsorted(lb.classes_, y).astype(np.int64)
            return None, labels, state
        state["out_activation_"] = "logistic"
        if lb.y_type_ == "multilabel-indicator":
            target = np.ascontiguousarray(y, dtype=np.float64)
        else:
            target = (y == lb.classes_[1]).astype(np.float64).reshape(-1, 1)
        return target, None, state

    def _class_weighted(self, sw, target, labels, cls_state, n, dtype):
        cw = self.class_weight
        if cw is None:
            return sw
        check_class_weight(cw)
        if labels is None and target.shape[1] != 1:
            raise ValueError("class_weight is not supported for multilabel targets")
        idx = labels if labels is not None else target[:, 0].astype(np.int64)
        w = class_weights(cw, cls_state["classes_"], idx)[idx].astype(dtype)
        return w if sw is None else w * sw

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` is required on the first call.

        Returns
        -------
        self
        """
        return self._partial(X, y, sample_weight, classes)

    def decision_function(self, X):
        """The output layer's logits, shape (n_samples,) for binary problems."""
        out = self._forward(X)
        return out[:, 0] if self.out_activation_ == "logistic" and self.n_outputs_ == 1 \
            and self._label_binarizer.y_type_ != "multilabel-indicator" else out

    def predict(self, X):
        """Predicted classes (indicator matrix for multilabel targets)."""
        out = self._forward(X)
        if self.out_activation_ == "softmax":
            return self.classes_[out.argmax(1)]
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return self._label_binarizer.inverse_transform((out > 0).astype(np.int64))
        return self.classes_[(out[:, 0] > 0).view(np.uint8)]

    def predict_proba(self, X):
        """Class probabilities in the training dtype, columns ordered as ``classes_``."""
        act = self.__dict__.get("out_activation_", "identity")   # unfitted: _forward raises
        out = self._forward(X, act)
        if act == "softmax":
            return out
        n, k = out.shape
        if k == 1 and self._label_binarizer.y_type_ != "multilabel-indicator":
            proba = np.empty((n, 2), out.dtype)
            proba[:, 1] = out[:, 0]
            proba[:, 0] = 1 - out[:, 0]
            return proba
        return out

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` on fastfit.

    loss : {"squared_error", "poisson"}, default="squared_error"
        As scikit-learn's: half squared error, or half Poisson deviance on a log link
        (the output layer gives log-means, ``predict`` returns their exp; y must be >= 0).
    """ + _COMMON_DOC + """
    Attributes
    ----------
    As MLPClassifier's, without ``classes_``.
    """

    _parameter_constraints = {"loss": [Options("squared_error", "poisson")]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 batch_norm=False, dropout=0.0, residual=False, lr_schedule=None,
                 callbacks=None, n_threads=None, device="cpu", distributed=False):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.residual = residual
        self.lr_schedule = lr_schedule
        self.callbacks = callbacks
        self.n_threads = n_threads
        self.device = device
        self.distributed = distributed

    def _check_params(self):
        return super()._check_params()

    def _encode_targets(self, y, first_pass, incremental, classes):
        if self.loss == "poisson" and y.size and np.min(y) < 0:
            # scikit-learn 1.9's MLPRegressor documents y >= 0 but does not check it (its
            # loss_ comes out NaN); fastfit refuses, with its PoissonRegressor's message
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")
        target = y.reshape(-1, 1) if y.ndim == 1 else y
        return np.ascontiguousarray(target), None, {}

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y).

        Returns
        -------
        self
        """
        return self._partial(X, y, sample_weight)

    def predict(self, X):
        """Predicted values in the training dtype, shape (n_samples,) for one output
        (with loss="poisson", the means: exp of the output layer)."""
        out = self._forward(X)
        if self.out_activation_ == "exp":
            np.exp(out, out=out)
        return out[:, 0] if out.shape[1] == 1 else out
