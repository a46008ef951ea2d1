"""Compacter: the adapter with PHM projections (labutils.phm), as a config of the existing adapter."""
import pytest
import torch

import labutils as L
from labutils.phm import PHMLinear, compacter_param_count

from conftest import make_tiny_model

PHM = dict(bottleneck=8, projection="phm", phm_dim=4, phm_rank=1)


def test_phm_weight_is_a_sum_of_kronecker_products():
    torch.manual_seed(0)
    layer = PHMLinear(8, 12, n=4, rank=2, init_std=1.0)
    A, s, t = layer.A, layer.s, layer.t
    by_hand = sum(torch.kron(A[i], s[i] @ t[i]) for i in range(4))
    assert layer.weight.shape == (12, 8)
    torch.testing.assert_close(layer.weight, by_hand)
    x = torch.randn(3, 8)
    torch.testing.assert_close(layer(x), x @ by_hand.T + layer.bias)


def test_default_config_is_unchanged():
    """New fields stay out of to_dict at their defaults: files and run keys as before."""
    d = L.AdapterConfig().to_dict()
    assert "projection" not in d and "phm_dim" not in d
    assert L.AdapterConfig.from_dict(d) == L.AdapterConfig()
    c = L.AdapterConfig(**PHM)
    assert c.to_dict()["projection"] == "phm" and L.AdapterConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="projection"):
        L.AdapterConfig(projection="kron")
    with pytest.raises(ValueError, match="multiples"):
        L.AdapterConfig(bottleneck=6, projection="phm").bottleneck_for(32)


@pytest.mark.parametrize("placement,shared", [("houlsby", True), ("ffn", True), ("houlsby", False)])
def test_parameter_formula_matches_count(placement, shared):
    model = make_tiny_model()
    L.add_adapter(model, "c", L.AdapterConfig(placement=placement, shared_phm_rule=shared, **PHM))
    counted = sum(p.numel() for n, p in model.named_parameters() if ".adapters.c." in n)
    n_adapters = 3 * (2 if placement == "houlsby" else 1)
    assert counted == compacter_param_count(32, 8, n=4, rank=1, adapters=n_adapters, shared_A=shared)
    assert L.adapter_parameter_count(model, "c") == counted
    # Far fewer than the dense adapter's 2dm + d + m each.
    assert counted < n_adapters * L.adapter_param_count(32, 8)


def test_slow_weights_are_shared_across_layers():
    model = make_tiny_model()
    L.add_adapter(model, "c", L.AdapterConfig(**PHM))
    projections = [proj for _, m in L.adapter_sublayers(model) for proj in (m.adapters["c"].down_proj, m.adapters["c"].up_proj)]
    assert len({id(p.slow_weights) for p in projections}) == 1
    assert sum(p.owns_A for p in projections) == 1          # saved once, under the first layer
    assert len([k for k in model.state_dict() if k.endswith(".A")]) == 1


def test_compacter_trains_and_round_trips(tmp_path, batch):
    torch.manual_seed(0)
    model = make_tiny_model()
    L.add_adapter(model, "c", L.AdapterConfig(**PHM))
    L.freeze_for_adapters(model)
    before = L.base_checksum(model)
    A0 = next(p for n, p in model.named_parameters() if n.endswith(".A")).detach().clone()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    labels = torch.tensor([0, 1])
    model.train()
    for step in range(3):
        model(**batch, labels=labels).loss.backward()
        if step == 0:  # every slow and fast weight gets a gradient
            phm = {n: p for n, p in model.named_parameters() if ".adapters.c." in n}
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in phm.values()), \
                [n for n, p in phm.items() if p.grad is None or p.grad.abs().sum() == 0]
        opt.step()
        opt.zero_grad()
    assert L.base_checksum(model) == before
    A1 = next(p for n, p in model.named_parameters() if n.endswith(".A"))
    assert not torch.equal(A0, A1)                           # the shared slow weights learn
    model.eval()
    out = model(**batch).logits
    L.save_adapter(model, tmp_path / "c")
    fresh = make_tiny_model()
    L.load_adapter(fresh, tmp_path / "c")
    torch.testing.assert_close(fresh(**batch).logits, out, rtol=0, atol=0)


def test_run_keys_of_default_configs_are_unchanged():
    """A default AdapterConfig hashes as before Compacter's fields existed (05's run cache)."""
    from labutils.notebook import plain
    old_fields = ["bottleneck", "reduction_factor", "placement", "mode", "scaling", "activation", "init_std", "layers"]
    assert list(plain(L.AdapterConfig(bottleneck=8))) == old_fields
    assert plain(L.AdapterConfig(**PHM))["projection"] == "phm"
