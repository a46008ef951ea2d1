"""The parameter counters: which parameters train, and how many there are."""
from __future__ import annotations

import hashlib

import torch
from torch import nn

from .adapter import adapter_param_count
from .layer import active_adapter, adapter_configs, adapter_sublayers
from .phm import compacter_param_count

GROUPS = ("adapters", "layernorm", "head", "base")


def parameter_group(name: str) -> str:
    """adapters / layernorm / head / base, from a parameter's qualified name."""
    if ".adapters." in name or ".fusion." in name:  # AdapterFusion's layers count with the adapters
        return "adapters"
    if "LayerNorm" in name or "layer_norm" in name:
        return "layernorm"
    # The classifier, and the pooler that feeds it (trained or not); also inside a peft wrapper.
    if {"classifier", "pooler", "score"} & set(name.split(".")):
        return "head"
    return "base"


def is_pooler(name: str) -> bool:
    return "pooler" in name.split(".")


def pooler_trains(model: nn.Module) -> bool:
    """What `load_base_model` recorded for this model; the paper's rule (frozen) otherwise."""
    return bool(getattr(getattr(model, "config", None), "lab_train_pooler", False))


def freeze_for_adapters(model: nn.Module, train_layernorm: bool = True, train_head: bool = True,
                        train_pooler: bool | None = None) -> nn.Module:
    """Freeze the base; train the active adapter, and (by default) LayerNorms and the head.
    `train_pooler` None: the model's choice (`pooler_trains`)."""
    name = active_adapter(model)
    if train_pooler is None:
        train_pooler = pooler_trains(model)
    for pname, param in model.named_parameters():
        group = parameter_group(pname)
        if group == "adapters":
            # Only the active adapter trains; other tasks' adapters stay as they were.
            param.requires_grad = name is not None and f".adapters.{name}." in pname
        elif is_pooler(pname) and not train_pooler:
            param.requires_grad = False
        else:
            param.requires_grad = (group == "layernorm" and train_layernorm) or (group == "head" and train_head)
    return model


def unfreeze_all(model: nn.Module) -> nn.Module:
    """Full fine-tuning: every parameter trains."""
    for param in model.parameters():
        param.requires_grad = True
    return model


def parameter_report(model: nn.Module, base_params: int | None = None) -> dict:
    """Totals and per-group counts of all and of trainable parameters."""
    groups = {g: {"total": 0, "trainable": 0} for g in GROUPS}
    for pname, param in model.named_parameters():
        counts = groups[parameter_group(pname)]
        counts["total"] += param.numel()
        counts["trainable"] += param.numel() if param.requires_grad else 0
    total = sum(c["total"] for c in groups.values())
    trainable = sum(c["trainable"] for c in groups.values())
    base = base_params if base_params is not None else total - groups["adapters"]["total"]
    # Every method needs a classification layer; without it the shares compare the methods themselves.
    without_head = trainable - groups["head"]["trainable"]
    return {"total": total, "base_model": base, "trainable": trainable,
            "trainable_pct_of_base": 100.0 * trainable / base, "trainable_without_head": without_head,
            "trainable_without_head_pct": 100.0 * without_head / base, "groups": groups}


def format_parameter_report(report: dict) -> str:
    """A small fixed-width table of a `parameter_report`."""
    lines = [f"{'group':<10} {'total':>12} {'trainable':>12}"]
    for g, c in report["groups"].items():
        lines.append(f"{g:<10} {c['total']:>12,} {c['trainable']:>12,}")
    lines.append(f"{'all':<10} {report['total']:>12,} {report['trainable']:>12,}")
    lines.append(f"trainable: {report['trainable_pct_of_base']:.2f}% of the {report['base_model']:,} "
                 f"parameters of the base model ({report['trainable_without_head_pct']:.2f}% without the head)")
    return "\n".join(lines)


def base_checksum(model: nn.Module) -> str:
    """SHA-256 over the frozen base's parameters: equal before and after training iff untouched."""
    h = hashlib.sha256()
    for pname, param in model.named_parameters():
        if parameter_group(pname) == "base":
            h.update(pname.encode())
            h.update(param.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# What the formula says adapters cost

def adapter_parameter_count(model: nn.Module, name: str) -> int:
    """What the formula says adapter `name` costs: (number of adapters) * (2dm + d + m), or
    Compacter's formula for a PHM adapter (`labutils.phm.compacter_param_count`)."""
    config = adapter_configs(model)[name]
    d = model.config.hidden_size
    n_adapters = sum(1 for _, module in adapter_sublayers(model) if name in module.adapters)
    learned = config.scaling == "learned"
    if config.projection == "phm":
        return compacter_param_count(d, config.bottleneck_for(d), config.phm_dim, config.phm_rank, n_adapters,
                                     config.shared_phm_rule, learned)
    return n_adapters * (adapter_param_count(d, config.bottleneck_for(d)) + int(learned))  # + s if learned


def base_parameter_count(config) -> int:
    """Parameters of the bare encoder (BertModel with pooler) for `config`, built on the meta device."""
    from transformers import AutoModel
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    return sum(p.numel() for p in model.parameters())


def adapter_cost_table(config, bottlenecks=(8, 16, 32, 64, 256)):
    """Adapter parameters for FFN-only (one per layer) and Houlsby (two per layer) placement."""
    import pandas as pd
    d, layers = config.hidden_size, config.num_hidden_layers
    base = base_parameter_count(config)
    rows = []
    for m in bottlenecks:
        one = adapter_param_count(d, m)
        rows.append({"m": m, "per adapter (2dm+d+m)": one,
                     "FFN-only (L adapters)": layers * one, "FFN-only % of base": round(100 * layers * one / base, 2),
                     "Houlsby (2L adapters)": 2 * layers * one,
                     "Houlsby % of base": round(100 * 2 * layers * one / base, 2)})
    return pd.DataFrame(rows).set_index("m")
