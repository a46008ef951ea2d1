"""Run profiles: the same notebook code at two sizes (``full``: the real lab; ``quick``: for CI)."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Optional


@dataclass(frozen=True)
class Profile:
    """Sizes and recipes for one profile."""
    name: str
    train_rows: Optional[int] = None  # training examples (None: all)
    eval_rows: Optional[int] = None  # dev examples (None: all)
    max_length: int = 128  # tokens per pair after truncation
    batch_size: int = 32  # examples per training step (the paper: 32)
    adapter_epochs: float = 10
    adapter_lr: float = 2e-3  # Houlsby et al. swept {3e-5, 3e-4, 3e-3} on GLUE with BERT-Large
    full_epochs: float = 5  # full fine-tuning
    full_lr: float = 5e-5
    reduction_factor: int = 16  # d / m for the default adapter
    seeds: tuple = (0,)  # seeds for runs that report a spread
    task_train_rows: Optional[int] = 2000  # 03: training rows for each extra task (SST-2, RTE)
    task_epochs: float = 3  # 03: adapter epochs for each extra task
    # 04 and 05 train dozens of runs; their budget is `labutils.sweeps.Budget`, whose defaults are the
    # full lab's. A profile names only the Budget fields it changes.
    sweep: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES = {
    "full": Profile("full"),
    "quick": Profile("quick", train_rows=192, eval_rows=96, batch_size=16, adapter_epochs=1,
                     adapter_lr=1e-3, full_epochs=1, full_lr=5e-5, task_train_rows=64, task_epochs=1,
                     sweep=dict(epochs=1, max_steps=1, train_rows=16, eval_rows=16, max_length=64, seeds=(0,),
                                reference_seeds=(0, 1), latency=(2, 16, 6))),
}


def get_profile(name: Optional[str] = None, **overrides) -> Profile:
    """The named profile (default: LAB_PROFILE, else 'full'), with optional field overrides."""
    name = (name or os.environ.get("LAB_PROFILE") or "full").strip().lower()
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (from LAB_PROFILE or the parameters cell); "
                         f"choose one of {sorted(PROFILES)}.")
    return replace(PROFILES[name], **overrides) if overrides else PROFILES[name]
