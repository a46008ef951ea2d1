"""Putting adapters into a Hugging Face BERT-family model, and taking them out again."""
from __future__ import annotations

import contextlib
from typing import Iterable, Optional

from torch import nn

from .adapter import make_adapter
from .config import SUBLAYERS, AdapterConfig
from .layer import (CONFIGS_ATTR, AdapterSublayerOutput, adapter_configs, adapter_sublayers, active_adapter,
                    encoder_layers, sublayer_owner)
from .switching import add_task_layers, drop_task_layers, set_active_adapter


def add_adapter(model: nn.Module, name: str = "default", config: Optional[AdapterConfig] = None,
                set_active: bool = True) -> nn.Module:
    """Insert adapter `name` into every chosen sublayer. Same name and config twice: no-op.
    It starts from the base's LayerNorms and head, never from another task's."""
    config = config or AdapterConfig()
    layers = encoder_layers(model)
    existing = adapter_configs(model)
    if name in existing:
        if existing[name] != config:
            raise ValueError(
                f"adapter {name!r} already exists with a different config ({existing[name]}); "
                f"call delete_adapter(model, {name!r}) first or pick another name.")
        if set_active:
            set_active_adapter(model, name)
        return model
    chosen = range(len(layers)) if config.layers is None else config.layers
    bad = [i for i in chosen if not 0 <= i < len(layers)]
    if bad:
        raise ValueError(f"config.layers {bad} out of range: the model has layers 0..{len(layers) - 1}.")
    d = model.config.hidden_size
    m = config.bottleneck_for(d)
    ref = layers[0].output.dense.weight  # new adapters follow the base model's device and dtype
    shared = {}  # what this adapter's layers share (Compacter's slow weights A_i)
    for i in chosen:
        for sublayer in config.sublayers:
            adapter = make_adapter(config, d, m, shared)
            parent, attr = sublayer_owner(layers[i], sublayer)
            if not isinstance(getattr(parent, attr), AdapterSublayerOutput):
                setattr(parent, attr, AdapterSublayerOutput(getattr(parent, attr), sublayer))
            getattr(parent, attr).add(name, adapter.to(device=ref.device, dtype=ref.dtype), config.mode)
    add_task_layers(model, name)  # before the config is recorded: it asks whether this is the first adapter
    setattr(model, CONFIGS_ATTR, {**existing, name: config})
    if set_active:
        set_active_adapter(model, name)
    return model


def delete_adapter(model: nn.Module, name: str) -> None:
    """Remove adapter `name` with its LayerNorms and head (the active one: the plain base runs again)."""
    if name not in adapter_configs(model):
        raise KeyError(f"no adapter named {name!r}; the model has {sorted(adapter_configs(model))}.")
    if active_adapter(model) == name:
        set_active_adapter(model, None)
    for layer in encoder_layers(model):
        for sublayer in SUBLAYERS:
            parent, attr = sublayer_owner(layer, sublayer)
            module = getattr(parent, attr)
            if isinstance(module, AdapterSublayerOutput) and name in module.adapters:
                module.remove(name)
                if len(module.adapters) == 0:
                    setattr(parent, attr, module._original)
    setattr(model, CONFIGS_ATTR, {k: c for k, c in adapter_configs(model).items() if k != name})
    drop_task_layers(model, name)


def set_skipped_layers(model: nn.Module, layers: Iterable[int] = ()) -> None:
    """Turn adapters off in these layers (both sublayers; 04's ablations, AdapterDrop) and on everywhere else."""
    skipped = set(layers)
    n = len(encoder_layers(model))
    bad = sorted(i for i in skipped if not 0 <= i < n)
    if bad:
        raise ValueError(f"layers {bad} out of range: the model has layers 0..{n - 1}.")
    for i, module in adapter_sublayers(model):
        module.skip = i in skipped


def skipped_layers(model: nn.Module) -> list:
    return sorted({i for i, module in adapter_sublayers(model) if module.skip})


@contextlib.contextmanager
def adapters_skipped(model: nn.Module, layers: Iterable[int]):
    """Within the block, adapters in `layers` are off; the previous state comes back after."""
    before = skipped_layers(model)
    set_skipped_layers(model, layers)
    try:
        yield model
    finally:
        set_skipped_layers(model, before)
