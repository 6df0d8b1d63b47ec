"""Training curves and the learning-rate finder's curve, drawn with matplotlib.

matplotlib is an optional extra (``pip install 'fastfit[plot]'``), imported only when
a function here is called: ``import fastfit`` and ``import fastfit.diagnostics`` never
import it. Figures are built with ``matplotlib.figure.Figure`` directly, not pyplot, so
saving a PNG needs no display and leaves pyplot's global state (and backend) alone;
in a notebook the returned Figure displays itself.
"""

from __future__ import annotations

__all__ = ["plot_history", "plot_lr_finder"]


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("fastfit.plot needs matplotlib: pip install 'fastfit[plot]' "
                          "(or pip install matplotlib)") from None
    return Figure(**kwargs)


def _save(fig, path):
    if path is not None:
        # Figure.savefig picks the canvas from the file type (Agg for PNG): no display
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


def _history_dict(obj) -> dict:
    from fastfit.diagnostics import history_of

    return history_of(obj)


def _series(values):
    xs, ys = [], []
    for i, v in enumerate(values):
        if v is not None:
            xs.append(i + 1)
            ys.append(v)
    return xs, ys


def plot_history(history, path=None, metrics=None, *, title=None):
    """Loss, validation metric and learning rate per epoch.

    Parameters
    ----------
    history : History, dict, Trainer or fitted estimator
        A ``fastfit.History``, ``{key: per-epoch list}``, a trainer (its ``history``) or
        an estimator with ``history_``.
    path : str or path-like, optional
        Save the figure there (PNG by the extension; no display needed).
    metrics : list of str, optional
        Keys for the middle panel; default: whichever of ``accuracy``,
        ``val_accuracy`` and ``val_r2`` the history has. The panel is omitted when
        there are none, the learning-rate panel when there is no ``lr``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    h = _history_dict(history)
    if not h.get("loss"):
        raise ValueError("the history has no 'loss': nothing to plot (was the model fitted?)")
    if metrics is None:
        metrics = [k for k in ("accuracy", "val_accuracy", "val_r2") if k in h]
    else:
        missing = [k for k in metrics if k not in h]
        if missing:
            raise ValueError(f"metrics {missing} are not in the history; it has {sorted(h)}")
    panels = ["loss"] + (["metrics"] if metrics else []) + (["lr"] if h.get("lr") else [])
    fig = _figure(figsize=(4.2 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "loss":
            for key in ("loss", "val_loss"):
                if key in h:
                    ax.plot(*_series(h[key]), marker=".", label=key)
            ax.set_ylabel("loss")
            ax.set_title("loss")
        elif panel == "metrics":
            for key in metrics:
                ax.plot(*_series(h[key]), marker=".", label=key)
            ax.set_title("metrics")
        else:
            ax.plot(*_series(h["lr"]), marker=".", color="tab:green", label="lr")
            ax.set_yscale("log")
            ax.set_title("learning rate (last step of each epoch)")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_lr_finder(result, path=None, *, title="learning-rate finder"):
    """The LR finder's loss against the learning rate (log scale), suggestion marked.

    Parameters
    ----------
    result : fastfit.diagnostics.LRFinderResult
    path : str or path-like, optional
        Save the figure there.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot(result.lrs, result.losses, color="0.75", lw=0.8, label="batch loss")
    ax.plot(result.lrs, result.smoothed, color="tab:blue", label="smoothed")
    ax.set_xscale("log")
    ax.axvline(result.suggested_lr, color="tab:red", ls="--",
               label=f"suggested {result.suggested_lr:.3g} (steepest)")
    ax.axvline(result.min_lr, color="tab:orange", ls=":",
               label=f"min / 10 = {result.min_lr:.3g}")
    # the raw losses of the last steps can be huge: scale to the smoothed curve
    lo, hi = float(min(result.smoothed)), float(max(result.smoothed[0], result.smoothed[-1]))
    pad = 0.1 * (hi - lo) if hi > lo else 0.1 * abs(hi) + 1e-12
    ax.set_ylim(lo - pad, hi + 3 * pad)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)
