"""Grid search over a fastfit estimator in a scikit-learn Pipeline.

``fastfit.LogisticRegression`` is a drop-in scikit-learn estimator, so
``GridSearchCV`` tunes it like any other: here the inverse regularisation ``C`` behind
a ``StandardScaler``, 3-fold cross-validation on two worker processes (``n_jobs=2``;
each worker's OpenMP threads are limited, so the cores are not oversubscribed).

Run: python examples/04_grid_search.py
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fastfit import LogisticRegression

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                    random_state=0)

pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
search = GridSearchCV(pipe, {"clf__C": [0.001, 0.01, 0.1, 1.0, 10.0]}, cv=3, n_jobs=2)
search.fit(X_train, y_train)

for c, score in zip(search.cv_results_["param_clf__C"], search.cv_results_["mean_test_score"],
                    strict=True):
    print(f"C = {c:<6}  cross-validated accuracy {score:.4f}")
print(f"best C: {search.best_params_['clf__C']}")
print(f"test accuracy: {search.score(X_test, y_test):.4f}")
