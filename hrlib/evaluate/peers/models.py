"""NFN_NP and NFN_HNP: invariant neural functionals that predict a network's test accuracy from its weights.

Zhou et al.'s neural functional networks (NeurIPS 2023) read a network's weights with layers that are
equivariant to permutations of its hidden units, pool them into an invariant vector and map that to a
prediction. The layers are the ``nfn`` package's; this module converts hrlib's flat checkpoints into
what they read, through the zoo's layout, and builds the authors' accuracy predictor around them.

Shape legend: B checkpoints, p params, C channels, o/i output/input units, kh/kw kernel height/width.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from hrlib.errors import MissingExtra, require
from hrlib.zoos.layout import Layout

MODES = ("NP", "HNP")
PEERS = {"NFN_NP": "NP", "NFN_HNP": "HNP"}  # the rows of the ranking benchmark and their layers
PURPOSE = "an NFN predictor (NFN_NP, NFN_HNP)"


def nfn():
    """The nfn package, or a `MissingExtra` naming ``pip install 'hrlib[peers]'``."""
    require("einops", "peers", PURPOSE)  # nfn imports it; naming it here gives the clearer message
    return require("nfn", "peers", PURPOSE)


def missing() -> str | None:
    """Why the NFN predictors cannot run here (the extra is not installed), or None."""
    try:
        nfn()
    except MissingExtra as err:
        return str(err)
    return None


def unsupported(layout: Layout) -> str | None:
    """Why NFN's layers cannot read networks of this layout, or None when they can.

    NFN's layers assume that permuting a layer's output units permutes the next layer's input units one
    for one: true of MLPs and of convolutions followed by global pooling, not of a linear layer that
    reads a flattened conv map, where one channel feeds a block of H·W columns."""
    if len(layout.layers) < 2:
        return "NFN's layers need a network with at least one hidden layer; this layout has one layer"
    for layer in layout.layers:
        if layer.kind == "linear" and layer.in_block > 1:
            return (f"layer {layer.name!r} reads a flattened spatial map ({layer.in_block} columns per channel of "
                    "the conv before it, as cnn_s does): permuting that conv's channels moves blocks of columns, "
                    "which breaks the channel-permutation symmetry NFN's layers assume; NFN reads MLPs and "
                    "convolutions followed by global pooling (cnn_u, the Small CNN Zoo), not conv → flatten")
    return None


def check_supported(layout: Layout):
    reason = unsupported(layout)
    if reason is not None:
        raise ValueError(f"{layout}: {reason}")


def weight_space_features(layout: Layout, flat: torch.Tensor):
    """Flat checkpoints (B, p) as NFN's WeightSpaceFeatures: per layer weights (B, 1, o, i[, kh, kw]) and
    biases (B, 1, o), read through the layout; a layer without bias gets zeros, which every permutation keeps."""
    common = nfn().common
    check_supported(layout)
    state = layout.unflatten(flat)
    weights, biases = [], []
    for layer in layout.layers:
        weights.append(state[f"{layer.name}.weight"].unsqueeze(1))  # one channel: the weight itself
        bias = state.get(f"{layer.name}.bias")
        biases.append((flat.new_zeros(flat.shape[0], layer.units_out) if bias is None else bias).unsqueeze(1))
    return common.WeightSpaceFeatures(weights, biases)


def network_spec(layout: Layout):
    """NFN's NetworkSpec of a layout, as NFN derives it from features (symmetric sizes left open)."""
    return nfn().common.network_spec_from_wsfeat(weight_space_features(layout, torch.zeros(1, layout.n_params)))


@dataclass(frozen=True)
class NFNConfig:
    """One NFN predictor and its training; saved with its checkpoints.

    The defaults are the NFN authors' accuracy predictor (their predict_gen configs): channels 16, 16, 5,
    an MLP head of width 1000, a sigmoid output and binary cross-entropy, Adam at 1e-3, 50 epochs; the batch
    is 32 (theirs 8), which trains a CPU epoch faster. NP layers carry the authors' learned input/output
    embeddings (their NP-PosEmb). `standardize` shifts and scales each layer's weights and biases by one
    number each (fitted on the training models): the authors normalized NP's inputs per weight position,
    which breaks the hidden-unit symmetry by a little, and HNP's not at all.
    """

    mode: str = "HNP"
    channels: tuple[int, ...] = (16, 16, 5)
    head_width: int = 1000
    standardize: bool = True
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        sizes = (*self.channels, self.head_width, self.epochs, self.batch_size)
        if not self.channels or min(sizes) < 1:
            raise ValueError(f"channels, head_width, epochs and batch_size must be positive whole numbers: {self}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr}")

    def to_dict(self) -> dict:
        return asdict(self) | {"channels": list(self.channels)}


class InvariantNFN(nn.Module):
    """NP or HNP layers with ReLU, HNP pooling (invariant to hidden-unit permutations), an MLP head.

    `forward` takes flat checkpoints (B, p) and returns logits (B,); sigmoid(logit) is the predicted
    test accuracy. `invariant` is the pooled vector the head reads."""

    def __init__(self, layout: Layout, config: NFNConfig):
        super().__init__()
        layers = nfn().layers
        spec = network_spec(layout)
        self.layout, self.config = layout, config
        blocks, width = [], 1
        for channels in config.channels:
            if config.mode == "HNP":
                blocks.append(layers.HNPLinear(spec, width, channels))
            else:
                blocks.append(layers.NPLinear(spec, width, channels, io_embed=True))
            blocks += [layers.TupleOp(nn.ReLU())]
            width = channels
        self.equivariant = nn.Sequential(*blocks)
        self.pool = nn.Sequential(layers.HNPPool(spec), nn.Flatten(start_dim=-2))  # (B, C, k) -> (B, C·k)
        pooled, hidden = width * layers.HNPPool.get_num_outs(spec), config.head_width
        self.head = nn.Sequential(nn.Linear(pooled, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 1))
        self.register_buffer("shift", torch.zeros(layout.n_params))
        self.register_buffer("scale", torch.ones(layout.n_params))

    def fit_standardization(self, flat: torch.Tensor):
        """Set each layer's shift and scale from the training checkpoints (n, p), when the config asks for it."""
        if self.config.standardize:
            from hrlib.hyper.models import layer_standardization

            shift, scale = layer_standardization(self.layout, flat)
            self.shift.copy_(shift)
            self.scale.copy_(scale)

    def invariant(self, flat: torch.Tensor) -> torch.Tensor:
        """The pooled features (B, C·k) of flat checkpoints (B, p): what permuting hidden units leaves unchanged."""
        return self.pool(self.equivariant(weight_space_features(self.layout, (flat - self.shift) / self.scale)))

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        return self.head(self.invariant(flat)).squeeze(-1)  # (B,)

    def checkpoint(self) -> dict:
        """Everything needed to rebuild the model, loadable with torch.load(weights_only=True)."""
        return {"config": self.config.to_dict(), "layout": self.layout.to_dict(), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, checkpoint: dict) -> "InvariantNFN":
        with torch.device("meta"):  # no initialization (and no draw from the global RNG): the state replaces it
            model = cls(Layout.from_dict(checkpoint["layout"]), NFNConfig(**checkpoint["config"]))
        model.load_state_dict(checkpoint["state_dict"], assign=True)
        return model
