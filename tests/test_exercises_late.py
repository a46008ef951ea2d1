"""The coding exercises of 04 (04-span) and 05 (05-choose), from their masters in notebook-sources/:
the solution passes every test (public and hidden), the untouched student version fails every
test with "not done yet" first and never raises, and planted mistakes lose exactly the tests
meant to catch them. 04-span runs on a tiny BERT with a sweep like the notebook's."""
import inspect
import re
from pathlib import Path

import jupytext
import numpy as np
import pytest

import labutils as L
from labutils import sweeps as S
from labutils.sweeps.choose import SHARE_PCT, choose_method as reference_choice
from conftest import make_tiny_model

SOURCES = Path(__file__).resolve().parent.parent / "notebook-sources"


def question(notebook: str, name: str):
    """(solution code cells, {test name: (function, config text)}) of question `name` in a master."""
    cells = jupytext.read(SOURCES / notebook).cells
    start = next(i for i, c in enumerate(cells)
                 if c.cell_type == "raw" and "BEGIN QUESTION" in c.source and f"name: {name}" in c.source)
    end = next(i for i in range(start, len(cells)) if cells[i].cell_type == "raw" and "END QUESTION" in cells[i].source)
    solution, tests, section = [], {}, None
    for cell in cells[start + 1:end]:
        if cell.cell_type == "raw":
            section = {"# BEGIN SOLUTION": "solution", "# BEGIN TESTS": "tests"}.get(cell.source.strip(), None)
        elif cell.cell_type == "code" and section == "solution":
            solution.append(cell.source)
        elif cell.cell_type == "code" and section == "tests":
            space = {}
            exec(cell.source, space)  # as otter does: only the function is kept
            test = next(v for k, v in space.items() if k.startswith("test_"))
            tests[test.__name__] = (test, cell.source.split('""" # END TEST CONFIG')[0])
    return solution, tests


def student_version(code: str) -> str:
    """What `otter assign` makes of a solution cell: the marked lines become `...`."""
    code = re.sub(r"( *)# BEGIN SOLUTION\n.*?# END SOLUTION\n", r"\1...\n", code, flags=re.S)
    return re.sub(r"^( *).*# SOLUTION$", r"\1...", code, flags=re.M)


def run_tests(tests, env):
    """{test name: None if it passed, else the assertion message}; never raises (as grader.check)."""
    outcome = {}
    for name, (test, _) in tests.items():
        args = [env.get(p) for p in inspect.signature(test).parameters]
        try:
            test(*args)
            outcome[name] = None
        except Exception as error:  # otter marks any exception a failed test case, and goes on
            outcome[name] = str(error) or type(error).__name__
    return outcome


def points(tests):
    return sum(int(re.search(r"points: (\d+)", config).group(1)) for _, config in tests.values())


# ---- 05-choose ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def choose():
    return question("05-Compare.py", "05-choose")


def test_choose_solution_passes_every_test_and_matches_the_library(choose):
    solution, tests = choose
    env = {}
    exec("\n".join(solution), env)
    assert run_tests(tests, env) == {name: None for name in tests}
    assert env["SHARE_PCT"] == SHARE_PCT
    assert points(tests) == 4 and sum("hidden: true" in c for _, c in tests.values()) == 1
    for case in [(1, 100, False), (2, 100, True), (3, 0.5, False), (3, 0.01, False, 2e10)]:
        assert env["choose_method"](*case) == reference_choice(*case)


def test_choose_student_version_is_not_done_yet(choose):
    solution, tests = choose
    env = {}
    exec("\n".join(student_version(s) for s in solution), env)  # runs: the prints show None
    outcome = run_tests(tests, env)
    assert outcome["test_done"].startswith("not done yet")
    assert all(outcome.values())
    assert run_tests(tests, {})["test_done"].startswith("not done yet")  # the name missing altogether


@pytest.mark.parametrize("mistake, lost", [
    ("trainable_budget_pct > SHARE_PCT[name]", {"test_edges_and_grid"}),                # a budget equal to a share
    ('["Houlsby adapters", "LoRA", "IA3"] if need_base_latency else ["Houlsby adapters", "LoRA", "IA3"]',
     {"test_base_latency", "test_edges_and_grid"}),                                     # latency ignored
])
def test_choose_planted_mistakes_lose_their_tests(choose, mistake, lost):
    solution, tests = choose
    original = {"trainable_budget_pct > SHARE_PCT[name]": "trainable_budget_pct >= SHARE_PCT[name]"}.get(
        mistake, '["LoRA", "IA3"] if need_base_latency else ["Houlsby adapters", "LoRA", "IA3"]')
    code = "\n".join(solution)
    assert original in code
    env = {}
    exec(code.replace(original, mistake), env)
    assert {name for name, failed in run_tests(tests, env).items() if failed} == lost


# ---- 04-span ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def span_env(tmp_path_factory):
    """A tiny trained-like model with adapters, a dev set, and the notebook's sweep `delta`."""
    from conftest import write_mrpc
    from transformers import AutoTokenizer
    from labutils.hub import packaged_model_dir

    tokenizer = AutoTokenizer.from_pretrained(packaged_model_dir())
    raw, _ = L.load_glue("mrpc", data_dir=str(write_mrpc(tmp_path_factory.mktemp("glue"))))
    dev = L.tokenize(raw, tokenizer, "mrpc")["validation"]
    model = make_tiny_model(seed=0, layers=4)
    L.add_adapter(model, "mrpc", L.AdapterConfig(bottleneck=4, init_std=0.5))
    model.eval()
    accuracy = lambda m: 100 * L.evaluate(m, tokenizer, dev)["accuracy"]
    baseline, n_layers = accuracy(model), 4
    delta = np.full((n_layers, n_layers), np.nan)
    for first, last in S.spans(n_layers):
        with L.adapters_skipped(model, range(first, last + 1)):
            delta[first, last] = accuracy(model) - baseline
    return {"span_model": model, "tokenizer": tokenizer, "dev": dev, "delta": delta, "n_layers": n_layers,
            "L": L, "baseline": baseline}


@pytest.fixture(scope="module")
def span():
    return question("04-Ablations.py", "04-span")


def test_span_solution_passes_every_test(span, span_env):
    solution, tests = span
    env = dict(span_env)
    exec("\n".join(solution), env)
    assert run_tests(tests, env) == {name: None for name in tests}
    assert points(tests) == 4 and sum("hidden: true" in c for _, c in tests.values()) == 1
    assert L.skipped_layers(env["span_model"]) == []


def test_span_student_version_is_not_done_yet(span, span_env):
    solution, tests = span
    env = dict(span_env)
    exec("\n".join(student_version(s) for s in solution), env)
    outcome = run_tests(tests, env)
    assert outcome["test_done"].startswith("not done yet")
    assert all(outcome.values())  # zero points, though a function that does nothing leaves every adapter on
    assert run_tests({"test_done": tests["test_done"]}, {k: v for k, v in span_env.items()})["test_done"] \
        .startswith("not done yet")


def test_span_planted_mistakes(span, span_env):
    solution, tests = span
    code = "\n".join(solution)
    mistakes = {
        # the sign turned round: caught by the hidden test on other weights, even where the sweep is all 0
        "return some_off - all_on": ("return all_on - some_off", {"test_other_weights"}),
        # adapters switched off and never back on
        "with L.adapters_skipped(model, layers):": ("L.set_skipped_layers(model, layers)\n    if True:",
                                                    {"test_adapters_back_on", "test_other_weights"}),
    }
    for original, (planted, lost) in mistakes.items():
        assert original in code
        env = dict(span_env)
        exec(code.replace(original, planted), env)
        failed = {name for name, message in run_tests(tests, env).items() if message}
        L.set_skipped_layers(span_env["span_model"], [])
        assert lost <= failed, (original, failed)
        assert "test_done" not in failed
