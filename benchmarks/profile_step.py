"""Where a training step's time goes: full fine-tuning against Houlsby adapters, op by op.

`bench_training.py` gives the step times and their ratio; this script says why the ratio is
what it is. It runs `--steps` training steps of each method under `torch.profiler` on one
synthetic batch and prints, per method, the share of the step in matrix products (where the
frozen base saves its weight gradients) and in dropout's random masks (`aten::bernoulli_`, a
cost both methods pay in full), then the top ops.

Run from the repository root:  python benchmarks/profile_step.py [--steps 2]
"""
from __future__ import annotations

from dataclasses import dataclass, field

import common  # noqa: F401  (puts the repository root on sys.path)
from common import SyntheticBatchConfig, parse_config

import torch
from torch.profiler import ProfilerActivity, profile

import labutils as L

MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm")
DROPOUT_OPS = ("aten::bernoulli_",)


@dataclass
class ProfileConfig(SyntheticBatchConfig):
    """Options of the training-step profile."""
    steps: int = field(default=2, metadata={"help": "Profiled steps per method, after one untimed step."})
    top: int = field(default=8, metadata={"help": "Ops listed per method."})


def build(choice, method: str, reduction_factor: int):
    if method == "adapters":
        model, tokenizer = L.recipes.adapter_model(choice, ["0", "1"], "bench", L.AdapterConfig(reduction_factor=reduction_factor))
    else:
        model, tokenizer = L.load_base_model(choice, ["0", "1"])
    model.train()
    return model, tokenizer


def profile_method(choice, method: str, cfg: ProfileConfig) -> dict:
    torch.manual_seed(0)
    model, tokenizer = build(choice, method, cfg.reduction_factor)
    batch = L.latency.synthetic_batch(tokenizer, cfg.batch_size, cfg.seq_len)
    labels = torch.zeros(cfg.batch_size, dtype=torch.long)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # lazy initialisation stays out of the profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(cfg.steps):
            step()
    ops = {e.key: e.self_cpu_time_total / 1000 / cfg.steps for e in prof.key_averages()}  # ms per step
    total = sum(ops.values())
    return {"total_ms": total, "matmul_ms": sum(ops.get(k, 0) for k in MATMUL_OPS),
            "dropout_ms": sum(ops.get(k, 0) for k in DROPOUT_OPS),
            "top": sorted(ops.items(), key=lambda kv: -kv[1])[:cfg.top]}


def main(argv=None) -> dict:
    cfg = parse_config(ProfileConfig, __doc__.splitlines()[0], argv)
    choice = L.resolve_model(cfg.model)
    print(f"{choice.display_name} | {L.device_summary('cpu')} | batch {cfg.batch_size} x {cfg.seq_len} tokens | "
          f"{cfg.steps} profiled steps per method (CPU self time per step)")
    results = {m: profile_method(choice, m, cfg) for m in ("full", "adapters")}
    for method, r in results.items():
        print(f"\n{method}: {r['total_ms']:,.0f} ms per step; matrix products {r['matmul_ms']:,.0f} ms "
              f"({100 * r['matmul_ms'] / r['total_ms']:.0f}%), dropout masks {r['dropout_ms']:,.0f} ms "
              f"({100 * r['dropout_ms'] / r['total_ms']:.0f}%)")
        for name, ms in r["top"]:
            print(f"  {name:32s} {ms:9,.1f} ms")
    full, ad = results["full"], results["adapters"]
    print(f"\nadapter step {full['total_ms'] / ad['total_ms']:.2f}x faster than full fine-tuning in CPU time; "
          f"{(full['total_ms'] - full['dropout_ms']) / (ad['total_ms'] - ad['dropout_ms']):.2f}x "
          f"without the dropout masks both pay; matrix products alone {full['matmul_ms'] / ad['matmul_ms']:.2f}x.")
    return results


if __name__ == "__main__":
    main()
