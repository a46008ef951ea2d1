"""Comparing fine-tuning methods on one model, one dataset and one training budget.

The rows: full fine-tuning; the lab's Houlsby, FFN-only and scaled parallel adapters; and peft's
LoRA, prefix tuning, prompt tuning and IA3 (`labutils.baselines`). Every method trains from
the same pretrained weights on the same rows for the same number of epochs and seeds; each
keeps its own learning rate (`Method.learning_rate`, from its paper's range except LoRA's 1e-3,
above the LoRA paper's; not tuned on the dev set), because no single rate suits both 22 million weights and a few thousand.

What a run measures (dev accuracy and F1, training time, peak memory) comes from
`train_method`, which runs under `labutils.runs` like the ablations, so finished runs are
cached and two train side by side on a CPU. What depends only on the architecture
(parameter counts, the size of the file one task needs, inference latency) is measured once
per method on an untrained model (`footprint`, `method_latency`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from .ablation import ADAPTER_NAME, CACHE_VERSION, Budget, data_fingerprint, run_settings
from .baselines import PeftMethodUnavailable, make_peft_model
from .config import AdapterConfig
from .device import pick_device, pick_precision
from .freeze import parameter_report, unfreeze_all
from .hub import ModelChoice, base_fingerprint, load_base_model
from .io import adapter_file_size, model_file_size, save_adapter
from .latency import forward_pass, interleaved_latency, synthetic_batch
from .recipes import adapter_model
from .runs import Job  # noqa: F401
from .train import set_seed, train, training_arguments

KINDS = ("full", "adapter", "peft")


@dataclass(frozen=True)
class Method:
    """One row of the comparison."""
    name: str = field(metadata={"help": "Row label, e.g. 'LoRA'."})
    kind: str = field(metadata={"help": "'full' (every weight trains), 'adapter' (labutils) or 'peft'."})
    learning_rate: float = field(metadata={"help": "Peak learning rate (linear warm-up and decay)."})
    adapter: Optional[AdapterConfig] = field(default=None, metadata={"help": "For kind 'adapter': the adapter."})
    peft_method: Optional[str] = field(default=None, metadata={"help": "For kind 'peft': lora, prefix, prompt or ia3."})
    peft_options: tuple = field(default=(), metadata={"help": "For kind 'peft': (key, value) overrides of its config."})

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown method kind {self.kind!r}; choose one of {KINDS}.")
        if self.kind == "adapter" and self.adapter is None:
            raise ValueError(f"method {self.name!r} is an adapter method but has no AdapterConfig.")
        if self.kind == "peft" and self.peft_method is None:
            raise ValueError(f"method {self.name!r} is a peft method but names none (lora, prefix, prompt, ia3).")


def default_methods(adapter_lr: float, full_lr: float, reduction_factor: int = 16) -> list:
    """The eight rows of notebook 05, with one learning rate each from the methods' papers."""
    houlsby = AdapterConfig(reduction_factor=reduction_factor, placement="houlsby")
    return [
        Method("full fine-tuning", "full", full_lr),
        Method("Houlsby adapters", "adapter", adapter_lr, adapter=houlsby),
        Method("FFN-only adapters", "adapter", adapter_lr, adapter=dataclasses.replace(houlsby, placement="ffn")),
        # He et al. (2022): beside the FFN, fed its input, output scaled by 4 (their best setting).
        Method("scaled parallel adapters", "adapter", adapter_lr,
               adapter=dataclasses.replace(houlsby, placement="ffn", mode="parallel", scaling=4.0)),
        # LoRA used 4e-4..5e-4 for RoBERTa-base over 30+ epochs; a two-epoch budget needs more.
        Method("LoRA", "peft", 1e-3, peft_method="lora"),
        # Prefix and prompt tuning train a few vectors and need much larger steps (P-tuning v2, Lester et al.).
        Method("prefix tuning", "peft", 1e-2, peft_method="prefix"),
        Method("prompt tuning", "peft", 3e-2, peft_method="prompt"),
        Method("IA3", "peft", 3e-3, peft_method="ia3"),  # T-Few's rate
    ]


def _versions() -> dict:
    import peft
    import transformers

    return {"transformers": transformers.__version__, "peft": peft.__version__}


def method_settings(choice: ModelChoice, data, method: Method, budget: Budget, seed: int,
                    tag: Optional[str] = None) -> dict:
    """The cache key of one run. Adapter runs use the ablations' key, so 04 and 05 share them."""
    budget = dataclasses.replace(budget, learning_rate=method.learning_rate)
    if method.kind == "adapter":
        return run_settings(choice, data, method.adapter, budget, seed, tag=tag)
    device = pick_device()
    return {
        "version": CACHE_VERSION,
        "task": "mrpc",
        # What the model is (its config and weights), not its folder's name: two folders named
        # `bert` with other weights must not share runs.
        "model": base_fingerprint(choice),
        "train_data": data_fingerprint(data["train"]),
        "dev_data": data_fingerprint(data["validation"]),
        "method": {"kind": method.kind, "peft_method": method.peft_method, "options": [list(o) for o in method.peft_options]},
        "budget": budget.recipe(),
        "seed": int(seed),
        "device": device,
        "precision": pick_precision(device),
        "libraries": _versions(),  # whether a peft method works at all depends on them
    }


def build(choice: ModelChoice, method: Method, label_names=("0", "1")):
    """A fresh model set up for `method` (frozen as the method needs), and its tokenizer.

    Raises `PeftMethodUnavailable` (with its cause) when peft cannot build the method here.
    """
    if method.kind == "adapter":
        return adapter_model(choice, label_names, ADAPTER_NAME, method.adapter)
    model, tokenizer = load_base_model(choice, list(label_names))
    if method.kind == "full":
        unfreeze_all(model)
    else:
        model = make_peft_model(model, method.peft_method, **dict(method.peft_options))
    return model, tokenizer


def train_method(choice: ModelChoice, data, method: Method, budget: Budget, seed: int = 0,
                 tag: Optional[str] = None) -> dict:
    """Train `method` from the pretrained weights with `budget`; a plain dict of what it measured.

    Adapter methods are `labutils.ablation.train_variant` runs (the same runs as notebook 04).
    A peft method that cannot be built returns {"unavailable": cause} instead of failing the sweep.
    """
    budget = dataclasses.replace(budget, learning_rate=method.learning_rate)
    if method.kind == "adapter":
        from .ablation import train_variant
        return train_variant(choice, data, method.adapter, budget, seed, tag=tag)
    set_seed(seed)
    try:
        model, tokenizer = build(choice, method, data["train"].features["label"].names)
    except PeftMethodUnavailable as e:
        return {"unavailable": str(e)}
    with tempfile.TemporaryDirectory(prefix="compare-run-") as run_dir:
        args = training_arguments(run_dir, epochs=budget.epochs, learning_rate=budget.learning_rate,
                                  batch_size=budget.batch_size, seed=seed, max_steps=budget.max_steps,
                                  eval_each_epoch=False, logging_steps=50, disable_tqdm=True)
        with contextlib.redirect_stdout(io.StringIO()):
            result = train(model, tokenizer, data["train"], data["validation"], args)
    return {
        "accuracy": result.metrics["eval_accuracy"],
        "f1": result.metrics["eval_f1"],
        "mcc": result.metrics.get("eval_mcc", 0.0),
        "eval_loss": result.metrics.get("eval_loss"),
        "train_seconds": result.train_seconds,
        "train_samples_per_second": result.samples_per_second,
        "peak_memory_mib": result.peak_memory_mib,
        "device": result.device,
        "precision": result.precision,
    }


def method_job(choice: ModelChoice, data, method: Method, budget: Budget, seed: int = 0,
               tag: Optional[str] = None) -> Job:
    """The `labutils.runs.Job` that trains `method` once."""
    return Job(method_settings(choice, data, method, budget, seed, tag=tag), "labutils.compare:train_method",
               dict(choice=choice, data=data, method=method, budget=budget, seed=seed, tag=tag),
               label=f"{method.name}, seed {seed}")


def footprint(choice: ModelChoice, method: Method, base_params: int) -> dict:
    """Parameter counts and the bytes one task needs on disk, from an untrained model.

    Full fine-tuning stores the whole model per task; the adapters store their folder
    (`save_adapter`: adapters, LayerNorms, head); peft stores what `save_pretrained` writes
    for a peft model (its own weights and the head).
    """
    try:
        model, _ = build(choice, method)
    except PeftMethodUnavailable as e:
        return {"unavailable": str(e)}
    # Every method trains a classification layer; without it the shares compare the methods themselves.
    report = parameter_report(model, base_params)
    trainable, head = report["trainable"], report["groups"]["head"]["trainable"]
    with tempfile.TemporaryDirectory() as tmp:
        if method.kind == "full":
            stored = model_file_size(model)
        elif method.kind == "adapter":
            stored = adapter_file_size(save_adapter(model, Path(tmp) / "adapter", ADAPTER_NAME, task="mrpc"))
        else:
            model.save_pretrained(tmp)
            stored = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    return {"trainable_params": trainable, "trainable_pct": 100.0 * trainable / base_params,
            "head_params": head, "trainable_without_head_pct": 100.0 * (trainable - head) / base_params,
            "stored_bytes": stored}


def method_latency(choice: ModelChoice, methods: Sequence[Method], pairs: int = 32, tokens: int = 128,
                   passes: int = 15) -> dict:
    """Median inference latency (ms per batch) of the plain base model and of each method.

    Each method gets its own untrained model (latency depends on the architecture, not on the
    weights: LoRA unmerged adds two small matmuls per target, prefix tuning lengthens every
    attention, prompt tuning lengthens the input). All models take turns pass by pass
    (`interleaved_latency`), so that they see the same machine conditions. Unavailable methods are left out.
    """
    device = pick_device()
    models = {"base model": load_base_model(choice)[0]}
    for method in methods:
        if method.kind == "full":
            continue  # the same network as the base model
        try:
            models[method.name] = build(choice, method)[0]
        except PeftMethodUnavailable:
            pass
    tokenizer = load_base_model(choice)[1]
    batch = synthetic_batch(tokenizer, pairs, tokens, device)
    calls = {name: forward_pass(model.to(device).eval(), batch) for name, model in models.items()}
    samples = interleaved_latency(calls, passes=passes, warmup=2, device=device)
    return {name: statistics.median(values) for name, values in samples.items()}
