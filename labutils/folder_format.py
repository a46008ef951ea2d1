"""A saved folder's format: safetensors weights and a JSON file that describes them.

    <folder>/<marker>.json         format, version, what the weights need of a model, their sha256
    <folder>/<weights>.safetensors the tensors

`SavedFolder` reads and checks the JSON, checks the weights against a model before anything is
copied into it, and saves crash-safely (`labutils.safe_folder`). Adapter folders (`labutils.io`)
and fusion folders (`labutils.fusion_io`) are two instances of it.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .layer import encoder_layers
from .notebook import shown
from .safe_folder import recover, save_folder


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_facts(model: nn.Module) -> dict:
    cfg = model.config
    return {
        "base_model": getattr(cfg, "lab_base_model", None) or getattr(cfg, "_name_or_path", "unknown"),
        "model_type": cfg.model_type,
        "hidden_size": cfg.hidden_size,
        "num_hidden_layers": len(encoder_layers(model)),
        # What the base model is (`labutils.hub.model_fingerprint`); the name above is for people.
        "base_fingerprint": getattr(cfg, "lab_base_fingerprint", None),
    }


def _write_json(path: Path, meta: dict) -> None:
    path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True, eq=False)
class SavedFolder:
    """A folder format: the JSON `marker` (written last) and the safetensors `weights`, their sha256 in the JSON."""
    noun: str      # "adapter": messages say "adapter folder"
    writer: str    # "save_adapter": the function that saves one, named in messages
    marker: str    # the JSON file; it says what the folder is, and is written last
    weights: str   # the safetensors file
    format: str    # the JSON's "format": which labutils writer made the folder
    version: int   # the JSON's "format_version" this labutils reads
    keys: dict     # every key `writer` puts in the JSON after format and version, and the JSON type of each
    error: type    # what to raise (a subclass of `labutils.safe_folder.FolderError`)

    @property
    def files(self) -> frozenset:
        return frozenset({self.marker, self.weights})

    @property
    def again(self) -> str:
        return f"Save the {self.noun} again with labutils.{self.writer}."

    def _json(self, folder: Path):
        """What the folder's JSON file holds, or `error` if it is not text or not JSON."""
        where = f"{shown(folder)}/{self.marker}"
        try:
            return json.loads((folder / self.marker).read_bytes().decode("utf-8"))
        except UnicodeDecodeError as e:
            raise self.error(f"{where} is not text (byte {e.start} is not UTF-8): the file is corrupt. "
                             f"{self.again}") from e
        except json.JSONDecodeError as e:
            raise self.error(f"{where} is not valid JSON ({e}); the file is corrupt. {self.again}") from e

    def read(self, folder: Path) -> dict:
        """The folder's JSON, refused with the reason and the fix unless it is one `writer` wrote."""
        if not (folder / self.marker).is_file():
            if not os.path.lexists(folder):
                raise self.error(f"{shown(folder)} does not exist; check the path, or save the {self.noun} there "
                                 f"first with labutils.{self.writer}.")
            raise self.error(f"{shown(folder)}: no {self.marker}; is this a folder written by labutils.{self.writer}?")
        meta, where = self._json(folder), f"{shown(folder)}/{self.marker}"
        if not isinstance(meta, dict):
            raise self.error(f"{where} holds a JSON {type(meta).__name__}, not an object of {self.noun} fields: the "
                             f"file is corrupt or was overwritten. {self.again}")
        if meta.get("format") != self.format:
            raise self.error(f"{where}: format {meta.get('format')!r}, expected {self.format!r}: labutils."
                             f"{self.writer} did not write it (another library's {self.noun}?), or it was edited. "
                             f"{self.again}")
        if meta.get("format_version") != self.version:
            raise self.error(f"{where}: format_version {meta.get('format_version')!r} is not {self.version}, the "
                             f"version this labutils reads. Load it with the labutils that wrote it, or: {self.again}")
        missing = [k for k in self.keys if k not in meta]
        if missing:
            why = " Without sha256 a changed or corrupt weights file would go unnoticed." if "sha256" in missing else ""
            raise self.error(f"{where} lacks {missing}; every file labutils.{self.writer} writes has them, so this "
                             f"one was edited or cut short.{why} {self.again}")
        for key, kind in self.keys.items():
            if not isinstance(meta[key], kind):
                raise self.error(f"{where}: {key} is {meta[key]!r}, not a JSON {kind.__name__}; the file was "
                                 f"edited or is corrupt. {self.again}")
        labels = meta["label_names"]
        if not labels or not all(isinstance(label, str) for label in labels):
            problem = "are not all strings" if labels else "name no label"
            raise self.error(f"{where}: label_names {labels!r} {problem}. {self.again}")
        return meta

    def read_config(self, folder) -> dict:
        """The folder's checked JSON, once an interrupted save is finished (`recover`)."""
        folder = Path(folder)
        recover(folder, self)
        return self.read(folder)

    def is_complete(self, folder: Path) -> bool:
        """A copy that loads: its weights match the sha256 in its JSON."""
        try:
            return _sha256(folder / self.weights) == self.read(folder)["sha256"]
        except (self.error, OSError):
            return False

    def not_ours(self, folder: Path) -> str | None:
        """Why a folder holding `marker` is not one of ours (another library's), or None."""
        try:
            meta = self._json(folder)
            found = (f"format {meta.get('format')!r}" if isinstance(meta, dict) else
                     f"it holds a JSON {type(meta).__name__}")
        except (self.error, OSError):
            meta, found = None, "it is not readable JSON"
        if isinstance(meta, dict) and meta.get("format") == self.format:
            return None
        return f"holds a {self.marker} that labutils did not write ({found}; another library's {self.noun}?)"

    def save(self, folder, tensors: dict, meta: dict, subfolder: str) -> Path:
        """Write `tensors`, then `meta` with the format and the weights' sha256, crash-safely to `folder`."""
        from safetensors.torch import save_file
        tensors = {k: v.to("cpu").contiguous().clone() for k, v in tensors.items()}
        meta = {"format": self.format, "format_version": self.version, **meta}

        def write(path: Path) -> None:  # the JSON last: it marks the copy complete
            save_file(tensors, str(path / self.weights), metadata={"format": self.format})
            _write_json(path / self.marker, {**meta, "sha256": _sha256(path / self.weights)})
        return save_folder(Path(folder), self, write, subfolder)

    def checked_weights(self, folder: Path, meta: dict, model: nn.Module, labels: list) -> dict:
        """The folder's tensors, once `model` (with `labels`) is its base and the weights match their sha256."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        facts = model_facts(model)
        # The fingerprint identifies the base when both sides have one; otherwise (older files) the name does.
        base = "base_fingerprint" if meta.get("base_fingerprint") and facts["base_fingerprint"] else "base_model"
        note = {"base_fingerprint": f" (named {meta.get('base_model')!r} and {facts['base_model']!r}: their weights "
                                    "differ)",
                "base_model": " (the file or the model records no base fingerprint, so only the name is checked)"}
        for key in ("model_type", "hidden_size", "num_hidden_layers", base):
            if meta.get(key) != facts[key]:
                raise self.error(f"{shown(folder)}: {key} mismatch: the {self.noun} was made for {key}="
                                 f"{meta.get(key)!r}, this model has {key}={facts[key]!r}{note.get(key, '')}. "
                                 "Load it into the base model it was trained on.")
        if meta["label_names"] != labels:
            raise self.error(f"{shown(folder)}: label_names mismatch: the file's head predicts {meta['label_names']}, "
                             f"this model's head has {labels}. Load the base model with the file's labels.")
        weights, where = folder / self.weights, f"{shown(folder)}/{self.weights}"
        if not weights.is_file():
            raise self.error(f"{shown(folder)}: {self.weights} is missing. {self.again}")
        if _sha256(weights) != meta["sha256"]:
            raise self.error(f"{where} does not match its recorded checksum: the file is corrupt or was changed. "
                             f"{self.again}")
        try:
            return load_file(str(weights))
        except (SafetensorError, OSError, RuntimeError) as e:
            raise self.error(f"{where} cannot be read ({e}); the file is corrupt. {self.again}") from e

    def copy_into(self, folder: Path, params: dict, tensors: dict) -> None:
        """Copy `tensors` into the model's `params`, only once every name and shape matches."""
        missing, unexpected = sorted(set(params) - set(tensors)), sorted(set(tensors) - set(params))
        reshaped = sorted(k for k in set(params) & set(tensors) if tuple(tensors[k].shape) != tuple(params[k].shape))
        if missing or unexpected or reshaped:
            raise self.error(f"{shown(folder)}: tensors do not match this model ({len(missing)} missing, e.g. "
                             f"{missing[:2]}; {len(unexpected)} unexpected, e.g. {unexpected[:2]}; {len(reshaped)} "
                             f"of another shape, e.g. {reshaped[:2]}).")
        with torch.no_grad():
            for key, param in params.items():
                param.copy_(tensors[key].to(device=param.device, dtype=param.dtype))
