"""Putting adapters into a Hugging Face BERT-family model, switching them, freezing the rest.

Works on any model whose encoder layers look like BERT's (``layer.attention.output`` and
``layer.output``, each with ``dense``, ``dropout``, ``LayerNorm``): bert-base-uncased, MiniLM,
RoBERTa, ELECTRA, XLM-R and friends. Anything else gets an `UnsupportedModelError`.

Injection is idempotent: adding an adapter that is already there with the same config does
nothing, so re-running a notebook cell never wraps a layer twice.

A task is its adapter *and* the LayerNorms and head it trained (Houlsby et al. train both per
task). So each adapter owns a set of LayerNorm and head tensors: the live parameters belong to
the active adapter, the others' wait beside the model, and `set_active_adapter` swaps them
together with the adapter. The plain base model (no adapter active) owns the pretrained ones.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import torch
from torch import nn

from .adapter import BottleneckAdapter, adapter_param_count
from .config import AdapterConfig
from .layer import AdapterSublayerOutput

SUPPORTED_FAMILIES = "BERT, MiniLM, RoBERTa, ELECTRA, XLM-RoBERTa, CamemBERT (encoder layers shaped like BertLayer)"
_CONFIGS_ATTR = "lab_adapter_configs"
_TASK_LAYERS_ATTR = "lab_task_layers"


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


# --------------------------------------------------------------------------------------------
# The LayerNorms and head each task owns
# --------------------------------------------------------------------------------------------

@dataclass
class TaskLayers:
    """The LayerNorm and head tensors of one task that is not running now, and its label names."""
    label_names: list
    tensors: dict  # parameter name -> tensor


def _shared_parameters(model: nn.Module) -> dict:
    """name -> live parameter for the LayerNorms and the head: what every task trains for itself."""
    from .freeze import parameter_group  # freeze imports this module, so not at the top

    return {name: p for name, p in model.named_parameters() if parameter_group(name) in ("layernorm", "head")}


def _label_names(model: nn.Module) -> list:
    return [model.config.id2label[i] for i in range(model.config.num_labels)]


def _stored_task_layers(model: nn.Module) -> dict:
    """adapter name (None: the base model) -> TaskLayers, for every owner except the active one."""
    stored = model.__dict__.get(_TASK_LAYERS_ATTR)
    if stored is None:
        stored = {}
        setattr(model, _TASK_LAYERS_ATTR, stored)
    return stored


def _logits_layer(model: nn.Module):
    """(parent, attribute) of the Linear that outputs the logits (BERT: `classifier`, RoBERTa and
    ELECTRA: `classifier.out_proj`), or None."""
    head = getattr(model, "classifier", None)
    if isinstance(head, nn.Linear):
        return model, "classifier"
    if isinstance(getattr(head, "out_proj", None), nn.Linear):
        return head, "out_proj"
    return None


def _set_head_labels(model: nn.Module, label_names: Sequence[str]) -> None:
    """Give the model a classifier (of the right width) and config for these labels.

    A new width means a new Linear (the old parameters cannot change shape): an optimizer made
    before holds the old one. Its `requires_grad` follows the old one's.
    """
    n = len(label_names)
    found = _logits_layer(model)
    if found is None and n != model.config.num_labels:
        raise UnsupportedModelError(
            f"{type(model).__name__} has no `classifier` Linear (or `classifier.out_proj`), so labutils cannot "
            f"give its head {n} labels; load the base model with the labels you need.")
    if found is not None and getattr(*found).out_features != n:
        parent, attr = found
        old = getattr(parent, attr)
        new = nn.Linear(old.in_features, n, bias=old.bias is not None)
        new = new.to(device=old.weight.device, dtype=old.weight.dtype).requires_grad_(old.weight.requires_grad)
        setattr(parent, attr, new)
    model.num_labels = n
    model.config.num_labels = n
    model.config.id2label = dict(enumerate(label_names))
    model.config.label2id = {name: i for i, name in enumerate(label_names)}


def _live_task_layers(model: nn.Module, clone: bool) -> TaskLayers:
    """The live LayerNorms and head as a TaskLayers: the same storage, or (clone=True) a copy."""
    # Outside inference mode, so the tensors can train later even if this runs inside it.
    with torch.inference_mode(False), torch.no_grad():
        tensors = {n: (p.detach().clone() if clone else p.data) for n, p in _shared_parameters(model).items()}
    return TaskLayers(_label_names(model), tensors)


def _install_task_layers(model: nn.Module, owned: TaskLayers) -> None:
    """Make `owned` the live LayerNorms and head. The parameter objects stay (an optimizer keeps
    working); only their data is pointed at the task's tensors, so nothing is copied."""
    if owned.label_names != _label_names(model):
        _set_head_labels(model, owned.label_names)
    params = _shared_parameters(model)
    wrong = sorted(n for n, p in params.items() if n not in owned.tensors or owned.tensors[n].shape != p.shape)
    if wrong or len(params) != len(owned.tensors):
        raise RuntimeError(
            f"the model's LayerNorms / head changed shape or name since the adapter was added ({wrong[:3]}); "
            "labutils cannot switch tasks in it. Load a fresh base model and load the adapter folders into it.")
    with torch.inference_mode(False), torch.no_grad():
        for n, p in params.items():
            # After model.to(...) a waiting task's tensors may sit on the old device or dtype.
            p.data = owned.tensors[n].to(device=p.device, dtype=p.dtype)


def _base_task_layers(model: nn.Module) -> TaskLayers:
    """A copy of the base model's own (pretrained) LayerNorms and head."""
    if active_adapter(model) is None:
        return _live_task_layers(model, clone=True)
    base = _stored_task_layers(model)[None]
    with torch.inference_mode(False), torch.no_grad():
        return TaskLayers(list(base.label_names), {n: t.clone() for n, t in base.tensors.items()})


def _switch_task_layers(model: nn.Module, before: Optional[str], after: Optional[str]) -> None:
    """Store the live LayerNorms and head as `before`'s (they may have trained) and put `after`'s in."""
    stored = _stored_task_layers(model)
    if after not in stored:
        raise RuntimeError(
            f"the LayerNorms and head of {after or 'the base model'!r} are not in the model (was "
            f"`{_TASK_LAYERS_ATTR}` or `active_adapter_name` changed by hand?); labutils cannot switch to it. "
            "Load a fresh base model and load the adapter folders into it.")
    incoming = stored.pop(after)
    stored[before] = _live_task_layers(model, clone=False)
    try:
        _install_task_layers(model, incoming)
    except BaseException:
        stored[after] = incoming
        _install_task_layers(model, stored.pop(before))
        raise


def task_tensors(model: nn.Module, name: Optional[str]) -> dict:
    """The tensors that belong to adapter `name`: its adapter weights, and its LayerNorms and head
    (the live ones while it is active, its stored ones otherwise). Writing into them in place
    changes that task only."""
    from .freeze import parameter_group

    owned = None if name == active_adapter(model) else _stored_task_layers(model).get(name)
    out = {}
    for pname, param in model.named_parameters():
        group = parameter_group(pname)
        if group == "adapters":
            if name is not None and f".adapters.{name}." in pname:
                out[pname] = param.detach()
        elif group in ("layernorm", "head"):
            out[pname] = param.detach() if owned is None else owned.tensors[pname]
    return out


def adapter_label_names(model: nn.Module, name: Optional[str]) -> list:
    """The labels adapter `name`'s head predicts (a name not in the model: those a new adapter gets)."""
    stored = _stored_task_layers(model)
    if name != active_adapter(model) and name in stored:
        return list(stored[name].label_names)
    if name not in adapter_configs(model) and None in stored:
        return list(stored[None].label_names)  # a new adapter starts from the base's head
    return _label_names(model)


def add_adapter(model: nn.Module, name: str = "default", config: Optional[AdapterConfig] = None,
                set_active: bool = True) -> nn.Module:
    """Insert adapter `name` into every chosen sublayer. Same name and config twice: no-op.

    A new adapter starts from the base model's LayerNorms and head (the pretrained LayerNorms
    and the head the model was loaded with, its labels included), whichever adapter is active:
    every task trains from the pretrained network, as in the paper, never from another task's.
    """
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
    owned = _base_task_layers(model) if existing else _live_task_layers(model, clone=True)
    for i in chosen:
        for sublayer in config.sublayers:
            adapter = BottleneckAdapter(d, m, config.activation, config.init_std, config.scaling)
            _wrapped(layers[i], sublayer).add(name, adapter.to(device=ref.device, dtype=ref.dtype), config.mode)
    if not existing:
        _stored_task_layers(model).clear()  # the first adapter: the live LayerNorms and head are the base's
    _stored_task_layers(model)[name] = owned
    setattr(model, _CONFIGS_ATTR, {**existing, name: config})
    if set_active:
        set_active_adapter(model, name)
    return model


def set_active_adapter(model: nn.Module, name: Optional[str]) -> None:
    """Make `name` the task that runs: its adapter, its LayerNorms and its head.

    The live LayerNorm and head parameters are first kept as the outgoing adapter's (they may
    have trained since it became active), then `name`'s take their place, with its labels (a
    head of another width is a new Linear). The parameter objects stay otherwise, so an
    optimizer built on the model goes on training whatever is active.

    None runs the plain base model: no adapter, the pretrained LayerNorms and the head the model
    was loaded with. (`adapters_disabled` instead only switches the adapter modules off.)
    """
    configs = adapter_configs(model)
    if name is not None and name not in configs:
        raise KeyError(f"no adapter named {name!r}; the model has {sorted(configs)}.")
    before = active_adapter(model)
    if configs and name != before:
        _switch_task_layers(model, before, name)
    _run_adapter_modules(model, name)
    model.active_adapter_name = name


def _run_adapter_modules(model: nn.Module, name: Optional[str]) -> None:
    for _, module in adapter_sublayers(model):
        module.active_adapter = name


def active_adapter(model: nn.Module) -> Optional[str]:
    return getattr(model, "active_adapter_name", None)


def delete_adapter(model: nn.Module, name: str) -> None:
    """Remove adapter `name` with its LayerNorms and head; sublayers left without adapters get
    their original module back. Deleting the active adapter leaves the plain base model running
    (pretrained LayerNorms and head), as `set_active_adapter(model, None)` does."""
    if name not in adapter_configs(model):
        raise KeyError(f"no adapter named {name!r}; the model has {sorted(adapter_configs(model))}.")
    if active_adapter(model) == name:
        set_active_adapter(model, None)
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
    stored = _stored_task_layers(model)
    stored.pop(name, None)
    if not configs:
        stored.clear()  # the base is running again and nothing else owns LayerNorms or a head


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
def adapter_modules_only(model: nn.Module, name: Optional[str]):
    """Within the block adapter `name`'s modules run (None: no adapter module), while the
    LayerNorms, the head and `active_adapter` stay the active task's; all returns after.

    Nothing is copied or swapped besides a flag per sublayer, so this is the switch to time
    architectures with (latency depends on the shapes, not on what the weights learned). For a
    task's predictions use `set_active_adapter`, which brings its LayerNorms and head too.
    """
    if name is not None and name not in adapter_configs(model):
        raise KeyError(f"no adapter named {name!r}; the model has {sorted(adapter_configs(model))}.")
    before = [(module, module.active_adapter) for _, module in adapter_sublayers(model)]
    _run_adapter_modules(model, name)
    try:
        yield model
    finally:
        for module, running in before:
            module.active_adapter = running


def adapters_disabled(model: nn.Module):
    """Within the block the adapter modules are off: the base network's computation with the
    active task's LayerNorms and head (what the adapters themselves add, removed). Nothing is
    copied, so timing it times the base architecture. The active adapter runs again after.

    For the plain pretrained model (its own LayerNorms and head too) use
    `set_active_adapter(model, None)`.
    """
    return adapter_modules_only(model, None)
