"""Small helpers for the exercise checks of notebooks 01-03 (the references are the library's own)."""
from __future__ import annotations

import numpy as np
import torch


def relative_error(a, b) -> float:
    """max |a - b| / max(|a| + |b|): 0 for equal tensors, about 1 for unrelated ones."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return ((a - b).abs().max() / (a.abs() + b.abs()).max().clamp_min(1e-12)).item()


def tiny_bert(hidden: int = 32, layers: int = 2, seed: int = 0):
    """A random BertForSequenceClassification small enough to build in a blink (no download)."""
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=64, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=4 * hidden, max_position_embeddings=32, num_labels=2)
    return BertForSequenceClassification(config).eval()


def sublayer_case(sublayer: str = "attention", hidden: int = 32, bottleneck: int = 8, seed: int = 0):
    """(library sublayer with an adapter, hidden_states, input_tensor) for one BERT sublayer output."""
    from .config import AdapterConfig
    from .layer import adapter_sublayers
    from .model import add_adapter
    model = tiny_bert(hidden, 1, seed)
    add_adapter(model, "task", AdapterConfig(bottleneck=bottleneck))
    module = {m.sublayer: m for _, m in adapter_sublayers(model)}[sublayer]
    with torch.no_grad():
        for p in module.adapters["task"].parameters():
            p.normal_(std=0.5)
        module.LayerNorm.weight.normal_(1.0, 0.2)
        module.LayerNorm.bias.normal_(0.0, 0.2)
    hidden_states = torch.randn(2, 5, module.dense.in_features)
    return module.eval(), hidden_states, torch.randn(2, 5, hidden)


def freezing_case(active: str = "mrpc", seed: int = 0):
    """A tiny BERT with two adapters, "mrpc" and "sst2", `active` being trained, and the names the library trains."""
    from .config import AdapterConfig
    from .model import add_adapter
    from .params import freeze_for_adapters
    from .switching import set_active_adapter
    model = tiny_bert(seed=seed)
    add_adapter(model, "sst2", AdapterConfig(bottleneck=4))
    add_adapter(model, "mrpc", AdapterConfig(bottleneck=4))
    set_active_adapter(model, active)
    freeze_for_adapters(model, train_pooler=False)
    names = [n for n, _ in model.named_parameters()]
    return model, names, {n for n, p in model.named_parameters() if p.requires_grad}


def confident_mistake_rows(probs: np.ndarray, labels, k: int = 8) -> list:
    """Row indices of `labutils.inference.confident_mistakes` (the library's answer), surest first."""
    from datasets import Dataset

    from .inference import confident_mistakes
    labels, probs = [int(y) for y in labels], np.asarray(probs)
    ds = Dataset.from_dict({"sentence1": [str(i) for i in range(len(labels))], "label": labels})
    table = confident_mistakes(ds, probs, [str(c) for c in range(probs.shape[1])], k=k)
    return [int(s) for s in table["sentence1"]] if len(table) else []


def wrong_cases(function, cases: dict) -> dict:
    """Call `function(*case)` for each case of {case: expected}; return {case: got} where got != expected."""
    name = getattr(function, "__name__", "function")
    try:
        got = {case: function(*case) for case in cases}
    except (NameError, TypeError, AttributeError) as error:
        raise AssertionError(f"not done yet ({type(error).__name__}: {error})") from None
    wrong = {case: answer for case, answer in got.items() if answer != cases[case]}
    print(f"{len(cases) - len(wrong)} of {len(cases)} cases right" + "".join(
        f"; {name}{case} gave {answer!r}, expected {cases[case]!r}" for case, answer in wrong.items()))
    return wrong
