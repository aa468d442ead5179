"""Self-supervised losses (docs/method.md, "Losses"): L = γ·L_contrast + (1 − γ)·L_MSE.

γ = 0 is ED (reconstruction only), γ = 1 is E_c (contrast only), 0 < γ < 1 with NT-Xent is E_cD,
and with the positive-only contrast of the paper's Eq. 3 it is E_c+D.

Shape legend: B batch, k projection width, p params.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

CONTRASTS = ("nt_xent", "positive")
REDUCTIONS = ("mean", "sum")


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent over the 2B views: each view's positive is its partner; mean over 2B."""
    z = F.normalize(torch.cat([a, b]), dim=1)  # (2B, k)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))
    n = len(a)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, partner)


def positive_contrast(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The paper's Eq. 3 without its constant log(T): mean over pairs of −cos(a_i, b_i)."""
    return -F.cosine_similarity(a, b, dim=1).mean()


def reconstruction(recon: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """L_MSE between decoded and input weights, (B, p) each.

    "mean": the mean squared error over every weight of the batch, as the authors' code computes it
    (`MSELoss(reduction="mean")`); the paper's γ values balance this per-weight error against the
    contrast. "sum": the squared error summed over a sample's p weights and averaged over samples,
    1/B Σ_i ||w_i − ŵ_i||² as the paper's text writes it: p times the "mean" value, so the same γ
    weighs reconstruction p times more against the contrast (docs/method.md, "Losses").
    """
    squared = (recon - target) ** 2
    return squared.mean() if reduction == "mean" else squared.sum(1).mean()


def r2(recon: torch.Tensor, target: torch.Tensor) -> float:
    """1 − MSE(recon) / MSE(predicting each dimension's mean), over a whole set of samples."""
    residual = ((target - recon) ** 2).sum()
    total = ((target - target.mean(0)) ** 2).sum()
    return float(1 - residual / total)


@dataclass(frozen=True)
class LossConfig:
    """γ, which contrast and how the reconstruction error is reduced over weights (`reconstruction`);
    `name` gives the paper's E_c, ED, E_cD or E_c+D."""

    gamma: float = 0.5
    contrast: str = "nt_xent"
    temperature: float = 0.1
    reduction: str = "mean"

    def __post_init__(self):
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.contrast not in CONTRASTS:
            raise ValueError(f"contrast must be one of {CONTRASTS}, got {self.contrast!r}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {self.reduction!r}")

    @property
    def name(self) -> str:
        if self.gamma == 0:
            return "ED"
        if self.gamma == 1:
            return "E_c" if self.contrast == "nt_xent" else "E_c+"
        return "E_cD" if self.contrast == "nt_xent" else "E_c+D"

    @property
    def uses_contrast(self) -> bool:
        return self.gamma > 0

    @property
    def uses_reconstruction(self) -> bool:
        return self.gamma < 1

    @classmethod
    def named(cls, name: str, gamma: float = 0.5, reduction: str = "mean") -> "LossConfig":
        """'ED', 'E_c', 'E_cD' or 'E_c+D' (case and underscores ignored) with the given mixing γ."""
        key = name.lower().replace("_", "")
        table = {"ed": (0.0, "nt_xent"), "ec": (1.0, "nt_xent"), "ecd": (gamma, "nt_xent"), "ec+d": (gamma, "positive")}
        if key not in table:
            raise ValueError(f"unknown loss {name!r}; known: ED, E_c, E_cD, E_c+D")
        g, contrast = table[key]
        return cls(gamma=g, contrast=contrast, reduction=reduction)


def hyper_loss(views, outputs, config: LossConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and its named parts (detached) for two views and the outputs (z, recon, proj) of each."""
    (v1, v2), ((_, r1, p1), (_, r2_, p2)) = views, outputs
    total = torch.zeros((), device=v1.device)
    parts = {}
    if config.uses_reconstruction:
        mse = (reconstruction(r1, v1, config.reduction) + reconstruction(r2_, v2, config.reduction)) / 2
        total = total + (1 - config.gamma) * mse
        parts["mse"] = mse.detach()
    if config.uses_contrast:
        contrast = nt_xent(p1, p2, config.temperature) if config.contrast == "nt_xent" else positive_contrast(p1, p2)
        total = total + config.gamma * contrast
        parts["contrast"] = contrast.detach()
    parts["loss"] = total.detach()
    return total, parts
