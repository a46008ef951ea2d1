"""Grade a folder of otter submissions offline (no Docker) into one CSV and per-student feedback.

Usage: python grade_folder.py AUTOGRADER.zip SUBMISSIONS_DIR OUT_DIR
SUBMISSIONS_DIR/<student>/<notebook>.ipynb -> OUT_DIR/grades.csv (one row per student, one column
per question, then total) and OUT_DIR/feedback/<student>.txt (otter's own report, hidden tests
included). `otter grade` does the same but only in Docker containers, absent here, so this loops
over otter.run.main (what `otter run` calls), one submission at a time.
"""
import csv
import sys
from pathlib import Path

from otter.run import main as otter_run


def grade(autograder: Path, submissions: Path, out: Path) -> Path:
    rows, questions = [], []
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    for nb in sorted(submissions.glob("*/*.ipynb")):
        student = nb.parent.name
        results = otter_run(str(nb), autograder=str(autograder), output_dir=None, no_logo=True)
        questions = questions or list(results.test_files)
        row = {"student": student, **{q: results.get_score(q) for q in questions},
               "total": results.total, "possible": results.possible}
        rows.append(row)
        (out / "feedback" / f"{student}.txt").write_text(results.summary())
        print(f"{student}: {results.total}/{results.possible}")
    target = out / "grades.csv"
    with target.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["student", *questions, "total", "possible"])
        writer.writeheader()
        writer.writerows(rows)
    return target


if __name__ == "__main__":
    print("wrote", grade(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
