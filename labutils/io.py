"""Saving and loading one task's adapter as a small, self-describing folder.

    <folder>/adapter_config.json       what is needed to rebuild it and to refuse a wrong match
    <folder>/adapter_model.safetensors adapter weights + the task's LayerNorms + its head

Everything the task trained is in the file (the LayerNorms and the head train too), so a
fresh base model plus this folder reproduces the trained model exactly. Loading checks every
field, the weights' checksum and every tensor before touching the model: a mismatch or a
corrupt file raises, and the model is never left half-loaded.

Saving never deletes what the lab did not write: it replaces only an adapter folder (or an
empty one) and refuses a file or a folder holding anything else. It writes the new copy
beside the folder as `.<name>.new-*`, moves the previous one aside as `.<name>.old-*` and
renames the new one in. At every instant the name holds a complete adapter or a complete
copy waits beside it; the next load or save puts the newest complete copy back at the name
and clears the leftovers, so a crash or Ctrl-C mid-save loses at most the save in progress.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from .config import AdapterConfig
from .model import (active_adapter, add_adapter, adapter_configs, adapter_label_names, delete_adapter,
                    encoder_layers, set_active_adapter, task_tensors)

FORMAT = "labutils-adapter"
FORMAT_VERSION = 1
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
# Files an adapter folder may hold; a Finder-made .DS_Store is no loss when the folder is replaced.
_ADAPTER_FILES = {CONFIG_FILE, WEIGHTS_FILE}
_HARMLESS_FILES = {".DS_Store"}
# Every key save_adapter writes, and the JSON type each must have.
_REQUIRED_KEYS = {
    "format": str, "format_version": int, "adapter_name": str, "task": str, "base_model": str,
    "model_type": str, "hidden_size": int, "num_hidden_layers": int, "adapter": dict, "bottleneck": int,
    "label_names": list, "dtype": str, "num_tensors": int, "sha256": str,
}


class AdapterFileError(ValueError):
    """An adapter folder that cannot be loaded, or a path save_adapter will not replace, with the reason."""


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
        # What the base model is (`labutils.hub.model_fingerprint`); the name above is for people.
        "base_fingerprint": getattr(cfg, "lab_base_fingerprint", None),
    }


# ---------------------------------------------------------------- reading the JSON side

def _parse_config(folder: Path) -> dict:
    """The folder's JSON, refused with the reason and the fix unless it is one save_adapter wrote."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        if not os.path.lexists(folder):
            raise AdapterFileError(f"{folder} does not exist; check the path, or save the adapter there first "
                                   "with labutils.save_adapter.")
        raise AdapterFileError(f"{folder.name}: no {CONFIG_FILE}; is this a folder written by labutils.save_adapter?")
    again = "Save the adapter again with labutils.save_adapter."
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise AdapterFileError(f"{path} is not text (byte {e.start} is not UTF-8): the file is corrupt. {again}") from e
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise AdapterFileError(f"{folder.name}/{CONFIG_FILE} is not valid JSON ({e}); the file is corrupt. {again}") from e
    if not isinstance(meta, dict):
        raise AdapterFileError(f"{path} holds a JSON {type(meta).__name__}, not an object of adapter fields: the "
                               f"file is corrupt or was overwritten. {again}")
    if meta.get("format") != FORMAT:
        raise AdapterFileError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}: labutils.save_adapter "
                               f"did not write it (a peft adapter loads with peft), or it was edited. {again}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise AdapterFileError(
            f"{path}: format_version {meta.get('format_version')!r} is not {FORMAT_VERSION}, the version this "
            f"labutils reads. Load it with the labutils that wrote it, or {again[0].lower() + again[1:]}")
    missing = [k for k in _REQUIRED_KEYS if k not in meta]
    if missing:
        why = (" Without sha256 a changed or corrupt weights file would go unnoticed." if "sha256" in missing else "")
        raise AdapterFileError(f"{path} lacks {missing}; every file labutils.save_adapter writes has them, so this "
                               f"one was edited or cut short.{why} {again}")
    for key, kind in _REQUIRED_KEYS.items():
        if not isinstance(meta[key], kind):
            raise AdapterFileError(f"{path}: {key} is {meta[key]!r}, not a JSON {kind.__name__}; the file was "
                                   f"edited or is corrupt. {again}")
    if not all(isinstance(label, str) for label in meta["label_names"]):
        raise AdapterFileError(f"{path}: label_names {meta['label_names']!r} are not all strings. {again}")
    return meta


def read_adapter_config(folder) -> dict:
    """The JSON side of an adapter folder, checked for format, version and every key.

    First puts back the newest complete copy if an interrupted save left the name empty.
    """
    folder = Path(folder)
    _recover(folder)
    return _parse_config(folder)


def adapter_file_size(folder) -> int:
    """Bytes on disk of an adapter folder."""
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())


# ---------------------------------------------------------------- copies an interrupted save left

def _is_complete(folder: Path) -> bool:
    """A loadable copy: its JSON passes the checks and its weights match the recorded sha256."""
    try:
        meta = _parse_config(folder)
        return _sha256(folder / WEIGHTS_FILE) == meta["sha256"]
    except (AdapterFileError, OSError):
        return False


def _running_elsewhere(pid: int | None) -> bool:
    """True if another live process made the copy: its save may still be in progress."""
    if pid is None or pid == os.getpid() or os.name == "nt":  # on Windows os.kill(pid, 0) would kill it
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or no pid at all
        return False
    except OSError:
        return True  # it exists but belongs to another user
    return True


def _leftovers(folder: Path) -> list[tuple[Path, str]]:
    """(path, "old" | "new") for each copy beside `folder` that a dead save left.

    Names: `.<name>.new-<pid>-<random>`, `.<name>.old-<pid>-<random>`, and the older
    `.<name>.old-<pid>` / `.<name>.tmp-<random>` of earlier labutils versions.
    """
    pattern = re.compile(rf"\.{re.escape(folder.name)}\.(old|new|tmp)-(?:(\d+)-)?([a-z0-9_]+)")
    try:
        siblings = list(folder.parent.iterdir())
    except OSError:
        return []
    found = []
    for path in siblings:
        m = pattern.fullmatch(path.name)
        if not m or path.is_symlink() or not path.is_dir():
            continue
        kind, pid, tail = m.groups()
        if pid is None and kind == "old" and tail.isdigit():
            pid = tail
        if not _running_elsewhere(int(pid) if pid else None):
            found.append((path, "old" if kind == "old" else "new"))
    return found


def _holds_only_adapter_files(folder: Path) -> bool:
    try:
        return all(p.name in _ADAPTER_FILES | _HARMLESS_FILES and p.is_file() and not p.is_symlink()
                   for p in folder.iterdir())
    except OSError:
        return False


def _remove_quietly(folder: Path) -> None:
    """Remove a copy of our own (only adapter files in it); what cannot be removed now goes next time."""
    if folder.is_dir() and not folder.is_symlink() and _holds_only_adapter_files(folder):
        try:
            shutil.rmtree(folder)
        except OSError:
            pass


def _saved_at(entry: tuple[Path, str]) -> tuple[int, int]:
    path, kind = entry
    return (path.joinpath(CONFIG_FILE).stat().st_mtime_ns, kind == "new")


def _recover(folder: Path) -> None:
    """Finish what an interrupted save left beside `folder`.

    If the name is empty, the newest complete copy goes back there. Leftovers are removed only
    once the name holds a complete adapter, so a complete copy is never the one deleted last.
    """
    leftovers = _leftovers(folder)
    if not leftovers:
        return
    if not os.path.lexists(folder):
        complete = [entry for entry in leftovers if _is_complete(entry[0])]
        if not complete:
            return
        best = max(complete, key=_saved_at)[0]
        try:
            os.replace(best, folder)
        except OSError as e:
            raise AdapterFileError(
                f"{folder} is missing after an interrupted save; its complete copy {best} could not be moved "
                f"back ({e}). Rename {best} to {folder} yourself.") from e
        leftovers = [entry for entry in leftovers if entry[0] != best]
    if _is_complete(folder):
        for path, _ in leftovers:
            _remove_quietly(path)


# ---------------------------------------------------------------- saving

def _refuse_to_replace(folder: Path, name: str) -> None:
    """Raise unless `folder` is absent, empty, or an adapter folder this lab wrote."""
    if not os.path.lexists(folder):
        return
    elsewhere = folder / name if folder.is_dir() else folder.with_name(name if folder.name != name else f"{name}_adapter")
    fix = (f"Save the adapter to a folder of its own, e.g. {elsewhere}, or move or delete {folder} yourself "
           "if nothing in it is needed.")
    if folder.is_symlink():
        problem = f"is a symbolic link to {os.readlink(folder)}"
    elif not folder.is_dir():
        problem = "is a file, not an adapter folder"
    else:
        entries = sorted(os.listdir(folder))
        other = [e for e in entries if e not in _ADAPTER_FILES | _HARMLESS_FILES]
        if other:
            problem = "holds " + _describe(folder, other)
        elif CONFIG_FILE not in entries:
            if WEIGHTS_FILE not in entries:
                return  # an empty folder
            problem = f"holds {WEIGHTS_FILE} but no {CONFIG_FILE}, so it is not recognisably a labutils adapter"
        elif not (folder / CONFIG_FILE).is_file():
            problem = f"has a {CONFIG_FILE} that is not a file"
        else:
            found = _format_of(folder / CONFIG_FILE)
            if found is None:
                return
            problem = (f"holds a {CONFIG_FILE} that labutils did not write ({found}; a peft or other "
                       "library's adapter?)")
    raise AdapterFileError(f"save_adapter will not replace {folder}: it {problem}. {fix}")


def _format_of(path: Path) -> str | None:
    """None if the JSON says it is a labutils adapter, else what it is instead."""
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "it is not readable JSON"
    if not isinstance(meta, dict):
        return f"it holds a JSON {type(meta).__name__}"
    return None if meta.get("format") == FORMAT else f"format {meta.get('format')!r}"


def _describe(folder: Path, names: list[str]) -> str:
    """'3 adapter folders (a, b, c) and 1 other entry (notes.txt)': what replacing would delete."""
    adapters = [n for n in names if (folder / n / CONFIG_FILE).is_file()]
    rest = [n for n in names if n not in adapters]

    def part(items, one, many):
        shown = ", ".join(items[:5]) + (", ..." if len(items) > 5 else "")
        return f"{len(items)} {one if len(items) == 1 else many} ({shown})"
    parts = ([part(adapters, "adapter folder", "adapter folders")] if adapters else []) + \
            ([part(rest, "other entry", "other entries")] if rest else [])
    return " and ".join(parts)


def _write_json(path: Path, meta: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(meta, indent=2) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _write_new_copy(folder: Path, tensors: dict, meta: dict) -> Path:
    """Write the complete adapter to `.<name>.new-<pid>-<random>` beside `folder`; removed if cut short."""
    from safetensors.torch import save_file

    new = folder.with_name(f".{folder.name}.new-{os.getpid()}-{secrets.token_hex(4)}")
    new.mkdir()
    try:
        save_file(tensors, str(new / WEIGHTS_FILE), metadata={"format": FORMAT})
        _fsync(new / WEIGHTS_FILE)  # on disk before the rename can make it the adapter
        meta = {**meta, "sha256": _sha256(new / WEIGHTS_FILE)}
        _write_json(new / CONFIG_FILE, meta)
    except BaseException:
        _remove_quietly(new)  # incomplete: nothing in it can be loaded
        raise
    return new


def _commit(folder: Path, new: Path, old: Path) -> None:
    """Move the previous folder aside to `old`, then `new` in. Safe to call again after an interruption."""
    if not new.exists():
        return  # already in place
    if os.path.lexists(folder) and not os.path.lexists(old):
        os.replace(folder, old)
    os.replace(new, folder)


def _roll_back(folder: Path, new: Path, old: Path) -> None:
    """After a failed swap, put the previous folder back; drop the new copy only once that worked."""
    try:
        if not os.path.lexists(folder) and old.exists():
            os.replace(old, folder)
    except OSError:
        return  # both complete copies stay beside the name; the next load or save puts one back
    if not old.exists():
        _remove_quietly(new)


def _swap_in(folder: Path, new: Path) -> None:
    """Put the complete copy `new` at `folder`: either it or the previous folder ends up there."""
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        _commit(folder, new, old)
    except KeyboardInterrupt:
        # The new copy is complete and was asked for: finish the swap (two renames), then stop.
        try:
            _commit(folder, new, old)
            _remove_quietly(old)
        except OSError:
            pass  # left beside the name; the next load or save puts the newest complete copy back
        raise
    except BaseException:
        _roll_back(folder, new, old)
        raise
    if old.exists():
        try:
            shutil.rmtree(old)
        except OSError as e:
            warnings.warn(f"Saved {folder}, but its previous copy {old} could not be removed ({e}); the next save "
                          "or load of this adapter removes it, or delete it yourself.", stacklevel=3)


def save_adapter(model: nn.Module, folder, name: str | None = None, task: str | None = None) -> Path:
    """Write adapter `name` (default: the active one) with its LayerNorms and head to `folder`.

    `folder` may be absent, empty, or an adapter folder written here before (it is replaced);
    anything else there is refused with `AdapterFileError`, never deleted.
    """
    name = name or active_adapter(model)
    if name is None or name not in adapter_configs(model):
        raise KeyError(f"no adapter {name!r} to save; the model has {sorted(adapter_configs(model))}.")
    folder = Path(folder)
    if folder.name in ("", ".", ".."):
        raise AdapterFileError(f"save_adapter needs a folder name of its own, not {str(folder)!r}; "
                               f"e.g. {Path(folder, name)}.")
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
    _recover(folder)
    _refuse_to_replace(folder, name)
    _swap_in(folder, _write_new_copy(folder, tensors, meta))
    return folder


def load_adapter(model: nn.Module, folder, name: str | None = None, set_active: bool = True) -> dict:
    """Load an adapter folder into `model` (adding the adapter if it is not there yet).

    Checks base model, sizes, placement, the weights' sha256 and every tensor's name and shape
    first; raises `AdapterFileError` naming the mismatching field, leaving the model untouched.
    Returns the folder's JSON metadata.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = read_adapter_config(folder)
    facts = _model_facts(model)
    # The fingerprint identifies the base when both sides have one (the display name may then
    # differ: the same weights in another folder). A file saved before fingerprints existed,
    # or a model not loaded by `load_base_model`, is checked by the name, as before.
    fingerprinted = bool(meta.get("base_fingerprint") and facts["base_fingerprint"])
    for key in ("model_type", "hidden_size", "num_hidden_layers", "base_fingerprint" if fingerprinted else "base_model"):
        if meta.get(key) != facts[key]:
            note = {"base_fingerprint": f" (the file's base is named {meta.get('base_model')!r}, this model "
                                        f"{facts['base_model']!r}: their weights differ)",
                    "base_model": "" if meta.get("base_fingerprint") else
                                  " (the file records no base fingerprint, as files saved before labutils recorded one, so only the name is checked)"}
            raise AdapterFileError(
                f"{folder.name}: {key} mismatch: the adapter was made for {key}={meta.get(key)!r}, "
                f"this model has {key}={facts[key]!r}{note.get(key, '')}. Load it into the base model it was trained on.")
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
    if _sha256(weights) != meta["sha256"]:
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
