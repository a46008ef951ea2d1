"""Saving and loading one task's adapter as a small, self-describing folder.

    <folder>/adapter_config.json       what is needed to rebuild it and to refuse a wrong match
    <folder>/adapter_model.safetensors adapter weights + the task's LayerNorms + its head

The folder is a `SavedFolder` (`labutils.folder_format`): loading checks everything before
touching the model; saving is crash-safe.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from torch import nn

from .config import AdapterConfig
from .folder_format import SavedFolder, model_facts
from .layer import active_adapter, adapter_configs
from .model import add_adapter, delete_adapter
from .notebook import shown
from .safe_folder import FolderError
from .switching import adapter_label_names, set_active_adapter, task_tensors

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"


class AdapterFileError(FolderError):
    """An adapter folder that cannot be loaded, or a path save_adapter will not replace, with the reason."""


ADAPTER_FOLDER = SavedFolder(
    noun="adapter", writer="save_adapter", marker=CONFIG_FILE, weights=WEIGHTS_FILE, format="labutils-adapter",
    version=1, error=AdapterFileError,
    keys={"adapter_name": str, "task": str, "base_model": str, "model_type": str, "hidden_size": int,
          "num_hidden_layers": int, "adapter": dict, "bottleneck": int, "label_names": list, "dtype": str,
          "num_tensors": int, "sha256": str})


def read_adapter_config(folder) -> dict:
    """The JSON side of an adapter folder, checked for format, version and every key."""
    return ADAPTER_FOLDER.read_config(folder)


def read_adapter(folder) -> tuple:
    """(metadata, AdapterConfig) of an adapter folder, or AdapterFileError: read before a model changes."""
    meta = read_adapter_config(folder)
    try:
        return meta, AdapterConfig.from_dict(meta["adapter"])
    except (TypeError, ValueError) as e:
        raise AdapterFileError(f"{shown(folder)}: the adapter config is invalid ({e}). {ADAPTER_FOLDER.again}") from e


def save_adapter(model: nn.Module, folder, name: str | None = None, task: str | None = None) -> Path:
    """Write adapter `name` (default: the active one) with its LayerNorms and head to `folder`.
    Only an absent, empty or adapter folder is replaced; anything else is refused, never deleted."""
    name = name or active_adapter(model)
    if name is None or name not in adapter_configs(model):
        raise KeyError(f"no adapter {name!r} to save; the model has {sorted(adapter_configs(model))}.")
    tensors, config = task_tensors(model, name), adapter_configs(model)[name]
    meta = {"adapter_name": name, "task": task or name, **model_facts(model), "adapter": config.to_dict(),
            "bottleneck": config.bottleneck_for(model.config.hidden_size),
            "label_names": adapter_label_names(model, name),
            "dtype": str(next(iter(tensors.values())).dtype).replace("torch.", ""), "num_tensors": len(tensors)}
    return ADAPTER_FOLDER.save(folder, tensors, meta, subfolder=name)


def load_adapter(model: nn.Module, folder, name: str | None = None, set_active: bool = True) -> dict:
    """Load an adapter folder into `model` (adding the adapter if it is not there yet)."""
    folder = Path(folder)
    meta, config = read_adapter(folder)
    file_name = meta["adapter_name"]
    name = name or file_name
    tensors = ADAPTER_FOLDER.checked_weights(folder, meta, model, adapter_label_names(model, name))
    existing = adapter_configs(model).get(name)
    if existing is None:
        add_adapter(model, name, config, set_active=False)
    else:  # loading over an adapter of the model: only into the same layout
        for field, want in config.to_dict().items():
            if getattr(existing, field) != want:
                raise AdapterFileError(f"{shown(folder)}: {field} mismatch: the file has {field}={want!r}, the "
                                       f"model's adapter {name!r} has {field}={getattr(existing, field)!r}. Load "
                                       "into a fresh model or under another name.")
    renamed = {k.replace(f".adapters.{file_name}.", f".adapters.{name}."): v for k, v in tensors.items()}
    try:
        ADAPTER_FOLDER.copy_into(folder, task_tensors(model, name), renamed)
    except AdapterFileError:
        if existing is None:  # roll back the adapter made for it
            delete_adapter(model, name)
        raise
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
