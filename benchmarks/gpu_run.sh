#!/usr/bin/env bash
# On a lent GPU machine, from the kit that benchmarks/gpu_kit.py packed: every GPU figure benchmarks/RESULTS.md
# quotes, in one command. Installs the carried wheels beside the machine's own packages, points
# the lab at the carried model and MRPC files, then, each step under its own time limit so that
# one failure does not lose the rest:
#   1. the training / latency / memory benchmark on the offline default model, eager and with
#      torch.compile (ratios from one process, the methods taking turns);
#   2. the same on a random-weight BERT-base (the paper's shape; speed does not depend on the
#      weights' values), eager and compiled;
#   3. notebook 02's code on CUDA through the Trainer (profile LAB_PROFILE, default full), in the
#      precision pick_precision chooses;
#   4. dynamic padding against pad-to-128, and the speed knobs.
# Everything lands in outputs/benchmarks/ and, on the device machine, in $OUT (log + one tarball).
#   usage: bash benchmarks/gpu_run.sh [KIT=.carry]
set -uo pipefail
cd "$(dirname "$0")/.."
KIT=${1:-.carry}
PY=${PYTHON:-python3}
RES=outputs/benchmarks
[ -d "$KIT/all-MiniLM-L6-v2-fp16" ] || { echo "no kit at $KIT: run 'python benchmarks/gpu_kit.py' first and carry it" >&2; exit 2; }
if compgen -G "$KIT/whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --root-user-action=ignore --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/lab-site "$KIT"/whl/*.whl || exit 3
  export PYTHONPATH=/tmp/lab-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # notebook-sources/02-Train.py imports labutils from here
export LAB_MODEL="$KIT/all-MiniLM-L6-v2-fp16" LAB_DATA_DIR="$KIT/glue" HF_HUB_OFFLINE=1 \
       TRANSFORMERS_VERBOSITY=error PYTHONUNBUFFERED=1 MPLBACKEND=Agg TQDM_DISABLE=1
mkdir -p "$RES"
step() {  # step NAME SECONDS COMMAND...: run one step, log its time and exit status, go on regardless
  local name=$1 limit=$2; shift 2
  echo; echo "== $name (limit ${limit}s)"; local t0=$SECONDS
  timeout "$limit" "$@"; local rc=$?
  echo "== $name: exit $rc after $((SECONDS - t0)) s"
  # After every step, so that a run stopped at its limit still brings back what it measured.
  if [ -n "${OUT:-}" ]; then tar czf "$OUT/gpu_results.tar.gz" --exclude=adapters --exclude=runs "$RES"; fi
}
step versions 60 "$PY" -c "
import torch, transformers, peft, datasets, labutils as L
d = L.pick_device()
print('torch', torch.__version__, '| transformers', transformers.__version__, '| peft', peft.__version__,
      '| datasets', datasets.__version__, '| device', d, L.device_summary(d), '| capability',
      torch.cuda.get_device_capability() if d == 'cuda' else None, '| precision', L.pick_precision(d))"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
G="--steps ${GPU_STEPS:-50} --warmup 5 --repeats ${GPU_STEPS:-50}"
# Most wanted first: if the machine's time runs out, what is left is the least needed.
step "bench_training (MiniLM)" 100 "$PY" benchmarks/bench_training.py $G --out $RES/bench.json
step "02-Train on CUDA (profile ${LAB_PROFILE:=full})" 200 env LAB_PROFILE="$LAB_PROFILE" LAB_OUTPUT_DIR="$RES/02-train-$LAB_PROFILE" "$PY" notebook-sources/02-Train.py
step "random BERT-base" 40 "$PY" benchmarks/random_bert.py /tmp/bert-base-random
step "bench_training (BERT-base shape)" 100 "$PY" benchmarks/bench_training.py $G --model /tmp/bert-base-random --out $RES/bench_bert_base.json
step "bench_training (MiniLM, torch.compile)" 120 "$PY" benchmarks/bench_training.py $G --compile --out $RES/bench_compile.json
step "bench_training (BERT-base shape, torch.compile)" 120 "$PY" benchmarks/bench_training.py $G --compile --model /tmp/bert-base-random --out $RES/bench_bert_base_compile.json
step "bench_padding" 60 "$PY" benchmarks/bench_padding.py --rows 1024 --steps 8 --out $RES/padding.json
step "bench_knobs (eager attention against SDPA; compile is above)" 60 "$PY" benchmarks/bench_knobs.py $G --no-compile --out $RES/knobs.json
