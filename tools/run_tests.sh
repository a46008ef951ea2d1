#!/usr/bin/env bash
# The lab's test command (`make test`): the unit tests, then every notebook under nbval in the
# quick profile, offline, in one pytest run. Quick runs write to a throwaway folder, so they
# never overwrite the results of a real run in outputs/.
# The student release is covered by tests/test_grading.py: a tiny master end to end (build,
# grade solved/planted/untouched, refusals), and, when the data is there, the CI step
# test_release_of_01_grades_zero_and_solved_full: build the release (what `make student` does, no
# execution), then grade the untouched release of 01 (0 on every coding question) and the solved
# 01 (full marks), one quick-profile execution each.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TQDM_DISABLE=1 LAB_PROFILE=quick
export LAB_OUTPUT_DIR="${LAB_OUTPUT_DIR:-$(mktemp -d -t lab-quick-XXXX)}"
targets=(tests)
if [ -n "${LAB_DATA_DIR:-}" ]; then
  targets+=([0-9][0-9]-*.ipynb)
else
  echo "NOTE: LAB_DATA_DIR is not set and ../shared/data/glue does not exist, so the notebooks are not"
  echo "      checked; only the unit tests run (they make their own small data)."
fi
# otter-grader imports ipylab, whose traitlets use is deprecated (a warning at import, not ours).
exec "$PY" -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
  -W "ignore:Traits should be given as instances:DeprecationWarning" "${targets[@]}"
