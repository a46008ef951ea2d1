"""Notebook checks that stop the notebook when false, whole-sentence tables, results files for
every notebook, and the epochs beside the training times of 02's comparison."""
import ast
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labutils as L
from labutils import notebook as N  # looked up per test, so each test fails on its own without them
from labutils.train import TrainResult

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from build_notebooks import parse  # noqa: E402

CHECKED = ["01-Setup", "02-Train", "03-Inference"]
TRUTH_CALLS = {"equal", "array_equal", "allclose", "isclose", "all", "any", "isinstance", "exists"}


def _cells(name):
    return parse((ROOT / "notebook-sources" / f"{name}.py").read_text())


# --- check(): prints what the cells printed, stops the notebook when false ---------------------

def test_check_prints_what_the_cells_printed(capsys):
    N.check("pretrained weights bit-identical after training", True)
    print("pretrained weights bit-identical after training:", True)  # the old cell's line
    mine, old = capsys.readouterr().out.splitlines()
    assert mine == old == "pretrained weights bit-identical after training: True"


@pytest.mark.parametrize("false", [False, np.False_, np.bool_(1 > 2), 0], ids=["bool", "np.False_", "np.bool_", "zero"])
def test_check_raises_on_false_and_names_the_claim(false, capsys):
    with pytest.raises(N.CheckFailed, match=r"is False: round trip: identical logits") as info:
        N.check("round trip: identical logits", false)
    assert isinstance(info.value, AssertionError)
    assert "re-run the notebook from the top" in str(info.value)
    assert capsys.readouterr().out == ""  # no "True" line for a failed check


def test_check_accepts_numpy_true(capsys):
    N.check("equal", np.True_)
    assert capsys.readouterr().out == "equal: True\n"


def test_check_refuses_an_array_of_several_values():
    with pytest.raises(TypeError, match=r"\.all\(\) or \.any\(\)"):
        N.check("all close", np.array([True, False]))


def _prints_a_truth_value(call: ast.Call) -> bool:
    for node in ast.walk(call):
        if isinstance(node, (ast.Compare, ast.BoolOp)) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            return True
        if isinstance(node, ast.Call) and node is not call:
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in TRUTH_CALLS:
                return True
    return False


@pytest.mark.parametrize("name", CHECKED)
def test_no_check_cell_prints_a_bare_truth_value(name):
    """A True/False printed by an nbval-check-output cell lets the notebook carry on when it is False."""
    offenders = []
    for cell in _cells(name):
        if cell.cell_type != "code" or "nbval-check-output" not in cell.metadata.get("tags", []):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print"
                    and _prints_a_truth_value(node)):
                offenders.append(ast.get_source_segment(cell.source, node))
    assert not offenders, (f"notebook-sources/{name}.py: check cells print a True/False that nothing enforces; "
                           f"use L.notebook.check(claim, ok) instead: {offenders}")


# --- whole sentences in 03's tables -------------------------------------------------------------

def test_text_table_shows_whole_sentences(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    sentence = ("White House press secretary Ari Fleischer said yesterday that the president had not "
                "decided, and would not decide before the end of the week.")
    N.show_text_table(pd.DataFrame({"sentence1": [sentence], "confidence": [0.9991234]}))
    (bundle,) = shown
    assert sentence in bundle["text/plain"] and sentence in bundle["text/html"]
    assert "0.999" in bundle["text/html"]
    assert pd.get_option("display.max_colwidth") == 50  # the student's own setting is left alone


# --- a results file for every notebook ---------------------------------------------------------

@pytest.mark.parametrize("name,results", [("01-Setup", "01-setup"), ("02-Train", "02-train"),
                                          ("03-Inference", "03-inference")])
def test_every_notebook_writes_its_results(name, results):
    last_code = [c for c in _cells(name) if c.cell_type == "code"][-1].source
    assert f'L.notebook.write_results("{results}", results)' in last_code


def test_results_file_is_strict_json(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_OUTPUT_DIR", str(tmp_path))
    latency = pd.DataFrame({"setting": ["base", "drop 1"], "k": [None, 1], "median ms": [np.float32(2.5), 2.6]})
    table = pd.DataFrame({"task": ["MRPC"], "accuracy": [0.8]}).set_index("task")
    path = N.write_results("03-inference", {
        "count": np.int64(3), "same": np.bool_(True), "confusion": np.array([[1, 2], [3, 4]]),
        "latency": latency, "tasks": table, "folder": tmp_path / "adapters", "inf": float("inf")})
    assert path == tmp_path / "results" / "03-inference.json"
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert data["count"] == 3 and data["same"] is True and data["confusion"] == [[1, 2], [3, 4]]
    assert data["latency"][0] == {"setting": "base", "k": None, "median ms": 2.5}
    assert data["tasks"] == [{"task": "MRPC", "accuracy": 0.8}]  # a named index is kept as a column
    assert data["folder"].endswith("adapters") and data["inf"] is None


def test_plain_makes_settings_canonical_and_can_keep_nan_for_a_caller_that_refuses_it():
    config = L.AdapterConfig(bottleneck=8, layers=(1, 0))
    settings = {"config": config, "seeds": range(2), "pair": (np.float32(0.5), np.int64(2)), 3: Path("a/b")}
    assert N.plain(settings) == {"config": config.to_dict(), "seeds": [0, 1], "pair": [0.5, 2], "3": "a/b"}
    assert N.plain({"loss": [float("nan")]}) == {"loss": [None]}
    kept = N.plain({"loss": np.array([1.0, float("inf")])}, nan_as_null=False)["loss"]
    assert kept[0] == 1.0 and kept[1] == float("inf")


def test_results_refuse_what_json_cannot_hold(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_OUTPUT_DIR", str(tmp_path))
    with pytest.raises(TypeError, match=r"results\['model'\] is a object.*convert it"):
        N.write_results("x", {"model": object()})


# --- 01: the cost table has the reduction-factor-16 row ------------------------------------------

def test_cost_table_lists_m_48_for_reduction_factor_16():
    cost_cell = next(c.source for c in _cells("01-Setup") if "adapter_cost_table" in c.source)
    tree = ast.parse(cost_cell)
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "adapter_cost_table")
    bottlenecks = ast.literal_eval(next(k.value for k in call.keywords if k.arg == "bottlenecks"))
    assert 768 // 16 in bottlenecks


# --- 02: epochs beside the training time ---------------------------------------------------------

def _result(epochs, seconds):
    history = [{"loss": 0.6, "epoch": e - 0.5, "step": e} for e in range(1, epochs + 1)]
    history += [{"eval_loss": 0.5, "eval_accuracy": 0.8, "epoch": float(epochs), "step": epochs},
                {"train_runtime": seconds, "epoch": float(epochs), "step": epochs}]
    return TrainResult(metrics={"eval_accuracy": 0.8, "eval_f1": 0.85}, history=history, train_seconds=seconds,
                       peak_memory_mib=0.0, samples_per_second=1.0, device="cpu", precision="fp32")


def test_summary_row_gives_epochs_and_time_per_epoch():
    report = {"trainable": 10, "trainable_pct_of_base": 1.0, "total": 1000}
    adapters = L.summary_row("adapters", _result(10, 935.0), report, 1000)
    full = L.summary_row("full", _result(5, 495.0), report, 1000)
    assert (adapters["epochs"], adapters["time per epoch (s)"]) == (10, 93.5)
    assert (full["epochs"], full["time per epoch (s)"]) == (5, 99.0)
    assert adapters["train time (s)"] == 935.0  # the existing columns keep their names
    keys = list(adapters)
    assert keys.index("epochs") == keys.index("train time (s)") + 1


def test_summary_row_without_history_leaves_epochs_empty():
    result = _result(1, 10.0)
    result.history = []
    row = L.summary_row("x", result, {"trainable": 1, "trainable_pct_of_base": 1.0, "total": 10}, 1)
    assert row["epochs"] is None and row["time per epoch (s)"] is None


def test_02_prose_reads_times_from_the_table():
    prose = "\n".join(c.source for c in _cells("02-Train") if c.cell_type == "markdown")
    for stale in ("935 s", "495 s", "94 s against 99 s"):
        assert stale not in prose, f"02's prose quotes {stale!r} from an old run; point to the table instead"
    assert "time per epoch (s)" in prose
