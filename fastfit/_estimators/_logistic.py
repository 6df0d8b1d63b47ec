"""LogisticRegression: binary and multinomial, on one fused C loss-and-gradient pass.

The objective is scikit-learn's (sklearn/linear_model/_logistic.py with _linear_loss.py):

    f(W, b) = sum_i s_i l_i / sum_i s_i + 1 / (2 C sum_i s_i) ||W||^2

with l_i the binary logistic loss (two classes: ONE coefficient row, for classes_[1], as
scikit-learn fits it) or the softmax cross-entropy (more classes: one row per class,
multinomial), s_i = sample_weight * class_weight. The intercept is not penalised.

- solver="lbfgs": scipy's L-BFGS-B with scikit-learn's options (maxiter, maxls=50,
  gtol=tol, ftol=64 eps), so iteration counts are comparable; each evaluation is ONE call
  of ff_logistic_loss_grad (one read of X). penalty="l1"/"elasticnet" (which
  scikit-learn's lbfgs rejects) runs FISTA with backtracking and adaptive restart on
  the same kernel: the smooth part through the kernel, the L1 part as soft-thresholding,
  the same objective as scikit-learn's saga (penalty (1/(C sum s)) (r|W|_1 + (1-r)/2 |W|^2)).
- solver="sgd"/"adam": mini-batch training through fastfit.Trainer on a one-layer
  nn.Sequential(nn.Linear(d, k)), the L2/L1 penalty as the optimizer's weight_decay/l1.

Sparse X (scipy.sparse, any format; lbfgs and FISTA) is converted once per fit to the
kernels' CSR (and its CSC copy, for the gradient) and each evaluation is one call of
ff_csr_logistic_loss_grad: the same objective, so the dense fit's optimum. The Trainer
(sgd/adam) takes dense input only.
"""

from __future__ import annotations

import contextlib
import numbers
import warnings

import numpy as np
import scipy.optimize
from scipy.special import log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets

from fastfit import ops
from fastfit._estimators._base import (SparseCoefMixin, check_fit_data, check_predict_data,
                                      linear_decision, restore_on_error)
from fastfit._estimators._linear import _require_y
from fastfit._lib import check_status, kernel, lib, ptr
from fastfit._threads import blas_single_threaded
from fastfit._validation import as_sample_weight
from fastfit.ops._sparse import CSR

__all__ = ["LogisticRegression"]

_SOLVERS = ("lbfgs", "sgd", "adam")
_PENALTIES = ("l2", "l1", "elasticnet", None)


class _Objective:
    """f and its gradient over the flat parameter vector [W.ravel(), b]."""

    def __init__(self, X, labels, weight, k, fit_intercept, sw_sum, l2):
        self.X, self.labels, self.weight = X, labels, weight
        self.n, self.p = X.shape
        self.k, self.fit_intercept, self.l2 = k, fit_intercept, l2
        self.scale = 1.0 / sw_sum
        if isinstance(X, CSR):  # rows for the logits, the CSC copy for the gradient
            t = X.transpose()
            self.fn = kernel("csr_logistic_loss_grad", X.dtype)
            self._x = (ptr(X.data), ptr(X.indptr), ptr(X.indices),
                       ptr(t.data), ptr(t.indptr), ptr(t.indices))
            self._nnz = (X.nnz,)
        else:
            self.fn = kernel("logistic_loss_grad", X.dtype)
            self._x, self._nnz = (ptr(X),), ()
        self.loss = np.zeros(1)
        self.dw = np.empty((k, self.p))
        self.db = np.empty(k)
        self._pl, self._pw = ptr(labels), ptr(weight)
        self.n_evals = 0

    def split(self, theta):
        kp = self.k * self.p
        W = theta[:kp].reshape(self.k, self.p)
        return W, (theta[kp:] if self.fit_intercept else None)

    def __call__(self, theta, need_grad=True):
        self.n_evals += 1
        W, b = self.split(theta)
        dt = self.X.dtype
        Wc = np.ascontiguousarray(W, dtype=dt)
        bc = None if b is None else np.ascontiguousarray(b, dtype=dt)
        status = self.fn(ptr(self.loss), ptr(self.dw) if need_grad else ptr(None),
                         ptr(self.db) if need_grad and b is not None else ptr(None),
                         *self._x, ptr(Wc), ptr(bc), self._pl, self._pw,
                         self.n, self.p, self.k, *self._nnz, self.scale)
        if status == lib.FF_ENONFINITE:
            return (np.inf, np.zeros_like(theta)) if need_grad else np.inf
        check_status(status, "LogisticRegression")
        f = float(self.loss[0]) + 0.5 * self.l2 * float(np.dot(theta[:self.k * self.p],
                                                             theta[:self.k * self.p]))
        if not need_grad:
            return f
        g = np.empty_like(theta)
        kp = self.k * self.p
        g[:kp] = self.dw.ravel() + self.l2 * theta[:kp]
        if b is not None:
            g[kp:] = self.db
        return f, g


def _fista(obj, theta, l1, max_iter, tol):
    """FISTA with backtracking and adaptive (function-value) restart for f + l1 |W|_1.

    Stops when the largest coefficient change of a step is below tol * max(1, |theta|)
    (scikit-learn saga's criterion). Returns (theta, iterations)."""
    kp = obj.k * obj.p

    def prox(v, step):
        out = v.copy()
        w = v[:kp]
        out[:kp] = np.sign(w) * np.maximum(np.abs(w) - l1 * step, 0.0)
        return out

    def full(v):
        return obj(v, need_grad=False) + l1 * np.abs(v[:kp]).sum()

    x = theta.copy()
    y = x.copy()
    t = 1.0
    L = 1.0
    F_prev = full(x)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        fy, gy = obj(y)
        while True:
            z = prox(y - gy / L, 1.0 / L)
            d = z - y
            fz = obj(z, need_grad=False)
            if fz <= fy + gy @ d + 0.5 * L * (d @ d) + 1e-12 * abs(fy):
                break
            L *= 2.0
        Fz = fz + l1 * np.abs(z[:kp]).sum()
        change = np.max(np.abs(z - x)) if z.size else 0.0
        if Fz > F_prev:  # restart the momentum
            t = 1.0
            y = x.copy()
            L *= 2.0
            continue
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        y = z + ((t - 1.0) / t_new) * (z - x)
        x, t, F_prev = z, t_new, Fz
        L *= 0.9
        if change <= tol * max(1.0, np.max(np.abs(x))):
            break
    return x, it


class LogisticRegression(ClassifierMixin, SparseCoefMixin, BaseEstimator):
    """Logistic regression (binary and multinomial) with scikit-learn's parameters.

    Parameters
    ----------
    penalty : {"l2", "l1", "elasticnet", None}, default="l2"
    dual : bool, default=False
        Only False (the primal problem) is supported.
    tol : float, default=1e-4
        L-BFGS: projected-gradient tolerance (scikit-learn's gtol). FISTA: coefficient
        change. sgd/adam: unused (max_iter epochs run).
    C : float, default=1.0
        Inverse regularisation strength; ``np.inf`` means no penalty.
    fit_intercept : bool, default=True
    intercept_scaling : float, default=1
        Kept for compatibility (liblinear only in scikit-learn); unused.
    class_weight : dict, "balanced" or None
    random_state : int or None
        Shuffling and initialisation for sgd/adam.
    solver : {"lbfgs", "sgd", "adam"}, default="lbfgs"
        "lbfgs" uses FISTA for the l1 and elasticnet penalties.
    max_iter : int, default=100
        Iterations (lbfgs/FISTA) or epochs (sgd/adam).
    verbose : int, default=0
    warm_start : bool, default=False
        Start from the previous fit's coefficients.
    n_jobs : None
        Kept for compatibility; threads are set by ``n_threads``.
    l1_ratio : float or None
        The elastic-net mixing (1 = l1); only used with penalty="elasticnet".
    n_threads : int or None
        Threads for the kernels (None: the caller's OpenMP setting).
    batch_size : int, default=256
        Mini-batch size of sgd/adam.
    learning_rate : float, default=0.01
        Step size of sgd/adam.

    Attributes
    ----------
    classes_, coef_ (1 or n_classes rows), intercept_, n_iter_ (array of one int),
    n_features_in_, feature_names_in_
    """

    def __init__(self, penalty="l2", *, dual=False, tol=1e-4, C=1.0, fit_intercept=True,
                 intercept_scaling=1, class_weight=None, random_state=None, solver="lbfgs",
                 max_iter=100, verbose=0, warm_start=False, n_jobs=None, l1_ratio=None,
                 n_threads=None, batch_size=256, learning_rate=0.01):
        self.penalty = penalty
        self.dual = dual
        self.tol = tol
        self.C = C
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.l1_ratio = l1_ratio
        self.n_threads = n_threads
        self.batch_size = batch_size
        self.learning_rate = learning_rate

    # ---- parameter checks (in fit, per scikit-learn's rule) ----------------------------
    def _check_params(self):
        if self.penalty not in _PENALTIES:
            raise ValueError(f"penalty must be one of {_PENALTIES}, got {self.penalty!r}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}, got {self.solver!r}")
        if self.dual is not False:
            raise ValueError("dual=True is not supported (only the primal problem); "
                             "use dual=False")
        for name in ("tol", "C"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or np.isnan(v) or v < 0 \
                    or (name == "C" and v == 0):
                raise ValueError(f"{name} must be a {'positive' if name == 'C' else 'non-negative'}"
                                 f" float, got {v!r}")
        for name in ("max_iter", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < (0 if name ==
                                                                                "max_iter" else 1):
                raise ValueError(f"{name} must be a {'non-negative' if name == 'max_iter' else 'positive'}"
                                 f" integer, got {v!r}")
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, numbers.Real) \
                or not (self.learning_rate > 0 and np.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be a positive float, got {self.learning_rate!r}")
        if self.penalty == "elasticnet":
            r = self.l1_ratio
            if isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0 <= r <= 1:
                raise ValueError(f"l1_ratio must be a float in [0, 1] with penalty='elasticnet', "
                                 f"got {r!r}")
        if self.n_threads is not None and (isinstance(self.n_threads, bool) or not isinstance(
                self.n_threads, numbers.Integral) or self.n_threads < 1):
            raise ValueError(f"n_threads must be a positive integer or None, got {self.n_threads!r}")
        if not (self.class_weight is None or self.class_weight == "balanced"
                or isinstance(self.class_weight, dict)):
            raise ValueError(f"class_weight must be a dict, 'balanced' or None, "
                             f"got {self.class_weight!r}")

    def _strengths(self, sw_sum):
        """(l2, l1) strengths in the mean-loss objective."""
        if self.penalty is None or np.isinf(self.C):
            return 0.0, 0.0
        lam = 1.0 / (self.C * sw_sum)
        if self.penalty == "l2":
            return lam, 0.0
        r = 1.0 if self.penalty == "l1" else float(self.l1_ratio)
        return lam * (1.0 - r), lam * r

    # ---- fit ---------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the model to X, y (and optional per-sample weights)."""
        with restore_on_error(self):
            return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        self._check_params()
        _require_y(self, y)
        X, y = check_fit_data(self, X, y, accept_sparse=True)
        if isinstance(X, CSR) and self.solver != "lbfgs":
            raise TypeError(f"solver={self.solver!r} needs dense X (fastfit's Trainer); "
                            "sparse input trains with solver='lbfgs'")
        check_classification_targets(y)
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError("This solver needs samples of at least 2 classes in the data, but "
                             f"the data contains only one class: {classes[0]!r}")
        dtype = X.dtype
        n, p = X.shape
        sw = as_sample_weight(sample_weight, n, np.float64)
        if self.class_weight is not None:
            cw = compute_class_weight(self.class_weight, classes=classes, y=y, sample_weight=sw)
            sw = cw[y_enc] if sw is None else sw * cw[y_enc]
        sw_sum = float(n) if sw is None else float(sw.sum())
        if not sw_sum > 0:
            raise ValueError("sample_weight (times class_weight) must have a positive sum")
        k = 1 if len(classes) == 2 else len(classes)
        labels = np.ascontiguousarray(y_enc, dtype=np.int64)
        weight = None if sw is None else np.ascontiguousarray(sw, dtype=dtype)

        theta0 = np.zeros(k * p + (k if self.fit_intercept else 0))
        if (self.warm_start and getattr(self, "coef_", None) is not None
                and self.coef_.shape == (k, p) and np.array_equal(self.classes_, classes)):
            theta0[:k * p] = self.coef_.ravel()
            if self.fit_intercept:
                theta0[k * p:] = self.intercept_

        import fastfit
        ctx = (fastfit.num_threads(self.n_threads) if self.n_threads is not None
               else contextlib.nullcontext())
        # fastfit's kernel carries the load; SciPy's optimizer steps in between are
        # vector work that BLAS threads only slow down (see fastfit._threads)
        with ctx, blas_single_threaded():
            if self.solver == "lbfgs":
                theta, n_iter = self._fit_full(X, labels, weight, k, sw_sum, theta0)
            else:
                theta, n_iter = self._fit_minibatch(X, labels, weight, k, sw_sum, theta0)

        self.classes_ = classes
        self.coef_ = theta[:k * p].reshape(k, p).astype(dtype)
        self.intercept_ = (theta[k * p:] if self.fit_intercept else np.zeros(k)).astype(dtype)
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        self._dtype = dtype
        return self

    def _fit_full(self, X, labels, weight, k, sw_sum, theta0):
        l2, l1 = self._strengths(sw_sum)
        obj = _Objective(X, labels, weight, k, self.fit_intercept, sw_sum, l2)
        if l1 > 0:
            theta, n_iter = _fista(obj, theta0, l1, self.max_iter, self.tol)
            if n_iter >= self.max_iter:
                warnings.warn("FISTA did not converge; increase max_iter or scale the data",
                              ConvergenceWarning, stacklevel=4)
            return theta, n_iter
        res = scipy.optimize.minimize(
            obj, theta0, method="L-BFGS-B", jac=True,
            options={"maxiter": self.max_iter, "maxls": 50, "gtol": self.tol,
                     "ftol": 64 * np.finfo(float).eps})
        if res.status != 0:
            warnings.warn("lbfgs failed to converge after %d iteration(s) (status=%d): %s. "
                          "Increase the number of iterations or scale the data."
                          % (res.nit, res.status, res.message), ConvergenceWarning, stacklevel=4)
        return res.x, min(res.nit, self.max_iter)

    def _fit_minibatch(self, X, labels, weight, k, sw_sum, theta0):
        from fastfit import Trainer, nn, optim

        n, p = X.shape
        l2, l1 = self._strengths(sw_sum)
        model = nn.Sequential(nn.Linear(p, k, bias=self.fit_intercept), dtype=X.dtype.name,
                              random_state=self.random_state)
        params = model.named_parameters()
        params["0.weight"][...] = theta0[:k * p].reshape(k, p).T
        if self.fit_intercept:
            params["0.bias"][...] = theta0[k * p:]
        opt_cls = optim.SGD if self.solver == "sgd" else optim.Adam
        opt = opt_cls(lr=float(self.learning_rate), weight_decay=l2, l1=l1)
        trainer = Trainer(model, loss="bce" if k == 1 else "cross_entropy", optimizer=opt,
                          epochs=max(self.max_iter, 1), batch_size=self.batch_size, shuffle=True,
                          random_state=self.random_state, n_threads=self.n_threads,
                          verbose=bool(self.verbose))
        target = labels.astype(X.dtype).reshape(-1, 1) if k == 1 else labels
        if self.max_iter > 0:
            trainer.fit(X, target, sample_weight=weight)
        params = model.named_parameters()
        theta = np.concatenate([np.asarray(params["0.weight"], dtype=np.float64).T.ravel(),
                                np.asarray(params["0.bias"], dtype=np.float64)
                                if self.fit_intercept else np.zeros(0)])
        return theta, trainer.epoch_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self.solver == "lbfgs"  # the Trainer takes dense X only
        return tags

    # ---- predictions -------------------------------------------------------------------
    def decision_function(self, X):
        """Logits: (n,) for two classes (the positive class's), else (n, n_classes)."""
        # check_predict_data raises NotFittedError before fit (n_features_in_ is set last)
        if getattr(self, "_dtype", None) is None:
            check_predict_data(self, X, None)
        coef = self.coef_.toarray() if hasattr(self.coef_, "toarray") else self.coef_
        z = linear_decision(self, X, np.asarray(coef, dtype=self._dtype), self.intercept_)
        return z[:, 0] if z.shape[1] == 1 else z

    def predict_proba(self, X):
        """Class probabilities, (n, n_classes)."""
        z = self.decision_function(X)
        if z.ndim == 1:
            # each column's sigmoid directly (1 - p would lose small probabilities), in
            # fastfit's vectorised kernel: SciPy's expit took 2.5 of 5 ms at 200k rows
            return ops.activation_forward(np.stack([-z, z], axis=1), "sigmoid")
        return ops.softmax(z)

    def predict_log_proba(self, X):
        """Log of predict_proba."""
        z = self.decision_function(X)
        if z.ndim == 1:
            return log_expit(np.stack([-z, z], axis=1))
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def predict(self, X):
        """Predicted class labels."""
        z = self.decision_function(X)
        idx = (z > 0).astype(np.intp) if z.ndim == 1 else z.argmax(axis=1)
        return self.classes_[idx]
