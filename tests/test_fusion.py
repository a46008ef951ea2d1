"""AdapterFusion (labutils.fusion, labutils.fusion_io)."""
import json

import pytest
import torch

import labutils as L
from labutils.fusion import fusion_layers, fusion_tensors

from conftest import make_tiny_model, trained_like


def two_task_model(placement="houlsby"):
    model = make_tiny_model()
    for i, name in enumerate(("sst2", "rte")):
        trained_like(model, name, L.AdapterConfig(bottleneck=4, placement=placement), seed=i)
    return model


def test_single_adapter_with_identity_value_is_that_adapter(batch):
    for mode in ("sequential", "parallel"):
        model = make_tiny_model()
        trained_like(model, "sst2", L.AdapterConfig(bottleneck=4, mode=mode))
        L.set_active_adapter(model, None)
        with torch.no_grad():
            # The adapter alone, with the base slot's LayerNorms and head (where the fusion runs).
            with L.switching.adapter_modules_only(model, "sst2"):
                alone = model(**batch).logits
            L.fuse_adapters(model, ["sst2"], "f")
            for _, _, f in fusion_layers(model, "f"):
                f.value.weight.copy_(torch.eye(32))
            fused = model(**batch).logits
        torch.testing.assert_close(fused, alone, rtol=1e-6, atol=1e-6)


def test_value_starts_near_identity_and_weights_sum_to_one(batch):
    model = two_task_model()
    L.fuse_adapters(model, ["sst2", "rte"], "f")
    layers = list(fusion_layers(model, "f"))
    assert len(layers) == 6  # houlsby: both sublayers of 3 layers
    for _, _, f in layers:
        assert torch.allclose(f.value.weight, torch.eye(32), atol=1e-6)
    with torch.no_grad():
        model(**batch)
    for _, _, f in layers:
        p = f.last_attention
        assert p.shape[-1] == 2 and torch.allclose(p.sum(-1), torch.ones(p.shape[:-1]))
    means = L.fusion_attention(model, "f", batch["attention_mask"])
    assert all(torch.isclose(v.sum(), torch.tensor(1.0)) for v in means.values())
    assert all(not f.training for _, _, f in layers)  # built in an eval model: dropout off


def test_only_fusion_and_head_train(batch):
    model = two_task_model()
    adapters_before = {n: p.detach().clone() for n, p in model.named_parameters() if ".adapters." in n}
    base_before = L.base_checksum(model)
    L.fuse_adapters(model, ["sst2", "rte"], "f")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".fusion.f." in n or "classifier" in n or "pooler" in n for n in trainable)
    assert any(".fusion.f." in n for n in trainable) and any("classifier" in n for n in trainable)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(2):
        loss = model(**batch, labels=torch.tensor([0, 1])).loss + L.fusion_regularization(model, "f")
        loss.backward()
        opt.step()
        opt.zero_grad()
    now = dict(model.named_parameters())
    assert all(torch.equal(now[n], t) for n, t in adapters_before.items())
    assert L.base_checksum(model) == base_before  # fusion counts with the adapters, not the base
    report = L.parameter_report(model)
    assert report["groups"]["base"]["trainable"] == 0
    # Switching to a task adapter runs it (and its head); the fusion comes back when asked.
    L.set_active_adapter(model, "sst2")
    assert all(m.active_fusion == "f" for _, m in L.adapter_sublayers(model))
    L.set_active_fusion(model, "f")
    assert L.layer.active_adapter(model) is None


def test_misplaced_or_missing_adapters_refused():
    model = make_tiny_model()
    trained_like(model, "a", L.AdapterConfig(bottleneck=4, placement="ffn"))
    trained_like(model, "b", L.AdapterConfig(bottleneck=4, placement="houlsby"))
    with pytest.raises(ValueError, match="same layers"):
        L.fuse_adapters(model, ["a", "b"])
    with pytest.raises(KeyError, match="nope"):
        L.fuse_adapters(model, ["a", "nope"])


def test_round_trip_is_exact(tmp_path, batch):
    model = two_task_model()
    L.fuse_adapters(model, ["sst2", "rte"], "f")
    torch.manual_seed(5)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))
        out = model(**batch).logits
    L.save_adapter(model, tmp_path / "sst2", "sst2")
    L.save_adapter(model, tmp_path / "rte", "rte")
    folder = L.save_fusion(model, tmp_path / "f")
    meta = json.loads((folder / "fusion_config.json").read_text())
    assert meta["adapters"] == ["sst2", "rte"]
    fresh = make_tiny_model()
    L.load_adapter(fresh, tmp_path / "sst2")
    L.load_adapter(fresh, tmp_path / "rte")
    L.load_fusion(fresh, folder)
    with torch.no_grad():
        again = fresh(**batch).logits
    torch.testing.assert_close(again, out, rtol=0, atol=0)
    for k, v in fusion_tensors(model, "f").items():
        assert torch.equal(fusion_tensors(fresh, "f")[k], v)


def test_load_without_adapters_names_the_missing_ones(tmp_path):
    model = two_task_model()
    L.fuse_adapters(model, ["sst2", "rte"], "f")
    L.save_adapter(model, tmp_path / "sst2", "sst2")
    folder = L.save_fusion(model, tmp_path / "f")
    fresh = make_tiny_model()
    with pytest.raises(L.FusionFileError, match=r"needs adapters \['sst2', 'rte'\]"):
        L.load_fusion(fresh, folder)
    L.load_adapter(fresh, tmp_path / "sst2")
    with pytest.raises(L.FusionFileError, match=r"needs adapters \['rte'\]"):
        L.load_fusion(fresh, folder)
    # An adapter of the right name but other weights is refused too.
    L.add_adapter(fresh, "rte", L.AdapterConfig(bottleneck=4))  # same config, untrained weights
    with pytest.raises(L.FusionFileError, match="'rte' is not the one"):
        L.load_fusion(fresh, folder)
    assert not L.fusion.fusions(fresh)  # untouched


def test_save_is_atomic_and_refuses_foreign_folders(tmp_path, monkeypatch):
    model = two_task_model()
    L.fuse_adapters(model, ["sst2", "rte"], "f")
    folder = L.save_fusion(model, tmp_path / "f")
    first = (folder / "fusion_model.safetensors").read_bytes()
    with torch.no_grad():
        next(iter(fusion_tensors(model, "f").values())).add_(1.0)

    def crash(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr("safetensors.torch.save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        L.save_fusion(model, folder)
    monkeypatch.undo()
    assert (folder / "fusion_model.safetensors").read_bytes() == first  # the old copy survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]          # no half-written copy left
    L.save_fusion(model, folder)
    assert (folder / "fusion_model.safetensors").read_bytes() != first
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(L.FusionFileError, match="will not replace"):
        L.save_fusion(model, other)
    L.save_adapter(model, tmp_path / "sst2", "sst2")
    with pytest.raises(L.FusionFileError):
        L.save_fusion(model, tmp_path / "sst2")  # an adapter folder is not a fusion folder


def test_default_model_unchanged_by_fusion_support(batch):
    """No fusion: no new state-dict keys, the same outputs as before."""
    model = make_tiny_model()
    keys = set(model.state_dict())
    trained_like(model, "sst2")
    assert all(".fusion." not in k for k in model.state_dict())
    assert set(model.state_dict()) - keys == {k for k in model.state_dict() if ".adapters.sst2." in k}


def test_mean_attention_table(tiny_data, tokenizer):
    model = two_task_model(placement="ffn")
    L.fuse_adapters(model, ["sst2", "rte"], "f")
    table = L.mean_fusion_attention(model, tokenizer, tiny_data["validation"], batch_size=4)
    assert list(table.columns) == ["sst2", "rte"] and len(table) == 3  # FFN only: one row per layer
    assert list(table.index.get_level_values("sublayer")) == ["ffn"] * 3
    assert ((table.sum(axis=1) - 1).abs() < 1e-5).all()


def test_fusion_trains_with_the_labs_trainer(tmp_path, tiny_data, tokenizer):
    """Stage 2 end to end through L.train: the fusion and the head move, the adapters do not."""
    model = two_task_model(placement="ffn")
    L.fuse_adapters(model, ["sst2", "rte"], "f")
    adapters = {n: p.detach().clone() for n, p in model.named_parameters() if ".adapters." in n}
    fused = {n: p.detach().clone() for n, p in fusion_tensors(model, "f").items()}
    args = L.training_arguments(str(tmp_path / "run"), epochs=1, max_steps=2, learning_rate=1e-2, batch_size=3,
                                eval_each_epoch=False)
    L.train(model, tokenizer, tiny_data["train"], tiny_data["validation"], args)
    now = dict(model.named_parameters())
    assert all(torch.equal(now[n], t) for n, t in adapters.items())
    assert any(not torch.equal(now[n], t) for n, t in fused.items())
