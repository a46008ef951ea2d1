"""How fast are adapters? Training and inference speed of full fine-tuning, the lab's Houlsby
adapters and peft's LoRA, measured in one process, on one model, on one batch.

Training: one step is forward + loss + backward + AdamW step + zero_grad, on a synthetic batch of
``--batch-size`` pairs exactly ``--seq-len`` tokens long (no padding, so every method does the
same work). After ``--warmup`` untimed steps, ``--steps`` steps are timed per method. The
methods take turns step by step (and the order rotates), so a job running beside the benchmark
slows all of them alike instead of whichever happened to run while it was busy.

Model-FLOPs utilisation (MFU) = model FLOPs / step time / peak FLOP/s, where model FLOPs are
6·N·tokens for full fine-tuning (forward 2N, backward 4N) and about 4·N·tokens when the base is
frozen (its weights need no gradients, only the activations do), N = the encoder's parameters
(non-embedding; the pooler and head act once per sequence, not per token). Attention-score FLOPs
and the adapters' / LoRA's own few FLOPs are not counted, as in the usual 6ND estimate.
Peak FLOP/s: ``--peak-tflops``, else a spec-sheet figure for known GPUs, else (and on a CPU
always) a large matmul timed in this same run with the same threads.

Inference: latency of ``model(**batch)`` at batch 1 and ``--batch-size`` for the base model,
with adapters and with LoRA (unmerged; merged LoRA is the base model by construction), the
models taking turns call by call (``labutils.latency.interleaved_latency``).

Memory: on CUDA the allocator's peak during one training step above what was resident before
it. On a CPU one process cannot tell the methods apart (its resident memory never shrinks), so
it is not measured unless ``--cpu-memory subprocess``, which runs each method in a fresh
process and reports that process's peak resident memory (ru_maxrss).

Run from the repository root:  python benchmarks/bench_training.py [--steps 5] [--compile]
"""
from __future__ import annotations

import copy
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import common  # noqa: F401  (puts the repository root on sys.path)
from common import (SyntheticBatchConfig, autocast, environment, format_table, load_average, parse_config,
                    resolve_precision, write_json)

import warnings

import torch

import labutils as L
from labutils.sweeps.baselines import make_peft_model

# transformers 5 deprecates a name peft still calls; the notice says nothing about speed.
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

TRAIN_METHODS = ("full", "adapters", "lora")
INFER_MODELS = ("base", "adapters", "lora")
# Dense bf16/fp16 tensor-core peak from the vendor's data sheet, TFLOP/s (no sparsity).
GPU_SPEC_TFLOPS = (("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("A100", 312.0), ("L4", 121.0))
# The ratios the course aims for (see benchmarks/README.md).
TARGETS = {
    "adapter_training_speedup": {"cuda": 1.3, "cpu": 2.0},   # adapter steps/s over full FT (wall clock), at least
    "adapter_latency_ratio_large_batch": {"cuda": 1.10},     # adapters / base at --batch-size, at most
}


@dataclass
class BenchConfig(SyntheticBatchConfig):
    """Options of the training/inference speed benchmark."""
    steps: int = field(default=10, metadata={"help": "Timed training steps per method."})
    warmup: int = field(default=2, metadata={"help": "Untimed steps and inference calls first (compilation happens here)."})
    repeats: int = field(default=10, metadata={"help": "Timed inference calls per model and batch size."})
    precision: str = field(default="auto", metadata={
        "help": "auto: bf16 autocast on CUDA (fp16 before Ampere), fp32 on CPU.", "choices": ["auto", "fp32", "bf16", "fp16"]})
    compile: bool = field(default=False, metadata={"help": "torch.compile every model; compile time shows as the first step."})
    peak_tflops: Optional[float] = field(default=None, metadata={
        "help": "Peak TFLOP/s for MFU; default: spec sheet for known GPUs, else a timed matmul."})
    attn: str = field(default="sdpa", metadata={
        "help": "Attention kernel: 'sdpa' (what labutils loads) or 'eager', to compare.", "choices": ["sdpa", "eager"]})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank (on query and value)."})
    cpu_memory: str = field(default="skip", metadata={
        "help": "CPU peak memory: 'skip', or 'subprocess' (one fresh process per method, ru_maxrss).",
        "choices": ["skip", "subprocess"]})
    out: str = field(default="outputs/benchmarks/bench.json", metadata={"help": "Where the JSON results go."})
    seed: int = field(default=0, metadata={"help": "Seed for the synthetic batch, labels and new weights."})
    probe_memory: Optional[str] = field(default=None, metadata={
        "help": "(internal) run 2 steps of this one method and print its peak RSS as JSON.", "choices": list(TRAIN_METHODS)})


# ---------------------------------------------------------------------------- models and steps

def load_base(cfg: BenchConfig):
    choice = L.resolve_model(cfg.model)
    model, tokenizer = L.load_base_model(choice)  # loads with SDPA attention
    if cfg.attn != "sdpa":
        model.set_attn_implementation(cfg.attn)
    return model, tokenizer, choice


def build_method(base, method: str, cfg: BenchConfig, in_place: bool = False):
    """A deep copy of `base` (or `base` itself) set up for `method` ('base': left as it is)."""
    model = base if in_place else copy.deepcopy(base)
    if method == "full":
        return L.unfreeze_all(model)
    if method == "adapters":
        L.add_adapter(model, "bench", L.AdapterConfig(reduction_factor=cfg.reduction_factor))
        return L.freeze_for_adapters(model)
    if method == "lora":
        return make_peft_model(model, "lora", r=cfg.lora_r)
    if method == "base":
        return model
    raise ValueError(f"unknown method {method!r}")


def make_optimizer(params, device: str):
    """AdamW as the lab's Trainer runs it (transformers' default optim is adamw_torch_fused)."""
    try:
        return torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0, fused=True)
    except (RuntimeError, ValueError):  # a device without the fused kernel
        return torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0)


class Trainee:
    """One method's model, optimiser and loss scaler, able to take one training step."""

    def __init__(self, model, device: str, precision: str, compile_model: bool):
        self.model = model.to(device).train()
        self.trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], device)
        # fp16 needs loss scaling (as Trainer does); bf16 and fp32 do not.
        self.scaler = torch.amp.GradScaler(device.split(":")[0], enabled=precision == "fp16")
        self.forward = torch.compile(self.model) if compile_model else self.model
        self.device, self.precision = device, precision

    def step(self, batch: dict, labels: torch.Tensor) -> None:
        with autocast(self.device, self.precision):
            loss = self.forward(**batch, labels=labels).loss
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    def resident_mib(self) -> float:
        """Weights plus optimiser state: what stays allocated between steps."""
        tensors = list(self.model.parameters())
        tensors += [t for s in self.optimizer.state.values() for t in s.values() if torch.is_tensor(t)]
        return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def training_batch(tokenizer, cfg: BenchConfig, device: str):
    batch = L.latency.synthetic_batch(tokenizer, cfg.batch_size, cfg.seq_len, device)
    labels = torch.randint(0, 2, (cfg.batch_size,), generator=torch.Generator().manual_seed(cfg.seed)).to(device)
    return batch, labels


def rotated(names, i: int) -> list:
    """`names` starting at position i: no method always runs first (or right after another)."""
    k = i % len(names)
    return list(names[k:]) + list(names[:k])


def time_training(trainees: dict, batch, labels, cfg: BenchConfig, device: str) -> dict:
    """Per method: the first step (compilation, lazy init) and the timed steps, in seconds.

    Besides wall time, the process's CPU time is kept: on a CPU shared with other jobs it
    counts only the work this process did, so its ratios suffer less from the neighbours.
    """
    first, times, cpu = {}, {n: [] for n in trainees}, {n: [] for n in trainees}
    for i in range(cfg.warmup + cfg.steps):
        for name in rotated(list(trainees), i):
            L.latency.synchronize(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            trainees[name].step(batch, labels)
            L.latency.synchronize(device)
            elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
            if i == 0:
                first[name] = elapsed
            if i >= cfg.warmup:
                times[name].append(elapsed)
                cpu[name].append(elapsed_cpu)
    return {n: {"first_step_s": first[n], "step_s": times[n], "cpu_s": cpu[n]} for n in trainees}


def saved_activation_mib(trainee: Trainee, batch, labels) -> float:
    """MiB that autograd keeps for the backward pass (parameters excluded), on any device.

    A frozen linear layer needs no weight gradient, so autograd need not keep its input:
    this is where a frozen base saves memory even before the optimiser state is counted.
    """
    params = {p.untyped_storage().data_ptr() for p in trainee.model.parameters()}
    kept = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            kept[storage.data_ptr()] = storage.nbytes()  # by storage: a tensor saved twice counts once
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast(trainee.device, trainee.precision):
        loss = trainee.model(**batch, labels=labels).loss
    del loss  # the graph goes with it; no step is taken
    return sum(kept.values()) / 2**20


def cuda_step_memory(trainee: Trainee, batch, labels) -> dict:
    """Peak CUDA memory of one step above what was resident before it (activations, grads, temporaries)."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    trainee.step(batch, labels)
    torch.cuda.synchronize()
    return {"peak_step_mib": (torch.cuda.max_memory_allocated() - before) / 2**20,
            "resident_mib": trainee.resident_mib()}


# ---------------------------------------------------------------------------- memory on a CPU

def _reset_peak_rss() -> bool:
    """Forget the peak so far (Linux: '5' > /proc/self/clear_refs), so loading the model does not count."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int:
    """The process's peak resident memory: VmHWM on Linux (honours a reset), else ru_maxrss."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def probe_memory(cfg: BenchConfig) -> None:
    """(Child process) two training steps of one method; print its peak resident memory as JSON."""
    import psutil

    base, tokenizer, _ = load_base(cfg)
    torch.manual_seed(cfg.seed)
    trainee = Trainee(build_method(base, cfg.probe_memory, cfg, in_place=True), "cpu", "fp32", False)
    batch, labels = training_batch(tokenizer, cfg, "cpu")
    with torch.no_grad():  # read every weight once: memory-mapped weights then count as resident for all methods
        for p in trainee.model.parameters():
            p.sum()
    loaded = psutil.Process().memory_info().rss
    reset = _reset_peak_rss()
    for _ in range(2):  # the second step runs with the optimiser state in place
        trainee.step(batch, labels)
    peak = _peak_rss_bytes()
    print(json.dumps({"peak_rss_mib": peak / 2**20, "rss_before_training_mib": loaded / 2**20,
                      "training_above_loaded_mib": max(0, peak - loaded) / 2**20,
                      "peak_reset_after_loading": reset}))


def cpu_memory_by_subprocess(cfg: BenchConfig) -> dict:
    """Each method's peak RSS, each in a fresh Python process with the same model and batch."""
    results = {}
    for method in TRAIN_METHODS:
        argv = [sys.executable, __file__, "--probe-memory", method, "--batch-size", str(cfg.batch_size),
                "--seq-len", str(cfg.seq_len), "--reduction-factor", str(cfg.reduction_factor),
                "--lora-r", str(cfg.lora_r), "--seed", str(cfg.seed), "--attn", cfg.attn] + (["--model", cfg.model] if cfg.model else [])
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        results[method] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


# ---------------------------------------------------------------------------- inference

def time_inference(models: dict, tokenizer, cfg: BenchConfig, device: str, precision: str) -> list:
    """Median latency per model at batch 1 and --batch-size; the models take turns call by call
    (`labutils.latency.interleaved_latency`), so drift on a shared machine hits all alike."""
    rows = []
    for model in models.values():
        model.eval()
    for batch_size in (1, cfg.batch_size):
        batch = L.latency.synthetic_batch(tokenizer, batch_size, cfg.seq_len, device)
        cpu = {n: [0.0, 0] for n in models}  # process CPU seconds and calls (warm-up calls are the same work)

        def call(name):
            start_cpu = time.process_time()
            with torch.inference_mode(), autocast(device, precision):
                models[name](**batch)
            cpu[name][0] += time.process_time() - start_cpu
            cpu[name][1] += 1

        samples = L.latency.interleaved_latency({n: (lambda n=n: call(n)) for n in models},
                                                passes=cfg.repeats, warmup=cfg.warmup, device=device)
        for name in models:
            row = {"model": name, "batch": batch_size, "median_ms": statistics.median(samples[name]),
                   "min_ms": min(samples[name]), "calls": len(samples[name])}
            if device == "cpu":  # CPU time per call: what this process did, whatever else ran on the cores
                row["cpu_ms"] = 1000 * cpu[name][0] / cpu[name][1]
            rows.append(row)
    base = {r["batch"]: r for r in rows if r["model"] == "base"}
    for r in rows:
        r["x_base"] = r["median_ms"] / base[r["batch"]]["median_ms"]
        if "cpu_ms" in r:
            r["x_base_cpu_time"] = r["cpu_ms"] / base[r["batch"]]["cpu_ms"]
    return rows


# ---------------------------------------------------------------------------- FLOPs

def encoder_parameters(model) -> int:
    """N for the FLOPs estimate: the encoder layers' parameters (those applied to every token)."""
    return sum(p.numel() for p in model.base_model.encoder.parameters())


def timed_matmul_tflops(device: str, precision: str) -> float:
    """Best-of-5 TFLOP/s of one large square matmul: what this device reaches on dense work."""
    n = 2048 if device == "cpu" else 8192
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32) if device != "cpu" else torch.float32
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    best = float("inf")
    for _ in range(6):
        L.latency.synchronize(device)
        start = time.perf_counter()
        a @ b
        L.latency.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e12


def peak_tflops(cfg: BenchConfig, device: str, precision: str) -> dict:
    """The peak FLOP/s MFU is measured against, and where the figure came from."""
    measured = timed_matmul_tflops(device, precision)
    if cfg.peak_tflops:
        return {"peak_tflops": cfg.peak_tflops, "source": "--peak-tflops", "timed_matmul_tflops": measured}
    if device == "cuda" and precision in ("bf16", "fp16"):
        name = torch.cuda.get_device_name(0)
        for key, value in GPU_SPEC_TFLOPS:
            if key in name:
                return {"peak_tflops": value, "source": f"spec sheet ({key}, dense {precision})",
                        "timed_matmul_tflops": measured}
    what = "fp32 matmul 2048^3" if device == "cpu" else f"{precision} matmul 8192^3"
    return {"peak_tflops": measured, "source": f"timed {what} in this run ({torch.get_num_threads()} threads)"
            if device == "cpu" else f"timed {what} in this run", "timed_matmul_tflops": measured}


def training_rows(timings: dict, trainees: dict, n_encoder: int, peak: dict, cfg: BenchConfig,
                  memory: dict) -> list:
    tokens = cfg.batch_size * cfg.seq_len
    full_step = statistics.median(timings["full"]["step_s"])
    full_cpu = statistics.median(timings["full"]["cpu_s"])
    rows = []
    for name, t in timings.items():
        step = statistics.median(t["step_s"])
        cpu = statistics.median(t["cpu_s"])
        flops = (6 if name == "full" else 4) * n_encoder * tokens
        achieved = flops / step / 1e12
        rows.append({
            "method": name,
            "trainable": trainees[name].trainable,
            "step_ms": 1000 * step,
            "step_ms_min": 1000 * min(t["step_s"]),
            "first_step_ms": 1000 * t["first_step_s"],
            "tokens_per_s": tokens / step,
            "x_full": full_step / step,
            "cpu_ms": 1000 * cpu,
            "x_full_cpu_time": full_cpu / cpu,
            "model_flops_per_step": flops,
            "flops_rule": "6N" if name == "full" else "4N",
            "achieved_tflops": achieved,
            "mfu_pct": 100 * achieved / peak["peak_tflops"],
            **memory.get(name, {}),
        })
    return rows


def verdicts(train_rows: list, infer_rows: list, device: str, cfg: BenchConfig) -> dict:
    """Each target, the ratio measured in this run, and whether it was met."""
    kind = "cuda" if device == "cuda" else "cpu"
    out = {}
    adapters = next(r for r in train_rows if r["method"] == "adapters")
    speedup = adapters["x_full"]
    goal = TARGETS["adapter_training_speedup"].get(kind)
    out["adapter_training_speedup"] = {"measured": speedup, "target_at_least": goal, "met": speedup >= goal}
    if kind == "cpu":  # the same ratio in CPU time, less disturbed by other jobs on the cores
        out["adapter_training_speedup"]["measured_cpu_time"] = adapters["x_full_cpu_time"]
    ratio = next(r["x_base"] for r in infer_rows if r["model"] == "adapters" and r["batch"] == cfg.batch_size)
    goal = TARGETS["adapter_latency_ratio_large_batch"].get(kind)
    out["adapter_latency_ratio_large_batch"] = {"measured": ratio, "target_at_most": goal,
                                                "met": None if goal is None else ratio <= goal}
    if kind == "cpu":
        out["adapter_latency_ratio_large_batch"]["measured_cpu_time"] = next(
            r["x_base_cpu_time"] for r in infer_rows if r["model"] == "adapters" and r["batch"] == cfg.batch_size)
    return out


# ---------------------------------------------------------------------------- main

def main(cfg: BenchConfig) -> dict:
    device = L.pick_device()
    precision = resolve_precision(cfg.precision, device)
    env = environment(device, precision)
    torch.manual_seed(cfg.seed)
    base, tokenizer, choice = load_base(cfg)
    n_encoder = encoder_parameters(base)
    print(f"{choice.display_name} | {env['device_name']} | {precision} | batch {cfg.batch_size} x {cfg.seq_len} tokens"
          f" | {cfg.steps} timed steps after {cfg.warmup} | compile={cfg.compile}", flush=True)

    peak = peak_tflops(cfg, device, precision)
    trainees = {m: Trainee(build_method(base, m, cfg), device, precision, cfg.compile) for m in TRAIN_METHODS}
    batch, labels = training_batch(tokenizer, cfg, device)
    timings = time_training(trainees, batch, labels, cfg, device)
    saved = {m: {"saved_activations_mib": saved_activation_mib(t, batch, labels)} for m, t in trainees.items()}
    if device == "cuda":
        memory = {m: cuda_step_memory(t, batch, labels) for m, t in trainees.items()}
        memory_note = "CUDA allocator: peak during one step above what was resident (weights + optimiser state)"
    elif cfg.cpu_memory == "subprocess":
        memory = cpu_memory_by_subprocess(cfg)
        memory_note = ("fresh process per method, two steps: peak RSS while training (the load's peak reset where "
                       "Linux allows) and that peak above the RSS just before training")
    else:
        memory = {}
        memory_note = ("not measured: in one CPU process resident memory never shrinks, so methods cannot be "
                       "told apart (use --cpu-memory subprocess)")
    memory = {m: {**saved[m], **memory.get(m, {})} for m in trainees}
    train_rows = training_rows(timings, trainees, n_encoder, peak, cfg, memory)

    infer_models = {"base": build_method(base, "base", cfg).to(device),
                    "adapters": trainees["adapters"].model, "lora": trainees["lora"].model}
    if cfg.compile:
        infer_models = {n: torch.compile(m) for n, m in infer_models.items()}
    del trainees["full"]  # its optimiser state is the largest thing left; inference does not need it
    infer_rows = time_inference(infer_models, tokenizer, cfg, device, precision)

    results = {
        "benchmark": "training and inference speed",
        "model": choice.display_name,
        "encoder_parameters_N": n_encoder,
        "config": asdict(cfg),
        "environment": {**env, "load_average_at_end": load_average()},
        "peak": peak,
        "memory_note": memory_note,
        "training": train_rows,
        "inference": infer_rows,
        "targets": verdicts(train_rows, infer_rows, device, cfg),
    }
    report(results, device)
    path = write_json(cfg.out, results)
    print(f"\nwrote {path}")
    return results


def report(results: dict, device: str) -> None:
    env, peak, cfg = results["environment"], results["peak"], results["config"]
    print(f"\nTraining step ({cfg['batch_size']} x {cfg['seq_len']} tokens, {env['precision']}, {env['device_name']}; "
          f"load average {env['load_average_at_start']} -> {env['load_average_at_end']})")
    columns = ["method", "trainable", "step_ms", "tokens_per_s", "x_full", "flops_rule", "achieved_tflops", "mfu_pct"]
    if device == "cpu":  # CPU time per step: less disturbed by other jobs on the same cores
        columns += ["cpu_ms", "x_full_cpu_time"]
    extra = [c for c in ("saved_activations_mib", "peak_step_mib", "resident_mib", "peak_rss_mib",
                         "training_above_loaded_mib")
             if c in results["training"][0]]
    print(format_table(results["training"], columns + extra + ["first_step_ms"]))
    print(f"MFU against {peak['peak_tflops']:.3g} TFLOP/s ({peak['source']}); "
          f"N = {results['encoder_parameters_N']:,} encoder parameters; attention-score FLOPs not counted.")
    print(f"Memory: {results['memory_note']}. saved_activations_mib: what autograd keeps for backward "
          "(parameters excluded), measured the same way on every device.")
    print("\nInference latency (median of calls, the models taking turns call by call)")
    columns = ["model", "batch", "median_ms", "min_ms", "x_base", "calls"]
    if device == "cpu":
        columns += ["cpu_ms", "x_base_cpu_time"]
    print(format_table(results["inference"], columns))
    print("\nTargets (ratios from this one run):")
    for name, v in results["targets"].items():
        goal = (f">= {v['target_at_least']}" if "target_at_least" in v else
                f"<= {v['target_at_most']}" if v.get("target_at_most") else "none on this device")
        met = {True: "met", False: "NOT met", None: "-"}[v["met"]]
        cpu = f", {v['measured_cpu_time']:.2f} in CPU time" if "measured_cpu_time" in v else ""
        print(f"  {name}: {v['measured']:.2f}{cpu}  (target {goal}: {met})")


if __name__ == "__main__":
    config = parse_config(BenchConfig, __doc__.split("\n\n")[0])
    if config.probe_memory:
        probe_memory(config)
    else:
        main(config)
