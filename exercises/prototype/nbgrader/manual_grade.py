"""Record a manual score for a written answer from the command line (formgrader's form, scripted).

Usage: python manual_grade.py DB_URL ASSIGNMENT STUDENT CELL SCORE [COMMENT]
nbgrader's own way is the formgrader page in JupyterLab; this does the same write through its
Gradebook API, so that CI (and an instructor without a browser) can grade a written answer.
"""
import sys

from nbgrader.api import Gradebook


def grade(db_url, assignment, student, cell, score, comment=""):
    with Gradebook(db_url) as gb:
        nb = gb.find_assignment(assignment).notebooks[0].name
        g = gb.find_grade(cell, nb, assignment, student)
        if not 0 <= float(score) <= g.max_score:
            raise SystemExit(f"score {score} is outside 0..{g.max_score} for {cell}: give a score in that range")
        g.manual_score = float(score)
        g.needs_manual_grade = False
        if comment:
            gb.find_comment(cell, nb, assignment, student).manual_comment = comment
        gb.db.commit()


if __name__ == "__main__":
    grade(*sys.argv[1:])
