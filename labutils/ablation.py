"""Ablations of the adapter design, with real training runs that survive a crash.

Houlsby et al. (2019, Section 3.6) ask which adapters matter and how robust they are:

* **Layer-span ablation** (their Figure 6): train adapters in every layer once, then switch
  off the adapters in every contiguous span of layers [first, last] *without retraining* and
  see how much dev accuracy drops (`span_accuracy`, `span_ablation`).
* **Initialisation scale and bottleneck size** (their Section 3.6): train one adapter per
  setting and seed (`train_variant`).

The lab adds two later variants built from the same parts: adapters running *parallel* to the
sublayer (He et al., 2022) and **AdapterDrop** (Rücklé et al., 2021), which removes adapters
from the lowest k layers so that training need not backpropagate through them
(`freeze_layers_below`).

Training runs are slow, so every finished run is stored as one JSON file in a `RunCache`,
named by a stable hash of the settings that produced it (`run_settings`, `stable_key`).
A notebook that crashed half-way resumes where it stopped; changing any setting (budget,
seed, adapter config, data, model, device) trains anew.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import math
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from .config import AdapterConfig
from .device import pick_device, pick_precision
from .freeze import is_pooler, parameter_report
from .hub import ModelChoice, base_fingerprint, load_base_model
from .latency import compare_latency, synthetic_batch
from .model import (adapter_configs, adapter_modules_only, adapter_parameter_count, adapter_sublayers,
                    adapters_skipped, add_adapter, encoder_layers, skipped_layers)
from .recipes import adapter_model
from .runs import Job, RunCache, stable_key  # noqa: F401 - RunCache, stable_key: re-exported for notebooks
from .train import evaluate, set_seed, train, training_arguments

# Part of every cache key. Bump it when what a run measures or how it trains changes, so that
# results from the old procedure stop matching instead of being silently reused.
CACHE_VERSION = 2  # 2: latency is measured per architecture (`variant_latency`), not per run
ADAPTER_NAME = "ablation"


# --------------------------------------------------------------------------------------------
# Layer-span ablation (paper Figure 6)
# --------------------------------------------------------------------------------------------

def majority_rate(labels) -> float:
    """Share of the most common label: the accuracy of always predicting the majority class."""
    labels = np.asarray(labels)
    if labels.size == 0:
        raise ValueError("majority_rate needs at least one label.")
    _, counts = np.unique(labels, return_counts=True)
    return float(counts.max() / labels.size)


def spans(n_layers: int) -> list:
    """Every contiguous span of layers as (first, last), both included: n(n+1)/2 of them."""
    return [(first, last) for first in range(n_layers) for last in range(first, n_layers)]


def span_scores(model, score: Callable, progress: bool = True):
    """`score(model)` with all adapters on, and with the adapters of each span [first, last] off.

    Returns (baseline, matrix) where matrix[first, last] is the score with adapters in layers
    first..last switched off and NaN below the diagonal (no such span). Nothing is retrained;
    the switch is `adapters_skipped`, so every adapter is back on afterwards.
    """
    from tqdm.auto import tqdm

    n = len(encoder_layers(model))
    with adapters_skipped(model, []):  # a clean start, whatever was skipped before
        baseline = float(score(model))
        matrix = np.full((n, n), np.nan)
        # Pass `disable` only to switch bars off: an explicit False would override TQDM_DISABLE.
        bar = tqdm(spans(n), desc="spans", leave=False, **({} if progress else {"disable": True}))
        for first, last in bar:
            with adapters_skipped(model, range(first, last + 1)):
                matrix[first, last] = float(score(model))
    return baseline, matrix


def span_accuracy(model, tokenizer, dataset, batch_size: int = 64, progress: bool = True):
    """(dev accuracy with every adapter on, matrix of dev accuracy per ablated span), in percent."""
    def accuracy(m):
        return 100.0 * evaluate(m, tokenizer, dataset, batch_size)["accuracy"]

    return span_scores(model, accuracy, progress)


def span_ablation(model, tokenizer, dataset, batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """Change in dev accuracy (points) when the adapters of layers [first, last] are removed.

    `delta[first, last]` is accuracy without those adapters minus accuracy with all of them;
    NaN below the diagonal. Draw it with `labutils.plots.plot_layer_ablation`.
    """
    baseline, matrix = span_accuracy(model, tokenizer, dataset, batch_size, progress)
    return matrix - baseline


def is_upper_triangular(matrix) -> bool:
    """True if the matrix is square, finite on and above the diagonal and NaN strictly below it."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        return False
    below = np.tril(np.ones(matrix.shape, bool), k=-1)
    return bool(np.isnan(matrix[below]).all() and np.isfinite(matrix[~below]).all())


def matrix_to_json(matrix) -> list:
    """Nested lists with None for NaN (strict JSON has no NaN)."""
    return [[None if math.isnan(v) else float(v) for v in row] for row in np.asarray(matrix, dtype=float)]


def matrix_from_json(rows) -> np.ndarray:
    """Inverse of `matrix_to_json`: None comes back as NaN."""
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


# --------------------------------------------------------------------------------------------
# Training one variant
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Budget:
    """How much each ablation run costs, and how many seeds a spread gets.

    Built from the run profile (`Budget.from_profile`), overridable field by field. Everything
    but `seeds` goes into each run's cache key: a different budget is a different run.
    """
    epochs: float = field(default=3, metadata={"help": "Training epochs per run."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adapter learning rate."})
    batch_size: int = field(default=32, metadata={"help": "Examples per training step."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many steps (-1: run all epochs)."})
    train_rows: Optional[int] = field(default=None, metadata={"help": "Training examples (None: all)."})
    eval_rows: Optional[int] = field(default=None, metadata={"help": "Dev examples (None: all)."})
    max_length: int = field(default=128, metadata={"help": "Tokens per pair after truncation."})
    seeds: tuple = field(default=(0, 1, 2), metadata={"help": "Seeds per point of the init-scale and bottleneck sweeps."})
    reference_seeds: tuple = field(default=(0, 1, 2), metadata={"help": "Seeds of the reference Houlsby adapter: the seed-to-seed noise every gap is read against."})
    latency: tuple = field(default=(32, 128, 60), metadata={"help": "Inference latency: (pairs, tokens, passes per setting, the settings taking turns)."})
    workers: int = field(default=0, metadata={"help": "Runs trained at once (0: one on a GPU, two on a multi-core CPU)."})

    @classmethod
    def from_profile(cls, profile, **overrides) -> "Budget":
        budget = cls(epochs=profile.ablation_epochs, learning_rate=profile.adapter_lr,
                     batch_size=profile.batch_size, max_steps=profile.ablation_max_steps,
                     train_rows=profile.ablation_train_rows, eval_rows=profile.ablation_eval_rows,
                     max_length=profile.ablation_max_length,
                     seeds=tuple(profile.ablation_seeds), reference_seeds=tuple(profile.ablation_reference_seeds),
                     latency=tuple(profile.ablation_latency),
                     workers=profile.ablation_workers)
        return dataclasses.replace(budget, **overrides)

    def recipe(self) -> dict:
        """The settings that shape one run's training (not the seed list, latency batch or workers)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("seeds", "reference_seeds", "latency", "workers")}


_FINGERPRINTS: dict = {}  # datasets' own per-process fingerprint -> our content digest


def data_fingerprint(dataset) -> str:
    """A digest of a tokenised dataset's token ids and labels.

    Names the exact rows a run saw, so a cached result is reused only for the same subset,
    tokenizer and truncation. (`datasets`' own `_fingerprint` is not stable across processes
    for in-memory data, so it only serves to remember the digest within one session.)
    """
    own = getattr(dataset, "_fingerprint", None)
    if own is not None and own in _FINGERPRINTS:
        return _FINGERPRINTS[own]
    h = hashlib.sha256()
    for ids in dataset["input_ids"]:
        h.update(np.asarray(ids, dtype=np.int64).tobytes())
        h.update(b"|")  # row boundary: [1, 2][3] and [1][2, 3] must differ
    h.update(np.asarray(list(dataset["label"]), dtype=np.int64).tobytes())
    digest = h.hexdigest()[:16]
    if own is not None:
        _FINGERPRINTS[own] = digest
    return digest


def freeze_layers_below(model, first_layer: int) -> None:
    """AdapterDrop's training saving: nothing below encoder layer `first_layer` trains.

    `freeze_for_adapters` trains every LayerNorm, which would make autograd run the backward
    pass all the way down even where no adapter sits. Freezing the LayerNorms of layers below
    `first_layer` (and the embeddings' when `first_layer` > 0) lets the backward pass stop at
    `first_layer`, which is where AdapterDrop's speed-up comes from.
    """
    layers = encoder_layers(model)
    for layer in layers[:first_layer]:
        for param in layer.parameters():
            param.requires_grad = False
    if first_layer > 0:
        for param in model.base_model.embeddings.parameters():
            param.requires_grad = False


def lowest_trainable_layer(model) -> int:
    """Index of the lowest encoder layer with a trainable parameter (the number of layers if none)."""
    layers = encoder_layers(model)
    for i, layer in enumerate(layers):
        if any(p.requires_grad for p in layer.parameters()):
            return i
    return len(layers)


def run_settings(choice: ModelChoice, data, config: AdapterConfig, budget: Budget, seed: int, *,
                 frozen_below: int = 0, task: str = "mrpc", tag: Optional[str] = None,
                 train_pooler: Optional[bool] = None) -> dict:
    """Everything that determines one run's result: the key it is cached under."""
    device = pick_device()
    settings = {
        "version": CACHE_VERSION,
        "task": task,
        # What the model is (its config and weights), not its folder's name: two folders named
        # `bert` with other weights must not share runs.
        "model": base_fingerprint(choice),
        "train_data": data_fingerprint(data["train"]),
        "dev_data": data_fingerprint(data["validation"]),
        "adapter": config.to_dict(),
        "frozen_below": int(frozen_below),
        "budget": budget.recipe(),
        "seed": int(seed),
        "device": device,
        "precision": pick_precision(device),
        "tag": tag,  # names an extra measurement (`after_training`) stored with the run
    }
    # The model's own pooler rule is part of "model"; only a departure from it is a setting, so
    # runs stored before the choice existed keep their keys.
    if train_pooler is not None and bool(train_pooler) != choice.pooler_trains:
        settings["train_pooler"] = bool(train_pooler)
    return settings


def _learned_scales(model) -> list:
    return [float(a.scale.detach()) for _, module in adapter_sublayers(model)
            for a in module.adapters.values() if isinstance(a.scale, torch.nn.Parameter)]


def span_measurements(model, tokenizer, dev) -> dict:
    """The layer-span sweep of a trained model, stored with its run (tag "span-ablation")."""
    baseline, accuracy = span_accuracy(model, tokenizer, dev, progress=False)
    again = 100 * evaluate(model, tokenizer, dev)["accuracy"]
    return {"span_baseline": baseline, "span_accuracy": matrix_to_json(accuracy),
            # every adapter back on after the sweep, and the model exactly as before it
            "restored": skipped_layers(model) == [] and again == baseline}


# Extra measurements of a trained model, by the tag that names them in the cache key. Worker
# processes cannot receive a notebook's functions, so they look the measurement up here.
AFTER_TRAINING = {"span-ablation": lambda model, tokenizer, data: span_measurements(model, tokenizer, data["validation"])}


def train_variant(choice: ModelChoice, data, config: AdapterConfig, budget: Budget, seed: int = 0, *,
                  frozen_below: int = 0, after_training: Optional[Callable] = None, tag: Optional[str] = None,
                  quiet: bool = True, train_pooler: Optional[bool] = None) -> dict:
    """Train one adapter variant from a fresh base model and measure it; returns a plain dict.

    A fresh pretrained model gets an adapter with `config`; the base is frozen as in the paper
    (adapters, LayerNorms and head train; the pooler as `train_pooler` says, None: the model's
    rule), and with `frozen_below` = k also every layer below k (AdapterDrop). It trains with `labutils.train` on `data["train"]` and is evaluated on
    `data["validation"]`. `after_training(model, tokenizer) -> dict`, or the measurement
    `AFTER_TRAINING[tag]`, may add measurements of the trained model (e.g. a span ablation).

    The result holds dev accuracy/F1/MCC, training time and speed, and parameter counts: only
    numbers, strings and lists, ready for a `RunCache`. Inference latency depends only on the
    architecture, not on trained weights: `variant_latency` measures it for many variants at once.
    """
    if after_training is None and tag in AFTER_TRAINING:
        after_training = lambda model, tokenizer: AFTER_TRAINING[tag](model, tokenizer, data)  # noqa: E731
    set_seed(seed)  # the new head and the adapters are initialised from the global RNG
    label_names = data["train"].features["label"].names
    model, tokenizer = adapter_model(choice, label_names, ADAPTER_NAME, config, train_pooler=train_pooler)
    if frozen_below:
        freeze_layers_below(model, frozen_below)
    report = parameter_report(model)

    with tempfile.TemporaryDirectory(prefix="ablation-run-") as run_dir:
        args = training_arguments(
            run_dir, epochs=budget.epochs, learning_rate=budget.learning_rate, batch_size=budget.batch_size,
            seed=seed, max_steps=budget.max_steps,
            # One evaluation at the end: per-epoch evaluation would count in the training time.
            eval_each_epoch=False, logging_steps=50, **({"disable_tqdm": True} if quiet else {}))
        # Without progress bars Trainer prints its logs instead; a sweep of dozens of runs
        # shows its own progress bar, so keep those logs out of the notebook.
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            result = train(model, tokenizer, data["train"], data["validation"], args)

    d = model.config.hidden_size
    out = {
        "accuracy": result.metrics["eval_accuracy"],
        "f1": result.metrics["eval_f1"],
        "mcc": result.metrics.get("eval_mcc", 0.0),
        "eval_loss": result.metrics.get("eval_loss"),
        "train_seconds": result.train_seconds,
        "train_samples_per_second": result.samples_per_second,
        "peak_memory_mib": result.peak_memory_mib,
        "bottleneck": config.bottleneck_for(d),
        "n_adapters": sum(1 for _, m in adapter_sublayers(model) if ADAPTER_NAME in m.adapters),
        "adapter_params": adapter_parameter_count(model, ADAPTER_NAME),
        "trainable_params": report["trainable"],
        "trainable_pct": report["trainable_pct_of_base"],
        "trainable_without_head_pct": report["trainable_without_head_pct"],
        "pooler_trained": any(p.requires_grad for n, p in model.named_parameters() if is_pooler(n)),
        "base_params": report["base_model"],
        "lowest_trained_layer": lowest_trainable_layer(model),
        "n_layers": len(encoder_layers(model)),
        "learned_scales": _learned_scales(model),
        "device": result.device,
        "precision": result.precision,
    }
    if after_training is not None:
        out.update(after_training(model, tokenizer))
    return out


def cached_variant(cache: RunCache, choice: ModelChoice, data, config: AdapterConfig, budget: Budget,
                   seed: int = 0, *, frozen_below: int = 0, after_training: Optional[Callable] = None,
                   tag: Optional[str] = None, train_pooler: Optional[bool] = None) -> dict:
    """`train_variant`, or its stored result when a run with the same settings finished before.

    Give a `tag` with `after_training`: it names the extra measurement in the cache key.
    """
    if after_training is not None and tag is None:
        raise ValueError("give a tag that names the after_training measurement; it goes into the cache key.")
    settings = run_settings(choice, data, config, budget, seed, frozen_below=frozen_below, tag=tag,
                            train_pooler=train_pooler)
    return cache.get_or_run(settings, lambda: train_variant(
        choice, data, config, budget, seed, frozen_below=frozen_below, after_training=after_training, tag=tag,
        train_pooler=train_pooler))


def variant_job(choice: ModelChoice, data, config: AdapterConfig, budget: Budget, seed: int = 0, *,
                frozen_below: int = 0, tag: Optional[str] = None, label: str = "",
                train_pooler: Optional[bool] = None) -> Job:
    """The `labutils.runs.Job` that trains this variant (for `run_jobs`, several at a time).

    Extra measurements come from `AFTER_TRAINING[tag]`, since a worker cannot be handed a function.
    """
    if tag is not None and tag not in AFTER_TRAINING:
        raise ValueError(f"unknown measurement tag {tag!r}; known: {sorted(AFTER_TRAINING)}.")
    settings = run_settings(choice, data, config, budget, seed, frozen_below=frozen_below, tag=tag,
                            train_pooler=train_pooler)
    return Job(settings, "labutils.ablation:train_variant",
               dict(choice=choice, data=data, config=config, budget=budget, seed=seed,
                    frozen_below=frozen_below, tag=tag, train_pooler=train_pooler),
               label or f"{config.placement}/{config.mode} m={config.bottleneck} std={config.init_std} seed={seed} k={frozen_below}")


def variant_latency(choice: ModelChoice, configs: dict, pairs: int = 32, tokens: int = 128,
                    passes: int = 15) -> dict:
    """Inference latency (median ms per batch) of the base model and of each adapter variant.

    Latency depends on the architecture, not on what the weights learned, so one fresh model
    carries every variant as its own named adapter and `compare_latency` switches between
    them pass by pass: all variants see the same machine conditions. The key "base"
    is the model with no adapter active.
    """
    model, tokenizer = load_base_model(choice, ["0", "1"])
    for name, config in configs.items():
        add_adapter(model, f"v{len(adapter_configs(model))}", config, set_active=False)
    names = dict(zip(configs, list(adapter_configs(model))))

    # Only the adapter modules switch (no LayerNorm / head swap inside a timed pass).
    settings = {"base": lambda: adapter_modules_only(model, None),
                **{label: (lambda n=n: adapter_modules_only(model, n)) for label, n in names.items()}}
    device = pick_device()
    model.to(device)
    batch = synthetic_batch(tokenizer, pairs, tokens, device)
    return compare_latency(model, batch, settings, passes=passes)


# --------------------------------------------------------------------------------------------
# Tables and plots over seeds
# --------------------------------------------------------------------------------------------

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
