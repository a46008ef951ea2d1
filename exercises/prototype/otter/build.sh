#!/usr/bin/env bash
# Build the otter prototype: percent source -> master notebook -> student notebook + autograder zip.
set -euo pipefail
cd "$(dirname "$0")"
V=${GRADE_VENV:-/work/wt/grade-venv}/bin
export PYTHONPATH=$(git rev-parse --show-toplevel) HF_HUB_OFFLINE=1 TQDM_DISABLE=1
# otter assign needs metadata.kernelspec (KeyError otherwise): --set-kernel adds it.
nice -n 19 $V/jupytext --set-kernel python3 --to ipynb -o adapter01.ipynb adapter01.py
rm -rf dist
nice -n 19 $V/otter assign adapter01.ipynb dist
