"""The method comparison: every method trains what it should from the same budget, adapter
runs share notebook 04's cache keys, unavailable peft methods keep a row with their cause,
and the architecture-only measurements (size per task, latency) cover every method."""
import dataclasses

import pytest

import labutils as L
from labutils import compare as C
from labutils.baselines import PeftMethodUnavailable

BUDGET = L.ablation.Budget(epochs=1, max_steps=1, batch_size=3, learning_rate=1e-3)
METHODS = {m.name: m for m in C.default_methods(adapter_lr=1e-3, full_lr=5e-5)}


def test_methods_are_validated():
    with pytest.raises(ValueError, match="kind"):
        C.Method("x", "magic", 1e-3)
    with pytest.raises(ValueError, match="AdapterConfig"):
        C.Method("x", "adapter", 1e-3)
    with pytest.raises(ValueError, match="names none"):
        C.Method("x", "peft", 1e-3)
    assert len(METHODS) == 8 and {m.kind for m in METHODS.values()} == set(C.KINDS)


def test_adapter_runs_share_the_ablation_cache_key(tiny_choice, tiny_data):
    houlsby = METHODS["Houlsby adapters"]
    key = C.method_settings(tiny_choice, tiny_data, houlsby, BUDGET, 1)
    assert key == L.ablation.run_settings(tiny_choice, tiny_data, houlsby.adapter, BUDGET, 1)
    # The method's own learning rate is part of the key, whatever the budget says.
    other_lr = dataclasses.replace(BUDGET, learning_rate=5e-2)
    assert C.method_settings(tiny_choice, tiny_data, houlsby, other_lr, 1) == key
    lora = C.method_settings(tiny_choice, tiny_data, METHODS["LoRA"], BUDGET, 1)
    assert lora["method"]["peft_method"] == "lora" and "peft" in lora["libraries"]
    assert lora["budget"]["learning_rate"] == METHODS["LoRA"].learning_rate
    assert lora != C.method_settings(tiny_choice, tiny_data, METHODS["IA3"], BUDGET, 1)


@pytest.mark.parametrize("name", ["full fine-tuning", "LoRA", "prompt tuning", "FFN-only adapters"])
def test_train_method_runs_and_reports(tiny_choice, tiny_data, name):
    out = C.train_method(tiny_choice, tiny_data, METHODS[name], BUDGET, seed=0)
    assert 0 <= out["accuracy"] <= 1 and 0 <= out["f1"] <= 1 and out["train_seconds"] > 0


def test_what_trains_per_method(tiny_choice):
    full, _ = C.build(tiny_choice, METHODS["full fine-tuning"])
    assert all(p.requires_grad for p in full.parameters())
    lora, _ = C.build(tiny_choice, METHODS["LoRA"])
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)


def test_footprint_sizes(tiny_choice):
    base = sum(p.numel() for p in L.load_base_model(tiny_choice)[0].parameters())
    full = C.footprint(tiny_choice, METHODS["full fine-tuning"], base)
    assert full["trainable_pct"] == pytest.approx(100.0)
    for name in ("Houlsby adapters", "LoRA", "IA3"):
        f = C.footprint(tiny_choice, METHODS[name], base)
        assert 0 < f["trainable_pct"] < 100 and f["stored_bytes"] < full["stored_bytes"], name


def test_unavailable_peft_method_keeps_its_cause(tiny_choice, tiny_data, monkeypatch):
    def refuse(model, method, **kwargs):
        raise PeftMethodUnavailable(f"{method} is unavailable here: planted cause.")

    monkeypatch.setattr(C, "make_peft_model", refuse)
    assert C.footprint(tiny_choice, METHODS["prefix tuning"], 1000) == {
        "unavailable": "prefix is unavailable here: planted cause."}
    assert C.train_method(tiny_choice, tiny_data, METHODS["prefix tuning"], BUDGET)["unavailable"].endswith("planted cause.")
    assert "prefix tuning" not in C.method_latency(tiny_choice, [METHODS["prefix tuning"]], 2, 8, passes=1)


def test_method_latency_covers_base_and_methods(tiny_choice):
    chosen = [METHODS[n] for n in ("full fine-tuning", "Houlsby adapters", "LoRA", "prompt tuning")]
    out = C.method_latency(tiny_choice, chosen, pairs=2, tokens=8, passes=2)
    assert set(out) == {"base model", "Houlsby adapters", "LoRA", "prompt tuning"} and min(out.values()) > 0
