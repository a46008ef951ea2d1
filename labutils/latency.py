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


def _sync(device) -> None:
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
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(**batch)
        _sync(device)
        times.append(1000 * (time.perf_counter() - start))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "repeats": repeats}
