"""Several adapters in one model: each task keeps its own LayerNorms and head; the base stays intact."""
import copy

import pytest
import torch

import labutils as L
from labutils.params import parameter_group
from labutils.multitask import MultiTaskAdapterManager
from conftest import make_tiny_model

PAIRS_A = ["The cat sat on the mat .", "Shares rose on Monday .", "He left early ."]
PAIRS_B = ["A cat was sitting on a mat .", "Rain is expected .", "He went home early ."]


def logits(model, batch):
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


def train_by_hand(model, seed, favourite=None):
    """Move the active task's adapter, LayerNorms and head, as training would (in place)."""
    torch.manual_seed(seed)
    active = L.active_adapter(model)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            group = parameter_group(pname)
            if group in ("layernorm", "head") or (group == "adapters" and f".adapters.{active}." in pname):
                p.add_(0.2 * torch.randn_like(p))
        if favourite is not None:
            model.classifier.bias.zero_()
            model.classifier.bias[favourite] = 10.0


def shared_values(model):
    """Copies of the live LayerNorm and head parameters."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if parameter_group(n) in ("layernorm", "head")}


def saved_task(tmp_path, name, seed, favourite):
    """An adapter folder trained (by hand) on a fresh base, and the model it was trained in."""
    model = make_tiny_model()
    L.add_adapter(model, name, L.AdapterConfig(bottleneck=4, init_std=0.2))
    train_by_hand(model, seed, favourite)
    return L.save_adapter(model.eval(), tmp_path / name), model.eval()


# ---------------------------------------------------------------------------------------------
# 6. Switching brings each adapter's own LayerNorms and head
# ---------------------------------------------------------------------------------------------

def test_loaded_adapters_switch_with_their_own_layernorms_and_head(tmp_path, batch):
    folder_a, trained_a = saved_task(tmp_path, "a", seed=1, favourite=0)
    folder_b, trained_b = saved_task(tmp_path, "b", seed=2, favourite=1)
    model = make_tiny_model()
    L.load_adapter(model, folder_a)
    L.load_adapter(model, folder_b)
    L.set_active_adapter(model, "a")
    torch.testing.assert_close(logits(model, batch), logits(trained_a, batch), rtol=0, atol=1e-6)
    assert (logits(model, batch).argmax(-1) == 0).all()  # a's head, not b's
    L.set_active_adapter(model, "b")
    torch.testing.assert_close(logits(model, batch), logits(trained_b, batch), rtol=0, atol=1e-6)
    L.set_active_adapter(model, "a")
    torch.testing.assert_close(logits(model, batch), logits(trained_a, batch), rtol=0, atol=1e-6)


def test_loading_without_activating_leaves_the_running_task_alone(tmp_path, batch):
    folder_a, trained_a = saved_task(tmp_path, "a", seed=1, favourite=0)
    folder_b, trained_b = saved_task(tmp_path, "b", seed=2, favourite=1)
    model = make_tiny_model()
    L.load_adapter(model, folder_a)
    L.load_adapter(model, folder_b, set_active=False)
    assert L.active_adapter(model) == "a"
    torch.testing.assert_close(logits(model, batch), logits(trained_a, batch), rtol=0, atol=1e-6)
    L.set_active_adapter(model, "b")
    torch.testing.assert_close(logits(model, batch), logits(trained_b, batch), rtol=0, atol=1e-6)


def test_no_adapter_runs_the_pretrained_layernorms_and_head(tiny_model, batch):
    plain = logits(tiny_model, batch)
    pretrained = shared_values(tiny_model)
    L.add_adapter(tiny_model, "a", L.AdapterConfig(bottleneck=4, init_std=0.2))
    train_by_hand(tiny_model, seed=1)
    trained = logits(tiny_model, batch)
    L.set_active_adapter(tiny_model, None)
    torch.testing.assert_close(logits(tiny_model, batch), plain, rtol=0, atol=0)
    for n, value in shared_values(tiny_model).items():
        assert torch.equal(value, pretrained[n]), n
    L.set_active_adapter(tiny_model, "a")  # and a's trained ones come back
    torch.testing.assert_close(logits(tiny_model, batch), trained, rtol=0, atol=0)


def test_new_adapter_starts_from_the_pretrained_layernorms_and_head(tiny_model, batch):
    pretrained = shared_values(tiny_model)
    L.add_adapter(tiny_model, "a", L.AdapterConfig(bottleneck=4))
    train_by_hand(tiny_model, seed=1)
    a_trained = shared_values(tiny_model)
    L.add_adapter(tiny_model, "b", L.AdapterConfig(bottleneck=4))  # while a is active and trained
    for n, value in shared_values(tiny_model).items():
        assert torch.equal(value, pretrained[n]), n
    L.set_active_adapter(tiny_model, "a")
    for n, value in shared_values(tiny_model).items():
        assert torch.equal(value, a_trained[n]), n


def test_training_after_switching_trains_the_active_task_only(tiny_model, batch):
    L.add_adapter(tiny_model, "a", L.AdapterConfig(bottleneck=4))
    L.add_adapter(tiny_model, "b", L.AdapterConfig(bottleneck=4))
    L.set_active_adapter(tiny_model, "a")
    L.freeze_for_adapters(tiny_model)
    # The optimizer is built while a is active, as a notebook would, and kept across the switch.
    optimizer = torch.optim.SGD([p for p in tiny_model.parameters() if p.requires_grad], lr=1.0)
    a_before = shared_values(tiny_model)
    L.set_active_adapter(tiny_model, "b")
    L.freeze_for_adapters(tiny_model)
    b_before = shared_values(tiny_model)
    tiny_model.train()
    loss = tiny_model(**batch, labels=torch.tensor([0, 1])).loss
    loss.backward()
    optimizer.step()
    b_after = shared_values(tiny_model)
    assert not torch.equal(b_after["classifier.weight"], b_before["classifier.weight"])  # b did train
    assert any(not torch.equal(b_after[n], b_before[n]) for n in b_after if "LayerNorm" in n)
    L.set_active_adapter(tiny_model, "a")
    for n, value in shared_values(tiny_model).items():
        assert torch.equal(value, a_before[n]), f"training b changed a's {n}"
    L.set_active_adapter(tiny_model, "b")
    for n, value in shared_values(tiny_model).items():
        assert torch.equal(value, b_after[n]), f"b's trained {n} was lost by switching"


def test_switching_keeps_the_parameter_objects(tiny_model):
    L.add_adapter(tiny_model, "a", L.AdapterConfig(bottleneck=4))
    L.add_adapter(tiny_model, "b", L.AdapterConfig(bottleneck=4))
    before = dict(tiny_model.named_parameters())
    for name in ("a", None, "b", "a"):
        L.set_active_adapter(tiny_model, name)
        assert all(p is before[n] for n, p in tiny_model.named_parameters())


def test_a_layernorm_replaced_by_hand_is_switched_too(tiny_model):
    L.add_adapter(tiny_model, "a", L.AdapterConfig(bottleneck=4))
    L.add_adapter(tiny_model, "b", L.AdapterConfig(bottleneck=4))
    L.set_active_adapter(tiny_model, "a")  # (the model has looked up its LayerNorms by now)
    replaced = torch.nn.LayerNorm(32, eps=1e-12)
    with torch.no_grad():
        replaced.weight.fill_(3.0)
    tiny_model.bert.embeddings.LayerNorm = replaced
    L.set_active_adapter(tiny_model, "b")
    assert torch.equal(tiny_model.bert.embeddings.LayerNorm.weight, torch.ones(32))  # b's pretrained one
    L.set_active_adapter(tiny_model, "a")
    assert torch.equal(tiny_model.bert.embeddings.LayerNorm.weight, torch.full((32,), 3.0))  # a's, as it left


def test_switch_inside_inference_mode_then_train(tiny_model, batch):
    L.add_adapter(tiny_model, "a", L.AdapterConfig(bottleneck=4))
    L.add_adapter(tiny_model, "b", L.AdapterConfig(bottleneck=4))
    tiny_model.to(torch.float64)  # the waiting tasks' tensors get converted during the switches below
    with torch.inference_mode():  # as in latency.forward_pass
        L.set_active_adapter(tiny_model, "a")
        L.set_active_adapter(tiny_model, "b")
        L.set_active_adapter(tiny_model, "a")
    L.freeze_for_adapters(tiny_model)
    optimizer = torch.optim.SGD([p for p in tiny_model.parameters() if p.requires_grad], lr=0.1)
    tiny_model.train()
    tiny_model(**batch, labels=torch.tensor([0, 1])).loss.backward()
    optimizer.step()  # in-place updates of tensors made inside inference mode would raise here


def test_saving_an_inactive_adapter_saves_its_own_layernorms_and_head(tmp_path, batch):
    model = make_tiny_model()
    L.add_adapter(model, "a", L.AdapterConfig(bottleneck=4, init_std=0.2))
    train_by_hand(model, seed=1, favourite=0)
    a_logits = logits(model, batch)
    L.add_adapter(model, "b", L.AdapterConfig(bottleneck=4, init_std=0.2))
    train_by_hand(model, seed=2, favourite=1)
    L.save_adapter(model, tmp_path / "a", name="a")  # b is active
    fresh = make_tiny_model()
    L.load_adapter(fresh, tmp_path / "a")
    torch.testing.assert_close(logits(fresh, batch), a_logits, rtol=0, atol=1e-6)


def test_deleting_the_active_adapter_returns_to_the_pretrained_model(tiny_model, batch):
    plain = logits(tiny_model, batch)
    L.add_adapter(tiny_model, "a", L.AdapterConfig(bottleneck=4, init_std=0.2))
    train_by_hand(tiny_model, seed=1)
    L.delete_adapter(tiny_model, "a")
    assert L.active_adapter(tiny_model) is None
    torch.testing.assert_close(logits(tiny_model, batch), plain, rtol=0, atol=0)


def test_adapters_disabled_keeps_the_tasks_layernorms_and_head(tiny_model, batch):
    L.add_adapter(tiny_model, "a", L.AdapterConfig(bottleneck=4, init_std=0.2))
    train_by_hand(tiny_model, seed=1)
    with_adapter = logits(tiny_model, batch)
    without_modules = copy.deepcopy(tiny_model)  # a's LayerNorms and head, adapter contributing nothing
    with torch.no_grad():
        for n, p in without_modules.named_parameters():
            if ".up_proj." in n:
                p.zero_()
    with L.adapters_disabled(tiny_model):
        assert L.active_adapter(tiny_model) == "a"
        torch.testing.assert_close(logits(tiny_model, batch), logits(without_modules, batch), rtol=0, atol=1e-6)
    torch.testing.assert_close(logits(tiny_model, batch), with_adapter, rtol=0, atol=0)


def test_model_moved_to_another_dtype_still_switches(tiny_model, batch):
    L.add_adapter(tiny_model, "a", L.AdapterConfig(bottleneck=4))
    L.add_adapter(tiny_model, "b", L.AdapterConfig(bottleneck=4))  # a's tensors wait in float32
    tiny_model.to(torch.bfloat16)
    L.set_active_adapter(tiny_model, "a")
    assert all(p.dtype == torch.bfloat16 for p in tiny_model.parameters())
    assert logits(tiny_model, batch).dtype == torch.bfloat16


# ---------------------------------------------------------------------------------------------
# Multi-task manager on top of the model's switching (7: a refused folder changes nothing)
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def para_manager(tmp_path, tokenizer):
    folder, _ = saved_task(tmp_path, "para", seed=1, favourite=1)
    manager = MultiTaskAdapterManager(make_tiny_model(), tokenizer)
    manager.register("para", folder)
    return manager


def three_way_folder(tmp_path, name="nli", hidden=32):
    """A saved 3-label task (another head width than the model's 2)."""
    model = make_tiny_model(hidden=hidden)
    from labutils.switching import set_head_labels
    set_head_labels(model, ["entailment", "neutral", "contradiction"])
    L.add_adapter(model, name, L.AdapterConfig(bottleneck=4, init_std=0.2))
    train_by_hand(model, seed=3, favourite=2)
    return L.save_adapter(model, tmp_path / f"{name}-{hidden}")


def corrupt(folder):
    weights = folder / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-8:] = b"\x00" * 8
    weights.write_bytes(bytes(data))
    return folder


@pytest.mark.parametrize("bad", ["corrupt weights", "another base model", "no folder"])
def test_refused_register_leaves_model_and_manager_as_before(para_manager, tmp_path, bad):
    model = para_manager.model
    before = para_manager.predict("para", PAIRS_A, PAIRS_B)
    state = ({k: v.clone() for k, v in model.state_dict().items()}, dict(model.config.id2label),
             L.adapter_configs(model), list(para_manager.tasks), para_manager.active)
    folder = {"corrupt weights": lambda: corrupt(three_way_folder(tmp_path)),
              "another base model": lambda: three_way_folder(tmp_path, hidden=48),
              "no folder": lambda: tmp_path / "missing"}[bad]()
    with pytest.raises(L.io.AdapterFileError):
        para_manager.register("nli", folder)
    # Nothing moved: not the head (width, labels, values), not the adapters, not the manager.
    assert para_manager.active == "para" and L.active_adapter(model) == "para"
    after = ({k: v.clone() for k, v in model.state_dict().items()}, dict(model.config.id2label),
             L.adapter_configs(model), list(para_manager.tasks), para_manager.active)
    assert after[1:] == state[1:]
    assert after[0].keys() == state[0].keys() and all(torch.equal(after[0][k], state[0][k]) for k in state[0])
    assert (para_manager.predict("para", PAIRS_A, PAIRS_B) == before).all()
    # ... and a good folder still registers afterwards.
    para_manager.register("nli", three_way_folder(tmp_path, name="nli2"))
    assert para_manager.predict("nli", PAIRS_A, PAIRS_B).shape == (3, 3)
    assert (para_manager.predict("para", PAIRS_A, PAIRS_B) == before).all()


def test_manager_follows_a_switch_made_on_the_model(para_manager, tmp_path):
    para_manager.register("nli", three_way_folder(tmp_path))
    para = para_manager.predict("para", PAIRS_A, PAIRS_B)
    L.set_active_adapter(para_manager.model, "nli")  # behind the manager's back
    assert para_manager.active == "nli"
    assert (para_manager.predict("para", PAIRS_A, PAIRS_B) == para).all()


def test_plain_load_checks_labels_against_the_head_the_new_adapter_gets(para_manager, tmp_path, batch):
    model = para_manager.model
    para_manager.register("nli", three_way_folder(tmp_path))  # a 3-way head is live now
    nli = para_manager.predict("nli", PAIRS_A, PAIRS_B)
    # A 2-label folder: a new adapter starts from the base's 2-label head, so it fits.
    folder, trained = saved_task(tmp_path, "para2", seed=5, favourite=0)
    L.load_adapter(model, folder, set_active=False)
    assert L.active_adapter(model) == "nli" and (para_manager.predict("nli", PAIRS_A, PAIRS_B) == nli).all()
    L.set_active_adapter(model, "para2")
    assert model.config.id2label == trained.config.id2label
    torch.testing.assert_close(logits(model, batch), logits(trained, batch), rtol=0, atol=1e-6)
    # A 3-label folder does not fit the base's head: refused, naming the labels.
    L.set_active_adapter(model, "nli")
    with pytest.raises(L.io.AdapterFileError, match="label_names mismatch"):
        L.load_adapter(model, three_way_folder(tmp_path, name="nli3"))
    assert (para_manager.predict("nli", PAIRS_A, PAIRS_B) == nli).all()


def test_saving_an_inactive_task_writes_its_own_labels(para_manager, tmp_path):
    para_manager.register("nli", three_way_folder(tmp_path))  # nli's 3-way head is live
    para = para_manager.predict("para", PAIRS_A, PAIRS_B)
    para_manager.switch("nli")
    L.save_adapter(para_manager.model, tmp_path / "para-again", name="para")
    assert L.io.read_adapter_config(tmp_path / "para-again")["label_names"] == ["not_equivalent", "equivalent"]
    again = MultiTaskAdapterManager(make_tiny_model(), para_manager.tokenizer)
    again.register("para", tmp_path / "para-again")
    assert (again.predict("para", PAIRS_A, PAIRS_B) == para).all()


def test_register_refuses_a_name_the_model_already_uses(para_manager, tmp_path):
    L.add_adapter(para_manager.model, "mine", L.AdapterConfig(bottleneck=4), set_active=False)
    with pytest.raises(ValueError, match="already has an adapter named 'mine'"):
        para_manager.register("mine", three_way_folder(tmp_path))
    assert "mine" in L.adapter_configs(para_manager.model)


# ---------------------------------------------------------------------------------------------
# The base checksum sees every base weight, and only base weights
# ---------------------------------------------------------------------------------------------

def test_base_checksum_changes_with_any_single_base_weight(tiny_model):
    """Fails if base_checksum hashes only some parameters (e.g. the first) or only their names."""
    L.add_adapter(tiny_model, "a", L.AdapterConfig(bottleneck=4))
    reference = L.base_checksum(tiny_model)
    base = [(n, p) for n, p in tiny_model.named_parameters() if parameter_group(n) == "base"]
    assert len(base) > 30 and "bert.embeddings.word_embeddings.weight" in dict(base)
    with torch.no_grad():
        for n, p in base:
            flat = p.view(-1)
            old = flat[-1].item()
            flat[-1] = old + 0.5
            assert L.base_checksum(tiny_model) != reference, f"checksum blind to {n}"
            flat[-1] = old
    assert L.base_checksum(tiny_model) == reference


def test_base_checksum_ignores_adapter_training_and_adding_adapters(tiny_model, batch):
    reference = L.base_checksum(tiny_model)
    L.add_adapter(tiny_model, "a", L.AdapterConfig(bottleneck=4))
    assert L.base_checksum(tiny_model) == reference
    L.freeze_for_adapters(tiny_model)
    adapters_before = {n: p.detach().clone() for n, p in tiny_model.named_parameters() if ".adapters." in n}
    optimizer = torch.optim.AdamW([p for p in tiny_model.parameters() if p.requires_grad], lr=1e-2,
                                  weight_decay=0.1)
    tiny_model.train()
    for _ in range(3):
        optimizer.zero_grad()
        tiny_model(**batch, labels=torch.tensor([0, 1])).loss.backward()
        optimizer.step()
    assert any(not torch.equal(p, adapters_before[n]) for n, p in tiny_model.named_parameters() if n in adapters_before)
    assert L.base_checksum(tiny_model) == reference


# ---------------------------------------------------------------------------------------------
# Adapters follow a half-precision base
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("scaling", [1.0, "learned"])
def test_new_adapters_take_the_base_dtype(dtype, scaling, batch):
    """Fails if add_adapter creates adapters in float32 inside a half-precision base."""
    model = make_tiny_model().to(dtype)
    L.add_adapter(model, "a", L.AdapterConfig(bottleneck=4, init_std=0.2, scaling=scaling))
    adapter_params = [(n, p) for n, p in model.named_parameters() if ".adapters." in n]
    assert adapter_params and all(p.dtype == dtype for _, p in adapter_params), \
        {n: p.dtype for n, p in adapter_params if p.dtype != dtype}
    if dtype == torch.bfloat16:  # float16 matmuls are not all there on every CPU
        out = logits(model, batch)
        assert out.dtype == dtype and torch.isfinite(out).all()
