"""Which device and number format to train in, and how to measure peak memory on it."""
from __future__ import annotations

import os
import threading
import time

import torch

MISSING = {  # LAB_DEVICE names a device this machine lacks: why
    "cuda": "torch sees no CUDA GPU here (no GPU, no driver, or a CPU-only torch build)",
    "mps": "Apple's MPS backend is not available here (it needs an Apple-silicon Mac and a torch build with MPS)"}


def pick_device() -> str:
    """'cuda', 'mps' or 'cpu', best first; LAB_DEVICE overrides (checked: a device this machine has, any case)."""
    value = os.environ.get("LAB_DEVICE", "")
    name = value.strip().lower()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    available = {"cuda": torch.cuda.is_available(), "mps": mps, "cpu": True}  # best first
    if not name:
        return next(device for device, there in available.items() if there)
    if name.startswith("cuda:"):
        raise ValueError(
            f"LAB_DEVICE={value!r}: the lab trains on one device named 'cuda'. To choose GPU "
            f"{name[5:]}, set CUDA_VISIBLE_DEVICES={name[5:]} and LAB_DEVICE=cuda.")
    if name not in available:
        raise ValueError(f"LAB_DEVICE={value!r} is not a device the lab knows; set it to one of "
                         f"{', '.join(sorted(available))}, or unset it to pick the best one available.")
    if not available[name]:
        raise RuntimeError(f"LAB_DEVICE={name}, but {MISSING[name]}. "
                           "Set LAB_DEVICE=cpu, or unset it to pick the best device available.")
    return name


def pick_precision(device: str) -> str:
    """bf16 on GPUs that compute in it natively (compute capability 8.0, Ampere, and later), fp16 with loss
    scaling on older CUDA GPUs, fp32 elsewhere. Not `is_bf16_supported()`: a T4 says yes but only emulates bf16."""
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.get_device_capability(torch.device(device).index or 0)[0] >= 8 else "fp16"
    return "fp32"


def device_summary(device: str) -> str:
    """The device's name as a student would say it."""
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    if device == "mps":
        return "Apple GPU (MPS)"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'' if n == 1 else 's'})"


class PeakMemory:
    """Peak memory of the code inside a `with` block, in MiB (CUDA's allocator, else the process's RSS sampled)."""

    def __init__(self, device: str):
        self.device = device
        self.peak_mib = 0.0

    def __enter__(self):
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
        else:
            import psutil
            self._proc = psutil.Process()
            self._start = self._peak = self._proc.memory_info().rss
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self._peak = max(self._peak, self._proc.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *exc):
        if self.device == "cuda":
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()
            peak = self._peak
        self.peak_mib = (peak - self._start) / 2**20
        return False
