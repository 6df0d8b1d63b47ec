"""SGDClassifier and SGDRegressor: scikit-learn's estimators of the same names, with the
per-sample loop in C (``fastfit.ops.sgd_epoch``).

Parameters, defaults, losses, penalties, schedules, averaging, the tol /
n_iter_no_change rule and the fitted attributes are scikit-learn 1.9's; with
``shuffle=False``, and for regression and binary classification with ``shuffle=True``
too, the coefficients are scikit-learn's to float64 rounding: the rows come in
scikit-learn's order (its seed draws from ``random_state`` and its xorshift
Fisher-Yates, ``fastfit.ops.shuffle_sklearn``), so the same ``random_state`` gives the
same model and the same ``n_iter_``. What differs:

- multiclass one-vs-all problems run in parallel on OpenMP threads (``n_threads``)
  instead of joblib (``n_jobs`` is accepted and used only when ``n_threads`` is None),
  and share one row order, read once for all problems: fastfit's Philox permutation (a
  fresh one per epoch, stream = epoch number, so ``partial_fit`` called k times equals
  ``fit(max_iter=k)``) where scikit-learn shuffles each problem with its own seed; each
  problem's result does not depend on the thread count;
- early stopping scores the current model (scikit-learn 1.9 passes its unscaled weight
  vector to the validation score, and compares log-loss labels 0/1 against predictions
  -1/1), so ``n_iter_`` with ``early_stopping=True`` can differ from scikit-learn's;
- ``coef_`` and ``intercept_`` are in the training dtype (scikit-learn's binary
  ``intercept_`` is float64 for float32 input).

Sparse X (scipy.sparse, any format) is converted once per call to the kernels' CSR and
trained by ``fastfit.ops.csr_sgd_runner``: scikit-learn's sparse algorithm, which moves
the intercept by 0.01 of each update (``SPARSE_INTERCEPT_DECAY``) -- so, as in
scikit-learn, a sparse fit differs from the dense fit of the same data.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from fastfit._class_weight import class_weights
from fastfit._params import RANDOM_STATE, Interval, Options, validate_params
from fastfit._estimators._base import (SparseCoefMixin, check_class_targets, check_fit_data,
                                      linear_decision,
                                      restore_on_error)
from fastfit._lib import check_status, ffi, lib
from fastfit._threads import blas_single_threaded
from fastfit._random import seeds_from
from fastfit._validation import as_sample_weight
from fastfit.ops._sgd import sgd_config, sgd_dloss, sgd_finish, sgd_runner, sgd_state
from fastfit.ops._sparse import CSR, as_csr, csr_matmul, csr_sgd_runner

__all__ = ["SGDClassifier", "SGDRegressor"]

_CLASSIFIER_LOSSES = ("hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron",
                      "squared_error", "huber", "epsilon_insensitive",
                      "squared_epsilon_insensitive")
_REGRESSOR_LOSSES = ("squared_error", "huber", "epsilon_insensitive",
                     "squared_epsilon_insensitive")
_SCHEDULES = ("constant", "optimal", "invscaling", "adaptive", "pa1", "pa2")
_PENALTIES = ("l2", "l1", "elasticnet", None)
_MAX_INT = np.iinfo(np.int32).max   # scikit-learn's bound for the seeds it draws


class SGDLoss:
    """One of the per-sample losses of the SGD estimators, named as scikit-learn's
    ``loss_functions`` entries; the loss itself runs in C (``fastfit.ops.sgd_config``).

    Parameters
    ----------
    name : str
        A key of ``fastfit.ops.SGD_LOSSES``.
    param : float
        Hinge threshold, Huber delta or epsilon (ignored by the others).
    """

    def __init__(self, name, param=0.0):
        self.name, self.param = name, float(param)

    def py_dloss(self, p, y):
        """d loss / d p at prediction ``p`` and target ``y`` (scikit-learn's ``py_dloss``)."""
        return sgd_dloss(self.name, self.param, y, p)

    def __repr__(self):
        return f"SGDLoss({self.name!r}, {self.param!r})"


def _loss_table(names):
    """``{name: (callable building the loss, default parameter...)}``: the shape of
    scikit-learn's ``loss_functions`` (its values are classes from private modules)."""
    defaults = {"hinge": (1.0,), "squared_hinge": (1.0,), "perceptron": (0.0,),
                "huber": (0.1,), "epsilon_insensitive": (0.1,),
                "squared_epsilon_insensitive": (0.1,)}

    return {name: (functools.partial(SGDLoss, name), *defaults.get(name, ())) for name in names}


def _as_dtype(X, dtype):
    return as_csr(X, dtype) if isinstance(X, CSR) else X.astype(dtype)


def _sklearn_draw(rs, regressor):
    """scikit-learn's draws from ``rs`` for one SGD fit: make_dataset's seed, then the
    shuffle seed (a regressor draws them the other way round); returns the latter."""
    if regressor:
        seed = rs.randint(0, _MAX_INT)
        rs.randint(1, _MAX_INT)
    else:
        rs.randint(1, _MAX_INT)
        seed = rs.randint(_MAX_INT)
    return int(seed)


@functools.lru_cache(maxsize=64)
def _sklearn_seed_of(random_state, regressor):
    """``_sklearn_draw`` from a fresh RandomState(random_state) -- the same value on every
    call, so computed once: seeding a RandomState took ~130 us of each 100-row
    partial_fit call."""
    return _sklearn_draw(np.random.RandomState(random_state), regressor)


def _row_order(order, train_rows, n, sk_seed):
    """The function that puts the next epoch's rows into ``order`` (checked once here:
    an epoch of 2000 rows takes ~90 us, and per-epoch argument checks were a tenth).

    Without ``sk_seed``: the training rows in order (the epoch kernel shuffles them with
    Philox when shuffling). With it: scikit-learn's order -- all n rows permuted by
    ``shuffle_sklearn`` each epoch, cumulatively, validation rows skipped."""
    if sk_seed is None:
        def rows():
            order[:] = train_rows
        return rows
    # order starts as the training rows: all of them, in order, when nothing is held out
    every_row = order if train_rows.shape[0] == n else np.arange(n, dtype=np.int64)
    is_train = None
    if every_row is not order:
        is_train = np.zeros(n, bool)
        is_train[train_rows] = True
    # shuffle_sklearn without its per-call checks: an int64 array of n < 2**31 rows and a
    # seed below 2**31 (scikit-learn's randint(MAX_INT))
    rows_ptr, shuffle = ffi.from_buffer("int64_t[]", every_row), lib.ff_shuffle_sklearn_i64

    def rows():
        check_status(shuffle(rows_ptr, n, sk_seed), "shuffle_sklearn")   # n >= 2**31
        if is_train is not None:
            order[:] = every_row[is_train[every_row]]
    return rows


def _take_rows(X, rows):
    return as_csr(X.to_scipy()[rows]) if isinstance(X, CSR) else X[rows]


def _scores(X, coef, intercept):
    """X @ coef.T + intercept, for the validation scores (dense or CSR X)."""
    if isinstance(X, CSR):
        return csr_matmul(X, np.ascontiguousarray(coef.T), intercept)
    return X @ coef.T + intercept


class _BaseSGD(SparseCoefMixin, BaseEstimator):
    """What both estimators share: parameter checks and the epoch loop."""

    _losses: tuple = ()

    # ---- parameters ----------------------------------------------------------------
    _parameter_constraints = {
        "penalty": [Options(*_PENALTIES)],
        "alpha": [Interval(Real, 0, None, "left")],
        "l1_ratio": [None, Interval(Real, 0, 1, "both")],
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, "left")],
        "tol": [None, Interval(Real, 0, None, "left")],
        "shuffle": ["boolean"],
        "verbose": ["boolean", Interval(Integral, 0, None, "left")],
        "epsilon": [Interval(Real, 0, None, "left")],
        "learning_rate": [Options(*_SCHEDULES)],
        "eta0": [Interval(Real, 0, None, "neither")],
        "power_t": [Interval(Real, None, None)],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, "neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, "left")],
        "warm_start": ["boolean"],
        "average": ["boolean", Interval(Integral, 1, None, "left")],
        "n_threads": [None, Interval(Integral, 1, None, "left")],
        "random_state": RANDOM_STATE,
    }

    def _check_params(self, for_partial_fit=False):
        validate_params(self)
        if self.l1_ratio is None and self.penalty == "elasticnet":
            raise ValueError("l1_ratio must be set when penalty is 'elasticnet'")
        if self.early_stopping and for_partial_fit:
            raise ValueError("early_stopping should be False with partial_fit")
        if self.learning_rate == "optimal" and self.alpha == 0:
            raise ValueError("alpha must be > 0 since learning_rate is 'optimal'. alpha is "
                             "used to compute the optimal learning rate.")
        if self.learning_rate in ("pa1", "pa2"):
            need = "hinge" if isinstance(self, ClassifierMixin) else "epsilon_insensitive"
            if self.loss != need:
                raise ValueError(f"Learning rate '{self.learning_rate}' only works with loss "
                                 f"'{need}'.")

    def _threads(self):
        if self.n_threads is not None:
            return self.n_threads
        n_jobs = getattr(self, "n_jobs", None)
        return n_jobs if isinstance(n_jobs, numbers.Integral) and n_jobs >= 1 else None

    def _loss_param(self):
        if self.loss == "perceptron":
            return 0.0
        if self.loss in ("hinge", "squared_hinge"):
            return 1.0
        if self.loss in ("huber", "epsilon_insensitive", "squared_epsilon_insensitive"):
            return float(self.epsilon)
        return 0.0

    def _optimal_init(self):
        if self.learning_rate != "optimal":
            return 0.0
        typw = np.sqrt(1.0 / np.sqrt(self.alpha))
        initial_eta0 = typw / max(1.0, sgd_dloss(self.loss, self._loss_param(), 1.0, -typw))
        return float(1.0 / (initial_eta0 * self.alpha))

    # ---- the epoch loop ------------------------------------------------------------
    def _run_epochs(self, X, *, y=None, labels=None, pos_labels=None, sample_weight, coef,
                    intercept, avg_coef, avg_intercept, weight_pos, weight_neg, max_iter,
                    train_rows, val, seed, epoch0, t0, problem_targets=None, sk_seed=None):
        """Run up to max_iter epochs on the training rows; coef/avg_coef (K, D) are
        updated in place. Returns (intercepts, avg_intercepts, n_iter per problem).

        With ``sk_seed`` (one problem, shuffle=True) the rows come in scikit-learn's order:
        all rows shuffled by ``shuffle_sklearn`` each epoch, validation rows skipped;
        otherwise in fastfit's Philox order keyed by ``seed`` and the epoch."""
        k = coef.shape[0]
        penalty = self.penalty
        l1 = penalty in ("l1", "elasticnet")
        # the summed loss feeds only the tol rule and verbose output: a log/exp per
        # sample saved when neither asks for it (tol=None runs a fixed number of epochs)
        objective = bool(self.verbose) or (not self.early_stopping and self.tol is not None)
        cfg = sgd_config(self.loss, loss_param=self._loss_param(), penalty=penalty,
                         alpha=self.alpha,
                         l1_ratio=0.0 if self.l1_ratio is None else self.l1_ratio,
                         learning_rate=self.learning_rate, eta0=self.eta0,
                         power_t=self.power_t, optimal_init=self._optimal_init(),
                         average=int(self.average), fit_intercept=self.fit_intercept,
                         objective=objective, shuffle=self.shuffle and sk_seed is None,
                         seed=seed)
        st = sgd_state(coef, intercept, t=t0, eta=self.eta0, weight_pos=weight_pos,
                       weight_neg=weight_neg, labels=pos_labels, avg_intercept=avg_intercept)
        q = np.zeros_like(coef) if l1 else None
        order = train_rows.copy()  # the sparse runner checks the rows up front
        n_train = train_rows.shape[0]
        tol = -np.inf if self.tol is None else self.tol
        best_obj = np.full(k, np.inf)
        best_score = np.full(k, -np.inf)
        no_improve = np.zeros(k, dtype=np.int64)
        n_iter = np.full(k, max_iter, dtype=np.int64)
        runner = csr_sgd_runner if isinstance(X, CSR) else sgd_runner
        run = runner(coef, st, cfg, X, order, y=y, labels=labels,
                     sample_weight=sample_weight, aw=avg_coef, q=q, n_threads=self._threads())
        next_order = _row_order(order, train_rows, X.shape[0],
                                sk_seed if self.shuffle else None)
        for epoch in range(max_iter):
            if self.verbose:
                print(f"-- Epoch {epoch + 1}")
            next_order()
            try:
                run(epoch0 + epoch)
            except FloatingPointError:
                raise ValueError(f"Floating-point under-/overflow occurred at epoch #{epoch + 1}."
                                 " Scaling input data with StandardScaler or MinMaxScaler "
                                 "might help.") from None
            active = [i for i in range(k) if st[i].active] if k > 1 else [0]
            scores = None
            if self.early_stopping:
                wscale = np.array([st[i].wscale for i in range(k)])
                b = np.array([st[i].intercept for i in range(k)])
                scores = self._validation_scores(val, coef * wscale[:, None].astype(coef.dtype),
                                                 b, problem_targets)
            for i in active:
                s = st[i]
                if self.verbose:
                    w_now = coef[i] * s.wscale
                    msg = (f"Norm: {np.sqrt(s.sq_norm):.2f}, NNZs: {np.count_nonzero(w_now)}, "
                           f"Bias: {s.intercept:.6f}, T: {(epoch + 1) * n_train}, "
                           f"Avg. loss: {s.sumloss / max(n_train, 1):f}, "
                           f"Objective: {s.objective / max(n_train, 1):f}")
                    if scores is not None:
                        msg += f", Validation score: {scores[i]:f}"
                    print(msg)
                if self.early_stopping:
                    score = scores[i]
                    no_improve[i] = no_improve[i] + 1 if (tol > -np.inf
                                                          and score < best_score[i] + tol) else 0
                    best_score[i] = max(best_score[i], score)
                else:
                    obj = s.objective / n_train
                    no_improve[i] = no_improve[i] + 1 if (tol > -np.inf
                                                          and obj > best_obj[i] - tol) else 0
                    best_obj[i] = min(best_obj[i], obj)
                if no_improve[i] >= self.n_iter_no_change:
                    if self.learning_rate == "adaptive" and s.eta > 1e-6:
                        s.eta = s.eta / 5
                        no_improve[i] = 0
                    else:
                        if self.verbose:
                            print(f"Convergence after {epoch + 1} epochs")
                        s.active = 0
                        n_iter[i] = epoch + 1
            if not any(st[i].active for i in active):
                break
        sgd_finish(coef, st, avg_coef)
        return (np.array([st[i].intercept for i in range(k)]),
                np.array([st[i].avg_intercept for i in range(k)]), n_iter)

    def _split(self, y, sample_weight, stratify):
        """Training rows (int64) and validation rows, as scikit-learn's split."""
        n = y.shape[0]
        if not self.early_stopping:
            return np.arange(n, dtype=np.int64), None
        splitter = (StratifiedShuffleSplit if stratify else ShuffleSplit)(
            test_size=self.validation_fraction, random_state=self.random_state)
        idx_train, idx_val = next(splitter.split(np.zeros((n, 1)), y))
        mask = np.ones(n, bool) if sample_weight is None else sample_weight > 0
        if not np.any(mask[idx_val]):
            raise ValueError("The sample weights for validation set are all zero, consider "
                             "using a different random state.")
        if idx_train.shape[0] == 0 or idx_val.shape[0] == 0:
            raise ValueError(
                f"Splitting {n} samples into a train set and a validation set with "
                f"validation_fraction={self.validation_fraction!r} led to an empty set "
                f"({idx_train.shape[0]} and {idx_val.shape[0]} samples). Please either change "
                "validation_fraction, increase number of samples, or disable early_stopping.")
        return np.sort(idx_train).astype(np.int64), np.sort(idx_val)

    def _seed_for_fit(self):
        return seeds_from(self.random_state, 1)[0]

    def _sklearn_shuffle_seed(self):
        """The shuffle seed scikit-learn draws for one binary or regression fit (and for
        each partial_fit call), with its draws in its order: ``make_dataset``'s seed and
        the ``randint(MAX_INT)`` its SGD shuffles with. An int ``random_state`` therefore
        gives scikit-learn's row order in every epoch, hence its model and epoch count."""
        regressor = isinstance(self, RegressorMixin)
        if isinstance(self.random_state, numbers.Integral):   # a fixed seed: drawn once
            return _sklearn_seed_of(int(self.random_state), regressor)
        return _sklearn_draw(check_random_state(self.random_state), regressor)

    def _finish_attrs(self, coef, intercept, avg_coef, avg_intercept):
        dtype = coef.dtype
        intercept = intercept.astype(dtype)
        if self.average:
            self._standard_coef = coef
            self._standard_intercept = intercept
            self._average_coef = avg_coef
            self._average_intercept = avg_intercept.astype(dtype)
            if self.average <= self.t_ - 1:
                return avg_coef, self._average_intercept
        return coef, intercept

    def _start_coef(self, k, d, dtype, coef_init, intercept_init):
        if coef_init is not None:
            coef = np.array(coef_init, dtype=dtype, order="C", copy=True)
            if coef.size != k * d or (coef.ndim == 2 and coef.shape != (k, d)):
                raise ValueError("Provided coef_init does not match dataset.")
            coef = coef.reshape(k, d)
        else:
            coef = np.zeros((k, d), dtype=dtype)
        if intercept_init is not None:
            intercept = np.array(intercept_init, dtype=np.float64).reshape(-1)
            if intercept.shape != (k,):
                raise ValueError("Provided intercept_init does not match dataset.")
        else:
            intercept = np.zeros(k)
        return coef, intercept

    def _warnings_after_fit(self):
        # stacklevel 5: the caller of fit (fit -> _transactional -> _fit -> here)
        if self.tol is not None and self.n_iter_ == self.max_iter:
            warnings.warn("Maximum number of iteration reached before convergence. Consider "
                          "increasing max_iter to improve the fit.", ConvergenceWarning,
                          stacklevel=5)
        if self.power_t < 0:
            warnings.warn("Negative values for `power_t` are deprecated in version 1.8 and "
                          "will raise an error in 1.10. Use values in the range [0.0, inf) "
                          "instead.", FutureWarning, stacklevel=5)

    def _transactional(self, fn, X, y, *args):
        """Run fn; on any exception restore the estimator's attributes (a rejected call
        leaves a fitted estimator unchanged)."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None.")
        # fastfit's epoch kernel carries the load (see fastfit._threads)
        with restore_on_error(self), blas_single_threaded():
            return fn(X, y, *args)

    def _decision(self, X):
        coef = getattr(self, "coef_", None)
        if coef is None:
            check_is_fitted(self, "coef_")  # raises NotFittedError
        return linear_decision(self, X, coef, self.intercept_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class SGDClassifier(ClassifierMixin, _BaseSGD):
    """Linear classifiers (SVM, logistic regression, ...) trained by per-sample SGD:
    scikit-learn's ``SGDClassifier`` with the loop in C.

    Parameters are scikit-learn 1.9's (see its documentation), plus ``n_threads``: the
    OpenMP threads over which the one-vs-all problems of a multiclass fit run (None: the
    caller's setting; ``n_jobs`` is used when it is an integer and ``n_threads`` is None).
    Results do not depend on the thread count.

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_ : int
        Epochs run (the maximum over the one-vs-all problems).
    t_ : float
        Weight updates during training, ``n_iter_ * n_samples + 1``.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when X has string feature names
    """

    _losses = _CLASSIFIER_LOSSES
    _parameter_constraints = {"loss": [Options(*_CLASSIFIER_LOSSES)],
                              "class_weight": [None, Options("balanced"), dict],
                              "n_jobs": [None, Integral]}
    #: scikit-learn's ``loss_functions``: loss name -> (loss factory, default parameter)
    loss_functions = _loss_table(_CLASSIFIER_LOSSES)

    def __init__(self, loss="hinge", *, penalty="l2", alpha=0.0001, l1_ratio=0.15,
                 fit_intercept=True, max_iter=1000, tol=1e-3, shuffle=True, verbose=0,
                 epsilon=0.1, n_jobs=None, random_state=None, learning_rate="optimal",
                 eta0=0.01, power_t=0.5, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, class_weight=None, warm_start=False, average=False,
                 n_threads=None):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.average = average
        self.n_threads = n_threads

    # ---- fitting -------------------------------------------------------------------
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit by SGD (``max_iter`` epochs at most; see scikit-learn's SGDClassifier.fit).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        coef_init : ndarray of shape (n_classes, n_features), optional
        intercept_init : ndarray of shape (n_classes,), optional
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._transactional(self._fit, X, y, coef_init, intercept_init, sample_weight)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of SGD on (X, y); ``classes`` is required on the first call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), required on the first call
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._transactional(self._partial_fit, X, y, classes, sample_weight)

    def _fit(self, X, y, coef_init, intercept_init, sample_weight):
        self._check_params()
        warm = self.warm_start and getattr(self, "coef_", None) is not None
        if warm:
            coef_init = self.coef_ if coef_init is None else coef_init
            intercept_init = self.intercept_ if intercept_init is None else intercept_init
        X, y = check_fit_data(self, X, y, accept_sparse=True)
        check_class_targets(y)
        classes = np.unique(y)
        if classes.shape[0] < 2:
            raise ValueError("The number of classes has to be greater than one; got "
                             f"{classes.shape[0]} class")
        self.classes_ = classes
        self.t_ = 1.0
        seed = self._seed_for_fit()
        self._train(X, y, sample_weight, self.max_iter, coef_init, intercept_init,
                    seed=seed, epoch0=0, fresh=True)
        self._shuffle_seed = seed
        self._epochs_done = int(self.n_iter_)
        self._warnings_after_fit()
        return self

    def _partial_fit(self, X, y, classes, sample_weight):
        first = not hasattr(self, "classes_")
        if first:
            self._check_params(for_partial_fit=True)
            if self.class_weight == "balanced":
                raise ValueError(
                    "class_weight 'balanced' is not supported for partial_fit. In order to "
                    "use 'balanced' weights, use compute_class_weight('balanced', "
                    "classes=classes, y=y). In place of y you can use a large enough sample of "
                    "the full training set target to properly estimate the class frequency "
                    "distributions. Pass the resulting weights as the class_weight parameter.")
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
        else:
            self._check_params()
            if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                                 f"partial_fit, was: {self.classes_!r}")
        X, y = check_fit_data(self, X, y, reset=first, accept_sparse=True)
        check_class_targets(y)
        if first:
            self.classes_ = np.unique(classes)
            if self.classes_.shape[0] < 2:
                raise ValueError("The number of classes has to be greater than one; got "
                                 f"{self.classes_.shape[0]} class")
            self.t_ = 1.0
            self._shuffle_seed = self._seed_for_fit()
            self._epochs_done = 0
        if not np.all(np.isin(y, self.classes_)):
            missing = np.setdiff1d(np.unique(y), self.classes_)
            raise ValueError(f"y contains classes {missing!r} not in classes {self.classes_!r}")
        if getattr(self, "coef_", None) is not None and self.coef_.dtype != X.dtype:
            X = _as_dtype(X, self.coef_.dtype)
        self._train(X, y, sample_weight, 1, None, None, seed=self._shuffle_seed,
                    epoch0=self._epochs_done, fresh=first)
        self._epochs_done += 1
        return self

    def _train(self, X, y, sample_weight, max_iter, coef_init, intercept_init, *, seed, epoch0,
               fresh):
        n, d = X.shape
        dtype = X.dtype
        classes = self.classes_
        n_classes = classes.shape[0]
        k = 1 if n_classes == 2 else n_classes
        labels = np.searchsorted(classes, y).astype(np.int64)
        cw = class_weights(self.class_weight, classes, labels)
        sw = as_sample_weight(sample_weight, n, dtype)
        if sw is not None and not self.early_stopping and not np.any(sw > 0):
            raise ValueError("Sample weights must contain at least one non-zero number.")
        if fresh or getattr(self, "coef_", None) is None or coef_init is not None:
            coef, intercept = self._start_coef(k, d, dtype, coef_init, intercept_init)
            avg_coef = np.zeros_like(coef) if self.average else None
            avg_intercept = np.zeros(k)
        else:
            src = self._standard_coef if self.average else self.coef_
            coef = np.array(src, dtype=dtype, order="C").reshape(k, d)
            intercept = np.array(self._standard_intercept if self.average else self.intercept_,
                                 dtype=np.float64).reshape(k)
            if self.average:
                avg_coef = np.array(self._average_coef, dtype=dtype, order="C").reshape(k, d)
                avg_intercept = np.array(self._average_intercept, np.float64).reshape(k)
            else:
                avg_coef, avg_intercept = None, np.zeros(k)
        if k == 1:
            pos_labels, wpos, wneg = np.array([1]), cw[1:2], cw[0:1]
        else:
            pos_labels, wpos, wneg = np.arange(k), cw, np.ones(k)
        train_rows, val_rows = self._split(y, sw, stratify=True)
        val = None
        if val_rows is not None:
            swv = np.ones(val_rows.shape[0]) if sw is None else sw[val_rows]
            val = (_take_rows(X, val_rows), labels[val_rows], swv)
        intercept, avg_intercept, n_iter = self._run_epochs(
            X, labels=labels, pos_labels=pos_labels, sample_weight=sw, coef=coef,
            intercept=intercept, avg_coef=avg_coef, avg_intercept=avg_intercept,
            weight_pos=wpos, weight_neg=wneg, max_iter=max_iter, train_rows=train_rows,
            val=val, seed=seed, epoch0=epoch0, t0=self.t_, problem_targets=pos_labels,
            sk_seed=self._sklearn_shuffle_seed() if k == 1 and self.shuffle else None)
        self.n_iter_ = int(n_iter.max())
        self.t_ += self.n_iter_ * n
        self.coef_, self.intercept_ = self._finish_attrs(coef, intercept, avg_coef,
                                                         avg_intercept)
        self._expanded_class_weight = cw

    def _validation_scores(self, val, coef, intercept, pos_labels):
        Xv, lv, swv = val
        dec = _scores(Xv, coef, intercept.astype(coef.dtype))
        total = swv.sum()
        out = np.empty(coef.shape[0])
        for i in range(coef.shape[0]):
            truth = lv == pos_labels[i]
            pred = dec[:, i] > 0
            out[i] = float(np.sum(swv * (truth == pred)) / total)
        return out

    # ---- prediction ----------------------------------------------------------------
    def decision_function(self, X):
        """Confidence scores: (n_samples,) for two classes, else (n_samples, n_classes)."""
        scores = self._decision(X)
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Class labels for the rows of X."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.intp)]
        return self.classes_[scores.argmax(axis=1)]

    def _check_proba(self):
        if self.loss not in ("log_loss", "modified_huber"):
            raise AttributeError("probability estimates are not available for loss="
                                 f"{self.loss!r}")
        return True

    @available_if(_check_proba)
    def predict_proba(self, X):
        """Probability estimates (log_loss and modified_huber only, as scikit-learn):
        OvR probabilities normalised over the classes."""
        scores = self.decision_function(X)
        if self.loss == "log_loss":
            prob = 1.0 / (1.0 + np.exp(-scores))
            if prob.ndim == 1:
                return np.stack([1 - prob, prob], axis=1)
        else:
            prob = (np.clip(scores, -1, 1) + 1.0) / 2.0
            if prob.ndim == 1:
                return np.stack([1 - prob, prob], axis=1)
        prob_sum = prob.sum(axis=1)
        all_zero = prob_sum == 0
        if np.any(all_zero):
            prob[all_zero, :] = 1
            prob_sum[all_zero] = prob.shape[1]
        prob /= prob_sum[:, None]
        return prob

    @available_if(_check_proba)
    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba` (log_loss and modified_huber only)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class SGDRegressor(RegressorMixin, _BaseSGD):
    """Linear regression by per-sample SGD: scikit-learn's ``SGDRegressor`` with the
    loop in C. Parameters are scikit-learn 1.9's, plus ``n_threads`` (unused by a single
    regression problem; accepted for symmetry).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : ndarray of shape (1,)
    n_iter_ : int
    t_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when X has string feature names
    """

    _losses = _REGRESSOR_LOSSES
    _parameter_constraints = {"loss": [Options(*_REGRESSOR_LOSSES)]}
    #: scikit-learn's ``loss_functions``: loss name -> (loss factory, default parameter)
    loss_functions = _loss_table(_REGRESSOR_LOSSES)

    def __init__(self, loss="squared_error", *, penalty="l2", alpha=0.0001, l1_ratio=0.15,
                 fit_intercept=True, max_iter=1000, tol=1e-3, shuffle=True, verbose=0,
                 epsilon=0.1, random_state=None, learning_rate="invscaling", eta0=0.01,
                 power_t=0.25, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, warm_start=False, average=False, n_threads=None):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.average = average
        self.n_threads = n_threads

    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit by SGD (``max_iter`` epochs at most; see scikit-learn's SGDRegressor.fit).

        Returns
        -------
        self
        """
        return self._transactional(self._fit, X, y, coef_init, intercept_init, sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch of SGD on (X, y).

        Returns
        -------
        self
        """
        return self._transactional(self._partial_fit, X, y, sample_weight)

    def _fit(self, X, y, coef_init, intercept_init, sample_weight):
        self._check_params()
        if self.warm_start and getattr(self, "coef_", None) is not None:
            coef_init = self.coef_ if coef_init is None else coef_init
            intercept_init = self.intercept_ if intercept_init is None else intercept_init
        X, y = check_fit_data(self, X, y, y_numeric=True, accept_sparse=True)
        self.t_ = 1.0
        seed = self._seed_for_fit()
        self._train(X, y, sample_weight, self.max_iter, coef_init, intercept_init, seed=seed,
                    epoch0=0, fresh=True)
        self._shuffle_seed = seed
        self._epochs_done = int(self.n_iter_)
        self._warnings_after_fit()
        return self

    def _partial_fit(self, X, y, sample_weight):
        first = getattr(self, "coef_", None) is None
        self._check_params(for_partial_fit=first)
        X, y = check_fit_data(self, X, y, y_numeric=True, reset=first, accept_sparse=True)
        if first:
            self.t_ = 1.0
            self._shuffle_seed = self._seed_for_fit()
            self._epochs_done = 0
        elif self.coef_.dtype != X.dtype:
            X = _as_dtype(X, self.coef_.dtype)
        self._train(X, y, sample_weight, 1, None, None, seed=self._shuffle_seed,
                    epoch0=self._epochs_done, fresh=first)
        self._epochs_done += 1
        return self

    def _train(self, X, y, sample_weight, max_iter, coef_init, intercept_init, *, seed, epoch0,
               fresh):
        n, d = X.shape
        dtype = X.dtype
        y = np.ascontiguousarray(y, dtype=dtype)
        sw = as_sample_weight(sample_weight, n, dtype)
        if fresh or coef_init is not None:
            coef, intercept = self._start_coef(1, d, dtype, coef_init, intercept_init)
            avg_coef = np.zeros_like(coef) if self.average else None
            avg_intercept = np.zeros(1)
        else:
            src = self._standard_coef if self.average else self.coef_
            coef = np.array(src, dtype=dtype, order="C").reshape(1, d)
            intercept = np.array(self._standard_intercept if self.average else self.intercept_,
                                 np.float64).reshape(1)
            if self.average:
                avg_coef = np.array(self._average_coef, dtype=dtype, order="C").reshape(1, d)
                avg_intercept = np.array(self._average_intercept, np.float64).reshape(1)
            else:
                avg_coef, avg_intercept = None, np.zeros(1)
        train_rows, val_rows = self._split(y, sw, stratify=False)
        val = None
        if val_rows is not None:
            swv = np.ones(val_rows.shape[0]) if sw is None else sw[val_rows]
            val = (_take_rows(X, val_rows), y[val_rows], swv)
        intercept, avg_intercept, n_iter = self._run_epochs(
            X, y=y, sample_weight=sw, coef=coef, intercept=intercept, avg_coef=avg_coef,
            avg_intercept=avg_intercept, weight_pos=None, weight_neg=None, max_iter=max_iter,
            train_rows=train_rows, val=val, seed=seed, epoch0=epoch0, t0=self.t_,
            sk_seed=self._sklearn_shuffle_seed() if self.shuffle else None)
        self.n_iter_ = int(n_iter.max())
        self.t_ += self.n_iter_ * n
        coef_, intercept_ = self._finish_attrs(coef, intercept, avg_coef, avg_intercept)
        self.coef_ = coef_.reshape(d)
        self.intercept_ = intercept_.reshape(1)
        if self.average:
            self._standard_coef = self._standard_coef.reshape(d)
            self._average_coef = self._average_coef.reshape(d)

    def _validation_scores(self, val, coef, intercept, _targets):
        Xv, yv, swv = val
        pred = _scores(Xv, coef, np.full(1, intercept[0], coef.dtype))[:, 0]
        return np.array([r2_score(yv, pred, sample_weight=swv)])

    def predict(self, X):
        """Predicted values, shape (n_samples,)."""
        coef = getattr(self, "coef_", None)
        if coef is None:
            check_is_fitted(self, "coef_")  # raises NotFittedError
        return linear_decision(self, X, coef, self.intercept_)[:, 0]
