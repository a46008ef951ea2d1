# %% [raw]
# # ASSIGNMENT CONFIG
# name: adapter01
# init_cell: false
# check_all_cell: false
# export_cell: false
# run_tests: true
# tests:
#   files: true
#   ok_format: false
# generate: true

# %% [markdown]
# # 01 · The bottleneck adapter (exercise prototype)
#
# Write the Houlsby adapter yourself: $h + W_{up}\,\sigma(W_{down}\,h + b_{down}) + b_{up}$ with
# $W_{down}\in\mathbb{R}^{m\times d}$, ReLU as $\sigma$, and the near-identity init (weights
# normal with std $10^{-3}$, biases zero).

# %%
# Checks run from the lab's folder, in JupyterLab and on Colab (the tests are files, not metadata).
import otter
grader = otter.Notebook("adapter01.ipynb", tests_dir="tests")

import torch
from torch import nn
import labutils as L

# %% [raw]
# # BEGIN QUESTION
# name: q1_adapter
# points: 5

# %% [markdown]
# **Exercise 1.** Complete `Adapter`: `down_proj` ($d \to m$), ReLU, `up_proj` ($m \to d$), the
# skip connection, and the near-identity init.

# %% [raw]
# # BEGIN SOLUTION

# %%
class Adapter(nn.Module):
    def __init__(self, d: int, m: int, init_std: float = 1e-3):
        super().__init__()
        # BEGIN SOLUTION
        self.down_proj = nn.Linear(d, m)
        self.up_proj = nn.Linear(m, d)
        for proj in (self.down_proj, self.up_proj):
            nn.init.normal_(proj.weight, std=init_std)
            nn.init.zeros_(proj.bias)
        # END SOLUTION

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        return h + self.up_proj(torch.relu(self.down_proj(h)))
        # END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "not done yet: give Adapter a down_proj and an up_proj (nn.Linear) and a forward that returns a tensor"
""" # END TEST CONFIG
def test_done(Adapter):
    # Imports inside: otter keeps only the function of a test cell (no module-level code).
    import torch; from torch import nn
    a = Adapter(16, 4)
    assert isinstance(getattr(a, "down_proj", None), nn.Linear) and isinstance(getattr(a, "up_proj", None), nn.Linear)
    assert isinstance(a(torch.zeros(2, 16)), torch.Tensor)

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "the output must have the input's shape (batch, tokens, d)"
""" # END TEST CONFIG
def test_shape(Adapter):
    import torch
    h = torch.randn(2, 5, 16)
    assert Adapter(16, 4)(h).shape == h.shape

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "not the identity at init: weights normal with std init_std, biases zero"
""" # END TEST CONFIG
def test_identity_at_init(Adapter):
    import torch
    torch.manual_seed(0)
    a, h = Adapter(768, 64), torch.randn(4, 8, 768)
    change = (a(h) - h).abs().max().item()
    print(f"max |adapter(h) - h| at init = {change:.1e} (must be < 1e-2)")
    assert change < 1e-2, f"max |adapter(h) - h| = {change:.1e} at init, must be < 1e-2"
    assert all(torch.count_nonzero(p.bias) == 0 for p in (a.down_proj, a.up_proj))
    std = torch.cat([a.down_proj.weight.flatten(), a.up_proj.weight.flatten()]).std().item()
    assert 0.8e-3 < std < 1.2e-3, f"weight std {std:.2e}, expected 1e-3"

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "differs from labutils.BottleneckAdapter on the same weights: check the order down -> ReLU -> up -> + h"
""" # END TEST CONFIG
def test_equals_library(Adapter):
    import torch, labutils as L
    torch.manual_seed(1)
    mine, ref = Adapter(32, 8), L.BottleneckAdapter(32, 8)
    with torch.no_grad():  # big weights, so that a wrong delta is not hidden by the skip
        for p in mine.parameters():
            p.normal_(std=0.5)
    ref.load_state_dict(mine.state_dict())
    h = torch.randn(3, 7, 32)
    a, b = mine(h), ref(h)
    rel_error = ((a - b).abs().max() / (a.abs() + b.abs()).max().clamp_min(1e-12)).item()
    print(f"relative error vs labutils.BottleneckAdapter: {rel_error:.1e} (must be < 1e-6)")
    assert rel_error < 1e-6, f"relative error {rel_error:.1e}, must be < 1e-6"

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
def test_param_count_other_size(Adapter):
    d, m = 40, 6
    assert sum(p.numel() for p in Adapter(d, m).parameters()) == 2 * d * m + d + m

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# From here on the notebook uses the library's adapter, so it runs to the end even without your code.

# %%
adapter = L.BottleneckAdapter(768, 64)
print(adapter)

# %% [raw]
# # BEGIN QUESTION
# name: q2_cost
# points: 3

# %% [markdown]
# **Exercise 2.** `adapter_cost(d, m)` returns the parameters of one adapter; then compute
# `share_m64`, the share (in %) of BERT-base's encoder (`L.cost.base_parameter_count(BertConfig())`)
# taken by Houlsby placement (2 adapters in each of 12 layers) with $m = 64$.

# %% [raw]
# # BEGIN SOLUTION

# %%
from transformers import BertConfig

def adapter_cost(d: int, m: int) -> int:
    return 2 * d * m + d + m  # SOLUTION

bert_base = L.cost.base_parameter_count(BertConfig())
# Only the marked lines become `...` in the student version: code after them must not use the
# student's value (a format spec on `...` raises), so the print is part of the solution.
# BEGIN SOLUTION
share_m64 = 100 * 24 * adapter_cost(768, 64) / bert_base
print(f"Houlsby, m = 64: {share_m64:.2f}% of BERT-base")
# END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "not done yet (or wrong): adapter_cost(d, m) counts W_down, b_down, W_up and b_up"
""" # END TEST CONFIG
def test_cost(adapter_cost):
    import labutils as L
    assert adapter_cost(768, 64) == L.adapter_param_count(768, 64)

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "not done yet (or wrong): share_m64 is a percentage of the whole BERT-base encoder, 24 adapters"
""" # END TEST CONFIG
def test_share(share_m64):
    import labutils as L; from transformers import BertConfig
    assert isinstance(share_m64, float) and abs(share_m64 - 100 * 24 * L.adapter_param_count(768, 64) / L.cost.base_parameter_count(BertConfig())) < 1e-6

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
def test_cost_other(adapter_cost):
    assert adapter_cost(40, 6) == 2 * 40 * 6 + 40 + 6

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3_handout
# manual: true
# points: 2

# %% [markdown]
# **Exercise 3 (written).** The handout says an $m = 64$ adapter is 4.2% of a BERT layer. What
# did it divide by, and what is the right share?

# %% [raw]
# # BEGIN SOLUTION

# %% [markdown]
# **Rubric (2 points).** 1 point: 4.2% is one adapter (99,136) over the attention block's $4d^2$
# weights only. 1 point: a layer has about $12d^2$ weights and Houlsby puts two adapters in it:
# about 2.8% of the layer (2.2% of the whole model).

# %% [raw]
# # END SOLUTION

# %% [raw]
# # END QUESTION
