"""GLUE tasks from the Hub when it is reachable, else from local GLUE TSV files.

First match wins: `data_dir` / LAB_DATA_DIR, the Hub, a ../shared/data/glue found as the Makefile
finds it. The TSVs hold bare double quotes, so they are read with quoting off (or rows merge).
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .hub import hub_reachable

DATA_DIR_ENV = "LAB_DATA_DIR"
# The folder the Makefile uses (LAB_DATA_DIR ?= ../shared/data/glue), relative to the lab's folder.
SHARED_GLUE = Path("..") / "shared" / "data" / "glue"
LAB_ROOT = Path(__file__).resolve().parent.parent  # the lab's folder: the one that holds labutils/
RESTORE_HINT = "copy the file again from the GLUE release"


@dataclass(frozen=True)
class TaskSpec:
    """How one GLUE task looks on disk and on the Hub."""
    name: str
    hub_config: str
    text_columns: tuple           # ("sentence1", "sentence2") or ("sentence",)
    label_names: tuple            # index = label id, as on the Hub
    columns: tuple                # the TSV's fields, as its header names them
    header: bool                  # does the TSV start with a header line?
    text_fields: tuple            # where each text column sits in a line
    label_field: int              # where the label sits in a line
    label_values: tuple           # the label as written in the file; index = label id
    score_range: Optional[tuple] = None  # (low, high) for a regression task: the label is a float score

    @property
    def regression(self) -> bool:
        return self.score_range is not None

    def parse(self, fields: list) -> dict:
        """One line's fields -> the Hub's text columns and label id (a regression task: the float score)."""
        row = {c: fields[i] for c, i in zip(self.text_columns, self.text_fields)}
        value, column = fields[self.label_field].strip(), self.columns[self.label_field]
        if self.regression:
            low, high = self.score_range
            try:
                row["label"] = float(value)
            except ValueError:
                row["label"] = math.nan
            if not low <= row["label"] <= high:  # also refuses nan and inf
                raise ValueError(f"score {value!r} in column {column!r} is not a {self.name} score; "
                                 f"expected a number from {low:g} to {high:g}")
        elif value in self.label_values:
            row["label"] = self.label_values.index(value)
        else:
            allowed = " or ".join(f"{v} ({n})" for v, n in zip(self.label_values, self.label_names))
            raise ValueError(f"label {value!r} in column {column!r} is not a {self.name} label; expected {allowed}")
        return row


TASKS = {
    "mrpc": TaskSpec("MRPC", "mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"),
                     ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"), True, (3, 4), 0, ("0", "1")),
    "sst2": TaskSpec("SST-2", "sst2", ("sentence",), ("negative", "positive"),
                     ("sentence", "label"), True, (0,), 1, ("0", "1")),
    "rte": TaskSpec("RTE", "rte", ("sentence1", "sentence2"), ("entailment", "not_entailment"),
                    ("index", "sentence1", "sentence2", "label"), True, (1, 2), 3, ("entailment", "not_entailment")),
    "cola": TaskSpec("CoLA", "cola", ("sentence",), ("unacceptable", "acceptable"),
                     ("source", "label", "original-label", "sentence"), False, (3,), 1, ("0", "1")),
    # A regression task: one output named "similarity" (one output is what makes a head a
    # regression head, as in transformers: num_labels == 1 -> MSE loss).
    "stsb": TaskSpec("STS-B", "stsb", ("sentence1", "sentence2"), ("similarity",),
                     ("index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1",
                      "sentence2", "score"), True, (7, 8), 9, (), score_range=(0.0, 5.0)),
}


def task_spec(task: str) -> TaskSpec:
    key = task.lower().replace("-", "")
    if key not in TASKS:
        raise ValueError(f"unknown task {task!r}; labutils knows {[t.name for t in TASKS.values()]}.")
    return TASKS[key]


def read_glue_tsv(path: Path, spec: TaskSpec) -> list:
    """Every example of one GLUE TSV file, quotes kept as they are, each line checked."""
    path = Path(path)
    where = f"{path.parent.name}/{path.name}"  # as users should see it, never a machine path
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # a BOM (Excel's "UTF-8") would otherwise stick to line 1
    except UnicodeDecodeError as e:
        lineno = raw.count(b"\n", 0, e.start) + 1
        raise ValueError(
            f"{where} line {lineno}: byte 0x{raw[e.start]:02x} is not UTF-8 text. "
            f"GLUE's files are UTF-8: save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`) or {RESTORE_HINT}."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    rows = []
    for fields in reader:
        lineno = reader.line_num
        # Line 1 must be the task's header, or the loader would drop an example or keep a header.
        if lineno == 1 and spec.header:
            if fields and fields[0].strip().lower() == spec.columns[0].lower():
                continue
            header = "\\t".join(spec.columns)
            example = len(fields) == len(spec.columns)
            if example:
                try:
                    spec.parse(fields)
                except ValueError:
                    example = False
            if example:
                raise ValueError(
                    f"{where} line 1 is an example, not {spec.name}'s header line, so the header is missing "
                    f"(reading on would drop this example). Add the header as line 1: {header}")
            raise ValueError(
                f"{where} line 1 is not {spec.name}'s header: it should start with {spec.columns[0]!r} (the full "
                f"header is {header}). Is this the {spec.name} file from the GLUE release? If so, {RESTORE_HINT}.")
        if not fields:
            continue
        if len(fields) != len(spec.columns):
            raise ValueError(
                f"{where} line {lineno}: {len(fields)} tab-separated fields, expected {len(spec.columns)} "
                f"for {spec.name} ({', '.join(spec.columns)}). Is this the {spec.name} file from the GLUE release? "
                f"Fix that line or {RESTORE_HINT}.")
        try:
            row = spec.parse(fields)
        except ValueError as e:
            raise ValueError(f"{where} line {lineno}: {e}. Correct that line or {RESTORE_HINT}.") from None
        row["idx"] = len(rows)
        rows.append(row)
    if not rows:
        what = ("its header (line 1) but no examples after it" if spec.header and reader.line_num
                else f"no examples ({reader.line_num} lines)")
        raise ValueError(
            f"{where} has {what}; training needs examples. The copy is incomplete: {RESTORE_HINT}, "
            f"or point {DATA_DIR_ENV} at a complete GLUE folder.")
    return rows


def resolve_data_dir(data_dir: Optional[str] = None) -> Optional[Path]:
    """The GLUE folder named by the caller or LAB_DATA_DIR, checked to exist; None if unnamed."""
    named = data_dir or os.environ.get(DATA_DIR_ENV)
    if not named:
        return None
    path = Path(named).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"{DATA_DIR_ENV}={named!r} is not a folder. Set it to the folder that holds the GLUE task "
            "folders (MRPC/train.tsv, MRPC/dev.tsv, ...), e.g. LAB_DATA_DIR=../shared/data/glue.")
    return path


def load_glue_local(task: str, data_dir):
    """A GLUE task (a DatasetDict) from `data_dir/<TASK>/{train,dev}.tsv`, with the Hub's columns."""
    import datasets
    spec = task_spec(task)
    splits = {}
    for split, filename in (("train", "train.tsv"), ("validation", "dev.tsv")):
        path = Path(data_dir) / spec.name / filename
        if not path.is_file():
            raise FileNotFoundError(
                f"{spec.name} file {spec.name}/{filename} not found under the GLUE folder {Path(data_dir).name!r}. "
                f"Expected {spec.name}/train.tsv and {spec.name}/dev.tsv in the original GLUE layout.")
        rows = read_glue_tsv(path, spec)
        columns = {c: [r[c] for r in rows] for c in (*spec.text_columns, "label", "idx")}
        features = datasets.Features({
            **{c: datasets.Value("string") for c in spec.text_columns},
            # The Hub's types: a float32 score for STS-B, class ids with names for the others.
            "label": (datasets.Value("float32") if spec.regression
                      else datasets.ClassLabel(names=list(spec.label_names))),
            "idx": datasets.Value("int32"),
        })
        splits[split] = datasets.Dataset.from_dict(columns, features=features)
    return datasets.DatasetDict(splits)


def load_glue(task: str = "mrpc", data_dir: Optional[str] = None):
    """Train and validation splits of a GLUE task, and where they came from."""
    spec = task_spec(task)
    local = resolve_data_dir(data_dir)
    if local is not None:
        return load_glue_local(task, local), f"local GLUE files ({DATA_DIR_ENV})"
    if hub_reachable():
        import datasets
        ds = datasets.load_dataset("nyu-mll/glue", spec.hub_config)
        splits = datasets.DatasetDict({"train": ds["train"], "validation": ds["validation"]})
        return splits, "Hugging Face Hub (nyu-mll/glue)"
    # As the Makefile finds it: beside the lab's folder, else beside the current one.
    for base, where in ((LAB_ROOT, "beside the lab's folder"), (Path.cwd().resolve(), "beside the current folder")):
        folder = base / SHARED_GLUE
        if (folder / spec.name).is_dir():
            return load_glue_local(task, folder.resolve()), (
                f"local GLUE files found in {SHARED_GLUE.as_posix()} {where} ({DATA_DIR_ENV} is unset)")
    raise RuntimeError(
        f"Cannot load {spec.name}: the Hugging Face Hub is not reachable, {DATA_DIR_ENV} is not set, and no "
        f"{SHARED_GLUE.as_posix()}/{spec.name} was found beside the lab's folder or the current folder. "
        f"Set {DATA_DIR_ENV} to the folder that holds {spec.name}/train.tsv: in a notebook cell "
        f"`%env {DATA_DIR_ENV}=/path/to/glue` before loading, or in the shell `export {DATA_DIR_ENV}=/path/to/glue` "
        f"before `jupyter lab` (`make lab` sets it for you).")


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
