"""The bottleneck adapter itself: h + s * W_up . sigma(W_down . h + b_down) + b_up.

Tiny initial weights and zero biases make it start as (almost) the identity map.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .phm import phm_projections

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "swish": F.silu}


def adapter_param_count(d: int, m: int) -> int:
    """Parameters of one adapter: W_down (d*m) + b_down (m) + W_up (m*d) + b_up (d) = 2dm + d + m."""
    return 2 * d * m + d + m


class BottleneckAdapter(nn.Module):
    """One adapter: down_proj -> activation -> up_proj, scaled, plus (optionally) the skip."""

    def __init__(self, hidden_size: int, bottleneck: int, activation: str = "relu",
                 init_std: float = 1e-3, scaling: float | str = 1.0):
        super().__init__()
        self.down_proj = nn.Linear(hidden_size, bottleneck)
        self.up_proj = nn.Linear(bottleneck, hidden_size)
        self.activation = activation
        self._act = _ACTIVATIONS[activation]
        if scaling == "learned":
            # One trainable scalar; starts at 1 so that "learned" and fixed 1.0 begin alike.
            self.scale = nn.Parameter(torch.ones(()))
        else:
            self.scale = float(scaling)  # a constant: no parameter, no extra kernel when 1.0
        for proj in (self.down_proj, self.up_proj):  # the paper's near-identity init
            nn.init.normal_(proj.weight, mean=0.0, std=init_std)
            nn.init.zeros_(proj.bias)

    def delta(self, h: torch.Tensor) -> torch.Tensor:
        """The adapter's contribution s * (W_up . sigma(W_down . h + b_down) + b_up), without the skip."""
        out = self.up_proj(self._act(self.down_proj(h)))
        return out if isinstance(self.scale, float) and self.scale == 1.0 else self.scale * out

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.delta(h)

    def extra_repr(self) -> str:
        scale = "learned" if isinstance(self.scale, nn.Parameter) else self.scale
        return f"activation={self.activation}, scaling={scale}"


def make_adapter(config, hidden_size: int, bottleneck: int, shared: dict | None = None) -> BottleneckAdapter:
    """The adapter an `AdapterConfig` describes (projection="phm": Compacter's, `labutils.phm`).
    `shared`: one dict per model adapter, carrying the slow weights A_i all its layers share."""
    adapter = BottleneckAdapter(hidden_size, bottleneck, config.activation, config.init_std, config.scaling)
    if config.projection == "phm":
        phm_projections(adapter, hidden_size, bottleneck, config.phm_dim, config.phm_rank, config.init_std,
                        shared if config.shared_phm_rule else None)
    return adapter
