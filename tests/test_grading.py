"""The grading machinery (tools/build_notebooks.py --student, tools/grade.py) on a tiny master.

tests/grading/99-Demo.py has two coding questions (3 points each: a "not done yet" test, a public
value test, a hidden test) and one written question (2 points), and needs no torch. The fast tests
execute nothing; five notebook executions in all (three graded submissions, the student release,
the solved notebook), each a tiny kernel. The real notebook 01 is graded by
test_release_of_01_grades_zero_and_solved_full (two quick-profile executions, when the data is there).
"""
import csv
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("otter", reason="otter-grader is not installed: run make install")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_notebooks as B  # noqa: E402
import grade as G  # noqa: E402

DEMO = ROOT / "tests" / "grading" / "99-Demo.py"
HIDDEN = "square(-4) == 16"  # the hidden test's line


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    B.build_release([DEMO], out)
    return out


def _code(nb_path):
    return "\n".join(c.source for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == "code")


def _submit(folder: Path, student: str, notebook: Path, replace: dict = None) -> Path:
    target = folder / student / "99-Demo.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        for old, new in (replace or {}).items():
            cell.source = cell.source.replace(old, new)
    nbformat.write(nb, target)
    return target


# --- the build: no execution -------------------------------------------------------------------

def test_a_source_without_questions_builds_as_before(tmp_path):
    text = "# %% [markdown]\n# # Title\n\n# %% tags=[\"parameters\"]\nPROFILE = 'full'\n\n# %%\nprint(1)\n"
    assert not B.is_master(text) and B.questions(text) == []
    nb = B.notebook(B.parse(text), "07-Plain")
    assert [c.id for c in nb.cells] == ["07-000", "07-001", "07-002"]
    assert [c.metadata for c in nb.cells] == [{}, {"tags": ["parameters"]}, {}]
    src = tmp_path / "07-Plain.py"
    src.write_text(text)
    B.build_release([src], tmp_path / "dist", root=tmp_path)
    assert nbformat.read(tmp_path / "dist" / "student" / "07-Plain.ipynb", as_version=4) == nb


def test_the_solved_notebook_keeps_solutions_and_checks_but_no_markers_or_tests():
    cells = B.parse(DEMO.read_text())
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert "return x * x" in code and 'grader.check("99-square")' in code and 'grader.check("99-cost")' in code
    assert "BEGIN TEST CONFIG" not in code and "def test_" not in code
    assert not [c for c in cells if c.cell_type == "raw"]
    assert any("Rubric" in c.source for c in cells)  # the instructor's notebook carries the rubric
    assert set(B.public_tests(DEMO)) == {"99-square.py", "99-cost.py"}
    assert all(HIDDEN not in body for body in B.public_tests(DEMO).values())


def test_the_release_has_no_solutions_no_hidden_tests_and_runs_from_its_folder(dist):
    student = dist / "student"
    code = _code(student / "99-Demo.ipynb")
    assert "return x * x" not in code and "2 * d * m" not in code and "..." in code
    assert 'grader = otter.Notebook(tests_dir="exercise-tests")' in code
    text = "".join(p.read_text() for p in (student / "exercise-tests").glob("*.py"))
    assert "square(3) == 9" in text and HIDDEN not in text
    assert not any("Rubric" in c.source for c in nbformat.read(student / "99-Demo.ipynb", as_version=4).cells)
    assert (student / "labutils" / "__init__.py").is_file() and (student / "requirements.txt").is_file()
    assert not list(student.rglob("__pycache__"))
    ids = [c.id for c in nbformat.read(student / "99-Demo.ipynb", as_version=4).cells]
    assert ids == [f"99-{i:03d}" for i in range(len(ids))]
    with zipfile.ZipFile(dist / "autograder" / "99-Demo-autograder.zip") as z:
        assert HIDDEN in z.read("tests/99-square.py").decode()
        assert "assignment_name" not in json.loads(z.read("otter_config.json"))
    index = json.loads((dist / "autograder" / "questions.json").read_text())
    assert index["notebooks"] == {"99-Demo": ["99-square", "99-cost", "99-why"]}
    assert [(q["name"], q["points"], q["manual"]) for q in index["questions"]] == [
        ("99-square", 3, False), ("99-cost", 3, False), ("99-why", 2, True)]
    assert not [p for p in dist.rglob("*") if p.is_file() and p.suffix in (".ipynb", ".py", ".json")
                and str(dist) in p.read_text()], "a machine path in the release"


# --- refusals: before any execution ------------------------------------------------------------

def _refusal(dist, subs, **kw):
    with pytest.raises(G.Refused) as err:
        G.grade(subs, dist / "autograder", subs.parent / "grades", **kw)
    return "\n".join(err.value.problems)


def test_refuses_a_missing_submission_and_a_wrong_name(dist, tmp_path):
    subs = tmp_path / "subs"
    _submit(subs, "alice", dist / "student" / "99-Demo.ipynb")
    (subs / "bob").mkdir()
    shutil.copy(dist / "student" / "99-Demo.ipynb", subs / "bob" / "99-Demo (1).ipynb")
    message = _refusal(dist, subs)
    assert "bob/99-Demo.ipynb is missing" in message
    assert "bob/99-Demo (1).ipynb: not a notebook being graded; rename it to one of 99-Demo.ipynb" in message
    assert "alice" not in message
    assert not (tmp_path / "grades").exists()


def test_refuses_bad_manual_scores(dist, tmp_path):
    subs = tmp_path / "subs"
    _submit(subs, "alice", dist / "student" / "99-Demo.ipynb")
    manual = tmp_path / "manual.csv"
    manual.write_text("student,question,points\nalice,99-why,3\nalice,99-cost,1\nzoe,99-why,1\n")
    message = _refusal(dist, subs, manual=manual)
    assert f"{manual} line 2: 3 points for 99-why, which is worth 2; give between 0 and 2" in message
    assert "line 3: '99-cost' is not a written question" in message
    assert "line 4: no submission folder for student 'zoe'" in message
    manual.write_text("name,score\nalice,1\n")
    assert "the columns must be student,question,points" in _refusal(dist, subs, manual=manual)


def test_refuses_without_a_built_release(tmp_path):
    with pytest.raises(G.Refused, match=r"questions.json is missing: build the release first \(make student\)"):
        G.grade(tmp_path, tmp_path / "autograder", tmp_path / "grades")


# --- grading: three executions ------------------------------------------------------------------

def test_gradebook_ranks_solved_planted_and_untouched(dist, tmp_path):
    subs = tmp_path / "subs"
    _submit(subs, "alice", dist / "autograder" / "99-Demo.ipynb")  # the solved notebook
    _submit(subs, "bob", dist / "student" / "99-Demo.ipynb")  # the untouched release
    _submit(subs, "carol", dist / "student" / "99-Demo.ipynb", {  # square right, the cost misses b_up
        "def square(x):\n    ...": "def square(x):\n    return x * x",
        "def adapter_cost(d, m):\n    ...": "def adapter_cost(d, m):\n    return 2 * d * m + d"})
    manual = tmp_path / "manual.csv"
    manual.write_text("student,question,points\nalice,99-why,2\ncarol,99-why,1\n")
    target = G.grade(subs, dist / "autograder", tmp_path / "grades", manual=manual)
    assert target == tmp_path / "grades" / "gradebook.csv"
    assert target.read_text() == ("student,99-square,99-cost,99-why,total,possible\n"
                                  "alice,3,3,2,8,8\nbob,0,0,0,0,8\ncarol,3,1,1,5,8\n")
    assert len(list(csv.DictReader(target.open()))) == 3
    feedback = {p.stem: p.read_text() for p in (tmp_path / "grades" / "feedback").glob("*.txt")}
    assert set(feedback) == {"alice", "bob", "carol"}
    assert "not done yet" in feedback["bob"] and "99-why (written): 0 / 2" in feedback["bob"]
    assert "count W_down, b_down, W_up and b_up" in feedback["carol"] and "Total: 5 / 8" in feedback["carol"]


# --- the notebooks a student and the CI run: two executions -------------------------------------

@pytest.mark.parametrize("view", ["student", "solved"])
def test_the_notebook_runs_to_the_end_and_its_checks_speak_plainly(dist, tmp_path, view):
    from nbclient import NotebookClient
    folder = tmp_path / "lab"
    shutil.copytree(dist / "student" / "exercise-tests", folder / "exercise-tests")
    nb = B.notebook(B.parse(DEMO.read_text(), view), "99-Demo")
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = json.dumps([o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in outputs])
    assert "Traceback" not in shown
    if view == "student":
        assert shown.count("not done yet") >= 2 and "done: 99136" in shown  # the lesson reaches its end
    else:
        assert shown.count("passed") >= 2 and "not done yet" not in shown


# --- the real lab: notebook 01 (CI step, two quick-profile executions) ---------------------------

@pytest.mark.skipif(not os.environ.get("LAB_DATA_DIR"), reason="needs LAB_DATA_DIR (the GLUE data)")
def test_release_of_01_grades_zero_and_solved_full(tmp_path):
    src = next((ROOT / "notebook-sources").glob("01-*.py"))
    if not B.is_master(src.read_text()):
        pytest.skip(f"{src.name} has no questions yet")
    B.build_release(sorted((ROOT / "notebook-sources").glob("*.py")), tmp_path / "dist")  # make student
    subs = tmp_path / "subs"
    for student, nb in (("solved", ROOT / f"{src.stem}.ipynb"), ("untouched", tmp_path / "dist" / "student" / f"{src.stem}.ipynb")):
        (subs / student).mkdir(parents=True)
        shutil.copy(nb, subs / student / nb.name)
    target = G.grade(subs, tmp_path / "dist" / "autograder", tmp_path / "grades", notebooks=[src.stem[:2]])
    rows = {r["student"]: r for r in csv.DictReader(target.open())}
    coding = [q for q in B.questions(src.read_text()) if not q["manual"]]
    assert coding, f"{src.name}: no coding question"
    for q in coding:
        assert float(rows["solved"][q["name"]]) == q["points"], f"solved {src.stem}: {q['name']} not full marks"
        assert float(rows["untouched"][q["name"]]) == 0, f"untouched release: {q['name']} scored"
