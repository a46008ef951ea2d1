"""Many training runs: a cache of finished runs on disk, and a pool that trains several at once.

Notebooks 04 and 05 train dozens of small models. Two things make that bearable:

* **`RunCache`**: every finished run is one JSON file named by a stable hash of the settings
  that produced it (`stable_key`). A notebook that crashed half-way resumes where it stopped;
  two experiments that need the same run share it; changing any setting trains anew.
* **`run_jobs`**: trains the runs a plan still lacks, several at a time on a CPU. A small
  model's matrix products keep two cores only partly busy from one process (thread
  hand-offs, Python between kernels), so two processes with one thread each finish about 1.4x
  as many runs per hour on a 2-core machine as one process with two threads (measured for
  this lab's MiniLM training step). On a GPU one run at a time already fills the device.

A job names its training function by import path (``"labutils.ablation:train_variant"``) and
passes only picklable arguments, because worker processes are started fresh ("spawn"): that
is the one start method that works the same in Jupyter, on macOS and on Windows.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np


# --------------------------------------------------------------------------------------------
# Cache of finished runs
# --------------------------------------------------------------------------------------------

def _plain(obj):
    """`obj` as plain JSON data in one canonical form (so equal settings hash equally).

    Tuples and ranges become lists, dataclasses (AdapterConfig, ...) dicts, numpy scalars
    Python numbers, paths strings. Dict keys are sorted when dumped.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _plain(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, range)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot use a {type(obj).__name__} in run settings; give plain numbers, strings, lists or dicts.")


def stable_key(settings: dict) -> str:
    """A short hash of `settings` that is the same in every process and on every machine.

    Python's `hash()` is salted per process, so it cannot name files; a sorted-key JSON dump
    of the plain values can.
    """
    text = json.dumps(_plain(settings), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class RunCache:
    """Finished runs on disk: one JSON file per run, named by `stable_key` of its settings.

    Each file holds the settings themselves (for people, and to guard against a clash of
    short hashes) and the run's result, a plain dict.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = 0     # results read back from disk
        self.misses = 0   # results computed now

    def path_for(self, settings: dict) -> Path:
        return self.folder / f"{stable_key(settings)}.json"

    def get(self, settings: dict) -> Optional[dict]:
        """The stored result for exactly these settings, or None (also for an unreadable file)."""
        path = self.path_for(settings)
        try:
            stored = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        if stored.get("settings") != _plain(settings):
            return None
        return stored.get("result")

    def put(self, settings: dict, result: dict) -> Path:
        """Store `result`; written to a temporary file and renamed, so a crash never leaves half a file."""
        path = self.path_for(settings)
        text = json.dumps({"settings": _plain(settings), "result": _plain(result)}, indent=1, sort_keys=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text + "\n")
        os.replace(tmp, path)
        return path

    def get_or_run(self, settings: dict, fn: Callable[[], dict]) -> dict:
        """The stored result for `settings`, or `fn()` run now, stored and returned.

        If `fn` raises, nothing is stored and the next call tries again.
        """
        cached = self.get(settings)
        if cached is not None:
            self.hits += 1
            return cached
        result = fn()
        self.put(settings, result)
        self.misses += 1
        # Return what a later run will read back, so the first run and a resumed one agree exactly.
        return json.loads(json.dumps(_plain(result)))

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.json")))


# --------------------------------------------------------------------------------------------
# Training the missing runs, several at a time
# --------------------------------------------------------------------------------------------

@dataclass
class Job:
    """One run to train: its cache key, the function that trains it, and that function's arguments."""
    settings: dict = field(metadata={"help": "Everything that shapes the result; the cache key."})
    target: str = field(metadata={"help": "The training function, as 'package.module:function'."})
    kwargs: dict = field(default_factory=dict, metadata={"help": "Its keyword arguments (picklable)."})
    label: str = field(default="", metadata={"help": "A short name for progress bars and errors."})


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def worker_plan(workers: int = 0, device: Optional[str] = None) -> tuple:
    """(processes, threads per process) for training runs side by side.

    `workers` = 0 chooses: one process on a GPU (one run fills it), otherwise two processes
    sharing the CPU's cores when there are at least two. A positive `workers` is taken as given.
    """
    if device is None:
        from .device import pick_device
        device = pick_device()
    cores = _available_cores()
    if workers <= 0:
        workers = 1 if device != "cpu" or cores < 2 else 2
    threads = max(1, cores // workers) if device == "cpu" else None
    return workers, threads


def _resolve(target: str) -> Callable:
    module, _, name = target.partition(":")
    if not name:
        raise ValueError(f"job target {target!r} must look like 'package.module:function'.")
    return getattr(importlib.import_module(module), name)


def _start_worker(threads: Optional[int]) -> None:
    """Runs once in each fresh worker process."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    from .notebook import quiet

    quiet()
    os.environ.setdefault("TQDM_DISABLE", "1")  # one progress bar, in the notebook, not one per worker


def _run_job(target: str, kwargs: dict) -> dict:
    start = time.perf_counter()
    result = _resolve(target)(**kwargs)
    result["wall_seconds"] = time.perf_counter() - start
    return result


def run_jobs(cache: RunCache, jobs: Sequence[Job], workers: int = 0, progress: bool = True,
             desc: str = "training runs") -> list:
    """Train every job whose result is not in `cache`, store each as it finishes; return all results.

    Results come back in the order of `jobs` (duplicates share one run). With more than one
    worker, runs train in fresh processes with `threads` each (see `worker_plan`); with one,
    in this process. A run that fails does not lose the others: the ones that finish are
    stored, the rest are cancelled, and the error names the failed run, so the next call
    resumes with what is still missing.
    """
    unique = {}
    for job in jobs:
        unique.setdefault(stable_key(job.settings), job)
    todo = {key: job for key, job in unique.items() if cache.get(job.settings) is None}
    cache.hits += len(unique) - len(todo)
    n_workers, threads = worker_plan(workers)
    n_workers = max(1, min(n_workers, len(todo)))

    bar = None
    if progress and todo:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(todo), desc=f"{desc} ({n_workers} at a time)")

    stored = []

    def store(job: Job, result: dict) -> None:
        result = dict(result, workers=n_workers, threads=threads)
        cache.put(job.settings, result)
        cache.misses += 1
        stored.append(job)
        if bar is not None:
            bar.update(1)

    failure = None
    try:
        if n_workers == 1:
            for job in todo.values():
                try:
                    store(job, _run_job(job.target, job.kwargs))
                except Exception as e:  # noqa: BLE001 - re-raised below with the run's name
                    failure = (job, e)
                    break
        else:
            import multiprocessing

            with ProcessPoolExecutor(max_workers=n_workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_start_worker, initargs=(threads,)) as pool:
                futures = {pool.submit(_run_job, job.target, job.kwargs): job for job in todo.values()}
                for future in as_completed(futures):
                    if future.cancelled():
                        continue
                    job = futures[future]
                    error = future.exception()
                    if error is None:
                        store(job, future.result())
                    elif failure is None:
                        failure = (job, error)
                        for other in futures:
                            other.cancel()  # not yet started: skip; running: let it finish and keep it
    finally:
        if bar is not None:
            bar.close()
    if failure is not None:
        job, error = failure
        raise RuntimeError(f"training run {job.label or stable_key(job.settings)} failed: "
                           f"{type(error).__name__}: {error}. Finished runs are stored; run again "
                           f"to resume with the {len(todo) - len(stored)} still missing.") from error
    return [cache.get(job.settings) for job in jobs]
