"""fastfit's estimators on a dask.distributed cluster: model selection through joblib's
"dask" backend and out-of-core incremental fits through dask-ml's ``Incremental``.
Both reach fastfit only through pickling and the scikit-learn API; these tests pin that
down on two worker processes. Skips when dask is not installed (``pip install
'.[dask]'``; CI installs it)."""

import os
import sys

import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")
cloudpickle = pytest.importorskip("cloudpickle")
# the workers cannot import this test module (pytest's importlib mode names it): ship
# its functions (the pid scorer) by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])

from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402

from fastfit import MLPClassifier, MLPRegressor, SGDClassifier, SGDRegressor  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y


def _pid(estimator, X, y):
    """A "score" that is the process that scored: where the work ran."""
    return os.getpid()


def test_grid_search_on_dask_equals_n_jobs_1(client):
    X, y = _data()
    grid = {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(8,), (16,)]}
    base = MLPClassifier(max_iter=15, random_state=0, n_threads=1)
    scoring = {"acc": "accuracy", "pid": _pid}
    cv = KFold(3)
    local = GridSearchCV(base, grid, cv=cv, scoring=scoring, refit="acc", n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask"):
        remote = GridSearchCV(base, grid, cv=cv, scoring=scoring, refit="acc",
                              n_jobs=-1).fit(X, y)
    for key in ("mean_test_acc", "split0_test_acc", "split1_test_acc", "split2_test_acc"):
        np.testing.assert_array_equal(local.cv_results_[key], remote.cv_results_[key])
    assert local.best_params_ == remote.best_params_
    pids = {int(remote.cv_results_[f"split{i}_test_pid"][j]) for i in range(3) for j in range(4)}
    workers = set(client.run(os.getpid).values())
    assert pids == workers and len(workers) == 2 and os.getpid() not in pids


def test_cross_val_score_on_dask_equals_n_jobs_1(client):
    X, y = _data(seed=1)
    reg_y = X @ np.arange(1.0, 7.0)
    for est, target in ((SGDClassifier(random_state=0), y),
                        (MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0,
                                      n_threads=1), reg_y)):
        local = cross_val_score(est, X, target, cv=4, n_jobs=1)
        with joblib.parallel_backend("dask"):
            remote = cross_val_score(est, X, target, cv=4, n_jobs=-1)
        np.testing.assert_array_equal(local, remote)


def test_workers_use_their_thread_budget(client):
    """threads_per_worker=1: fastfit's kernels see one OpenMP thread in each worker (the
    nanny sets OMP_NUM_THREADS before the worker process imports anything)."""

    def budget():
        import fastfit

        est = MLPClassifier(hidden_layer_sizes=(64,), max_iter=1)
        return fastfit.get_num_threads(), est.n_threads

    got = client.run(budget)
    assert len(got) == 2
    assert all(threads == 1 for threads, _ in got.values())


@pytest.mark.parametrize("make", [
    lambda: SGDClassifier(random_state=0),
    lambda: SGDRegressor(random_state=0),
    lambda: MLPClassifier(hidden_layer_sizes=(8,), random_state=0, n_threads=1),
], ids=["SGDClassifier", "SGDRegressor", "MLPClassifier"])
def test_incremental_partial_fit_over_dask_array(client, make):
    """dask-ml's Incremental (blocks in order) calls partial_fit once per block: the same
    model as the same partial_fit calls in this process."""
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = _data(n=300, seed=2)
    est = make()
    regression = isinstance(est, SGDRegressor)
    target = X @ np.arange(1.0, 7.0) if regression else y
    chunks = 100
    Xd = da.from_array(X, chunks=(chunks, X.shape[1]))
    yd = da.from_array(target, chunks=chunks)
    kwargs = {} if regression else {"classes": np.array([0, 1])}
    inc = wrappers.Incremental(est, shuffle_blocks=False).fit(Xd, yd, **kwargs)
    local = make()
    for lo in range(0, X.shape[0], chunks):
        local.partial_fit(X[lo:lo + chunks], target[lo:lo + chunks], **kwargs)
    fitted = inc.estimator_
    if isinstance(local, MLPClassifier):
        for a, b in zip(local.coefs_, fitted.coefs_):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_array_equal(local.coef_, fitted.coef_)
        np.testing.assert_array_equal(local.intercept_, fitted.intercept_)
    np.testing.assert_array_equal(local.predict(X), inc.predict(Xd).compute())
