"""Build the lab's notebooks from their sources in notebook-sources/ (jupytext's percent format).

    # %% [markdown]            a markdown cell; its lines start with "# "
    # %%                       a code cell
    # %% tags=["parameters"]   a code cell with tags (papermill, nbval-check-output, ...)
    # %% [raw]                 otter-grader's markers (# ASSIGNMENT CONFIG, # BEGIN QUESTION, ...)

jupytext reads the sources; this script adds only what the lab wants on top: stable cell ids
("01-000", ...), the python3 kernel, and no jupytext bookkeeping in the notebooks.

A source whose first raw cell is otter-grader's `# ASSIGNMENT CONFIG` is a master: solutions,
tests and question markers (see README, "For instructors"). `otter assign` turns it into
  - the top-level NN-Name.ipynb, the SOLVED notebook (otter's solution notebook: markers and test
    cells gone, solutions and the `grader.check(...)` cells kept), and the public tests that those
    checks read, exercise-tests/<question>.py (committed; the same files the students get);
  - with --student: dist/student/ (the student release: solutions replaced by `...`, public tests
    only, plus labutils/ and the requirements, so the folder runs as the lab folder) and
    dist/autograder/ (one otter zip per notebook, with the hidden tests; the solution notebooks with
    the rubrics; questions.json, what tools/grade.py grades).
A source without questions builds exactly as before (its top-level notebook, and a copy in the release).

The .ipynb files at the top level are rebuilt from these sources (without outputs) and then
executed by `make notebooks-commit`, which stores a real run.
Usage: python tools/build_notebooks.py [--markdown-only | --student [--dist DIR]] [NAME ...]  (--help)
"""
import contextlib
import functools
import io
import json
import logging
import shutil
import tempfile
import zipfile
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "notebook-sources"
TESTS_DIR = "exercise-tests"  # where grader = otter.Notebook(tests_dir="exercise-tests") finds the public tests
KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
          "language_info": {"name": "python"}}


def _tidy(cells: list) -> list:
    for cell in cells:
        # jupytext records blank-line spacing (lines_to_next_cell), otter its own keys: not needed here
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return cells


def _raw_cells(text: str) -> list:
    return jupytext.reads(text, fmt="py:percent").cells


def is_master(text: str) -> bool:
    """Whether a source is an otter master (its first raw cell is `# ASSIGNMENT CONFIG`)."""
    raw = [c for c in _raw_cells(text) if c.cell_type == "raw"]
    return bool(raw) and raw[0].source.lstrip().startswith("# ASSIGNMENT CONFIG")


def questions(text: str) -> list:
    """The questions of a master, in order: [{"name", "points", "manual"}] (from # BEGIN QUESTION)."""
    found = []
    for cell in _raw_cells(text):
        if cell.cell_type == "raw" and cell.source.lstrip().startswith("# BEGIN QUESTION"):
            conf = yaml.safe_load(cell.source.lstrip().removeprefix("# BEGIN QUESTION")) or {}
            found.append({"name": str(conf["name"]), "points": conf.get("points", 0),
                          "manual": bool(conf.get("manual", False))})
    return found


def otter_assign(text: str, stem: str, out: Path) -> Path:
    """Run `otter assign` (no test run, no PDFs) on a master: out/student, out/autograder."""
    from otter.assign import main as assign  # only masters need otter-grader
    with tempfile.TemporaryDirectory() as tmp:
        master = Path(tmp) / f"{stem}.ipynb"
        nb = nbformat.v4.new_notebook(cells=_tidy(_raw_cells(text)), metadata=dict(KERNEL))
        nbformat.write(nb, master)
        logging.getLogger("otter").setLevel(logging.WARNING)
        with contextlib.redirect_stdout(io.StringIO()):
            assign(str(master), str(out), no_run_tests=True, no_pdfs=True)
    return out


@functools.lru_cache(maxsize=None)
def _views(text: str) -> dict:
    """What otter makes of a master: the solved and student cells and the public tests."""
    with tempfile.TemporaryDirectory() as tmp:
        out = otter_assign(text, "master", Path(tmp) / "dist")
        read = lambda p: nbformat.read(p, as_version=4).cells  # noqa: E731
        return {"solved": read(out / "autograder" / "master.ipynb"),
                "student": read(out / "student" / "master.ipynb"),
                "tests": {p.name: p.read_text() for p in sorted((out / "student" / "tests").glob("*.py"))}}


def parse(text: str, view: str = "solved") -> list:
    """The cells of a built notebook, with only the metadata the notebooks keep (tags).

    A plain source: its cells. A master: the solved notebook's cells (view="solved", the top-level
    notebook) or the student release's (view="student")."""
    if not is_master(text):
        return _tidy(_raw_cells(text))
    return _tidy([nbformat.from_dict(json.loads(json.dumps(c))) for c in _views(text)[view]])


def notebook(cells: list, stem: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=cells, metadata=dict(KERNEL))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{stem[:2]}-{i:03d}"  # stable ids: a rebuild does not churn every cell
    return nb


def public_tests(src: Path) -> dict:
    text = src.read_text()
    return _views(text)["tests"] if is_master(text) else {}


def write_public_tests(src: Path, folder: Path) -> list:
    """exercise-tests/<question>.py for one notebook; stale files of its questions are removed."""
    tests = public_tests(src)
    folder.mkdir(exist_ok=True)
    for old in folder.glob(f"{src.stem[:2]}-*.py"):
        if old.name not in tests:
            old.unlink()
    for name, body in tests.items():
        (folder / name).write_text(body)
    return sorted(tests)


def build(src: Path) -> Path:
    text = src.read_text()
    target = ROOT / f"{src.stem}.ipynb"
    nbformat.write(notebook(parse(text), src.stem), target)
    if is_master(text):
        write_public_tests(src, ROOT / TESTS_DIR)
    return target


def update_markdown(src: Path) -> Path:
    target = ROOT / f"{src.stem}.ipynb"
    nb = nbformat.read(target, as_version=4)
    fresh = parse(src.read_text())
    if len(fresh) != len(nb.cells) or any(
            a.cell_type != b.cell_type or (a.cell_type == "code" and a.source != b.source)
            for a, b in zip(fresh, nb.cells)):
        raise SystemExit(f"{target.name}: code cells differ from {src.name}; rebuild and re-run it instead.")
    for a, b in zip(fresh, nb.cells):
        if b.cell_type == "markdown":
            b.source = a.source
    nbformat.write(nb, target)
    return target


def _copy_zip_without_name_check(source: Path, target: Path) -> None:
    """Copy otter's autograder zip, dropping assignment_name from its otter_config.json: otter then
    refuses any notebook whose metadata lacks the name (Colab and editors may drop it); tools/grade.py
    checks the file name instead."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "otter_config.json":
                config = json.loads(data)
                config.pop("assignment_name", None)
                data = json.dumps(config, indent=2).encode()
            zout.writestr(item, data)


def build_release(sources: list, dist: Path, root: Path = ROOT) -> Path:
    """dist/student (the release, a runnable lab folder) and dist/autograder (zips, questions.json)."""
    student, grader = dist / "student", dist / "autograder"
    for folder in (student, grader):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    index = {"notebooks": {}, "questions": []}
    for src in sources:
        text = src.read_text()
        if not is_master(text):
            nbformat.write(notebook(parse(text), src.stem), student / f"{src.stem}.ipynb")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = otter_assign(text, src.stem, Path(tmp) / "dist")
            cells = _tidy(nbformat.read(out / "student" / f"{src.stem}.ipynb", as_version=4).cells)
            nbformat.write(notebook(cells, src.stem), student / f"{src.stem}.ipynb")
            (student / TESTS_DIR).mkdir(exist_ok=True)
            for test in (out / "student" / "tests").glob("*.py"):
                shutil.copy(test, student / TESTS_DIR / test.name)
            zipped = next((out / "autograder").glob("*.zip"))  # otter's name carries a timestamp
            _copy_zip_without_name_check(zipped, grader / f"{src.stem}-autograder.zip")
            solved = _tidy(nbformat.read(out / "autograder" / f"{src.stem}.ipynb", as_version=4).cells)
            nbformat.write(notebook(solved, src.stem), grader / f"{src.stem}.ipynb")
        qs = questions(text)
        index["notebooks"][src.stem] = [q["name"] for q in qs]
        index["questions"] += [{**q, "notebook": src.stem} for q in qs]
    names = [q["name"] for q in index["questions"]]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SystemExit(f"question names used twice: {duplicated}; names are NN-short and unique across the lab")
    (grader / "questions.json").write_text(json.dumps(index, indent=1) + "\n")
    if (root / "labutils").is_dir():
        shutil.copytree(root / "labutils", student / "labutils", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for extra in ("requirements.txt", "requirements-colab.txt"):
        if (root / extra).is_file():
            shutil.copy(root / extra, student / extra)
    return dist


def main(argv=None) -> None:
    import argparse
    # allow_abbrev off: only the exact options run; a typo must never fall through to a plain
    # build, which empties the executed notebooks' outputs (it did once).
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("names", nargs="*", metavar="NAME", help="notebooks to build, by prefix (default: all)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--markdown-only", action="store_true",
                      help="update only the prose of an executed notebook, keeping its outputs (refused when a "
                           "code cell differs from its source: then the notebook must be re-run)")
    mode.add_argument("--student", action="store_true", help="build the release into --dist; executes nothing")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where --student builds (default: dist/)")
    args = parser.parse_args(argv)
    chosen = [s for s in sorted(SRC.glob("*.py")) if not args.names or any(s.stem.startswith(n) for n in args.names)]
    if args.student:
        build_release(chosen, args.dist)
        print(f"student release: {args.dist / 'student'}   autograder: {args.dist / 'autograder'}")
    else:
        for src in chosen:
            print("updated" if args.markdown_only else "built", (update_markdown if args.markdown_only else build)(src).name)


if __name__ == "__main__":
    main()
