"""Saving and loading an AdapterFusion as a folder, like an adapter folder (`labutils.io`)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from torch import nn

from .io import _model_facts, _sha256, _write_adapter
from .layer import adapter_configs
from .notebook import shown
from .safe_folder import FolderError, FolderKind, recover, refuse_to_replace, swap_in, write_new_copy
from .switching import adapter_label_names, task_tensors
from .fusion import active_fusion, delete_fusion, fuse_adapters, fusion_tensors, fusions, set_active_fusion

FORMAT, FORMAT_VERSION = "labutils-fusion", 1
CONFIG_FILE, WEIGHTS_FILE = "fusion_config.json", "fusion_model.safetensors"
_KEYS = ("format", "format_version", "fusion_name", "adapters", "adapter_configs", "adapter_sha256",
         "settings", "label_names", "sha256", "model_type", "hidden_size", "num_hidden_layers", "base_model")


class FusionFileError(FolderError):
    """A fusion folder that cannot be loaded (or a path save_fusion will not replace), with the reason."""


def adapter_checksum(model: nn.Module, name: str) -> str:
    """SHA-256 over adapter `name`'s own weights (not its LayerNorms or head): which adapter it is."""
    h = hashlib.sha256()
    for key, t in sorted(task_tensors(model, name).items()):
        if f".adapters.{name}." in key:
            h.update(key.replace(f".adapters.{name}.", ".adapters.").encode())
            h.update(t.detach().float().cpu().contiguous().view(-1).numpy().tobytes())
    return h.hexdigest()


def _read(folder: Path) -> dict:
    if not (folder / CONFIG_FILE).is_file():
        raise FusionFileError(f"{shown(folder)}: no {CONFIG_FILE}; is this a folder written by labutils.save_fusion?")
    try:
        meta = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FusionFileError(f"{shown(folder)}/{CONFIG_FILE} is corrupt ({e}); save the fusion again.") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise FusionFileError(f"{shown(folder)}/{CONFIG_FILE} is not a labutils fusion file (format "
                              f"{FORMAT!r} version {FORMAT_VERSION}); save the fusion again.")
    missing = [k for k in _KEYS if k not in meta]
    if missing:
        raise FusionFileError(f"{shown(folder)}/{CONFIG_FILE} lacks {missing}: edited or cut short; save it again.")
    return meta


def _complete(folder: Path) -> bool:
    try:
        return _sha256(folder / WEIGHTS_FILE) == _read(folder)["sha256"]
    except (FusionFileError, OSError):
        return False


def _not_ours(folder: Path):
    try:
        _read(folder)
        return None
    except (FusionFileError, OSError):
        return f"holds a {CONFIG_FILE} that labutils.save_fusion did not write"


FUSION_FOLDER = FolderKind(noun="fusion", files=frozenset({CONFIG_FILE, WEIGHTS_FILE}), marker=CONFIG_FILE,
                           is_complete=_complete, not_ours=_not_ours, error=FusionFileError)


def _fusion_state(model: nn.Module, name: str) -> dict:
    """Fusion `name`'s Q, K, V and the base slot's LayerNorms and head, which it trains with."""
    shared = {k: v for k, v in task_tensors(model, None).items() if ".adapters." not in k and ".fusion." not in k}
    return {**fusion_tensors(model, name), **shared}


def save_fusion(model: nn.Module, folder, name: str | None = None) -> Path:
    """Write fusion `name` (default: the active one) to `folder`, crash-safely."""
    name = name or active_fusion(model)
    if name is None or name not in fusions(model):
        raise KeyError(f"no fusion {name!r} to save; the model has {sorted(fusions(model))}.")
    if active_fusion(model) != name:
        set_active_fusion(model, name)  # its head and LayerNorms are the live ones only while it runs
    folder = Path(folder)
    info = fusions(model)[name]
    tensors = {k: v.to("cpu").contiguous().clone() for k, v in _fusion_state(model, name).items()}
    configs = adapter_configs(model)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fusion_name": name, **_model_facts(model),
            "adapters": info["adapters"], "settings": info["settings"],
            "adapter_configs": {n: configs[n].to_dict() for n in info["adapters"]},
            "adapter_sha256": {n: adapter_checksum(model, n) for n in info["adapters"]},
            "label_names": adapter_label_names(model, None)}
    folder.parent.mkdir(parents=True, exist_ok=True)
    recover(folder, FUSION_FOLDER)
    refuse_to_replace(folder, FUSION_FOLDER, writer="save_fusion", subfolder=name)
    write = lambda path: _write_adapter(path, tensors, meta, WEIGHTS_FILE, CONFIG_FILE, FORMAT)  # noqa: E731
    swap_in(folder, write_new_copy(folder, FUSION_FOLDER, write), FUSION_FOLDER)
    return folder


def read_fusion_config(folder) -> dict:
    folder = Path(folder)
    recover(folder, FUSION_FOLDER)
    if not os.path.lexists(folder):
        raise FusionFileError(f"{shown(folder)} does not exist; save the fusion there first with labutils.save_fusion.")
    return _read(folder)


def load_fusion(model: nn.Module, folder, set_active: bool = True, train_layernorm: bool = False) -> dict:
    """Load a fusion folder into a model that already holds the adapters it fuses."""
    from safetensors.torch import load_file
    folder = Path(folder)
    meta = read_fusion_config(folder)
    configs = adapter_configs(model)
    missing = [n for n in meta["adapters"] if n not in configs]
    if missing:
        raise FusionFileError(f"{shown(folder)}: fusion {meta['fusion_name']!r} needs adapters {missing}, which the "
                              f"model lacks (it has {sorted(configs)}); load them first with labutils.load_adapter.")
    for n in meta["adapters"]:
        if configs[n].to_dict() != meta["adapter_configs"][n] or adapter_checksum(model, n) != meta["adapter_sha256"][n]:
            raise FusionFileError(f"{shown(folder)}: the model's adapter {n!r} is not the one this fusion was trained "
                                  "with (its config or weights differ); load that adapter's folder first.")
    facts = _model_facts(model)
    for key in ("model_type", "hidden_size", "num_hidden_layers", "base_model"):
        if meta[key] != facts[key]:
            raise FusionFileError(f"{shown(folder)}: {key} mismatch: the file has {meta[key]!r}, this model "
                                  f"{facts[key]!r}. Load it into the base model it was trained on.")
    if meta["label_names"] != adapter_label_names(model, None):
        raise FusionFileError(f"{shown(folder)}: label_names mismatch: the file's head predicts {meta['label_names']}, "
                              f"this model's {adapter_label_names(model, None)}. Load the base with the file's labels.")
    if not (folder / WEIGHTS_FILE).is_file() or _sha256(folder / WEIGHTS_FILE) != meta["sha256"]:
        raise FusionFileError(f"{shown(folder)}/{WEIGHTS_FILE} is missing or does not match its checksum; "
                              "save the fusion again.")
    tensors = load_file(str(folder / WEIGHTS_FILE))
    name = meta["fusion_name"]
    created = name not in fusions(model)
    before = active_fusion(model)
    fuse_adapters(model, meta["adapters"], name, dropout=meta["settings"]["dropout"],
                  temperature=meta["settings"]["temperature"], train_layernorm=train_layernorm)
    expected = _fusion_state(model, name)
    wrong = sorted(set(expected) ^ set(tensors)) + sorted(
        k for k in set(expected) & set(tensors) if tuple(expected[k].shape) != tuple(tensors[k].shape))
    if wrong:
        if created:
            delete_fusion(model, name)
        set_active_fusion(model, before)
        raise FusionFileError(f"{shown(folder)}: tensors do not match this model ({len(wrong)} differ, e.g. {wrong[:2]}).")
    with torch.no_grad():
        for key, t in expected.items():
            t.copy_(tensors[key].to(device=t.device, dtype=t.dtype))
    if not set_active:
        set_active_fusion(model, before)
    return meta
