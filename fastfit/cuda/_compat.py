"""The one place where fastfit patches its GPU dependencies to import cleanly.

numba-cuda 0.30 still calls ``np.row_stack``, which NumPy 2.5 removed (it had been a
deprecated alias of ``np.vstack`` since NumPy 2.0): the first kernel compile then fails
with an AttributeError deep inside numba. Restoring the alias before numba is imported
is enough. Nothing else in fastfit may patch third-party modules.
"""

from __future__ import annotations

import numpy as np


def apply() -> None:
    """Restore ``np.row_stack`` if this NumPy lacks it (idempotent, no-op on NumPy < 2.5)."""
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack
