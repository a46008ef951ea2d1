"""06's fusion runs: keyed by what the source adapters are, trained and measured like 04/05's runs."""
import shutil

import numpy as np
import pytest
import torch

import labutils as L
from labutils import sweeps as S

BUDGET = S.Budget(epochs=1, max_steps=1, batch_size=3, learning_rate=1e-3)


def save_source(choice, folder, name, seed):
    """A stage-1 adapter with random weights (as if trained), saved like 03's task adapters."""
    torch.manual_seed(seed)
    model, _ = L.load_base_model(choice)
    L.add_adapter(model, name, L.AdapterConfig(bottleneck=8))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if f".adapters.{name}." in n:
                p.normal_(std=0.1)
    return L.save_adapter(model, folder, name=name, task=name)


@pytest.fixture
def sources(tiny_choice, tmp_path):
    return {name: save_source(tiny_choice, tmp_path / "adapters" / name, name, seed)
            for seed, name in enumerate(["sst2", "rte"])}


def test_the_key_names_the_sources_by_content(tiny_choice, tiny_data, sources, tmp_path):
    job = S.fusion_job(tiny_choice, tiny_data, sources, BUDGET, 0)
    assert set(job.settings["fusion"]["sources"]) == {"sst2", "rte"} and job.fn is S.train_fusion
    moved = tmp_path / "elsewhere"
    shutil.copytree(sources["rte"], moved)
    same = S.fusion_job(tiny_choice, tiny_data, {"sst2": sources["sst2"], "rte": moved}, BUDGET, 0)
    assert same.settings == job.settings                   # a copy elsewhere is the same adapter
    save_source(tiny_choice, sources["rte"], "rte", seed=7)  # trained again: other weights
    assert S.fusion_job(tiny_choice, tiny_data, sources, BUDGET, 0).settings != job.settings
    assert S.fusion_job(tiny_choice, tiny_data, sources, BUDGET, 1).settings != job.settings
    assert S.fusion_job(tiny_choice, tiny_data, sources, BUDGET, 0, learning_rate=5e-5).settings["budget"] \
        != job.settings["budget"]
    with pytest.raises(ValueError, match="at least one source"):
        S.fusion_job(tiny_choice, tiny_data, {}, BUDGET, 0)


def test_fusion_model_trains_only_fusion_and_head(tiny_choice, sources):
    model, _ = S.fusion_model(tiny_choice, sources, ["no", "yes"])
    assert list(model.config.id2label.values()) == ["no", "yes"]          # the target's new head
    assert L.switching.adapter_label_names(model, "sst2") == ["0", "1"]             # each source keeps its own
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".fusion.fusion." in n or "classifier" in n or "pooler" in n for n in trainable)
    assert not any(".adapters." in n for n in trainable)


def test_train_fusion_measures_and_reports_attention(tiny_choice, tiny_data, sources):
    out = S.train_fusion(tiny_choice, tiny_data, sources, BUDGET, seed=0)
    assert 0 <= out["accuracy"] <= 1 and out["train_seconds"] > 0 and out["sources"] == ["sst2", "rte"]
    frame = S.attention_frame(out)
    assert list(frame.columns) == ["sst2", "rte"] and len(frame) == 3 * 2  # 3 layers x 2 sublayers
    assert np.allclose(frame.sum(axis=1), 1.0, atol=1e-5)                  # a softmax over the sources
    cache = S.RunCache(tiny_choice.name_or_path + "-cache")
    job = S.fusion_job(tiny_choice, tiny_data, sources, BUDGET, 0)
    [stored] = S.run_jobs(cache, [job], workers=1)
    assert S.attention_frame(stored).shape == frame.shape                  # JSON round trip of the cache


def test_fuse_is_the_formula_students_write():
    torch.manual_seed(0)
    layer = L.AdapterFusionLayer(["a", "b", "c"], 16).eval()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(std=0.3)
    h, u = torch.randn(2, 5, 16), torch.randn(2, 5, 3, 16)
    p = torch.softmax(torch.einsum("btd,btnd->btn", layer.query(h), layer.key(u)), dim=-1)
    by_hand = h + torch.einsum("btn,btnd->btd", p, u) @ layer.value.weight.T
    torch.testing.assert_close(layer.fuse(h, u), by_hand, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer.last_attention, p)
    one = L.AdapterFusionLayer(["a"], 16).eval()  # V = I (+1e-6 off the diagonal) at init: h + u
    from labutils.exercises import relative_error
    assert relative_error(one.fuse(h, u[:, :, :1]), h + u[:, :, 0]) < 1e-5


def test_attention_heatmap_labels_and_readable_text():
    import matplotlib
    matplotlib.use("Agg")
    import pandas as pd

    index = pd.MultiIndex.from_tuples([(0, "attention"), (0, "output")], names=["layer", "sublayer"])
    frame = pd.DataFrame([[0.9, 0.1], [0.5, 0.5]], index=index, columns=["mrpc", "stsb"])
    ax = L.plots.plot_fusion_attention(frame)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["mrpc", "stsb"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["layer 0, attention", "layer 0, output"]
    colours = {t.get_text(): t.get_color() for t in ax.texts}
    assert colours["0.90"] == "white" and colours["0.10"] == "black"  # dark cell, light cell


def test_source_scores_scores_each_adapter_on_its_own_task(tiny_choice, tiny_data, glue_dir, monkeypatch):
    from conftest import write_stsb

    monkeypatch.setenv("LAB_DATA_DIR", str(write_stsb(glue_dir)))
    folders = {"mrpc": save_source(tiny_choice, glue_dir.parent / "a" / "mrpc", "mrpc", 0)}
    torch.manual_seed(1)
    model, _ = L.load_base_model(tiny_choice, L.data.task_spec("stsb").label_names)  # a score head
    L.add_adapter(model, "stsb", L.AdapterConfig(bottleneck=8))
    folders["stsb"] = L.save_adapter(model, glue_dir.parent / "a" / "stsb", name="stsb", task="stsb")
    scores = S.fusion.source_scores(tiny_choice, folders)
    assert scores["mrpc"]["dev rows"] == len(tiny_data["validation"]) and 0 <= scores["mrpc"]["accuracy"] <= 1
    assert scores["mrpc"]["majority"] == S.majority_rate(tiny_data["validation"]["label"])
    assert set(scores["stsb"]) == {"dev rows", "pearson", "spearmanr"}  # a score task: no accuracy, no majority
    # Given dev rows (06 passes the sweep's) are what is scored; the same rows give the same numbers.
    again = S.fusion.source_scores(tiny_choice, {"mrpc": folders["mrpc"]}, datasets={"mrpc": tiny_data["validation"]})
    assert again["mrpc"] == scores["mrpc"]
    fewer = S.fusion.source_scores(tiny_choice, {"mrpc": folders["mrpc"]}, eval_rows=3)
    assert fewer["mrpc"]["dev rows"] == 3


def test_sweep_data_is_the_same_rows_every_time(tiny_choice, glue_dir, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(glue_dir))
    budget = S.Budget(epochs=1, train_rows=4, eval_rows=3, max_length=32)
    data, tokenizer, source = S.sweep_data(tiny_choice, budget)
    assert (len(data["train"]), len(data["validation"])) == (4, 3) and "LAB_DATA_DIR" in source
    assert max(len(ids) for ids in data["train"]["input_ids"]) <= 32
    again, _, _ = S.sweep_data(tiny_choice, budget)
    assert S.measure.data_fingerprint(again["train"]) == S.measure.data_fingerprint(data["train"])
    assert data["train"].features["label"].names == ["not_equivalent", "equivalent"]
