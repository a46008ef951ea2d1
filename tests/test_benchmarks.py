"""The benchmark scripts run end to end on a tiny model (their figures are not checked: speed
is measured by running them, never asserted in a unit test)."""
import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def import_benchmark(name: str):
    """A script of benchmarks/ as a module (they import their neighbour `common` by name)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def bench_knobs():
    return import_benchmark("bench_knobs")


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


@pytest.fixture(scope="module")
def bench_training():
    return import_benchmark("bench_training")


def test_training_benchmark_times_every_method_and_judges_the_targets(bench_training, tiny_choice, tmp_path):
    cfg = bench_training.BenchConfig(model=tiny_choice.name_or_path, batch_size=2, seq_len=16, steps=1, warmup=0,
                                     repeats=1, out=str(tmp_path / "bench.json"))
    results = bench_training.main(cfg)
    assert [r["method"] for r in results["training"]] == list(bench_training.TRAIN_METHODS)
    full = next(r for r in results["training"] if r["method"] == "full")
    assert full["x_full"] == 1 and full["flops_rule"] == "6N"
    assert {(r["model"], r["batch"]) for r in results["inference"]} == {(m, b) for m in bench_training.INFER_MODELS
                                                                         for b in (1, 2)}
    speedup = results["targets"]["adapter_training_speedup"]
    assert speedup["met"] == (speedup["measured"] >= speedup["target_at_least"])
    assert (tmp_path / "bench.json").is_file()


def test_random_bert_folder_loads_as_a_lab_model(tmp_path):
    """benchmarks/random_bert.py writes a folder LAB_MODEL can name: the lab loads it, tokenizer checked."""
    import labutils as L
    from labutils.hub import packaged_model_dir

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from random_bert import write_random_bert_base

    folder = write_random_bert_base(tmp_path / "bert-random", packaged_model_dir(), hidden_size=32,
                                    num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    model, tokenizer = L.load_base_model(L.ModelChoice(str(folder), "bert-random", False, "test"))
    assert L.encoder_layers(model)[0].output.dense.in_features == 64
    assert model.config.vocab_size == 30522 and len(tokenizer) <= model.config.vocab_size
