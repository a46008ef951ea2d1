"""Compacter (Mahabadi et al., 2021, "Compacter: Efficient Low-Rank Hypercomplex Adapter Layers").

Each projection is W = sum_i A_i (x) B_i (Kronecker), A_i (n x n) shared by the model, B_i = s_i t_i^T
per layer; init as AdapterHub (A_i normal, s_i, t_i Glorot-uniform, biases zero).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F


class PHMLinear(nn.Module):
    """y = x W^T + b with W = sum_i A_i (x) (s_i t_i^T): a Linear built from Kronecker products."""

    def __init__(self, in_features: int, out_features: int, n: int = 4, rank: int = 1,
                 A: Optional[nn.Parameter] = None, init_std: float = 1e-3):
        super().__init__()
        if in_features % n or out_features % n:
            raise ValueError(f"PHM layer {in_features} -> {out_features}: both sizes must be multiples of n={n}.")
        self.in_features, self.out_features, self.n, self.rank = in_features, out_features, n, rank
        if A is None:
            self.A = nn.Parameter(torch.empty(n, n, n))   # the slow weights, owned by this layer
            nn.init.normal_(self.A, mean=0.0, std=init_std)
        else:
            # Shared: held by reference, outside the module tree, so each tensor is saved once
            # (under the layer that owns it) and counted once.
            object.__setattr__(self, "_shared_A", A)
        self.s = nn.Parameter(torch.empty(n, out_features // n, rank))  # B_i = s_i t_i^T: the fast weights
        self.t = nn.Parameter(torch.empty(n, rank, in_features // n))
        self.bias = nn.Parameter(torch.zeros(out_features))
        for i in range(n):
            nn.init.xavier_uniform_(self.s.data[i])
            nn.init.xavier_uniform_(self.t.data[i])

    @property
    def owns_A(self) -> bool:
        return "A" in self._parameters

    @property
    def slow_weights(self) -> nn.Parameter:
        """The A_i (n x n x n), owned or shared."""
        return self._parameters["A"] if self.owns_A else self.__dict__["_shared_A"]

    @property
    def weight(self) -> torch.Tensor:
        """W (out x in) = sum_i kron(A_i, s_i t_i^T), built on every call (autograd flows to A, s, t)."""
        A = self.slow_weights
        B = torch.bmm(self.s, self.t)                       # (n, out/n, in/n)
        W = torch.einsum("kab,kij->aibj", A.to(B.dtype), B)  # (n, out/n, n, in/n): the Kronecker sum
        return W.reshape(self.out_features, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight.to(x.dtype), self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, n={self.n}, "
                f"rank={self.rank}, shared_A={not self.owns_A}")


def phm_projections(adapter: nn.Module, d: int, m: int, n: int, rank: int, init_std: float,
                    shared: Optional[dict] = None) -> None:
    """Replace `adapter`'s down_proj and up_proj by PHM layers; the first one fills `shared`'s A."""
    for attr, (i, o) in (("down_proj", (d, m)), ("up_proj", (m, d))):
        layer = PHMLinear(i, o, n, rank, A=None if shared is None else shared.get("A"), init_std=init_std)
        if shared is not None and "A" not in shared:
            shared["A"] = layer.A
        setattr(adapter, attr, layer)


def compacter_param_count(d: int, m: int, n: int = 4, rank: int = 1, adapters: int = 1,
                          shared_A: bool = True, learned_scale: bool = False) -> int:
    """Parameters of `adapters` Compacter adapters: each has two PHM layers, r(d + m) fast weights
    apiece, plus biases m + d; the A_i cost n^3 once when shared, n^3 per PHM layer otherwise.
    (The paper's count, n^3 + 4L r(d + m) for Houlsby placement, leaves the biases out.)"""
    per_adapter = 2 * rank * (d + m) + d + m + (0 if shared_A else 2 * n ** 3) + (1 if learned_scale else 0)
    return adapters * per_adapter + (n ** 3 if shared_A and adapters else 0)
