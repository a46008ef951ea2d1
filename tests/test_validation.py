"""Bad GLUE files, where the data is found, bad adapter configs, and both sentences of a pair.

Every refusal must name the file as the lab shows it (``MRPC/train.tsv``, never a machine
path), the line, and the fix.
"""
import math

import numpy as np
import pytest

import labutils as L
from labutils import data as D, hub
from labutils import AdapterConfig
from conftest import MRPC_HEADER, MRPC_ROWS, STSB_ROWS, stsb_line, write_mrpc, write_stsb, write_task


def write_train(folder, text, mode="w"):
    """Replace (or append to) MRPC/train.tsv of a written MRPC folder."""
    path = folder / "MRPC" / "train.tsv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        with open(path, mode, encoding="utf-8") as fh:
            fh.write(text)
    return folder


def mrpc_line(label="1", s1="A cat sat .", s2="A cat was sitting ."):
    return "\t".join((label, "1", "2", s1, s2)) + "\n"


def refused(folder, tmp_path, pattern):
    """load_glue refuses the folder with `pattern`, and the message holds no machine path."""
    with pytest.raises(ValueError, match=pattern) as err:
        L.load_glue("mrpc", data_dir=str(folder))
    assert str(tmp_path) not in str(err.value)
    return str(err.value)


# --- data files ---------------------------------------------------------------------------

def test_empty_file_is_refused(tmp_path):
    folder = write_train(write_mrpc(tmp_path / "glue"), "")
    msg = refused(folder, tmp_path, r"MRPC/train.tsv has no examples \(0 lines\)")
    assert "GLUE release" in msg


def test_header_only_file_is_refused(tmp_path):
    folder = write_train(write_mrpc(tmp_path / "glue"), MRPC_HEADER)
    refused(folder, tmp_path, r"MRPC/train.tsv has its header \(line 1\) but no examples")


@pytest.mark.parametrize("label", ["-1", "2", "yes"])
def test_a_label_outside_the_task_is_refused_with_file_and_line(tmp_path, label):
    folder = write_train(write_mrpc(tmp_path / "glue"), mrpc_line(label), mode="a")
    line = len(MRPC_ROWS) + 2
    refused(folder, tmp_path, rf"MRPC/train.tsv line {line}: label '{label}' in column 'Quality' is not a MRPC "
                              r"label; expected 0 \(not_equivalent\) or 1 \(equivalent\)")


def test_rte_label_outside_the_task(tmp_path):
    write_task(tmp_path, "RTE", "index\tsentence1\tsentence2\tlabel\n0\tA\tB\tentailment\n1\tC\tD\tmaybe\n")
    with pytest.raises(ValueError, match=r"RTE/train.tsv line 3: label 'maybe'.*expected entailment \(entailment\) "
                                         r"or not_entailment"):
        D.load_glue_local("rte", tmp_path)


def test_non_utf8_bytes_name_the_file_and_line(tmp_path):
    good = (MRPC_HEADER + mrpc_line() + mrpc_line("0")).encode()
    folder = write_train(write_mrpc(tmp_path / "glue"), good + mrpc_line(s1="Caf\u00e9 .").encode("latin-1"))
    refused(folder, tmp_path, r"MRPC/train.tsv line 4: byte 0xe9 is not UTF-8 text.*save the file as UTF-8")


def test_missing_header_is_named_instead_of_losing_the_first_example(tmp_path):
    folder = write_train(write_mrpc(tmp_path / "glue"), mrpc_line() + mrpc_line("0"))
    msg = refused(folder, tmp_path, r"MRPC/train.tsv line 1 is an example, not MRPC's header line, so the header "
                                    r"is missing")
    assert "Add the header as line 1: Quality\\t#1 ID\\t#2 ID\\t#1 String\\t#2 String" in msg


def test_a_first_line_that_is_neither_header_nor_example(tmp_path):
    folder = write_train(write_mrpc(tmp_path / "glue"), "id\tx\ty\tz\tw\n" + mrpc_line())
    refused(folder, tmp_path, r"MRPC/train.tsv line 1 is not MRPC's header: it should start with 'Quality'")


def test_sst2_without_its_header(tmp_path):
    write_task(tmp_path, "SST-2", "a fine film\t1\nboring\t0\n")
    with pytest.raises(ValueError, match=r"SST-2/train.tsv line 1 is an example.*sentence\\tlabel"):
        D.load_glue_local("sst2", tmp_path)


def test_cola_has_no_header_so_its_first_line_is_an_example(tmp_path):
    write_task(tmp_path, "CoLA", 'gj04\t1\t\tOur friends won\'t buy this " analysis .\ngj04\t0\t*\tHim left .\n')
    ds = D.load_glue_local("cola", tmp_path)
    assert ds["train"]["sentence"] == ['Our friends won\'t buy this " analysis .', "Him left ."]
    assert ds["train"]["label"] == [1, 0]
    (tmp_path / "CoLA" / "train.tsv").write_text("source\tlabel\toriginal-label\tsentence\ngj04\t1\t\tFine .\n")
    with pytest.raises(ValueError, match=r"CoLA/train.tsv line 1: label 'label'"):
        D.load_glue_local("cola", tmp_path)


def test_a_utf8_bom_before_the_header_still_loads(tmp_path):
    folder = write_train(write_mrpc(tmp_path / "glue"), b"\xef\xbb\xbf" + (MRPC_HEADER + mrpc_line()).encode())
    ds, _ = L.load_glue("mrpc", data_dir=str(folder))
    assert len(ds["train"]) == 1


@pytest.mark.parametrize("score", ["5.5", "-0.2", "n/a", "nan", ""])
def test_a_bad_stsb_score_is_refused_with_file_line_and_fix(tmp_path, score):
    folder = write_stsb(tmp_path / "glue")
    with open(folder / "STS-B" / "train.tsv", "a", encoding="utf-8") as fh:
        fh.write(stsb_line(score))
    with pytest.raises(ValueError, match=rf"STS-B/train.tsv line {len(STSB_ROWS) + 2}: score '{score}' in column "
                                         r"'score' is not a STS-B score; expected a number from 0 to 5\. Correct "
                                         r"that line or copy the file again") as err:
        L.load_glue("stsb", data_dir=str(folder))
    assert str(tmp_path) not in str(err.value)


# --- where the data comes from ------------------------------------------------------------

@pytest.fixture
def offline(monkeypatch):
    monkeypatch.delenv("LAB_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    yield
    hub.hub_reachable.cache_clear()


def lab_beside(tmp_path, monkeypatch, shared=True):
    """A lab folder with (or without) ../shared/data/glue beside it, and the current folder."""
    lab = tmp_path / "course" / "lab"
    lab.mkdir(parents=True)
    if shared:
        write_mrpc(tmp_path / "course" / "shared" / "data" / "glue", rows=MRPC_ROWS[:3])
    monkeypatch.setattr(D, "LAB_ROOT", lab)
    monkeypatch.chdir(lab)
    return lab


def test_shared_folder_beside_the_lab_is_found_and_named(tmp_path, monkeypatch, offline):
    lab_beside(tmp_path, monkeypatch)
    ds, source = L.load_glue("mrpc")
    assert len(ds["train"]) == 3
    assert "../shared/data/glue beside the lab's folder" in source and "LAB_DATA_DIR is unset" in source
    assert str(tmp_path) not in source


def test_shared_folder_beside_the_current_folder_is_found(tmp_path, monkeypatch, offline):
    lab_beside(tmp_path, monkeypatch)  # jupyter lab started in the lab's folder ...
    monkeypatch.setattr(D, "LAB_ROOT", tmp_path / "site-packages")  # ... with labutils installed elsewhere
    _, source = L.load_glue("mrpc")
    assert "beside the current folder" in source


def test_lab_data_dir_wins_over_the_shared_folder(tmp_path, monkeypatch, offline):
    lab_beside(tmp_path, monkeypatch)
    monkeypatch.setenv("LAB_DATA_DIR", str(write_mrpc(tmp_path / "mine")))
    ds, source = L.load_glue("mrpc")
    assert len(ds["train"]) == len(MRPC_ROWS) and source == "local GLUE files (LAB_DATA_DIR)"


def test_a_reachable_hub_wins_over_the_shared_folder(tmp_path, monkeypatch, offline):
    import datasets

    lab_beside(tmp_path, monkeypatch)
    monkeypatch.setattr(D, "hub_reachable", lambda: True)
    hub_rows = datasets.Dataset.from_dict({"sentence1": ["a"], "sentence2": ["b"], "label": [1], "idx": [0]})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: {"train": hub_rows, "validation": hub_rows})
    ds, source = L.load_glue("mrpc")
    assert source.startswith("Hugging Face Hub") and len(ds["train"]) == 1


def test_nothing_found_says_exactly_what_to_set(tmp_path, monkeypatch, offline):
    lab_beside(tmp_path, monkeypatch, shared=False)
    with pytest.raises(RuntimeError) as err:
        L.load_glue("mrpc")
    msg = str(err.value)
    assert "no ../shared/data/glue/MRPC was found" in msg
    assert "%env LAB_DATA_DIR=/path/to/glue" in msg and "export LAB_DATA_DIR=/path/to/glue" in msg
    assert str(tmp_path) not in msg


# --- adapter configuration ----------------------------------------------------------------

@pytest.mark.parametrize("kwargs, words", [
    ({"init_std": math.inf}, "init_std=inf: must be a finite number"),
    ({"init_std": math.nan}, "init_std=nan"),
    ({"init_std": True}, "init_std=True"),
    ({"init_std": "1e-3"}, "init_std='1e-3'"),
    ({"scaling": math.nan}, "scaling=nan: give a finite number"),
    ({"scaling": -math.inf}, "scaling=-inf"),
    ({"scaling": True}, "scaling=True"),
    ({"bottleneck": True}, "bottleneck=True: must be a positive integer"),
    ({"bottleneck": 8.5}, "bottleneck=8.5"),
    ({"reduction_factor": 0.5}, "reduction_factor=0.5"),
])
def test_non_finite_and_non_numbers_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        AdapterConfig(**kwargs)


def test_valid_numbers_still_pass():
    config = AdapterConfig(bottleneck=np.int64(8), scaling=2, init_std=0, layers=range(2, 0, -1))
    assert config.bottleneck_for(32) == 8 and config.layers == [1, 2]


@pytest.mark.parametrize("kwargs, d, words", [
    ({"bottleneck": 64}, 32, "bottleneck m=64 is not smaller than the hidden size d=32"),
    ({"bottleneck": 32}, 32, "m=32 .* d=32"),
    ({"reduction_factor": 1}, 384, "m=384 .* d=384"),
])
def test_a_bottleneck_as_wide_as_the_model_is_refused(kwargs, d, words):
    with pytest.raises(ValueError, match=words) as err:
        AdapterConfig(**kwargs).bottleneck_for(d)
    assert "Set bottleneck below" in str(err.value)


# --- both sentences of a pair reach the model ---------------------------------------------

def test_both_sentences_of_a_pair_reach_the_model(glue_dir, tokenizer):
    ds, _ = L.load_glue("mrpc", data_dir=str(glue_dir))
    tok = L.tokenize(ds, tokenizer, "mrpc")["train"]
    for raw, enc in zip(ds["train"], tok):
        ids, segments = enc["input_ids"], enc["token_type_ids"]
        second = [i for i, s in zip(ids, segments) if s == 1]
        # segment 1 is the second sentence and its closing [SEP]; segment 0 the first one
        assert second == tokenizer(raw["sentence2"], add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
        first = [i for i, s in zip(ids, segments) if s == 0]
        assert first[1:-1] == tokenizer(raw["sentence1"], add_special_tokens=False)["input_ids"]
