"""Configuration of a bottleneck adapter (Houlsby et al., 2019, "Parameter-Efficient
Transfer Learning for NLP"), in the paper's words.

One `AdapterConfig` describes one named adapter: its size, where it goes in each layer,
how it is initialised and whether it runs in sequence with the sublayer or beside it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence, Union

PLACEMENTS = ("houlsby", "ffn", "attention")
MODES = ("sequential", "parallel")
ACTIVATIONS = ("relu", "gelu", "swish")
# The two places in a BERT layer where an adapter can sit.
SUBLAYERS = ("attention", "ffn")


@dataclass
class AdapterConfig:
    """Everything needed to build (and later rebuild) one adapter."""

    bottleneck: Optional[int] = field(
        default=None, metadata={"help": "Bottleneck size m. Leave None to derive it from reduction_factor."})
    reduction_factor: int = field(
        default=16, metadata={"help": "m = hidden_size // reduction_factor when bottleneck is None."})
    placement: str = field(
        default="houlsby", metadata={"help": "'houlsby' (after attention and after FFN), 'ffn' (Pfeiffer), 'attention'."})
    mode: str = field(
        default="sequential", metadata={"help": "'sequential' (the paper) or 'parallel' (He et al., 2022)."})
    scaling: Union[float, str] = field(
        default=1.0, metadata={"help": "Factor s on the adapter's output; 'learned' makes s a trainable scalar."})
    activation: str = field(
        default="relu", metadata={"help": "Nonlinearity sigma in the bottleneck: relu, gelu or swish."})
    init_std: float = field(
        default=1e-3, metadata={"help": "Std of the normal init of both projections; biases start at zero, so the adapter starts near identity."})
    layers: Optional[Sequence[int]] = field(
        default=None, metadata={"help": "Layer indices that get the adapter; None means every layer."})

    def __post_init__(self):
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement={self.placement!r} is not supported; choose one of {PLACEMENTS}.")
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is not supported; choose one of {MODES}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r} is not supported; choose one of {ACTIVATIONS}.")
        if not (isinstance(self.scaling, (int, float)) or self.scaling == "learned"):
            raise ValueError(f"scaling={self.scaling!r}: give a number or 'learned'.")
        if self.bottleneck is not None and self.bottleneck < 1:
            raise ValueError(f"bottleneck={self.bottleneck}: must be a positive integer.")
        if self.reduction_factor < 1:
            raise ValueError(f"reduction_factor={self.reduction_factor}: must be a positive integer.")
        if self.init_std < 0:
            raise ValueError(f"init_std={self.init_std}: must be >= 0.")
        if self.layers is not None:
            self.layers = sorted({int(i) for i in self.layers})

    def bottleneck_for(self, hidden_size: int) -> int:
        """The bottleneck size m for a model of this hidden size."""
        m = self.bottleneck if self.bottleneck is not None else hidden_size // self.reduction_factor
        if m < 1:
            raise ValueError(
                f"reduction_factor={self.reduction_factor} leaves no bottleneck for hidden size "
                f"{hidden_size}; use a smaller reduction_factor or set bottleneck.")
        return m

    @property
    def sublayers(self) -> tuple:
        """Which sublayers of each BERT layer get an adapter."""
        return {"houlsby": ("attention", "ffn"), "ffn": ("ffn",), "attention": ("attention",)}[self.placement]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AdapterConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown AdapterConfig fields {sorted(unknown)}; this labutils knows {sorted(known)}.")
        return cls(**d)
