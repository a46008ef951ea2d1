"""Switching tasks: each adapter owns its LayerNorms and its head (Houlsby et al. train both per task).

The live parameters belong to the active adapter; the others' tensors wait beside the model.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn

from .layer import UnsupportedModelError, active_adapter, adapter_configs, adapter_sublayers
from .params import parameter_group

_TASK_LAYERS_ATTR = "lab_task_layers"


@dataclass
class TaskLayers:
    """The LayerNorm and head tensors of one task that is not running now, and its label names."""
    label_names: list
    tensors: dict  # parameter name -> tensor


def _shared_parameters(model: nn.Module) -> dict:
    """name -> live parameter for the LayerNorms and the head: what every task trains for itself."""
    return {name: p for name, p in model.named_parameters() if parameter_group(name) in ("layernorm", "head")}


def _label_names(model: nn.Module) -> list:
    return [model.config.id2label[i] for i in range(model.config.num_labels)]


def _stored_task_layers(model: nn.Module) -> dict:
    """adapter name (None: the base model) -> TaskLayers, for every owner except the active one."""
    return model.__dict__.setdefault(_TASK_LAYERS_ATTR, {})


def set_head_labels(model: nn.Module, label_names: Sequence[str]) -> None:
    """Give the model a classifier (of the right width) and config for these labels; one label
    name makes it a regression head (one output, MSE loss), as `load_base_model` does."""
    n = len(label_names)
    # The Linear that outputs the logits: BERT's `classifier`, RoBERTa's and ELECTRA's `classifier.out_proj`.
    head = getattr(model, "classifier", None)
    parent, attr = (model, "classifier") if isinstance(head, nn.Linear) else (head, "out_proj")
    old = getattr(parent, attr, None)
    if not isinstance(old, nn.Linear):
        if n != model.config.num_labels:
            raise UnsupportedModelError(
                f"{type(model).__name__} has no `classifier` Linear (or `classifier.out_proj`), so labutils "
                f"cannot give its head {n} labels; load the base model with the labels you need.")
    elif old.out_features != n:
        new = nn.Linear(old.in_features, n, bias=old.bias is not None)
        new = new.to(device=old.weight.device, dtype=old.weight.dtype).requires_grad_(old.weight.requires_grad)
        setattr(parent, attr, new)
    model.num_labels = n
    model.config.num_labels = n
    # The loss follows config.problem_type, which transformers fixes at the first forward with
    # labels and then keeps: it must change with the head. One output is a score (MSE loss).
    if n == 1:
        model.config.problem_type = "regression"
    elif model.config.problem_type == "regression":
        model.config.problem_type = None  # transformers picks the classification loss from the labels again
    model.config.id2label = dict(enumerate(label_names))
    model.config.label2id = {name: i for i, name in enumerate(label_names)}


def adapter_label_names(model: nn.Module, name: Optional[str]) -> list:
    """The labels adapter `name`'s head predicts (a name not in the model: those a new adapter gets)."""
    stored = _stored_task_layers(model)
    if name != active_adapter(model) and name in stored:
        return list(stored[name].label_names)
    if name not in adapter_configs(model) and None in stored:
        return list(stored[None].label_names)  # a new adapter starts from the base's head
    return _label_names(model)


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
        set_head_labels(model, owned.label_names)
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


def add_task_layers(model: nn.Module, name: str) -> None:
    """Give adapter `name` (not yet in `adapter_configs`) its own copy of the base's LayerNorms and
    head: every task trains from the pretrained network, as in the paper, never from another task's."""
    stored = _stored_task_layers(model)
    first = not adapter_configs(model)
    if first:
        stored.clear()  # the first adapter: the live LayerNorms and head are the base's
    if first or active_adapter(model) is None:
        stored[name] = _live_task_layers(model, clone=True)
    else:
        base = stored[None]
        with torch.inference_mode(False), torch.no_grad():
            stored[name] = TaskLayers(list(base.label_names), {n: t.clone() for n, t in base.tensors.items()})


def drop_task_layers(model: nn.Module, name: str) -> None:
    """Forget adapter `name`'s LayerNorms and head (it is no longer in `adapter_configs`)."""
    stored = _stored_task_layers(model)
    stored.pop(name, None)
    if not adapter_configs(model):
        stored.clear()  # the base is running again and nothing else owns LayerNorms or a head


def task_tensors(model: nn.Module, name: Optional[str]) -> dict:
    """Adapter `name`'s adapter weights, LayerNorms and head (live or stored); writing into them changes only it."""
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


def set_active_adapter(model: nn.Module, name: Optional[str]) -> None:
    """Make `name` the task that runs: its adapter, its LayerNorms and its head (None: the plain base).
    Parameter objects stay, so an optimizer built on the model keeps training whatever is active."""
    configs = adapter_configs(model)
    if name is not None and name not in configs:
        raise KeyError(f"no adapter named {name!r}; the model has {sorted(configs)}.")
    before = active_adapter(model)
    if configs and name != before:
        # Store the live LayerNorms and head as `before`'s (they may have trained) and put `name`'s in.
        stored = _stored_task_layers(model)
        if name not in stored:
            raise RuntimeError(
                f"the LayerNorms and head of {name or 'the base model'!r} are not in the model (was "
                f"`{_TASK_LAYERS_ATTR}` or `active_adapter_name` changed by hand?); labutils cannot switch to it. "
                "Load a fresh base model and load the adapter folders into it.")
        incoming = stored.pop(name)
        stored[before] = _live_task_layers(model, clone=False)
        try:
            _install_task_layers(model, incoming)
        except BaseException:
            stored[name] = incoming
            _install_task_layers(model, stored.pop(before))
            raise
    for _, module in adapter_sublayers(model):
        module.active_adapter = name
    model.active_adapter_name = name


@contextlib.contextmanager
def adapter_modules_only(model: nn.Module, name: Optional[str]):
    """Within the block adapter `name`'s modules run (None: no adapter module), while the
    LayerNorms, the head and `active_adapter` stay the active task's; all returns after."""
    if name is not None and name not in adapter_configs(model):
        raise KeyError(f"no adapter named {name!r}; the model has {sorted(adapter_configs(model))}.")
    before = [(module, module.active_adapter) for _, module in adapter_sublayers(model)]
    for module, _ in before:
        module.active_adapter = name
    try:
        yield model
    finally:
        for module, running in before:
            module.active_adapter = running


def adapters_disabled(model: nn.Module):
    """Within the block the adapter modules are off; nothing is copied, so timing it times the base architecture."""
    return adapter_modules_only(model, None)
