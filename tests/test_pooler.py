"""The pooler under the classification layer: frozen on BERT as in the paper, trained on the
packaged MiniLM (its pooler never learned a sentence-level task), a choice either way; and
trainable shares reported with and without the head."""
import dataclasses

import pytest

import labutils as L
from labutils import params
from labutils import sweeps as S


def _pooler_grads(model):
    return {n: p.requires_grad for n, p in model.named_parameters() if params.is_pooler(n)}


def test_the_rule_by_model():
    assert L.ModelChoice("bert-base-uncased", "bert-base-uncased", False, "hub").pooler_trains is False
    assert L.ModelChoice("/x/minilm", "all-MiniLM-L6-v2", True, "offline").pooler_trains is True
    assert L.ModelChoice("bert-base-uncased", "b", False, "hub", train_pooler=True).pooler_trains is True
    assert L.ModelChoice("/x/minilm", "m", True, "offline", train_pooler=False).pooler_trains is False
    assert "frozen, as in the paper" in L.ModelChoice("b", "b", False, "hub").pooler_note()
    assert "never learned" in L.ModelChoice("m", "m", True, "offline").pooler_note()


@pytest.mark.parametrize("trains", [False, True])
def test_loaded_model_freezes_its_pooler_by_the_choice(tiny_choice, trains):
    choice = dataclasses.replace(tiny_choice, train_pooler=trains)
    model, _ = L.recipes.adapter_model(choice, ["a", "b"], "t", L.AdapterConfig(bottleneck=4))
    grads = _pooler_grads(model)
    assert grads and set(grads.values()) == {trains}
    assert model.classifier.weight.requires_grad  # the classification layer trains either way
    report = L.parameter_report(model)
    assert report["trainable_without_head"] == (report["groups"]["adapters"]["trainable"]
                                                + report["groups"]["layernorm"]["trainable"])
    assert report["trainable_without_head_pct"] < report["trainable_pct_of_base"]


def test_explicit_choice_overrides_the_model(tiny_choice):
    model, _ = L.recipes.adapter_model(tiny_choice, ["a", "b"], "t", L.AdapterConfig(bottleneck=4), train_pooler=False)
    assert set(_pooler_grads(model).values()) == {False}


def test_a_model_the_lab_did_not_load_follows_the_paper(tiny_model):
    del tiny_model.config.lab_train_pooler
    L.add_adapter(tiny_model, "t", L.AdapterConfig(bottleneck=4))
    L.freeze_for_adapters(tiny_model)
    assert set(_pooler_grads(tiny_model).values()) == {False}


def test_cache_key_names_only_a_departure_from_the_rule(tiny_choice, tiny_data):
    budget = S.Budget(epochs=1, max_steps=1)
    config = L.AdapterConfig(bottleneck=4)
    plain = S.adapter_job(tiny_choice, tiny_data, config, budget, 0).settings
    same = S.adapter_job(tiny_choice, tiny_data, config, budget, 0, train_pooler=tiny_choice.pooler_trains).settings
    other = S.adapter_job(tiny_choice, tiny_data, config, budget, 0, train_pooler=not tiny_choice.pooler_trains).settings
    assert plain == same and "train_pooler" not in plain
    assert S.stable_key(other) != S.stable_key(plain)


def test_trained_run_records_whether_the_pooler_trained(tiny_choice, tiny_data):
    budget = S.Budget(epochs=1, max_steps=1, batch_size=4)
    on = S.train_adapter(tiny_choice, tiny_data, L.AdapterConfig(bottleneck=4), budget, 0)
    off = S.train_adapter(tiny_choice, tiny_data, L.AdapterConfig(bottleneck=4), budget, 0, train_pooler=False)
    assert on["pooler_trained"] and not off["pooler_trained"]
    assert on["trainable_params"] > off["trainable_params"]
    assert on["trainable_without_head_pct"] == pytest.approx(off["trainable_without_head_pct"])


@pytest.mark.parametrize("trains", [False, True])
def test_peft_baselines_get_the_same_head(tiny_choice, trains):
    choice = dataclasses.replace(tiny_choice, train_pooler=trains)
    model, _ = L.load_base_model(choice)
    peft_model = S.make_peft_model(model, "lora")
    pooler = {n: p.requires_grad for n, p in peft_model.named_parameters() if params.is_pooler(n)}
    assert any(pooler.values()) == trains


def test_footprint_reports_the_share_without_the_head(tiny_choice):
    method = S.Method("LoRA", "peft", 1e-3, peft_method="lora")
    base = sum(p.numel() for p in L.load_base_model(tiny_choice)[0].parameters())
    f = S.footprint(tiny_choice, method, base)
    assert 0 < f["head_params"] < f["trainable_params"]
    assert f["trainable_without_head_pct"] == pytest.approx(100 * (f["trainable_params"] - f["head_params"]) / base)
