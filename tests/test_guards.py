"""Guards against silently wrong runs: a diverged training run raises instead of reporting
majority-class accuracy; a model is identified by its weights, not its folder's name; a
tokenizer that cannot feed its model is refused at load; LAB_DEVICE is checked."""
import json
import shutil

import pytest
import torch

import labutils as L
from labutils import sweeps as S
from labutils import hub
from labutils import io as IO
from labutils.train import TrainingDiverged, explosion_bound
from conftest import make_tiny_model


# ---------------------------------------------------------------------------------------------
# 5. Diverged training
# ---------------------------------------------------------------------------------------------

def _adapter_model():
    model = make_tiny_model()
    L.add_adapter(model, "mrpc", L.AdapterConfig(bottleneck=4))
    L.freeze_for_adapters(model)
    return model


def _train(tokenizer, data, tmp_path, lr, steps=3, logging_steps=1, **overrides):
    L.set_seed(0)
    args = L.training_arguments(str(tmp_path / "run"), epochs=1, max_steps=steps, learning_rate=lr, batch_size=3,
                                logging_steps=logging_steps, warmup=0, eval_each_epoch=False, **overrides)
    return L.train(_adapter_model(), tokenizer, data["train"], data["validation"], args)


def test_nan_loss_raises_naming_the_learning_rate(tokenizer, tiny_data, tmp_path):
    with pytest.raises(TrainingDiverged, match=r"learning rate 1e\+30.*Lower the learning rate") as err:
        _train(tokenizer, tiny_data, tmp_path, lr=1e30)
    assert isinstance(err.value, RuntimeError) and "nan" in str(err.value)


def test_nan_weights_are_caught_even_when_the_loss_filter_hides_them(tokenizer, tiny_data, tmp_path):
    # With Trainer's filter on, the NaN steps are logged as the average of the steps before.
    with pytest.raises(TrainingDiverged, match="NaN or infinity"):
        _train(tokenizer, tiny_data, tmp_path, lr=1e30, logging_nan_inf_filter=True)


def test_exploding_loss_raises(tokenizer, tiny_data, tmp_path):
    # The ablations log every 50 steps, so a short run shows only its final train_loss.
    with pytest.raises(TrainingDiverged, match=r"training loss reached .* learning rate 1e\+06"):
        _train(tokenizer, tiny_data, tmp_path, lr=1e6, logging_steps=50)


def test_the_lab_logs_the_raw_loss(tmp_path):
    args = L.training_arguments(str(tmp_path), epochs=1, learning_rate=1e-3)
    assert args.logging_nan_inf_filter is False


def test_explosion_bound_sits_far_above_a_healthy_loss():
    assert explosion_bound(2) == pytest.approx(10 * 0.6931, rel=1e-3)  # healthy MRPC runs start at 0.69
    assert explosion_bound(2, first_loss=0.05) == explosion_bound(2)  # a low first log does not lower it
    assert explosion_bound(2, first_loss=3.0) == pytest.approx(30.0)
    assert explosion_bound(1) == float("inf") and explosion_bound(1, first_loss=2.0) == pytest.approx(20.0)


def test_a_diverged_run_is_never_cached(tiny_choice, tiny_data, tmp_path):
    budget = S.Budget(epochs=1, max_steps=2, batch_size=3, learning_rate=1e30)
    cache = S.RunCache(tmp_path / "cache")
    job = S.adapter_job(tiny_choice, tiny_data, L.AdapterConfig(bottleneck=4), budget)
    with pytest.raises(TrainingDiverged):
        job.fn(**job.kwargs)
    with pytest.raises(RuntimeError, match="TrainingDiverged"):
        S.run_jobs(cache, [job], workers=1, progress=False)
    assert len(cache) == 0


# ---------------------------------------------------------------------------------------------
# 8. A model is what it is, not its folder's name
# ---------------------------------------------------------------------------------------------

def _model_folder(path, tokenizer, seed):
    make_tiny_model(seed=seed).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return L.resolve_model(str(path))


@pytest.fixture
def two_berts(tmp_path, tokenizer):
    """Two different tiny models in folders that are both named `bert`."""
    return _model_folder(tmp_path / "a" / "bert", tokenizer, 0), _model_folder(tmp_path / "b" / "bert", tokenizer, 1)


def test_two_models_with_one_folder_name_get_their_own_cache_keys(two_berts, tiny_data):
    a, b = two_berts
    assert a.display_name == b.display_name == "bert"
    config, budget = L.AdapterConfig(bottleneck=4), S.Budget()
    assert S.adapter_job(a, tiny_data, config, budget).settings != S.adapter_job(b, tiny_data, config, budget).settings
    full = S.Method("full fine-tuning", "full", 5e-5)
    assert S.method_job(a, tiny_data, full, budget).settings != S.method_job(b, tiny_data, full, budget).settings


def test_one_model_in_two_folders_shares_its_runs(two_berts, tiny_data, tmp_path):
    a, _ = two_berts
    copy = L.resolve_model(str(shutil.copytree(a.name_or_path, tmp_path / "elsewhere" / "renamed")))
    config, budget = L.AdapterConfig(bottleneck=4), S.Budget()
    assert S.adapter_job(copy, tiny_data, config, budget).settings == S.adapter_job(a, tiny_data, config, budget).settings


def test_fingerprint_ignores_the_fresh_head_and_leaves_the_random_state_alone(two_berts):
    a, _ = two_berts
    torch.manual_seed(1)
    first = hub.load_base_model(a)[0].config.lab_base_fingerprint
    torch.manual_seed(2)
    assert hub.load_base_model(a, ["x", "y"])[0].config.lab_base_fingerprint == first
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    assert hub.base_fingerprint(a) == first
    assert torch.equal(torch.rand(3), expected)


def test_new_weights_in_the_same_folder_are_a_new_model(two_berts):
    a, _ = two_berts
    before = hub.base_fingerprint(a)
    make_tiny_model(seed=5).save_pretrained(a.name_or_path)
    assert hub.base_fingerprint(a) != before


def _saved_adapter(choice, folder):
    model, _ = hub.load_base_model(choice, ["not_equivalent", "equivalent"])
    L.add_adapter(model, "mrpc", L.AdapterConfig(bottleneck=4))
    return IO.save_adapter(model, folder)


def test_an_adapter_is_refused_by_another_model_with_the_same_name(two_berts, tmp_path):
    a, b = two_berts
    folder = _saved_adapter(a, tmp_path / "adapter")
    assert IO.read_adapter_config(folder)["base_fingerprint"] == hub.base_fingerprint(a)
    other, _ = hub.load_base_model(b, ["not_equivalent", "equivalent"])
    with pytest.raises(IO.AdapterFileError, match="base_fingerprint mismatch.*their weights differ"):
        IO.load_adapter(other, folder)
    assert not L.adapter_configs(other)
    # The same weights in a folder with another name are the same base.
    same = L.resolve_model(str(shutil.copytree(a.name_or_path, tmp_path / "renamed")))
    IO.load_adapter(hub.load_base_model(same, ["not_equivalent", "equivalent"])[0], folder)


def test_an_adapter_file_from_before_fingerprints_still_loads(two_berts, tmp_path):
    a, b = two_berts
    folder = _saved_adapter(a, tmp_path / "adapter")
    meta = json.loads((folder / IO.CONFIG_FILE).read_text())
    del meta["base_fingerprint"]
    (folder / IO.CONFIG_FILE).write_text(json.dumps(meta))
    IO.load_adapter(hub.load_base_model(a, ["not_equivalent", "equivalent"])[0], folder)
    # ... and is still checked by name, saying why only the name.
    other = hub.load_base_model(b, ["not_equivalent", "equivalent"])[0]
    other.config.lab_base_model = "bert-base-uncased"
    with pytest.raises(IO.AdapterFileError, match="base_model mismatch.*records no base fingerprint"):
        IO.load_adapter(other, folder)


# ---------------------------------------------------------------------------------------------
# 9. The tokenizer must belong to the model
# ---------------------------------------------------------------------------------------------

def test_a_model_folder_without_tokenizer_files_is_refused(tmp_path):
    folder = tmp_path / "bare-bert"
    make_tiny_model().save_pretrained(folder)
    choice = L.ModelChoice(str(folder), "bare-bert", False, "test")
    with pytest.raises(ValueError, match=r"bare-bert.*\[UNK\].*Copy the tokenizer files"):
        hub.load_base_model(choice)
    with pytest.raises(ValueError, match="Copy the tokenizer files"):
        L.load_tokenizer(choice)


def test_a_tokenizer_larger_than_the_vocabulary_is_refused(tmp_path, tokenizer):
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path / "small-vocab"
    BertForSequenceClassification(BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=64)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    with pytest.raises(ValueError, match=r"30522 tokens.*vocab_size=1000.*Copy the tokenizer files"):
        hub.load_base_model(L.ModelChoice(str(folder), "small-vocab", False, "test"))


def test_a_matching_tokenizer_loads(tiny_choice):
    model, tok = hub.load_base_model(tiny_choice)
    assert len(tok) <= model.config.vocab_size


# ---------------------------------------------------------------------------------------------
# 10. LAB_DEVICE
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["CPU", " cpu ", "Cpu"])
def test_lab_device_is_case_and_space_insensitive(monkeypatch, value):
    monkeypatch.setenv("LAB_DEVICE", value)
    assert L.pick_device() == "cpu"


@pytest.mark.parametrize("value", ["bogus", "gpu", "tpu"])
def test_unknown_lab_device_is_refused(monkeypatch, value):
    monkeypatch.setenv("LAB_DEVICE", value)
    with pytest.raises(ValueError, match=rf"LAB_DEVICE='{value}'.*cpu, cuda, mps"):
        L.pick_device()


def test_cuda_with_an_index_points_to_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("LAB_DEVICE", "cuda:1")
    with pytest.raises(ValueError, match="CUDA_VISIBLE_DEVICES=1 and LAB_DEVICE=cuda"):
        L.pick_device()


def test_an_unavailable_device_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for value in ("cuda", "CUDA", "mps"):
        monkeypatch.setenv("LAB_DEVICE", value)
        with pytest.raises(RuntimeError, match=f"LAB_DEVICE={value.lower()}, but .*Set LAB_DEVICE=cpu"):
            L.pick_device()


def test_an_available_device_is_taken(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LAB_DEVICE", "Cuda")
    assert L.pick_device() == "cuda"
    monkeypatch.delenv("LAB_DEVICE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert L.pick_device() == "cpu"
