"""Saving and loading one task's adapter as a small, self-describing folder.

    <folder>/adapter_config.json       what is needed to rebuild it and to refuse a wrong match
    <folder>/adapter_model.safetensors adapter weights + the task's LayerNorms + its head

Loading checks everything before touching the model; saving is crash-safe (`labutils.safe_folder`).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from .config import AdapterConfig
from .layer import active_adapter, adapter_configs, encoder_layers
from .model import add_adapter, delete_adapter
from .notebook import shown
from .safe_folder import FolderError, FolderKind, recover, refuse_to_replace, swap_in, write_new_copy
from .switching import adapter_label_names, set_active_adapter, task_tensors

FORMAT = "labutils-adapter"
FORMAT_VERSION = 1
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
# Every key save_adapter writes, and the JSON type each must have.
_REQUIRED_KEYS = {
    "format": str, "format_version": int, "adapter_name": str, "task": str, "base_model": str,
    "model_type": str, "hidden_size": int, "num_hidden_layers": int, "adapter": dict, "bottleneck": int,
    "label_names": list, "dtype": str, "num_tensors": int, "sha256": str,
}
_AGAIN = "Save the adapter again with labutils.save_adapter."


class AdapterFileError(FolderError):
    """An adapter folder that cannot be loaded, or a path save_adapter will not replace, with the reason."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _model_facts(model: nn.Module) -> dict:
    cfg = model.config
    return {
        "base_model": getattr(cfg, "lab_base_model", None) or getattr(cfg, "_name_or_path", "unknown"),
        "model_type": cfg.model_type,
        "hidden_size": cfg.hidden_size,
        "num_hidden_layers": len(encoder_layers(model)),
        # What the base model is (`labutils.hub.model_fingerprint`); the name above is for people.
        "base_fingerprint": getattr(cfg, "lab_base_fingerprint", None),
    }


# reading the JSON side

def _read_json(folder: Path):
    """What the folder's adapter_config.json holds, or AdapterFileError if it is not text or not JSON."""
    where = f"{shown(folder)}/{CONFIG_FILE}"
    try:
        text = (folder / CONFIG_FILE).read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise AdapterFileError(f"{where} is not text (byte {e.start} is not UTF-8): the file is corrupt. {_AGAIN}") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise AdapterFileError(f"{where} is not valid JSON ({e}); the file is corrupt. {_AGAIN}") from e


def _parse_config(folder: Path) -> dict:
    """The folder's JSON, refused with the reason and the fix unless it is one save_adapter wrote."""
    if not (folder / CONFIG_FILE).is_file():
        if not os.path.lexists(folder):
            raise AdapterFileError(f"{shown(folder)} does not exist; check the path, or save the adapter there first "
                                   "with labutils.save_adapter.")
        raise AdapterFileError(f"{shown(folder)}: no {CONFIG_FILE}; is this a folder written by labutils.save_adapter?")
    meta = _read_json(folder)
    where = f"{shown(folder)}/{CONFIG_FILE}"
    if not isinstance(meta, dict):
        raise AdapterFileError(f"{where} holds a JSON {type(meta).__name__}, not an object of adapter fields: the "
                               f"file is corrupt or was overwritten. {_AGAIN}")
    if meta.get("format") != FORMAT:
        raise AdapterFileError(f"{where}: format {meta.get('format')!r}, expected {FORMAT!r}: labutils.save_adapter "
                               f"did not write it (a peft adapter loads with peft), or it was edited. {_AGAIN}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise AdapterFileError(
            f"{where}: format_version {meta.get('format_version')!r} is not {FORMAT_VERSION}, the version this "
            f"labutils reads. Load it with the labutils that wrote it, or {_AGAIN[0].lower() + _AGAIN[1:]}")
    missing = [k for k in _REQUIRED_KEYS if k not in meta]
    if missing:
        why = (" Without sha256 a changed or corrupt weights file would go unnoticed." if "sha256" in missing else "")
        raise AdapterFileError(f"{where} lacks {missing}; every file labutils.save_adapter writes has them, so this "
                               f"one was edited or cut short.{why} {_AGAIN}")
    for key, kind in _REQUIRED_KEYS.items():
        if not isinstance(meta[key], kind):
            raise AdapterFileError(f"{where}: {key} is {meta[key]!r}, not a JSON {kind.__name__}; the file was "
                                   f"edited or is corrupt. {_AGAIN}")
    if not meta["label_names"] or not all(isinstance(label, str) for label in meta["label_names"]):
        problem = "are not all strings" if meta["label_names"] else "name no label"
        raise AdapterFileError(f"{where}: label_names {meta['label_names']!r} {problem}. {_AGAIN}")
    return meta


def _not_ours(folder: Path) -> str | None:
    """Why a folder with an adapter_config.json is not a labutils adapter (None: it is one)."""
    try:
        meta = _read_json(folder)
        found = f"format {meta.get('format')!r}" if isinstance(meta, dict) else f"it holds a JSON {type(meta).__name__}"
    except (AdapterFileError, OSError):
        meta, found = None, "it is not readable JSON"
    if isinstance(meta, dict) and meta.get("format") == FORMAT:
        return None
    return f"holds a {CONFIG_FILE} that labutils did not write ({found}; a peft or other library's adapter?)"


def _is_complete(folder: Path) -> bool:
    """A loadable copy: its JSON passes the checks and its weights match the recorded sha256."""
    try:
        meta = _parse_config(folder)
        return _sha256(folder / WEIGHTS_FILE) == meta["sha256"]
    except (AdapterFileError, OSError):
        return False


ADAPTER_FOLDER = FolderKind(noun="adapter", files=frozenset({CONFIG_FILE, WEIGHTS_FILE}), marker=CONFIG_FILE,
                            is_complete=_is_complete, not_ours=_not_ours, error=AdapterFileError)


def read_adapter_config(folder) -> dict:
    """The JSON side of an adapter folder, checked for format, version and every key."""
    folder = Path(folder)
    recover(folder, ADAPTER_FOLDER)
    return _parse_config(folder)


def read_adapter(folder) -> tuple:
    """(metadata, AdapterConfig) of an adapter folder, or AdapterFileError: read before a model changes."""
    meta = read_adapter_config(folder)
    try:
        return meta, AdapterConfig.from_dict(meta["adapter"])
    except (TypeError, ValueError) as e:
        raise AdapterFileError(f"{shown(folder)}: the adapter config is invalid ({e}).") from e


# saving, loading, sizes

def _write_json(path: Path, meta: dict) -> None:
    path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _write_adapter(folder: Path, tensors: dict, meta: dict, weights=WEIGHTS_FILE, config=CONFIG_FILE,
                   fmt=FORMAT) -> None:
    """The weights, then (last: it marks the folder complete) the JSON with their checksum."""
    from safetensors.torch import save_file
    save_file(tensors, str(folder / weights), metadata={"format": fmt})
    _write_json(folder / config, {**meta, "sha256": _sha256(folder / weights)})


def save_adapter(model: nn.Module, folder, name: str | None = None, task: str | None = None) -> Path:
    """Write adapter `name` (default: the active one) with its LayerNorms and head to `folder`.
    Only an absent, empty or adapter folder is replaced; anything else is refused, never deleted."""
    name = name or active_adapter(model)
    if name is None or name not in adapter_configs(model):
        raise KeyError(f"no adapter {name!r} to save; the model has {sorted(adapter_configs(model))}.")
    folder = Path(folder)
    if folder.name in ("", ".", ".."):
        raise AdapterFileError(f"save_adapter needs a folder name of its own, not {str(folder)!r}; "
                               f"e.g. {Path(folder, name)}.")
    tensors = {k: v.to("cpu").contiguous().clone() for k, v in task_tensors(model, name).items()}
    config = adapter_configs(model)[name]
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "adapter_name": name, "task": task or name,
            **_model_facts(model), "adapter": config.to_dict(),
            "bottleneck": config.bottleneck_for(model.config.hidden_size),
            "label_names": adapter_label_names(model, name),
            "dtype": str(next(iter(tensors.values())).dtype).replace("torch.", ""), "num_tensors": len(tensors)}
    folder.parent.mkdir(parents=True, exist_ok=True)
    recover(folder, ADAPTER_FOLDER)
    refuse_to_replace(folder, ADAPTER_FOLDER, writer="save_adapter", subfolder=name)
    new = write_new_copy(folder, ADAPTER_FOLDER, lambda path: _write_adapter(path, tensors, meta))
    swap_in(folder, new, ADAPTER_FOLDER)
    return folder


def load_adapter(model: nn.Module, folder, name: str | None = None, set_active: bool = True) -> dict:
    """Load an adapter folder into `model` (adding the adapter if it is not there yet)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    folder = Path(folder)
    meta, config = read_adapter(folder)
    facts = _model_facts(model)
    # The fingerprint identifies the base when both sides have one; otherwise (older files) the name does.
    fingerprinted = bool(meta.get("base_fingerprint") and facts["base_fingerprint"])
    for key in ("model_type", "hidden_size", "num_hidden_layers", "base_fingerprint" if fingerprinted else "base_model"):
        if meta.get(key) != facts[key]:
            note = {"base_fingerprint": f" (the file's base is named {meta.get('base_model')!r}, this model "
                                        f"{facts['base_model']!r}: their weights differ)",
                    "base_model": "" if meta.get("base_fingerprint") else
                                  " (the file records no base fingerprint, as files saved before labutils recorded one, so only the name is checked)"}
            raise AdapterFileError(
                f"{shown(folder)}: {key} mismatch: the adapter was made for {key}={meta.get(key)!r}, "
                f"this model has {key}={facts[key]!r}{note.get(key, '')}. Load it into the base model it was trained on.")
    labels = adapter_label_names(model, name or meta.get("adapter_name"))
    if meta["label_names"] != labels:
        raise AdapterFileError(
            f"{shown(folder)}: label_names mismatch: the file's head predicts {meta['label_names']}, this model's "
            f"head has {labels}. Load the base model with the file's labels.")
    file_name = meta["adapter_name"]
    name = name or file_name
    existing = adapter_configs(model).get(name)
    for field_name, want in config.to_dict().items() if existing is not None else ():
        if getattr(existing, field_name) != want:
            raise AdapterFileError(
                f"{shown(folder)}: {field_name} mismatch: the file has {field_name}={want!r}, the model's adapter "
                f"{name!r} has {field_name}={getattr(existing, field_name)!r}. Load into a fresh model or under another name.")
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise AdapterFileError(f"{shown(folder)}: {WEIGHTS_FILE} is missing. {_AGAIN}")
    if _sha256(weights) != meta["sha256"]:
        raise AdapterFileError(f"{shown(folder)}/{WEIGHTS_FILE} does not match its recorded checksum: "
                               "the file is corrupt or was changed; save the adapter again.")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, RuntimeError) as e:
        raise AdapterFileError(f"{shown(folder)}/{WEIGHTS_FILE} cannot be read ({e}); the file is corrupt.") from e

    # Build the adapter, check every tensor against it, and roll back if anything is off.
    created = existing is None
    if created:
        add_adapter(model, name, config, set_active=False)
    try:
        expected = task_tensors(model, name)
        renamed = {k.replace(f".adapters.{file_name}.", f".adapters.{name}."): v for k, v in tensors.items()}
        missing = sorted(set(expected) - set(renamed))
        unexpected = sorted(set(renamed) - set(expected))
        if missing or unexpected:
            raise AdapterFileError(
                f"{shown(folder)}: tensors do not match this model ({len(missing)} missing, e.g. {missing[:2]}; "
                f"{len(unexpected)} unexpected, e.g. {unexpected[:2]}).")
        for key, param in expected.items():
            if tuple(renamed[key].shape) != tuple(param.shape):
                raise AdapterFileError(f"{shown(folder)}: tensor {key} has shape {tuple(renamed[key].shape)}, "
                                       f"the model expects {tuple(param.shape)}.")
    except AdapterFileError:
        if created:
            delete_adapter(model, name)
        raise
    with torch.no_grad():
        for key, param in expected.items():
            param.copy_(renamed[key].to(device=param.device, dtype=param.dtype))
    if set_active:
        set_active_adapter(model, name)
    return meta


def adapter_file_size(folder) -> int:
    """Bytes on disk of an adapter folder."""
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())


def model_file_size(model: nn.Module) -> int:
    """Bytes that `save_pretrained` writes for the whole model (what full fine-tuning stores per task)."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        return sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
