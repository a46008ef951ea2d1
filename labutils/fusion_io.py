"""Saving and loading an AdapterFusion as a folder of the same format as an adapter folder (`labutils.folder_format`)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from torch import nn

from .folder_format import SavedFolder, model_facts
from .layer import adapter_configs
from .notebook import shown
from .safe_folder import FolderError
from .switching import adapter_label_names, task_tensors
from .fusion import active_fusion, delete_fusion, fuse_adapters, fusion_tensors, fusions, set_active_fusion


class FusionFileError(FolderError):
    """A fusion folder that cannot be loaded (or a path save_fusion will not replace), with the reason."""


FUSION_FOLDER = SavedFolder(
    noun="fusion", writer="save_fusion", marker="fusion_config.json", weights="fusion_model.safetensors",
    format="labutils-fusion", version=1, error=FusionFileError,
    keys={"fusion_name": str, "adapters": list, "adapter_configs": dict, "adapter_sha256": dict, "settings": dict,
          "label_names": list, "sha256": str, "model_type": str, "hidden_size": int, "num_hidden_layers": int,
          "base_model": str})


def adapter_checksum(model: nn.Module, name: str) -> str:
    """SHA-256 over adapter `name`'s own weights (not its LayerNorms or head): which adapter it is."""
    h = hashlib.sha256()
    for key, t in sorted(task_tensors(model, name).items()):
        if f".adapters.{name}." in key:
            h.update(key.replace(f".adapters.{name}.", ".adapters.").encode())
            h.update(t.detach().float().cpu().contiguous().view(-1).numpy().tobytes())
    return h.hexdigest()


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
    info, configs = fusions(model)[name], adapter_configs(model)
    meta = {"fusion_name": name, **model_facts(model), "adapters": info["adapters"], "settings": info["settings"],
            "adapter_configs": {n: configs[n].to_dict() for n in info["adapters"]},
            "adapter_sha256": {n: adapter_checksum(model, n) for n in info["adapters"]},
            "label_names": adapter_label_names(model, None)}
    return FUSION_FOLDER.save(folder, _fusion_state(model, name), meta, subfolder=name)


def load_fusion(model: nn.Module, folder, set_active: bool = True, train_layernorm: bool = False) -> dict:
    """Load a fusion folder into a model that already holds the adapters it fuses."""
    folder = Path(folder)
    meta = FUSION_FOLDER.read_config(folder)
    configs = adapter_configs(model)
    missing = [n for n in meta["adapters"] if n not in configs]
    if missing:
        raise FusionFileError(f"{shown(folder)}: fusion {meta['fusion_name']!r} needs adapters {missing}, which the "
                              f"model lacks (it has {sorted(configs)}); load them first with labutils.load_adapter.")
    for n in meta["adapters"]:
        if (configs[n].to_dict() != meta["adapter_configs"][n]
                or adapter_checksum(model, n) != meta["adapter_sha256"][n]):
            raise FusionFileError(f"{shown(folder)}: the model's adapter {n!r} is not the one this fusion was trained "
                                  "with (its config or weights differ); load that adapter's folder first.")
    tensors = FUSION_FOLDER.checked_weights(folder, meta, model, adapter_label_names(model, None))
    name, before = meta["fusion_name"], active_fusion(model)
    created = name not in fusions(model)
    fuse_adapters(model, meta["adapters"], name, dropout=meta["settings"]["dropout"],
                  temperature=meta["settings"]["temperature"], train_layernorm=train_layernorm)
    try:
        FUSION_FOLDER.copy_into(folder, _fusion_state(model, name), tensors)
    except FusionFileError:
        if created:
            delete_fusion(model, name)
        set_active_fusion(model, before)
        raise
    if not set_active:
        set_active_fusion(model, before)
    return meta
