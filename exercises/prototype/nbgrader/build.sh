#!/usr/bin/env bash
# Build the nbgrader prototype course and grade the test submissions:
# percent source -> source/ -> release/ (student) -> submitted/ (alice, bob, carol) -> autograded/,
# feedback/ and grades.csv (one row per student, one column per graded cell).
set -euo pipefail
cd "$(dirname "$0")"
V=${GRADE_VENV:-/work/wt/grade-venv}/bin
export PATH=$V:$PATH  # nbgrader runs `alembic` by name: the venv must be on PATH
export PYTHONPATH=$(git rev-parse --show-toplevel):$PWD HF_HUB_OFFLINE=1 TQDM_DISABLE=1
rm -rf course && mkdir -p course/source/adapter01
nice -n 19 $V/jupytext --set-kernel python3 --to ipynb -o course/source/adapter01/adapter01.ipynb adapter01.py
nice -n 19 $V/nbgrader generate_assignment adapter01 --force
nice -n 19 $V/python ../common/make_submissions.py course/release/adapter01/adapter01.ipynb course/tmp_sub
for s in course/tmp_sub/*; do
  mkdir -p course/submitted/$(basename $s)/adapter01 && mv $s/adapter01.ipynb course/submitted/$(basename $s)/adapter01/
done
rm -rf course/tmp_sub
nice -n 19 $V/nbgrader autograde adapter01
nice -n 19 $V/nbgrader generate_feedback adapter01
nice -n 19 $V/nbgrader export --to course/grades_builtin.csv
# The written answer: scored by hand (formgrader in JupyterLab, or this script), then the gradebook.
DB=sqlite:///$PWD/course/gradebook.db
nice -n 19 $V/python manual_grade.py $DB adapter01 alice q3_handout 2 "both points"
nice -n 19 $V/python manual_grade.py $DB adapter01 carol q3_handout 0 "the biases are not the slip"
nice -n 19 $V/python export_by_question.py $DB adapter01 course/grades.csv
cat course/grades.csv
diff <(printf 'student,q1_shape,q1_identity,q1_library,q1_params,q2_cost,q2_share,q3_handout,total,max\nalice,1.0,1.0,2.0,1.0,1.0,1.0,2.0,9.0,9.0\nbob,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,9.0\ncarol,1.0,0.0,0.0,1.0,0.0,0.0,0.0,2.0,9.0\n') <(tr -d '\r' < course/grades.csv) \
  && echo "gradebook as expected"
