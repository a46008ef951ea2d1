"""What one sweep run costs: the single budget object of notebooks 04 and 05.

Its defaults are the full lab's run (all of MRPC, 2 epochs a run). A run profile names only
what differs (`Profile.sweep`, a dict of these fields) and gives the learning rate and batch
size it uses everywhere, so no field is declared twice.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class Budget:
    """How much each sweep run costs, and how many seeds a spread gets.

    Everything but `seeds`, `reference_seeds`, `latency` and `workers` goes into each run's
    cache key (`recipe`): a different budget is a different run.
    """
    # Notebook 04 trains dozens of variants, so each gets a smaller budget than notebook 02's run.
    epochs: float = field(default=2, metadata={"help": "Training epochs per run."})
    learning_rate: float = field(default=2e-3, metadata={"help": "Adapter learning rate (a Method may bring its own)."})
    batch_size: int = field(default=32, metadata={"help": "Examples per training step (the paper: 32)."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many steps (-1: run all epochs)."})
    train_rows: Optional[int] = field(default=None, metadata={"help": "Training examples per run (None: all)."})
    eval_rows: Optional[int] = field(default=None, metadata={"help": "Dev examples per run (None: all)."})
    max_length: int = field(default=128, metadata={"help": "Tokens per pair after truncation."})
    seeds: tuple = field(default=(0,), metadata={"help": "Seeds per point of the init-scale and bottleneck sweeps (04); (0, 1, 2) on a GPU."})
    reference_seeds: tuple = field(default=(0, 1, 2), metadata={"help": "Seeds of the reference Houlsby adapter (04) and of every method (05): the seed-to-seed noise."})
    latency: tuple = field(default=(32, 128, 12), metadata={"help": "Inference latency: (pairs, tokens, passes per setting, the settings taking turns)."})
    workers: int = field(default=0, metadata={"help": "Runs trained at once (0: one on a GPU, two on a multi-core CPU)."})

    @classmethod
    def from_profile(cls, profile, **overrides) -> "Budget":
        """The profile's budget: its learning rate and batch size, its `sweep` fields, then `overrides`."""
        settings = {"learning_rate": profile.adapter_lr, "batch_size": profile.batch_size,
                    **dict(profile.sweep), **overrides}
        unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"{unknown} are not Budget fields (in profile {profile.name!r}'s sweep or the overrides); "
                            f"choose from {[f.name for f in dataclasses.fields(cls)]}.")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})

    def recipe(self) -> dict:
        """The settings that shape one run's training (not the seed lists, latency batch or workers)."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("seeds", "reference_seeds", "latency", "workers")}
