"""Replacing a folder so that a crash or Ctrl-C never loses it, and never deleting what is not ours.

A save writes `.<name>.new-*` beside the folder, moves the old one to `.<name>.old-*`, renames the
new one in; `recover` puts the newest complete copy back after an interruption.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .notebook import shown

# A Finder-made .DS_Store is no loss when a folder is replaced.
HARMLESS_FILES = frozenset({".DS_Store"})


class FolderError(ValueError):
    """A folder that will not be replaced, or a copy that could not be put back, with the reason."""


@dataclass(frozen=True)
class FolderKind:
    """What one kind of folder (e.g. an adapter folder) holds, so that only such folders are replaced."""
    noun: str                                     # "adapter": messages say "adapter folder"
    files: frozenset                              # the files such a folder may hold
    marker: str                                   # the file that says what the folder is, written last
    is_complete: Callable[[Path], bool]           # a copy that loads
    not_ours: Callable[[Path], Optional[str]]     # why a folder with `marker` is another kind, or None
    error: type = FolderError                     # what to raise (a subclass of FolderError)


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
        if pid is None and kind == "old" and tail.isdigit():
            pid = tail
        if not _running_elsewhere(int(pid) if pid else None):
            found.append((path, "old" if kind == "old" else "new"))
    return found


def _holds_only_its_files(folder: Path, kind: FolderKind) -> bool:
    try:
        return all(p.name in kind.files | HARMLESS_FILES and p.is_file() and not p.is_symlink()
                   for p in folder.iterdir())
    except OSError:
        return False


def remove_copy(folder: Path, kind: FolderKind) -> None:
    """Remove a copy of our own (only `kind`'s files in it); what cannot be removed now goes next time."""
    if folder.is_dir() and not folder.is_symlink() and _holds_only_its_files(folder, kind):
        try:
            shutil.rmtree(folder)
        except OSError:
            pass


def recover(folder: Path, kind: FolderKind) -> None:
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
            remove_copy(path, kind)


# refusing what is not ours

def refuse_to_replace(folder: Path, kind: FolderKind, writer: str, subfolder: str) -> None:
    """Raise `kind.error` unless `folder` is absent, empty, or a folder of this kind."""
    if not os.path.lexists(folder):
        return
    if folder.is_dir():
        elsewhere = f"{shown(folder)}/{subfolder}"
    else:
        elsewhere = shown(folder.with_name(subfolder if folder.name != subfolder else f"{subfolder}_{kind.noun}"))
    fix = (f"Save the {kind.noun} to a folder of its own, e.g. {elsewhere}, or move or delete "
           f"{shown(folder)} yourself if nothing in it is needed.")
    if folder.is_symlink():
        problem = f"is a symbolic link to {os.readlink(folder)}"
    elif not folder.is_dir():
        problem = f"is a file, not an {kind.noun} folder"
    else:
        entries = sorted(os.listdir(folder))
        other = [e for e in entries if e not in kind.files | HARMLESS_FILES]
        if other:
            problem = "holds " + _describe(folder, other, kind)
        elif kind.marker not in entries:
            if not set(entries) & kind.files:
                return  # an empty folder
            present = ", ".join(sorted(set(entries) & kind.files))
            problem = f"holds {present} but no {kind.marker}, so it is not recognisably a labutils {kind.noun}"
        elif not (folder / kind.marker).is_file():
            problem = f"has a {kind.marker} that is not a file"
        else:
            problem = kind.not_ours(folder)
            if problem is None:
                return
    raise kind.error(f"{writer} will not replace {shown(folder)}: it {problem}. {fix}")


def _describe(folder: Path, names: list[str], kind: FolderKind) -> str:
    """'3 adapter folders (a, b, c) and 1 other entry (notes.txt)': what replacing would delete."""
    ours = [n for n in names if (folder / n / kind.marker).is_file()]
    rest = [n for n in names if n not in ours]

    def part(items, one, many):
        listed = ", ".join(items[:5]) + (", ..." if len(items) > 5 else "")
        return f"{len(items)} {one if len(items) == 1 else many} ({listed})"
    parts = ([part(ours, f"{kind.noun} folder", f"{kind.noun} folders")] if ours else []) + \
            ([part(rest, "other entry", "other entries")] if rest else [])
    return " and ".join(parts)


# replacing

def write_new_copy(folder: Path, kind: FolderKind, write: Callable[[Path], None]) -> Path:
    """`write(new)` the complete folder into `.<name>.new-<pid>-<random>` beside `folder`; removed if cut short."""
    new = folder.with_name(f".{folder.name}.new-{os.getpid()}-{secrets.token_hex(4)}")
    new.mkdir()
    try:
        write(new)
        for path in new.iterdir():  # on disk before a rename can make the copy the folder
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    except BaseException:
        remove_copy(new, kind)  # incomplete: nothing in it can be loaded
        raise
    return new


def _commit(folder: Path, new: Path, old: Path) -> None:
    """Move the previous folder aside to `old`, then `new` in. Safe to call again after an interruption."""
    if not new.exists():
        return  # already in place
    if os.path.lexists(folder) and not os.path.lexists(old):
        os.replace(folder, old)
    os.replace(new, folder)


def _roll_back(folder: Path, new: Path, old: Path, kind: FolderKind) -> None:
    """After a failed swap, put the previous folder back; drop the new copy only once that worked."""
    try:
        if not os.path.lexists(folder) and old.exists():
            os.replace(old, folder)
    except OSError:
        return  # both complete copies stay beside the name; the next load or save puts one back
    if not old.exists():
        remove_copy(new, kind)


def swap_in(folder: Path, new: Path, kind: FolderKind) -> None:
    """Put the complete copy `new` at `folder`: either it or the previous folder ends up there."""
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        _commit(folder, new, old)
    except KeyboardInterrupt:
        # The new copy is complete and was asked for: finish the swap (two renames), then stop.
        try:
            _commit(folder, new, old)
            remove_copy(old, kind)
        except OSError:
            pass  # left beside the name; the next load or save puts the newest complete copy back
        raise
    except BaseException:
        _roll_back(folder, new, old, kind)
        raise
    if old.exists():
        try:
            shutil.rmtree(old)
        except OSError as e:
            warnings.warn(f"Saved {shown(folder)}, but its previous copy {old.name} beside it could not be removed "
                          f"({e}); the next save or load of this {kind.noun} removes it, or delete it yourself.",
                          stacklevel=3)
