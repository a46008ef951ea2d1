"""Predictions a person can check: probabilities for sentence pairs, the most confident
mistakes, and one-call prediction for the interactive demo."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch


@torch.inference_mode()
def predict_text_logits(model, tokenizer, texts_a: Sequence[str], texts_b: Optional[Sequence[str]] = None,
                        batch_size: int = 32, max_length: int = 128) -> np.ndarray:
    """The head's raw outputs, one row per single sentence or sentence pair."""
    if isinstance(texts_a, str):
        raise TypeError("pass a list of texts, not a single string")
    if texts_b is not None and len(texts_b) != len(texts_a):
        raise ValueError(f"{len(texts_a)} first sentences but {len(texts_b)} second sentences")
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(texts_a), batch_size):
        a = list(texts_a[start:start + batch_size])
        b = None if texts_b is None else list(texts_b[start:start + batch_size])
        enc = tokenizer(a, b, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        out.append(model(**{k: v.to(device) for k, v in enc.items()}).logits.float().cpu())
    if not out:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    return torch.cat(out).numpy()


def predict_proba(model, tokenizer, texts_a: Sequence[str], texts_b: Optional[Sequence[str]] = None,
                  batch_size: int = 32, max_length: int = 128) -> np.ndarray:
    """Class probabilities (rows sum to 1) for single sentences or sentence pairs."""
    if model.config.num_labels == 1:  # a softmax over one output is always 1.0
        raise ValueError("this head predicts one score (a regression task such as STS-B): use predict_scores")
    logits = predict_text_logits(model, tokenizer, texts_a, texts_b, batch_size, max_length)
    return torch.softmax(torch.from_numpy(logits), dim=-1).numpy()


def predict_scores(model, tokenizer, texts_a: Sequence[str], texts_b: Optional[Sequence[str]] = None,
                   batch_size: int = 32, max_length: int = 128) -> np.ndarray:
    """One predicted score per input, from a one-output (regression) head such as STS-B's."""
    if model.config.num_labels != 1:
        raise ValueError(f"this head predicts {model.config.num_labels} classes, not a score: use predict_proba")
    return predict_text_logits(model, tokenizer, texts_a, texts_b, batch_size, max_length)[:, 0]


def confident_mistakes(raw_dataset, probs: np.ndarray, label_names: Sequence[str], k: int = 8):
    """The k wrong predictions the model was surest of, as a DataFrame for error analysis."""
    import pandas as pd
    labels = np.asarray(raw_dataset["label"])
    preds = probs.argmax(-1)
    wrong = np.flatnonzero(preds != labels)
    order = wrong[np.argsort(-probs[wrong, preds[wrong]])][:k]
    text_cols = [c for c in ("sentence1", "sentence2", "sentence") if c in raw_dataset.column_names]
    return pd.DataFrame([{**{c: raw_dataset[int(i)][c] for c in text_cols}, "human": label_names[labels[i]],
                          "model": label_names[preds[i]], "confidence": round(float(probs[i, preds[i]]), 3)}
                         for i in order])


def describe_prediction(probs_row: np.ndarray, label_names: Sequence[str]) -> str:
    """'equivalent (p = 0.93)' for one row of probabilities."""
    k = int(np.argmax(probs_row))
    return f"{label_names[k]} (p = {probs_row[k]:.2f})"
