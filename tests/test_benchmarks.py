"""The benchmark scripts run end to end on a tiny model (their figures are not checked: speed
is measured by running them, never asserted in a unit test)."""
import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench_knobs():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("bench_knobs")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_knobs_benchmark_compares_every_variant_with_the_lab_default(bench_knobs, tiny_choice, tmp_path):
    cfg = bench_knobs.KnobsConfig(model=tiny_choice.name_or_path, batch_size=2, seq_len=16, steps=1, warmup=0,
                                  repeats=2, no_compile=True, bf16=True, out=str(tmp_path / "knobs.json"))
    results = bench_knobs.main(cfg)
    rows = {r["variant"]: r for r in results["rows"]}
    assert list(rows) == ["lab default", "eager attention", "bf16 autocast"]
    assert rows["lab default"]["train_speedup"] == 1 and rows["lab default"]["latency_speedup"] == 1
    assert rows["eager attention"]["attention"] == "eager" and rows["bf16 autocast"]["precision"] == "bf16"
    assert all(r["train_step_ms"] > 0 and r["latency_ms"] > 0 for r in rows.values())
    assert (tmp_path / "knobs.json").is_file()
