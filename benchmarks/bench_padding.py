"""What dynamic padding and length grouping buy: the lab's own training against the same
training with every batch padded to --max-length tokens, end to end on MRPC, in one process.

Both arms run the lab's real code path (`labutils.training_arguments` + `labutils.train`, i.e.
Hugging Face `Trainer`) on the same rows, the same model and the same number of steps (by
default one epoch, so every row is seen once in both):

  lab     tokenised without padding; the collator pads each batch to its longest pair, and
          `group_by_length` puts pairs of similar length in the same batch
  pad     tokenised with padding to --max-length, rows in random order (what a
          naive pipeline does)

The ratios printed come from this one run: pad time / lab time (wall clock, and process CPU
time, which other jobs on the same cores disturb less), and lab / pad real tokens per second.
A forward pre-hook counts how many token positions each arm pushed through the model and how
many of them were real tokens. Over a whole epoch both arms see the same rows and time is the
fair measure; over part of an epoch they see different rows and real tokens per second is.

Mind the subset size: Trainer's length grouping sorts "megabatches" of
min(rows // (4 * batch), 50) batches, so on a few hundred rows it groups only two or three
batches together, far less than on all of MRPC (28). `--rows 1024 --steps 8` groups like a
larger set while training as few steps; Trainer also puts the longest batch first, so a
partial epoch does not flatter the lab arm.

Needs the GLUE files: LAB_DATA_DIR=/path/to/glue (or a reachable Hub).
Run from the repository root:  python benchmarks/bench_padding.py [--rows 256]
"""
from __future__ import annotations

import copy
import math
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from typing import Optional

import common  # noqa: F401  (puts the repository root on sys.path)
from common import environment, format_table, load_average, parse_config, resolve_precision, write_json

import labutils as L

warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


@dataclass
class PaddingConfig:
    """Options of the dynamic-padding benchmark."""
    model: Optional[str] = field(default=None, metadata={
        "help": "Hub name, local folder or 'offline' (the packaged MiniLM); default: labutils.resolve_model()."})
    task: str = field(default="mrpc", metadata={"help": "GLUE task (its train split is used)."})
    rows: int = field(default=256, metadata={"help": "Training rows (a seeded subset); one epoch over them per arm."})
    batch_size: int = field(default=32, metadata={"help": "Pairs per training step."})
    steps: Optional[int] = field(default=None, metadata={
        "help": "Steps per arm; default: one epoch over --rows. Fewer steps over more rows groups lengths as the full set does."})
    max_length: int = field(default=128, metadata={"help": "Truncation length, and the length every batch is padded to in the 'pad' arm."})
    method: str = field(default="adapters", metadata={
        "help": "What trains: 'adapters' (Houlsby, the lab's default) or 'full'.", "choices": ["adapters", "full"]})
    precision: str = field(default="auto", metadata={
        "help": "auto: the lab's choice (bf16 on CUDA, fp32 on CPU).", "choices": ["auto", "fp32", "bf16", "fp16"]})
    out: str = field(default="outputs/benchmarks/padding.json", metadata={"help": "Where the JSON results go."})
    seed: int = field(default=0, metadata={"help": "Seed for the subset, the sampler and new weights."})


class TokenCounter:
    """Counts token positions (padding included) and real tokens in every training forward."""

    def __init__(self, model):
        self.positions = self.real = 0
        self._handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        if module.training and "input_ids" in kwargs:  # evaluation afterwards is not counted
            self.positions += kwargs["input_ids"].numel()
            self.real += int(kwargs["attention_mask"].sum()) if "attention_mask" in kwargs else kwargs["input_ids"].numel()

    def remove(self):
        self._handle.remove()


def prepare_model(base, method: str):
    model = copy.deepcopy(base)
    if method == "full":
        return L.unfreeze_all(model), 3e-5
    L.add_adapter(model, "bench", L.AdapterConfig())
    return L.freeze_for_adapters(model), 1e-3


def tokenize_padded(ds, tokenizer, task: str, max_length: int):
    """Like labutils.tokenize, but every example padded to max_length up front."""
    cols = L.task_spec(task).text_columns

    def encode(batch):
        return tokenizer(*[batch[c] for c in cols], truncation=True, max_length=max_length, padding="max_length")

    return ds.map(encode, batched=True, remove_columns=[c for c in ds.column_names if c != "label"])


def run_arm(name: str, base, tokenizer, train_ds, eval_ds, cfg: PaddingConfig, steps: int, precision: str) -> dict:
    """Train one arm for `steps` steps with the lab's train(); its time and token counts."""
    L.set_seed(cfg.seed)
    model, lr = prepare_model(base, cfg.method)
    counter = TokenCounter(model)
    with tempfile.TemporaryDirectory() as tmp:
        args = L.training_arguments(tmp, epochs=1, learning_rate=lr, batch_size=cfg.batch_size, seed=cfg.seed,
                                    max_steps=steps, eval_each_epoch=False, group_by_length=(name == "lab"),
                                    precision=precision, logging_steps=max(1, steps))
        result = L.train(model, tokenizer, train_ds, eval_ds, args)
    counter.remove()
    # CPU time of the training loop alone (not the evaluation or Trainer's set-up).
    return {"arm": name, "train_s": result.train_seconds, "cpu_s": result.train_cpu_seconds, "steps": steps,
            "samples_per_s": cfg.batch_size * steps / result.train_seconds,
            "token_positions": counter.positions, "real_tokens": counter.real,
            "real_pct": 100.0 * counter.real / max(1, counter.positions),
            "real_tokens_per_s": counter.real / result.train_seconds,
            "dev_accuracy_after": result.metrics.get("eval_accuracy")}


def main(cfg: PaddingConfig) -> dict:
    device = L.pick_device()
    precision = resolve_precision(cfg.precision, device)
    env = environment(device, precision)
    choice = L.resolve_model(cfg.model)
    base, tokenizer = L.load_base_model(choice, label_names=L.task_spec(cfg.task).label_names)
    raw, source = L.load_glue(cfg.task)
    train_raw = L.subsample(raw["train"], cfg.rows, seed=cfg.seed)
    eval_ds = L.tokenize(L.subsample(raw["validation"], 16, seed=cfg.seed), tokenizer, cfg.task, cfg.max_length)
    data = {"lab": L.tokenize(train_raw, tokenizer, cfg.task, cfg.max_length),
            "pad": tokenize_padded(train_raw, tokenizer, cfg.task, cfg.max_length)}
    epoch = math.ceil(len(train_raw) / cfg.batch_size)
    steps = min(cfg.steps, epoch) if cfg.steps else epoch  # default one epoch: every row once in both arms
    print(f"{choice.display_name} | {env['device_name']} | {precision} | {cfg.task} ({source}), {len(train_raw)} rows, "
          f"batch {cfg.batch_size}, {steps} steps per arm | training: {cfg.method}", flush=True)

    # One untimed step first, so one-time costs (thread pools, allocator, lazy imports) land on neither arm.
    run_arm("lab", base, tokenizer, data["lab"].select(range(cfg.batch_size)), eval_ds, cfg, 1, precision)
    rows = [run_arm(arm, base, tokenizer, data[arm], eval_ds, cfg, steps, precision) for arm in ("pad", "lab")]
    by_arm = {r["arm"]: r for r in rows}
    time_ratio = by_arm["pad"]["train_s"] / by_arm["lab"]["train_s"]
    cpu_ratio = by_arm["pad"]["cpu_s"] / by_arm["lab"]["cpu_s"]
    token_ratio = by_arm["lab"]["real_tokens_per_s"] / by_arm["pad"]["real_tokens_per_s"]
    # On a CPU, process CPU time is the clock to trust when other jobs share the cores; on a GPU
    # the work is not on the CPU, so wall time it is.
    clock = "cpu_s" if device == "cpu" else "train_s"
    per_clock = {a: r["real_tokens"] / r[clock] for a, r in by_arm.items()}
    for r in rows:
        r["x_pad"] = by_arm["pad"]["train_s"] / r["train_s"]
    # Over a whole epoch both arms train on the same rows, so time is the fair measure. Over part
    # of one they see different rows (Trainer's grouped order starts with the longest batch), so
    # compare the real tokens each gets through per second instead.
    whole_epoch = steps == epoch
    clock_name = "CPU time" if clock == "cpu_s" else "wall time"
    ratio = (by_arm["pad"][clock] / by_arm["lab"][clock]) if whole_epoch else per_clock["lab"] / per_clock["pad"]
    measure = (f"{clock_name} for the same epoch" if whole_epoch else
               f"real tokens per second of {clock_name} (partial epoch: the arms saw different rows)")

    results = {
        "benchmark": "dynamic padding + length grouping vs padding to max_length",
        "model": choice.display_name,
        "config": asdict(cfg),
        "environment": {**env, "load_average_at_end": load_average()},
        "arms": rows,
        "speedup_time": time_ratio,
        "speedup_cpu_time": cpu_ratio,
        "speedup_real_tokens_per_s": token_ratio,
        "target": {"at_least": 2.0, "measured": ratio, "measure": measure, "met": ratio >= 2.0},
    }
    print(f"\nEnd-to-end training, {cfg.method}, {steps} steps x {cfg.batch_size} pairs "
          f"(load average {env['load_average_at_start']} -> {results['environment']['load_average_at_end']})")
    print(format_table(rows, ["arm", "train_s", "cpu_s", "samples_per_s", "x_pad", "token_positions", "real_tokens",
                              "real_pct", "real_tokens_per_s"]))
    print(f"\nSame {steps} steps: lab {time_ratio:.2f}x faster in wall time ({cpu_ratio:.2f}x in process CPU time, "
          f"which other jobs on the cores disturb less); {token_ratio:.2f}x the real tokens per second.")
    print(f"lab training vs padding every batch to {cfg.max_length}: {ratio:.2f}x by {measure} "
          f"(target >= 2: {'met' if ratio >= 2 else 'NOT met'}; one run).")
    path = write_json(cfg.out, results)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main(parse_config(PaddingConfig, __doc__.split("\n\n")[0]))
