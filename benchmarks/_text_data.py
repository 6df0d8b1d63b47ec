"""Text-like sparse data for the benchmarks: what a TF-IDF matrix looks like to a kernel."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def text_csr(n_rows: int, n_features: int, draws: int, rng) -> sp.csr_matrix:
    """An (n_rows, n_features) float32 CSR: ``draws`` Zipf(1.2)-distributed columns a row
    (duplicates summed, so fewer distinct ones: ~36 of 60, ~59 of 110), random values,
    rows l2-normalised, indices sorted."""
    cols = np.minimum(rng.zipf(1.2, n_rows * draws) - 1, n_features - 1).astype(np.int32)
    rows = np.repeat(np.arange(n_rows, dtype=np.int32), draws)
    x = sp.csr_matrix((rng.random(n_rows * draws).astype(np.float32), (rows, cols)),
                      shape=(n_rows, n_features))
    x.sum_duplicates()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = sp.csr_matrix(sp.diags((1.0 / np.maximum(norms, 1e-12)).astype(np.float32)) @ x)
    x.sort_indices()
    return x
