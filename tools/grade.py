"""Grade a folder of submitted notebooks offline (no Docker) into a gradebook and per-student feedback.

    python tools/grade.py SUBMISSIONS [--manual manual.csv] [--full] [--notebooks 01 02]
                          [--autograder dist/autograder] [--out grades]

SUBMISSIONS/<student>/NN-Name.ipynb (the notebook names of the release; a student may hand in only
some notebooks when --notebooks says which are graded) ->
  OUT/gradebook.csv         one row per student, one column per question (coding and written), then
                            total and possible
  OUT/feedback/<student>.txt otter's report per notebook (hidden tests included) and the written scores
Each submission is re-executed by otter-grader (`otter run`, what `otter grade` does in Docker),
against dist/autograder/NN-Name-autograder.zip from `make student`, in the quick profile
(LAB_PROFILE=quick: tiny data, fast) unless --full. Written questions (manual: true) take their
points from --manual, a CSV with columns student,question,points; a missing score counts 0 and is
listed. The run refuses, before executing anything, a missing submission, a notebook of the wrong
name, and a manual score that is unknown or above the question's points.
"""
import argparse
import contextlib
import csv
import io
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Refused(SystemExit):
    def __init__(self, problems: list):
        super().__init__("grading refused:\n  " + "\n  ".join(problems))
        self.problems = problems


def load_index(autograder: Path) -> dict:
    index = autograder / "questions.json"
    if not index.is_file():
        raise Refused([f"{index} is missing: build the release first (make student)"])
    return json.loads(index.read_text())


def find_submissions(submissions: Path, notebooks: list) -> dict:
    """{student: {notebook stem: path}}; refuses missing or misnamed notebooks."""
    if not submissions.is_dir():
        raise Refused([f"{submissions} is not a folder; expected SUBMISSIONS/<student>/NN-Name.ipynb"])
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise Refused([f"{submissions} has no student folders; expected {submissions}/<student>/NN-Name.ipynb"])
    problems, found = [], {}
    expected = ", ".join(f"{n}.ipynb" for n in notebooks)
    for folder in students:
        found[folder.name] = {}
        for nb in sorted(folder.glob("*.ipynb")):
            if nb.stem in notebooks:
                found[folder.name][nb.stem] = nb
            else:
                problems.append(f"{nb}: not a notebook being graded; rename it to one of {expected} "
                                "(or remove it)")
        for stem in notebooks:
            if stem not in found[folder.name]:
                problems.append(f"{folder / (stem + '.ipynb')} is missing: add the student's {stem}.ipynb "
                                "(or grade fewer notebooks with --notebooks)")
    if problems:
        raise Refused(problems)
    return found


def read_manual(path: Path, questions: list, students: list) -> dict:
    """{(student, question): points} from a CSV student,question,points; refuses what is wrong."""
    manual = {q["name"]: q["points"] for q in questions if q["manual"]}
    scores, problems = {}, []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"student", "question", "points"} <= set(rows[0]):
        raise Refused([f"{path}: the columns must be student,question,points (found {','.join(rows[0])})"])
    for line, row in enumerate(rows, start=2):
        student, question = row["student"].strip(), row["question"].strip()
        where = f"{path} line {line}"
        if question not in manual:
            problems.append(f"{where}: {question!r} is not a written question being graded "
                            f"(written questions: {', '.join(manual) or 'none'})")
            continue
        if student not in students:
            problems.append(f"{where}: no submission folder for student {student!r}")
            continue
        try:
            points = float(row["points"])
        except ValueError:
            problems.append(f"{where}: points {row['points']!r} is not a number")
            continue
        if not 0 <= points <= manual[question]:
            problems.append(f"{where}: {points:g} points for {question}, which is worth {manual[question]:g}; "
                            f"give between 0 and {manual[question]:g}")
        if (student, question) in scores:
            problems.append(f"{where}: a second score for {student} {question}; keep one")
        scores[(student, question)] = points
    if problems:
        raise Refused(problems)
    return scores


def grade(submissions: Path, autograder: Path = ROOT / "dist" / "autograder", out: Path = ROOT / "grades",
          manual: Path = None, full: bool = False, notebooks: list = None) -> Path:
    index = load_index(autograder)
    stems = [s for s in index["notebooks"] if not notebooks or any(s.startswith(n) for n in notebooks)]
    if not stems:
        raise Refused([f"no notebook with questions matches {notebooks} in {autograder}/questions.json"])
    questions = [q for q in index["questions"] if q["notebook"] in stems]
    found = find_submissions(submissions, stems)
    scores = read_manual(manual, questions, list(found)) if manual else {}

    from otter.run import main as otter_run  # only grading needs otter-grader
    env = {"LAB_PROFILE": "full" if full else "quick", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TQDM_DISABLE": "1", "TRANSFORMERS_VERBOSITY": "error",
           # otter runs the notebook in a temporary folder: the kernel must still import labutils
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    os.environ.update(env)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    rows, missing = [], []
    for student, notebooks_of in found.items():
        row, report = {"student": student}, [f"Feedback for {student}\n"]
        for stem in stems:
            with tempfile.TemporaryDirectory() as results_dir:
                os.environ["LAB_OUTPUT_DIR"] = results_dir  # a student's run never writes into outputs/
                with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # otter prints its summary (it goes to feedback) and warns on pandas 3
                    results = otter_run(str(notebooks_of[stem]), output_dir=None, no_logo=True,
                                        autograder=str(autograder / f"{stem}-autograder.zip"))
            report.append(f"== {stem}\n{results.summary()}\n")
            for q in (q for q in questions if q["notebook"] == stem):
                if q["manual"]:
                    if (student, q["name"]) not in scores:
                        missing.append(f"{student} {q['name']}")
                    row[q["name"]] = scores.get((student, q["name"]), 0)
                    report.append(f"{q['name']} (written): {row[q['name']]:g} / {q['points']:g}\n")
                else:
                    row[q["name"]] = results.get_score(q["name"]) if q["name"] in results.test_files else 0
        row["total"] = sum(row[q["name"]] for q in questions)
        row["possible"] = sum(q["points"] for q in questions)
        rows.append(row)
        report.append(f"Total: {row['total']:g} / {row['possible']:g}\n")
        (out / "feedback" / f"{student}.txt").write_text("\n".join(report))
        print(f"{student}: {row['total']:g}/{row['possible']:g}", flush=True)
    target = out / "gradebook.csv"
    with target.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["student", *(q["name"] for q in questions), "total", "possible"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: (f"{v:g}" if isinstance(v, (int, float)) else v) for k, v in r.items()} for r in rows)
    if missing:
        print("no written score (counted 0):", "; ".join(missing))
    return target


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("submissions", type=Path, help="folder of <student>/NN-Name.ipynb")
    p.add_argument("--manual", type=Path, help="CSV student,question,points for the written questions")
    p.add_argument("--full", action="store_true", help="execute in the full profile (slow) instead of quick")
    p.add_argument("--notebooks", nargs="*", help="grade only these notebooks (e.g. 01 02)")
    p.add_argument("--autograder", type=Path, default=ROOT / "dist" / "autograder")
    p.add_argument("--out", type=Path, default=ROOT / "grades")
    a = p.parse_args(argv)
    target = grade(a.submissions, a.autograder, a.out, a.manual, a.full, a.notebooks)
    print(f"gradebook: {target}   feedback: {a.out / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
