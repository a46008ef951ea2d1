"""The MAM adapter (He et al., 2022): peft's prefix tuning at attention + a scaled parallel FFN adapter."""
import torch

import labutils as L
from labutils.sweeps.mam import make_mam_model, mam_config, mam_parts

from conftest import make_tiny_model


def test_mam_config_is_the_papers():
    c = mam_config()
    assert (c.placement, c.mode, c.scaling) == ("ffn", "parallel", 4.0)


def test_both_parts_train_and_nothing_else(batch):
    torch.manual_seed(0)
    model = make_mam_model(make_tiny_model(), num_virtual_tokens=4, config=mam_config(bottleneck=8))
    parts = mam_parts(model)
    assert parts["prefix"] > 0 and parts["adapter"] == 3 * L.adapter_param_count(32, 8) and parts["other"] == 0
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(2):
        model(**batch, labels=torch.tensor([0, 1])).loss.backward()
        opt.step()
        opt.zero_grad()
    now = dict(model.named_parameters())
    assert all(torch.equal(now[n], t) for n, t in frozen.items())
    moved = {n for n, t in trained.items() if not torch.equal(now[n], t)}
    assert any("prompt_encoder" in n for n in moved)          # the prefix trains
    assert any(".adapters.mam.up_proj" in n for n in moved)   # the parallel adapter trains
