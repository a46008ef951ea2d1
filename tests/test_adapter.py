"""The adapter module: the formula, the near-identity init, the parameter cost."""
import pytest
import torch

from labutils import AdapterConfig, BottleneckAdapter, adapter_param_count


def test_output_equals_formula_by_hand():
    torch.manual_seed(0)
    adapter = BottleneckAdapter(16, 4, activation="relu", init_std=0.5)
    h = torch.randn(3, 5, 16)
    Wd, bd = adapter.down_proj.weight, adapter.down_proj.bias
    Wu, bu = adapter.up_proj.weight, adapter.up_proj.bias
    by_hand = h + (torch.relu(h @ Wd.T + bd) @ Wu.T + bu)
    torch.testing.assert_close(adapter(h), by_hand)


@pytest.mark.parametrize("activation, fn", [("gelu", torch.nn.functional.gelu), ("swish", torch.nn.functional.silu)])
def test_other_activations_and_scaling(activation, fn):
    torch.manual_seed(0)
    adapter = BottleneckAdapter(8, 2, activation=activation, init_std=0.5, scaling=0.25)
    h = torch.randn(4, 8)
    by_hand = h + 0.25 * adapter.up_proj(fn(adapter.down_proj(h)))
    torch.testing.assert_close(adapter(h), by_hand)


def test_near_identity_at_init():
    torch.manual_seed(0)
    adapter = BottleneckAdapter(384, 24)  # default init_std 1e-3
    h = torch.randn(8, 32, 384)
    assert (adapter(h) - h).abs().max().item() < 1e-3
    # ... and the biases start at exactly zero.
    assert adapter.down_proj.bias.abs().sum() == 0 and adapter.up_proj.bias.abs().sum() == 0


def test_large_init_is_not_identity():
    # The same check must fail for a badly initialised adapter, or it proves nothing.
    torch.manual_seed(0)
    adapter = BottleneckAdapter(384, 24, init_std=1.0)
    h = torch.randn(8, 32, 384)
    assert (adapter(h) - h).abs().max().item() > 1.0


@pytest.mark.parametrize("d, m", [(384, 24), (768, 48), (768, 8), (16, 1)])
def test_parameter_count_equals_formula(d, m):
    adapter = BottleneckAdapter(d, m)
    assert sum(p.numel() for p in adapter.parameters()) == adapter_param_count(d, m) == 2 * d * m + d + m


def test_learned_scale_is_one_extra_parameter():
    adapter = BottleneckAdapter(16, 4, scaling="learned")
    assert sum(p.numel() for p in adapter.parameters()) == adapter_param_count(16, 4) + 1


def test_config_bottleneck_from_reduction_factor():
    assert AdapterConfig(reduction_factor=16).bottleneck_for(768) == 48
    assert AdapterConfig(bottleneck=8, reduction_factor=16).bottleneck_for(768) == 8


@pytest.mark.parametrize("kwargs, words", [
    ({"placement": "everywhere"}, "placement"),
    ({"mode": "diagonal"}, "mode"),
    ({"activation": "tanh"}, "activation"),
    ({"scaling": "big"}, "scaling"),
    ({"bottleneck": 0}, "bottleneck"),
])
def test_bad_config_is_refused_with_its_name(kwargs, words):
    with pytest.raises(ValueError, match=words):
        AdapterConfig(**kwargs)


def test_reduction_factor_too_large_for_model():
    with pytest.raises(ValueError, match="reduction_factor"):
        AdapterConfig(reduction_factor=1000).bottleneck_for(384)
