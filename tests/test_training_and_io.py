"""Training through Trainer touches only what should train; adapter folders round-trip exactly
and refuse a wrong match or a corrupt file."""
import json

import pytest
import torch

import labutils as L
from labutils import io as IO
from conftest import make_tiny_model, trained_like


@pytest.fixture
def tiny_data(glue_dir, tokenizer):
    ds, _ = L.load_glue("mrpc", data_dir=str(glue_dir))
    return L.tokenize(ds, tokenizer, "mrpc")


def _train(model, tokenizer, data, tmp_path, steps=15, lr=1e-2):
    L.set_seed(0)
    args = L.training_arguments(str(tmp_path / "run"), epochs=1, max_steps=steps, learning_rate=lr, batch_size=3,
                                logging_steps=1, warmup=0, eval_each_epoch=False)
    return L.train(model, tokenizer, data["train"], data["validation"], args)


def test_adapter_training_leaves_base_bit_identical(tiny_model, tokenizer, tiny_data, tmp_path):
    L.add_adapter(tiny_model, "mrpc", L.AdapterConfig(bottleneck=4))
    L.freeze_for_adapters(tiny_model)
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    result = _train(tiny_model, tokenizer, tiny_data, tmp_path)
    after = tiny_model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    groups = {L.params.parameter_group(k) for k in changed}
    assert groups == {"adapters", "layernorm", "head"}, groups
    frozen = [k for k in before if L.params.parameter_group(k) == "base"]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert losses[-1] < losses[0]
    assert 0.0 <= result.metrics["eval_accuracy"] <= 1.0 and result.train_seconds > 0


def test_unfrozen_training_changes_the_base(tiny_model, tokenizer, tiny_data, tmp_path):
    # The same check must catch a base that was not frozen.
    L.add_adapter(tiny_model, "mrpc", L.AdapterConfig(bottleneck=4))
    before = tiny_model.bert.encoder.layer[0].attention.self.query.weight.clone()
    _train(tiny_model, tokenizer, tiny_data, tmp_path, steps=2)
    assert not torch.equal(before, tiny_model.bert.encoder.layer[0].attention.self.query.weight)


def test_metrics_match_by_hand():
    m = L.classification_metrics([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["f1"] == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))


def test_round_trip_reproduces_outputs(tmp_path, batch):
    trained = trained_like(make_tiny_model()).eval()
    folder = IO.save_adapter(trained, tmp_path / "mrpc_adapter")
    fresh = make_tiny_model().eval()  # same base weights, untrained adapter/LN/head
    meta = IO.load_adapter(fresh, folder)
    assert meta["bottleneck"] == 4 and meta["label_names"] == ["not_equivalent", "equivalent"]
    with torch.no_grad():
        torch.testing.assert_close(fresh(**batch).logits, trained(**batch).logits, rtol=0, atol=0)
    assert IO.adapter_file_size(folder) < 0.2 * sum(p.numel() * 4 for p in trained.parameters())


def test_load_under_another_name(tmp_path, batch):
    trained = trained_like(make_tiny_model()).eval()
    folder = IO.save_adapter(trained, tmp_path / "a")
    fresh = make_tiny_model().eval()
    IO.load_adapter(fresh, folder, name="paraphrase")
    assert L.active_adapter(fresh) == "paraphrase"
    with torch.no_grad():
        torch.testing.assert_close(fresh(**batch).logits, trained(**batch).logits)


@pytest.mark.parametrize("target, field", [
    (lambda: make_tiny_model(hidden=48), "hidden_size"),
    (lambda: make_tiny_model(layers=2), "num_hidden_layers"),
])
def test_wrong_base_model_is_refused_by_field(tmp_path, target, field):
    folder = IO.save_adapter(trained_like(make_tiny_model()), tmp_path / "a")
    model = target()
    keys = list(model.state_dict())
    with pytest.raises(IO.AdapterFileError, match=f"{field} mismatch"):
        IO.load_adapter(model, folder)
    assert list(model.state_dict()) == keys and not L.adapter_configs(model)


def test_other_base_model_name_is_refused(tmp_path):
    folder = IO.save_adapter(trained_like(make_tiny_model()), tmp_path / "a")
    model = make_tiny_model()
    model.config.lab_base_model = "bert-base-uncased"
    with pytest.raises(IO.AdapterFileError, match="base_model mismatch"):
        IO.load_adapter(model, folder)


@pytest.mark.parametrize("config, field", [
    (L.AdapterConfig(bottleneck=8), "bottleneck"),
    (L.AdapterConfig(bottleneck=4, placement="ffn"), "placement"),
])
def test_existing_adapter_with_other_size_or_placement_is_refused(tmp_path, config, field):
    folder = IO.save_adapter(trained_like(make_tiny_model()), tmp_path / "a")
    model = make_tiny_model()
    L.add_adapter(model, "mrpc", config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(IO.AdapterFileError, match=f"{field} mismatch"):
        IO.load_adapter(model, folder)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_corrupt_weights_are_refused_and_model_untouched(tmp_path):
    folder = IO.save_adapter(trained_like(make_tiny_model()), tmp_path / "a")
    weights = folder / IO.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated
    model = make_tiny_model()
    keys = list(model.state_dict())
    with pytest.raises(IO.AdapterFileError, match="corrupt"):
        IO.load_adapter(model, folder)
    assert list(model.state_dict()) == keys


def test_corrupt_json_is_refused(tmp_path):
    folder = IO.save_adapter(trained_like(make_tiny_model()), tmp_path / "a")
    (folder / IO.CONFIG_FILE).write_text("{not json")
    with pytest.raises(IO.AdapterFileError, match="not valid JSON"):
        IO.load_adapter(make_tiny_model(), folder)


def test_truncated_file_without_checksum_is_still_refused(tmp_path):
    folder = IO.save_adapter(trained_like(make_tiny_model()), tmp_path / "a")
    meta = json.loads((folder / IO.CONFIG_FILE).read_text())
    del meta["sha256"]
    (folder / IO.CONFIG_FILE).write_text(json.dumps(meta))
    weights = folder / IO.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(IO.AdapterFileError, match=r"lacks \['sha256'\]"):  # no checksum: refused outright
        IO.load_adapter(make_tiny_model(), folder)


def test_failed_save_keeps_the_old_folder(tmp_path, monkeypatch):
    model = trained_like(make_tiny_model())
    folder = IO.save_adapter(model, tmp_path / "a")
    old = (folder / IO.WEIGHTS_FILE).read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr("safetensors.torch.save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        IO.save_adapter(model, folder)
    assert (folder / IO.WEIGHTS_FILE).read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # no temporary folder left behind


def test_save_without_adapter_is_refused(tmp_path):
    with pytest.raises(KeyError, match="no adapter"):
        IO.save_adapter(make_tiny_model(), tmp_path / "a")
