"""One base, several tasks: switching returns each task's own predictions."""
import numpy as np
import pytest
import torch

import labutils as L
from labutils.multitask import MultiTaskAdapterManager
from conftest import make_tiny_model

PAIRS_A = ["The cat sat on the mat .", "Shares rose on Monday .", "He left early ."]
PAIRS_B = ["A cat was sitting on a mat .", "Rain is expected .", "He went home early ."]


def _task_folder(tmp_path, name, label_names, favourite, seed):
    """A saved adapter whose head strongly prefers class `favourite` (tasks disagree on purpose)."""
    model = make_tiny_model()
    if len(label_names) != 2:
        from labutils.switching import set_head_labels
        set_head_labels(model, label_names)
    model.config.id2label = dict(enumerate(label_names))
    model.config.label2id = {n: i for i, n in enumerate(label_names)}
    L.add_adapter(model, name, L.AdapterConfig(bottleneck=4, init_std=0.2))
    torch.manual_seed(seed)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if L.params.parameter_group(pname) in ("adapters", "layernorm"):
                p.add_(0.05 * torch.randn_like(p))
        model.classifier.bias.zero_()
        model.classifier.bias[favourite] = 10.0
    return L.save_adapter(model.eval(), tmp_path / name), model.eval()


@pytest.fixture
def manager(tmp_path, tokenizer):
    folder_a, trained_a = _task_folder(tmp_path, "para", ["not_equivalent", "equivalent"], favourite=0, seed=1)
    folder_b, trained_b = _task_folder(tmp_path, "nli", ["entailment", "neutral", "contradiction"], favourite=2, seed=2)
    m = MultiTaskAdapterManager(make_tiny_model(), tokenizer)
    m.register("para", folder_a)
    m.register("nli", folder_b)
    m.trained = {"para": trained_a, "nli": trained_b}
    return m


def test_each_task_gives_its_own_predictions(manager):
    para = manager.predict("para", PAIRS_A, PAIRS_B)
    nli = manager.predict("nli", PAIRS_A, PAIRS_B)
    assert para.shape == (3, 2) and nli.shape == (3, 3)
    assert (para.argmax(-1) == 0).all() and (nli.argmax(-1) == 2).all()


def test_switching_back_restores_exact_outputs(manager, tokenizer):
    first = manager.predict("para", PAIRS_A, PAIRS_B)
    manager.predict("nli", PAIRS_A, PAIRS_B)
    again = manager.predict("para", PAIRS_A, PAIRS_B)
    np.testing.assert_array_equal(first, again)
    # ... and equal to the model each task was trained in, LayerNorms and head included.
    for task in ("para", "nli"):
        expected = L.inference.predict_proba(manager.trained[task], tokenizer, PAIRS_A, PAIRS_B)
        np.testing.assert_allclose(manager.predict(task, PAIRS_A, PAIRS_B), expected, atol=1e-6)


def test_mixed_batch_is_grouped_and_put_back_in_order(manager):
    items = [("nli", PAIRS_A[0], PAIRS_B[0]), ("para", PAIRS_A[1], PAIRS_B[1]),
             ("nli", PAIRS_A[2], PAIRS_B[2]), ("para", PAIRS_A[0], None)]
    out = manager.predict_mixed(items)
    assert [r["task"] for r in out] == ["nli", "para", "nli", "para"]
    assert [r["label"] for r in out] == ["contradiction", "not_equivalent", "contradiction", "not_equivalent"]
    single = manager.predict("nli", [PAIRS_A[2]], [PAIRS_B[2]])[0]
    assert out[2]["probability"] == pytest.approx(float(single.max()), abs=1e-6)


def test_unknown_task_and_duplicate_registration(manager, tmp_path):
    with pytest.raises(KeyError, match="unknown task 'sst2'"):
        manager.switch("sst2")
    with pytest.raises(KeyError, match="item 0: unknown task"):
        manager.predict_mixed([("sst2", "fine", None)])
    with pytest.raises(ValueError, match="already registered"):
        manager.register("para", manager.tasks["para"].folder)


def test_storage_table_counts_one_shared_base(manager):
    table = manager.storage_table(full_model_bytes=100_000_000)
    assert table.loc["all 2 tasks", "full model (MB)"] == 200.0
    assert 100.0 < table.loc["all 2 tasks", "adapter folder (MB)"] < 101.0


def test_confident_mistakes_and_description():
    import datasets
    raw = datasets.Dataset.from_dict({"sentence": ["a", "b", "c", "d"], "label": [0, 1, 1, 0]})
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
    table = L.inference.confident_mistakes(raw, probs, ["neg", "pos"], k=5)
    assert list(table["sentence"]) == ["b", "d"]  # wrong ones, surest first
    assert list(table["confidence"]) == [0.8, 0.7]
    assert L.inference.describe_prediction(probs[2], ["neg", "pos"]) == "pos (p = 0.60)"


def test_describe_for_the_demo(manager):
    assert manager.describe("nli", PAIRS_A[0], PAIRS_B[0]).startswith("contradiction (p = ")
    assert manager.describe("para", "   ") == "type a sentence first"


def test_read_adapter_gives_the_config_and_refuses_a_bad_folder_before_the_model_changes(manager, tmp_path):
    import json

    meta, config = L.io.read_adapter(tmp_path / "para")
    assert meta["label_names"] == ["not_equivalent", "equivalent"]
    assert config == L.AdapterConfig(bottleneck=4, init_std=0.2)
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in (L.io.CONFIG_FILE, L.io.WEIGHTS_FILE):
        (bad / name).write_bytes((tmp_path / "para" / name).read_bytes())
    for edit, problem in ((lambda m: {**m, "adapter": {**m["adapter"], "bottleneck": -1}}, "adapter config is invalid"),
                          (lambda m: {**m, "label_names": []}, r"label_names \[\] name no label")):
        (bad / L.io.CONFIG_FILE).write_text(json.dumps(edit(meta)))
        with pytest.raises(L.io.AdapterFileError, match=problem):
            L.io.read_adapter(bad)
        before = (sorted(L.adapter_configs(manager.model)), manager.active, manager.model.config.num_labels)
        with pytest.raises(L.io.AdapterFileError, match=problem):
            manager.register("bad", bad)
        assert (sorted(L.adapter_configs(manager.model)), manager.active, manager.model.config.num_labels) == before
