"""The one description of an architecture's parameters: layers, shapes, flat offsets.

Every module that needs to know where a weight sits in the flat vector (tokens, permutations,
statistics, importers, the population trainer) derives it from a `Layout`; none re-derives
offsets by hand.

Flat order (docs/method.md, "Flat layout"): per layer in forward order, ``[W.flatten(), b]`` in PyTorch layout
(linear ``(out, in)``, conv ``(out, in, kh, kw)``).

A layer's input columns are grouped by the units of the previous layer: a conv kernel's input
channel owns ``kh * kw`` contiguous entries, a linear layer after conv → flatten owns ``in_block``
(= H·W) contiguous columns per channel, a linear layer after a dense layer or global pooling one.
That grouping is all a permutation needs to know.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # torch is imported where tensors are handled, so that `import hrlib` stays light
    import torch
    from torch import nn

KINDS = ("linear", "conv")


@dataclass(frozen=True)
class Layer:
    """One parametrized layer: its state_dict prefix, kind, weight shape and whether it has a bias."""

    name: str
    kind: str
    shape: tuple[int, ...]
    bias: bool
    in_block: int = 1  # linear only: input columns per unit of the previous layer

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if self.kind not in KINDS:
            raise ValueError(f"layer {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if len(self.shape) != (2 if self.kind == "linear" else 4):
            raise ValueError(f"layer {self.name!r}: a {self.kind} weight cannot have shape {self.shape}")
        if self.kind == "linear" and self.shape[1] % self.in_block:
            raise ValueError(f"layer {self.name!r}: {self.shape[1]} inputs do not split into blocks of {self.in_block}")

    @property
    def units_out(self) -> int:
        return self.shape[0]

    @property
    def units_in(self) -> int:
        """Units of the previous layer feeding this one (neurons or channels)."""
        return self.shape[1] // self.in_block if self.kind == "linear" else self.shape[1]

    @property
    def block(self) -> int:
        """Weight entries one output unit receives from one input unit."""
        return self.in_block if self.kind == "linear" else self.shape[2] * self.shape[3]

    @property
    def weight_size(self) -> int:
        return math.prod(self.shape)

    @property
    def size(self) -> int:
        return self.weight_size + (self.shape[0] if self.bias else 0)

    @property
    def token_size(self) -> int:
        """Length of one neuron/kernel token: its incoming weights plus its bias."""
        return self.weight_size // self.shape[0] + int(self.bias)


class Layout:
    """Layers in forward order with their flat offsets; converts state_dict ⇄ flat vector exactly."""

    def __init__(self, layers):
        self.layers = tuple(layers)
        if not self.layers:
            raise ValueError("a layout needs at least one layer")
        for prev, layer in zip(self.layers, self.layers[1:]):
            if prev.units_out != layer.units_in:
                raise ValueError(
                    f"layer {layer.name!r} expects {layer.units_in} input units but {prev.name!r} has {prev.units_out}"
                )
        self.offsets = []
        start = 0
        for layer in self.layers:
            self.offsets.append(start)
            start += layer.size
        self.n_params = start

    def __repr__(self):
        parts = ", ".join(f"{l.kind}{l.shape}{'+b' if l.bias else ''}" for l in self.layers)
        return f"Layout({parts}; {self.n_params} params)"

    def __eq__(self, other):
        return isinstance(other, Layout) and self.layers == other.layers

    def __hash__(self):
        return hash(self.layers)

    def same_structure(self, other: "Layout") -> bool:
        """Equal but for layer names: the same kinds, shapes, biases and input blocks, in order."""
        strip = lambda layout: [(l.kind, l.shape, l.bias, l.in_block) for l in layout.layers]  # noqa: E731
        return strip(self) == strip(other)

    def weight_slice(self, i: int) -> slice:
        start = self.offsets[i]
        return slice(start, start + self.layers[i].weight_size)

    def bias_slice(self, i: int) -> slice | None:
        layer = self.layers[i]
        if not layer.bias:
            return None
        start = self.offsets[i] + layer.weight_size
        return slice(start, start + layer.units_out)

    @property
    def hidden(self) -> tuple[int, ...]:
        """Indices of the layers whose output units can be permuted (all but the output layer)."""
        return tuple(range(len(self.layers) - 1))

    def keys(self) -> list[str]:
        keys = []
        for layer in self.layers:
            keys.append(f"{layer.name}.weight")
            if layer.bias:
                keys.append(f"{layer.name}.bias")
        return keys

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """flat (..., p) -> state_dict of views shaped (..., *shape)."""
        if flat.shape[-1] != self.n_params:
            raise ValueError(f"expected {self.n_params} parameters in the last dimension, got {flat.shape[-1]}")
        lead = flat.shape[:-1]
        state = {}
        for i, layer in enumerate(self.layers):
            state[f"{layer.name}.weight"] = flat[..., self.weight_slice(i)].reshape(*lead, *layer.shape)
            if layer.bias:
                state[f"{layer.name}.bias"] = flat[..., self.bias_slice(i)]
        return state

    def flatten(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """state_dict with tensors (..., *shape) -> flat (..., p); keys and shapes must match exactly."""
        expected, given = set(self.keys()), set(state)
        if expected != given:
            missing, extra = sorted(expected - given), sorted(given - expected)
            raise KeyError(f"state_dict does not match the layout: missing {missing}, unexpected {extra}")
        import torch

        parts, lead = [], None
        for i, layer in enumerate(self.layers):
            weight = torch.as_tensor(state[f"{layer.name}.weight"])
            lead = weight.shape[: weight.dim() - len(layer.shape)] if lead is None else lead
            if tuple(weight.shape) != (*lead, *layer.shape):
                raise ValueError(f"{layer.name}.weight has shape {tuple(weight.shape)}, layout wants {layer.shape}")
            parts.append(weight.reshape(*lead, -1))
            if layer.bias:
                bias = torch.as_tensor(state[f"{layer.name}.bias"])
                if tuple(bias.shape) != (*lead, layer.units_out):
                    raise ValueError(f"{layer.name}.bias has shape {tuple(bias.shape)}, layout wants ({layer.units_out},)")
                parts.append(bias)
        return torch.cat(parts, dim=-1)

    def to_dict(self) -> dict:
        return {"layers": [asdict(layer) | {"shape": list(layer.shape)} for layer in self.layers]}

    @classmethod
    def from_dict(cls, d: dict) -> "Layout":
        return cls(Layer(**{**layer, "shape": tuple(layer["shape"])}) for layer in d["layers"])

    @classmethod
    def of_state_dict(cls, state: Mapping[str, torch.Tensor]) -> "Layout":
        """Infer the layout of a state_dict of Linear (2-d weights) and Conv2d (4-d weights) layers.

        Layers are taken in the order their keys first appear (the order torch saves them in);
        a Linear layer after a Conv2d gets input blocks as in `of_module`.
        """
        prefixes = []
        for key in state:
            prefix, _, leaf = key.rpartition(".")
            if leaf not in ("weight", "bias") or not prefix:
                raise ValueError(f"state_dict key {key!r} is not a layer's weight or bias; hrlib lays out Linear and Conv2d layers only")
            if prefix not in prefixes:
                prefixes.append(prefix)
        layers = []
        for prefix in prefixes:
            if f"{prefix}.weight" not in state:
                raise ValueError(f"state_dict has {prefix}.bias but no {prefix}.weight")
            shape = tuple(state[f"{prefix}.weight"].shape)
            bias = state.get(f"{prefix}.bias")
            if bias is not None and tuple(bias.shape) != shape[:1]:
                raise ValueError(f"{prefix}.bias has shape {tuple(bias.shape)}, its weight {shape} wants ({shape[0]},)")
            if len(shape) == 4:
                layers.append(Layer(prefix, "conv", shape, bias is not None))
            elif len(shape) == 2:
                in_block = 1
                if layers and layers[-1].kind == "conv" and shape[1] % layers[-1].units_out == 0:
                    in_block = shape[1] // layers[-1].units_out
                layers.append(Layer(prefix, "linear", shape, bias is not None, in_block))
            else:
                raise ValueError(f"{prefix}.weight has shape {shape}: neither a Linear (2-d) nor a Conv2d (4-d) weight")
        return cls(layers)

    @classmethod
    def of_module(cls, module: nn.Module) -> "Layout":
        """Read the layout off a module's Linear and Conv2d layers, in registration order.

        A Linear layer that follows a Conv2d with more inputs than channels is taken to read a
        flattened (C, H, W) map, so each channel owns ``in_features // C`` contiguous columns.
        """
        from torch import nn

        layers = []
        for name, mod in module.named_modules():
            if isinstance(mod, nn.Conv2d):
                layers.append(Layer(name, "conv", tuple(mod.weight.shape), mod.bias is not None))
            elif isinstance(mod, nn.Linear):
                in_block = 1
                if layers and layers[-1].kind == "conv":
                    channels = layers[-1].units_out
                    if mod.in_features % channels:
                        raise ValueError(f"linear layer {name!r} ({mod.in_features} inputs) cannot follow {channels} channels")
                    in_block = mod.in_features // channels
                layers.append(Layer(name, "linear", tuple(mod.weight.shape), mod.bias is not None, in_block))
            elif any(True for _ in mod.parameters(recurse=False)):
                raise ValueError(f"module {name!r} ({type(mod).__name__}) has parameters hrlib cannot lay out")
        return cls(layers)
