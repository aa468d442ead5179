"""Using a trained hyper-representation: z of a zoo's checkpoints, reconstructions, reconstruction R²."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hrlib.hyper.losses import r2
from hrlib.hyper.models import HyperRepresentation
from hrlib.hyper.runs import Run, load_run
from hrlib.zoos.population import pick_device
from hrlib.zoos.zoo import Zoo


def _as_model(model) -> HyperRepresentation:
    if isinstance(model, (str, Path)):
        model = load_run(model)
    return model.model if isinstance(model, Run) else model


@torch.no_grad()
def _batched(fn, model, samples: np.ndarray, batch_size: int, device) -> np.ndarray:
    device = pick_device(device)
    model.to(device).eval()
    try:
        out = [fn(torch.tensor(samples[i : i + batch_size], device=device)).float().cpu()
               for i in range(0, len(samples), batch_size)]
    finally:
        model.cpu()
    return torch.cat(out).numpy()


def embed(model: HyperRepresentation | Run | str | Path, zoo: Zoo, batch_size: int = 4096, device="auto") -> np.ndarray:
    """z of every clean checkpoint of the zoo, (rows, latent), aligned with `zoo.properties`."""
    model = _as_model(model)
    if model.config.get_layout() != zoo.layout:
        raise ValueError("the hyper-representation was trained on a zoo of another architecture (layouts differ)")
    return embed_weights(model, zoo.samples(), batch_size, device)


def embed_weights(model: HyperRepresentation | Run | str | Path, weights: np.ndarray, batch_size: int = 4096,
                  device="auto") -> np.ndarray:
    """z of flat weight vectors (n, p) of the architecture the hyper-representation was trained on."""
    model = _as_model(model)
    weights = np.asarray(weights, np.float32)
    if weights.ndim != 2 or weights.shape[1] != model.config.get_layout().n_params:
        raise ValueError(f"weights of shape {weights.shape}; the hyper-representation reads "
                         f"(n, {model.config.get_layout().n_params})")
    return _batched(model.encode, model, weights, batch_size, device)


def decode(model: HyperRepresentation | Run | str | Path, z: np.ndarray, batch_size: int = 4096, device="auto") -> np.ndarray:
    """Flat weight vectors (n, p) the decoder makes of latent vectors z (n, latent)."""
    model = _as_model(model)
    return _batched(model.decode, model, np.asarray(z, np.float32), batch_size, device)


def reconstruct(model: HyperRepresentation | Run | str | Path, weights: np.ndarray, batch_size: int = 4096,
                device="auto") -> np.ndarray:
    """Decoder(encoder(w)) for flat weight vectors (n, p)."""
    model = _as_model(model)
    return _batched(lambda w: model.decode(model.encode(w)), model, np.asarray(weights, np.float32), batch_size, device)


def reconstruction_r2(model: HyperRepresentation | Run | str | Path, zoo: Zoo, models=None, device="auto") -> float:
    """Reconstruction R² of every clean checkpoint of `models` (all by default), e.g. a split's test models.

    A run trained with γ = 1 (E_c) never learned to reconstruct: its R² is NaN, not scored."""
    if isinstance(model, (str, Path)):
        model = load_run(model)
    if isinstance(model, Run) and not model.config.loss.uses_reconstruction:
        return float("nan")
    samples = zoo.samples(models)
    return r2(torch.as_tensor(reconstruct(model, samples, device=device)), torch.as_tensor(samples))
