"""Comparing fine-tuning methods on one model, one dataset and one training budget (notebook 05).

The rows: full fine-tuning, the lab's adapters and Compacter, peft's LoRA, prefix tuning, prompt tuning
and IA3 (`baselines`), and the MAM adapter (`mam`). Each trains from the same weights on the same rows
with its own learning rate (`train_method`, cached through `run_jobs`); what depends only on the
architecture is measured once on an untrained model (`footprint`, `method_latency`).
"""
from __future__ import annotations

import dataclasses
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..config import AdapterConfig
from ..device import pick_device
from ..params import parameter_report, unfreeze_all
from ..hub import ModelChoice, load_base_model
from ..io import adapter_file_size, model_file_size, save_adapter
from ..latency import forward_pass, interleaved_latency, synthetic_batch
from ..recipes import adapter_model
from ..train import set_seed
from .baselines import PeftMethodUnavailable, library_versions, make_peft_model
from .budget import Budget
from .mam import MAM_PREFIX_TOKENS, make_mam_model, mam_config, mam_file_size
from .measure import ADAPTER_NAME, adapter_job, run_key, train_adapter, train_and_measure
from .runs import Job

KINDS = ("full", "adapter", "peft", "mam")


@dataclass(frozen=True)
class Method:
    """One row of the comparison; `kind` is one of `KINDS` ('mam': peft's prefix + the lab's parallel FFN adapter)."""
    name: str
    kind: str
    learning_rate: float  # peak (linear warm-up and decay), the method's own: no single rate suits every method
    adapter: Optional[AdapterConfig] = None  # kinds 'adapter' and 'mam'
    peft_method: Optional[str] = None  # kind 'peft': lora, prefix, prompt or ia3
    peft_options: tuple = ()  # kind 'peft': (key, value) overrides of its config

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown method kind {self.kind!r}; choose one of {KINDS}.")
        if self.kind in ("adapter", "mam") and self.adapter is None:
            raise ValueError(f"method {self.name!r} is an {self.kind} method but has no AdapterConfig.")
        if self.kind == "peft" and self.peft_method is None:
            raise ValueError(f"method {self.name!r} is a peft method but names none (lora, prefix, prompt, ia3).")

    def budget(self, budget: Budget) -> Budget:
        """`budget` with this method's own learning rate, what every run of it trains with."""
        return dataclasses.replace(budget, learning_rate=self.learning_rate)


def adapter_variants(reduction_factor: int = 16) -> dict:
    """The three adapter layouts the lab compares, with the same bottleneck size m = d / r."""
    houlsby = AdapterConfig(reduction_factor=reduction_factor, placement="houlsby")
    return {
        # Houlsby et al. (2019): after attention and after the FFN, in sequence.
        "Houlsby adapters": houlsby,
        # Houlsby's FFN adapter alone: half the adapters. Not the Pfeiffer configuration
        # (AdapterHub's SeqBnConfig), which is wired differently and is not implemented here.
        "FFN-only adapters": dataclasses.replace(houlsby, placement="ffn"),
        # He et al. (2022): beside the FFN, fed its input, output scaled by 4 (their best setting).
        "scaled parallel adapters": dataclasses.replace(houlsby, placement="ffn", mode="parallel", scaling=4.0),
    }


def default_methods(adapter_lr: float, full_lr: float, reduction_factor: int = 16) -> list:
    """The ten rows of notebook 05, with one learning rate each from the methods' papers (not tuned on dev)."""
    # Compacter (Mahabadi et al., 2021): Houlsby's placement, each projection a sum of 4 Kronecker products
    # with slow weights shared across layers and rank-1 fast weights.
    compacter = AdapterConfig(reduction_factor=reduction_factor, placement="houlsby", projection="phm",
                              phm_dim=4, phm_rank=1, shared_phm_rule=True)
    return [
        Method("full fine-tuning", "full", full_lr),
        *(Method(name, "adapter", adapter_lr, adapter=config)
          for name, config in adapter_variants(reduction_factor).items()),
        # Mahabadi et al. train Compacter with the adapters' rate (3e-3 on T5); here the lab's adapter rate.
        Method("Compacter", "adapter", adapter_lr, adapter=compacter),
        # LoRA used 4e-4..5e-4 for RoBERTa-base over 30+ epochs; a two-epoch budget needs more.
        Method("LoRA", "peft", 1e-3, peft_method="lora"),
        # Prefix and prompt tuning train a few vectors and need much larger steps (P-tuning v2, Lester et al.).
        Method("prefix tuning", "peft", 1e-2, peft_method="prefix"),
        Method("prompt tuning", "peft", 3e-2, peft_method="prompt"),
        Method("IA3", "peft", 3e-3, peft_method="ia3"),  # T-Few's rate
        # One rate for both parts, the adapter's: not tuned (prefix tuning alone wants 1e-2).
        Method("MAM adapter", "mam", adapter_lr, adapter=mam_config(reduction_factor=reduction_factor)),
    ]


def method_job(choice: ModelChoice, data, method: Method, budget: Budget, seed: int = 0) -> Job:
    """The `Job` that trains `method` once with its own learning rate (an adapter method: 04's `adapter_job`)."""
    budget = method.budget(budget)  # in the key too: a rate is part of the run
    label = f"{method.name}, seed {seed}"
    if method.kind == "adapter":
        return adapter_job(choice, data, method.adapter, budget, seed, label=label)
    trains = {"method": {"kind": method.kind, "peft_method": method.peft_method,
                         "options": [list(o) for o in method.peft_options]},
              "libraries": library_versions()}  # whether a peft method works at all depends on them
    if method.kind == "mam":
        trains["method"].update(adapter=method.adapter.to_dict(), prefix_tokens=MAM_PREFIX_TOKENS)
    return Job(run_key(choice, data, budget, seed, trains), train_method,
               dict(choice=choice, data=data, method=method, budget=budget, seed=seed), label)


def build(choice: ModelChoice, method: Method, label_names=("0", "1")):
    """A fresh model set up (and frozen) for `method`, and its tokenizer; raises `PeftMethodUnavailable`."""
    if method.kind == "adapter":
        return adapter_model(choice, label_names, ADAPTER_NAME, method.adapter)
    model, tokenizer = load_base_model(choice, list(label_names))
    if method.kind == "full":
        unfreeze_all(model)
    elif method.kind == "mam":
        model = make_mam_model(model, ADAPTER_NAME, method.adapter)
    else:
        model = make_peft_model(model, method.peft_method, **dict(method.peft_options))
    return model, tokenizer


def train_method(choice: ModelChoice, data, method: Method, budget: Budget, seed: int = 0) -> dict:
    """Train `method` with `budget` and its own learning rate; {"unavailable": cause} if peft cannot build it."""
    budget = method.budget(budget)
    if method.kind == "adapter":
        return train_adapter(choice, data, method.adapter, budget, seed)
    set_seed(seed)
    try:
        model, tokenizer = build(choice, method, data["train"].features["label"].names)
    except PeftMethodUnavailable as e:
        return {"unavailable": str(e)}
    return train_and_measure(model, tokenizer, data, budget, seed)


def footprint(choice: ModelChoice, method: Method, base_params: int) -> dict:
    """Parameter counts and the bytes one task stores on disk, from an untrained model."""
    try:
        model, _ = build(choice, method)
    except PeftMethodUnavailable as e:
        return {"unavailable": str(e)}
    # Every method trains a classification layer; without it the shares compare the methods themselves.
    report = parameter_report(model, base_params)
    trainable, head = report["trainable"], report["groups"]["head"]["trainable"]
    if method.kind == "adapter":  # the adapter folder: adapters, LayerNorms, head
        with tempfile.TemporaryDirectory() as tmp:
            stored = adapter_file_size(save_adapter(model, Path(tmp) / "adapter", ADAPTER_NAME, task="mrpc"))
    elif method.kind == "mam":  # peft's prefix and head, plus the adapter peft does not know of
        stored = mam_file_size(model, ADAPTER_NAME)
    else:  # what `save_pretrained` writes: the whole model, or for peft its own weights and the head
        stored = model_file_size(model)
    return {"trainable_params": trainable, "trainable_pct": 100.0 * trainable / base_params,
            "head_params": head, "trainable_without_head_pct": 100.0 * (trainable - head) / base_params,
            "stored_bytes": stored}


def method_latency(choice: ModelChoice, methods: Sequence[Method], pairs: int = 32, tokens: int = 128,
                   passes: int = 15) -> dict:
    """Median inference latency (ms per batch) of the base model and each available method, untrained;
    the models take turns pass by pass (`interleaved_latency`), under the same machine conditions."""
    device = pick_device()
    base, tokenizer = load_base_model(choice)
    models = {"base model": base}
    for method in methods:
        if method.kind == "full":
            continue  # the same network as the base model
        try:
            models[method.name] = build(choice, method)[0]
        except PeftMethodUnavailable:
            pass
    batch = synthetic_batch(tokenizer, pairs, tokens, device)
    calls = {name: forward_pass(model.to(device).eval(), batch) for name, model in models.items()}
    samples = interleaved_latency(calls, passes=passes, warmup=2, device=device)
    return {name: statistics.median(values) for name, values in samples.items()}
