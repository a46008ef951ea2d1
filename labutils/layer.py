"""A BERT sublayer output (BertSelfOutput or BertOutput) that can hold adapters.

    sequential:  LayerNorm(adapter(dropout(dense(x))) + residual)          (Houlsby et al.)
    parallel:    LayerNorm(dropout(dense(x)) + s * adapter_delta(residual) + residual)  (He et al.)

The original modules keep their attribute names, so state-dict keys do not change.
"""
from __future__ import annotations

import torch
from torch import nn

from .adapter import BottleneckAdapter
from .config import SUBLAYERS

SUPPORTED_FAMILIES = "BERT, MiniLM, RoBERTa, ELECTRA, XLM-RoBERTa, CamemBERT (encoder layers shaped like BertLayer)"
# Where the model keeps name -> AdapterConfig (written by `labutils.model.add_adapter`).
CONFIGS_ATTR = "lab_adapter_configs"


class AdapterSublayerOutput(nn.Module):
    """Drop-in replacement for BertSelfOutput / BertOutput that runs the active adapter."""

    def __init__(self, base: nn.Module, sublayer: str):
        super().__init__()
        self.dense, self.dropout, self.LayerNorm = base.dense, base.dropout, base.LayerNorm
        self.sublayer = sublayer                 # "attention" or "ffn"
        self.adapters = nn.ModuleDict()          # name -> BottleneckAdapter
        self.modes: dict[str, str] = {}          # name -> "sequential" | "parallel"
        self.active_adapter: str | None = None
        self.skip = False                        # True: behave as if no adapter (ablations, AdapterDrop)
        # AdapterFusion (labutils.fusion): runs instead when set and no single adapter is active.
        # Its modules sit in `self.fusion`, a ModuleDict made by the first fusion (no keys before).
        self.active_fusion: str | None = None
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
        if not self.skip and name is None and self.active_fusion is not None:
            h = self.fusion[self.active_fusion](h, input_tensor, self)
        elif not self.skip and name in self.adapters:
            adapter = self.adapters[name]
            h = h + adapter.delta(input_tensor) if self.modes[name] == "parallel" else adapter(h)
        return self.LayerNorm(h + input_tensor)

    def extra_repr(self) -> str:
        fusion = f", fusion={self.active_fusion}" if self.active_fusion is not None else ""
        return f"sublayer={self.sublayer}, active={self.active_adapter}, skip={self.skip}{fusion}"


# Where the sublayers are in a model

class UnsupportedModelError(TypeError):
    """The model's layers are not shaped like BERT's, so adapters cannot be placed."""


def encoder_layers(model: nn.Module) -> list:
    """The model's transformer layers, checked to have the BERT shape adapters need."""
    layers = getattr(getattr(getattr(model, "base_model", model), "encoder", None), "layer", None)
    arch = type(model).__name__
    if layers is None or len(layers) == 0:
        raise UnsupportedModelError(
            f"{arch} has no `encoder.layer` list, so labutils cannot place adapters in it. "
            f"Supported: {SUPPORTED_FAMILIES}.")
    for i, layer in enumerate(layers):
        outputs = (getattr(getattr(layer, "attention", None), "output", None), getattr(layer, "output", None))
        if not all(hasattr(out, part) for out in outputs for part in ("dense", "dropout", "LayerNorm")):
            raise UnsupportedModelError(
                f"{arch} layer {i} ({type(layer).__name__}) lacks BERT's `attention.output` / `output` "
                f"sublayers (dense, dropout, LayerNorm). Supported: {SUPPORTED_FAMILIES}.")
    return list(layers)


def sublayer_owner(layer, sublayer: str):
    """(parent module, attribute name) of a layer's attention or FFN output block."""
    return (layer.attention, "output") if sublayer == "attention" else (layer, "output")


def adapter_sublayers(model: nn.Module):
    """Yield (layer index, AdapterSublayerOutput) for every wrapped sublayer."""
    for i, layer in enumerate(encoder_layers(model)):
        for sublayer in SUBLAYERS:
            module = getattr(*sublayer_owner(layer, sublayer))
            if isinstance(module, AdapterSublayerOutput):
                yield i, module


def adapter_configs(model: nn.Module) -> dict:
    """name -> AdapterConfig for the adapters in the model."""
    return dict(getattr(model, CONFIGS_ATTR, {}))


def active_adapter(model: nn.Module):
    """The name of the task that runs (`labutils.switching.set_active_adapter`), or None."""
    return getattr(model, "active_adapter_name", None)
