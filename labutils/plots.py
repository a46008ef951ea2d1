"""Plots a person would rather look at than read: training curves, the layer-ablation heatmap, results over seeds."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def _axes(ax, figsize):
    """`ax`, or the axes of a new figure of `figsize`."""
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=figsize)[1] if ax is None else ax


def _label_heatmap(ax, image, values, cells, fmt: str, xticks, yticks, title: str, colorbar: str) -> None:
    """Write each of `cells`' value on the heatmap `image` (readable on its colour), then ticks, title, colour bar."""
    for i, j in cells:
        ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=8,
                color=text_colour(image.cmap(image.norm(values[i, j]))))
    ax.set_xticks(range(len(xticks)), xticks)
    ax.set_yticks(range(len(yticks)), yticks)
    ax.set_title(title, fontsize=10)
    ax.figure.colorbar(image, ax=ax, label=colorbar)


def text_colour(rgba) -> str:
    """White on a dark background, black on a light one (relative luminance, ITU-R BT.709)."""
    r, g, b = rgba[:3]
    return "white" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45 else "black"


def plot_training_curves(results: dict, title: str = "Training curves"):
    """One figure: training loss by epoch (left), dev accuracy and F1 by epoch (right), one line per run."""
    import matplotlib.pyplot as plt
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, (label, result) in enumerate(results.items()):
        history = getattr(result, "history", result)  # a TrainResult or Trainer's log history itself
        train = [(h["epoch"], h["loss"]) for h in history if "loss" in h and "step" in h]
        evals = [(h["epoch"], h.get("eval_accuracy"), h.get("eval_f1")) for h in history if "eval_accuracy" in h]
        if train:
            epochs, losses = zip(*train)
            ax_loss.plot(epochs, losses, color=f"C{i}", alpha=0.8, label=label)
        if evals:
            epochs, acc, f1 = zip(*evals)
            ax_metric.plot(epochs, acc, "o-", color=f"C{i}", label=f"{label}: accuracy")
            ax_metric.plot(epochs, f1, "s--", color=f"C{i}", alpha=0.7, label=f"{label}: F1")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="Training loss")
    ax_metric.set(xlabel="epoch", ylabel="dev score", title="Dev accuracy and F1")
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_layer_ablation(delta: np.ndarray,
                        title: str = "Dev accuracy change when adapters in layers [first, last] are removed",
                        ax=None, cmap: str = "RdBu", fmt: str = "{:.1f}"):
    """The paper's Figure 6: a heatmap over spans [first, last] of ablated layers.
    `delta[i, j]`: the change in dev accuracy (points) with adapters off in layers i..j (i <= j drawn)."""
    from matplotlib.colors import TwoSlopeNorm
    delta = np.asarray(delta, dtype=float)
    n = delta.shape[0]
    if delta.shape != (n, n):
        raise ValueError(f"delta must be square (layers x layers), got shape {delta.shape}.")
    masked = np.ma.masked_where(np.tril(np.ones((n, n), bool), k=-1), delta)
    ax = _axes(ax, (1.0 + 0.75 * n, 0.8 + 0.7 * n))
    reach = max(float(np.nanmax(np.abs(masked.compressed()))) if masked.count() else 0.0, 1e-9)
    image = ax.imshow(masked, cmap=cmap, norm=TwoSlopeNorm(vmin=-reach, vcenter=0.0, vmax=reach), origin="upper")
    ax.set(xlabel="last ablated layer", ylabel="first ablated layer")
    layers = [str(k) for k in range(n)]
    _label_heatmap(ax, image, delta, [(i, j) for i in range(n) for j in range(i, n)], fmt, layers, layers, title,
                   "change in dev accuracy (points)")
    return ax


def plot_confusion(labels, predictions, label_names, title: str = "Confusion matrix", ax=None):
    """Counts of (human label, predicted label), annotated, rows = human labels."""
    from sklearn.metrics import confusion_matrix
    cm = confusion_matrix(labels, predictions, labels=list(range(len(label_names))))
    ax = _axes(ax, (4.2, 3.6))
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(len(label_names)), label_names, rotation=20)
    ax.set_yticks(range(len(label_names)), label_names)
    ax.set(xlabel="model", ylabel="human", title=title)
    return ax


def seed_spread(runs, by: str, metrics: Sequence[str] = ("accuracy", "f1")):
    """Mean, standard deviation and count over seeds of `metrics` (in percent) per value of `by`.
    One seed's std is NaN: no spread was measured."""
    import pandas as pd
    table = pd.DataFrame(runs).groupby(by, sort=False)[list(metrics)].agg(["mean", "std", "count"])
    for column in [(metric, stat) for metric in metrics for stat in ("mean", "std")]:
        table[column] *= 100
    return table


def mean_std(values) -> str:
    """'81.0 ± 0.7': the mean over seeds of `values` (fractions) in percent, ± their standard deviation
    (n - 1); one value alone, since one seed measures no spread."""
    values = 100 * np.asarray(values, dtype=float)
    return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}" if len(values) > 1 else f"{values.mean():.1f}"


def plot_seed_spread(runs, x: str, y: str = "accuracy", ax=None, logx: bool = False, label: Optional[str] = None,
                     reference: Optional[float] = None, reference_label: str = "majority class"):
    """Each seed's result as a faint dot, the mean over seeds as a line with ± one std as error bars."""
    import pandas as pd
    frame = pd.DataFrame(runs)
    ax = _axes(ax, (6, 3.6))
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


def plot_fusion_attention(frame, title: str = "Mean fusion attention", ax=None, cmap: str = "Blues"):
    """Heatmap of AdapterFusion's mean attention: rows (layer, sublayer), columns the source adapters."""
    values = np.asarray(frame.values, dtype=float)
    rows, cols = values.shape
    ax = _axes(ax, (1.6 + 0.9 * cols, 0.8 + 0.32 * rows))
    image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xlabel("source adapter")
    _label_heatmap(ax, image, values, [(i, j) for i in range(rows) for j in range(cols)], "{:.2f}",
                   [str(c) for c in frame.columns], [f"layer {i}, {sub}" for i, sub in frame.index], title,
                   f"attention (uniform: {1 / cols:.2f})")
    return ax
