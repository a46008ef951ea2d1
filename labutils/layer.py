"""A BERT sublayer output (BertSelfOutput or BertOutput) that can hold adapters.

In BERT each sublayer ends with ``LayerNorm(dropout(dense(x)) + residual)``. Houlsby et al.
put the adapter right after the projection (and its dropout), before the residual is added
and the LayerNorm applied:

    sequential:  LayerNorm(adapter(dropout(dense(x))) + residual)
    parallel:    LayerNorm(dropout(dense(x)) + s * adapter_delta(residual) + residual)

The parallel form (He et al., 2022) feeds the adapter the sublayer's *input* instead of its
output, so adapter and sublayer run side by side.

The wrapper keeps the original ``dense``, ``dropout`` and ``LayerNorm`` modules under the same
attribute names, so the base model's state-dict keys do not change.
"""
from __future__ import annotations

import torch
from torch import nn

from .adapter import BottleneckAdapter


class AdapterSublayerOutput(nn.Module):
    """Drop-in replacement for BertSelfOutput / BertOutput that runs the active adapter."""

    def __init__(self, base: nn.Module, sublayer: str):
        super().__init__()
        self.dense = base.dense
        self.dropout = base.dropout
        self.LayerNorm = base.LayerNorm
        self.sublayer = sublayer                 # "attention" or "ffn"
        self.adapters = nn.ModuleDict()          # name -> BottleneckAdapter
        self.modes: dict[str, str] = {}          # name -> "sequential" | "parallel"
        self.active_adapter: str | None = None
        self.skip = False                        # True: behave as if no adapter (ablations, AdapterDrop)
        # Kept outside the module tree (no extra state-dict keys) so removal can restore it.
        object.__setattr__(self, "_original", base)

    def add(self, name: str, adapter: BottleneckAdapter, mode: str) -> None:
        self.adapters[name] = adapter
        self.modes[name] = mode

    def remove(self, name: str) -> None:
        del self.adapters[name]
        del self.modes[name]
        if self.active_adapter == name:
            self.active_adapter = None

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.dense(hidden_states))
        name = self.active_adapter
        if name is not None and not self.skip and name in self.adapters:
            adapter = self.adapters[name]
            if self.modes[name] == "parallel":
                h = h + adapter.delta(input_tensor)
            else:
                h = adapter(h)
        return self.LayerNorm(h + input_tensor)

    def extra_repr(self) -> str:
        return f"sublayer={self.sublayer}, active={self.active_adapter}, skip={self.skip}"
