"""Putting adapters into a BERT model: placement, idempotence, switching, freezing."""
import pytest
import torch

import labutils as L
from labutils.layer import AdapterSublayerOutput


def n_wrapped(model):
    return sum(1 for _ in L.adapter_sublayers(model))


def logits(model, batch):
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


def test_houlsby_places_two_adapters_per_layer(tiny_model):
    L.add_adapter(tiny_model, "mrpc", L.AdapterConfig(reduction_factor=8))
    for layer in tiny_model.bert.encoder.layer:
        assert isinstance(layer.attention.output, AdapterSublayerOutput)
        assert isinstance(layer.output, AdapterSublayerOutput)
    assert n_wrapped(tiny_model) == 2 * 3


@pytest.mark.parametrize("placement, sublayers", [("ffn", {"ffn"}), ("attention", {"attention"})])
def test_single_placements(tiny_model, placement, sublayers):
    L.add_adapter(tiny_model, "a", L.AdapterConfig(placement=placement, bottleneck=4))
    assert {m.sublayer for _, m in L.adapter_sublayers(tiny_model)} == sublayers
    assert n_wrapped(tiny_model) == 3


def test_only_chosen_layers(tiny_model):
    L.add_adapter(tiny_model, "top", L.AdapterConfig(bottleneck=4, layers=[1, 2]))
    assert sorted({i for i, _ in L.adapter_sublayers(tiny_model)}) == [1, 2]


def test_model_is_near_identity_at_init(tiny_model, batch):
    before = logits(tiny_model, batch)
    L.add_adapter(tiny_model, "mrpc")
    after = logits(tiny_model, batch)
    assert (after - before).abs().max().item() < 1e-3
    assert not torch.equal(after, before)  # the adapters do run


def test_parameter_count_matches_formula_in_the_model(tiny_model):
    before = sum(p.numel() for p in tiny_model.parameters())
    L.add_adapter(tiny_model, "mrpc", L.AdapterConfig(bottleneck=4))
    added = sum(p.numel() for p in tiny_model.parameters()) - before
    d = tiny_model.config.hidden_size
    assert added == L.adapter_parameter_count(tiny_model, "mrpc") == 6 * (2 * d * 4 + d + 4)


def test_injecting_twice_equals_injecting_once(tiny_model, batch):
    config = L.AdapterConfig(bottleneck=4, init_std=0.1)
    torch.manual_seed(1)
    L.add_adapter(tiny_model, "mrpc", config)
    once = logits(tiny_model, batch)
    keys_once = list(tiny_model.state_dict())
    L.add_adapter(tiny_model, "mrpc", config)  # e.g. a re-run notebook cell
    assert list(tiny_model.state_dict()) == keys_once
    assert n_wrapped(tiny_model) == 6
    for layer in tiny_model.bert.encoder.layer:
        assert not isinstance(layer.output.dense, AdapterSublayerOutput)
    torch.testing.assert_close(logits(tiny_model, batch), once)


def test_same_name_other_config_is_refused(tiny_model):
    L.add_adapter(tiny_model, "mrpc", L.AdapterConfig(bottleneck=4))
    with pytest.raises(ValueError, match="already exists"):
        L.add_adapter(tiny_model, "mrpc", L.AdapterConfig(bottleneck=8))


def test_base_state_dict_keys_unchanged(tiny_model):
    base_keys = set(tiny_model.state_dict())
    L.add_adapter(tiny_model, "mrpc")
    keys = set(tiny_model.state_dict())
    assert base_keys <= keys
    assert all(".adapters.mrpc." in k for k in keys - base_keys)


def test_several_adapters_one_active(tiny_model, batch):
    plain = logits(tiny_model, batch)
    L.add_adapter(tiny_model, "a", L.AdapterConfig(bottleneck=4, init_std=0.5))
    L.add_adapter(tiny_model, "b", L.AdapterConfig(bottleneck=4, init_std=0.5))
    assert L.active_adapter(tiny_model) == "b"
    out_b = logits(tiny_model, batch)
    L.set_active_adapter(tiny_model, "a")
    out_a = logits(tiny_model, batch)
    assert not torch.allclose(out_a, out_b)
    L.set_active_adapter(tiny_model, None)
    torch.testing.assert_close(logits(tiny_model, batch), plain)
    with pytest.raises(KeyError, match="no adapter named 'c'"):
        L.set_active_adapter(tiny_model, "c")


def test_delete_restores_original_modules(tiny_model, batch):
    plain = logits(tiny_model, batch)
    keys = list(tiny_model.state_dict())
    L.add_adapter(tiny_model, "mrpc", L.AdapterConfig(init_std=0.5))
    L.delete_adapter(tiny_model, "mrpc")
    assert n_wrapped(tiny_model) == 0
    assert list(tiny_model.state_dict()) == keys
    torch.testing.assert_close(logits(tiny_model, batch), plain)


def test_skipping_layers_turns_exactly_those_off(tiny_model, batch):
    L.add_adapter(tiny_model, "mrpc", L.AdapterConfig(init_std=0.5))
    with_all = logits(tiny_model, batch)
    with L.adapters_skipped(tiny_model, [0, 1, 2]):
        assert L.skipped_layers(tiny_model) == [0, 1, 2]
        L.set_active_adapter(tiny_model, "mrpc")
        none = logits(tiny_model, batch)
    assert L.skipped_layers(tiny_model) == []
    torch.testing.assert_close(logits(tiny_model, batch), with_all)
    L.set_active_adapter(tiny_model, None)
    torch.testing.assert_close(none, logits(tiny_model, batch))
    L.set_active_adapter(tiny_model, "mrpc")
    L.set_skipped_layers(tiny_model, [1])
    assert [m.skip for _, m in L.adapter_sublayers(tiny_model)] == [False, False, True, True, False, False]
    with pytest.raises(ValueError, match="out of range"):
        L.set_skipped_layers(tiny_model, [7])


def test_parallel_adapter_adds_delta_of_sublayer_input(tiny_model):
    L.add_adapter(tiny_model, "p", L.AdapterConfig(mode="parallel", placement="ffn", bottleneck=4,
                                                    init_std=0.3, scaling=2.0))
    out = tiny_model.bert.encoder.layer[0].output
    out.eval()
    x = torch.randn(2, 5, tiny_model.config.intermediate_size)
    residual = torch.randn(2, 5, tiny_model.config.hidden_size)
    adapter = out.adapters["p"]
    by_hand = out.LayerNorm(out.dense(x) + 2.0 * adapter.up_proj(torch.relu(adapter.down_proj(residual))) + residual)
    torch.testing.assert_close(out(x, residual), by_hand)


def test_sequential_adapter_sits_before_residual_and_layernorm(tiny_model):
    L.add_adapter(tiny_model, "s", L.AdapterConfig(placement="attention", bottleneck=4, init_std=0.3))
    out = tiny_model.bert.encoder.layer[1].attention.output
    out.eval()
    x = torch.randn(2, 5, 32)
    residual = torch.randn(2, 5, 32)
    h = out.dense(x)
    by_hand = out.LayerNorm(out.adapters["s"](h) + residual)
    torch.testing.assert_close(out(x, residual), by_hand)


def test_unsupported_architecture_gets_a_clear_error():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification
    model = DistilBertForSequenceClassification(DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=64))
    with pytest.raises(L.UnsupportedModelError, match="Supported: BERT"):
        L.add_adapter(model, "x")


def test_layers_out_of_range_refused(tiny_model):
    with pytest.raises(ValueError, match="out of range"):
        L.add_adapter(tiny_model, "x", L.AdapterConfig(layers=[5]))


def test_freeze_trains_only_adapters_layernorms_head(tiny_model):
    L.add_adapter(tiny_model, "other", L.AdapterConfig(bottleneck=4))
    L.add_adapter(tiny_model, "mrpc", L.AdapterConfig(bottleneck=4))
    L.freeze_for_adapters(tiny_model)
    for name, p in tiny_model.named_parameters():
        expected = (".adapters.mrpc." in name or "LayerNorm" in name
                    or name.startswith(("classifier", "bert.pooler")))
        assert p.requires_grad == expected, name
    report = L.parameter_report(tiny_model)
    g = report["groups"]
    assert g["adapters"]["trainable"] == L.adapter_parameter_count(tiny_model, "mrpc")
    assert g["base"]["trainable"] == 0
    assert report["trainable"] == sum(c["trainable"] for c in g.values())


def test_freeze_options_and_unfreeze(tiny_model):
    L.add_adapter(tiny_model, "mrpc")
    L.freeze_for_adapters(tiny_model, train_layernorm=False, train_head=False)
    report = L.parameter_report(tiny_model)
    assert report["trainable"] == report["groups"]["adapters"]["trainable"]
    L.unfreeze_all(tiny_model)
    assert all(p.requires_grad for p in tiny_model.parameters())


def test_adapters_disabled_runs_the_base_and_restores(tiny_model, batch):
    plain = logits(tiny_model, batch)
    L.add_adapter(tiny_model, "mrpc", L.AdapterConfig(init_std=0.5))
    with_adapter = logits(tiny_model, batch)
    with L.adapters_disabled(tiny_model):
        torch.testing.assert_close(logits(tiny_model, batch), plain)
    assert L.active_adapter(tiny_model) == "mrpc"
    torch.testing.assert_close(logits(tiny_model, batch), with_adapter)


def test_compare_latency_times_every_setting_in_every_sweep(tiny_model, batch):
    import contextlib
    from labutils import latency
    entered = []

    def tracking(name):
        @contextlib.contextmanager
        def cm():
            entered.append(name)
            yield
        return cm
    out = latency.compare_latency(tiny_model, batch, {"a": tracking("a"), "b": tracking("b")},
                                  passes=3, warmup=0)
    assert set(out) == {"a", "b"} and all(v > 0 for v in out.values())
    assert entered == ["a", "b", "b", "a", "a", "b"]


def test_interleaved_latency_rotates_the_order_every_sweep():
    from labutils import latency
    calls = []
    out = latency.interleaved_latency({n: (lambda n=n: calls.append(n)) for n in "abc"}, passes=3, warmup=1)
    assert calls[:3] == ["a", "b", "c"]  # warm-up, once each
    assert "".join(calls[3:]) == "abc" + "bca" + "cab"  # no setting is always timed first
    assert {n: len(v) for n, v in out.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(t >= 0 for v in out.values() for t in v)
