"""Saving and loading one task's adapter as a small, self-describing folder.

    <folder>/adapter_config.json       what is needed to rebuild it and to refuse a wrong match
    <folder>/adapter_model.safetensors adapter weights + the task's LayerNorms + its head

Everything the task trained is in the file (the LayerNorms and the head train too), so a
fresh base model plus this folder reproduces the trained model exactly. Loading checks every
field and every tensor before touching the model: a mismatch or a corrupt file raises, and
the model is never left half-loaded. Saving writes a new folder beside the old one and swaps
it in, so a crash mid-save leaves the previous adapter intact.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from .config import AdapterConfig
from .freeze import parameter_group
from .model import (active_adapter, add_adapter, adapter_configs, adapter_label_names, delete_adapter,
                    encoder_layers, set_active_adapter, task_tensors)

FORMAT = "labutils-adapter"
FORMAT_VERSION = 1
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"


class AdapterFileError(ValueError):
    """An adapter folder that cannot be loaded into this model, with the reason."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def task_state(model: nn.Module, name: str) -> dict:
    """The tensors that belong to task `name`: its adapter, its LayerNorms and its head."""
    return task_tensors(model, name)


def _model_facts(model: nn.Module) -> dict:
    cfg = model.config
    return {
        "base_model": getattr(cfg, "lab_base_model", None) or getattr(cfg, "_name_or_path", "unknown"),
        "model_type": cfg.model_type,
        "hidden_size": cfg.hidden_size,
        "num_hidden_layers": len(encoder_layers(model)),
    }


def save_adapter(model: nn.Module, folder, name: str | None = None, task: str | None = None) -> Path:
    """Write adapter `name` (default: the active one) with its LayerNorms and head to `folder`."""
    from safetensors.torch import save_file

    name = name or active_adapter(model)
    if name is None or name not in adapter_configs(model):
        raise KeyError(f"no adapter {name!r} to save; the model has {sorted(adapter_configs(model))}.")
    folder = Path(folder)
    tensors = {k: v.to("cpu").contiguous().clone() for k, v in task_state(model, name).items()}
    config = adapter_configs(model)[name]
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "adapter_name": name,
        "task": task or name,
        **_model_facts(model),
        "adapter": config.to_dict(),
        "bottleneck": config.bottleneck_for(model.config.hidden_size),
        "label_names": adapter_label_names(model, name),
        "dtype": str(next(iter(tensors.values())).dtype).replace("torch.", ""),
        "num_tensors": len(tensors),
    }
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        meta["sha256"] = _sha256(tmp / WEIGHTS_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        # Swap in the new folder; the old one is moved aside first and removed only after.
        old = None
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def read_adapter_config(folder) -> dict:
    """The JSON side of an adapter folder, checked for format and version."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise AdapterFileError(f"{folder.name}: no {CONFIG_FILE}; is this a folder written by labutils.save_adapter?")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise AdapterFileError(f"{folder.name}/{CONFIG_FILE} is not valid JSON ({e}); the file is corrupt.") from e
    if meta.get("format") != FORMAT:
        raise AdapterFileError(f"{folder.name}/{CONFIG_FILE}: format {meta.get('format')!r}, expected {FORMAT!r}.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise AdapterFileError(
            f"{folder.name}: format_version {meta.get('format_version')} is not {FORMAT_VERSION}, "
            "the version this labutils reads.")
    return meta


def adapter_file_size(folder) -> int:
    """Bytes on disk of an adapter folder."""
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())


def load_adapter(model: nn.Module, folder, name: str | None = None, set_active: bool = True) -> dict:
    """Load an adapter folder into `model` (adding the adapter if it is not there yet).

    Checks base model, sizes, placement and every tensor's name and shape first; raises
    `AdapterFileError` naming the mismatching field, leaving the model untouched.
    Returns the folder's JSON metadata.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = read_adapter_config(folder)
    facts = _model_facts(model)
    for key in ("model_type", "hidden_size", "num_hidden_layers", "base_model"):
        if meta.get(key) != facts[key]:
            raise AdapterFileError(
                f"{folder.name}: {key} mismatch: the adapter was made for {key}={meta.get(key)!r}, "
                f"this model has {key}={facts[key]!r}. Load it into the base model it was trained on.")
    labels = adapter_label_names(model, name or meta.get("adapter_name"))
    if meta["label_names"] != labels:
        raise AdapterFileError(
            f"{folder.name}: label_names mismatch: the file's head predicts {meta['label_names']}, this model's "
            f"head has {labels}. Load the base model with the file's labels.")
    try:
        config = AdapterConfig.from_dict(meta["adapter"])
    except (TypeError, ValueError) as e:
        raise AdapterFileError(f"{folder.name}: the adapter config is invalid ({e}).") from e
    file_name = meta["adapter_name"]
    name = name or file_name
    existing = adapter_configs(model).get(name)
    if existing is not None:
        for field_name, want in config.to_dict().items():
            have = getattr(existing, field_name)
            if have != want:
                raise AdapterFileError(
                    f"{folder.name}: {field_name} mismatch: the file has {field_name}={want!r}, the model's adapter "
                    f"{name!r} has {field_name}={have!r}. Load into a fresh model or under another name.")
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise AdapterFileError(f"{folder.name}: {WEIGHTS_FILE} is missing.")
    if meta.get("sha256") and _sha256(weights) != meta["sha256"]:
        raise AdapterFileError(f"{folder.name}/{WEIGHTS_FILE} does not match its recorded checksum: "
                               "the file is corrupt or was changed; save the adapter again.")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, RuntimeError) as e:
        raise AdapterFileError(f"{folder.name}/{WEIGHTS_FILE} cannot be read ({e}); the file is corrupt.") from e

    # Build the adapter, check every tensor against it, and roll back if anything is off.
    created = existing is None
    if created:
        add_adapter(model, name, config, set_active=False)
    try:
        expected = task_state(model, name)
        renamed = {k.replace(f".adapters.{file_name}.", f".adapters.{name}."): v for k, v in tensors.items()}
        missing = sorted(set(expected) - set(renamed))
        unexpected = sorted(set(renamed) - set(expected))
        if missing or unexpected:
            raise AdapterFileError(
                f"{folder.name}: tensors do not match this model ({len(missing)} missing, e.g. {missing[:2]}; "
                f"{len(unexpected)} unexpected, e.g. {unexpected[:2]}).")
        for key, param in expected.items():
            if tuple(renamed[key].shape) != tuple(param.shape):
                raise AdapterFileError(f"{folder.name}: tensor {key} has shape {tuple(renamed[key].shape)}, "
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


def model_file_size(model: nn.Module) -> int:
    """Bytes that `save_pretrained` writes for the whole model (what full fine-tuning stores per task)."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        return sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
