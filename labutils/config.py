"""Configuration of a bottleneck adapter (Houlsby et al., 2019, "Parameter-Efficient
Transfer Learning for NLP"), in the paper's words."""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence, Union

PLACEMENTS = ("houlsby", "ffn", "attention")
MODES = ("sequential", "parallel")
ACTIVATIONS = ("relu", "gelu", "swish")
# How W_down and W_up are built: dense Linear layers (Houlsby) or PHM layers (Compacter, Mahabadi et al., 2021).
PROJECTIONS = ("linear", "phm")
# Fields added after adapter folders and run keys existed: left out of `to_dict` at their defaults,
# so a default config writes (and hashes to) exactly what it did before.
_LATER_FIELDS = {"projection": "linear", "phm_dim": 4, "phm_rank": 1, "shared_phm_rule": True}
# The two places in a BERT layer where an adapter can sit.
SUBLAYERS = ("attention", "ffn")


def _finite_number(x) -> bool:
    # bool is an int to Python, but scaling=True is a typo, not a factor of 1.
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _positive_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool) and x >= 1


@dataclass
class AdapterConfig:
    """Everything needed to build (and later rebuild) one adapter."""

    bottleneck: Optional[int] = field(default=None, metadata={
        "help": "Bottleneck size m. Leave None to derive it from reduction_factor."})
    reduction_factor: int = field(default=16, metadata={
        "help": "m = hidden_size // reduction_factor when bottleneck is None."})
    placement: str = field(default="houlsby", metadata={
        "help": "'houlsby' (after attention and FFN), 'ffn' (Houlsby's FFN one alone, not Pfeiffer's), 'attention'."})
    mode: str = field(default="sequential", metadata={
        "help": "'sequential' (the paper) or 'parallel' (He et al., 2022)."})
    scaling: Union[float, str] = field(default=1.0, metadata={
        "help": "Factor s on the adapter's output; 'learned' makes s a trainable scalar."})
    activation: str = field(default="relu", metadata={
        "help": "Nonlinearity sigma in the bottleneck: relu, gelu or swish."})
    init_std: float = field(default=1e-3, metadata={
        "help": "Std of the normal init of both projections; zero biases, so the adapter starts near identity."})
    layers: Optional[Sequence[int]] = field(default=None, metadata={
        "help": "Layers with an adapter; None: all; []: none (04's AdapterDrop k = L: LayerNorms and head train)."})
    projection: str = field(default="linear", metadata={
        "help": "'linear' (Houlsby) or 'phm': Compacter's W = sum_i A_i (x) B_i (labutils.phm)."})
    phm_dim: int = field(default=4, metadata={
        "help": "Compacter's n: number of Kronecker terms; d and m must be multiples of n."})
    phm_rank: int = field(default=1, metadata={
        "help": "Compacter's r: B_i = s_i t_i^T has rank r (the low-rank fast weights)."})
    shared_phm_rule: bool = field(default=True, metadata={
        "help": "Share the slow weights A_i across all layers (Compacter) or not (PHM-Adapter)."})

    def __post_init__(self):
        for key, allowed in (("placement", PLACEMENTS), ("mode", MODES), ("activation", ACTIVATIONS),
                             ("projection", PROJECTIONS)):
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key}={getattr(self, key)!r} is not supported; choose one of {allowed}.")
        checks = {  # field -> (valid?, what to give instead)
            "scaling": (self.scaling == "learned" or _finite_number(self.scaling),
                        "give a finite number (1.0 is the paper's) or 'learned'"),
            "bottleneck": (self.bottleneck is None or _positive_int(self.bottleneck),
                           "must be a positive integer (or None to use reduction_factor)"),
            "reduction_factor": (_positive_int(self.reduction_factor), "must be a positive integer"),
            "init_std": (_finite_number(self.init_std) and self.init_std >= 0,
                         "must be a finite number >= 0 (the paper's is near zero, e.g. 1e-3)"),
            "phm_dim": (_positive_int(self.phm_dim), "must be a positive integer"),
            "phm_rank": (_positive_int(self.phm_rank), "must be a positive integer"),
            "shared_phm_rule": (isinstance(self.shared_phm_rule, bool), "give True or False"),
        }
        for key, (valid, fix) in checks.items():
            if not valid:
                raise ValueError(f"{key}={getattr(self, key)!r}: {fix}.")
        if self.layers is not None:
            if isinstance(self.layers, (str, bytes)) or not isinstance(self.layers, Iterable):
                raise ValueError(f"layers={self.layers!r}: give a list of layer indices, e.g. [0, 1], or None for all.")
            layers = list(self.layers)
            bad = [i for i in layers if not isinstance(i, numbers.Integral) or isinstance(i, bool)]
            if bad:
                raise ValueError(f"layers={layers!r}: {bad} are not layer indices; give whole numbers such as [0, 1].")
            self.layers = sorted({int(i) for i in layers})

    def bottleneck_for(self, hidden_size: int) -> int:
        """The bottleneck size m for a model of this hidden size."""
        m = self.bottleneck if self.bottleneck is not None else hidden_size // self.reduction_factor
        if m < 1:
            raise ValueError(
                f"reduction_factor={self.reduction_factor} leaves no bottleneck for hidden size "
                f"{hidden_size}; use a smaller reduction_factor or set bottleneck.")
        if m >= hidden_size:
            # m >= d projects up, not down: more parameters than the paper's adapter and no bottleneck.
            raise ValueError(
                f"bottleneck m={m} is not smaller than the hidden size d={hidden_size}, so it is no bottleneck. "
                f"Set bottleneck below {hidden_size} (the paper uses m << d, e.g. {max(1, hidden_size // 16)}) "
                f"or use reduction_factor > 1.")
        if self.projection == "phm" and (hidden_size % self.phm_dim or m % self.phm_dim):
            raise ValueError(f"projection='phm' needs d={hidden_size} and m={m} to be multiples of "
                             f"phm_dim={self.phm_dim}; choose another bottleneck or phm_dim.")
        return m

    @property
    def sublayers(self) -> tuple:
        """Which sublayers of each BERT layer get an adapter."""
        return {"houlsby": ("attention", "ffn"), "ffn": ("ffn",), "attention": ("attention",)}[self.placement]

    def to_dict(self) -> dict:
        """The fields as a dict; Compacter's fields only when they differ from the default."""
        return {k: v for k, v in asdict(self).items() if k not in _LATER_FIELDS or v != _LATER_FIELDS[k]}

    @classmethod
    def from_dict(cls, d: dict) -> "AdapterConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown AdapterConfig fields {sorted(unknown)}; this labutils knows {sorted(known)}.")
        return cls(**d)
