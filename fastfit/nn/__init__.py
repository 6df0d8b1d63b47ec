"""Model description: layers and ``Sequential``, compiled into a plan the C engine runs.

Example
-------
>>> from fastfit import nn
>>> model = nn.Sequential(
...     nn.Linear(64, 256), nn.BatchNorm(256), nn.ReLU(),
...     nn.Residual(nn.Linear(256, 256), nn.BatchNorm(256), nn.ReLU()),
...     nn.Dropout(0.1), nn.Linear(256, 10), random_state=0)
"""

from fastfit.nn._layers import (GELU, BatchNorm, Dropout, Identity, Layer, LeakyReLU, Linear,
                                ReLU, Residual, Sigmoid, Tanh)
from fastfit.nn._sequential import Sequential

__all__ = ["Layer", "Linear", "BatchNorm", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU",
           "Identity", "Dropout", "Residual", "Sequential"]
