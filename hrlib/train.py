"""Training a hyper-representation on a zoo, and embedding a zoo with a trained one.

`train(zoo, out, config)` owns the optimizer and the loop: Adam, ReduceLROnPlateau on the
training loss, two augmented views per sample, the loss mix of `losses.py`. A run directory holds

- ``config.json``: the `TrainConfig` and the `ModelConfig`;
- ``history.csv``: per epoch, train and validation loss parts, validation reconstruction R²,
  learning rate, samples per second;
- ``best.pt``: the model with the lowest validation loss (loadable with ``weights_only=True``);
- ``state.pt``: everything needed to resume (model, optimizer, scheduler, RNG states, epoch);
- ``result.json``: the test reconstruction R² of the best model, written when training ends.

Rerunning `train` on the same directory resumes where it stopped, with the same result as an
uninterrupted run. The device is decided here, at the edge; mixed precision (bf16) on CUDA only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hrlib.architectures import sign_symmetric
from hrlib.augment import EXHAUSTIVE_LIMIT, AugmentConfig, n_equivalent, permutation_bank, sign_flips, two_views
from hrlib.losses import LossConfig, hyper_loss, r2
from hrlib.models import HyperRepresentation, ModelConfig, named_settings
from hrlib.population import pick_device
from hrlib.zoo import Zoo

log = logging.getLogger(__name__)

TEST_BANK = 100  # permutations for validation views when a layout has too many to list (authors: 100)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run except the zoo and the device."""

    epochs: int = 50
    batch_size: int = 500
    lr: float = 1e-4
    weight_decay: float = 1e-9
    schedule: str = "plateau"  # ReduceLROnPlateau on the training loss, or "cosine" over the epochs
    plateau_factor: float = 0.3
    plateau_patience: int = 10
    seed: int = 0
    split_seed: int = 0
    bank_size: int | None = None  # None: every permutation when few, else a random bank
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: dict = field(default_factory=dict)  # ModelConfig fields other than the layout

    def model_config(self, zoo: Zoo) -> ModelConfig:
        return ModelConfig(layout=zoo.layout.to_dict(), **self.model)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{**d, "loss": LossConfig(**d["loss"]), "augment": AugmentConfig(**d["augment"])})

    def replace(self, **changes) -> "TrainConfig":
        """A copy with changes; `model`, `loss` and `augment` changes merge into the current ones."""
        for key, cls in (("loss", LossConfig), ("augment", AugmentConfig)):
            if isinstance(changes.get(key), dict):
                changes[key] = dataclasses.replace(getattr(self, key), **changes[key])
        if "model" in changes:
            changes["model"] = {**self.model, **changes["model"]}
        return dataclasses.replace(self, **changes)


# Named recipes. "cpu" sizes fit a 2-core laptop (see README for their measured time and R²);
# "paper" sizes are the authors' (REFERENCE.md §4, §6) and are GPU jobs.
RECIPES = {
    # Measured on tetris_seed (1 thread, busy 2-core machine): d 128 reached validation R² 0.805 at
    # epoch 12 and then overfit (a 40-epoch run); d 64 / ff 128 for 30 epochs took longer and reached
    # 0.783; dropout 0.1 or a cosine schedule did not help.
    "tetris_cpu": TrainConfig(
        epochs=12, batch_size=256, lr=1e-3, plateau_patience=4,
        model=dict(d_model=128, heads=1, blocks=2, ff=256, dropout=0.0, latent=50),
    ),
    "tetris_paper": TrainConfig(
        epochs=1000, batch_size=500, lr=1e-4,
        model=dict(d_model=128, heads=1, blocks=2, ff=512, latent=50),
    ),
    "mnist_cpu": TrainConfig(
        epochs=30, batch_size=256, lr=1e-3, loss=LossConfig(gamma=0.1),
        model=dict(d_model=128, heads=2, blocks=2, ff=256, latent=128,
                   projection_layers=4, projection_hidden=400, projection_out=50),
    ),
    "mnist_paper": TrainConfig(
        epochs=500, batch_size=500, lr=1e-4, loss=LossConfig(gamma=0.1),
        model=dict(d_model=800, heads=4, blocks=4, ff=1000, latent=700,
                   projection_layers=4, projection_hidden=400, projection_out=50),
    ),
    "unterthiner_paper": TrainConfig(
        epochs=250, batch_size=500, lr=1e-4, loss=LossConfig(gamma=0.1),
        model=dict(d_model=512, heads=4, blocks=4, ff=1000, latent=1200,
                   projection_layers=4, projection_hidden=400, projection_out=50),
    ),
}


def get_recipe(name: str) -> TrainConfig:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown training recipe {name!r}; known: {sorted(RECIPES)}") from None


def default_recipe(zoo: Zoo) -> str:
    """The CPU-sized recipe that fits a zoo's architecture."""
    return "tetris_cpu" if zoo.layout.n_params <= 1500 else "mnist_cpu"


# ---- the run directory ---------------------------------------------------------------------------


@dataclass
class Run:
    """A trained hyper-representation: its directory, best model, configs, history and result."""

    path: Path
    model: HyperRepresentation
    config: TrainConfig
    history: pd.DataFrame
    result: dict

    @property
    def model_config(self) -> ModelConfig:
        return self.model.config


def load_run(path) -> Run:
    path = Path(path)
    for name in ("config.json", "best.pt", "history.csv"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name}: missing; is {path} a finished or running hrlib training run?")
    config = TrainConfig.from_dict(json.loads((path / "config.json").read_text())["train"])
    model = HyperRepresentation.from_checkpoint(torch.load(path / "best.pt", weights_only=True, map_location="cpu"))
    result = json.loads((path / "result.json").read_text()) if (path / "result.json").is_file() else {}
    return Run(path, model.eval(), config, pd.read_csv(path / "history.csv"), result)


def _save_atomic(obj, path: Path):
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_atomic(text: str, path: Path):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ---- training ------------------------------------------------------------------------------------


def _splits(zoo: Zoo, config: TrainConfig, device) -> dict[str, torch.Tensor]:
    split = zoo.split(seed=config.split_seed)
    empty = [name for name in ("train", "val", "test") if len(split[name]) == 0]
    if empty:
        raise ValueError(f"{zoo!r} is too small to split 70/15/15 by model: no models in {', '.join(empty)}; "
                         "a hyper-representation needs at least a few models in each split")
    return {name: torch.tensor(zoo.samples(split[name]), device=device) for name in ("train", "val", "test")}


def _as_json(obj) -> dict:
    return json.loads(json.dumps(obj))


def _compatible(saved: dict, config: TrainConfig) -> bool:
    """A run may resume with nothing changed, or with more epochs when its schedule does not depend on them."""
    new = _as_json(config.to_dict())
    if config.schedule == "plateau":
        saved, new = {**saved, "epochs": None}, {**new, "epochs": None}
    return saved == new


def train(zoo: Zoo, out, config: TrainConfig = TrainConfig(), device="auto", progress: bool = True) -> Run:
    """Train (or resume training) a hyper-representation of `zoo` into the run directory `out`."""
    from tqdm.auto import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(device)
    model_config = config.model_config(zoo)
    config_file = out / "config.json"
    if config_file.exists():
        saved = json.loads(config_file.read_text())
        if not _compatible(saved["train"], config) or saved["model"] != _as_json(model_config.to_dict()):
            raise ValueError(f"{out} holds a run with a different configuration; choose another --out")
    _write_atomic(json.dumps({"train": config.to_dict(), "model": model_config.to_dict(),
                              "zoo": str(zoo.path) if zoo.path else None, "zoo_preset": zoo.manifest.get("preset")},
                             indent=1), config_file)

    data = _splits(zoo, config, device)
    torch.manual_seed(config.seed)
    model = HyperRepresentation(model_config).to(device)
    bank_gen = torch.Generator().manual_seed(config.seed + 1)
    bank = permutation_bank(zoo.layout, config.bank_size, bank_gen).to(device)
    exhaustive = config.bank_size is None and n_equivalent(zoo.layout) <= EXHAUSTIVE_LIMIT
    val_bank = bank if exhaustive else permutation_bank(zoo.layout, TEST_BANK, bank_gen).to(device)
    flips = _sign_flips(zoo) if config.augment.sign_flip else None
    aug_gen = torch.Generator(device).manual_seed(config.seed + 2)
    shuffle_gen = torch.Generator().manual_seed(config.seed + 3)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = _scheduler(opt, config)
    history, best, start = [], float("inf"), 1

    state_file = out / "state.pt"
    if state_file.exists():
        state = torch.load(state_file, weights_only=False, map_location=device)  # our own file: RNG states
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        aug_gen.set_state(state["aug_gen"])
        shuffle_gen.set_state(state["shuffle_gen"])
        history, best, start = state["history"], state["best"], state["epoch"] + 1
        log.info("resuming %s at epoch %d", out, start)

    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    bar = tqdm(range(start, config.epochs + 1), desc=f"train {model_config.name} {config.loss.name}",
               unit="epoch", disable=not progress, initial=start - 1, total=config.epochs)
    for epoch in bar:
        began = time.perf_counter()
        model.train()
        sums, n = {}, 0
        order = torch.randperm(len(data["train"]), generator=shuffle_gen).to(device)
        for i in range(0, len(order), config.batch_size):
            batch = data["train"][order[i : i + config.batch_size]]
            if len(batch) < 2:  # BatchNorm in the projection head needs two samples
                continue
            views = two_views(batch, bank, config.augment, aug_gen, train=True, flips=flips)
            with amp:
                loss, parts = _step_loss(model, views, config.loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v * len(batch)
            n += len(batch)
        row = {"epoch": epoch, "lr": opt.param_groups[0]["lr"]}
        row |= {f"train_{k}": float(v) / n for k, v in sums.items()}
        row["samples_per_s"] = n / (time.perf_counter() - began)
        row |= {f"val_{k}": v for k, v in evaluate(model, data["val"], val_bank, config, config.batch_size, flips).items()}
        scheduler.step(row["train_loss"]) if config.schedule == "plateau" else scheduler.step()
        history.append(row)
        if row["val_loss"] < best:
            best = row["val_loss"]
            _save_atomic(model.checkpoint(), out / "best.pt")
        _write_atomic(pd.DataFrame(history).to_csv(index=False), out / "history.csv")
        _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": scheduler.state_dict(),
                      "rng": torch.get_rng_state(), "aug_gen": aug_gen.get_state(), "shuffle_gen": shuffle_gen.get_state(),
                      "history": history, "best": best, "epoch": epoch}, state_file)
        bar.set_postfix(loss=f"{row['train_loss']:.4f}", val_r2=f"{row.get('val_r2', float('nan')):.3f}")

    run = load_run(out)
    run.model.to(device)
    result = {
        "test_r2": evaluate(run.model, data["test"], val_bank, config, config.batch_size, flips)["r2"],
        "best_epoch": int(run.history.loc[run.history.val_loss.idxmin(), "epoch"]),
        "epochs": config.epochs,
        "device": str(device),
        "train_seconds": float((len(data["train"]) / run.history.samples_per_s).sum()),
    }
    _write_atomic(json.dumps(result, indent=1), out / "result.json")
    run.result = result
    run.model.cpu()
    return run


def _sign_flips(zoo: Zoo):
    activations = set(zoo.properties["activation"]) if "activation" in zoo.properties else set()
    if zoo.architecture is None or not activations or not all(sign_symmetric(zoo.architecture, a) for a in activations):
        raise ValueError("sign-flip augmentation (S) would change what this zoo's networks compute: it needs an odd "
                         f"activation (tanh) and no max-pooling; this zoo has {sorted(activations)} on {zoo.architecture}")
    return sign_flips(zoo.layout)


def _scheduler(opt, config: TrainConfig):
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=config.plateau_factor,
                                                          patience=config.plateau_patience)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    raise ValueError(f"schedule must be 'plateau' or 'cosine', got {config.schedule!r}")


def _step_loss(model, views, loss_config):
    """One forward of both views stacked, then the loss mix."""
    v1, v2 = views
    z, recon, proj = model(torch.cat([v1, v2]))
    n = len(v1)
    outputs = ((z[:n], recon[:n], proj[:n]), (z[n:], recon[n:], proj[n:]))
    return hyper_loss(views, outputs, loss_config)


@torch.no_grad()
def evaluate(model, samples: torch.Tensor, bank, config: TrainConfig, batch_size: int, flips=None) -> dict[str, float]:
    """Loss parts on permuted views (a fixed generator, so every epoch sees the same views) and
    reconstruction R² of the clean samples. Use the training batch size: NT-Xent depends on it."""
    model.eval()
    gen = torch.Generator(samples.device).manual_seed(12345)
    sums, recons = {}, []
    for i in range(0, len(samples), batch_size):
        batch = samples[i : i + batch_size]
        views = two_views(batch, bank, config.augment, gen, train=False, flips=flips)
        _, parts = _step_loss(model, views, config.loss)
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(batch)
        recons.append(model.decoder(model.encoder(batch)))
    out = {k: v / len(samples) for k, v in sums.items()}
    out["r2"] = r2(torch.cat(recons).float(), samples) if config.loss.uses_reconstruction else float("nan")
    return out


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
    return _batched(model.encode, model, zoo.samples(), batch_size, device)


def reconstruct(model: HyperRepresentation | Run | str | Path, weights: np.ndarray, batch_size: int = 4096,
                device="auto") -> np.ndarray:
    """Decoder(encoder(w)) for flat weight vectors (n, p)."""
    model = _as_model(model)
    return _batched(lambda w: model.decoder(model.encoder(w)), model, np.asarray(weights, np.float32), batch_size, device)


def reconstruction_r2(model: HyperRepresentation | Run | str | Path, zoo: Zoo, models=None, device="auto") -> float:
    """Reconstruction R² of every clean checkpoint of `models` (all by default), e.g. a split's test models.

    A run trained with γ = 1 (E_c) never learned to reconstruct: its R² is NaN, not scored."""
    if isinstance(model, (str, Path)):
        model = load_run(model)
    if isinstance(model, Run) and not model.config.loss.uses_reconstruction:
        return float("nan")
    samples = zoo.samples(models)
    return r2(torch.as_tensor(reconstruct(model, samples, device=device)), torch.as_tensor(samples))


# ---- choosing a configuration (the CLI and the notebooks) ------------------------------------------


def configure(zoo: Zoo, recipe: str = "", loss: str = "", architecture: str = "", epochs: int = 0,
              gamma: float | None = None, augment: str = "", quick: bool = False, device="auto",
              **changes) -> TrainConfig:
    """A TrainConfig from a recipe and the paper's names for the loss, architecture and augmentations.

    No recipe: the CPU recipe for the zoo's size; for CNN zoos on a GPU, the paper's size. `quick`
    (meant for the smoke-size zoos) keeps the recipe but trains at most 12 epochs in batches of 64,
    so that a small zoo still gets a few hundred steps. Other keyword arguments are TrainConfig fields.
    """
    if not recipe:
        recipe = default_recipe(zoo)
        if recipe == "mnist_cpu" and pick_device(device).type == "cuda" and not quick:
            recipe = "mnist_paper"
    config = get_recipe(recipe)
    if loss:
        changes["loss"] = LossConfig.named(loss, config.loss.gamma if gamma is None else gamma)
    elif gamma is not None:
        changes["loss"] = {"gamma": gamma}
    if augment:
        changes["augment"] = AugmentConfig.named(augment)
    changes["model"] = named_settings(architecture or "Att_N+t")  # always spelled out: runs compare equal
    if epochs:
        changes["epochs"] = epochs
    elif quick:
        changes["epochs"] = min(12, config.epochs)
    if quick:
        changes.setdefault("batch_size", 64)
    return config.replace(**changes)


def run_dir(runs, zoo: str, quick: bool = False, loss: str = "E_cD", architecture: str = "Att_N+t",
            augment: str = "P,E", epochs: int = 0) -> Path:
    """Where the notebooks keep a run: RUNS/hr/ZOO[-quick]-LOSS-ARCH[-AUG][-eEPOCHS], the last two
    only when they differ from the defaults (P,E augmentations, the recipe's epochs)."""
    name = f"{Path(zoo).name}{'-quick' if quick else ''}-{loss}-{architecture}"
    if augment.replace(" ", "") != "P,E":
        name += "-aug" + (augment.replace(",", "").replace(" ", "") if augment.strip() != "-" else "none")
    if epochs:
        name += f"-e{epochs}"
    return Path(runs) / "hr" / name.replace("+", "p")
