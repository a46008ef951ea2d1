"""GLUE tasks from the Hub when it is reachable, else from local GLUE TSV files.

Either way the result is a `datasets.DatasetDict` with ``train`` and ``validation`` splits and
the Hub's columns (MRPC: ``sentence1, sentence2, label, idx``), so notebooks do not care
where the data came from. Offline, name the folder that holds ``MRPC/train.tsv`` etc. in
the environment variable ``LAB_DATA_DIR``.

The original TSVs contain bare double quotes; they are read with quoting switched off,
or rows silently merge.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .hub import hub_reachable

DATA_DIR_ENV = "LAB_DATA_DIR"


@dataclass(frozen=True)
class TaskSpec:
    """How one GLUE task looks on disk and on the Hub."""
    name: str
    hub_config: str
    text_columns: tuple           # ("sentence1", "sentence2") or ("sentence",)
    label_names: tuple            # index = label id, as on the Hub
    header: bool                  # does the TSV start with a header line?
    n_fields: int                 # fields per TSV line
    parse: Callable               # list of fields -> dict of text columns and label


def _mrpc(f):
    return {"sentence1": f[3], "sentence2": f[4], "label": int(f[0])}


def _sst2(f):
    return {"sentence": f[0], "label": int(f[1])}


def _rte(f):
    return {"sentence1": f[1], "sentence2": f[2], "label": ("entailment", "not_entailment").index(f[3])}


def _cola(f):
    return {"sentence": f[3], "label": int(f[1])}


TASKS = {
    "mrpc": TaskSpec("MRPC", "mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), True, 5, _mrpc),
    "sst2": TaskSpec("SST-2", "sst2", ("sentence",), ("negative", "positive"), True, 2, _sst2),
    "rte": TaskSpec("RTE", "rte", ("sentence1", "sentence2"), ("entailment", "not_entailment"), True, 4, _rte),
    "cola": TaskSpec("CoLA", "cola", ("sentence",), ("unacceptable", "acceptable"), False, 4, _cola),
}


def task_spec(task: str) -> TaskSpec:
    key = task.lower().replace("-", "")
    if key not in TASKS:
        raise ValueError(f"unknown task {task!r}; labutils knows {[t.name for t in TASKS.values()]}.")
    return TASKS[key]


def read_glue_tsv(path: Path, spec: TaskSpec) -> list:
    """Every example of one GLUE TSV file, quotes kept as they are."""
    rows = []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        for lineno, fields in enumerate(reader, start=1):
            if lineno == 1 and spec.header:
                continue
            if not fields:
                continue
            if len(fields) != spec.n_fields:
                raise ValueError(
                    f"{path.name} line {lineno}: {len(fields)} tab-separated fields, expected {spec.n_fields} "
                    f"for {spec.name}. Is this the {spec.name} file from the GLUE release?")
            try:
                row = spec.parse(fields)
            except (ValueError, IndexError) as e:
                raise ValueError(f"{path.name} line {lineno}: cannot read a {spec.name} example ({e}).") from e
            row["idx"] = len(rows)
            rows.append(row)
    return rows


def resolve_data_dir(data_dir: Optional[str] = None) -> Optional[Path]:
    """The GLUE folder named by the caller or LAB_DATA_DIR, checked to exist; None if unnamed."""
    named = data_dir or os.environ.get(DATA_DIR_ENV) or None
    if named is None:
        return None
    path = Path(named).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"{DATA_DIR_ENV}={named!r} is not a folder. Set it to the folder that holds the GLUE task "
            "folders (MRPC/train.tsv, MRPC/dev.tsv, ...), e.g. LAB_DATA_DIR=../shared/data/glue.")
    return path


def load_glue_local(task: str, data_dir) -> "datasets.DatasetDict":
    """A GLUE task from `data_dir/<TASK>/{train,dev}.tsv`, with the Hub's columns."""
    import datasets

    spec = task_spec(task)
    folder = Path(data_dir) / spec.name
    splits = {}
    for split, filename in (("train", "train.tsv"), ("validation", "dev.tsv")):
        path = folder / filename
        if not path.is_file():
            raise FileNotFoundError(
                f"{spec.name} file {spec.name}/{filename} not found under the GLUE folder {Path(data_dir).name!r}. "
                f"Expected {spec.name}/train.tsv and {spec.name}/dev.tsv in the original GLUE layout.")
        rows = read_glue_tsv(path, spec)
        columns = {c: [r[c] for r in rows] for c in (*spec.text_columns, "label", "idx")}
        features = datasets.Features({
            **{c: datasets.Value("string") for c in spec.text_columns},
            "label": datasets.ClassLabel(names=list(spec.label_names)),
            "idx": datasets.Value("int32"),
        })
        splits[split] = datasets.Dataset.from_dict(columns, features=features)
    return datasets.DatasetDict(splits)


def load_glue(task: str = "mrpc", data_dir: Optional[str] = None):
    """Train and validation splits of a GLUE task, and where they came from.

    A folder named by `data_dir` or LAB_DATA_DIR wins; otherwise the Hub, if reachable.
    Returns (DatasetDict, source description).
    """
    spec = task_spec(task)
    local = resolve_data_dir(data_dir)
    if local is not None:
        return load_glue_local(task, local), f"local GLUE files ({DATA_DIR_ENV})"
    if hub_reachable():
        import datasets
        ds = datasets.load_dataset("nyu-mll/glue", spec.hub_config)
        return datasets.DatasetDict({"train": ds["train"], "validation": ds["validation"]}), "Hugging Face Hub (nyu-mll/glue)"
    raise RuntimeError(
        f"Cannot load {spec.name}: the Hugging Face Hub is not reachable and {DATA_DIR_ENV} is not set. "
        f"Set {DATA_DIR_ENV} to a folder with the GLUE TSV files (for example ../shared/data/glue).")


def subsample(ds, n: Optional[int], seed: int = 0):
    """A seeded random subset of n rows (all rows when n is None or too large)."""
    if n is None or n >= len(ds):
        return ds
    return ds.shuffle(seed=seed).select(range(n))


def tokenize(ds, tokenizer, task: str = "mrpc", max_length: int = 128):
    """Tokenise without padding: the collator pads each batch to its own longest example."""
    cols = task_spec(task).text_columns

    def encode(batch):
        return tokenizer(*[batch[c] for c in cols], truncation=True, max_length=max_length)

    names = ds.column_names
    names = next(iter(names.values())) if isinstance(names, dict) else names
    return ds.map(encode, batched=True, remove_columns=[c for c in names if c != "label"])
