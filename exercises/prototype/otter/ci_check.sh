#!/usr/bin/env bash
# What CI would run for the otter prototype, without Docker: build, the student release and the
# solution execute (nbval-lax), then grade alice (solved), bob (untouched) and carol (planted
# mistakes) and compare the gradebook with the marks each deserves.
set -euo pipefail
cd "$(dirname "$0")"
V=${GRADE_VENV:-/work/wt/grade-venv}/bin
export PYTHONPATH=$(git rev-parse --show-toplevel) HF_HUB_OFFLINE=1 TQDM_DISABLE=1
./build.sh > /dev/null 2>&1
nice -n 19 $V/python -m pytest -q -p no:cacheprovider --nbval-lax dist/student/adapter01.ipynb dist/autograder/adapter01.ipynb
out=$(mktemp -d)
nice -n 19 $V/python ../common/make_submissions.py dist/student/adapter01.ipynb $out/submissions
nice -n 19 $V/python grade_folder.py dist/autograder/*.zip $out/submissions $out/grades > /dev/null 2>&1
diff <(printf 'student,q1_adapter,q2_cost,total,possible\nalice,5,3,8,8\nbob,0,0,0,8\ncarol,3,0,3,8\n') <(tr -d '\r' < $out/grades/grades.csv) \
  && echo "gradebook as expected: $out/grades/grades.csv"
