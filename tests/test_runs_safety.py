"""Training many runs safely: Interrupt stops at once and keeps every finished run, workers die
with their parent, and the cache never stores or trusts a failed (NaN) or foreign result."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from labutils.sweeps import runs
import jobs_for_tests

ROOT = Path(__file__).resolve().parents[1]
SLOW = 60  # seconds: a run no test waits for

# The parent that a test interrupts or kills: 8 runs, the first `fast` of them instant.
PARENT = """
import signal, sys
import jobs_for_tests
from labutils.sweeps import runs
# Ctrl-C raises KeyboardInterrupt, as in a Jupyter kernel, even when this test runs where SIGINT
# is ignored (a background job of a non-interactive shell, as CI may start it, inherits SIG_IGN).
signal.signal(signal.SIGINT, signal.default_int_handler)
cache, log, workers, fast = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
jobs = [runs.Job({"value": v}, jobs_for_tests.sleepy,
                 {"value": v, "seconds": 0 if v < fast else %d, "log": log}, label=f"sleepy {v}")
        for v in range(8)]
runs.run_jobs(runs.RunCache(cache), jobs, workers=workers, progress=False)
""" % SLOW


def jobs(values, fn=jobs_for_tests.echo, **kwargs):
    return [runs.Job({"value": v}, fn, {"value": v, **kwargs}, label=f"{fn.__name__} {v}") for v in values]


def alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # a zombie has ended
    except psutil.NoSuchProcess:
        return False


def wait_until(condition, timeout, what):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def started(log):
    """{value: pid} of the runs that have started, from the files `sleepy` writes."""
    return {int(p.name.split("-")[1]): int(p.name.split("-")[2]) for p in log.glob("started-*")}


def start_parent(tmp_path, workers, fast):
    cache, log = tmp_path / "cache", tmp_path / "log"
    cache.mkdir()
    log.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]), TQDM_DISABLE="1")
    # A session of its own, like a Jupyter kernel: Interrupt signals the whole process group.
    proc = subprocess.Popen([sys.executable, "-c", PARENT, str(cache), str(log), str(workers), str(fast)],
                            cwd=ROOT, env=env, start_new_session=True, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, cache, log


def kill_all(proc, pids):
    """Clean-up: end the parent and every process it started (only ours, by pid)."""
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def descendants(pid):
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


# ---------------------------------------------------------------------------------------------
# Interrupt: stop now, keep what finished, resume with what is missing
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_interrupt_stops_at_once_keeps_finished_runs_and_resumes(tmp_path, workers):
    proc, cache_dir, log = start_parent(tmp_path, workers, fast=2)
    children = []
    try:
        wait_until(lambda: len(list(cache_dir.glob("*.json"))) == 2
                   and len([v for v in started(log) if v >= 2]) == workers, 180, "the slow runs to start")
        children = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)  # what Jupyter's Interrupt button sends
        out, _ = proc.communicate(timeout=20)  # not after the 6 slow runs (SLOW s each)
    finally:
        kill_all(proc, children + list(started(log).values()))
    assert proc.returncode != 0 and "KeyboardInterrupt" in out
    assert "2 of the 8 missing runs are stored" in out and "6 remain" in out, out
    workers_pids = [pid for pid in started(log).values() if pid != proc.pid]
    assert len(set(workers_pids)) == (2 if workers == 2 else 0)
    wait_until(lambda: not any(alive(pid) for pid in workers_pids), 5, "the workers to end")
    # The finished runs are in the cache; the next call trains only the 6 missing ones.
    cache = runs.RunCache(cache_dir)
    assert len(cache) == 2 and [cache.get({"value": v})["value"] for v in (0, 1)] == [0, 1]
    out = runs.run_jobs(cache, jobs(range(8), jobs_for_tests.sleepy), workers=1, progress=False)
    assert [r["value"] for r in out] == list(range(8)) and (cache.hits, cache.misses) == (2, 6)


# ---------------------------------------------------------------------------------------------
# Workers die with their parent
# ---------------------------------------------------------------------------------------------

def test_workers_die_when_the_parent_is_killed(tmp_path):
    proc, _, log = start_parent(tmp_path, workers=2, fast=0)
    children = []
    try:
        wait_until(lambda: len(started(log)) == 2, 180, "both workers to start a run")
        children = descendants(proc.pid)  # the two workers (and multiprocessing's resource tracker)
        assert set(started(log).values()) <= set(children)
        proc.kill()  # a killed or restarted kernel
        proc.wait()
        wait_until(lambda: not any(alive(pid) for pid in children), 5, f"processes {children} to end")
    finally:
        kill_all(proc, children)


GRANDCHILD = """
import importlib.util, os, sys, time
spec = importlib.util.spec_from_file_location("pool_alone", sys.argv[1])
pool = sys.modules["pool_alone"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pool)
pool._watch_parent(os.getppid(), every=0.1)
print("watching", flush=True)
time.sleep(%d)
""" % SLOW

MIDDLE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "watching"
print(child.pid, flush=True)
time.sleep(%d)
""" % SLOW


def test_watchdog_ends_a_worker_whose_parent_is_gone_without_the_linux_death_signal():
    # The portable half (macOS, Windows): no prctl here, only the watchdog thread.
    proc = subprocess.Popen([sys.executable, "-c", MIDDLE, GRANDCHILD, str(ROOT / "labutils" / "sweeps" / "pool.py")],
                            stdout=subprocess.PIPE, text=True)
    pid = None
    try:
        line = proc.stdout.readline().strip()
        assert line.isdigit(), "the grandchild never started watching its parent"
        pid = int(line)
        assert alive(pid)
        proc.kill()
        proc.wait()
        wait_until(lambda: not alive(pid), 5, "the orphaned grandchild to end")
    finally:
        kill_all(proc, [pid] if pid else [])


# ---------------------------------------------------------------------------------------------
# Never store a failed run; never trust a file that is not this run's result
# ---------------------------------------------------------------------------------------------

def test_put_refuses_nan_and_infinity(tmp_path):
    cache = runs.RunCache(tmp_path)
    with pytest.raises(ValueError, match=r"result\['loss'\]\[1\] is nan: the run diverged .* not stored"):
        cache.put({"value": 1}, {"loss": [0.7, float("nan")]})
    with pytest.raises(ValueError, match=r"result\['speedup'\] is -inf"):
        cache.get_or_run({"value": 1}, lambda: {"speedup": float("-inf")})
    assert not list(tmp_path.iterdir()) and cache.misses == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_a_diverged_or_failed_run_is_not_stored(tmp_path, workers):
    cache = runs.RunCache(tmp_path)
    mixed = jobs([1]) + jobs([2], jobs_for_tests.diverge) + jobs([3], fail=True)
    # One worker stops at the first failure; two have all three runs under way and name the first to fail.
    with pytest.raises(RuntimeError, match=r"(diverge 2 failed: ValueError: result\['loss'\]\[1\] is nan"
                                           r"|echo 3 failed: ValueError: planted failure)"):
        runs.run_jobs(cache, mixed, workers=workers, progress=False)
    assert cache.get({"value": 1})["value"] == 1 and len(cache) == 1
    assert not any(cache.path_for({"value": v}).exists() for v in (2, 3))
    with pytest.raises(RuntimeError, match=r"diverge 2 failed: ValueError: result\['loss'\]\[1\] is nan"):
        runs.run_jobs(cache, mixed[:2], workers=workers, progress=False)  # now alone: names the NaN
    assert len(cache) == 1


FOREIGN = {
    "a list": "[1, 2]",
    "a string": '"done"',
    "no settings": '{"result": {"value": 9}}',
    "a result that is no dict": '{"settings": {"value": 1}, "result": [9]}',
    "NaN, as older versions wrote it": '{"settings": {"value": 1}, "result": {"value": 9, "loss": NaN}}',
    "Infinity": '{"settings": {"value": 1}, "result": {"value": 9, "loss": -Infinity}}',
    "another run's settings (hash clash)": '{"settings": {"value": 99}, "result": {"value": 99}}',
}


@pytest.mark.parametrize("content", FOREIGN.values(), ids=FOREIGN.keys())
def test_a_file_that_is_not_this_runs_result_is_trained_anew_and_kept_aside(tmp_path, content):
    cache = runs.RunCache(tmp_path)
    path = cache.path_for({"value": 1})
    path.write_text(content)
    assert cache.get({"value": 1}) is None
    with pytest.warns(UserWarning, match="held no usable result"):
        out = runs.run_jobs(cache, jobs([1, 2]), workers=1, progress=False)
    assert [r["value"] for r in out] == [1, 2] and cache.misses == 2
    assert json.loads(path.read_text())["result"]["value"] == 1
    assert path.with_name(path.name + ".old1").read_text() == content  # nothing a user saved is lost
    assert len(cache) == 2
