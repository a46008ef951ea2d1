"""Google Colab: what the first cell of every notebook does once the lab's folder is found.

Loaded by its path before the install, so it imports nothing from labutils; off Colab it does nothing.
"""
from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

OUTPUT_ENV = "LAB_OUTPUT_DIR"  # labutils.notebook.OUTPUT_ENV
DRIVE_ROOT = "/content/drive"
REQUIREMENTS = "requirements-colab.txt"


def pinned_transformers(requirements: str | Path = REQUIREMENTS) -> str:
    """The transformers version `requirements` pins (`transformers==X`)."""
    for line in Path(requirements).read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if name.strip().lower() == "transformers" and version.strip():
            return version.strip()
    raise ValueError(f"{requirements} pins no transformers version: add a line `transformers==X.Y.Z` to it.")


def installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def install_requirements(requirements: str | Path = REQUIREMENTS) -> str:
    """Install `requirements` unless its transformers is already installed, so a re-run costs nothing.
    A transformers imported before the install is refused: the runtime would keep the old one."""
    want = pinned_transformers(requirements)
    if installed_version("transformers") == want:
        done = f"transformers {want} is installed"
    else:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", str(requirements)], check=True)
        done = f"installed {Path(requirements).name} (transformers {want})"
    loaded = sys.modules.get("transformers")
    if loaded is not None and getattr(loaded, "__version__", None) != want:
        raise RuntimeError(f"{done}, but transformers {getattr(loaded, '__version__', '?')} was imported "
                           "before: restart the runtime (Runtime > Restart session) and re-run this cell.")
    return done


def outputs_to_drive(drive_root: str | Path = DRIVE_ROOT) -> str:
    """Point LAB_OUTPUT_DIR at Drive: the lab's own outputs/ when the lab lives on Drive, else
    MyDrive/adapter-layers-lab/outputs. Moves and deletes nothing; a folder already set is kept."""
    if not (Path(drive_root) / "MyDrive").is_dir():  # unless mounted already: a second mount only asks again
        from google.colab import drive
        drive.mount(str(drive_root))
    root = Path(drive_root).resolve()
    local = Path("outputs").resolve()
    on_drive = Path.cwd().resolve().is_relative_to(root)
    target = local if on_drive else root / "MyDrive/adapter-layers-lab/outputs"
    chosen = os.environ.get(OUTPUT_ENV)
    if chosen and Path(chosen).resolve() != target:
        return f"outputs go to {chosen} (LAB_OUTPUT_DIR, already set: kept)"
    target.mkdir(parents=True, exist_ok=True)
    os.environ[OUTPUT_ENV] = str(target)
    done = f"outputs go to {target} on Google Drive (kept when the runtime is recycled)"
    if not on_drive and local.is_dir() and any(local.iterdir()):
        done += f"; the files already in {local} stay there, untouched"
    return done


def setup(keep_outputs_on_drive: bool = True, *, drive_root: str | Path = DRIVE_ROOT,
          requirements: str | Path = REQUIREMENTS) -> None:
    """On Colab: install what Colab lacks (once) and, if asked, keep outputs/ on Google Drive.
    Run it from the lab's folder, before any other lab cell. Elsewhere: nothing."""
    if "google.colab" not in sys.modules:
        return
    print(f"Colab: lab folder {Path.cwd()}; {install_requirements(requirements)}.")
    if keep_outputs_on_drive:
        print(f"Colab: {outputs_to_drive(drive_root)}.")
