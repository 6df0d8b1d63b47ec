"""Seeds for the counter-based generator, derived from a ``random_state``.

Every random stream fastfit uses (initialisation, shuffling, dropout, validation
splits) gets its own 64-bit seed from ``numpy.random.SeedSequence``, so two purposes
never read the same generator words, and ``random_state=None`` means fresh entropy.
"""

from __future__ import annotations

import numbers

import numpy as np


def seeds_from(random_state, n: int) -> list[int]:
    """``n`` independent uint64 seeds from an int, a NumPy Generator/RandomState or None."""
    if random_state is None:
        entropy = None
    elif isinstance(random_state, (bool, np.bool_)):
        raise TypeError("random_state must be an int, a NumPy generator or None, got a bool")
    elif isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}")
        entropy = int(random_state)
    elif isinstance(random_state, np.random.Generator):
        entropy = int(random_state.integers(0, 2**63))
    elif isinstance(random_state, np.random.RandomState):
        entropy = int(random_state.randint(0, 2**31 - 1))
    else:
        raise TypeError("random_state must be an int, a NumPy Generator/RandomState or None, "
                        f"got {type(random_state).__name__}")
    state = np.random.SeedSequence(entropy).generate_state(n, dtype=np.uint64)
    return [int(s) for s in state]
