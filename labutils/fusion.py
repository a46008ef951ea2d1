"""AdapterFusion (Pfeiffer et al., 2021): stage 2 of two-stage learning, an attention over frozen adapters.

    q = Q h,  k_n = K u_n,  p = softmax(q . k_n / T),  out = h + V (sum_n p_n u_n)

h: the sublayer's output (the query); u_n: adapter n's output without its skip. As AdapterHub: Q, K
random (std 0.02), V = I (off-diagonal 1e-6), so one adapter's fusion is that adapter. It runs in the
base model's slot (no single adapter active); `labutils.fusion_io` saves and loads it.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .layer import active_adapter, adapter_configs, adapter_sublayers
from .params import is_pooler, parameter_group, pooler_trains
from .switching import set_active_adapter

FUSIONS_ATTR = "lab_fusions"          # name -> {"adapters": [...], "settings": {...}}
ACTIVE_ATTR = "lab_active_fusion"


class AdapterFusionLayer(nn.Module):
    """One fusion module: the sublayer output (query) attends over the adapters' outputs (keys, values)."""

    def __init__(self, adapter_names: Sequence[str], hidden_size: int, dropout: float = 0.1,
                 temperature: float = 1.0):
        super().__init__()
        self.adapter_names = list(adapter_names)
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.temperature = float(temperature)
        self.last_attention: Optional[torch.Tensor] = None  # (batch, tokens, adapters) of the last forward
        for lin in (self.query, self.key):
            nn.init.normal_(lin.weight, mean=0.0, std=0.02)  # BERT's init, as AdapterHub
            nn.init.zeros_(lin.bias)
        with torch.no_grad():  # V = I: the fused output starts as the adapters' average
            self.value.weight.fill_(1e-6).fill_diagonal_(1.0)

    def fuse(self, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """The fusion itself: h (batch, tokens, d) attends over u (batch, tokens, adapters, d)."""
        scores = torch.einsum("...d,...nd->...n", self.query(h), self.key(u))
        p = torch.softmax(self.dropout(scores) / self.temperature, dim=-1)
        self.last_attention = p.detach()
        return h + self.value(torch.einsum("...n,...nd->...d", p, u))

    def forward(self, h: torch.Tensor, input_tensor: torch.Tensor, sublayer) -> torch.Tensor:
        outs = []  # each adapter's output u_n, without its skip connection
        for name in self.adapter_names:
            if name not in sublayer.adapters:
                raise KeyError(f"the fusion needs adapter {name!r}, which is no longer in the model "
                               f"(deleted?); delete the fusion or load the adapter again.")
            outs.append(sublayer.adapters[name].delta(input_tensor if sublayer.modes[name] == "parallel" else h))
        return self.fuse(h, torch.stack(outs, dim=-2))

    def extra_repr(self) -> str:
        return f"adapters={self.adapter_names}, temperature={self.temperature}"


def fusions(model: nn.Module) -> dict:
    """name -> {"adapters": [...], "settings": {...}} for the fusions in the model."""
    return dict(getattr(model, FUSIONS_ATTR, {}))


def active_fusion(model: nn.Module) -> Optional[str]:
    return getattr(model, ACTIVE_ATTR, None)


def fusion_layers(model: nn.Module, name: str):
    """Yield (layer index, sublayer, AdapterFusionLayer) of fusion `name`."""
    for i, module in adapter_sublayers(model):
        fusion = module._modules.get("fusion")
        if fusion is not None and name in fusion:
            yield i, module.sublayer, fusion[name]


def fusion_tensors(model: nn.Module, name: str) -> dict:
    """Parameter name -> tensor of fusion `name`'s Q, K and V in every layer."""
    return {n: p.detach() for n, p in model.named_parameters() if f".fusion.{name}." in n}


def fuse_adapters(model: nn.Module, adapter_names: Sequence[str], name: str = "fusion", *,
                  dropout: Optional[float] = None, temperature: float = 1.0, train_layernorm: bool = False,
                  train_pooler: Optional[bool] = None, set_active: bool = True) -> nn.Module:
    """Build fusion `name` over adapters already in the model, in every sublayer that holds them.
    The task adapters are frozen as stage 1 left them; the same name and adapters twice adds no layers."""
    names = list(adapter_names)
    known = adapter_configs(model)
    missing = [n for n in names if n not in known]
    if missing or not names or len(set(names)) != len(names):
        raise KeyError(f"fuse_adapters needs distinct adapters already in the model; missing {missing} "
                       f"(the model has {sorted(known)}).")
    existing = fusions(model).get(name)
    if existing is not None and existing["adapters"] != names:
        raise ValueError(f"fusion {name!r} already fuses {existing['adapters']}; delete_fusion(model, {name!r}) "
                         "first or pick another name.")
    if existing is None:
        p = model.config.attention_probs_dropout_prob if dropout is None else float(dropout)
        places = []
        for i, module in adapter_sublayers(model):
            held = [n for n in names if n in module.adapters]
            if held and held != names:
                raise ValueError(f"layer {i} {module.sublayer}: holds {held} but not the others of {names}; "
                                 "fusion needs adapters placed in the same layers.")
            if held:
                places.append(module)
        if not places:
            raise ValueError(f"adapters {names} sit in no common sublayer.")
        ref = places[0].dense.weight
        for module in places:
            if "fusion" not in module._modules:
                module.fusion = nn.ModuleDict()
            layer = AdapterFusionLayer(names, model.config.hidden_size, p, temperature)
            # An eval model stays in eval (dropout off).
            module.fusion[name] = layer.to(device=ref.device, dtype=ref.dtype).train(model.training)
        entry = {"adapters": names, "settings": {"dropout": p, "temperature": float(temperature)}}
        setattr(model, FUSIONS_ATTR, {**fusions(model), name: entry})
    if set_active:
        set_active_fusion(model, name)
    # Train fusion `name` and the head only (LayerNorms too if asked); every adapter stays frozen.
    if train_pooler is None:
        train_pooler = pooler_trains(model)
    for pname, param in model.named_parameters():
        group = parameter_group(pname)
        if f".fusion.{name}." in pname:
            param.requires_grad = True
        elif group == "head":
            param.requires_grad = train_pooler or not is_pooler(pname)
        else:
            param.requires_grad = group == "layernorm" and train_layernorm
    return model


def set_active_fusion(model: nn.Module, name: Optional[str]) -> None:
    """Run fusion `name` (in the base slot: no single adapter active) or, with None, no fusion.
    While it is active, `set_active_adapter(model, None)` runs the fusion, not the plain base."""
    if name is not None and name not in fusions(model):
        raise KeyError(f"no fusion named {name!r}; the model has {sorted(fusions(model))}.")
    if name is not None and active_adapter(model) is not None:
        set_active_adapter(model, None)
    for _, module in adapter_sublayers(model):
        module.active_fusion = name if name is not None and name in module._modules.get("fusion", {}) else None
    setattr(model, ACTIVE_ATTR, name)


def delete_fusion(model: nn.Module, name: str) -> None:
    """Remove fusion `name`'s layers (the adapters stay)."""
    if name not in fusions(model):
        raise KeyError(f"no fusion named {name!r}; the model has {sorted(fusions(model))}.")
    if active_fusion(model) == name:
        set_active_fusion(model, None)
    for _, module in adapter_sublayers(model):
        if name in module._modules.get("fusion", {}):
            del module.fusion[name]
    setattr(model, FUSIONS_ATTR, {k: v for k, v in fusions(model).items() if k != name})


def fusion_regularization(model: nn.Module, name: str, weight: float = 0.01) -> torch.Tensor:
    """The paper's lambda * sum_layers ||I - V||_F^2 (AdapterHub: lambda = 0.01), to add to the loss."""
    terms = [(torch.eye(f.value.weight.shape[0], device=f.value.weight.device) - f.value.weight).pow(2).sum()
             for _, _, f in fusion_layers(model, name)]
    return weight * torch.stack(terms).sum()


def fusion_attention(model: nn.Module, name: str, attention_mask: Optional[torch.Tensor] = None) -> dict:
    """(layer, sublayer) -> mean attention over adapters (a tensor of N) from the last forward,
    averaged over the tokens where `attention_mask` is 1 (all tokens without a mask)."""
    out = {}
    for i, sub, layer in fusion_layers(model, name):
        p = layer.last_attention
        if p is None:
            raise RuntimeError(f"fusion {name!r} has not run yet: call the model first.")
        w = torch.ones(p.shape[:-1], device=p.device) if attention_mask is None else attention_mask.to(p)
        out[(i, sub)] = (p * w[..., None]).sum(dim=(0, 1)) / w.sum()
    return out


def mean_fusion_attention(model: nn.Module, tokenizer, dataset, name: Optional[str] = None,
                          batch_size: int = 64):
    """DataFrame (rows: layer and sublayer; columns: the fused adapters) of the fusion attention
    averaged over every real token of `dataset` (a tokenised split): the heatmap's numbers."""
    import pandas as pd
    from transformers import DataCollatorWithPadding
    name = name or active_fusion(model)
    if name is None:
        raise KeyError("no fusion is active; give its name.")
    set_active_fusion(model, name)
    collate = DataCollatorWithPadding(tokenizer)
    keep = [c for c in dataset.column_names if c in ("input_ids", "attention_mask", "token_type_ids")]
    device = next(model.parameters()).device
    totals, tokens = {}, 0.0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(dataset), batch_size):
                rows = [{k: dataset[i][k] for k in keep} for i in range(start, min(start + batch_size, len(dataset)))]
                batch = {k: v.to(device) for k, v in collate(rows).items()}
                model(**batch)
                n = float(batch["attention_mask"].sum())
                for key, mean in fusion_attention(model, name, batch["attention_mask"]).items():
                    totals[key] = totals.get(key, 0) + mean.float().cpu() * n
                tokens += n
    finally:
        model.train(was_training)
    index = pd.MultiIndex.from_tuples(list(totals), names=["layer", "sublayer"])
    return pd.DataFrame([(v / tokens).tolist() for v in totals.values()], index=index,
                        columns=fusions(model)[name]["adapters"])
