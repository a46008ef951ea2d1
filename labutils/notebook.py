"""Notebook plumbing: a quiet, seeded start, where results go, and paths printed without the
machine's folders in them."""
from __future__ import annotations

import json
import logging
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


def write_results(name: str, results: dict) -> Path:
    """Write `results` as outputs/results/<name>.json (what an instructor collects)."""
    path = output_dir("results") / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=float) + "\n")
    return path
