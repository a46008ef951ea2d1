"""peft baselines: each method trains only its own parameters (and the head), gives the right
output shape, costs what the method's formula says, and fails with a cause when it cannot run."""
import pytest
import torch

from labutils import add_adapter
from labutils.sweeps import baselines
from labutils.sweeps.baselines import PEFT_METHODS, PeftMethodUnavailable, make_peft_model

from conftest import make_tiny_model

HIDDEN, LAYERS, INTERMEDIATE, LABELS = 32, 3, 128, 2
# The head that trains next to each method, as for the lab's adapters: the pooler (d x d + d) and
# the classifier (d x labels + labels), both as peft modules_to_save.
HEAD = (HIDDEN * HIDDEN + HIDDEN) + (HIDDEN * LABELS + LABELS)

# What each method costs on the tiny BERT with the default configs, worked out by hand.
EXPECTED_TRAINABLE = {
    # r=8 on query and value: A (r x d) + B (d x r) per matrix, two matrices per layer.
    "lora": LAYERS * 2 * (8 * HIDDEN + HIDDEN * 8) + HEAD,
    # 20 virtual tokens, a key and a value vector of size d for each, in every layer.
    "prefix": 20 * LAYERS * 2 * HIDDEN + HEAD,
    # 20 virtual input embeddings of size d.
    "prompt": 20 * HIDDEN + HEAD,
    # a vector for keys (d), values (d) and the FFN inner activation (intermediate size) per layer.
    "ia3": LAYERS * (HIDDEN + HIDDEN + INTERMEDIATE) + HEAD,
}
# The substring that marks each method's own parameters in peft's parameter names.
OWN_MARKER = {"lora": "lora_", "prefix": "prompt_encoder", "prompt": "prompt_encoder", "ia3": "ia3_"}


def _ids(batch_size=3, seq_len=7):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30000, (batch_size, seq_len), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}


@pytest.fixture(params=PEFT_METHODS)
def method(request):
    return request.param


def test_default_configs_cover_every_method():
    assert set(baselines.DEFAULT_CONFIGS) == set(PEFT_METHODS)


def test_output_shape_and_loss(method):
    model = make_peft_model(make_tiny_model(), method)
    out = model(**_ids(3, 7), labels=torch.tensor([0, 1, 0]))
    assert out.logits.shape == (3, LABELS)
    assert torch.isfinite(out.loss)


def test_parameter_count_matches_formula_and_peft(method):
    model = make_peft_model(make_tiny_model(), method)
    trainable, _ = model.get_nb_trainable_parameters()
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == trainable == EXPECTED_TRAINABLE[method]


def test_only_own_parameters_and_head_train(method):
    model = make_peft_model(make_tiny_model(), method)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names, "nothing trains"
    for name in names:
        assert OWN_MARKER[method] in name or "classifier.modules_to_save" in name \
            or "pooler.modules_to_save" in name, name
    # ... and the method's own parameters are really among them.
    assert any(OWN_MARKER[method] in n for n in names)


def test_training_step_leaves_base_untouched(method):
    torch.manual_seed(0)
    model = make_peft_model(make_tiny_model(), method)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    own = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad and OWN_MARKER[method] in n}
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    out = model(**_ids(4, 9), labels=torch.tensor([0, 1, 1, 0]))
    out.loss.backward()
    # A frozen parameter must not even receive a gradient (no wasted weight-gradient work).
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)
    opt.step()
    for n, p in model.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), f"frozen {n} changed"
    assert any(not torch.equal(dict(model.named_parameters())[n], v) for n, v in own.items()), \
        "the method's own parameters did not move"


def test_ia3_rescales_only_the_ffn_inner_activation_not_attention_output():
    model = make_peft_model(make_tiny_model(), "ia3")
    names = [n for n, p in model.named_parameters() if "ia3_" in n]
    assert not any("attention.output.dense" in n for n in names)
    assert sum("layer.0.output.dense" in n for n in names) == 1
    # Feed-forward IA3 scales the layer's input (intermediate size), not its output.
    ffn = dict(model.named_parameters())[next(n for n in names if "layer.0.output.dense" in n)]
    assert ffn.shape == (1, INTERMEDIATE)


def test_head_is_the_same_as_for_adapters(method):
    from labutils import freeze_for_adapters
    from labutils.params import parameter_group

    peft_model = make_peft_model(make_tiny_model(), method)
    head = sum(p.numel() for n, p in peft_model.named_parameters()
               if p.requires_grad and ("classifier" in n or "pooler" in n))
    adapters = freeze_for_adapters(add_adapter(make_tiny_model(), "a"))
    lab_head = sum(p.numel() for n, p in adapters.named_parameters() if p.requires_grad and parameter_group(n) == "head")
    assert head == lab_head == HEAD


def test_overrides_change_the_config():
    model = make_peft_model(make_tiny_model(), "lora", r=2)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == LAYERS * 2 * (2 * HIDDEN * 2) + HEAD


def test_unknown_method_is_a_value_error():
    with pytest.raises(ValueError, match="unknown peft method"):
        make_peft_model(make_tiny_model(), "bitfit")


def test_failure_is_reported_with_a_cause():
    # LoRA on modules that do not exist cannot be built: the error must say why, in words.
    with pytest.raises(PeftMethodUnavailable, match=r"lora is unavailable here: .*\."):
        make_peft_model(make_tiny_model(), "lora", target_modules=["no_such_module"])


def test_failure_in_forward_is_caught_by_the_check(monkeypatch):
    # A method that builds but breaks in forward (as prefix tuning has with some transformers
    # releases) must fail at build time, with the cause, not later inside a training loop.
    def broken(*args, **kwargs):
        raise TypeError("forward() got an unexpected keyword argument 'past_key_values'")

    model = make_tiny_model()
    monkeypatch.setattr(type(model.bert.encoder), "forward", broken)
    with pytest.raises(PeftMethodUnavailable, match="past key/values"):
        make_peft_model(model, "prefix")
