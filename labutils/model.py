"""Putting adapters into a Hugging Face BERT-family model, switching them, freezing the rest.

Works on any model whose encoder layers look like BERT's (``layer.attention.output`` and
``layer.output``, each with ``dense``, ``dropout``, ``LayerNorm``): bert-base-uncased, MiniLM,
RoBERTa, ELECTRA, XLM-R and friends. Anything else gets an `UnsupportedModelError`.

Injection is idempotent: adding an adapter that is already there with the same config does
nothing, so re-running a notebook cell never wraps a layer twice.
"""
from __future__ import annotations

import contextlib
from typing import Iterable, Optional

from torch import nn

from .adapter import BottleneckAdapter, adapter_param_count
from .config import AdapterConfig
from .layer import AdapterSublayerOutput

SUPPORTED_FAMILIES = "BERT, MiniLM, RoBERTa, ELECTRA, XLM-RoBERTa, CamemBERT (encoder layers shaped like BertLayer)"
_CONFIGS_ATTR = "lab_adapter_configs"


class UnsupportedModelError(TypeError):
    """The model's layers are not shaped like BERT's, so adapters cannot be placed."""


def _has_output_parts(module) -> bool:
    return all(hasattr(module, part) for part in ("dense", "dropout", "LayerNorm"))


def encoder_layers(model: nn.Module) -> list:
    """The model's transformer layers, checked to have the BERT shape adapters need."""
    base = getattr(model, "base_model", model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    arch = type(model).__name__
    if layers is None or len(layers) == 0:
        raise UnsupportedModelError(
            f"{arch} has no `encoder.layer` list, so labutils cannot place adapters in it. "
            f"Supported: {SUPPORTED_FAMILIES}.")
    for i, layer in enumerate(layers):
        attn_out = getattr(getattr(layer, "attention", None), "output", None)
        ffn_out = getattr(layer, "output", None)
        if not (attn_out is not None and _has_output_parts(attn_out) and ffn_out is not None
                and _has_output_parts(ffn_out)):
            raise UnsupportedModelError(
                f"{arch} layer {i} ({type(layer).__name__}) lacks BERT's `attention.output` / `output` "
                f"sublayers (dense, dropout, LayerNorm). Supported: {SUPPORTED_FAMILIES}.")
    return list(layers)


def _sublayer_owner(layer, sublayer: str):
    """(parent module, attribute name) of a layer's attention or FFN output block."""
    return (layer.attention, "output") if sublayer == "attention" else (layer, "output")


def _wrapped(layer, sublayer: str) -> AdapterSublayerOutput:
    parent, attr = _sublayer_owner(layer, sublayer)
    module = getattr(parent, attr)
    if not isinstance(module, AdapterSublayerOutput):
        module = AdapterSublayerOutput(module, sublayer)
        setattr(parent, attr, module)
    return module


def adapter_sublayers(model: nn.Module):
    """Yield (layer index, AdapterSublayerOutput) for every wrapped sublayer."""
    for i, layer in enumerate(encoder_layers(model)):
        for sublayer in ("attention", "ffn"):
            parent, attr = _sublayer_owner(layer, sublayer)
            module = getattr(parent, attr)
            if isinstance(module, AdapterSublayerOutput):
                yield i, module


def adapter_configs(model: nn.Module) -> dict:
    """name -> AdapterConfig for the adapters in the model."""
    return dict(getattr(model, _CONFIGS_ATTR, {}))


def add_adapter(model: nn.Module, name: str = "default", config: Optional[AdapterConfig] = None,
                set_active: bool = True) -> nn.Module:
    """Insert adapter `name` into every chosen sublayer. Same name and config twice: no-op."""
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
    if config.layers is not None:
        bad = [i for i in config.layers if not 0 <= i < len(layers)]
        if bad:
            raise ValueError(f"config.layers {bad} out of range: the model has layers 0..{len(layers) - 1}.")
    d = model.config.hidden_size
    m = config.bottleneck_for(d)
    # New adapters follow the base model's device and dtype.
    ref = layers[0].output.dense.weight
    chosen = range(len(layers)) if config.layers is None else config.layers
    for i in chosen:
        for sublayer in config.sublayers:
            adapter = BottleneckAdapter(d, m, config.activation, config.init_std, config.scaling)
            _wrapped(layers[i], sublayer).add(name, adapter.to(device=ref.device, dtype=ref.dtype), config.mode)
    setattr(model, _CONFIGS_ATTR, {**existing, name: config})
    if set_active:
        set_active_adapter(model, name)
    return model


def set_active_adapter(model: nn.Module, name: Optional[str]) -> None:
    """Make `name` the adapter that runs (None: run the plain base model)."""
    if name is not None and name not in adapter_configs(model):
        raise KeyError(f"no adapter named {name!r}; the model has {sorted(adapter_configs(model))}.")
    for _, module in adapter_sublayers(model):
        module.active_adapter = name
    model.active_adapter_name = name


def active_adapter(model: nn.Module) -> Optional[str]:
    return getattr(model, "active_adapter_name", None)


def delete_adapter(model: nn.Module, name: str) -> None:
    """Remove adapter `name`; sublayers left without adapters get their original module back."""
    if name not in adapter_configs(model):
        raise KeyError(f"no adapter named {name!r}; the model has {sorted(adapter_configs(model))}.")
    for layer in encoder_layers(model):
        for sublayer in ("attention", "ffn"):
            parent, attr = _sublayer_owner(layer, sublayer)
            module = getattr(parent, attr)
            if isinstance(module, AdapterSublayerOutput) and name in module.adapters:
                module.remove(name)
                if len(module.adapters) == 0:
                    setattr(parent, attr, module._original)
    configs = adapter_configs(model)
    del configs[name]
    setattr(model, _CONFIGS_ATTR, configs)
    if active_adapter(model) == name:
        model.active_adapter_name = None


def set_skipped_layers(model: nn.Module, layers: Iterable[int] = ()) -> None:
    """Turn adapters off in these layers (both sublayers) and on everywhere else."""
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


def adapter_parameter_count(model: nn.Module, name: str) -> int:
    """What the formula says adapter `name` costs: (number of adapters) * (2dm + d + m)."""
    config = adapter_configs(model)[name]
    d = model.config.hidden_size
    n_adapters = sum(1 for _, module in adapter_sublayers(model) if name in module.adapters)
    extra = n_adapters if config.scaling == "learned" else 0
    return n_adapters * adapter_param_count(d, config.bottleneck_for(d)) + extra


@contextlib.contextmanager
def adapters_disabled(model: nn.Module):
    """Within the block the model runs as the plain base model; the active adapter returns after."""
    before = active_adapter(model)
    set_active_adapter(model, None)
    try:
        yield model
    finally:
        set_active_adapter(model, before)
