"""The method comparison: every method trains what it should from the same budget, adapter
runs share notebook 04's cache keys, unavailable peft methods keep a row with their cause,
and the architecture-only measurements (size per task, latency) cover every method."""
import dataclasses

import pytest

import labutils as L
from labutils import AdapterConfig, add_adapter, adapter_parameter_count
from labutils import sweeps as S
from labutils.sweeps import compare as C
from labutils.sweeps.baselines import PeftMethodUnavailable
from conftest import make_tiny_model

BUDGET = S.Budget(epochs=1, max_steps=1, batch_size=3, learning_rate=1e-3)
METHODS = {m.name: m for m in C.default_methods(adapter_lr=1e-3, full_lr=5e-5)}


def test_methods_are_validated():
    with pytest.raises(ValueError, match="kind"):
        C.Method("x", "magic", 1e-3)
    with pytest.raises(ValueError, match="AdapterConfig"):
        C.Method("x", "adapter", 1e-3)
    with pytest.raises(ValueError, match="names none"):
        C.Method("x", "peft", 1e-3)
    with pytest.raises(ValueError, match="mam method but has no AdapterConfig"):
        C.Method("x", "mam", 1e-3)
    assert len(METHODS) == 10 and {m.kind for m in METHODS.values()} == set(C.KINDS)


def test_adapter_runs_of_04_and_05_are_one_run_with_one_key(tiny_choice, tiny_data):
    houlsby = METHODS["Houlsby adapters"]
    job = C.method_job(tiny_choice, tiny_data, houlsby, BUDGET, 1)
    # Notebook 04 plans the same adapter with the same budget: the same function, key and arguments.
    in_04 = S.adapter_job(tiny_choice, tiny_data, houlsby.adapter, BUDGET, 1)
    assert job.settings == in_04.settings and job.fn is in_04.fn is S.train_adapter
    assert job.kwargs == in_04.kwargs
    # 04's reference run keeps its adapter; that is not part of the key, so 05 shares it too.
    assert S.adapter_job(tiny_choice, tiny_data, houlsby.adapter, BUDGET, 1, keep_adapter=True).settings == job.settings
    # The method's own learning rate is part of the key, whatever the budget says.
    other_lr = dataclasses.replace(BUDGET, learning_rate=5e-2)
    assert C.method_job(tiny_choice, tiny_data, houlsby, other_lr, 1).settings == job.settings
    lora = C.method_job(tiny_choice, tiny_data, METHODS["LoRA"], BUDGET, 1)
    assert lora.fn is C.train_method and lora.label == "LoRA, seed 1"
    assert lora.settings["method"]["peft_method"] == "lora" and "peft" in lora.settings["libraries"]
    assert lora.settings["budget"]["learning_rate"] == METHODS["LoRA"].learning_rate
    assert lora.settings != C.method_job(tiny_choice, tiny_data, METHODS["IA3"], BUDGET, 1).settings
    # Only the run's own part differs between an adapter key and a method key.
    assert set(lora.settings) - set(job.settings) == {"method", "libraries"}
    assert set(job.settings) - set(lora.settings) == {"adapter", "frozen_below", "tag"}


@pytest.mark.parametrize("name, per_layer", [("Houlsby adapters", 2), ("FFN-only adapters", 1),
                                             ("scaled parallel adapters", 1)])
def test_the_three_adapter_methods(name, per_layer):
    config = METHODS[name].adapter
    assert config == C.adapter_variants()[name]
    model = add_adapter(make_tiny_model(), name, config)
    m, d, layers = config.bottleneck_for(32), 32, 3
    assert adapter_parameter_count(model, name) == layers * per_layer * (2 * d * m + d + m)


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


def test_compacter_is_the_houlsby_adapter_with_phm_projections():
    methods = {m.name: m for m in C.default_methods(adapter_lr=1e-3, full_lr=5e-5, reduction_factor=4)}
    compacter, houlsby = methods["Compacter"].adapter, methods["Houlsby adapters"].adapter  # m = 8 on d = 32
    assert (compacter.projection, compacter.phm_dim, compacter.phm_rank, compacter.shared_phm_rule) == ("phm", 4, 1, True)
    assert dataclasses.replace(compacter, projection="linear") == houlsby
    model = add_adapter(make_tiny_model(), "c", compacter)
    m = compacter.bottleneck_for(32)
    assert adapter_parameter_count(model, "c") == L.compacter_param_count(32, m, n=4, rank=1, adapters=3 * 2, shared_A=True)


def test_mam_is_its_own_run_and_stores_its_adapter_beside_peft(tiny_choice, tiny_data):
    mam = METHODS["MAM adapter"]
    job = C.method_job(tiny_choice, tiny_data, mam, BUDGET, 0)
    assert job.fn is C.train_method and job.settings["method"]["adapter"] == mam.adapter.to_dict()
    prefix = C.method_job(tiny_choice, tiny_data, METHODS["prefix tuning"], BUDGET, 0)
    assert job.settings != prefix.settings
    model, _ = C.build(tiny_choice, mam)
    adapter = sum(p.numel() for n, p in model.named_parameters() if f".adapters.{C.ADAPTER_NAME}." in n)
    assert adapter > 0 and all(p.requires_grad for n, p in model.named_parameters() if f".adapters.{C.ADAPTER_NAME}." in n)
    base = sum(p.numel() for p in L.load_base_model(tiny_choice)[0].parameters())
    with_adapter = C.footprint(tiny_choice, mam, base)["stored_bytes"]
    without = L.io.model_file_size(model)  # peft's own save: the prefix and the head only
    assert 4 * adapter <= with_adapter - without < 4 * adapter + 4096
    out = C.train_method(tiny_choice, tiny_data, mam, BUDGET, seed=0)
    assert 0 <= out["accuracy"] <= 1 and out["train_seconds"] > 0
