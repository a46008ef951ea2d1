#!/usr/bin/env bash
# On a lent GPU machine, from the kit that benchmarks/gpu_kit.py packed: the figures README's
# GPU targets need, in one command. Installs the carried wheels (if any) beside the machine's
# own packages, points the lab at the carried model and MRPC files, runs `make bench`'s script
# (on CUDA: bf16 autocast, 10 timed steps), then the training benchmark again with
# torch.compile. The JSON lands in outputs/benchmarks/ and, on the device machine, in $OUT.
#   usage: bash benchmarks/gpu_run.sh [KIT=.carry]
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=${1:-.carry}
PY=${PYTHON:-python3}
[ -d "$KIT/all-MiniLM-L6-v2-fp16" ] || { echo "no kit at $KIT: run 'python benchmarks/gpu_kit.py' first and carry it" >&2; exit 2; }
if compgen -G "$KIT/whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --root-user-action=ignore --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/lab-site "$KIT"/whl/*.whl
  export PYTHONPATH=/tmp/lab-site${PYTHONPATH:+:$PYTHONPATH}
fi
export LAB_MODEL="$KIT/all-MiniLM-L6-v2-fp16" LAB_DATA_DIR="$KIT/glue" HF_HUB_OFFLINE=1 \
       TRANSFORMERS_VERBOSITY=error PYTHONUNBUFFERED=1
"$PY" -c "import torch, transformers, peft; print('torch', torch.__version__, '| transformers', transformers.__version__, '| peft', peft.__version__, '| cuda:', torch.cuda.is_available())"
bash benchmarks/run_all.sh "$PY"
echo "== bench_training.py --compile"
"$PY" benchmarks/bench_training.py --compile --out outputs/benchmarks/bench_compile.json
if [ -n "${OUT:-}" ]; then cp outputs/benchmarks/*.json "$OUT"/; fi
