"""Training and evaluation on the Hugging Face `Trainer` (the same cell runs on CPU, GPU or several)."""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from .device import PeakMemory, pick_device, pick_precision


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def classification_metrics(labels, predictions) -> dict:
    """Accuracy, binary F1 (positive class 1, as GLUE reports for MRPC) and Matthews correlation."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "f1": float(f1_score(labels, predictions, zero_division=0)),
        "mcc": float(matthews_corrcoef(labels, predictions)) if len(set(labels)) > 1 else 0.0,
    }


def regression_metrics(labels, predictions) -> dict:
    """Pearson and Spearman (GLUE's STS-B metrics); NaN, not a random ranker's 0.0, when either side is constant."""
    labels = np.asarray(labels, dtype=np.float64).ravel()
    predictions = np.asarray(predictions, dtype=np.float64).ravel()
    if len(labels) < 2 or not (np.ptp(labels) > 0 and np.ptp(predictions) > 0):
        return {"pearson": math.nan, "spearmanr": math.nan}
    return {"pearson": float(pearsonr(labels, predictions)[0]), "spearmanr": float(spearmanr(labels, predictions)[0])}


def task_metrics(labels, logits) -> dict:
    """Metrics from raw logits: a one-output head predicts a score (regression), wider ones classes."""
    logits = np.asarray(logits)
    if logits.ndim == 2 and logits.shape[-1] == 1:
        return regression_metrics(labels, logits[:, 0])
    return classification_metrics(labels, logits.argmax(-1))


def compute_metrics(eval_pred) -> dict:
    """The `compute_metrics` hook for `Trainer`."""
    logits, labels = eval_pred
    return task_metrics(labels, logits[0] if isinstance(logits, tuple) else logits)


@dataclass
class TrainResult:
    """What one training run produced."""
    metrics: dict                  # final dev metrics: eval_accuracy, eval_f1, ...
    history: list                  # Trainer's log history (losses by step, metrics by epoch)
    train_seconds: float
    peak_memory_mib: float
    samples_per_second: float
    device: str
    precision: str
    extra: dict = field(default_factory=dict)
    train_cpu_seconds: float = 0.0    # process CPU time of trainer.train() alone (fair on a shared CPU)


class TrainingDiverged(RuntimeError):
    """Training blew up (loss or weights non-finite or exploding, one score for every pair): nothing keeps the run."""


# Uniform guessing among k labels costs ln k, where training starts; ten times that (6.9 nats for
# two labels) no learning run passes through: its weights have run away (too large a learning rate).
EXPLOSION_FACTOR = 10.0


def explosion_bound(num_labels: int, first_loss: float | None = None) -> float:
    """The largest training loss a healthy run logs: 10 x max(ln k, the first logged loss)."""
    base = math.log(num_labels) if num_labels > 1 else 0.0
    if first_loss is not None and math.isfinite(first_loss):
        base = max(base, first_loss)
    return EXPLOSION_FACTOR * base if base > 0 else math.inf


def _diverged_message(what: str, learning_rate: float) -> str:
    return (f"Training diverged: {what}, with learning rate {learning_rate:g}. The run's results would be "
            f"meaningless (majority-class accuracy, or one score for every pair), so it is not returned or "
            f"cached. Lower the learning rate (try {learning_rate / 10:g} or less: `learning_rate` of "
            f"training_arguments, the profile's adapter_lr / full_lr, or Method.learning_rate) and train again.")


def _divergence_guard():
    """A `TrainerCallback` that stops training at the first non-finite or exploding logged loss."""
    from transformers import TrainerCallback

    class DivergenceGuard(TrainerCallback):
        problem = first_loss = None

        def on_log(self, args, state, control, logs=None, model=None, **kwargs):
            labels = getattr(getattr(model, "config", None), "num_labels", 2)
            for key in ("loss", "train_loss"):
                value = (logs or {}).get(key)
                if value is None or self.problem is not None:
                    continue
                value, bound = float(value), explosion_bound(labels, self.first_loss)
                if not math.isfinite(value):
                    self.problem = f"the training loss became {value} by step {state.global_step}"
                elif value > bound:
                    self.problem = (f"the training loss reached {value:.4g} by step {state.global_step} "
                                    f"(a healthy run stays below {bound:.3g})")
                elif self.first_loss is None and key == "loss":
                    self.first_loss = value
            if self.problem is not None:
                control.should_training_stop = True
            return control

    return DivergenceGuard()


def training_arguments(output_dir: str, *, epochs: float, learning_rate: float, batch_size: int = 32,
                       seed: int = 0, weight_decay: float = 0.0, warmup: float = 0.1,
                       max_steps: int = -1, eval_each_epoch: bool = True, group_by_length: bool = True,
                       precision: str | None = None, logging_steps: int = 10, **overrides):
    """`TrainingArguments` with the lab's defaults: no checkpoints, no trackers, dynamic padding."""
    from transformers import TrainingArguments
    device = pick_device()
    precision = precision or pick_precision(device)
    settings = dict(
        output_dir=output_dir, num_train_epochs=epochs, max_steps=max_steps, learning_rate=learning_rate,
        per_device_train_batch_size=batch_size, per_device_eval_batch_size=max(64, batch_size),
        weight_decay=weight_decay, warmup_steps=warmup, lr_scheduler_type="linear",
        eval_strategy="epoch" if eval_each_epoch else "no", save_strategy="no",
        logging_strategy="steps", logging_steps=logging_steps, report_to="none", seed=seed, data_seed=seed,
        bf16=precision == "bf16", fp16=precision == "fp16", use_cpu=device == "cpu",
        # Batches of similar length waste less compute on padding.
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        disable_tqdm=os.environ.get("TQDM_DISABLE", "").strip().lower() in {"1", "true", "yes"},
        dataloader_num_workers=0,
        # Log the raw loss: with the filter on, a NaN step is logged as the average of the steps
        # before it, and a run whose weights are all NaN shows a training loss of 0.0.
        logging_nan_inf_filter=False,
    )
    settings.update(overrides)
    return TrainingArguments(**settings)


def train(model, tokenizer, train_dataset, eval_dataset, args) -> TrainResult:
    """Train and evaluate `model`, timed; `TrainingDiverged` rather than a run with meaningless numbers."""
    from transformers import DataCollatorWithPadding, Trainer
    guard = _divergence_guard()
    trainer = Trainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                      data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics,
                      callbacks=[guard])
    device = pick_device()
    with PeakMemory(device) as mem:
        start, cpu_start = time.perf_counter(), time.process_time()
        out = trainer.train()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    if guard.problem is not None:
        raise TrainingDiverged(_diverged_message(guard.problem, args.learning_rate))
    bad = [name for name, p in model.named_parameters() if p.requires_grad and not torch.isfinite(p).all()]
    if bad:
        raise TrainingDiverged(_diverged_message(
            f"{len(bad)} trained weight tensor(s) hold NaN or infinity after {trainer.state.global_step} steps "
            f"(e.g. {bad[0]})", args.learning_rate))
    metrics = trainer.evaluate()
    # A last update can throw the weights far off while every logged training loss (taken
    # before it) looked fine; the dev loss after training sees the weights as they are.
    dev_loss = metrics.get("eval_loss")
    labels = getattr(getattr(model, "config", None), "num_labels", 2)
    bound = explosion_bound(labels, guard.first_loss)
    if dev_loss is not None and not dev_loss <= bound:
        raise TrainingDiverged(_diverged_message(
            f"the dev loss after {trainer.state.global_step} steps is {dev_loss:.4g} (a model that learned "
            f"anything stays below {bound:.3g})", args.learning_rate))
    # A score head's collapse (a saturated pooler, say) is majority-class accuracy's analogue; its loss
    # need not explode. Equal gold scores leave the correlation undefined whatever the model does.
    if labels == 1 and math.isnan(metrics.get("eval_pearson", 0.0)) and np.ptp(eval_dataset["label"]) > 0:
        raise TrainingDiverged(_diverged_message(
            f"after {trainer.state.global_step} steps the model predicts one score for every dev pair (its "
            "correlation with the gold scores is undefined)", args.learning_rate))
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    return TrainResult(
        metrics={k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
        history=list(trainer.state.log_history), train_seconds=seconds, peak_memory_mib=mem.peak_mib,
        samples_per_second=float(out.metrics.get("train_samples_per_second", 0.0)), device=device,
        precision=precision, train_cpu_seconds=cpu_seconds)


@torch.no_grad()
def predict_logits(model, tokenizer, dataset, batch_size: int = 64) -> np.ndarray:
    """Logits for every row of a tokenised dataset, in order, in eval mode."""
    from transformers import DataCollatorWithPadding
    collate = DataCollatorWithPadding(tokenizer)
    device = next(model.parameters()).device
    model.eval()
    cols = [c for c in dataset.column_names if c in ("input_ids", "attention_mask", "token_type_ids")]
    out = []
    for start in range(0, len(dataset), batch_size):
        batch = collate([{c: dataset[i][c] for c in cols} for i in range(start, min(start + batch_size, len(dataset)))])
        out.append(model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu())
    return torch.cat(out).numpy()


def evaluate(model, tokenizer, dataset, batch_size: int = 64) -> dict:
    """Accuracy / F1 / MCC (a score head: Pearson / Spearman) of `model` on a tokenised dataset with labels."""
    return task_metrics(dataset["label"], predict_logits(model, tokenizer, dataset, batch_size))


def summary_row(method: str, result: TrainResult, report: dict, stored_bytes: int) -> dict:
    """One row of a method-comparison table."""
    # Epochs actually trained (Trainer logs the epoch with every entry); None when nothing was logged.
    epochs = max((float(h["epoch"]) for h in result.history if "epoch" in h), default=None)
    return {
        "method": method, "trainable params": report["trainable"],
        "trainable %": round(report["trainable_pct_of_base"], 2),
        "dev accuracy": round(100 * result.metrics["eval_accuracy"], 1),
        "dev F1": round(100 * result.metrics["eval_f1"], 1), "train time (s)": round(result.train_seconds, 1),
        # Methods train for different numbers of epochs; the total alone would compare unlike runs.
        "epochs": (int(epochs) if epochs.is_integer() else round(epochs, 2)) if epochs else None,
        "time per epoch (s)": round(result.train_seconds / epochs, 1) if epochs else None,
        # fp32 weights + a gradient and two Adam moments per trainable parameter.
        "weights+grads+Adam (MiB)": round(4 * (report["total"] + 3 * report["trainable"]) / 2**20),
        # Only CUDA's allocator gives a fair peak; a CPU process's resident memory does not shrink between runs.
        "peak GPU memory (MiB)": round(result.peak_memory_mib) if result.device == "cuda" else None,
        "stored per task (MB)": round(stored_bytes / 1e6, 2),
    }
