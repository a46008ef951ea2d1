"""Data loading offline (bare quotes, bad paths), the Hub check, model resolution, profiles."""
import time

import pytest

import labutils as L
from labutils import data as D, hub
from labutils.profiles import get_profile
from conftest import MRPC_ROWS, write_mrpc, write_task


def test_mrpc_loader_keeps_every_row_with_bare_quotes(glue_dir):
    ds, source = L.load_glue("mrpc", data_dir=str(glue_dir))
    assert "local" in source
    assert len(ds["train"]) == len(MRPC_ROWS) and len(ds["validation"]) == len(MRPC_ROWS)
    assert ds["train"].column_names == ["sentence1", "sentence2", "label", "idx"]
    assert ds["train"][0]["sentence1"] == '" This is an extremely good deal , " he said .'
    assert ds["train"][5]["sentence1"] == 'A "quoted" word and another " stray quote'
    assert ds["train"]["label"] == [int(r[0]) for r in MRPC_ROWS]
    assert ds["train"]["idx"] == list(range(len(MRPC_ROWS)))
    assert ds["train"].features["label"].names == ["not_equivalent", "equivalent"]


def test_data_dir_from_environment(glue_dir, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(glue_dir))
    ds, _ = L.load_glue("MRPC")
    assert len(ds["train"]) == len(MRPC_ROWS)


def test_wrong_data_dir_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="LAB_DATA_DIR=.*not a folder"):
        L.load_glue("mrpc")


def test_data_dir_without_the_task(tmp_path):
    with pytest.raises(FileNotFoundError, match="MRPC/train.tsv not found"):
        L.load_glue("mrpc", data_dir=str(tmp_path))


def test_malformed_line_is_reported_with_its_number(tmp_path):
    folder = write_mrpc(tmp_path / "glue")
    with open(folder / "MRPC" / "train.tsv", "a") as fh:
        fh.write("1\tonly three\tfields\n")
    with pytest.raises(ValueError, match=r"train.tsv line 8: 3 tab-separated fields, expected 5"):
        L.load_glue("mrpc", data_dir=str(folder))


def test_no_hub_and_no_data_dir_explains_the_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("LAB_DATA_DIR", raising=False)
    # No ../shared/data/glue beside the lab or the current folder, or load_glue would find it.
    monkeypatch.setattr(D, "LAB_ROOT", tmp_path / "lab")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    with pytest.raises(RuntimeError, match="Set LAB_DATA_DIR"):
        L.load_glue("mrpc")


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task"):
        L.task_spec("squad")


def test_other_tasks_parse(tmp_path):
    write_task(tmp_path, "SST-2", 'sentence\tlabel\na " quoted film\t1\nboring\t0\n')
    ds = D.load_glue_local("sst2", tmp_path)
    assert ds["train"]["sentence"] == ['a " quoted film', "boring"] and ds["train"]["label"] == [1, 0]
    write_task(tmp_path, "RTE", "index\tsentence1\tsentence2\tlabel\n0\tA\tB\tnot_entailment\n1\tC\tD\tentailment\n")
    ds = D.load_glue_local("rte", tmp_path)
    assert ds["validation"]["label"] == [1, 0]


def test_tokenize_keeps_label_and_does_not_pad(glue_dir, tokenizer):
    ds, _ = L.load_glue("mrpc", data_dir=str(glue_dir))
    tok = L.tokenize(ds, tokenizer, "mrpc")
    assert set(tok["train"].column_names) == {"label", "input_ids", "token_type_ids", "attention_mask"}
    lengths = {len(x) for x in tok["train"]["input_ids"]}
    assert len(lengths) > 1  # dynamic padding: each example keeps its own length


def test_hub_check_is_fast_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    hub.hub_reachable.cache_clear()
    start = time.perf_counter()
    assert hub.hub_reachable() is False
    assert time.perf_counter() - start < 3
    hub.hub_reachable.cache_clear()


def test_offline_resolves_to_packaged_model_with_a_visible_note(monkeypatch):
    monkeypatch.delenv("LAB_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    choice = L.resolve_model()
    assert choice.offline_default
    assert "OFFLINE DEFAULT" in choice.banner() and "all-MiniLM-L6-v2" in choice.banner()
    assert "/" not in choice.display_name.split(" (")[0]  # no machine path in what is printed


def test_lab_model_that_is_neither_folder_nor_reachable(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    with pytest.raises(RuntimeError, match="LAB_MODEL='roberta-base' is not a local folder"):
        L.resolve_model("roberta-base")


def test_a_checkpoint_stored_in_float16_loads_in_float32(tmp_path, tokenizer):
    """transformers 5 keeps a checkpoint's stored dtype; the lab trains float32 weights."""
    import torch
    from conftest import make_tiny_model

    folder = tmp_path / "fp16-bert"
    make_tiny_model().to(torch.float16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    choice = L.ModelChoice(str(folder), "fp16-bert", False, "test")
    model, _ = hub.load_base_model(choice)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    half, _ = hub.load_base_model(choice, dtype=torch.bfloat16)
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}


def test_profiles(monkeypatch):
    assert get_profile("full").train_rows is None
    monkeypatch.setenv("LAB_PROFILE", "quick")
    assert get_profile().name == "quick"
    assert get_profile(adapter_epochs=3).adapter_epochs == 3
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        get_profile("fast")
