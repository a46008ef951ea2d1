"""What adapters cost in parameters, from a model config alone (no weights, no download)."""
from __future__ import annotations

import torch

from .adapter import adapter_param_count


def base_parameter_count(config) -> int:
    """Parameters of the bare encoder (BertModel with pooler) for `config`, built on the meta device."""
    from transformers import AutoModel

    with torch.device("meta"):
        model = AutoModel.from_config(config)
    return sum(p.numel() for p in model.parameters())


def adapter_cost_table(config, bottlenecks=(8, 16, 32, 64, 256)):
    """Adapter parameters for FFN-only (one per layer) and Houlsby (two per layer) placement.

    Returns a DataFrame with one row per bottleneck size m: the cost of one adapter
    (2dm + d + m) and of all of them, as a count and as % of the base model.
    """
    import pandas as pd

    d, layers = config.hidden_size, config.num_hidden_layers
    base = base_parameter_count(config)
    rows = []
    for m in bottlenecks:
        one = adapter_param_count(d, m)
        rows.append({
            "m": m,
            "per adapter (2dm+d+m)": one,
            "FFN-only (L adapters)": layers * one,
            "FFN-only % of base": round(100 * layers * one / base, 2),
            "Houlsby (2L adapters)": 2 * layers * one,
            "Houlsby % of base": round(100 * 2 * layers * one / base, 2),
        })
    return pd.DataFrame(rows).set_index("m")
