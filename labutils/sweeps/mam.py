"""The MAM adapter (He et al., 2022, "Towards a Unified View of Parameter-Efficient Transfer Learning"):
prefix tuning at attention plus a scaled parallel adapter at the FFN, the paper's best ("Mix-And-Match").

The lab's adapter (`placement="ffn", mode="parallel", scaling=4.0`) plus peft's prefix tuning (30 virtual
tokens, the paper's l = 30, no reparametrisation MLP). peft feeds its prefix in as past keys and values,
leaving the lab's sublayer wrappers untouched, so the two combine. LayerNorms stay frozen (the paper
counts only prefix and adapter). Not adapter + LoRA, as some summaries put it.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

from safetensors.torch import save_file
from torch import nn

from ..config import AdapterConfig
from ..io import model_file_size
from ..model import add_adapter
from ..params import parameter_group
from .baselines import make_peft_model

MAM_PREFIX_TOKENS = 30  # He et al.'s l = 30 for the prefix in the MAM adapter


def mam_config(bottleneck: Optional[int] = None, reduction_factor: int = 16, scaling: float = 4.0) -> AdapterConfig:
    """The MAM adapter's FFN part: a parallel adapter beside the feed-forward sublayer, scaled by s."""
    return AdapterConfig(bottleneck=bottleneck, reduction_factor=reduction_factor, placement="ffn",
                         mode="parallel", scaling=scaling)


def make_mam_model(model: nn.Module, name: str = "mam", config: Optional[AdapterConfig] = None,
                   num_virtual_tokens: int = MAM_PREFIX_TOKENS, check: bool = True, **prefix_kwargs) -> nn.Module:
    """The peft model with the parallel FFN adapter `name` and prefix tuning (both and the head train), or
    `PeftMethodUnavailable` if peft's prefix tuning cannot run on this model."""
    config = config or mam_config()
    if config.placement != "ffn" or config.mode != "parallel":
        raise ValueError(f"MAM puts a parallel adapter at the FFN; got placement={config.placement!r}, "
                         f"mode={config.mode!r}.")
    add_adapter(model, name, config)
    peft_model = make_peft_model(model, "prefix", check=check, num_virtual_tokens=num_virtual_tokens,
                                 **prefix_kwargs)
    for pname, param in peft_model.named_parameters():
        if f".adapters.{name}." in pname:
            param.requires_grad = True  # peft froze it
    return peft_model


def mam_parts(model: nn.Module, name: str = "mam") -> dict:
    """Trainable parameter counts of a MAM model by part: prefix, adapter, head, other (should be 0)."""
    parts = dict.fromkeys(("prefix", "adapter", "head", "other"), 0)
    for pname, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if "prompt_encoder" in pname:
            parts["prefix"] += param.numel()
        elif f".adapters.{name}." in pname:
            parts["adapter"] += param.numel()
        elif parameter_group(pname) == "head":  # the classifier and the pooler under it
            parts["head"] += param.numel()
        else:
            parts["other"] += param.numel()
    return parts


def mam_file_size(model: nn.Module, name: str = "mam") -> int:
    """Bytes one MAM task stores: what peft's `save_pretrained` writes (prefix and head) plus the
    parallel adapter's weights, which peft does not know of, as one safetensors file."""
    adapter = {pname: param.detach().cpu().contiguous() for pname, param in model.named_parameters()
               if f".adapters.{name}." in pname}
    if not adapter:
        raise ValueError(f"the model has no MAM adapter named {name!r}; build it with make_mam_model.")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}_adapter.safetensors"
        save_file(adapter, str(path))
        adapter_bytes = path.stat().st_size
    return model_file_size(model) + adapter_bytes
