"""A digits classifier: MLP with batch norm, dropout and early stopping in a Pipeline.

scikit-learn's bundled 8x8 digits (1797 images, no download). The features are
standardised by ``StandardScaler`` inside the ``Pipeline`` (fitted on the training
split only), then ``fastfit.MLPClassifier`` -- scikit-learn's parameters plus
``batch_norm`` and ``dropout`` -- trains with early stopping on a 10% validation split.
Prints the test accuracy and a diagnosis of the fit; saves the training curves to
``digits_history.png`` when matplotlib is installed.

Run: python examples/03_digits_mlp.py
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastfit import MLPClassifier
from fastfit.diagnostics import diagnose_fit

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                    random_state=0)

clf = MLPClassifier(hidden_layer_sizes=(256, 128), batch_norm=True, dropout=0.1,
                    early_stopping=True, validation_fraction=0.1, n_iter_no_change=10,
                    max_iter=100, random_state=0)
pipe = make_pipeline(StandardScaler(), clf).fit(X_train, y_train)

mlp = pipe[-1]
print(f"epochs: {mlp.n_iter_}, best validation accuracy: {mlp.best_validation_score_:.4f}")
print(f"test accuracy: {pipe.score(X_test, y_test):.4f}")
print("diagnosis:", diagnose_fit(mlp).verdict)

try:
    from fastfit.plot import plot_history

    plot_history(mlp, "digits_history.png", title="digits MLP")
    print("saved digits_history.png")
except ImportError:
    print("matplotlib is not installed: no plot (pip install 'fastfit[plot]')")
