"""scikit-learn-compatible estimators on fastfit's kernels.

Each estimator lives in its own module and is exported lazily from ``fastfit`` (see
``fastfit.__getattr__``), so ``import fastfit`` never imports scikit-learn.
"""
