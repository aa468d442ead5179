"""A run directory: the files a training run writes, and `Run`, a finished or running one loaded back.

A run directory holds

- ``config.json``: the `TrainConfig` and the `ModelConfig`;
- ``history.csv``: per epoch, train and validation loss parts, validation reconstruction R²,
  learning rate, samples per second;
- ``best.pt``: the model with the lowest validation loss (loadable with ``weights_only=True``);
- ``state.pt``: everything needed to resume (model, optimizer, scheduler, RNG states, epoch);
- ``result.json``: the test reconstruction R² of the best model, written when training ends.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from hrlib.hyper.config import TrainConfig
from hrlib.hyper.models import HyperRepresentation, ModelConfig


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


def save_atomic(obj, path: Path):
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_atomic(text: str, path: Path):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def run_dir(runs, zoo: str, quick: bool = False, loss: str = "E_cD", encoder: str = "Att_N+t",
            augment: str = "P,E", epochs: int = 0) -> Path:
    """Where the notebooks keep a run: RUNS/hr/ZOO[-quick]-LOSS-ENCODER[-AUG][-eEPOCHS], the last two
    only when they differ from the defaults (P,E augmentations, the recipe's epochs)."""
    name = f"{Path(zoo).name}{'-quick' if quick else ''}-{loss}-{encoder}"
    if augment.replace(" ", "") != "P,E":
        name += "-aug" + (augment.replace(",", "").replace(" ", "") if augment.strip() != "-" else "none")
    if epochs:
        name += f"-e{epochs}"
    return Path(runs) / "hr" / name.replace("+", "p")
