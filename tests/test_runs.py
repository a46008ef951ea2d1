"""Training many runs: jobs run in fresh worker processes, land in the cache as they finish,
are never trained twice, and one failure loses none of the finished runs."""
import os

import pytest

from labutils.sweeps import pool, runs
import jobs_for_tests


def jobs(values, fail=()):
    return [runs.Job({"value": v}, jobs_for_tests.echo, {"value": v, "fail": v in fail}, label=f"echo {v}")
            for v in values]


def test_jobs_run_in_workers_in_order_and_only_once(tmp_path):
    cache = runs.RunCache(tmp_path)
    out = runs.run_jobs(cache, jobs([1, 2, 3, 1]), workers=2, progress=False)
    assert [r["value"] for r in out] == [1, 2, 3, 1]
    assert all(r["pid"] != os.getpid() for r in out)  # trained in worker processes
    assert out[0] == out[3] and cache.misses == 3 and len(cache) == 3
    # Everything is cached now: planting a failure changes nothing, because nothing runs.
    again = runs.RunCache(tmp_path)
    assert runs.run_jobs(again, jobs([1, 2, 3], fail={1, 2, 3}), workers=2, progress=False) == out[:3]
    assert (again.hits, again.misses) == (3, 0)


def test_one_process_runs_jobs_here(tmp_path):
    out = runs.run_jobs(runs.RunCache(tmp_path), jobs([5]), workers=1, progress=False)
    assert out[0]["pid"] == os.getpid() and out[0]["workers"] == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failure_names_the_run_and_keeps_the_finished_ones(tmp_path, workers):
    cache = runs.RunCache(tmp_path)
    with pytest.raises(RuntimeError, match="echo 2 failed: ValueError: planted failure"):
        runs.run_jobs(cache, jobs([1, 2], fail={2}), workers=workers, progress=False)
    assert cache.get({"value": 1})["value"] == 1 and cache.get({"value": 2}) is None
    # Resuming trains only what is missing.
    resumed = runs.RunCache(tmp_path)
    assert [r["value"] for r in runs.run_jobs(resumed, jobs([1, 2]), workers=workers, progress=False)] == [1, 2]
    assert (resumed.hits, resumed.misses) == (1, 1)


def test_worker_plan():
    cores = pool._available_cores()
    assert pool.worker_plan(0, "cuda") == (1, None)
    assert pool.worker_plan(3, "cpu") == (3, max(1, cores // 3))
    workers, threads = pool.worker_plan(0, "cpu")
    assert workers == (2 if cores >= 2 else 1) and threads * workers <= max(cores, 1)


def test_a_job_carries_its_function_itself_into_a_worker(tmp_path):
    both = [runs.Job({"value": v}, jobs_for_tests.echo, {"value": v}, label=f"echo {v}") for v in (7, 8)]
    assert both[0].fn is jobs_for_tests.echo  # the function, not a string naming it
    out = runs.run_jobs(runs.RunCache(tmp_path), both, workers=2, progress=False)
    assert [r["value"] for r in out] == [7, 8] and all(r["pid"] != os.getpid() for r in out)


def test_a_function_a_worker_cannot_import_is_refused_by_name():
    def nested(value):
        return {"value": value}

    for fn in (nested, lambda value: {"value": value}):
        with pytest.raises(ValueError, match="top level of a module"):
            runs.Job({"a": 1}, fn)
    with pytest.raises(ValueError, match="top level of a module"):
        runs.Job({"a": 1}, "jobs_for_tests:echo")  # today's jobs carry the function, not its name
