"""Optimizers (one fused C update over the flat parameter buffer) and learning-rate
schedules (multipliers of the base rate, evaluated per block of steps)."""

from fastfit.optim._optimizers import SGD, Adam, AdamW, Optimizer, RMSProp, get
from fastfit.optim._schedules import (Constant, Cosine, Exponential, InverseScaling,
                                      ReduceOnPlateau, Schedule, StepDecay)

__all__ = ["Optimizer", "SGD", "RMSProp", "Adam", "AdamW", "get", "Schedule", "Constant",
           "StepDecay", "Exponential", "Cosine", "InverseScaling", "ReduceOnPlateau"]
