"""Inference latency, measured the way a person would trust: warm-up first, synchronised
clocks on GPUs, the median of repeated runs."""
from __future__ import annotations

import statistics
import time

import torch


def synthetic_batch(tokenizer, batch_size: int, seq_len: int, device="cpu") -> dict:
    """A batch of `batch_size` pairs exactly `seq_len` tokens long (random ids, no padding)."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, tokenizer.vocab_size, (batch_size, seq_len), generator=g)
    ids[:, 0] = tokenizer.cls_token_id
    ids[:, -1] = tokenizer.sep_token_id
    return {
        "input_ids": ids.to(device),
        "attention_mask": torch.ones_like(ids).to(device),
        "token_type_ids": torch.zeros_like(ids).to(device),
    }


def synchronize(device) -> None:
    """Wait for queued GPU work, so a wall clock measures the work and not its launch."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    elif str(device).startswith("mps"):
        torch.mps.synchronize()


@torch.inference_mode()
def measure_latency(model, batch: dict, repeats: int = 20, warmup: int = 3) -> dict:
    """Median and spread (ms) of `model(**batch)` in eval mode."""
    model.eval()
    device = batch["input_ids"].device
    for _ in range(warmup):
        model(**batch)
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(**batch)
        synchronize(device)
        times.append(1000 * (time.perf_counter() - start))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "repeats": repeats}


def compare_latency(model, batch: dict, settings: dict, rounds: int = 3, repeats: int = 5, warmup: int = 2) -> dict:
    """Median latency (ms) of each setting, measured in alternating rounds.

    `settings` maps a name to a function returning a context manager that puts the model in
    that state (e.g. ``lambda: adapters_skipped(model, range(2))``). Measuring every setting
    once per round, in alternating order, spreads clock drift and neighbouring jobs evenly
    instead of charging them to whichever setting happened to run first.
    """
    samples = {name: [] for name in settings}
    for r in range(rounds):
        for name in (list(settings) if r % 2 == 0 else list(reversed(list(settings)))):
            with settings[name]():
                samples[name].append(measure_latency(model, batch, repeats=repeats, warmup=warmup)["median_ms"])
    return {name: statistics.median(values) for name, values in samples.items()}
