"""Ablation machinery: notebook 04's span loop turns off exactly the chosen layers' adapters and
back on, the heatmap draws only the upper triangle, finished runs are cached under a stable key
and reused, AdapterDrop's freezing really stops the backward pass, and the reference run's kept
adapter reloads to the very model that was trained."""
import copy
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

import labutils as L
from labutils import sweeps as S
from conftest import make_tiny_model

import jobs_for_tests

N_LAYERS = 3


def logits(model, batch):
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


def trained_like(seed=0):
    """A tiny model whose Houlsby adapters have weights large enough to matter in every layer."""
    model = make_tiny_model(seed=seed, layers=N_LAYERS)
    L.add_adapter(model, "mrpc", L.AdapterConfig(bottleneck=4, init_std=0.5))
    return model.eval()


def without_adapters_in(model, layers):
    """A copy of `model` whose adapter-carrying sublayers in `layers` are the original BERT modules."""
    ref = copy.deepcopy(model)
    for i, layer in enumerate(L.encoder_layers(ref)):
        if i in layers:
            layer.attention.output = layer.attention.output._original
            layer.output = layer.output._original
    return ref


# ---------------------------------------------------------------------------------------------
# Span ablation
# ---------------------------------------------------------------------------------------------

def span_sweep(model, score):
    """Notebook 04's visible cell: `score` with every adapter on, then with each span's adapters off."""
    n = len(L.encoder_layers(model))
    baseline, matrix = score(model), np.full((n, n), np.nan)
    for first, last in S.spans(n):
        with L.adapters_skipped(model, range(first, last + 1)):
            matrix[first, last] = score(model)
    return baseline, matrix


def test_spans_are_all_contiguous_ranges():
    assert S.spans(3) == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    assert len(S.spans(12)) == 12 * 13 // 2


def test_each_span_switches_off_exactly_its_layers(batch):
    model = trained_like()
    all_on = logits(model, batch)
    seen = {}

    def score(m):
        key = tuple(L.skipped_layers(m))
        seen[key] = logits(m, batch)
        return float(len(key))

    baseline, matrix = span_sweep(model, score)
    assert baseline == 0.0 and seen[()].equal(all_on)
    expected = {tuple(range(f, l + 1)) for f, l in S.spans(N_LAYERS)}
    assert set(seen) - {()} == expected
    for span in expected:
        reference = logits(without_adapters_in(model, set(span)), batch)
        torch.testing.assert_close(seen[span], reference, rtol=0, atol=1e-6)
        # ... and the adapters mattered, so the comparison could have failed.
        assert not torch.allclose(seen[span], all_on, atol=1e-4)
    # The matrix is indexed [first, last] and holds the score of that span.
    for f, l in S.spans(N_LAYERS):
        assert matrix[f, l] == l - f + 1
    assert S.is_upper_triangular(matrix)
    # Every adapter is back on afterwards.
    assert L.skipped_layers(model) == []
    torch.testing.assert_close(logits(model, batch), all_on, rtol=0, atol=0)


def test_a_span_switch_restores_a_previous_skip_state(batch):
    model = trained_like()
    L.set_skipped_layers(model, [1])
    before = logits(model, batch)
    with L.adapters_skipped(model, []):  # every adapter on inside
        assert L.skipped_layers(model) == []
    with L.adapters_skipped(model, range(0, 2)):
        assert L.skipped_layers(model) == [0, 1]
    assert L.skipped_layers(model) == [1]
    torch.testing.assert_close(logits(model, batch), before, rtol=0, atol=0)


def test_span_sweep_of_accuracy_is_the_change_in_points(tiny_data, tokenizer):
    model = trained_like(seed=1)
    dev = tiny_data["validation"]
    baseline, accuracy = span_sweep(model, lambda m: 100 * L.evaluate(m, tokenizer, dev)["accuracy"])
    delta = accuracy - baseline
    for f, l in S.spans(N_LAYERS):
        ref = without_adapters_in(model, set(range(f, l + 1)))
        assert delta[f, l] == pytest.approx(100 * L.evaluate(ref, tokenizer, dev)["accuracy"] - baseline)
    assert S.is_upper_triangular(delta)


def test_majority_rate():
    assert S.majority_rate([0, 1, 1, 1]) == 0.75
    assert S.majority_rate(np.array([2, 2, 0])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        S.majority_rate([])


def test_upper_triangular_check_and_json_round_trip():
    m = np.full((3, 3), np.nan)
    m[np.triu_indices(3)] = [1.0, -2.0, 0.5, 0.0, -1.0, 3.0]
    assert S.is_upper_triangular(m)
    back = S.matrix_from_json(json.loads(json.dumps(S.matrix_to_json(m))))
    np.testing.assert_array_equal(back, m)
    m2 = m.copy()
    m2[2, 0] = 1.0
    assert not S.is_upper_triangular(m2)
    m3 = m.copy()
    m3[1, 2] = np.nan
    assert not S.is_upper_triangular(m3)
    assert not S.is_upper_triangular(np.zeros((2, 3)))


# ---------------------------------------------------------------------------------------------
# Heatmap (labutils.plots.plot_layer_ablation)
# ---------------------------------------------------------------------------------------------

def test_heatmap_draws_only_the_upper_triangle():
    import matplotlib.pyplot as plt

    n = 4
    delta = np.arange(n * n, dtype=float).reshape(n, n) / 10 - 0.55
    delta[np.tril_indices(n, k=-1)] = 999.0  # junk below the diagonal must not show
    ax = L.plots.plot_layer_ablation(delta)
    try:
        shown = ax.images[0].get_array()
        below = np.tril(np.ones((n, n), bool), k=-1)
        np.testing.assert_array_equal(np.ma.getmaskarray(shown), below)
        np.testing.assert_array_equal(shown.data[~below], delta[~below])
        texts = {(round(t.get_position()[0]), round(t.get_position()[1])): t.get_text() for t in ax.texts}
        # One annotation per span, at (x = last, y = first), reading the matrix entry.
        assert set(texts) == {(j, i) for i in range(n) for j in range(i, n)}
        for (j, i), text in texts.items():
            assert text == f"{delta[i, j]:.1f}"
        assert "999.0" not in texts.values()
        assert ax.get_xlabel() == "last ablated layer" and ax.get_ylabel() == "first ablated layer"
    finally:
        plt.close(ax.figure)
    with pytest.raises(ValueError, match="square"):
        L.plots.plot_layer_ablation(np.zeros((2, 3)))


# ---------------------------------------------------------------------------------------------
# Run cache and keys
# ---------------------------------------------------------------------------------------------

def test_key_is_stable_and_canonical():
    settings = {"seed": 0, "adapter": L.AdapterConfig(bottleneck=8, layers=range(2, 4)), "lr": 1e-3,
                "latency": (32, 128, 20)}
    same = {"lr": 0.001, "latency": [32, 128, 20], "seed": np.int64(0),
            "adapter": {**L.AdapterConfig(bottleneck=8).to_dict(), "layers": [2, 3]}}
    assert S.stable_key(settings) == S.stable_key(same)
    # A fixed value, sha256 of the canonical JSON {"a":1,"b":[1,2.5,"x",null]}: the key must not
    # depend on the process (Python's hash() is salted).
    assert S.stable_key({"a": 1, "b": [1, 2.5, "x", None]}) == "a55755aae9a84827"
    assert S.stable_key({**settings, "seed": 1}) != S.stable_key(settings)
    assert S.stable_key({**settings, "adapter": L.AdapterConfig(bottleneck=16)}) != S.stable_key(settings)
    with pytest.raises(TypeError):
        S.stable_key({"model": object()})


def test_cache_resumes_and_reruns_only_changed_settings(tmp_path):
    calls = []

    def run(value):
        def fn():
            calls.append(value)
            return {"accuracy": value, "matrix": [[1.0, None]]}
        return fn

    settings = {"seed": 0, "config": {"bottleneck": 8}}
    cache = S.RunCache(tmp_path / "cache")
    first = cache.get_or_run(settings, run(0.5))
    assert first == {"accuracy": 0.5, "matrix": [[1.0, None]]} and calls == [0.5]
    # A new session over the same folder (a re-run after a crash) reads the result back.
    again = S.RunCache(tmp_path / "cache")
    assert again.get_or_run({"config": {"bottleneck": 8}, "seed": 0}, run(0.9)) == first
    assert calls == [0.5] and (again.hits, again.misses) == (1, 0)
    # A changed setting runs anew and is stored beside the first.
    assert again.get_or_run({**settings, "seed": 1}, run(0.7))["accuracy"] == 0.7
    assert calls == [0.5, 0.7] and len(again) == 2
    stored = json.loads(again.path_for(settings).read_text())
    assert stored["settings"] == settings and stored["result"]["accuracy"] == 0.5


def test_cache_does_not_store_failures_or_trust_broken_files(tmp_path):
    cache = S.RunCache(tmp_path)
    settings = {"seed": 3}

    def boom():
        raise RuntimeError("crashed mid-run")

    with pytest.raises(RuntimeError):
        cache.get_or_run(settings, boom)
    assert len(cache) == 0 and not list(tmp_path.iterdir())
    cache.path_for(settings).write_text('{"settings": {"seed": 3}, "resu')  # half-written file
    with pytest.warns(UserWarning, match="kept it as"):  # the broken file is set aside, not deleted
        assert cache.get_or_run(settings, lambda: {"ok": True}) == {"ok": True}
    assert cache.get(settings) == {"ok": True}
    assert len(list(tmp_path.glob("*.json.old*"))) == 1


# ---------------------------------------------------------------------------------------------
# Training variants (tiny model, a couple of steps)
# ---------------------------------------------------------------------------------------------

def test_freeze_layers_below_stops_the_backward_pass(batch):
    model = make_tiny_model(layers=N_LAYERS)
    L.add_adapter(model, "drop", L.AdapterConfig(bottleneck=4, layers=range(2, N_LAYERS)))
    L.freeze_for_adapters(model)
    assert S.ablation.lowest_trainable_layer(model) == 0  # LayerNorms everywhere train by default
    S.freeze_layers_below(model, 2)
    assert S.ablation.lowest_trainable_layer(model) == 2
    needs_grad = {}
    for i, layer in enumerate(L.encoder_layers(model)):
        layer.register_forward_hook(lambda mod, inp, out, i=i: needs_grad.__setitem__(i, out[0].requires_grad))
    model.train()
    model(**batch, labels=torch.tensor([0, 1])).loss.backward()
    assert needs_grad == {0: False, 1: False, 2: True}
    for name, p in model.named_parameters():
        if name.startswith(("bert.embeddings", "bert.encoder.layer.0.", "bert.encoder.layer.1.")):
            assert p.grad is None, name
    assert model.bert.encoder.layer[2].output.adapters["drop"].up_proj.weight.grad is not None


def run_one(cache, job):
    return S.run_jobs(cache, [job], workers=1, progress=False)[0]


def test_adapter_run_reports_plain_numbers_and_caches(tiny_choice, tiny_data, tmp_path, monkeypatch):
    budget = S.Budget(epochs=1, max_steps=2, batch_size=3, learning_rate=1e-2, latency=(2, 8, 1))
    config = L.AdapterConfig(bottleneck=4, layers=range(1, N_LAYERS))
    cache = S.RunCache(tmp_path / "cache")
    job = S.adapter_job(tiny_choice, tiny_data, config, budget, seed=0, frozen_below=1,
                        after=jobs_for_tests.active_adapter)
    out = run_one(cache, job)
    json.dumps(out, allow_nan=False)  # a plain, strict-JSON dict
    d = 32
    assert out["adapter_params"] == 2 * (N_LAYERS - 1) * (2 * d * 4 + d + 4)
    assert out["n_adapters"] == 2 * (N_LAYERS - 1) and out["bottleneck"] == 4
    assert out["lowest_trained_layer"] == 1 and out["n_layers"] == N_LAYERS
    assert 0 <= out["accuracy"] <= 1 and out["train_seconds"] > 0 and "latency_ms" not in out
    assert out["active"] == S.ADAPTER_NAME
    # The same settings again come from the cache, not from training.
    monkeypatch.setattr(S.measure, "train_and_measure", lambda *a, **k: pytest.fail("retrained a cached run"))
    again = S.adapter_job(tiny_choice, tiny_data, config, budget, seed=0, frozen_below=1,
                          after=jobs_for_tests.active_adapter)
    assert run_one(cache, again) == out and cache.hits == 1


def test_the_extra_measurement_is_named_in_the_key(tiny_choice, tiny_data):
    config, budget = L.AdapterConfig(bottleneck=4), S.Budget()
    plain = S.adapter_job(tiny_choice, tiny_data, config, budget)
    probed = S.adapter_job(tiny_choice, tiny_data, config, budget, after=jobs_for_tests.probe_logits)
    assert plain.settings["tag"] is None and probed.settings["tag"] == "jobs_for_tests.probe_logits"
    assert S.stable_key(plain.settings) != S.stable_key(probed.settings)
    assert probed.fn is S.train_adapter and probed.kwargs["after"] is jobs_for_tests.probe_logits
    with pytest.raises(ValueError, match="top level of a module"):
        S.adapter_job(tiny_choice, tiny_data, config, budget, after=lambda m, t, d: {})


def test_run_key_names_the_data_and_ignores_the_seed_list(tiny_choice, tiny_data):
    config = L.AdapterConfig(bottleneck=4)

    def key(data, budget):
        return S.adapter_job(tiny_choice, data, config, budget, 0).settings

    a = key(tiny_data, S.Budget(seeds=(0, 1, 2)))
    assert a == key(tiny_data, S.Budget(seeds=(0,), reference_seeds=(5,), latency=(1, 2, 3), workers=2))
    smaller = {"train": tiny_data["train"].select(range(3)), "validation": tiny_data["validation"]}
    assert key(smaller, S.Budget())["train_data"] != a["train_data"]
    assert key(tiny_data, S.Budget(epochs=5)) != a


def test_budget_from_profiles():
    for name in ("full", "quick"):
        profile = L.profiles.get_profile(name)
        budget = S.Budget.from_profile(profile)
        assert budget.learning_rate == profile.adapter_lr and budget.batch_size == profile.batch_size
        assert all(getattr(budget, k) == v for k, v in profile.sweep.items()) and len(budget.latency) == 3
    assert len(S.Budget.from_profile(L.profiles.get_profile("full")).reference_seeds) >= 3  # a spread needs seeds
    assert S.Budget.from_profile(L.profiles.get_profile("quick"), seeds=(0, 1)).seeds == (0, 1)
    assert S.Budget.from_profile(L.profiles.get_profile("full")) == S.Budget()  # the defaults are the full run
    with pytest.raises(TypeError, match=r"\['epoch'\] are not Budget fields.*choose from"):
        S.Budget.from_profile(L.profiles.get_profile("quick"), epoch=3)


def test_the_kept_reference_adapter_reloads_to_identical_logits(tiny_choice, tiny_data, tmp_path):
    budget = S.Budget(epochs=1, max_steps=2, batch_size=3, learning_rate=1e-2)
    cache = S.RunCache(tmp_path / "cache")
    job = S.adapter_job(tiny_choice, tiny_data, L.AdapterConfig(bottleneck=4), budget,
                        after=jobs_for_tests.probe_logits, keep_adapter=True)
    out = run_one(cache, job)
    folder = cache.folder_for(job.settings)
    assert folder.is_dir() and folder.parent == cache.folder and len(cache) == 1
    # Notebook 04: a fresh base model, the kept adapter loaded into it.
    model, tokenizer = L.load_base_model(tiny_choice, tiny_data["train"].features["label"].names)
    L.load_adapter(model, folder)
    again = L.predict_logits(model, tokenizer, tiny_data["validation"].select(range(4)))
    torch.testing.assert_close(torch.tensor(again, dtype=torch.float64),
                               torch.tensor(out["probe_logits"], dtype=torch.float64), rtol=0, atol=0)
    fresh, _ = L.load_base_model(tiny_choice, tiny_data["train"].features["label"].names)
    assert not np.allclose(L.predict_logits(fresh, tokenizer, tiny_data["validation"].select(range(4))), again)
    # Keeping the adapter is not part of the key; a cached run whose folder is gone trains again.
    assert S.adapter_job(tiny_choice, tiny_data, L.AdapterConfig(bottleneck=4), budget,
                         after=jobs_for_tests.probe_logits).settings == job.settings
    folder.rename(tmp_path / "moved-away")
    run_one(cache, job)
    assert folder.is_dir() and cache.misses == 2


def test_adapter_jobs_train_in_workers_and_land_in_the_cache(tiny_choice, tiny_data, tmp_path):
    budget = S.Budget(epochs=1, max_steps=1, batch_size=3)
    configs = [L.AdapterConfig(bottleneck=4), L.AdapterConfig(bottleneck=4, placement="ffn")]
    jobs = [S.adapter_job(tiny_choice, tiny_data, c, budget, seed=0) for c in configs]
    cache = S.RunCache(tmp_path / "cache")
    results = S.run_jobs(cache, jobs + jobs[:1], workers=2, progress=False)
    assert [r["n_adapters"] for r in results] == [2 * N_LAYERS, N_LAYERS, 2 * N_LAYERS]
    assert results[0] == results[2] and cache.misses == 2 and all(r["workers"] == 2 for r in results)
    # The notebook's per-experiment lookups then read the same runs back without training.
    assert run_one(cache, S.adapter_job(tiny_choice, tiny_data, configs[1], budget, seed=0)) == results[1]


def test_variant_latency_measures_base_and_every_variant(tiny_choice):
    out = S.variant_latency(tiny_choice, {"houlsby": L.AdapterConfig(bottleneck=4),
                                          "top": L.AdapterConfig(bottleneck=4, layers=[N_LAYERS - 1])},
                            pairs=2, tokens=8, passes=2)
    assert set(out) == {"base", "houlsby", "top"} and all(v > 0 for v in out.values())
