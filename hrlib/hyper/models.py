"""Encoders and decoders over weight tokens, and the projection head (docs/method.md, "Models").

The model returns representations and reconstructions; `losses.py` turns them into a scalar.
One frozen `ModelConfig` describes a model completely and is stored in its checkpoint.

Shape legend: B batch, p params, S tokens, d width, z latent.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hrlib.hyper import tokens as tok
from hrlib.zoos.layout import Layout

ENCODERS = ("attention", "ffn")
# The paper's names for the ablated encoders (Table 2), as ModelConfig settings.
NAMED = {
    "FF": dict(encoder="ffn", compression_token=False),
    "Att_W": dict(encoder="attention", tokens="weight", compression_token=False),
    "Att_W+t": dict(encoder="attention", tokens="weight", compression_token=True),
    "Att_N": dict(encoder="attention", tokens="neuron", compression_token=False),
    "Att_N+t": dict(encoder="attention", tokens="neuron", compression_token=True),
}


# The sizes a ModelConfig checks, with the words (and the `hrlib train` option) that name them. Widths
# and depths are capped far above any useful model so that a typo fails here, not in an allocation.
SIZES = {"d_model": "d_model", "heads": "heads", "blocks": "blocks", "ff": "ff", "latent": "latent (--latent)",
         "ffn_layers": "ffn_layers", "projection_layers": "projection_layers",
         "projection_hidden": "projection_hidden", "projection_out": "projection_out"}
DEPTHS = ("blocks", "ffn_layers", "projection_layers")
MAX_WIDTH, MAX_DEPTH = 65_536, 1_000


def whole(name: str, value, low: int, high: int) -> int:
    """`value` as an int, once it is a whole number from `low` to `high`; else a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low:,} to {high:,}, got {value!r}")
    return int(value)


def named_settings(name: str) -> dict:
    """ModelConfig settings for a paper name: FF, Att_W, Att_W+t, Att_N, Att_N+t."""
    try:
        return NAMED[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; known: {sorted(NAMED)}") from None


def upgrade_settings(settings: dict) -> dict:
    """ModelConfig settings as saved by earlier hrlib versions, which called the encoder field "architecture"."""
    if "architecture" in settings:
        settings = {("encoder" if k == "architecture" else k): v for k, v in settings.items()}
    return settings


@dataclass(frozen=True)
class ModelConfig:
    """A hyper-representation model: encoder/decoder kind, token mode and sizes."""

    layout: dict  # Layout.to_dict() of the zoo it reads
    encoder: str = "attention"  # or "ffn", the feed-forward baseline
    tokens: str = "neuron"  # or "weight"
    compression_token: bool = True
    d_model: int = 128
    heads: int = 1
    blocks: int = 2
    ff: int = 512
    dropout: float = 0.1
    latent: int = 50
    ffn_layers: int = 10
    projection_layers: int = 3
    projection_hidden: int = 50
    projection_out: int = 20
    standardize: bool = False  # per-layer standardization of the weights, fitted on the training split

    def __post_init__(self):
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.tokens not in tok.MODES:
            raise ValueError(f"tokens must be one of {tok.MODES}, got {self.tokens!r}")
        for flag in ("compression_token", "standardize"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        for name in SIZES:
            low, high = (0 if name == "blocks" else 1), (MAX_DEPTH if name in DEPTHS else MAX_WIDTH)
            object.__setattr__(self, name, whole(SIZES[name], getattr(self, name), low, high))
        if not (isinstance(self.dropout, (int, float)) and not isinstance(self.dropout, bool) and 0 <= self.dropout < 1):
            raise ValueError(f"dropout must be from 0 up to (not including) 1, got {self.dropout!r}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by {self.heads} heads")

    @property
    def name(self) -> str:
        """The paper's short name: FF, Att_W, Att_W+t, Att_N or Att_N+t."""
        if self.encoder == "ffn":
            return "FF"
        return f"Att_{'N' if self.tokens == 'neuron' else 'W'}{'+t' if self.compression_token else ''}"

    def get_layout(self) -> Layout:
        return Layout.from_dict(self.layout)

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    """Pre-norm transformer block: x + MHA(LN(x)), then x + FF(LN(x))."""

    def __init__(self, d, heads, ff, dropout):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        B, S, d = x.shape
        # (B, nh, S, hs) views of the one product, strided rather than copied: attention reads them as they are
        q, k, v = self.qkv(self.ln1(x)).view(B, S, 3, self.heads, d // self.heads).transpose(1, 3).unbind(2)
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, S, d)))
        return x + self.ff(self.ln2(x))


class TokenEmbedder(nn.Module):
    """Per-layer Linear(token length → d) for neuron tokens, one shared Linear(1 → d) for weight tokens."""

    def __init__(self, layout, mode, d):
        super().__init__()
        self.layout, self.mode = layout, mode
        self.embed = nn.ModuleList(nn.Linear(n, d) for n in tok.token_sizes(layout, mode))

    def forward(self, flat):  # (B, p) -> (B, S, d)
        return torch.cat([e(t) for e, t in zip(self.embed, tok.tokenize(flat, self.layout, self.mode))], dim=1)


class TokenDeembedder(nn.Module):
    """Per-layer Linear(d → token length), then tokens back to the flat vector."""

    def __init__(self, layout, mode, d):
        super().__init__()
        self.layout, self.mode = layout, mode
        self.counts = tok.token_counts(layout, mode)
        self.deembed = nn.ModuleList(nn.Linear(d, n) for n in tok.token_sizes(layout, mode))

    def forward(self, x):  # (B, S, d) -> (B, p)
        parts = torch.split(x, self.counts, dim=1)
        return tok.detokenize([f(part) for f, part in zip(self.deembed, parts)], self.layout, self.mode)


class AttentionEncoder(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        layout = c.get_layout()
        self.embed = TokenEmbedder(layout, c.tokens, c.d_model)
        seq = sum(tok.token_counts(layout, c.tokens))
        self.comp = nn.Parameter(torch.randn(1, 1, c.d_model) * 0.02) if c.compression_token else None
        seq += int(c.compression_token)
        self.pos = nn.Parameter(torch.randn(1, seq, c.d_model) * 0.02)
        self.blocks = nn.Sequential(*(Block(c.d_model, c.heads, c.ff, c.dropout) for _ in range(c.blocks)))
        self.head = nn.Linear(c.d_model if c.compression_token else seq * c.d_model, c.latent)

    def forward(self, flat):  # (B, p) -> (B, z)
        x = self.embed(flat)
        if self.comp is not None:
            x = torch.cat([self.comp.expand(len(x), -1, -1), x], dim=1)
        x = self.blocks(x + self.pos)
        return torch.tanh(self.head(x[:, 0] if self.comp is not None else x.flatten(1)))


class AttentionDecoder(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        layout = c.get_layout()
        self.seq, self.d = sum(tok.token_counts(layout, c.tokens)), c.d_model
        self.expand = nn.Linear(c.latent, self.seq * c.d_model)
        self.pos = nn.Parameter(torch.randn(1, self.seq, c.d_model) * 0.02)
        self.blocks = nn.Sequential(*(Block(c.d_model, c.heads, c.ff, c.dropout) for _ in range(c.blocks)))
        self.deembed = TokenDeembedder(layout, c.tokens, c.d_model)

    def forward(self, z):  # (B, z) -> (B, p)
        x = self.expand(z).view(len(z), self.seq, self.d)
        return self.deembed(self.blocks(x + self.pos))


def _ffn(widths, dropout, last_tanh):
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers += [nn.LeakyReLU(), nn.Dropout(dropout)]
    if last_tanh:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def ffn_widths(p: int, latent: int, layers: int) -> list[int]:
    """Widths shrinking linearly from the input size to the latent size over `layers` Linear layers."""
    return [int(round(w)) for w in np.linspace(p, latent, layers + 1)]


def projection_head(latent: int, layers: int, hidden: int, out: int) -> nn.Sequential:
    """[Linear → BatchNorm → ReLU] × (layers − 1) → Linear → BatchNorm."""
    mods, width = [], latent
    for _ in range(layers - 1):
        mods += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
        width = hidden
    mods += [nn.Linear(width, out), nn.BatchNorm1d(out)]
    return nn.Sequential(*mods)


def layer_standardization(layout: Layout, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift and scale (p,) that standardize each layer's weights, and each layer's biases, by their mean and
    standard deviation over the weights (n, p); a part without spread keeps scale 1. One number per part, so
    permuting a layer's units leaves them unchanged."""
    shift, scale = torch.zeros(layout.n_params, device=flat.device), torch.ones(layout.n_params, device=flat.device)
    parts = [layout.weight_slice(i) for i in range(len(layout.layers))]
    parts += [s for s in (layout.bias_slice(i) for i in range(len(layout.layers))) if s is not None]
    for part in parts:
        values = flat[:, part].double()
        std = float(values.std()) if values.numel() > 1 else 0.0
        shift[part] = float(values.mean())
        scale[part] = std if std > 0 else 1.0
    return shift, scale


class HyperRepresentation(nn.Module):
    """Encoder, decoder and projection head; `forward` returns (z, reconstruction, projection).

    With `standardize`, the encoder and decoder work on standardized weights: each layer's weights,
    and each layer's biases, shifted by their mean and divided by their standard deviation over the
    training split (`fit_standardization`, kept as buffers in the checkpoint). `forward` and the
    training loss live in that space; `encode` and `decode` take and give weights as they are.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        if config.encoder == "attention":
            self.encoder, self.decoder = AttentionEncoder(config), AttentionDecoder(config)
        else:
            widths = ffn_widths(config.get_layout().n_params, config.latent, config.ffn_layers)
            self.encoder = _ffn(widths, config.dropout, last_tanh=True)
            self.decoder = _ffn(widths[::-1], config.dropout, last_tanh=False)
        self.projection = projection_head(
            config.latent, config.projection_layers, config.projection_hidden, config.projection_out
        )
        if config.standardize:
            n = config.get_layout().n_params
            self.register_buffer("shift", torch.zeros(n))
            self.register_buffer("scale", torch.ones(n))

    def fit_standardization(self, flat: torch.Tensor):
        """Set the per-layer shift and scale from training weights (n, p)."""
        shift, scale = layer_standardization(self.config.get_layout(), flat)
        self.shift.copy_(shift)
        self.scale.copy_(scale)

    def standardize(self, flat: torch.Tensor) -> torch.Tensor:
        """Weights as they are -> the space the encoder reads (unchanged without `standardize`)."""
        return (flat - self.shift) / self.scale if self.config.standardize else flat

    def unstandardize(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's space -> weights as they are."""
        return x * self.scale + self.shift if self.config.standardize else x

    def encode(self, flat: torch.Tensor) -> torch.Tensor:
        """z of weights as they are."""
        return self.encoder(self.standardize(flat))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Weights as they are, decoded from z."""
        return self.unstandardize(self.decoder(z))

    def forward(self, x: torch.Tensor):
        """(z, reconstruction, projection) of `x`, standardized weights where `standardize` is set."""
        z = self.encoder(x)
        return z, self.decoder(z), self.projection(z)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def checkpoint(self) -> dict:
        """Everything needed to rebuild this model, loadable with torch.load(weights_only=True)."""
        return {"config": self.config.to_dict(), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, checkpoint: dict) -> "HyperRepresentation":
        with torch.device("meta"):  # no initialization (and no draw from the global RNG): the state replaces it
            model = cls(ModelConfig(**upgrade_settings(checkpoint["config"])))
        model.load_state_dict(checkpoint["state_dict"], assign=True)
        return model
