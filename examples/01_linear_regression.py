"""Linear regression by gradient descent: the essay's first worked example.

Five points on the line y = 2x + 3. A model y = w*x + b (``nn.Linear(1, 1)``) trained
with plain gradient descent on the mean squared error -- every epoch is one step over
the whole set -- recovers w = 2 and b = 3. Then ``fastfit.LinearRegression`` solves the
same least-squares problem exactly.

Run: python examples/01_linear_regression.py
"""

import numpy as np

from fastfit import LinearRegression, Trainer, nn, optim

x = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
y = 2 * x[:, 0] + 3

model = nn.Sequential(nn.Linear(1, 1), dtype="float64", random_state=0)
trainer = Trainer(model, loss="mse", optimizer=optim.SGD(lr=0.05),
                  epochs=2000, batch_size=len(x), shuffle=False, random_state=0)
history = trainer.fit(x, y)

w = model.layers[0].weight[0, 0]
b = model.layers[0].bias[0]
print(f"gradient descent, {len(history)} steps: loss {history['loss'][-1]:.2e}")
print(f"w = {w:.3f}  b = {b:.3f}")
print(f"prediction at x=6: {model.predict([[6.0]])[0, 0]:.3f} (true 15)")

reg = LinearRegression().fit(x, y)
w, b = reg.coef_[0], reg.intercept_
print(f"LinearRegression: w = {w:.3f}  b = {b:.3f}")
