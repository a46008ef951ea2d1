"""End-to-end recipes the notebooks call once the idea has been shown in full: train one
task's adapter on a fresh base model and save it, or reuse the saved one."""
from __future__ import annotations

from .config import AdapterConfig
from .data import load_glue, subsample, task_spec, tokenize
from .hub import ModelChoice, base_fingerprint, load_base_model
from .io import AdapterFileError, read_adapter_config, save_adapter
from .model import add_adapter
from .params import freeze_for_adapters
from .train import set_seed, train, training_arguments


def adapter_model(choice: ModelChoice, label_names, name: str, config: AdapterConfig,
                  train_pooler: bool | None = None):
    """A fresh pretrained model with adapter `name` and the base frozen as in the paper (seed first: `set_seed`)."""
    model, tokenizer = load_base_model(choice, list(label_names))
    add_adapter(model, name, config)
    freeze_for_adapters(model, train_pooler=train_pooler)
    return model, tokenizer


def saved_adapter_matches(folder, choice: ModelChoice, config: AdapterConfig) -> bool:
    """True if `folder` holds an adapter for this base model with this config (safe to reuse)."""
    try:
        meta = read_adapter_config(folder)  # also puts back a copy a killed save left beside it
    except AdapterFileError:
        return False
    # The fingerprint says what the base is (a name can be shared by two models); older files have only the name.
    same_base = (meta["base_fingerprint"] == base_fingerprint(choice) if meta.get("base_fingerprint")
                 else meta["base_model"] == choice.display_name)
    return same_base and meta["adapter"] == config.to_dict()


def train_task_adapter(choice: ModelChoice, task: str, folder, *, config: AdapterConfig, train_rows, eval_rows,
                       epochs: float, learning_rate: float, batch_size: int = 32, max_length: int = 128,
                       seed: int = 0, output_dir: str = "outputs/runs") -> dict:
    """Train `task`'s adapter (with LayerNorms and head) on a fresh base and save it to `folder`."""
    spec = task_spec(task)
    ds, _ = load_glue(task)
    ds["train"] = subsample(ds["train"], train_rows, seed=seed)
    ds["validation"] = subsample(ds["validation"], eval_rows, seed=seed)
    set_seed(seed)
    model, tokenizer = adapter_model(choice, spec.label_names, task, config)
    data = tokenize(ds, tokenizer, task, max_length=max_length)
    steps = -(-len(data["train"]) // batch_size)
    args = training_arguments(f"{output_dir}/{task}", epochs=epochs, learning_rate=learning_rate,
                              batch_size=batch_size, seed=seed, logging_steps=max(1, steps // 4))
    result = train(model, tokenizer, data["train"], data["validation"], args)
    save_adapter(model, folder, name=task, task=task)
    m = result.metrics
    scores = ({"dev Pearson": m["eval_pearson"], "dev Spearman": m["eval_spearmanr"]} if spec.regression
              else {"dev accuracy": m["eval_accuracy"], "dev F1": m["eval_f1"]})
    return {"task": spec.name, "train rows": len(data["train"]), "dev rows": len(data["validation"]), **scores,
            "train time (s)": result.train_seconds, "trained now": True}
