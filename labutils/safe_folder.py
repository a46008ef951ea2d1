"""Replacing a folder so that a crash or Ctrl-C never loses it, and never deleting what is not ours.

`save_folder` writes `.<name>.new-*` beside the folder, moves the old one to `.<name>.old-*`, renames
the new one in; `recover` puts the newest complete copy back after an interruption. What a folder
may hold, and whether a copy is complete, comes from its format, `kind` (`labutils.folder_format`).
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import warnings
from contextlib import suppress
from pathlib import Path
from typing import Callable

from .notebook import shown

# A Finder-made .DS_Store is no loss when a folder is replaced.
HARMLESS_FILES = frozenset({".DS_Store"})


class FolderError(ValueError):
    """A folder that will not be replaced, or a copy that could not be put back, with the reason."""


def _running_elsewhere(pid: int | None) -> bool:
    """True if another live process made the copy: its save may still be in progress."""
    if pid is None or pid == os.getpid() or os.name == "nt":  # on Windows os.kill(pid, 0) would kill it
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or no pid at all
        return False
    except OSError:
        pass  # it exists but belongs to another user
    return True


def _leftovers(folder: Path) -> list[tuple[Path, str]]:
    """(path, "old" | "new") for each copy beside `folder` that a dead save left."""
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
        if pid is None and kind == "old" and tail.isdigit():  # `.<name>.old-<pid>`, from earlier versions
            pid = tail
        if not _running_elsewhere(int(pid) if pid else None):
            found.append((path, "old" if kind == "old" else "new"))
    return found


def _remove_copy(folder: Path, kind) -> None:
    """Remove a copy of our own (only `kind`'s files in it); what cannot be removed now goes next time."""
    with suppress(OSError):
        if folder.is_dir() and not folder.is_symlink() and all(
                p.name in kind.files | HARMLESS_FILES and p.is_file() and not p.is_symlink() for p in folder.iterdir()):
            shutil.rmtree(folder)


def recover(folder: Path, kind) -> None:
    """Finish what an interrupted save left beside `folder`: leftovers go only once the name is complete."""
    leftovers = _leftovers(folder)
    if not leftovers:
        return
    if not os.path.lexists(folder):
        complete = [entry for entry in leftovers if kind.is_complete(entry[0])]
        if not complete:
            return
        # The newest save wins; of two equally new, the new copy (the save that was under way).
        best = max(complete, key=lambda e: (e[0].joinpath(kind.marker).stat().st_mtime_ns, e[1] == "new"))[0]
        try:
            os.replace(best, folder)
        except OSError as e:
            raise kind.error(
                f"{shown(folder)} is missing after an interrupted save; its complete copy {best.name} beside it "
                f"could not be moved back ({e}). Rename {best.name} to {folder.name} yourself.") from e
        leftovers = [entry for entry in leftovers if entry[0] != best]
    if kind.is_complete(folder):
        for path, _ in leftovers:
            _remove_copy(path, kind)


def _listed(items: list, one: str, many: str) -> str:
    """'3 adapter folders (a, b, c)'; '' for no items."""
    listed = ", ".join(items[:5]) + (", ..." if len(items) > 5 else "")
    return f"{len(items)} {one if len(items) == 1 else many} ({listed})" if items else ""


def _refuse_to_replace(folder: Path, kind, subfolder: str) -> None:
    """Raise `kind.error` unless `folder` is absent, empty, or a folder of this kind."""
    if not os.path.lexists(folder):
        return
    elsewhere = (f"{shown(folder)}/{subfolder}" if folder.is_dir() else
                 shown(folder.with_name(subfolder if folder.name != subfolder else f"{subfolder}_{kind.noun}")))
    if folder.is_symlink():
        problem = f"is a symbolic link to {os.readlink(folder)}"
    elif not folder.is_dir():
        problem = f"is a file, not an {kind.noun} folder"
    else:
        entries = sorted(os.listdir(folder))
        other = [e for e in entries if e not in kind.files | HARMLESS_FILES]
        ours = [e for e in other if (folder / e / kind.marker).is_file()]
        present = sorted(set(entries) & kind.files)
        if other:  # say what replacing would delete
            parts = (_listed(ours, f"{kind.noun} folder", f"{kind.noun} folders"),
                     _listed([e for e in other if e not in ours], "other entry", "other entries"))
            problem = "holds " + " and ".join(part for part in parts if part)
        elif not present:
            return  # an empty folder
        elif kind.marker not in entries:
            problem = (f"holds {', '.join(present)} but no {kind.marker}, so it is not recognisably "
                       f"a labutils {kind.noun}")
        elif not (folder / kind.marker).is_file():
            problem = f"has a {kind.marker} that is not a file"
        else:
            problem = kind.not_ours(folder)
            if problem is None:
                return
    raise kind.error(f"{kind.writer} will not replace {shown(folder)}: it {problem}. Save the {kind.noun} to a "
                     f"folder of its own, e.g. {elsewhere}, or move or delete {shown(folder)} yourself if nothing "
                     "in it is needed.")


def _commit(folder: Path, new: Path, old: Path) -> None:
    """Move the previous folder aside to `old`, then `new` in. Safe to call again after an interruption."""
    if not new.exists():
        return  # already in place
    if os.path.lexists(folder) and not os.path.lexists(old):
        os.replace(folder, old)
    os.replace(new, folder)


def _swap_in(folder: Path, new: Path, kind) -> None:
    """Put the complete copy `new` at `folder`: either it or the previous folder ends up there."""
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        _commit(folder, new, old)
    except KeyboardInterrupt:
        # The new copy is complete and was asked for: finish the swap (two renames), then stop.
        with suppress(OSError):  # else left beside the name; the next load or save puts the newest copy back
            _commit(folder, new, old)
            _remove_copy(old, kind)
        raise
    except BaseException:
        # Put the previous folder back, and drop the new copy only once that worked; if the rename fails,
        # both complete copies stay beside the name and the next load or save puts one back.
        with suppress(OSError):
            if not os.path.lexists(folder) and old.exists():
                os.replace(old, folder)
            if not old.exists():
                _remove_copy(new, kind)
        raise
    if old.exists():
        try:
            shutil.rmtree(old)
        except OSError as e:
            warnings.warn(f"Saved {shown(folder)}, but its previous copy {old.name} beside it could not be removed "
                          f"({e}); the next save or load of this {kind.noun} removes it, or delete it yourself.",
                          stacklevel=5)


def save_folder(folder: Path, kind, write: Callable[[Path], None], subfolder: str) -> Path:
    """`write(path)` a complete copy beside `folder` and swap it in, unless `folder` holds what is not `kind`'s."""
    if folder.name in ("", ".", ".."):
        raise kind.error(f"{kind.writer} needs a folder name of its own, not {str(folder)!r}; "
                         f"e.g. {Path(folder, subfolder)}.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    recover(folder, kind)
    _refuse_to_replace(folder, kind, subfolder)
    new = folder.with_name(f".{folder.name}.new-{os.getpid()}-{secrets.token_hex(4)}")
    new.mkdir()
    try:
        write(new)
        for path in new.iterdir():  # on disk before a rename can make the copy the folder
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    except BaseException:
        _remove_copy(new, kind)  # incomplete: nothing in it can be loaded
        raise
    _swap_in(folder, new, kind)
    return folder
