"""Run profiles: the same notebook code at two sizes (``full``: the real lab; ``quick``: for CI)."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Optional

PROFILE_ENV = "LAB_PROFILE"


@dataclass(frozen=True)
class Profile:
    """Sizes and recipes for one profile."""
    name: str
    train_rows: Optional[int] = field(default=None, metadata={"help": "Training examples (None: all)."})
    eval_rows: Optional[int] = field(default=None, metadata={"help": "Dev examples (None: all)."})
    max_length: int = field(default=128, metadata={"help": "Tokens per pair after truncation."})
    batch_size: int = field(default=32, metadata={"help": "Examples per training step (the paper: 32)."})
    adapter_epochs: float = field(default=10, metadata={"help": "Epochs for adapter training."})
    adapter_lr: float = field(default=2e-3, metadata={"help": "Learning rate for adapters (Houlsby et al. swept {3e-5, 3e-4, 3e-3} on GLUE with BERT-Large)."})
    full_epochs: float = field(default=5, metadata={"help": "Epochs for full fine-tuning."})
    full_lr: float = field(default=5e-5, metadata={"help": "Learning rate for full fine-tuning."})
    reduction_factor: int = field(default=16, metadata={"help": "d / m for the default adapter."})
    seeds: tuple = field(default=(0,), metadata={"help": "Seeds for runs that report a spread."})
    task_train_rows: Optional[int] = field(default=2000, metadata={"help": "03: training rows for each extra task (SST-2, RTE)."})
    task_epochs: float = field(default=3, metadata={"help": "03: adapter epochs for each extra task."})
    # Notebooks 04 and 05 train dozens of runs; their budget is `labutils.sweeps.Budget`, whose
    # defaults are the full lab's. A profile names only the fields it changes.
    sweep: dict = field(default_factory=dict, metadata={"help": "04/05: fields of labutils.sweeps.Budget that differ from its defaults (the full run)."})

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
    name = (name or os.environ.get(PROFILE_ENV) or "full").strip().lower()
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (from {PROFILE_ENV} or the parameters cell); "
                         f"choose one of {sorted(PROFILES)}.")
    return replace(PROFILES[name], **overrides) if overrides else PROFILES[name]
