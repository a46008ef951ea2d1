"""What the benchmark scripts share: options from a typed dataclass (and the fields common to
the synthetic-batch ones), the run's conditions, clocks that wait for the GPU, a plain-text
table and the JSON file.

The scripts are run as files (``python benchmarks/bench_training.py``), so this module puts the
repository root on ``sys.path`` to import labutils without installing it.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Optional, get_args, get_origin, get_type_hints

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Quiet, offline-safe defaults; an explicit environment still wins.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402


@dataclasses.dataclass
class SyntheticBatchConfig:
    """Options every synthetic-batch benchmark shares: the model, the batch, the adapter size."""
    model: Optional[str] = dataclasses.field(default=None, metadata={
        "help": "Hub name, local folder or 'offline' (the packaged MiniLM); default: labutils.resolve_model()."})
    batch_size: int = dataclasses.field(default=32, metadata={"help": "Sequences per training step (and per large inference batch)."})
    seq_len: int = dataclasses.field(default=128, metadata={"help": "Tokens per sequence (no padding)."})
    reduction_factor: int = dataclasses.field(default=16, metadata={"help": "Adapter bottleneck m = hidden / reduction_factor."})


def parse_config(cls, description: str, argv=None):
    """An instance of dataclass `cls` from the command line: one option per field, its help
    from the field's metadata, `--flag` for booleans, choices from metadata['choices']."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        option = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        if get_origin(kind) is not None and type(None) in get_args(kind):  # Optional[X] -> X
            kind = next(a for a in get_args(kind) if a is not type(None))
        help_text = f.metadata.get("help", "")
        if kind is bool:
            parser.add_argument(option, dest=f.name, action="store_true", default=f.default, help=help_text)
        else:
            parser.add_argument(option, dest=f.name, type=kind, default=f.default, help=help_text,
                                choices=f.metadata.get("choices"))
    return cls(**vars(parser.parse_args(argv)))


def autocast(device: str, precision: str):
    """bf16/fp16 autocast on a GPU; fp32 runs as it is."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.split(":")[0], dtype=dtype)


def resolve_precision(requested: str, device: str) -> str:
    """'auto' means the lab's choice: bf16 (or fp16) on CUDA, fp32 on CPU and MPS."""
    from labutils import pick_precision

    return pick_precision(device) if requested == "auto" else requested


def load_average() -> Optional[list]:
    """The 1/5/15-minute load average, to show whether other work competed for the CPU."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def environment(device: str, precision: str) -> dict:
    """The conditions a number was measured under."""
    import peft
    import transformers
    from labutils import device_summary

    return {
        "device": device,
        "device_name": device_summary(device),
        "precision": precision,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": load_average(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "platform": platform.platform(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def format_table(rows: list, columns: list) -> str:
    """A fixed-width text table of dict rows; numbers get a sensible number of digits."""
    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))
    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(b) for b in body)])


def write_json(path: str, payload: dict) -> Path:
    out = Path(path)  # relative paths are relative to where the script was started, as usual
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return out
