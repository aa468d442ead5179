"""Weights to tokens and back (docs/method.md, "Tokens").

- weight tokens: every scalar is a token of length 1, in flat order;
- neuron tokens: one token per output neuron or conv kernel, holding its incoming weights (all
  input channels × kernel positions) followed by its bias. Token length differs between layers,
  so neuron tokens come as one tensor per layer.

Both are gathers through index tables derived from the `Layout`; every flat position sits in
exactly one token, so the way back is one gather through the inverse permutation and is exact.

Shape legend: B batch, p params, u units of a layer, l token length.
"""

from __future__ import annotations

import functools

import torch

from hrlib.zoos.layout import Layout

MODES = ("neuron", "weight")


@functools.cache
def neuron_index(layout: Layout) -> tuple[torch.Tensor, ...]:
    """Per layer, a (u, l) table of the flat positions forming each unit's token."""
    tables = []
    for i, layer in enumerate(layout.layers):
        w = layout.weight_slice(i)
        rows = torch.arange(w.start, w.stop).view(layer.units_out, -1)
        if layer.bias:
            b = layout.bias_slice(i)
            rows = torch.cat([rows, torch.arange(b.start, b.stop).view(-1, 1)], dim=1)
        tables.append(rows)
    return tuple(tables)


@functools.cache
def _inverse(layout: Layout) -> torch.Tensor:
    order = torch.cat([t.flatten() for t in neuron_index(layout)])
    return torch.argsort(order)


def token_sizes(layout: Layout, mode: str = "neuron") -> list[int]:
    """Token length of each layer's tokens (neuron mode) or [1] (weight mode)."""
    _check_mode(mode)
    return [layer.token_size for layer in layout.layers] if mode == "neuron" else [1]


def token_counts(layout: Layout, mode: str = "neuron") -> list[int]:
    """Number of tokens per layer (neuron mode) or [p] (weight mode)."""
    _check_mode(mode)
    return [layer.units_out for layer in layout.layers] if mode == "neuron" else [layout.n_params]


def tokenize(flat: torch.Tensor, layout: Layout, mode: str = "neuron") -> list[torch.Tensor]:
    """flat (B, p) -> per-layer tokens [(B, u, l), ...] (neuron) or [(B, p, 1)] (weight)."""
    _check_mode(mode)
    if mode == "weight":
        return [flat.unsqueeze(-1)]
    return [flat[:, idx.to(flat.device)] for idx in neuron_index(layout)]


def detokenize(tokens: list[torch.Tensor], layout: Layout, mode: str = "neuron") -> torch.Tensor:
    """The exact inverse of `tokenize`: tokens -> flat (B, p)."""
    _check_mode(mode)
    if mode == "weight":
        return tokens[0].squeeze(-1)
    joined = torch.cat([t.flatten(1) for t in tokens], dim=1)
    return joined[:, _inverse(layout).to(joined.device)]


def _check_mode(mode: str):
    if mode not in MODES:
        raise ValueError(f"token mode must be one of {MODES}, got {mode!r}")
