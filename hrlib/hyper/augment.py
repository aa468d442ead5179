"""Weight augmentations (docs/method.md, "Augmentations"): permutation → noise → erasing, two independent views.

Permuting the output units of hidden layer l by π (new unit i is old unit π[i]) moves row π[i]
of W_l and entry π[i] of b_l to position i, and the next layer's input block π[i] to block i:
the network computes exactly the same function. The output layer never permutes. Each element of
a permutation bank is that whole rearrangement precomputed as an index vector over the flat
vector, so augmenting a batch is one gather.

All randomness comes from the `torch.Generator` passed in; nothing here touches global RNG state.

Shape legend: B batch, p params, k permutations in a bank.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from hrlib.zoos.layout import Layout

EXHAUSTIVE_LIMIT = 10_000  # banks up to this size list every permutation (tetris: 5! = 120)
RANDOM_BANK = 2_048  # otherwise a random bank of this size (the authors' code used 25,000)


def n_equivalent(layout: Layout) -> int:
    """How many distinct permutations of hidden units a layout has: the product of u_l!."""
    return math.prod(math.factorial(layout.layers[i].units_out) for i in layout.hidden)


def permutation_index(layout: Layout, perms: dict[int, torch.Tensor]) -> torch.Tensor:
    """The flat index vector (p,) that applies unit permutations {hidden layer: π} in one gather."""
    base = torch.arange(layout.n_params)
    index = base.clone()
    for i, layer in enumerate(layout.layers):
        w = base[layout.weight_slice(i)].view(layer.units_out, layer.units_in, layer.block)
        if i in perms:
            w = w[perms[i]]
        if i - 1 in perms:
            w = w[:, perms[i - 1]]
        new = [w.reshape(-1)]
        if layer.bias:
            b = base[layout.bias_slice(i)]
            new.append(b[perms[i]] if i in perms else b)
        start = layout.offsets[i]
        index[start : start + layer.size] = torch.cat(new)
    return index


def permutation_bank(layout: Layout, size: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """A (k, p) bank of permutation index vectors.

    With `size` None: every permutation when there are at most EXHAUSTIVE_LIMIT (identity first),
    else RANDOM_BANK random ones; a given `size` draws that many at random. Stored as int32.
    """
    hidden = layout.hidden
    total = n_equivalent(layout)
    if size is None and total <= EXHAUSTIVE_LIMIT:
        ranges = [itertools.permutations(range(layout.layers[i].units_out)) for i in hidden]
        rows = [
            permutation_index(layout, {i: torch.tensor(p) for i, p in zip(hidden, combo)})
            for combo in itertools.product(*ranges)
        ]
        return torch.stack(rows).to(torch.int32)
    size = RANDOM_BANK if size is None else size
    rows = [
        permutation_index(layout, {i: torch.randperm(layout.layers[i].units_out, generator=generator) for i in hidden})
        for _ in range(size)
    ]
    return torch.stack(rows).to(torch.int32)


def permute(x: torch.Tensor, bank: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply one random permutation from the bank to each row of x (B, p); returns a new tensor."""
    choice = torch.randint(len(bank), (x.shape[0],), generator=generator, device=generator.device)
    index = bank.to(x.device)[choice.to(x.device)].long()
    return x.gather(1, index)


@dataclass(frozen=True)
class SignFlips:
    """Where each hidden unit's sign lands in the flat vector: position j is multiplied by
    s[out_unit[j]] · s[in_unit[j]], with s the units' signs and s[units] = 1 for everything else."""

    out_unit: torch.Tensor
    in_unit: torch.Tensor
    units: int


def sign_flips(layout: Layout) -> SignFlips:
    """Flipping the sign of a hidden unit's incoming weights, its bias and its outgoing weights
    leaves the network's function unchanged when its activation is odd (tanh) and no max-pooling
    follows it: a second symmetry beside permutations, 2^units equivalent networks."""
    starts, units = {}, 0
    for i in layout.hidden:
        starts[i], units = units, units + layout.layers[i].units_out
    out_unit = torch.full((layout.n_params,), units)
    in_unit = torch.full((layout.n_params,), units)
    for i, layer in enumerate(layout.layers):
        w = torch.arange(layout.weight_slice(i).start, layout.weight_slice(i).stop).view(
            layer.units_out, layer.units_in, layer.block)
        if i in starts:
            out_unit[w] = (starts[i] + torch.arange(layer.units_out)).view(-1, 1, 1).expand_as(w)
            if layer.bias:
                out_unit[layout.bias_slice(i)] = starts[i] + torch.arange(layer.units_out)
        if i - 1 in starts:
            in_unit[w] = (starts[i - 1] + torch.arange(layer.units_in)).view(1, -1, 1).expand_as(w)
    return SignFlips(out_unit, in_unit, units)


def flip_signs(x: torch.Tensor, flips: SignFlips, generator: torch.Generator) -> torch.Tensor:
    """Flip the sign of each hidden unit of each row of x (B, p) with probability 1/2; a new tensor."""
    signs = torch.randint(0, 2, (x.shape[0], flips.units + 1), generator=generator, device=generator.device)
    signs = (1 - 2 * signs).to(x.device, x.dtype)
    signs[:, -1] = 1
    return x * signs[:, flips.out_unit.to(x.device)] * signs[:, flips.in_unit.to(x.device)]


def add_noise(x: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """x plus Gaussian noise N(0, std²); a new tensor."""
    noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return x + std * noise.to(x.device)


def erase(x: torch.Tensor, p: float, scale: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    """With probability p per row, zero one contiguous block of length U(scale)·n; a new tensor."""
    rows, n = x.shape
    dev = generator.device
    hit = torch.rand(rows, generator=generator, device=dev) < p
    length = (torch.empty(rows, device=dev).uniform_(*scale, generator=generator) * n).round().long().clamp(1, n)
    start = (torch.rand(rows, generator=generator, device=dev) * (n - length + 1)).long()
    pos = torch.arange(n, device=dev)
    mask = hit[:, None] & (pos >= start[:, None]) & (pos < (start + length)[:, None])
    return x.masked_fill(mask.to(x.device), 0.0)


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations make a training view (defaults: the paper's, noise off; docs/method.md)."""

    permute: bool = True
    erase_p: float = 0.5
    erase_scale: tuple[float, float] = (0.03, 0.3)
    noise_std: float = 0.0
    sign_flip: bool = False  # hrlib's addition, "S": valid for odd activations without max-pooling

    def __post_init__(self):
        object.__setattr__(self, "erase_scale", tuple(self.erase_scale))
        lo, hi = self.erase_scale
        if not (0 <= self.erase_p <= 1 and 0 < lo <= hi <= 1 and self.noise_std >= 0):
            raise ValueError(f"invalid augmentation settings: {self}")

    @classmethod
    def named(cls, name: str, erase_p: float = 0.5, noise_std: float = 0.05) -> "AugmentConfig":
        """From the paper's short name ('-', 'P', 'E', 'N', 'P,E', 'P,E,N', ...)."""
        parts = set() if name.strip() == "-" else {p.strip().upper() for p in name.split(",")}
        if not parts <= {"P", "E", "N", "S"}:
            raise ValueError(f"augmentations are named by P, E, N and S (e.g. 'P,E'), got {name!r}")
        return cls(permute="P" in parts, erase_p=erase_p if "E" in parts else 0.0,
                   noise_std=noise_std if "N" in parts else 0.0, sign_flip="S" in parts)

    @property
    def name(self) -> str:
        """The paper's short name: '-', 'P', 'E', 'N' or combinations such as 'P,E'."""
        parts = [c for c, on in (("P", self.permute), ("E", self.erase_p > 0), ("N", self.noise_std > 0),
                                 ("S", self.sign_flip)) if on]
        return ",".join(parts) or "-"


def augment(x: torch.Tensor, bank: torch.Tensor | None, config: AugmentConfig, generator: torch.Generator,
            train: bool = True, flips: SignFlips | None = None) -> torch.Tensor:
    """One augmented view of x (B, p): permutation (and sign flips) → noise → erasing. Noise and
    erasing only when training."""
    view = permute(x, bank, generator) if config.permute and bank is not None else x.clone()
    if config.sign_flip:
        if flips is None:
            raise ValueError("sign-flip augmentation needs the layout's SignFlips")
        view = flip_signs(view, flips, generator)
    if train and config.noise_std > 0:
        view = add_noise(view, config.noise_std, generator)
    if train and config.erase_p > 0:
        view = erase(view, config.erase_p, config.erase_scale, generator)
    return view


def two_views(x, bank, config, generator, train=True, flips=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independently augmented views of x; they never share storage with x or each other."""
    return augment(x, bank, config, generator, train, flips), augment(x, bank, config, generator, train, flips)
