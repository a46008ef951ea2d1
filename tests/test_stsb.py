"""STS-B, a regression task: float scores loaded like the Hub's, a one-output head (MSE loss) that
follows switching, Pearson / Spearman metrics, the collapse guard, and the recipe end to end."""
import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr

import labutils as L
from labutils import data as D
from labutils.switching import set_head_labels
from labutils.train import task_metrics
from conftest import STSB_ROWS, make_tiny_model, write_stsb

SIMILARITY = list(L.task_spec("stsb").label_names)


def logits(model, batch, **extra):
    model.eval()
    with torch.no_grad():
        return model(**batch, **extra)


# --- data -----------------------------------------------------------------------------------

def test_stsb_loads_float_scores_with_the_hubs_columns(tmp_path, tokenizer):
    ds, _ = L.load_glue("STS-B", data_dir=str(write_stsb(tmp_path / "glue")))
    assert ds["train"].column_names == ["sentence1", "sentence2", "label", "idx"]
    assert str(ds["train"].features["label"]) == "Value('float32')"  # the Hub's type for stsb
    assert len(ds["validation"]) == len(STSB_ROWS)
    assert ds["train"]["label"] == pytest.approx([float(r[2]) for r in STSB_ROWS])
    assert ds["train"][1]["sentence1"] == 'He said " no " twice .'
    assert ds["train"][4]["sentence1"] == 'A " stray quote here'
    tok = L.tokenize(ds, tokenizer, "stsb")
    assert tok["train"]["label"] == ds["train"]["label"]
    spec = L.task_spec("stsb")
    assert spec.regression and not L.task_spec("mrpc").regression and spec.label_names == ("similarity",)


def test_a_header_missing_from_stsb_is_named(tmp_path):
    folder = write_stsb(tmp_path / "glue")
    path = folder / "STS-B" / "train.tsv"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[1:]))
    with pytest.raises(ValueError, match="line 1 is an example, not STS-B's header"):
        D.load_glue_local("stsb", folder)


# --- the model: a one-output head, MSE loss, following the active adapter -------------------

def test_one_label_name_gives_a_regression_head(tiny_choice, batch):
    model, _ = L.load_base_model(tiny_choice, SIMILARITY)
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    scores = torch.tensor([4.0, 0.5])
    out = logits(model, batch, labels=scores)
    assert out.logits.shape == (2, 1)
    torch.testing.assert_close(out.loss, torch.nn.functional.mse_loss(out.logits[:, 0], scores))


def test_switching_between_a_score_head_and_a_classifier_keeps_each_task(batch):
    model = make_tiny_model()  # an MRPC-style 2-label head
    L.add_adapter(model, "mrpc", L.AdapterConfig(bottleneck=4, init_std=0.2))
    L.add_adapter(model, "stsb", L.AdapterConfig(bottleneck=4, init_std=0.2))
    set_head_labels(model, SIMILARITY)  # stsb is active: its head becomes one output
    torch.manual_seed(0)
    with torch.no_grad():
        model.classifier.bias.fill_(2.5)
    stsb_before = logits(model, batch).logits
    L.set_active_adapter(model, "mrpc")
    # A classification loss first: transformers then fixes config.problem_type, which must follow the head.
    mrpc = logits(model, batch, labels=torch.tensor([1, 0]))
    assert mrpc.logits.shape == (2, 2) and model.config.problem_type == "single_label_classification"
    scores = torch.tensor([4.0, 0.5])
    for _ in range(2):
        L.set_active_adapter(model, "stsb")
        out = logits(model, batch, labels=scores)
        assert out.logits.shape == (2, 1) and model.num_labels == 1
        torch.testing.assert_close(out.logits, stsb_before, rtol=0, atol=0)
        torch.testing.assert_close(out.loss, torch.nn.functional.mse_loss(out.logits[:, 0], scores))
        L.set_active_adapter(model, "mrpc")
        again = logits(model, batch, labels=torch.tensor([1, 0]))
        torch.testing.assert_close(again.logits, mrpc.logits, rtol=0, atol=0)
        torch.testing.assert_close(again.loss, torch.nn.functional.cross_entropy(mrpc.logits, torch.tensor([1, 0])))
    assert L.io.adapter_label_names(model, "stsb") == SIMILARITY


def test_manager_serves_a_score_task_beside_a_classifier(tmp_path, tokenizer):
    stsb_model = make_tiny_model()
    set_head_labels(stsb_model, SIMILARITY)
    L.add_adapter(stsb_model, "stsb", L.AdapterConfig(bottleneck=4, init_std=0.2))
    stsb_dir = L.save_adapter(stsb_model.eval(), tmp_path / "stsb")
    assert L.io.read_adapter_config(stsb_dir)["label_names"] == SIMILARITY
    mrpc_model = make_tiny_model()
    L.add_adapter(mrpc_model, "mrpc", L.AdapterConfig(bottleneck=4, init_std=0.2))
    manager = L.MultiTaskAdapterManager(make_tiny_model(), tokenizer)
    manager.register("mrpc", L.save_adapter(mrpc_model.eval(), tmp_path / "mrpc"))
    manager.register("stsb", stsb_dir)
    a, b = ["A cat sat .", "Shares rose ."], ["A cat was sitting .", "Rain fell ."]
    scores = manager.predict("stsb", a, b)
    np.testing.assert_allclose(scores, L.inference.predict_scores(stsb_model, tokenizer, a, b), atol=1e-6)
    assert manager.predict("mrpc", a, b).shape == (2, 2)
    mixed = manager.predict_mixed([("stsb", a[0], b[0]), ("mrpc", a[1], b[1])])
    assert mixed[0] == {"task": "stsb", "label": "similarity", "score": pytest.approx(float(scores[0]), abs=1e-6)}
    assert mixed[1]["label"] in ("not_equivalent", "equivalent")
    assert manager.describe("stsb", a[0], b[0]).startswith("similarity ")
    with pytest.raises(ValueError, match="one score.*use predict_scores"):
        L.inference.predict_proba(stsb_model, tokenizer, a, b)


# --- metrics and the collapse guard --------------------------------------------------------

def test_regression_metrics_are_pearson_and_spearman_and_undefined_for_a_constant():
    gold, pred = [0.0, 1.0, 2.5, 4.0, 5.0], [0.3, 0.8, 3.0, 3.5, 4.9]
    got = L.regression_metrics(gold, pred)
    assert got == pytest.approx({"pearson": pearsonr(gold, pred)[0], "spearmanr": spearmanr(gold, pred)[0]})
    assert all(np.isnan(v) for v in L.regression_metrics(gold, [2.0] * 5).values())
    # One output column is a score; two are classes.
    assert set(task_metrics(gold, np.array(pred)[:, None])) == {"pearson", "spearmanr"}
    assert set(task_metrics([0, 1], np.array([[1.0, 0.0], [0.0, 1.0]]))) == {"accuracy", "f1", "mcc"}


def stsb_data(tmp_path, tokenizer):
    ds, _ = L.load_glue("stsb", data_dir=str(write_stsb(tmp_path / "glue")))
    return L.tokenize(ds, tokenizer, "stsb")


def test_a_score_head_predicting_one_score_for_every_pair_is_refused(tmp_path, tiny_choice, tokenizer):
    data = stsb_data(tmp_path, tokenizer)
    model, _ = L.load_base_model(tiny_choice, SIMILARITY)
    L.freeze_for_adapters(model)
    with torch.no_grad():
        model.classifier.weight.zero_()  # the head ignores its input: one score, whatever the pair
    model.classifier.weight.requires_grad_(False)
    args = L.training_arguments(str(tmp_path / "run"), epochs=1, learning_rate=1e-3, batch_size=4)
    with pytest.raises(L.TrainingDiverged, match="predicts one score for every dev pair"):
        L.train(model, tokenizer, data["train"], data["validation"], args)


def test_train_task_adapter_stsb_end_to_end(tmp_path, tiny_choice, tokenizer, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(write_stsb(tmp_path / "glue")))
    folder = tmp_path / "adapters" / "stsb"
    config = L.AdapterConfig(bottleneck=4)
    row = L.recipes.train_task_adapter(tiny_choice, "stsb", folder, config=config, train_rows=None, eval_rows=None,
                                       epochs=2, learning_rate=1e-3, batch_size=4, output_dir=str(tmp_path / "runs"))
    assert row["task"] == "STS-B" and row["dev rows"] == len(STSB_ROWS) and "dev accuracy" not in row
    assert -1 <= row["dev Pearson"] <= 1 and -1 <= row["dev Spearman"] <= 1
    assert L.recipes.saved_adapter_matches(folder, tiny_choice, config)
    fresh, _ = L.load_base_model(tiny_choice, SIMILARITY)
    assert L.load_adapter(fresh, folder)["label_names"] == SIMILARITY
    twin, _ = L.load_base_model(tiny_choice, SIMILARITY)
    L.load_adapter(twin, folder)
    data = stsb_data(tmp_path, tokenizer)
    got = L.evaluate(fresh, tokenizer, data["validation"])
    assert got["pearson"] == pytest.approx(row["dev Pearson"], abs=1e-5)
    assert got["spearmanr"] == pytest.approx(row["dev Spearman"], abs=1e-5)
    np.testing.assert_array_equal(L.predict_logits(fresh, tokenizer, data["validation"]),
                                  L.predict_logits(twin, tokenizer, data["validation"]))
