"""LogisticRegression's penalty, l1_ratio, C and solver, read as scikit-learn 1.9 reads them.

scikit-learn 1.8 deprecated ``penalty`` (default ``"deprecated"``): ``l1_ratio`` (default
0.0) and ``C`` now name the penalty (``l1_ratio=0``: L2, ``1``: L1, between: elastic net,
``C=np.inf``: none). This module turns the parameters into the penalty a solver sees,
with scikit-learn's FutureWarnings and UserWarnings and the ValueErrors of its
``_check_solver`` for combinations a solver cannot solve (sklearn/linear_model/_logistic.py,
``LogisticRegression.fit``). fastfit's own mini-batch solvers (``sgd``, ``adam``) take
every penalty.
"""

from __future__ import annotations

import warnings

import numpy as np

#: scikit-learn 1.9's solver names, then fastfit's own.
SKLEARN_SOLVERS = ("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")
SOLVERS = SKLEARN_SOLVERS + ("sgd", "adam")
PENALTIES = ("l2", "l1", "elasticnet", None, "deprecated")

_PENALTY_DEPRECATED = (
    "'penalty' was deprecated in version 1.8 and will be removed in 1.10. To avoid this "
    "warning, leave 'penalty' set to its default value and use 'l1_ratio' or 'C' instead. "
    "Use l1_ratio=0 instead of penalty='l2', l1_ratio=1 instead of penalty='l1', l1_ratio "
    "set to a float between 0 and 1 instead of penalty='elasticnet', and C=np.inf instead "
    "of penalty=None.")


def _check_solver(solver, penalty, dual):
    """scikit-learn's solver / penalty / dual compatibility rules (same messages)."""
    if solver in ("sgd", "adam"):
        if dual:
            raise ValueError(f"Solver {solver} supports only dual=False, got dual={dual}")
        return
    if solver not in ("liblinear", "saga") and penalty not in ("l2", None):
        raise ValueError(f"Solver {solver} supports only 'l2' or None penalties, got "
                         f"{penalty} penalty.")
    if solver != "liblinear" and dual:
        raise ValueError(f"Solver {solver} supports only dual=False, got dual={dual}")
    if penalty == "elasticnet" and solver != "saga":
        raise ValueError(f"Only 'saga' solver supports elasticnet penalty, got solver={solver}.")
    if solver == "liblinear" and penalty is None:
        raise ValueError("C=np.inf as well as penalty=None is not supported for the "
                         "liblinear solver")
    if solver == "liblinear" and dual and penalty != "l2":
        raise ValueError("The combination of penalty='l1' and loss='logistic_regression' "
                         "are not supported when dual=True")


def resolve(est):
    """(penalty, C, l1_ratio) the solver sees: penalty in {"l2", "l1", "elasticnet"} or
    None, C possibly ``inf`` (no penalty), with scikit-learn 1.9's warnings and errors."""
    C, r = est.C, est.l1_ratio
    if est.penalty == "deprecated":
        if r == 0 or r is None:
            penalty = "l2"
            if r is None:
                warnings.warn("'l1_ratio=None' was deprecated in version 1.8 and will trigger "
                              "an error in 1.10. Use 0<=l1_ratio<=1 instead.", FutureWarning,
                              stacklevel=5)
        elif r == 1:
            penalty = "l1"
        else:
            penalty = "elasticnet"
        if C == np.inf:
            penalty = None
    else:
        penalty = est.penalty
        warnings.warn(_PENALTY_DEPRECATED, FutureWarning, stacklevel=5)
    _check_solver(est.solver, penalty, est.dual)
    if penalty != "elasticnet" and r is not None and 0 < r < 1:
        warnings.warn(f"l1_ratio parameter is only used when penalty is 'elasticnet'. Got "
                      f"(penalty={penalty})", stacklevel=5)
    if (est.penalty == "l2" and r != 0) or (est.penalty == "l1" and r != 1):
        warnings.warn(f"Inconsistent values: penalty={est.penalty} with l1_ratio={r}. "
                      "penalty is deprecated. Please use l1_ratio only.", stacklevel=5)
    if penalty == "elasticnet" and r is None:
        raise ValueError("l1_ratio must be specified when penalty is elasticnet.")
    if est.penalty is None:
        if C != 1.0:
            warnings.warn("Setting penalty=None will ignore the C and l1_ratio parameters",
                          stacklevel=5)
        C = np.inf
    if est.n_jobs is not None:
        warnings.warn("'n_jobs' has no effect since 1.8 and will be removed in 1.10. You "
                      f"provided 'n_jobs={est.n_jobs}', please leave it unspecified.",
                      FutureWarning, stacklevel=5)
    if np.isinf(C):
        penalty = None
    ratio = {"l2": 0.0, "l1": 1.0, None: 0.0}.get(penalty)
    return penalty, float(C), float(r) if ratio is None else ratio
