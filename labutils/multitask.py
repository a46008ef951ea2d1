"""One frozen base model serving many tasks, each a small adapter folder."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from torch import nn

from .inference import describe_prediction, predict_proba, predict_scores
from .io import adapter_file_size, load_adapter, read_adapter
from .layer import active_adapter, adapter_configs
from .model import add_adapter, delete_adapter
from .switching import set_active_adapter, set_head_labels


@dataclass
class TaskEntry:
    """What the manager keeps per task besides what the model holds (adapter, LayerNorms, head)."""
    label_names: list
    folder: Optional[Path]
    file_bytes: int

    @property
    def scores(self) -> bool:  # a regression task (one output, a score), like STS-B
        return len(self.label_names) == 1


class MultiTaskAdapterManager:
    """Register tasks from adapter folders, switch the active task by name, predict in batches."""

    def __init__(self, model: nn.Module, tokenizer):
        self.model = model
        self.tokenizer = tokenizer
        self.tasks: dict[str, TaskEntry] = {}

    @property
    def active(self) -> Optional[str]:
        """The task the model runs now (the model's active adapter, if it is a registered task)."""
        name = active_adapter(self.model)
        return name if name in self.tasks else None

    def register(self, task: str, folder) -> dict:
        """Load the adapter folder for `task` into the shared model and make it active; returns its metadata.
        A refused folder leaves the model and the manager exactly as they were."""
        if task in self.tasks:
            raise ValueError(f"task {task!r} is already registered; pick another name.")
        if task in adapter_configs(self.model):
            raise ValueError(f"the model already has an adapter named {task!r} that this manager did not load; "
                             "register the task under another name (or give the manager a fresh base model).")
        meta, config = read_adapter(folder)  # refused here, before the model changes
        before = active_adapter(self.model)
        # The new task gets its own head with the folder's labels; the other tasks keep theirs.
        add_adapter(self.model, task, config, set_active=True)
        try:
            set_head_labels(self.model, meta["label_names"])
            load_adapter(self.model, folder, name=task, set_active=True)
        except BaseException:
            delete_adapter(self.model, task)
            set_active_adapter(self.model, before)
            raise
        self.tasks[task] = TaskEntry(list(meta["label_names"]), Path(folder), adapter_file_size(folder))
        return meta

    def switch(self, task: str) -> None:
        """Make `task` the one the model runs: its adapter, LayerNorms and head."""
        if task not in self.tasks:
            raise KeyError(f"unknown task {task!r}; registered: {sorted(self.tasks)}.")
        set_active_adapter(self.model, task)

    def predict(self, task: str, texts_a: Sequence[str], texts_b: Optional[Sequence[str]] = None,
                batch_size: int = 32) -> np.ndarray:
        """Class probabilities for `task`'s inputs (single sentences or pairs); a score task's scores."""
        self.switch(task)
        predict = predict_scores if self.tasks[task].scores else predict_proba
        return predict(self.model, self.tokenizer, texts_a, texts_b, batch_size=batch_size)

    def predict_mixed(self, items: Sequence[tuple], batch_size: int = 32) -> list:
        """Predictions for (task, text_a, text_b_or_None) items, in the order given."""
        results: list = [None] * len(items)
        groups: dict = {}
        for i, (task, a, b) in enumerate(items):
            if task not in self.tasks:
                raise KeyError(f"item {i}: unknown task {task!r}; registered: {sorted(self.tasks)}.")
            groups.setdefault((task, b is None), []).append(i)
        for (task, single), idxs in groups.items():
            probs = self.predict(task, [items[i][1] for i in idxs],
                                 None if single else [items[i][2] for i in idxs], batch_size=batch_size)
            entry = self.tasks[task]
            for i, p in zip(idxs, probs):
                if entry.scores:
                    results[i] = {"task": task, "label": entry.label_names[0], "score": float(p)}
                else:
                    k = int(p.argmax())
                    results[i] = {"task": task, "label": entry.label_names[k], "probability": float(p[k])}
        return results

    def describe(self, task: str, text_a: str, text_b: Optional[str] = None) -> str:
        """One line for a person (and for the interactive demo): 'equivalent (p = 0.93)', 'similarity 3.42'."""
        if not text_a.strip():
            return "type a sentence first"
        probs = self.predict(task, [text_a], [text_b] if text_b and text_b.strip() else None)[0]
        if self.tasks[task].scores:
            return f"{self.tasks[task].label_names[0]} {float(probs):.2f}"
        return describe_prediction(probs, self.tasks[task].label_names)

    def storage_table(self, full_model_bytes: int):
        """N tasks as adapter folders versus N fully fine-tuned models, in MB."""
        import pandas as pd
        base = full_model_bytes / 1e6
        rows = [{"task": t, "adapter folder (MB)": e.file_bytes / 1e6, "full model (MB)": base}
                for t, e in self.tasks.items()]
        rows.append({"task": f"all {len(self.tasks)} tasks",
                     "adapter folder (MB)": base + sum(e.file_bytes for e in self.tasks.values()) / 1e6,
                     "full model (MB)": len(self.tasks) * base})
        table = pd.DataFrame(rows).set_index("task").round(2)
        table.attrs["note"] = "the adapter total includes one shared copy of the base model"
        return table

    def __repr__(self) -> str:
        names = ", ".join(f"{t}{'*' if t == self.active else ''}" for t in self.tasks)
        return f"MultiTaskAdapterManager(tasks=[{names}], adapters in model={sorted(adapter_configs(self.model))})"
