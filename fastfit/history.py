"""History: the one place a fit's per-epoch metrics live."""

from __future__ import annotations

import math


class History:
    """Per-epoch records of a training run.

    Each epoch appends one row of logs: ``loss`` (training loss, the weighted mean over
    the epoch's batches), ``accuracy`` (classification), ``val_loss`` and the
    validation metric (``val_accuracy`` or ``val_r2``) when validating, ``lr`` (the
    rate of the epoch's last step), ``seconds`` and ``samples_per_second``.

    ``history["loss"]`` is the list of one key over the epochs (None where an epoch
    lacks it); ``history.rows`` the raw records; ``len(history)`` the epoch count.
    """

    def __init__(self):
        self.rows: list[dict] = []

    def append(self, logs: dict) -> None:
        self.rows.append(dict(logs))

    def __len__(self) -> int:
        return len(self.rows)

    def keys(self) -> list[str]:
        """Every key any epoch has, in first-seen order."""
        seen = {}
        for row in self.rows:
            for k in row:
                seen.setdefault(k, None)
        return list(seen)

    def __getitem__(self, key: str) -> list:
        if key not in self.keys():
            raise KeyError(f"{key!r} is not in this history; it has {self.keys()}")
        return [row.get(key) for row in self.rows]

    def __contains__(self, key) -> bool:
        return key in self.keys()

    def __getattr__(self, key):
        if key.startswith("_") or key == "rows":
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def as_dict(self) -> dict[str, list]:
        """``{key: [value per epoch]}``."""
        return {k: self[k] for k in self.keys()}

    def best(self, key: str = "val_loss", mode: str = "auto") -> tuple[int, float]:
        """(epoch index, value) of the best finite value of ``key``."""
        maximize = (mode == "max") or (mode == "auto" and is_maximized(key))
        values = [(i, v) for i, v in enumerate(self[key]) if v is not None and math.isfinite(v)]
        if not values:
            raise ValueError(f"no finite {key!r} recorded")
        return (max if maximize else min)(values, key=lambda iv: iv[1])

    def __repr__(self):
        return f"History({len(self)} epochs, keys={self.keys()})"


def is_maximized(key: str) -> bool:
    """Whether a metric name is better when larger (accuracy, r2, scores)."""
    return any(k in key for k in ("acc", "r2", "score"))
