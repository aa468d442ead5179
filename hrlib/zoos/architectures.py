"""The zoo architectures, each one list of ops from which three things derive.

- `build_module`: a plain ``torch.nn.Sequential``, for reference training, importers and users;
- `layout_of`: its parameter `Layout` (read off that module, so names and shapes agree);
- `population_forward`: the same network evaluated for m models at once: batched matrix products
  for dense layers, one grouped convolution (channels-last on the CPU) for each conv layer. Measured
  against ``torch.func.vmap`` and a loop over modules in ``benchmarks/cnn_speed.py --variants``.

Shape legend: m models, b batch, c channels, h/w height/width, f features, p params.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from hrlib.zoos.layout import Layout

ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "linear": nn.Identity,
}

# ops: ("flatten",), ("linear", in, out, bias), ("conv", in, out, kernel, stride, bias),
#      ("act",), ("dropout",), ("maxpool", k), ("gap",)
ARCHITECTURES = {
    # The paper's tetris MLP (docs/method.md, "Zoos"): 16→5→4, no biases, 100 parameters.
    "tetris_mlp": dict(
        input_shape=(1, 4, 4), classes=4,
        ops=[("flatten",), ("linear", 16, 5, False), ("act",), ("linear", 5, 4, False)],
    ),
    # scikit-learn's 8×8 digits: 64→16→10 with biases, 1210 parameters.
    "digits_mlp": dict(
        input_shape=(1, 8, 8), classes=10,
        ops=[("flatten",), ("linear", 64, 16, True), ("act",), ("dropout",), ("linear", 16, 10, True)],
    ),
    # CNN-s, 2464 parameters: 208 + 1206 + 100 + 740 + 210. As in the authors' code, no dropout after
    # the third convolution, so with dropout on the layer indices (0, 4, 8, 11, 14) are theirs too.
    "cnn_s": dict(
        input_shape=(1, 28, 28), classes=10,
        ops=[
            ("conv", 1, 8, 5, 1, True), ("maxpool", 2), ("act",), ("dropout",),
            ("conv", 8, 6, 5, 1, True), ("maxpool", 2), ("act",), ("dropout",),
            ("conv", 6, 4, 2, 1, True), ("act",),
            ("flatten",), ("linear", 36, 20, True), ("act",), ("dropout",), ("linear", 20, 10, True),
        ],
    ),
    # CNN-u (Unterthiner et al. 2020), 4970 parameters: 160 + 2320 + 2320 + 170.
    "cnn_u": dict(
        input_shape=(1, 28, 28), classes=10,
        ops=[
            ("conv", 1, 16, 3, 2, True), ("act",), ("dropout",),
            ("conv", 16, 16, 3, 2, True), ("act",), ("dropout",),
            ("conv", 16, 16, 3, 2, True), ("act",), ("dropout",),
            ("gap",), ("linear", 16, 10, True),
        ],
    ),
}


def _spec(name: str) -> dict:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}") from None


def _activation(name: str) -> type[nn.Module]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}") from None


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(-2, -1))


def build_module(name: str, activation: str = "tanh", dropout: float = 0.0) -> nn.Sequential:
    """A plain torch module of the architecture; its state_dict keys are the layout's keys."""
    act = _activation(activation)
    mods = []
    for op in _spec(name)["ops"]:
        kind = op[0]
        if kind == "flatten":
            mods.append(nn.Flatten())
        elif kind == "linear":
            mods.append(nn.Linear(op[1], op[2], bias=op[3]))
        elif kind == "conv":
            mods.append(nn.Conv2d(op[1], op[2], op[3], stride=op[4], bias=op[5]))
        elif kind == "act":
            mods.append(act())
        elif kind == "dropout":
            mods.append(nn.Dropout(dropout))
        elif kind == "maxpool":
            mods.append(nn.MaxPool2d(op[1]))
        elif kind == "gap":
            mods.append(GlobalAvgPool())
    return nn.Sequential(*mods)


@functools.cache
def layout_of(name: str) -> Layout:
    with torch.device("meta"):  # shapes only: no memory, no initialization, no draw from the global RNG
        return Layout.of_module(build_module(name))


ODD_ACTIVATIONS = ("tanh", "linear")


def sign_symmetric(name: str, activation: str) -> bool:
    """Whether flipping a hidden unit's signs keeps the function: an odd activation and no max-pooling."""
    return activation in ODD_ACTIVATIONS and not any(op[0] == "maxpool" for op in _spec(name)["ops"])


def input_shape(name: str) -> tuple[int, ...]:
    return _spec(name)["input_shape"]


def n_classes(name: str) -> int:
    return _spec(name)["classes"]


def population_forward(
    name: str,
    flat: torch.Tensor,
    x: torch.Tensor,
    activation: str,
    dropout: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Logits of m models at once.

    flat (m, p); x (m, b, *input) with each model's own batch, or (b, *input) shared by all;
    dropout (m,) per-model rates, applied when given (training), with `generator` drawing masks.
    Returns (m, b, classes).
    """
    layout = layout_of(name)
    params = layout.unflatten(flat)
    act = _activation(activation)()
    m = flat.shape[0]
    shared = x.dim() == len(input_shape(name)) + 1
    # Dense activations are (m, b, f); conv activations are kept as (b, m*c, h, w) so that one
    # grouped convolution serves all models.
    layer = 0
    conv_mode = False
    for op in _spec(name)["ops"]:
        kind = op[0]
        if kind == "flatten":
            if conv_mode:
                b = x.shape[0]
                x = x.reshape(b, m, -1).transpose(0, 1)  # (m, b, c*h*w) in each model's (c, h, w) order
                conv_mode = False
            elif shared:
                x = x.flatten(1)
            else:
                x = x.flatten(2)
        elif kind == "gap":
            b = x.shape[0]
            x = x.mean(dim=(-2, -1)).reshape(b, m, -1).transpose(0, 1)
            conv_mode = False
        elif kind == "linear":
            key = layout.layers[layer].name
            x = torch.matmul(x, params[f"{key}.weight"].transpose(-1, -2))
            if f"{key}.bias" in params:
                x = x + params[f"{key}.bias"].unsqueeze(-2)
            shared = False
            layer += 1
        elif kind == "conv":
            key = layout.layers[layer].name
            w = params[f"{key}.weight"]
            b = params.get(f"{key}.bias")
            w, b = w.reshape(-1, *w.shape[2:]), None if b is None else b.reshape(-1)
            if not conv_mode:
                x = _to_grouped(x, m, shared)
            x = F.conv2d(x, w, b, stride=op[4], groups=m)
            conv_mode, shared = True, False
            layer += 1
        elif kind == "act":
            x = act(x)
        elif kind == "maxpool":
            x = F.max_pool2d(x, op[1])
        elif kind == "dropout" and dropout is not None:
            x = _dropout(x, dropout, conv_mode, generator)
    return x


def _to_grouped(x: torch.Tensor, m: int, shared: bool) -> torch.Tensor:
    """(m, b, c, h, w), or (b, c, h, w) shared by all models, -> (b, m*c, h, w): the layout of one
    grouped convolution over m models. (For a shared input, one dense convolution with m·c_out
    filters would avoid the copies, but measured slower on the CPU than this grouped one.)"""
    if shared:
        return _channels_last(x.repeat(1, m, 1, 1))
    b = x.shape[1]
    return _channels_last(x.transpose(0, 1).reshape(b, -1, *x.shape[-2:]))


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """On the CPU, oneDNN's grouped convolution (forward and backward) and max pooling run about
    twice as fast on channels-last maps (measured: benchmarks/cnn_speed.py --variants: 47 ms per
    step of 32 CNN-s models against 110 ms contiguous and 115 ms with torch.func.vmap)."""
    return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x


def _dropout(x, rate, conv_mode, generator):
    """Inverted dropout with a rate per model; conv maps are (b, m*c, h, w), dense ones (m, b, f)."""
    if not bool((rate > 0).any()):
        return x
    m = rate.shape[0]
    if conv_mode:
        keep = (1 - rate).repeat_interleave(x.shape[1] // m).view(1, -1, 1, 1)
    else:
        keep = (1 - rate).view(m, 1, 1)
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x * (noise < keep) / keep


@functools.cache
def activation_size(name: str) -> int:
    """Floats in the largest activation map of one model on one input, for sizing evaluation chunks."""
    c, h, w = input_shape(name)
    features, largest = c * h * w, c * h * w
    for op in _spec(name)["ops"]:
        kind = op[0]
        if kind == "conv":
            c, k, stride = op[2], op[3], op[4]
            h, w = (h - k) // stride + 1, (w - k) // stride + 1
            features = c * h * w
        elif kind == "maxpool":
            h, w = h // op[1], w // op[1]
            features = c * h * w
        elif kind == "gap":
            features = c
        elif kind == "linear":
            features = op[2]
        largest = max(largest, features)
    return largest


# ---- initialisation --------------------------------------------------------------------------
# Schürholt et al.'s schemes (docs/method.md, "Zoos"): "uniform" U(0,1), "normal" N(0, std²) with std 1 by
# default, and PyTorch's kaiming/xavier defaults. Unterthiner et al.'s Keras schemes: "truncated_normal"
# (N(0, std²) cut at ±2 std), "he_normal" and "glorot_normal" (Keras' VarianceScaling: a truncated
# normal rescaled by 1/0.8796 so that its std is sqrt(2/fan_in), resp. sqrt(2/(fan_in+fan_out))),
# and "orthogonal". hrlib's "scaled_uniform" is the authors' U(0, 1) shrunk per layer the way PyTorch's
# default shrinks its symmetric uniform: U(0, std / sqrt(fan_in)), non-negative like U(0, 1) but small
# enough that tanh units do not saturate. `std` is Unterthiner's init_std; it scales "normal",
# "truncated_normal" and "scaled_uniform".

INITS = (
    "uniform", "normal", "kaiming_uniform", "kaiming_normal", "xavier_uniform", "xavier_normal",
    "truncated_normal", "he_normal", "glorot_normal", "orthogonal", "scaled_uniform",
)
BIAS_INIT = 0.01  # the authors' code: biases start at 0.01 (Unterthiner's zoos: 0)
_TRUNCATED_STD = 0.87962566103423978  # std of N(0,1) truncated at ±2, as Keras corrects for it


def init_weight_(w: torch.Tensor, scheme: str, generator: torch.Generator, std: float = 1.0) -> torch.Tensor:
    """Initialise one weight tensor in place by `scheme` (see the comment above)."""
    if scheme == "uniform":
        return nn.init.uniform_(w, 0.0, 1.0, generator=generator)
    if scheme == "scaled_uniform":
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(w)
        return nn.init.uniform_(w, 0.0, std / math.sqrt(fan_in), generator=generator)
    if scheme == "normal":
        return nn.init.normal_(w, 0.0, std, generator=generator)
    if scheme == "truncated_normal":
        return nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std, generator=generator)
    if scheme in ("he_normal", "glorot_normal"):
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(w)
        scale = 2.0 / fan_in if scheme == "he_normal" else 2.0 / (fan_in + fan_out)
        s = math.sqrt(scale) / _TRUNCATED_STD
        return nn.init.trunc_normal_(w, 0.0, s, -2 * s, 2 * s, generator=generator)
    if scheme in INITS:
        return getattr(nn.init, scheme + "_")(w, generator=generator)
    raise ValueError(f"unknown init {scheme!r}; known: {INITS}")


def init_module_(
    module: nn.Module, scheme: str, generator: torch.Generator, std: float = 1.0, bias: float = BIAS_INIT
) -> nn.Module:
    """Initialise a module's Linear/Conv2d layers in forward order: weights by `scheme`, biases constant."""
    with torch.no_grad():
        for mod in module.modules():
            if isinstance(mod, (nn.Linear, nn.Conv2d)):
                init_weight_(mod.weight, scheme, generator, std)
                if mod.bias is not None:
                    mod.bias.fill_(bias)
    return module


def init_flat_(
    layout: Layout, flat: torch.Tensor, scheme: str, generator: torch.Generator, std: float = 1.0,
    bias: float = BIAS_INIT,
) -> torch.Tensor:
    """Initialise one model's flat vector (p,) exactly as `init_module_` would initialise its module."""
    with torch.no_grad():
        for i, layer in enumerate(layout.layers):
            init_weight_(flat[layout.weight_slice(i)].view(layer.shape), scheme, generator, std)
            if layer.bias:
                flat[layout.bias_slice(i)] = bias
    return flat


def find_architecture(layout: Layout) -> str | None:
    """The name of the architecture whose parameters are laid out like `layout` (names aside), or None."""
    matches = [name for name in ARCHITECTURES if layout_of(name).same_structure(layout)]
    return matches[0] if len(matches) == 1 else None
