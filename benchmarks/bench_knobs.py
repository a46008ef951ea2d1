"""Which of the ecosystem's speed knobs pay for the lab's adapters, measured in one process.

The lab's default is SDPA attention, fp32 on a CPU (bf16 autocast on a GPU), no compilation.
Each knob below changes one thing; every variant trains the same Houlsby adapters on the same
model, weights and synthetic batch, and the variants take turns step by step (order rotating),
then call by call for inference, so that a slow moment of a shared machine lands on all alike:

  lab default      SDPA attention (what `load_base_model` asks for), the device's precision
  eager attention  the same network with transformers' plain attention (matmul, softmax, matmul)
  torch.compile    the lab default compiled (Inductor fuses the adapters' bias, activation and
                   residual add into their matrix products' neighbours); compile time is the
                   first step and is reported apart
  bf16 autocast    (``--bf16``) the lab default under bfloat16 autocast: on GPUs the default
                   already; on a CPU it pays only with AMX or AVX-512 BF16

Printed: adapter training step time and its speed-up over the lab default; adapter inference
latency at batch ``--batch-size`` and its speed-up. JSON in ``--out``.

Run from the repository root:  python benchmarks/bench_knobs.py [--steps 4] [--bf16] [--no-compile]
"""
from __future__ import annotations

import copy
import statistics
import time
from dataclasses import asdict, dataclass, field

import common  # noqa: F401  (puts the repository root on sys.path)
from common import (SyntheticBatchConfig, autocast, environment, format_table, load_average, parse_config,
                    resolve_precision, write_json)

import torch

import labutils as L
from bench_training import Trainee, build_method, time_training, training_batch


@dataclass
class KnobsConfig(SyntheticBatchConfig):
    """Options of the speed-knob benchmark."""
    steps: int = field(default=10, metadata={"help": "Timed training steps per variant."})
    warmup: int = field(default=2, metadata={"help": "Untimed steps and calls first (compilation happens here)."})
    repeats: int = field(default=10, metadata={"help": "Timed inference calls per variant."})
    no_compile: bool = field(default=False, metadata={"help": "Leave out the torch.compile variant (it compiles for minutes on a CPU)."})
    bf16: bool = field(default=False, metadata={"help": "Add the bf16-autocast variant (a GPU's default: there it is the lab default)."})
    out: str = field(default="outputs/benchmarks/knobs.json", metadata={"help": "Where the JSON results go."})
    seed: int = field(default=0, metadata={"help": "Seed for the synthetic batch, labels and new weights."})


def variants(cfg: KnobsConfig, device: str, precision: str) -> dict:
    """Name -> (attention implementation, precision, compile)."""
    out = {"lab default": ("sdpa", precision, False), "eager attention": ("eager", precision, False)}
    if not cfg.no_compile:
        out["torch.compile"] = ("sdpa", precision, True)
    if cfg.bf16 and precision != "bf16":
        out["bf16 autocast"] = ("sdpa", "bf16", False)
    return out


def adapter_model(base, attn: str, cfg: KnobsConfig):
    model = copy.deepcopy(base)
    if attn != "sdpa":
        model.set_attn_implementation(attn)
    return build_method(model, "adapters", cfg, in_place=True)


def main(cfg: KnobsConfig) -> dict:
    device = L.pick_device()
    precision = resolve_precision("auto", device)
    env = environment(device, precision)
    torch.manual_seed(cfg.seed)
    choice = L.resolve_model(cfg.model)
    base, tokenizer = L.load_base_model(choice)
    plan = variants(cfg, device, precision)
    print(f"{choice.display_name} | {env['device_name']} | batch {cfg.batch_size} x {cfg.seq_len} tokens | "
          f"{cfg.steps} timed steps after {cfg.warmup} | variants: {', '.join(plan)}", flush=True)

    trainees = {name: Trainee(adapter_model(base, attn, cfg), device, prec, comp)
                for name, (attn, prec, comp) in plan.items()}
    batch, labels = training_batch(tokenizer, cfg, device)
    timings = time_training(trainees, batch, labels, cfg, device)

    calls = {}
    for name, trainee in trainees.items():
        trainee.model.eval()
        calls[name] = L.latency.forward_pass(trainee.forward, batch, lambda prec=plan[name][1]: autocast(device, prec))
    latency = L.latency.interleaved_latency(calls, passes=cfg.repeats, warmup=cfg.warmup, device=device)

    ref_step = statistics.median(timings["lab default"]["step_s"])
    ref_latency = statistics.median(latency["lab default"])
    rows = []
    for name, (attn, prec, comp) in plan.items():
        step = statistics.median(timings[name]["step_s"])
        ms = statistics.median(latency[name])
        rows.append({"variant": name, "attention": attn, "precision": prec, "compiled": comp,
                     "train_step_ms": 1000 * step, "train_speedup": ref_step / step,
                     "first_step_ms": 1000 * timings[name]["first_step_s"],
                     "latency_ms": ms, "latency_speedup": ref_latency / ms})
    results = {"benchmark": "speed knobs for Houlsby adapters", "model": choice.display_name,
               "config": asdict(cfg), "environment": {**env, "load_average_at_end": load_average()}, "rows": rows}
    print(f"\nAdapter training step and inference at batch {cfg.batch_size} x {cfg.seq_len} "
          f"(load average {env['load_average_at_start']} -> {results['environment']['load_average_at_end']}); "
          "speed-up over the lab default, > 1 helps:")
    print(format_table(rows, ["variant", "train_step_ms", "train_speedup", "latency_ms", "latency_speedup", "first_step_ms"]))
    print(f"\nwrote {write_json(cfg.out, results)}")
    return results


if __name__ == "__main__":
    main(parse_config(KnobsConfig, __doc__))
