"""Logistic regression: the essay's second worked example.

Five one-feature points, the first two of class 0 and the last three of class 1. A
model p(y=1 | x) = sigmoid(w*x + b) (``nn.Linear(1, 1)`` with binary cross-entropy on
its logit) trained by gradient descent puts the decision boundary x = -b/w between 2
and 3. Then ``fastfit.LogisticRegression``, scikit-learn's API, does the same.

Run: python examples/02_logistic_regression.py
"""

import numpy as np

from fastfit import LogisticRegression, Trainer, nn, optim

x = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
y = np.array([0, 0, 1, 1, 1])

model = nn.Sequential(nn.Linear(1, 1), dtype="float64", random_state=0)
trainer = Trainer(model, loss="bce", optimizer=optim.SGD(lr=0.5),
                  epochs=1000, batch_size=len(x), shuffle=False, random_state=0)
history = trainer.fit(x, y)

w = model.layers[0].weight[0, 0]
b = model.layers[0].bias[0]
proba = trainer.predict_proba(x)[:, 0]
print(f"gradient descent, {len(history)} steps: loss {history['loss'][-1]:.4f}")
print(f"w = {w:.3f}  b = {b:.3f}  boundary x = {-b / w:.3f}")
print("p(y=1):", np.round(proba, 3))
print("predictions:", (proba > 0.5).astype(int))

clf = LogisticRegression().fit(x, y)
w, b = clf.coef_[0, 0], clf.intercept_[0]
print(f"LogisticRegression (C=1): w = {w:.3f}  b = {b:.3f}  boundary x = {-b / w:.3f}")
print("LogisticRegression predictions:", clf.predict(x))
