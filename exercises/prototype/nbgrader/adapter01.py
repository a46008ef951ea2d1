# %% [markdown]
# # 01 · The bottleneck adapter (exercise prototype, nbgrader)
#
# Write the Houlsby adapter yourself: $h + W_{up}\,\sigma(W_{down}\,h + b_{down}) + b_{up}$ with
# $W_{down}\in\mathbb{R}^{m\times d}$, ReLU as $\sigma$, and the near-identity init (weights
# normal with std $10^{-3}$, biases zero).

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import torch
from torch import nn
import labutils as L
from labcheck import check

# %% [markdown]
# **Exercise 1.** Complete `Adapter`: `down_proj` ($d \to m$), ReLU, `up_proj` ($m \to d$), the
# skip connection, and the near-identity init.

# %% nbgrader={"grade": false, "grade_id": "adapter", "locked": false, "schema_version": 3, "solution": true}
class Adapter(nn.Module):
    def __init__(self, d: int, m: int, init_std: float = 1e-3):
        super().__init__()
        ### BEGIN SOLUTION
        self.down_proj = nn.Linear(d, m)
        self.up_proj = nn.Linear(m, d)
        for proj in (self.down_proj, self.up_proj):
            nn.init.normal_(proj.weight, std=init_std)
            nn.init.zeros_(proj.bias)
        ### END SOLUTION

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return h + self.up_proj(torch.relu(self.down_proj(h)))
        ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "q1_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false}
with check("output shape"):
    h = torch.randn(2, 5, 16)
    out = Adapter(16, 4)(h)
    assert isinstance(out, torch.Tensor) and out.shape == h.shape, f"output shape {getattr(out, 'shape', out)}, expected {tuple(h.shape)}"

# %% nbgrader={"grade": true, "grade_id": "q1_identity", "locked": true, "points": 1, "schema_version": 3, "solution": false}
with check("identity at init"):
    torch.manual_seed(0)
    a, h = Adapter(768, 64), torch.randn(4, 8, 768)
    change = (a(h) - h).abs().max().item()
    print(f"max |adapter(h) - h| at init = {change:.1e} (must be < 1e-2)")
    assert change < 1e-2, "not the identity at init: weights normal with std init_std, biases zero"
    assert all(torch.count_nonzero(p.bias) == 0 for p in (a.down_proj, a.up_proj)), "biases must start at zero"

# %% nbgrader={"grade": true, "grade_id": "q1_library", "locked": true, "points": 2, "schema_version": 3, "solution": false}
with check("equal to labutils.BottleneckAdapter on the same weights"):
    torch.manual_seed(1)
    mine, ref = Adapter(32, 8), L.BottleneckAdapter(32, 8)
    with torch.no_grad():  # big weights, so that a wrong delta is not hidden by the skip
        for p in mine.parameters():
            p.normal_(std=0.5)
    ref.load_state_dict(mine.state_dict())
    h = torch.randn(3, 7, 32)
    x, y = mine(h), ref(h)
    rel_error = ((x - y).abs().max() / (x.abs() + y.abs()).max().clamp_min(1e-12)).item()
    print(f"relative error: {rel_error:.1e} (must be < 1e-6)")
    assert rel_error < 1e-6, "check the order down -> ReLU -> up -> + h"

# %% nbgrader={"grade": true, "grade_id": "q1_params", "locked": true, "points": 1, "schema_version": 3, "solution": false}
with check("parameter count"):
    assert sum(p.numel() for p in Adapter(768, 64).parameters()) == 2 * 768 * 64 + 768 + 64
    ### BEGIN HIDDEN TESTS
    d, m = 40, 6
    assert sum(p.numel() for p in Adapter(d, m).parameters()) == 2 * d * m + d + m
    ### END HIDDEN TESTS

# %% [markdown]
# From here on the notebook uses the library's adapter, so it runs to the end even without your code.

# %%
adapter = L.BottleneckAdapter(768, 64)
print(adapter)

# %% [markdown]
# **Exercise 2.** `adapter_cost(d, m)` returns the parameters of one adapter;
# `share_of_bert_base(m)` the share (in %) of BERT-base's encoder
# (`L.cost.base_parameter_count(BertConfig())`) taken by Houlsby placement (2 adapters in each of
# 12 layers).

# %% nbgrader={"grade": false, "grade_id": "cost", "locked": false, "schema_version": 3, "solution": true}
from transformers import BertConfig

def adapter_cost(d: int, m: int) -> int:
    ### BEGIN SOLUTION
    return 2 * d * m + d + m
    ### END SOLUTION

def share_of_bert_base(m: int) -> float:
    ### BEGIN SOLUTION
    return 100 * 24 * adapter_cost(768, m) / L.cost.base_parameter_count(BertConfig())
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "q2_cost", "locked": true, "points": 1, "schema_version": 3, "solution": false}
with check("adapter_cost"):
    assert adapter_cost(768, 64) == L.adapter_param_count(768, 64), "count W_down, b_down, W_up and b_up"
    ### BEGIN HIDDEN TESTS
    assert adapter_cost(40, 6) == 2 * 40 * 6 + 40 + 6
    ### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "q2_share", "locked": true, "points": 1, "schema_version": 3, "solution": false}
with check("share of BERT-base"):
    share = share_of_bert_base(64)
    print(f"Houlsby, m = 64: {share:.2f}% of BERT-base")
    expected = 100 * 24 * L.adapter_param_count(768, 64) / L.cost.base_parameter_count(BertConfig())
    assert abs(share - expected) < 1e-6, "a percentage of the whole encoder, 24 adapters"

# %% [markdown]
# **Exercise 3 (written).** The handout says an $m = 64$ adapter is 4.2% of a BERT layer. What
# did it divide by, and what is the right share?

# %% [markdown] nbgrader={"grade": true, "grade_id": "q3_handout", "locked": false, "points": 2, "schema_version": 3, "solution": true}
# ### BEGIN SOLUTION
# 4.2% is one adapter (99,136 parameters) over the attention block's $4d^2$ weights only. A layer
# has about $12d^2$ weights and Houlsby placement puts two adapters in it: about 2.8% of the layer.
#
# **Rubric (2 points; the instructor's version only: nbgrader's MARK SCHEME regions are allowed in
# "task" cells alone, so the rubric sits in the solution region).** 1 point: 4.2% = one adapter
# over the attention block's $4d^2$. 1 point: a layer is about $12d^2$, two adapters per layer:
# about 2.8% (2.2% of the whole model).
# ### END SOLUTION
