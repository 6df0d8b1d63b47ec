"""Parameter validation from a table, as scikit-learn's ``_parameter_constraints``.

Each estimator (and ``fastfit.nn`` layer) declares, per parameter, the constraints a value
may meet -- an :class:`Interval`, an :class:`Options` set, ``"boolean"``, ``None``, a type
or a :class:`Check` -- and :func:`validate_params` tests them all at the start of ``fit``.
One rule everywhere:

- a real parameter is finite unless its interval says ``inf=True`` (NaN never passes);
- booleans are not numbers (``True`` is no ``1``);
- a rejected value raises :class:`InvalidParameterError`, which is both a ValueError and a
  TypeError, as scikit-learn's error of that name: code that catches either keeps working,
  whatever the kind of the mistake.

scikit-learn's own ``sklearn.utils._param_validation`` is private (fastfit uses only the
public API), and its checks cost ~50 us a fit; these cost a few hundred nanoseconds a
parameter.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


class InvalidParameterError(ValueError, TypeError):
    """A parameter value outside its constraints."""


_BOOLS = (bool, np.bool_)


class Interval:
    """Numbers of ``kind`` (``numbers.Integral`` or ``numbers.Real``) between ``low`` and
    ``high`` (None: unbounded), ``closed`` at "left", "right", "both" or "neither".
    Real values must be finite unless ``inf`` (NaN is always refused)."""

    def __init__(self, kind, low, high, closed="both", *, inf=False):
        self.kind, self.low, self.high, self.closed, self.inf = kind, low, high, closed, inf

    def ok(self, v) -> bool:
        if isinstance(v, _BOOLS) or not isinstance(v, self.kind):
            return False
        if self.kind is numbers.Real and not (math.isfinite(v) or (self.inf and not math.isnan(v))):
            return False
        lo, hi, closed = self.low, self.high, self.closed
        if lo is not None and (v < lo or (v == lo and closed in ("right", "neither"))):
            return False
        return not (hi is not None and (v > hi or (v == hi and closed in ("left", "neither"))))

    def __str__(self):
        kind = "an int" if self.kind is numbers.Integral else "a float"
        left = "[" if self.closed in ("left", "both") and self.low is not None else "("
        right = "]" if self.closed in ("right", "both") and self.high is not None else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{kind} in the range {left}{low}, {high}{right}"


#: scikit-learn's "random_state": None, a seed, or a RandomState (check_random_state's)
RANDOM_STATE = [None, Interval(numbers.Integral, 0, 2**32 - 1, "both"), np.random.RandomState]


class Options:
    """One of a fixed set of values (strings, or None among them)."""

    def __init__(self, *values):
        self.values = values

    def ok(self, v) -> bool:
        return isinstance(v, (str, type(None))) and v in self.values

    def __str__(self):
        *head, last = [repr(v) for v in self.values]
        return f"{', '.join(head)} or {last}" if head else last


class Check:
    """A predicate with its description, for the shapes a table cannot spell (a list of
    ints, a list of callbacks)."""

    def __init__(self, ok, description):
        self.ok, self.description = ok, description

    def __str__(self):
        return self.description


class _Boolean:
    def ok(self, v) -> bool:
        return isinstance(v, _BOOLS)

    def __str__(self):
        return "a bool"


class _None:
    def ok(self, v) -> bool:
        return v is None

    def __str__(self):
        return "None"


class _Instance:
    def __init__(self, cls):
        self.cls = cls

    def ok(self, v) -> bool:
        return isinstance(v, self.cls)

    def __str__(self):
        return f"an instance of {self.cls.__module__}.{self.cls.__qualname__}"


def _compile(constraint):
    if constraint == "boolean":
        return _Boolean()
    if constraint is None:
        return _None()
    if isinstance(constraint, type):
        return _Instance(constraint)
    return constraint


_COMPILED: dict = {}


def validate_params(obj, constraints: dict | None = None) -> None:
    """Raise InvalidParameterError for the first parameter of ``obj`` that meets none of
    its constraints (``constraints`` defaults to ``type(obj)._parameter_constraints``,
    merged along the class's bases, so a subclass lists only what it adds or changes)."""
    table = _table(type(obj)) if constraints is None else _compile_table(constraints)
    d = obj.__dict__
    owner = type(obj).__name__
    for name, checks in table:
        _check(owner, name, d[name], checks)


def check_param(owner: str, name: str, value, constraints: list):
    """``value`` if it meets one of ``constraints``, else InvalidParameterError naming
    ``owner``'s parameter ``name``: for arguments checked where they are given (the
    ``fastfit.nn`` layers' constructors)."""
    _check(owner, name, value, [_compile(c) for c in constraints])
    return value


def _check(owner, name, value, checks):
    for check in checks:
        if check.ok(value):
            return
    raise InvalidParameterError(
        f"The '{name}' parameter must be {' or '.join(str(c) for c in checks)}, got {value!r} "
        f"({owner}).")


def _compile_table(constraints):
    return [(name, [_compile(c) for c in cs]) for name, cs in constraints.items()]


def _table(cls):
    table = _COMPILED.get(cls)
    if table is None:
        merged = {}
        for base in reversed(cls.__mro__):
            merged.update(base.__dict__.get("_parameter_constraints", {}))
        table = _COMPILED[cls] = _compile_table(merged)
    return table
