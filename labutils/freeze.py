"""Which parameters train: the paper freezes the pretrained network and trains only the
adapters, the LayerNorms and the task's classification head.

`parameter_report` counts what trains, by group, so a notebook can show the budget.
"""
from __future__ import annotations

import torch
from torch import nn

from .model import active_adapter

GROUPS = ("adapters", "layernorm", "head", "base")


def parameter_group(name: str) -> str:
    """adapters / layernorm / head / base, from a parameter's qualified name."""
    if ".adapters." in name:
        return "adapters"
    if "LayerNorm" in name or "layer_norm" in name:
        return "layernorm"
    # The pooler belongs to the sentence-pair head: MiniLM's pooler was never trained for
    # classification, so freezing it would leave a random-ish projection in the way.
    if name.startswith(("classifier", "pooler", "score")) or ".pooler." in name:
        return "head"
    return "base"


def freeze_for_adapters(model: nn.Module, train_layernorm: bool = True, train_head: bool = True) -> nn.Module:
    """Freeze the base; train the active adapter, and (by default) LayerNorms and the head."""
    name = active_adapter(model)
    trainable = {"adapters"}
    if train_layernorm:
        trainable.add("layernorm")
    if train_head:
        trainable.add("head")
    for pname, param in model.named_parameters():
        group = parameter_group(pname)
        if group == "adapters":
            # Only the active adapter trains; other tasks' adapters stay as they were.
            param.requires_grad = name is not None and f".adapters.{name}." in pname
        else:
            param.requires_grad = group in trainable
    return model


def unfreeze_all(model: nn.Module) -> nn.Module:
    """Full fine-tuning: every parameter trains."""
    for param in model.parameters():
        param.requires_grad = True
    return model


def parameter_report(model: nn.Module, base_params: int | None = None) -> dict:
    """Totals and per-group counts of all and of trainable parameters.

    Percentages are of the base model (without adapters) unless `base_params` says otherwise.
    """
    total = trainable = 0
    groups = {g: {"total": 0, "trainable": 0} for g in GROUPS}
    for pname, param in model.named_parameters():
        n = param.numel()
        g = parameter_group(pname)
        total += n
        groups[g]["total"] += n
        if param.requires_grad:
            trainable += n
            groups[g]["trainable"] += n
    base = base_params if base_params is not None else total - groups["adapters"]["total"]
    return {
        "total": total,
        "base_model": base,
        "trainable": trainable,
        "trainable_pct_of_base": 100.0 * trainable / base,
        "groups": groups,
    }


def format_parameter_report(report: dict) -> str:
    """A small fixed-width table of a `parameter_report`."""
    lines = [f"{'group':<10} {'total':>12} {'trainable':>12}"]
    for g, c in report["groups"].items():
        lines.append(f"{g:<10} {c['total']:>12,} {c['trainable']:>12,}")
    lines.append(f"{'all':<10} {report['total']:>12,} {report['trainable']:>12,}")
    lines.append(f"trainable: {report['trainable_pct_of_base']:.2f}% of the {report['base_model']:,} "
                 "parameters of the base model")
    return "\n".join(lines)


def base_checksum(model: nn.Module) -> str:
    """SHA-256 over the frozen base's parameters: equal before and after training iff untouched."""
    import hashlib

    h = hashlib.sha256()
    for pname, param in model.named_parameters():
        if parameter_group(pname) == "base":
            h.update(pname.encode())
            h.update(param.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
