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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from hrlib.files import atomic
from hrlib.hyper.config import TrainConfig
from hrlib.hyper.losses import LossConfig
from hrlib.hyper.models import HyperRepresentation, ModelConfig


@dataclass
class Run:
    """A trained hyper-representation: its directory, best model, configs, history, result, and the
    zoo it was trained on (``zoo``, ``zoo_preset`` and ``zoo_sha256`` as config.json records them)."""

    path: Path
    model: HyperRepresentation
    config: TrainConfig
    history: pd.DataFrame
    result: dict
    trained_on: dict = field(default_factory=dict)

    @property
    def model_config(self) -> ModelConfig:
        return self.model.config

    def check_fits(self, zoo, split_seed: int | None = None, split_fractions=(0.7, 0.15, 0.15)):
        """Refuse to probe `zoo` with this run unless it was trained on that zoo with that split (seed and
        fractions, checked when a seed is given): another zoo's z answers another question, and another
        split puts the run's training models among the probe's test models."""
        trained_on, fingerprint = self.trained_on.get("zoo_sha256"), zoo.fingerprint
        if trained_on and fingerprint and trained_on != fingerprint:
            raise ValueError(f"run {self.path} was trained on the zoo {self.trained_on.get('zoo')} "
                             f"(weights sha256 {trained_on[:12]}), not on {zoo.path} ({fingerprint[:12]})")
        if split_seed is not None and split_seed != self.config.split_seed:
            raise ValueError(f"run {self.path} was trained with split seed {self.config.split_seed}; probing with "
                             f"split seed {split_seed} would put its training models among the test models")
        if split_seed is not None and tuple(split_fractions) != self.config.split_fractions:
            raise ValueError(f"run {self.path} was trained on a {self.config.split_fractions} split; probing with "
                             f"{tuple(split_fractions)} would put its training models among the test models; "
                             f"train one with `hrlib train --split {','.join(map(str, split_fractions))}`")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def read_torch(path: Path, device="cpu"):
    """A file hrlib wrote with torch.save, read with weights_only=True: tensors and plain containers,
    never code."""
    try:
        return torch.load(path, weights_only=True, map_location=device)
    except Exception as err:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError, ...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{path}: refused; not a file hrlib wrote, or a damaged one ({first})") from None


def load_run(path) -> Run:
    path = Path(path)
    for name in ("config.json", "best.pt", "history.csv"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name}: missing; is {path} a finished or running hrlib training run?")
    saved = _read_json(path / "config.json")
    config = TrainConfig.from_dict(saved["train"])
    model = HyperRepresentation.from_checkpoint(read_torch(path / "best.pt"))
    result = _read_json(path / "result.json") if (path / "result.json").is_file() else {}
    trained_on = {k: saved.get(k) for k in ("zoo", "zoo_preset", "zoo_sha256")}
    return Run(path, model.eval(), config, pd.read_csv(path / "history.csv"), result, trained_on)


def unfinished(path) -> str | None:
    """How far a run that has not written ``result.json`` has come ("epoch 12 of 30"); None once it has."""
    path = Path(path)
    if (path / "result.json").is_file():
        return None
    done = len(pd.read_csv(path / "history.csv")) if (path / "history.csv").is_file() else 0
    return f"epoch {done} of {_read_json(path / 'config.json')['train']['epochs']}"


def save_atomic(obj, path: Path):
    """torch.save, atomically."""
    with atomic(path) as tmp:
        torch.save(obj, tmp)


def replicate_dir(path, replicate: int) -> Path:
    """Where replicate `replicate` of a run lives: the run itself for 0, the sibling PATH-sN for N ≥ 1.

    Replicate N is the same configuration trained with seed N on the split of seed N (`replicate`),
    so that a table over replicates spreads over both the training and the split."""
    path = Path(path)
    if replicate < 0:
        raise ValueError(f"replicate must be 0 or more, got {replicate}")
    return path if replicate == 0 else path.with_name(f"{path.name}-s{replicate}")


def replicate_runs(runs: dict[str, str], replicate: int) -> dict[str, str]:
    """The runs of one replicate: each run directory's `hrlib.hyper.runs.replicate_dir`, which must exist."""
    out = {name: str(replicate_dir(path, replicate)) for name, path in runs.items()}
    for name, path in out.items():
        if replicate and not (Path(path) / "config.json").is_file():
            raise FileNotFoundError(f"{name}: replicate {replicate} of {runs[name]} is missing ({path}); train the "
                                    f"replicates with `hrlib train ZOO --out {runs[name]} --seeds {replicate + 1}`")
    return out


def run_dir(runs, zoo: str, quick: bool = False, loss: str = "E_cD", encoder: str = "Att_N+t",
            augment: str = "P,E", epochs: int = 0, reduction: str = "") -> Path:
    """Where the notebooks keep a run: RUNS/hr/ZOO[-quick]-LOSS-ENCODER[-AUG][-eEPOCHS][-REDUCTION],
    the last three only when they differ from the defaults (P,E augmentations, the recipe's epochs,
    the default reduction of the reconstruction error)."""
    name = f"{Path(zoo).name}{'-quick' if quick else ''}-{loss}-{encoder}"
    if augment.replace(" ", "") != "P,E":
        name += "-aug" + (augment.replace(",", "").replace(" ", "") if augment.strip() != "-" else "none")
    if epochs:
        name += f"-e{epochs}"
    if reduction and reduction != LossConfig().reduction:
        name += f"-{reduction}"
    return Path(runs) / "hr" / name.replace("+", "p")
