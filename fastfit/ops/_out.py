"""The ``out=`` argument of the :mod:`fastfit.ops` wrappers, NumPy's convention.

``out=None`` allocates the results; an array (one output) or a tuple of arrays and Nones
(one entry per output, None: a fresh array) receives them, and the same objects are
returned, so a training loop can run on buffers it owns with no allocation. Every check
(:func:`fastfit._lib.out_array`'s dtype, shape and layout rules, and no memory shared with
an input or another output) runs before anything is written: a rejected call leaves
every ``out`` as it was.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fastfit._lib import out_array
from fastfit.ops._args import check_disjoint


class Out(NamedTuple):
    """One output of a call: its name (in messages), dtype and shape (None: the call does
    not compute it and returns None), the inputs it may be exactly (the kernel's "y may
    alias x"), and whether it starts at zero (the kernels that accumulate into it)."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...] | None
    alias: tuple[str, ...] = ()
    zero: bool = False


def _addr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _apart(label: str, out: np.ndarray, others, alias=()) -> None:
    """ValueError naming both unless ``out`` shares no memory with any of ``others``
    ((name, array or None) pairs); an input named in ``alias`` may be ``out``'s exact
    buffer (the same start and size), never a part of it."""
    for name, a in others:
        if a is None:
            continue
        if name in alias and _addr(a) == _addr(out) and a.nbytes == out.nbytes:
            continue
        if a.nbytes == out.nbytes and a.flags.c_contiguous:
            # both contiguous and of one size: overlap iff the starts are closer than it
            check_disjoint(out.nbytes, (label, name), (_addr(out), _addr(a)))
        elif np.shares_memory(out, a):
            raise ValueError(f"{label} and {name} must not share memory")


def outputs(out, specs: tuple[Out, ...], inputs=()) -> tuple:
    """Check ``out`` against ``specs`` and return one array per output (None where a spec
    has no shape): the caller's, zeroed where the spec says so, or fresh ones.

    ``inputs`` are the (name, array or None) pairs the kernel reads, after conversion
    (what it will really read). TypeError for an ``out`` that is not None, an array (one
    output) or a tuple of the right length; then ``out_array``'s errors for each entry;
    ValueError for an entry given where the call computes nothing, or sharing memory
    with an input or an earlier output.
    """
    if out is None:
        return tuple(None if s.shape is None else
                     (np.zeros if s.zero else np.empty)(s.shape, s.dtype) for s in specs)
    single = len(specs) == 1
    if single and not isinstance(out, tuple):
        out = (out,)
    if not isinstance(out, tuple) or len(out) != len(specs):
        names = ", ".join(s.name for s in specs)
        raise TypeError(f"out must be None or a tuple of {len(specs)} arrays or None "
                        f"({names}), got {type(out).__name__}"
                        + (f" of length {len(out)}" if isinstance(out, tuple) else ""))
    labels = ["out" if single else f"out[{i}] ({s.name})" for i, s in enumerate(specs)]
    checked = []
    for label, spec, a in zip(labels, specs, out):
        if a is not None:
            if spec.shape is None:
                raise ValueError(f"{label} must be None: this call does not compute {spec.name}")
            a = out_array(label, a, spec.dtype, spec.shape)
            _apart(label, a, inputs, spec.alias)
            _apart(label, a, zip(labels, checked))
        checked.append(a)
    result = []
    for spec, a in zip(specs, checked):
        if spec.shape is None:
            result.append(None)
        elif a is None:
            result.append((np.zeros if spec.zero else np.empty)(spec.shape, spec.dtype))
        else:
            if spec.zero:
                a.fill(0)
            result.append(a)
    return tuple(result)
