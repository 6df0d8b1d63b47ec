"""Pick a learning rate with the learning-rate finder, then train with it.

``fastfit.diagnostics.lr_finder`` sweeps the learning rate exponentially from 1e-7 to
10 over a few hundred mini-batch steps on a copy of the model (the model itself is
untouched), records the smoothed loss and suggests the rate where it falls fastest.
Training for a few epochs at the suggestion is then compared with a rate 100x lower.
Saves the sweep to ``lr_finder.png`` when matplotlib is installed.

Run: python examples/06_lr_finder.py
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from fastfit import Trainer, nn, optim
from fastfit.diagnostics import lr_finder

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, test_size=0.25, stratify=y,
                                                    random_state=0)


def make_model():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10), random_state=0)


result = lr_finder(make_model(), X_train, y_train, loss="cross_entropy", optimizer="sgd",
                   batch_size=32, n_steps=200)
print(result)

for lr in (result.suggested_lr, result.suggested_lr / 100):
    trainer = Trainer(make_model(), loss="cross_entropy", optimizer=optim.SGD(lr=lr),
                      epochs=5, batch_size=32, random_state=0)
    trainer.fit(X_train, y_train)
    accuracy = trainer.evaluate(X_test, y_test)["accuracy"]
    print(f"SGD lr {lr:.3g}: test accuracy after 5 epochs {accuracy:.4f}")

try:
    result.plot("lr_finder.png")
    print("saved lr_finder.png")
except ImportError:
    print("matplotlib is not installed: no plot (pip install 'fastfit[plot]')")
