"""Notebook plumbing: a quiet, seeded start, checks that stop the notebook when they fail, tables of
whole sentences, where results go, and paths printed without the machine's folders in them."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import warnings
from pathlib import Path

from .profiles import Profile, get_profile

OUTPUT_ENV = "LAB_OUTPUT_DIR"


def quiet() -> None:
    """Keep library chatter off stderr so students (and nbval) see only what matters."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DATASETS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    import huggingface_hub.utils
    huggingface_hub.utils.disable_progress_bars()  # e.g. "Writing model shards" in save_pretrained
    logging.getLogger("accelerate").setLevel(logging.ERROR)
    # Known, harmless notices from the stack; anything else still shows.
    warnings.filterwarnings("ignore", message=".*TRANSFORMERS_CACHE.*")
    warnings.filterwarnings("ignore", message=".*torch.utils._pytree.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


def start(profile: str | None = None, seed: int = 0) -> Profile:
    """Quiet the libraries, seed everything, and return the run profile."""
    from .train import set_seed
    quiet()
    set_seed(seed)
    return get_profile(profile)


def output_dir(*parts: str) -> Path:
    """A folder under LAB_OUTPUT_DIR (default: outputs/ next to the notebooks), created."""
    path = Path(os.environ.get(OUTPUT_ENV, "outputs")).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def shown(path) -> str:
    """`path` as a student should see it: relative to the working folder when possible."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def hardware() -> dict:
    """What this run ran on, for results files and README tables."""
    import torch
    from .device import device_summary, pick_device
    device = pick_device()
    return {"device": device, "device_name": device_summary(device), "torch": torch.__version__,
            "python": platform.python_version(), "cpu_count": os.cpu_count()}


class CheckFailed(AssertionError):
    """A notebook's check found its claim False: what the cells above did is not what the lab expects."""


def check(claim: str, ok) -> None:
    """Print `<claim>: True`, or stop the notebook when `ok` is false (a printed False could be missed)."""
    try:
        passed = bool(ok)
    except (ValueError, RuntimeError) as err:  # an array of several values has no single truth
        raise TypeError(f"check({claim!r}, ...) needs one True/False, got {type(ok).__name__} with several "
                        "values; reduce it first with .all() or .any().") from err
    if not passed:
        raise CheckFailed(
            f"this check is False: {claim}. The cells above did not do what this notebook expects; "
            "re-run the notebook from the top (Kernel > Restart Kernel and Run All Cells), and if the check "
            "still fails, report it with this message.")
    print(f"{claim}: True")


def show_text_table(frame) -> None:
    """Display a table of sentences with every sentence whole, wrapped and left-aligned (pandas cuts at 50)."""
    import pandas as pd
    from IPython.display import display
    text_cols = [c for c in frame.columns if frame[c].dtype == object]
    with pd.option_context("display.max_colwidth", None):
        plain = frame.to_string()
        try:
            html = (frame.style.set_properties(subset=text_cols, **{"text-align": "left", "white-space": "normal"})
                    .format(precision=3).to_html())
        except ImportError:  # Styler needs jinja2; the plain HTML table still shows whole sentences
            html = frame.to_html()
    display({"text/plain": plain, "text/html": html}, raw=True)


def plain(value, where: str = "results", nan_as_null: bool = True):
    """`value` as plain JSON data (keys as text; NaN and infinity as null unless `nan_as_null=False`)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Its own to_dict wins: AdapterConfig's leaves out fields at the defaults they had before they
        # existed (Compacter's), so run keys and saved files stay as they were.
        return plain(value.to_dict() if callable(getattr(value, "to_dict", None)) else dataclasses.asdict(value),
                     where, nan_as_null)
    if isinstance(value, dict):
        return {str(k): plain(v, f"{where}[{k!r}]", nan_as_null) for k, v in value.items()}
    if isinstance(value, (list, tuple, range)):
        return [plain(v, f"{where}[{i}]", nan_as_null) for i, v in enumerate(value)]
    if isinstance(value, float):
        return value if math.isfinite(value) or not nan_as_null else None
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a DataFrame: one dict per row
        plain_index = type(value.index).__name__ == "RangeIndex"  # 0, 1, 2, ...: nothing worth a column
        return plain(value.reset_index(drop=plain_index).to_dict(orient="records"), where, nan_as_null)
    if hasattr(value, "tolist"):  # numpy scalars and arrays, torch tensors
        return plain(value.tolist(), where, nan_as_null)
    raise TypeError(f"{where} is a {type(value).__name__}, which JSON cannot hold; "
                    "convert it to numbers, text, lists or dicts first.")


def write_results(name: str, results: dict) -> Path:
    """Write `results` as outputs/results/<name>.json (what an instructor collects)."""
    path = output_dir("results") / f"{name}.json"
    path.write_text(json.dumps(plain(results), indent=2, allow_nan=False) + "\n")
    return path
