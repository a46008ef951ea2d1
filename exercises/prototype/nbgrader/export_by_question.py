"""Export nbgrader's gradebook as one CSV: one row per student, one column per graded cell.

`nbgrader export` writes one row per student and assignment with the total only; the columns per
question come from its Python API (nbgrader.api.Gradebook), which is what its export plugins use.
Usage: python export_by_question.py DB_URL ASSIGNMENT OUT.csv
A manually graded cell without a manual score is written as "needs manual grade", never as 0.
"""
import csv
import sys

from nbgrader.api import Gradebook, MissingEntry


def export(db_url: str, assignment: str, target: str) -> None:
    with Gradebook(db_url) as gb:
        nb_names = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        cells = [(nb, cell.name, cell.max_score) for nb in nb_names
                 for cell in gb.find_notebook(nb, assignment).grade_cells]
        rows = []
        for student in gb.students:
            row = {"student": student.id}
            try:
                sub = gb.find_submission(assignment, student.id)
            except MissingEntry:
                rows.append(row | {"total": "no submission"})
                continue
            for nb, cell, _ in cells:
                grade = gb.find_grade(cell, nb, assignment, student.id)
                row[cell] = "needs manual grade" if grade.needs_manual_grade else grade.score
            row["total"], row["max"] = sub.score, sub.max_score
            rows.append(row)
    with open(target, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["student", *(f"{c}" for _, c, _ in cells), "total", "max"])
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    export(*sys.argv[1:4])
    print("wrote", sys.argv[3])
