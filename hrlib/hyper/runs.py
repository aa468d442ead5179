"""A run directory: the files a training run writes, and `Run`, a finished or running one loaded back.

A run directory holds

- ``config.json``: the `TrainConfig` and the `ModelConfig`;
- ``history.csv``: per epoch, train and validation loss parts, validation reconstruction R²,
  learning rate, samples per second;
- ``best.pt``: the model with the lowest validation loss (loadable with ``weights_only=True``);
- ``state.pt``: everything needed to resume (model, optimizer, scheduler, RNG states, epoch);
- ``result.json``: the test reconstruction R² of the best model, written when training ends.

Like every folder hrlib writes, a run folder carries the marker ``.hrlib`` (`hrlib.files`); training
writes only into a folder that is missing, empty or a run (`check_run_folder`). Each file is read
through one check (`read_config`, `read_history`, `read_result`, `read_torch`), so a damaged or
foreign file is one line naming it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from hrlib.errors import OutputError
from hrlib.files import atomic, check_owned, kind_of, mark, write_text
from hrlib.hyper.config import TrainConfig
from hrlib.hyper.losses import LossConfig
from hrlib.hyper.models import HyperRepresentation, ModelConfig, upgrade_settings

RUN_FILES = ("config.json", "history.csv", "best.pt", "state.pt", "result.json")
CONFIG_WHAT = "an hrlib run's config"
HISTORY_COLUMNS = ("epoch", "lr", "train_loss", "samples_per_s", "val_loss", "val_r2")

_INT, _NUMBER, _TEXT, _FLAG = {"type": "integer"}, {"type": "number"}, {"type": "string"}, {"type": "boolean"}
# "architecture": the old name of "encoder"
_MODEL = {"encoder": _TEXT, "architecture": _TEXT, "tokens": _TEXT, "compression_token": _FLAG, "d_model": _INT,
          "heads": _INT, "blocks": _INT, "ff": _INT, "dropout": _NUMBER, "latent": _INT, "ffn_layers": _INT,
          "projection_layers": _INT, "projection_hidden": _INT, "projection_out": _INT, "standardize": _FLAG}
_TRAIN_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "schedule", "plateau_factor", "plateau_patience", "seed",
               "split_seed", "bank_size", "loss", "augment")
# config.json as every hrlib version wrote it (split_fractions, precision, clip_norm and loss.reduction came later); the
# values' ranges are TrainConfig's and ModelConfig's own checks.
RUN_SCHEMA = {
    "type": "object",
    "required": ["train", "model"],
    "properties": {
        "train": {"type": "object", "required": list(_TRAIN_KEYS), "additionalProperties": False, "properties": {
            **{k: _INT for k in ("epochs", "batch_size", "plateau_patience", "seed", "split_seed")},
            **{k: _NUMBER for k in ("lr", "weight_decay", "plateau_factor")},
            "schedule": _TEXT,
            "precision": _TEXT,
            "clip_norm": {"type": ["number", "null"]},
            "bank_size": {"type": ["integer", "null"]},
            "split_fractions": {"type": "array", "minItems": 3, "maxItems": 3, "items": _NUMBER},
            "loss": {"type": "object", "required": ["gamma", "contrast", "temperature"], "additionalProperties": False,
                     "properties": {"gamma": _NUMBER, "contrast": _TEXT, "temperature": _NUMBER, "reduction": _TEXT}},
            "augment": {"type": "object", "required": ["permute", "erase_p", "erase_scale", "noise_std"],
                        "additionalProperties": False,
                        "properties": {"permute": _FLAG, "erase_p": _NUMBER, "noise_std": _NUMBER, "sign_flip": _FLAG,
                                       "erase_scale": {"type": "array", "minItems": 2, "maxItems": 2, "items": _NUMBER}}},
            "model": {"type": "object", "additionalProperties": False, "properties": _MODEL},
        }},
        "model": {"type": "object", "required": ["layout"], "additionalProperties": False,
                  "properties": {"layout": {"type": "object", "required": ["layers"]}, **_MODEL}},
        "zoo": {"type": ["string", "null"]},
        "zoo_preset": {"type": ["string", "null"]},
        "zoo_sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
    },
}
RESULT_SCHEMA = {
    "type": "object",
    "required": ["test_r2", "best_epoch", "epochs"],
    "properties": {"test_r2": _NUMBER, "best_epoch": _INT, "epochs": _INT, "device": _TEXT, "precision": _TEXT,
                   "train_seconds": _NUMBER},
}


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


def read_config(path) -> dict:
    """A run's config.json, once it matches `RUN_SCHEMA`."""
    from hrlib.schemas import read_json

    return read_json(path, RUN_SCHEMA, ValueError, CONFIG_WHAT)


def train_config(saved: dict, path) -> TrainConfig:
    """The TrainConfig of a config.json read by `read_config`; a value out of range names the file."""
    try:
        return TrainConfig.from_dict(saved["train"])
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: {err}; is it {CONFIG_WHAT}?") from None


def model_config(saved: dict, path) -> ModelConfig:
    """The ModelConfig of a config.json read by `read_config`; a value out of range names the file."""
    try:
        return ModelConfig(**upgrade_settings(saved["model"]))
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: {err}; is it {CONFIG_WHAT}?") from None


def read_result(path) -> dict:
    from hrlib.schemas import read_json

    return read_json(path, RESULT_SCHEMA, ValueError, "an hrlib run's result")


def read_history(path) -> pd.DataFrame:
    """A run's history.csv: one row per epoch with at least `HISTORY_COLUMNS`, all numbers."""
    path = Path(path)
    suffix = "; is it an hrlib run's history?"
    try:
        history = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path}: not a table ({(str(err).strip().splitlines() or [''])[0][:160]}){suffix}") from None
    missing = [c for c in HISTORY_COLUMNS if c not in history]
    if missing:
        raise ValueError(f"{path}: lacks the column '{missing[0]}'{suffix}")
    if history.empty:
        raise ValueError(f"{path}: holds no epoch{suffix}")
    for column in history:
        if not pd.api.types.is_numeric_dtype(history[column]):
            raise ValueError(f"{path}: the column '{column}' holds {str(history[column].iloc[0])[:20]!r}, not numbers{suffix}")
    return history


def error_line(err: BaseException) -> str:
    """The first sentence of an error's message, without advice to load with weights_only=False."""
    line = (str(err).strip().splitlines() or [""])[0].split(". ")[0].strip().rstrip(".:")
    return type(err).__name__ if not line or "weights_only" in line else line[:160]


def _not_a_checkpoint(head: bytes) -> str | None:
    """What the first bytes of a file say it is, when they say it is not a checkpoint torch.save wrote."""
    if not head:
        return "an empty file"
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the file itself (fetch it with `git lfs pull`)"
    if head.lstrip()[:1] == b"<":
        return "a web page or markup, not a checkpoint (a failed download?)"
    if head.startswith(b"PK\x03\x04"):  # torch.save writes a zip archive
        return None
    try:
        text = head.decode()
    except UnicodeDecodeError as err:  # a character cut by the end of `head` still reads as text
        text = head[: err.start].decode() if err.start >= len(head) - 3 else ""
    if text and all(c.isprintable() or c.isspace() for c in text):
        return "a text file, not a checkpoint"
    return "not a checkpoint torch.save wrote"


def read_torch(path: Path, device="cpu", fix: str = ""):
    """A file hrlib wrote with torch.save, read with weights_only=True: tensors and plain containers,
    never code. Anything else is refused with one line naming the file and `fix`, what to do."""
    path = Path(path)
    with open(path, "rb") as f:
        what = _not_a_checkpoint(f.read(64))
    if what is None:
        try:
            return torch.load(path, weights_only=True, map_location=device)
        except pickle.UnpicklingError:
            what = "it holds objects other than tensors and plain data, which hrlib never loads"
        except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, EOFError, KeyError, ...
            what = f"damaged ({error_line(err)})"
    raise ValueError(f"{path}: refused: {what}{'; ' + fix if fix else ''}")


def tensor_problem(expected: dict, found, finite: bool = False) -> str | None:
    """What keeps the state dict `found` from loading into a model whose state dict is `expected`
    (names, shapes, dtypes; with `finite`, NaN or infinite values), or None."""
    if not isinstance(found, dict):
        return f"holds a {type(found).__name__} where a state dict belongs"
    for name, want in expected.items():
        have = found.get(name)
        if not isinstance(have, torch.Tensor):
            return f"lacks the tensor '{name}'" if have is None else f"'{name}' is not a tensor"
        if have.shape != want.shape:
            return f"'{name}' has shape {tuple(have.shape)}, not {tuple(want.shape)}"
        if have.dtype != want.dtype:
            return f"'{name}' holds {str(have.dtype).removeprefix('torch.')}, not {str(want.dtype).removeprefix('torch.')}"
        if finite and have.is_floating_point() and not torch.isfinite(have).all():
            return f"'{name}' holds NaN or infinite values"
    extra = sorted(set(found) - set(expected))
    return f"holds '{extra[0]}', which this model does not have" if extra else None


def _best_model(path: Path, described: ModelConfig) -> HyperRepresentation:
    """The model in a run's best.pt, once it is the model config.json describes and its tensors are
    those that model has."""
    fix = "train the run again with `hrlib train` into another --out"
    checkpoint = read_torch(path, fix=fix)
    if not isinstance(checkpoint, dict) or not {"config", "state_dict"} <= set(checkpoint):
        raise ValueError(f"{path}: refused: not a checkpoint of a hyper-representation; {fix}")
    try:
        config = ModelConfig(**upgrade_settings(checkpoint["config"]))
        with torch.device("meta"):
            expected = HyperRepresentation(config).state_dict()
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"{path}: refused: its model configuration is not one hrlib writes ({error_line(err)}); "
                         f"{fix}") from None
    found, described = config.to_dict(), described.to_dict()
    differ = [k for k in found if found[k] != described[k]]
    if differ:
        how = "another layout" if differ[0] == "layout" else f"{differ[0]} {found[differ[0]]!r}, not {described[differ[0]]!r}"
        raise ValueError(f"{path}: refused: its model is not the one config.json describes ({how}); {fix}")
    wrong = tensor_problem(expected, checkpoint["state_dict"], finite=True)
    if wrong:
        raise ValueError(f"{path}: refused: {wrong}; {fix}")
    return HyperRepresentation.from_checkpoint(checkpoint)


def load_run(path) -> Run:
    path = Path(path)
    for name in ("config.json", "best.pt", "history.csv"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name}: missing; is {path} a finished or running hrlib training run?")
    saved = read_config(path / "config.json")
    config = train_config(saved, path / "config.json")
    model = _best_model(path / "best.pt", model_config(saved, path / "config.json"))
    result = read_result(path / "result.json") if (path / "result.json").is_file() else {}
    trained_on = {k: saved.get(k) for k in ("zoo", "zoo_preset", "zoo_sha256")}
    return Run(path, model.eval(), config, read_history(path / "history.csv"), result, trained_on)


def unfinished(path) -> str | None:
    """How far a run that has not written ``result.json`` has come ("epoch 12 of 30"); None once it has."""
    path = Path(path)
    if (path / "result.json").is_file():
        return None
    done = len(read_history(path / "history.csv")) if (path / "history.csv").is_file() else 0
    return f"epoch {done} of {read_config(path / 'config.json')['train']['epochs']}"


def check_run_folder(out) -> Path:
    """`out`, once training may write there: missing, empty, a run folder of hrlib's, or a run written
    before folders carried a marker whose config.json names its zoo by checksum. Reads only; anything
    else (a zoo, a user's files, checkpoints without their config.json) is refused with one line."""
    out = Path(out)
    for parent in out.absolute().parents:  # a zoo rebuilt, or probes saved again, would take the run with them
        if (kind := kind_of(parent)) is not None:
            raise OutputError(f"{out}: lies inside {parent}, an hrlib {kind} folder, which holds hrlib's own files "
                              "only; choose another --out outside it")
    if not out.is_dir() or not any(out.iterdir()) or kind_of(out) not in (None, "run"):
        return check_owned(out, "run")
    config = out / "config.json"
    if not config.is_file():
        found = [name for name in RUN_FILES if (out / name).exists()]
        if found:
            raise OutputError(f"{out}: holds {found[0]} but no config.json, so hrlib cannot tell which zoo and "
                              "configuration it belongs to and never writes into it; choose another --out to train afresh")
        return check_owned(out, "run")
    if kind_of(out) == "run":
        read_config(config)
        return out
    try:  # a folder without the marker: a run of an earlier hrlib, or a folder of the user's
        saved = json.loads(config.read_text())
        looks_like_run = isinstance(saved, dict) and "train" in saved
    except (ValueError, TypeError, OSError):
        looks_like_run = False
    if not looks_like_run:
        return check_owned(out, "run")
    if not read_config(config).get("zoo_sha256"):
        raise OutputError(f"{out}: a run of an earlier hrlib whose config.json names no zoo by checksum, so hrlib "
                          "cannot tell which zoo it belongs to and never writes into it; choose another --out to "
                          "train afresh")
    return out


def adopt_run_folder(out: Path):
    """Mark a run folder that `check_run_folder` accepted as hrlib's run, and remove the temporary files a
    killed training left (``.tmp-*-state.pt``, ...); call it holding the run's lock."""
    mark(out, "run")
    for name in RUN_FILES:
        for stale in out.glob(f".tmp-*-{name}"):
            stale.unlink(missing_ok=True)


@contextlib.contextmanager
def written(path):
    """Turn a failed write of `path` (a full disk, a lost mount) into one line naming it; `atomic` has kept
    the file that was there, so rerunning the command resumes."""
    try:
        yield
    except OutputError:
        raise
    except OSError as err:
        fix = "make room" if err.errno in (errno.ENOSPC, errno.EDQUOT) else "fix that"
        raise OutputError(f"{path}: could not be written ({err.strerror or err}); what was written before is kept: "
                          f"{fix} and rerun the same command to resume") from None


def save_atomic(obj, path: Path):
    """torch.save, atomically; a failed write is one line naming `path`."""
    with written(path), atomic(path) as tmp, open(tmp, "wb") as f:
        try:
            torch.save(obj, f)  # through a Python file, so that a full disk raises an OSError ...
        except RuntimeError as err:  # ... which torch's zip writer then buries under a RuntimeError of its own
            if isinstance(err.__context__, OSError):
                raise err.__context__ from None
            raise OSError(errno.EIO, f"torch.save failed: {error_line(err)}") from None


def write_run_text(path: Path, text: str):
    """`hrlib.files.write_text`, a failed write one line naming `path`."""
    with written(path):
        write_text(path, text)


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
