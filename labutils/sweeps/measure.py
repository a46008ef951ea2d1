"""Train one run and measure it (`train_and_measure`, `train_adapter`), and the cache key of every
run of 04, 05 and 06 (`run_key`): an adapter run has one key whichever notebook plans it (`adapter_job`).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..config import AdapterConfig
from ..data import load_glue, subsample, tokenize
from ..device import pick_device, pick_precision
from ..params import adapter_parameter_count, is_pooler, parameter_report
from ..hub import ModelChoice, base_fingerprint, load_tokenizer
from ..io import save_adapter
from ..layer import adapter_sublayers, encoder_layers
from ..recipes import adapter_model
from ..train import set_seed, train, training_arguments
from .ablation import freeze_layers_below, lowest_trainable_layer
from .budget import Budget
from .runs import Job, qualified_name

# Part of every cache key. Bump it when what a run measures or how it trains changes, so that
# results from the old procedure stop matching instead of being silently reused.
CACHE_VERSION = 2  # 2: latency is measured per architecture (`variant_latency`), not per run
ADAPTER_NAME = "ablation"

_FINGERPRINTS: dict = {}  # datasets' own per-process fingerprint -> our content digest


def glue_rows(split, rows: Optional[int], tokenizer, task: str, max_length: int):
    """`rows` seeded rows of a GLUE split (None: all), tokenised: the same rows in every notebook."""
    return tokenize(subsample(split, rows, seed=0), tokenizer, task, max_length=max_length)


def sweep_data(choice: ModelChoice, budget: Budget):
    """The MRPC rows every run of 04, 05 and 06 trains and is measured on: (data, tokenizer, source)."""
    from datasets import DatasetDict

    mrpc, source = load_glue("mrpc")
    tokenizer = load_tokenizer(choice)
    rows = {"train": budget.train_rows, "validation": budget.eval_rows}
    data = DatasetDict({s: glue_rows(mrpc[s], n, tokenizer, "mrpc", budget.max_length) for s, n in rows.items()})
    return data, tokenizer, source


def data_fingerprint(dataset) -> str:
    """A digest of a tokenised dataset's token ids and labels: the exact rows a run saw."""
    own = getattr(dataset, "_fingerprint", None)  # not stable across processes: only a memo key
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


def run_key(choice: ModelChoice, data, budget: Budget, seed: int, trains: dict) -> dict:
    """Everything that determines one run's result; `trains` says what it trains (an adapter, a method)."""
    device = pick_device()
    # "model" is what the model is (config and weights), not its folder's name: two folders named
    # `bert` with other weights must not share runs.
    return {"version": CACHE_VERSION, "task": "mrpc", "model": base_fingerprint(choice),
            "train_data": data_fingerprint(data["train"]), "dev_data": data_fingerprint(data["validation"]),
            **trains, "budget": budget.recipe(), "seed": int(seed), "device": device,
            "precision": pick_precision(device)}


def train_and_measure(model, tokenizer, data, budget: Budget, seed: int) -> dict:
    """Train a prepared `model` (seeded before it was built) with `budget`, evaluate once; plain numbers."""
    with tempfile.TemporaryDirectory(prefix="sweep-run-") as run_dir:
        args = training_arguments(
            run_dir, epochs=budget.epochs, learning_rate=budget.learning_rate, batch_size=budget.batch_size,
            seed=seed, max_steps=budget.max_steps, disable_tqdm=True,
            # One evaluation at the end: per-epoch evaluation would count in the training time.
            eval_each_epoch=False, logging_steps=50)
        # Without progress bars Trainer prints its logs; a sweep shows its own progress bar instead.
        with contextlib.redirect_stdout(io.StringIO()):
            result = train(model, tokenizer, data["train"], data["validation"], args)
    metrics = result.metrics
    return {"accuracy": metrics["eval_accuracy"], "f1": metrics["eval_f1"], "mcc": metrics.get("eval_mcc", 0.0),
            "eval_loss": metrics.get("eval_loss"), "train_seconds": result.train_seconds,
            "train_samples_per_second": result.samples_per_second, "peak_memory_mib": result.peak_memory_mib,
            "device": result.device, "precision": result.precision}


def train_adapter(choice: ModelChoice, data, config: AdapterConfig, budget: Budget, seed: int = 0, *,
                  frozen_below: int = 0, train_pooler: Optional[bool] = None, after: Optional[Callable] = None,
                  folder=None) -> dict:
    """Train one adapter variant from a fresh base model and measure it; a plain dict.

    Layers below `frozen_below` stay frozen (AdapterDrop); `after(model, tokenizer, data) -> dict` adds
    measurements of the trained model; with a `folder`, the trained adapter is saved there.
    """
    set_seed(seed)  # the new head and the adapters are initialised from the global RNG
    model, tokenizer = adapter_model(choice, data["train"].features["label"].names, ADAPTER_NAME, config,
                                     train_pooler=train_pooler)
    if frozen_below:
        freeze_layers_below(model, frozen_below)
    report = parameter_report(model)
    out = train_and_measure(model, tokenizer, data, budget, seed)
    out.update({
        "bottleneck": config.bottleneck_for(model.config.hidden_size),
        "n_adapters": sum(1 for _, m in adapter_sublayers(model) if ADAPTER_NAME in m.adapters),
        "adapter_params": adapter_parameter_count(model, ADAPTER_NAME), "trainable_params": report["trainable"],
        "trainable_pct": report["trainable_pct_of_base"],
        "trainable_without_head_pct": report["trainable_without_head_pct"],
        "pooler_trained": any(p.requires_grad for n, p in model.named_parameters() if is_pooler(n)),
        "base_params": report["base_model"], "lowest_trained_layer": lowest_trainable_layer(model),
        "n_layers": len(encoder_layers(model)),
        "learned_scales": [float(a.scale.detach()) for _, module in adapter_sublayers(model)
                           for a in module.adapters.values() if isinstance(a.scale, torch.nn.Parameter)],
    })
    if after is not None:
        out.update(after(model, tokenizer, data))
    if folder is not None:
        save_adapter(model, Path(folder), ADAPTER_NAME, task="mrpc")
    return out


def adapter_job(choice: ModelChoice, data, config: AdapterConfig, budget: Budget, seed: int = 0, *,
                frozen_below: int = 0, train_pooler: Optional[bool] = None, after: Optional[Callable] = None,
                keep_adapter: bool = False, label: str = "") -> Job:
    """The `Job` that trains one adapter variant (`train_adapter`); `after` is named in its key, `keep_adapter`
    (save the adapter in the cache's `folder_for` this run; trained again if missing) is not."""
    trains = {"adapter": config.to_dict(), "frozen_below": int(frozen_below),
              "tag": None if after is None else qualified_name(after)}
    # The model's own pooler rule is part of "model"; only a departure from it is a setting, so
    # runs stored before the choice existed keep their keys.
    if train_pooler is not None and bool(train_pooler) != choice.pooler_trains:
        trains["train_pooler"] = bool(train_pooler)
    return Job(run_key(choice, data, budget, seed, trains), train_adapter,
               dict(choice=choice, data=data, config=config, budget=budget, seed=seed,
                    frozen_below=frozen_below, train_pooler=train_pooler, after=after),
               label or f"{config.placement}/{config.mode} m={config.bottleneck} std={config.init_std} "
                        f"seed={seed} k={frozen_below}", keeps_folder=keep_adapter)
