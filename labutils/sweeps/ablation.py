"""Ablations of the adapter design (Houlsby et al. 2019, Section 3.6) and AdapterDrop (Rücklé et al., 2021).

Layer spans (the paper's Figure 6; notebook 04 runs the loop in a cell): the spans, the check of the
resulting matrix, the majority-class rate to read it against. AdapterDrop: `freeze_layers_below`.
Latency of variants: one model carries every variant, and they take turns pass by pass.
"""
from __future__ import annotations

import math

import numpy as np

from ..device import pick_device
from ..hub import ModelChoice, load_base_model
from ..latency import compare_latency, synthetic_batch
from ..layer import adapter_configs, encoder_layers
from ..model import add_adapter
from ..switching import adapter_modules_only


def majority_rate(labels) -> float:
    """Share of the most common label: the accuracy of always predicting the majority class."""
    labels = np.asarray(labels)
    if labels.size == 0:
        raise ValueError("majority_rate needs at least one label.")
    _, counts = np.unique(labels, return_counts=True)
    return float(counts.max() / labels.size)


def spans(n_layers: int) -> list:
    """Every contiguous span of layers as (first, last), both included: n(n+1)/2 of them."""
    return [(first, last) for first in range(n_layers) for last in range(first, n_layers)]


def is_upper_triangular(matrix) -> bool:
    """True if the matrix is square, finite on and above the diagonal and NaN strictly below it."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        return False
    below = np.tril(np.ones(matrix.shape, bool), k=-1)
    return bool(np.isnan(matrix[below]).all() and np.isfinite(matrix[~below]).all())


def matrix_to_json(matrix) -> list:
    """Nested lists with None for NaN (strict JSON has no NaN)."""
    return [[None if math.isnan(v) else float(v) for v in row] for row in np.asarray(matrix, dtype=float)]


def matrix_from_json(rows) -> np.ndarray:
    """Inverse of `matrix_to_json`: None comes back as NaN."""
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def freeze_layers_below(model, first_layer: int) -> None:
    """AdapterDrop's training saving: nothing below encoder layer `first_layer` trains.

    `freeze_for_adapters` trains every LayerNorm; freezing those below (and the embeddings) stops the backward pass.
    """
    for layer in encoder_layers(model)[:first_layer]:
        for param in layer.parameters():
            param.requires_grad = False
    if first_layer > 0:
        for param in model.base_model.embeddings.parameters():
            param.requires_grad = False


def lowest_trainable_layer(model) -> int:
    """Index of the lowest encoder layer with a trainable parameter (the number of layers if none)."""
    layers = encoder_layers(model)
    return next((i for i, layer in enumerate(layers) if any(p.requires_grad for p in layer.parameters())),
                len(layers))


def variant_latency(choice: ModelChoice, configs: dict, pairs: int = 32, tokens: int = 128,
                    passes: int = 15) -> dict:
    """Median inference latency (ms per batch) of the base model ("base") and of each adapter variant.

    One fresh model carries every variant; they take turns pass by pass, under the same machine conditions."""
    model, tokenizer = load_base_model(choice, ["0", "1"])
    for name, config in configs.items():
        add_adapter(model, f"v{len(adapter_configs(model))}", config, set_active=False)
    names = dict(zip(configs, list(adapter_configs(model))))
    # Only the adapter modules switch (no LayerNorm / head swap inside a timed pass).
    settings = {"base": lambda: adapter_modules_only(model, None),
                **{label: (lambda n=n: adapter_modules_only(model, n)) for label, n in names.items()}}
    device = pick_device()
    model.to(device)
    batch = synthetic_batch(tokenizer, pairs, tokens, device)
    return compare_latency(model, batch, settings, passes=passes)
