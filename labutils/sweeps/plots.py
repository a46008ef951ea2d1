"""Results over seeds: a table of mean, std and count, and a plot of each seed with the mean.

(These belong with the lesson's plots, `labutils/plots.py`; they sit here until that file moves.)
"""
from __future__ import annotations

from typing import Optional, Sequence


def seed_spread(runs, by: str, metrics: Sequence[str] = ("accuracy", "f1")):
    """Mean, standard deviation and count over seeds of `metrics` (in percent) per value of `by`.

    `runs` is a DataFrame (or a list of dicts) with one row per run. The standard deviation of
    a single seed is NaN: no spread was measured.
    """
    import pandas as pd

    frame = pd.DataFrame(runs)
    table = frame.groupby(by, sort=False)[list(metrics)].agg(["mean", "std", "count"])
    for metric in metrics:
        table[(metric, "mean")] *= 100
        table[(metric, "std")] *= 100
    return table


def plot_seed_spread(runs, x: str, y: str = "accuracy", ax=None, logx: bool = False, label: Optional[str] = None,
                     reference: Optional[float] = None, reference_label: str = "majority class"):
    """Each seed's result as a faint dot, the mean over seeds as a line with ± one std as error bars.

    `y` is a fraction (accuracy, F1) and drawn in percent; `reference` (a fraction, e.g. the
    majority-class rate) is drawn as a dashed line.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.DataFrame(runs)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    stats = frame.groupby(x, sort=True)[y].agg(["mean", "std"])
    ax.scatter(frame[x], 100 * frame[y], s=14, alpha=0.4, color="C0", label="one seed")
    ax.errorbar(stats.index, 100 * stats["mean"], yerr=100 * stats["std"].fillna(0), fmt="o-", color="C0",
                capsize=3, label=label or "mean ± std over seeds")
    if reference is not None:
        ax.axhline(100 * reference, ls="--", color="grey", lw=1, label=reference_label)
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=x, ylabel=f"dev {y} (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
