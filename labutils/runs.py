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
  Interrupt stops it at once and keeps every finished run; its workers die with the kernel.

Only finished, finite runs are stored: a run that raised or returned NaN / infinity is
refused and trained again next time, and a cache file that cannot be the run's result
(unreadable, not a run's JSON, NaN inside) counts as missing and is kept aside, not deleted.

A job names its training function by import path (``"labutils.ablation:train_variant"``) and
passes only picklable arguments, because worker processes are started fresh ("spawn"): that
is the one start method that works the same in Jupyter, on macOS and on Windows.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
import os
import signal
import sys
import threading
import time
import warnings
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


def _non_finite(obj, where: str = "result") -> Optional[tuple]:
    """(where, value) of the first NaN or infinity in `obj` (plain JSON data), e.g.
    ("result['loss'][3]", nan); None if there is none."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where, obj
    if isinstance(obj, dict):
        items = ((f"{where}[{k!r}]", v) for k, v in obj.items())
    elif isinstance(obj, list):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    for place, value in items:
        found = _non_finite(value, place)
        if found:
            return found
    return None


def _refuse_constant(name: str):
    # json.loads would turn NaN / Infinity into floats; a stored diverged run is no result.
    raise ValueError(f"cache file holds {name}")


class RunCache:
    """Finished runs on disk: one JSON file per run, named by `stable_key` of its settings.

    Each file holds the settings themselves (for people, and to guard against a clash of
    short hashes) and the run's result, a plain dict. Only finished, finite results are
    stored: a run that raised or diverged (NaN / infinity) is trained again next time.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = 0     # results read back from disk
        self.misses = 0   # results computed now

    def path_for(self, settings: dict) -> Path:
        return self.folder / f"{stable_key(settings)}.json"

    def _read(self, path: Path):
        """The file's JSON data, or None when it is missing, half-written or holds NaN / Infinity."""
        try:
            return json.loads(path.read_text(), parse_constant=_refuse_constant)
        except (FileNotFoundError, ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
            return None

    def get(self, settings: dict) -> Optional[dict]:
        """The stored result for exactly these settings, or None.

        None also for a file that cannot be this run's result: unreadable, not a dict of
        {"settings", "result"} (a list, hand-edited JSON), other settings (a hash clash), or
        NaN / infinity inside (written by older versions of this lab). Such a run trains anew.
        """
        stored = self._read(self.path_for(settings))
        if not isinstance(stored, dict) or stored.get("settings") != _plain(settings):
            return None
        result = stored.get("result")
        return result if isinstance(result, dict) else None

    def put(self, settings: dict, result: dict) -> Path:
        """Store `result`; written to a temporary file and renamed, so a crash never leaves half a file.

        Refuses (ValueError) a result holding NaN or infinity: that run diverged or failed, and
        storing it would hand the broken number to every later call. A file already at this
        path that `get` cannot use is kept beside it (``<key>.json.old1``), never overwritten.
        """
        path = self.path_for(settings)
        plain = _plain(result)
        bad = _non_finite(plain)
        if bad:
            raise ValueError(
                f"{bad[0]} is {bad[1]}: the run diverged or failed, so it is not stored (as {path.name} would "
                "be). The next call trains it again; if it diverges every time, lower this run's learning "
                "rate or check its data.")
        text = json.dumps({"settings": _plain(settings), "result": plain}, indent=1, sort_keys=True, allow_nan=False)
        if path.exists() and self.get(settings) is None:
            self._set_aside(path)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        try:
            tmp.write_text(text + "\n")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # only left if the write or rename was interrupted
        return path

    def _set_aside(self, path: Path) -> Path:
        n = 1
        while path.with_name(f"{path.name}.old{n}").exists():
            n += 1
        kept = path.with_name(f"{path.name}.old{n}")
        os.replace(path, kept)
        warnings.warn(f"{path.name} in {path.parent.name}/ held no usable result for its settings (unreadable, not a run's JSON, "
                      f"NaN inside, or another run's settings); kept it as {kept.name} and stored the new run.",
                      stacklevel=3)
        return kept

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


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _set_death_signal() -> None:
    """Linux: ask the kernel to SIGKILL this process the moment its parent dies.

    A killed or restarted Jupyter kernel gets no chance to stop its pool; without this its
    workers would finish the queued runs for nobody and then idle, holding memory, forever.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl in this libc: the watchdog below still works
        pass


def _parent_gone(parent_pid: int) -> bool:
    if os.getppid() != parent_pid:  # POSIX: an orphan is handed to another process
        return True
    if os.name == "nt":  # Windows keeps the old parent pid; ask whether that process still runs
        try:
            import psutil
        except ImportError:
            return False
        return not psutil.pid_exists(parent_pid)
    return False


def _watch_parent(parent_pid: int, every: float = 0.5) -> threading.Thread:
    """A daemon thread that ends this process (and its run) once `parent_pid` is gone (any OS)."""
    def watch():
        while not _parent_gone(parent_pid):
            time.sleep(every)
        os._exit(1)

    thread = threading.Thread(target=watch, name="labutils-parent-watchdog", daemon=True)
    thread.start()
    return thread


def _start_worker(threads: Optional[int], parent_pid: Optional[int] = None) -> None:
    """Runs once in each fresh worker process."""
    if parent_pid is not None:
        _set_death_signal()
        if _parent_gone(parent_pid):  # died before the death signal was set
            os._exit(1)
        _watch_parent(parent_pid)
    # Jupyter's Interrupt and Ctrl-C reach the whole process group. The parent decides what
    # stops (and kills the workers); a worker that raised KeyboardInterrupt would only pass
    # it back as that run's error and take the next queued run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Stop the pool's runs now, not after they finish (shutdown only cancels runs not yet started)."""
    kill = getattr(pool, "kill_workers", None)  # Python 3.14+
    if kill is not None:
        kill()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


def _train_here(todo: dict, store: Callable) -> Optional[tuple]:
    """Train the runs one after another in this process; (job, error) of the first failure, or None."""
    for job in todo.values():
        try:
            store(job, _run_job(job.target, job.kwargs))
        except Exception as e:  # noqa: BLE001 - re-raised by run_jobs with the run's name
            return job, e
    return None


def _train_in_workers(todo: dict, store: Callable, n_workers: int, threads: Optional[int]) -> Optional[tuple]:
    """Train the runs in `n_workers` fresh processes; (job, error) of the first failure, or None.

    After a failure the runs not yet started are cancelled and the running ones finish and are
    stored. On KeyboardInterrupt (or any other escape) the workers are killed at once, the
    finished results not yet stored are stored, and the exception goes on.
    """
    import multiprocessing

    pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(threads, os.getpid()))
    futures, handled, failure = {}, set(), None
    try:
        for job in todo.values():
            futures[pool.submit(_run_job, job.target, job.kwargs)] = job
        for future in as_completed(futures):
            handled.add(future)
            if future.cancelled():
                continue
            job, error = futures[future], future.exception()
            if error is None:
                try:
                    store(job, future.result())
                except Exception as e:  # noqa: BLE001 - a result the cache refuses (NaN) is a failed run
                    error = e
            if error is not None and failure is None:
                failure = (job, error)
                for other in futures:
                    other.cancel()  # not yet started: skip; running: let it finish and keep it
    except BaseException:
        for other in futures:
            other.cancel()
        _kill_workers(pool)
        for future, job in futures.items():
            if future not in handled and future.done() and not future.cancelled() and future.exception() is None:
                try:
                    store(job, future.result())
                except Exception:  # noqa: BLE001 - keep storing the rest; the interrupt is what matters now
                    pass
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return failure


def run_jobs(cache: RunCache, jobs: Sequence[Job], workers: int = 0, progress: bool = True,
             desc: str = "training runs") -> list:
    """Train every job whose result is not in `cache`, store each as it finishes; return all results.

    Results come back in the order of `jobs` (duplicates share one run). With more than one
    worker, runs train in fresh processes with `threads` each (see `worker_plan`); with one,
    in this process. A run that fails (raises, or returns NaN / infinity) does not lose the
    others: the ones that finish are stored, the rest are cancelled, and the error names the
    failed run, so the next call resumes with what is still missing.

    Interrupt (Jupyter's button, Ctrl-C) stops at once: the runs in flight are killed, every
    finished one is stored, a line says how many are stored and how many remain, and the
    KeyboardInterrupt goes on. Worker processes die with this one (kernel killed or restarted).
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

    try:
        if n_workers == 1:
            failure = _train_here(todo, store)
        else:
            failure = _train_in_workers(todo, store, n_workers, threads)
    except KeyboardInterrupt:
        print(f"Interrupted: {len(stored)} of the {len(todo)} missing runs are stored in {cache.folder}, "
              f"{len(todo) - len(stored)} remain; run this again to train only those.",
              file=sys.stderr, flush=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    if failure is not None:
        job, error = failure
        raise RuntimeError(f"training run {job.label or stable_key(job.settings)} failed: "
                           f"{type(error).__name__}: {error}. Finished runs are stored; run again "
                           f"to resume with the {len(todo) - len(stored)} still missing.") from error
    return [cache.get(job.settings) for job in jobs]
