"""Training runs side by side in fresh worker processes (`concurrent.futures`), for `runs.run_jobs`.

"spawn" behaves alike in Jupyter, on macOS and on Windows. On a 2-core CPU two one-thread runs finish
about 1.4x as many runs per hour as one (`worker_plan`). Interrupt kills the runs in flight; a worker dies
with its parent (Linux's death signal, and a watchdog thread on every OS), so a killed kernel leaves none.
Only the standard library at the top: a test loads this file on its own.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Optional


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def worker_plan(workers: int = 0, device: Optional[str] = None) -> tuple:
    """(processes, threads per process): `workers` = 0 is one on a GPU, two on a CPU with 2+ cores."""
    if device is None:
        from ..device import pick_device
        device = pick_device()
    cores = _available_cores()
    if workers <= 0:
        workers = 1 if device != "cpu" or cores < 2 else 2
    return workers, (max(1, cores // workers) if device == "cpu" else None)


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


def _watch_parent(parent_pid: int, every: float = 0.5) -> None:
    """Start a daemon thread that ends this process (and its run) once `parent_pid` is gone (any OS)."""
    def watch():
        while not _parent_gone(parent_pid):
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="labutils-parent-watchdog", daemon=True).start()


def _start_worker(threads: Optional[int], parent_pid: int) -> None:
    """Runs once in each fresh worker: die with the parent, ignore Ctrl-C, one thread budget, quiet."""
    if sys.platform.startswith("linux"):  # the kernel SIGKILLs us when a killed Jupyter kernel cannot
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # no prctl in this libc: the watchdog still works
            pass
    if _parent_gone(parent_pid):  # died before the death signal was set
        os._exit(1)
    _watch_parent(parent_pid)
    # Interrupt reaches the whole process group; the parent decides what stops (and kills us).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch
    from ..notebook import quiet

    if threads:
        torch.set_num_threads(threads)
    quiet()
    os.environ.setdefault("TQDM_DISABLE", "1")  # one progress bar, in the notebook, not one per worker


def _run_job(fn: Callable, kwargs: dict) -> dict:
    start = time.perf_counter()
    result = fn(**kwargs)
    result["wall_seconds"] = time.perf_counter() - start
    return result


def train_in_workers(todo: list, store: Callable, n_workers: int, threads: Optional[int]) -> Optional[tuple]:
    """Train `todo` [(job, kwargs)] in fresh processes; (job, error) of the first failure, or None."""
    pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(threads, os.getpid()))
    futures, failure = {}, None
    try:
        futures = {pool.submit(_run_job, job.fn, kwargs): job for job, kwargs in todo}
        for future in as_completed(futures):
            if future.cancelled():
                continue
            error = future.exception() or store(futures[future], future.result())
            if error is not None and failure is None:
                failure = (futures[future], error)
                for other in futures:
                    other.cancel()  # not yet started: skip; running: let it finish and keep it
    except BaseException:
        if hasattr(pool, "kill_workers"):  # Python 3.14+; shutdown only cancels runs not yet started
            pool.kill_workers()
        else:
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.kill()
        for future, job in futures.items():  # store() skips a run already stored
            if future.done() and not future.cancelled() and future.exception() is None:
                store(job, future.result())
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return failure
