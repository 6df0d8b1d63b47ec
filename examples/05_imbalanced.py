"""Imbalanced classes: class_weight="balanced" against no weighting.

A binary problem with 5% positives. Plain accuracy rewards predicting the majority
class; what matters is how many positives are found (recall of the minority class) and
the balanced accuracy (mean recall over the classes). The split is stratified so the
test set keeps the 5%. ``class_weight="balanced"`` weights each class by
``n_samples / (n_classes * count)``, trading some precision for recall.

Run: python examples/05_imbalanced.py
"""

from sklearn.datasets import make_classification
from sklearn.metrics import accuracy_score, balanced_accuracy_score, precision_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastfit import LogisticRegression

X, y = make_classification(n_samples=4000, n_features=20, n_informative=5, weights=[0.95],
                           class_sep=0.7, flip_y=0.01, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                    random_state=0)
print(f"positives: {y_train.mean():.1%} of the training set, {y_test.mean():.1%} of the test set")

for class_weight in (None, "balanced"):
    model = make_pipeline(StandardScaler(), LogisticRegression(class_weight=class_weight))
    pred = model.fit(X_train, y_train).predict(X_test)
    print(f"class_weight={class_weight!s:<9} accuracy {accuracy_score(y_test, pred):.3f}  "
          f"balanced accuracy {balanced_accuracy_score(y_test, pred):.3f}  "
          f"minority recall {recall_score(y_test, pred):.3f}  "
          f"minority precision {precision_score(y_test, pred, zero_division=0):.3f}")
