"""Many training runs: a cache of finished runs on disk, and the jobs that fill it.

`RunCache` stores each finished, finite run as one JSON file named by a stable hash of its settings
(`stable_key`): a crashed notebook resumes, notebooks share runs, a changed setting trains anew.
`run_jobs` trains what a plan lacks, here or in worker processes (`labutils.sweeps.pool`); a `Job`
carries its function, which a worker imports by module and name (`qualified_name` checks).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from ..notebook import plain
from .pool import _run_job, train_in_workers, worker_plan


def _plain(obj):
    """`obj` as plain JSON data in one canonical form; NaN kept, so that a result holding it is refused."""
    return plain(obj, "run settings", nan_as_null=False)


def stable_key(settings: dict) -> str:
    """A short hash of `settings`, the same in every process (Python's `hash()` is salted per process)."""
    text = json.dumps(_plain(settings), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def qualified_name(fn: Callable) -> str:
    """'module.function' of a module-level function: how a worker finds it, and how a cache key names it."""
    qualname = getattr(fn, "__qualname__", "")
    if not callable(fn) or not qualname or "<" in qualname:  # <lambda>, <locals>
        raise ValueError(f"{fn!r} must be a function defined at the top level of a module (a worker process "
                         "imports it by name, and the cache key names it); move it out of the lambda or function.")
    return f"{fn.__module__}.{qualname}"


def _non_finite(obj, where: str = "result"):
    """Yield (where, value) of each NaN or infinity in plain JSON data, e.g. ("result['loss'][3]", nan)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        yield where, obj
    items = (obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ())
    for k, value in items:
        yield from _non_finite(value, f"{where}[{k!r}]")


def _refuse_constant(name: str):
    raise ValueError(f"cache file holds {name}")  # json.loads would accept NaN: a diverged run is no result


class RunCache:
    """Finished runs on disk: `<key>.json` holds a run's settings (for people, and against a hash
    clash) and its result, a plain dict; `<key>/` holds files the run kept (`folder_for`)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = 0     # results read back from disk
        self.misses = 0   # results computed now

    def path_for(self, settings: dict) -> Path:
        return self.folder / f"{stable_key(settings)}.json"

    def folder_for(self, settings: dict) -> Path:
        """Where the run with these settings keeps files (a trained adapter), beside its JSON file."""
        return self.folder / stable_key(settings)

    def get(self, settings: dict) -> Optional[dict]:
        """The stored result for exactly these settings, or None (also for an unusable or foreign file)."""
        try:
            stored = json.loads(self.path_for(settings).read_text(), parse_constant=_refuse_constant)
        except (FileNotFoundError, ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
            return None
        if not isinstance(stored, dict) or stored.get("settings") != _plain(settings):
            return None
        return stored["result"] if isinstance(stored.get("result"), dict) else None

    def put(self, settings: dict, result: dict) -> Path:
        """Store `result` atomically; refuse NaN / infinity, and keep an unusable old file as ``.old<n>``."""
        path, plain = self.path_for(settings), _plain(result)
        bad = next(_non_finite(plain), None)
        if bad:
            raise ValueError(f"{bad[0]} is {bad[1]}: the run diverged or failed, so it is not stored (as {path.name} "
                             "would be). The next call trains it again; if it diverges every time, lower this run's "
                             "learning rate or check its data.")
        text = json.dumps({"settings": _plain(settings), "result": plain}, indent=1, sort_keys=True, allow_nan=False)
        if path.exists() and self.get(settings) is None:
            n = 1
            while path.with_name(f"{path.name}.old{n}").exists():
                n += 1
            os.replace(path, path.with_name(f"{path.name}.old{n}"))
            warnings.warn(f"{path.name} in {path.parent.name}/ held no usable result for its settings (unreadable, "
                          f"not a run's JSON, NaN inside, or another run's settings); kept it as {path.name}.old{n} "
                          "and stored the new run.", stacklevel=2)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        try:
            tmp.write_text(text + "\n")
            os.replace(tmp, path)  # a crash never leaves half a file
        finally:
            tmp.unlink(missing_ok=True)  # only left if the write or rename was interrupted
        return path

    def get_or_run(self, settings: dict, fn: Callable[[], dict]) -> dict:
        """The stored result for `settings`, or `fn()` run now, stored and returned (nothing stored if it raises)."""
        cached = self.get(settings)
        if cached is not None:
            self.hits += 1
            return cached
        result = fn()
        self.put(settings, result)
        self.misses += 1
        return json.loads(json.dumps(_plain(result)))  # what a resumed run reads back, exactly

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.json")))


@dataclass
class Job:
    """One run to train: its cache key, its module-level training function, and that function's arguments."""
    settings: dict  # everything that shapes the result: the cache key
    fn: Callable  # returns a dict
    kwargs: dict = field(default_factory=dict)  # picklable
    label: str = ""  # a short name for errors
    keeps_folder: bool = False  # fn also takes folder=: `RunCache.folder_for` this run, for files it keeps

    def __post_init__(self):
        qualified_name(self.fn)  # a lambda or nested function cannot reach a worker: say so now


def run_jobs(cache: RunCache, jobs: Sequence[Job], workers: int = 0, progress: bool = True,
             desc: str = "training runs") -> list:
    """Train every job not in `cache`, storing each as it finishes; all results, in the order of `jobs`.

    A failed run (raises, or NaN / infinity) is named; the finished ones are stored, the rest cancelled."""
    unique = {}
    for job in jobs:
        unique.setdefault(stable_key(job.settings), job)
    todo = [(job, dict(job.kwargs, **({"folder": cache.folder_for(job.settings)} if job.keeps_folder else {})))
            for job in unique.values()
            if cache.get(job.settings) is None or (job.keeps_folder and not cache.folder_for(job.settings).is_dir())]
    cache.hits += len(unique) - len(todo)
    n_workers, threads = worker_plan(workers)
    n_workers = max(1, min(n_workers, len(todo)))
    from tqdm.auto import tqdm
    bar = tqdm(total=len(todo), desc=f"{desc} ({n_workers} at a time)", disable=not (progress and todo))
    stored = set()

    def store(job: Job, result: dict) -> Optional[Exception]:
        """Put one finished run in the cache; the error if the cache refuses it (NaN), else None."""
        if id(job) in stored:
            return None
        try:
            cache.put(job.settings, dict(result, workers=n_workers, threads=threads))
        except Exception as e:  # noqa: BLE001 - a result the cache refuses is a failed run
            return e
        cache.misses += 1
        stored.add(id(job))
        bar.update(1)

    try:
        if n_workers == 1:
            failure = None
            for job, kwargs in todo:
                try:
                    error = store(job, _run_job(job.fn, kwargs))
                except Exception as e:  # noqa: BLE001 - re-raised below with the run's name
                    error = e
                if error is not None:
                    failure = (job, error)
                    break
        else:
            failure = train_in_workers(todo, store, n_workers, threads)
    except KeyboardInterrupt:
        print(f"Interrupted: {len(stored)} of the {len(todo)} missing runs are stored in {cache.folder}, "
              f"{len(todo) - len(stored)} remain; run this again to train only those.", file=sys.stderr, flush=True)
        raise
    finally:
        bar.close()
    if failure is not None:
        job, error = failure
        raise RuntimeError(f"training run {job.label or stable_key(job.settings)} failed: {type(error).__name__}: "
                           f"{error}. Finished runs are stored; run again to resume with the "
                           f"{len(todo) - len(stored)} still missing.") from error
    return [cache.get(job.settings) for job in jobs]
