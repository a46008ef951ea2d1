"""peft's LoRA, prefix tuning, prompt tuning and IA3 on the same BERT sequence classifier (notebook 05).

With ``TaskType.SEQ_CLS`` peft trains the classification head next to the method's own parameters; the
pooler trains where the lab's adapters train it (`labutils.params.pooler_trains`), so every row has the
same head. Defaults follow the methods' papers; a method that cannot run with the installed
transformers/peft raises `PeftMethodUnavailable` naming the cause, so a table can keep its row.
"""
from __future__ import annotations

import warnings
from typing import Dict

import torch
from torch import nn

from ..params import pooler_trains

PEFT_METHODS = ("lora", "prefix", "prompt", "ia3")

# IA3 (Liu et al., 2022) rescales keys, values and the FFN's inner activation, in BERT the *input* of
# layer.N.output.dense. peft's BERT default ("output.dense" as a suffix) also catches layer.N.attention.output.dense,
# which the paper does not rescale, so the patterns are anchored to the exact module paths.
_IA3_TARGETS = r".*\.layer\.\d+\.(attention\.self\.(key|value)|output\.dense)$"
_IA3_FEEDFORWARD = r".*\.layer\.\d+\.output\.dense$"

DEFAULT_CONFIGS: Dict[str, dict] = {
    # LoRA (Hu et al., 2021): rank 8 on the query and value projections, alpha = 2r as is common.
    "lora": dict(r=8, lora_alpha=16, lora_dropout=0.1, target_modules=["query", "value"]),
    # Prefix tuning (Li & Liang, 2021): 20 trainable key/value vectors per layer, no reparametrisation.
    "prefix": dict(num_virtual_tokens=20),
    # Prompt tuning (Lester et al., 2021): 20 trainable input embeddings, random init (works offline).
    "prompt": dict(num_virtual_tokens=20),
    # IA3: learned rescaling vectors, initialised to ones (so the model starts unchanged).
    "ia3": dict(target_modules=_IA3_TARGETS, feedforward_modules=_IA3_FEEDFORWARD),
}


class PeftMethodUnavailable(RuntimeError):
    """A peft method cannot run on this model with the installed library versions."""


def library_versions() -> dict:
    """The versions a peft method's behaviour depends on (part of a peft run's cache key)."""
    import peft
    import transformers

    return {"transformers": transformers.__version__, "peft": peft.__version__}


def _explain(method: str, model: nn.Module, error: Exception) -> str:
    """One sentence on why `method` failed, plus the original error for the curious."""
    arch = type(model).__name__
    versions = ", ".join(f"{name} {version}" for name, version in library_versions().items())
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    lowered = text.lower()
    if method == "prefix" and ("past_key_value" in lowered or "cache" in lowered):
        cause = (f"prefix tuning feeds its vectors in as past key/values, and {arch} in {versions} "
                 "does not accept them in the form peft passes")
    elif "target modules" in lowered or "target_modules" in lowered:
        cause = f"none of {arch}'s modules match the method's target_modules (module names differ)"
    else:
        cause = f"peft raised {type(error).__name__} on {arch} with {versions}"
    return f"{method} is unavailable here: {cause}. (Original error: {text})"


def _smoke_test(model: nn.Module) -> None:
    """One forward and backward on a 2x4-token batch, so failures show up at build time."""
    device = next(model.parameters()).device
    vocab = model.config.vocab_size  # any ids will do; keep them inside the vocabulary
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 2204, 102, 0]], device=device) % vocab
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], device=device)
    was_training = model.training
    model.eval()  # no dropout: the check must not disturb the random state a run relies on
    try:
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids),
                    labels=torch.zeros(2, dtype=torch.long, device=device))
        out.loss.backward()
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)


def make_peft_model(model: nn.Module, method: str, check: bool = True, **kwargs) -> nn.Module:
    """Wrap a BERT sequence classifier (in place) with a peft method: 'lora', 'prefix', 'prompt' or 'ia3'.

    Keyword arguments override `DEFAULT_CONFIGS[method]`. With `check`, a tiny forward and backward runs
    first; any failure becomes a `PeftMethodUnavailable` naming the cause."""
    method = method.lower()
    if method not in PEFT_METHODS:
        raise ValueError(f"unknown peft method {method!r}; choose one of {PEFT_METHODS}.")
    from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model

    has_pooler = any(name == "pooler" or name.endswith(".pooler") for name, _ in model.named_modules())
    if "modules_to_save" not in kwargs and has_pooler and pooler_trains(model):
        kwargs["modules_to_save"] = ["pooler"]  # the same head as the lab's adapters train; peft adds the classifier
    classes = {"lora": LoraConfig, "prefix": PrefixTuningConfig, "prompt": PromptTuningConfig, "ia3": IA3Config}
    # Bad keyword arguments are the caller's error: let them raise.
    config = classes[method](**{**DEFAULT_CONFIGS[method], **kwargs, "task_type": TaskType.SEQ_CLS})
    try:
        with warnings.catch_warnings():
            # peft 0.21 asks transformers 5 for a renamed attribute; the notice is not the user's concern.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            peft_model = get_peft_model(model, config)
            if check:
                _smoke_test(peft_model)
    except Exception as e:  # noqa: BLE001 - every failure here is reported as "method unavailable"
        raise PeftMethodUnavailable(_explain(method, model, e)) from e
    return peft_model
