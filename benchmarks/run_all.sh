#!/usr/bin/env bash
# `make bench`: the CPU figures benchmarks/RESULTS.md quotes, in one command. The training-step / latency / memory
# benchmark, dynamic padding against pad-to-128, then the speed knobs (attention kernel,
# torch.compile, bf16), each writing JSON to outputs/benchmarks/.
# On a GPU the defaults apply (bf16 autocast, 10 timed steps); on a CPU fewer steps, the
# settings RESULTS.md's CPU figures come from.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
if "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then GPU=1; else GPU=0; fi
if [ "$GPU" = 1 ]; then
  echo "== bench_training.py (GPU)"
  "$PY" benchmarks/bench_training.py
else
  echo "== bench_training.py (CPU: 4 timed steps, 5 timed calls)"
  "$PY" benchmarks/bench_training.py --steps 4 --warmup 1 --repeats 5 --cpu-memory subprocess
fi
echo "== bench_padding.py (1,024 MRPC rows, 8 steps per arm)"
"$PY" benchmarks/bench_padding.py --rows 1024 --steps 8
if [ "$GPU" = 1 ]; then
  echo "== bench_knobs.py (GPU: eager attention and torch.compile against the lab default)"
  "$PY" benchmarks/bench_knobs.py
else
  echo "== bench_knobs.py (CPU: eager attention, torch.compile, bf16 autocast; 4 timed steps)"
  "$PY" benchmarks/bench_knobs.py --steps 4 --warmup 2 --repeats 6 --bf16
fi
