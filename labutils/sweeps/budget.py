"""What one sweep run costs: the single budget object of notebooks 04, 05 and 06.

Its defaults are the full lab's run (all of MRPC, 2 epochs a run); a profile names only what differs
(`Profile.sweep`) and gives the learning rate and batch size it uses everywhere.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

@dataclass(frozen=True)
class Budget:
    """How much each sweep run costs, and its seeds; all but seeds, latency and workers is in each run's key."""
    # Notebook 04 trains dozens of variants, so each gets a smaller budget than notebook 02's run.
    epochs: float = 2
    learning_rate: float = 2e-3  # the adapters' (a Method may bring its own)
    batch_size: int = 32  # the paper's
    max_steps: int = -1  # stop after this many steps (-1: run all epochs)
    train_rows: Optional[int] = None  # training examples per run (None: all)
    eval_rows: Optional[int] = None  # dev examples per run (None: all)
    max_length: int = 128  # tokens per pair after truncation
    seeds: tuple = (0,)  # per point of 04's init-scale and bottleneck sweeps; (0, 1, 2) on a GPU
    reference_seeds: tuple = (0, 1, 2)  # of 04's reference adapter and of every method (05): seed-to-seed noise
    latency: tuple = (32, 128, 12)  # inference latency: pairs, tokens, passes per setting
    workers: int = 0  # runs trained at once (0: one on a GPU, two on a multi-core CPU)

    @classmethod
    def from_profile(cls, profile, **overrides) -> "Budget":
        """The profile's budget: its learning rate and batch size, its `sweep` fields, then `overrides`."""
        settings = {"learning_rate": profile.adapter_lr, "batch_size": profile.batch_size,
                    **dict(profile.sweep), **overrides}
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise TypeError(f"{unknown} are not Budget fields (in profile {profile.name!r}'s sweep or the overrides); "
                            f"choose from {names}.")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})

    def recipe(self) -> dict:
        """The settings that shape one run's training (not the seed lists, latency batch or workers)."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("seeds", "reference_seeds", "latency", "workers")}
