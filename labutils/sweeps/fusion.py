"""AdapterFusion runs for notebook 06: stage 2 trained and measured like 04/05's runs, cached by key.

A run fuses the stage-1 adapters (`labutils.fuse_adapters`) in a fresh base model, trains the fusion
layers and a new head on MRPC, and measures what every run measures plus the mean fusion attention.
Its key names each source adapter by the sha256 of its weights, so a retrained source makes a new run.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping, Optional

from ..data import load_glue
from ..fusion import fuse_adapters, mean_fusion_attention
from ..hub import ModelChoice, load_base_model
from ..io import load_adapter, read_adapter, read_adapter_config
from ..model import add_adapter
from ..multitask import MultiTaskAdapterManager
from ..params import parameter_report
from ..switching import set_active_adapter, set_head_labels
from ..train import evaluate, set_seed
from .ablation import majority_rate
from .budget import Budget
from .measure import glue_rows, run_key, train_and_measure
from .runs import Job

FUSION_NAME = "fusion"


def fusion_model(choice: ModelChoice, sources: Mapping[str, Path], label_names=("0", "1"), **fusion_options):
    """A fresh base with every source adapter loaded and fused (only fusion and head train; seed first)."""
    model, tokenizer = load_base_model(choice, list(label_names))
    for name, folder in sources.items():
        meta, config = read_adapter(folder)
        # Each source keeps its own task's head (as in `MultiTaskAdapterManager.add_task`); the
        # fusion trains the base slot's new head, for the target task's labels.
        add_adapter(model, name, config, set_active=True)
        set_head_labels(model, meta["label_names"])
        load_adapter(model, folder, name=name, set_active=True)
    set_active_adapter(model, None)
    fuse_adapters(model, list(sources), FUSION_NAME, **fusion_options)
    return model, tokenizer


def train_fusion(choice: ModelChoice, data, sources: Mapping[str, Path], budget: Budget, seed: int = 0) -> dict:
    """Train one fusion of `sources` and measure it; adds the trainable parameters and the mean attention
    per (layer, sublayer) and source adapter over the dev set's real tokens."""
    set_seed(seed)
    model, tokenizer = fusion_model(choice, {n: Path(f) for n, f in sources.items()},
                                    data["train"].features["label"].names)
    report = parameter_report(model)
    out = train_and_measure(model, tokenizer, data, budget, seed)
    attention = mean_fusion_attention(model, tokenizer, data["validation"], FUSION_NAME)
    out.update({
        "sources": list(sources), "trainable_params": report["trainable"],
        "trainable_pct": report["trainable_pct_of_base"],
        "trainable_without_head_pct": report["trainable_without_head_pct"],
        "attention": {"layers": [list(i) for i in attention.index], "sources": list(attention.columns),
                      "mean": attention.values.tolist()},
    })
    return out


def fusion_job(choice: ModelChoice, data, sources: Mapping[str, Path], budget: Budget, seed: int = 0, *,
               learning_rate: Optional[float] = None, label: Optional[str] = None) -> Job:
    """The `Job` that trains the fusion of `sources` once (`train_fusion`), keyed by the sources' contents."""
    if learning_rate is not None:
        budget = dataclasses.replace(budget, learning_rate=learning_rate)
    if not sources:
        raise ValueError("a fusion needs at least one source adapter folder.")
    sources = {n: str(Path(f)) for n, f in sources.items()}
    # Each source by the sha256 of its weights file: which adapters a fusion fuses, by content.
    trains = {"fusion": {"sources": {n: read_adapter_config(f)["sha256"] for n, f in sources.items()},
                         "order": list(sources)}}
    return Job(run_key(choice, data, budget, seed, trains), train_fusion,
               dict(choice=choice, data=data, sources=sources, budget=budget, seed=seed),
               label or f"fusion of {', '.join(sources)}, seed {seed}")


def source_scores(choice: ModelChoice, sources: Mapping[str, Path], eval_rows=None, max_length: int = 128,
                  datasets: Optional[Mapping] = None) -> dict:
    """task -> each saved source adapter's metrics on its own task's dev rows (or `datasets[task]`), own head."""
    model, tokenizer = load_base_model(choice)
    manager = MultiTaskAdapterManager(model, tokenizer)
    out = {}
    for task, folder in sources.items():
        manager.register(task, folder)
        dev = (datasets or {}).get(task)
        if dev is None:
            dev = glue_rows(load_glue(task)[0]["validation"], eval_rows, tokenizer, task, max_length)
        manager.switch(task)
        scores = evaluate(model, tokenizer, dev)
        if "accuracy" in scores:  # a class task: what always answering its commonest class scores
            scores["majority"] = majority_rate(dev["label"])
        out[task] = {"dev rows": len(dev), **scores}
    return out


def attention_frame(result: dict):
    """A run's mean fusion attention as a DataFrame: rows (layer, sublayer), columns the source adapters."""
    import pandas as pd

    a = result["attention"]
    index = pd.MultiIndex.from_tuples([tuple(i) for i in a["layers"]], names=["layer", "sublayer"])
    return pd.DataFrame(a["mean"], index=index, columns=a["sources"])
