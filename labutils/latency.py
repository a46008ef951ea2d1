"""Inference latency, measured the way a person would trust: warm-up first, synchronised
clocks on GPUs, the settings taking turns pass by pass, the median of repeated runs."""
from __future__ import annotations

import contextlib
import statistics
import time

import torch


def synthetic_batch(tokenizer, batch_size: int, seq_len: int, device="cpu") -> dict:
    """A batch of `batch_size` pairs exactly `seq_len` tokens long (random ids, no padding)."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, tokenizer.vocab_size, (batch_size, seq_len), generator=g)
    ids[:, 0] = tokenizer.cls_token_id
    ids[:, -1] = tokenizer.sep_token_id
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device),
            "token_type_ids": torch.zeros_like(ids).to(device)}


def synchronize(device) -> None:
    """Wait for queued GPU work, so a wall clock measures the work and not its launch."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    elif str(device).startswith("mps"):
        torch.mps.synchronize()


def forward_pass(model, batch: dict, setting=contextlib.nullcontext):
    """A zero-argument function: one inference pass of `model` on `batch` inside the context `setting()`."""
    def run():
        with torch.inference_mode(), setting():
            model(**batch)
    return run


def interleaved_latency(calls: dict, passes: int = 15, warmup: int = 2, device="cpu") -> dict:
    """Times of single passes (ms) of each zero-argument function in `calls`, interleaved.
    The order rotates each sweep, so a slow drift of the machine lands on every setting alike."""
    names = list(calls)
    for name in names:
        for _ in range(warmup):
            calls[name]()
    synchronize(device)
    samples = {name: [] for name in names}
    for sweep in range(passes):
        shift = sweep % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            calls[name]()
            synchronize(device)
            samples[name].append(1000 * (time.perf_counter() - start))
    return samples


def compare_latency(model, batch: dict, settings: dict, passes: int = 15, warmup: int = 2) -> dict:
    """Median latency (ms) of each setting over `passes` interleaved passes."""
    model.eval()
    calls = {name: forward_pass(model, batch, setting) for name, setting in settings.items()}
    samples = interleaved_latency(calls, passes=passes, warmup=warmup, device=batch["input_ids"].device)
    return {name: statistics.median(values) for name, values in samples.items()}
