"""Training an NFN predictor: `train_nfn` owns the optimizer and the loop; `NFNPredictor` fits it to a zoo.

As the NFN authors trained theirs: Adam, binary cross-entropy between the predicted and the true test
accuracy (a fraction in [0, 1]), one pass over the training models per epoch, and after every epoch
Kendall's τ on the validation models; the model of the epoch with the best τ is the one kept. The
folder it trains in holds ``config.json``, ``history.csv``, ``best.pt`` and ``state.pt``, each replaced
atomically after every epoch; training again into it resumes where it stopped, with the same result as
an uninterrupted run, and refuses a folder of other data or another configuration.

Shape legend: n checkpoints, p params.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from hrlib.evaluate.features import flat_rows
from hrlib.evaluate.peers.models import InvariantNFN, NFNConfig, check_supported
from hrlib.evaluate.probes import kendall_tau
from hrlib.files import LOCK, check_owned, claim_dir, locked
from hrlib.hyper.runs import error_line, read_torch, save_atomic, tensor_problem, write_run_text
from hrlib.zoos.layout import Layout
from hrlib.zoos.population import pick_device

log = logging.getLogger(__name__)

KIND = "nfn"  # the marker of the folders NFN predictors train in
STATE_KEYS = ("model", "optimizer", "shuffle_gen", "history", "best", "epoch")
PREDICT_BATCH = 256


def _fingerprint(*arrays: np.ndarray) -> str:
    """What identifies the data a predictor trains on: the bytes of its checkpoints and targets."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _check_targets(y: np.ndarray, what: str):
    if not (np.isfinite(y).all() and (y >= 0).all() and (y <= 1).all()):
        raise ValueError(f"an NFN predictor learns accuracies as fractions in [0, 1] (binary cross-entropy); the "
                         f"{what} targets run from {np.nanmin(y):g} to {np.nanmax(y):g}")


@dataclass
class _Loop:
    """What training carries from one epoch to the next; ``state.pt`` holds it."""

    model: InvariantNFN
    opt: torch.optim.Optimizer
    shuffle_gen: torch.Generator
    history: list = field(default_factory=list)
    best: float = -float("inf")  # the best validation τ so far
    epoch: int = 0  # epochs done

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "shuffle_gen": self.shuffle_gen.get_state(), "history": self.history, "best": self.best,
                "epoch": self.epoch}

    def load(self, state) -> str | None:
        """Take over a saved state; what keeps it from being this predictor's, or None once loaded."""
        if not isinstance(state, dict) or set(STATE_KEYS) - set(state):
            return "not the state of an NFN predictor's training"
        wrong = tensor_problem(self.model.state_dict(), state["model"])
        if wrong:
            return f"its model {wrong}"
        if not (isinstance(state["history"], list) and len(state["history"]) == state["epoch"]):
            return "its epoch and history disagree"
        try:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.shuffle_gen.set_state(state["shuffle_gen"])
        except (RuntimeError, ValueError, TypeError, KeyError) as err:
            return f"not the state of this predictor ({error_line(err)})"
        self.history, self.best, self.epoch = state["history"], float(state["best"]), int(state["epoch"])
        return None


def _start(out: Path, layout: Layout, config: NFNConfig, train_x: torch.Tensor, device) -> _Loop:
    """The model, optimizer and shuffle of epoch 1, or of the epoch after the one ``state.pt`` saved."""
    # The model's init draws from torch's global RNG: seed a fork of it, leaving the caller's state alone.
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        model = InvariantNFN(layout, config)
    model.fit_standardization(train_x)
    model.to(device)
    loop = _Loop(model, torch.optim.Adam(model.parameters(), lr=config.lr),
                 torch.Generator().manual_seed(config.seed + 1))
    state_file = out / "state.pt"
    if state_file.is_file():
        fix = f"move it out of {out} to train from the start, or choose another folder"
        wrong = loop.load(read_torch(state_file, "cpu", fix))
        if wrong:
            raise ValueError(f"{state_file}: refused: {wrong}; {fix}")
        if loop.epoch > config.epochs:
            raise ValueError(f"{out} holds {loop.epoch} epochs of training, more than the {config.epochs} asked for; "
                             "ask for at least as many, or choose another folder")
        log.info("resuming %s at epoch %d", out, loop.epoch + 1)
    return loop


def _check_folder(out: Path, settings: dict):
    """A predictor resumes only on its own data with its own configuration (more epochs allowed)."""
    config_file = out / "config.json"
    if not config_file.is_file():
        return
    try:
        saved = json.loads(config_file.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{config_file}: unreadable ({error_line(err)}); choose another folder") from None
    drop_epochs = lambda s: {**s, "config": {**s.get("config", {}), "epochs": None}}  # noqa: E731
    if saved.get("data_sha256") != settings["data_sha256"]:
        raise ValueError(f"{out} holds an NFN predictor trained on other checkpoints or targets (another zoo, split "
                         "or protocol); choose another folder")
    if drop_epochs(saved) != drop_epochs(settings):
        raise ValueError(f"{out} holds an NFN predictor with a different configuration; choose another folder")


def train_nfn(layout: Layout, train_x, train_y, val_x, val_y, out, config: NFNConfig = NFNConfig(), device="auto",
              progress: bool = True) -> tuple[InvariantNFN, pd.DataFrame]:
    """Train (or resume training) an NFN predictor of accuracy in the folder `out`.

    Args:
        layout: the checkpoints' layout, one that NFN's layers can read (see `unsupported`).
        train_x, val_x: flat checkpoints (n, p) of the training and validation models.
        train_y, val_y: their test accuracies, fractions in [0, 1].
        out: the folder; missing, empty, or one this function trained in on the same data.
        config: the predictor and its training; its `seed` decides the init and the shuffles.

    Returns the model of the epoch with the best validation τ (on the CPU) and the history, one row per
    epoch: train_loss, val_loss, val_tau, val_r2 and the seconds it took.
    """
    from sklearn.metrics import r2_score
    from tqdm.auto import tqdm

    check_supported(layout)
    device = pick_device(device)
    train_y, val_y = np.asarray(train_y, dtype=np.float32), np.asarray(val_y, dtype=np.float32)
    _check_targets(train_y, "training")
    _check_targets(val_y, "validation")
    if len(train_y) == 0 or len(val_y) < 2:
        raise ValueError(f"an NFN predictor needs training models and at least two validation models to choose its "
                         f"epoch by τ; got {len(train_y)} and {len(val_y)}")
    settings = {"config": config.to_dict(), "layout": layout.to_dict(),
                "data_sha256": _fingerprint(train_x, train_y, val_x, val_y)}
    out = check_owned(out, KIND, "folder")
    _check_folder(out, settings)
    claim_dir(out, KIND, "folder")
    data = {k: torch.as_tensor(np.asarray(v, dtype=np.float32), device=device)
            for k, v in (("train_x", train_x), ("train_y", train_y), ("val_x", val_x))}
    with locked(out / LOCK, f"the NFN predictor {out}"):
        _check_folder(out, settings)  # again, now that no other training can change it
        loop = _start(out, layout, config, data["train_x"], device)
        write_run_text(out / "config.json", json.dumps(settings, indent=1))
        model, n = loop.model, len(train_y)
        bar = tqdm(range(loop.epoch + 1, config.epochs + 1), desc=f"NFN_{config.mode}", unit="epoch",
                   disable=not progress, initial=loop.epoch, total=config.epochs)
        for epoch in bar:
            began = time.perf_counter()
            model.train()
            total = 0.0
            order = torch.randperm(n, generator=loop.shuffle_gen).to(device)
            for i in range(0, n, config.batch_size):
                batch = order[i : i + config.batch_size]
                loss = F.binary_cross_entropy_with_logits(model(data["train_x"][batch]), data["train_y"][batch])
                loop.opt.zero_grad(set_to_none=True)
                loss.backward()
                loop.opt.step()
                total += float(loss.detach()) * len(batch)
            predicted = predict(model, data["val_x"])
            tau = kendall_tau(val_y, predicted)
            row = {"epoch": epoch, "train_loss": total / n,
                   "val_loss": float(F.binary_cross_entropy(torch.as_tensor(predicted), torch.as_tensor(val_y))),
                   "val_tau": tau, "val_r2": float(r2_score(val_y, predicted)),
                   "seconds": time.perf_counter() - began}
            loop.history.append(row)
            loop.epoch = epoch
            score = tau if np.isfinite(tau) else -float("inf")  # constant predictions have no τ
            if epoch == 1 or score > loop.best:
                loop.best = score
                save_atomic(model.checkpoint(), out / "best.pt")
            write_run_text(out / "history.csv", pd.DataFrame(loop.history).to_csv(index=False))
            save_atomic(loop.state(), out / "state.pt")
            bar.set_postfix(loss=f"{row['train_loss']:.4f}", val_tau=f"{tau:.3f}")
        best = InvariantNFN.from_checkpoint(read_torch(out / "best.pt", "cpu", f"remove {out} to train afresh"))
    return best, pd.DataFrame(loop.history)


@torch.no_grad()
def predict(model: InvariantNFN, flat: torch.Tensor, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Predicted test accuracy (n,) of flat checkpoints (n, p), on the device `flat` is on."""
    model.eval()
    model.to(flat.device)
    parts = [torch.sigmoid(model(flat[i : i + batch_size])) for i in range(0, len(flat), batch_size)]
    return torch.cat(parts).cpu().numpy() if parts else np.empty(0, dtype=np.float32)


class NFNPredictor:
    """An NFN predictor of test accuracy fitted to a zoo's checkpoints, as `rank_checkpoints` uses one.

    Args:
        out: the folder it trains in (resumed when it holds the same data and configuration).
        config: the NFN and its training (`NFNConfig`).
        device: "auto", "cpu", "cuda", ...; decided when fitting.
    """

    def __init__(self, out, config: NFNConfig = NFNConfig(), device="auto", progress: bool = True):
        self.out = out
        self.config = config
        self.device = device
        self.progress = progress

    def __repr__(self):
        return f"NFNPredictor(NFN_{self.config.mode}, {self.out})"

    def replace(self, **changes) -> "NFNPredictor":
        """The same predictor with some of its `NFNConfig` settings changed."""
        return NFNPredictor(self.out, replace(self.config, **changes), self.device, self.progress)

    def fit(self, zoo, rows, y, validation) -> "NFNPredictor":
        """Train on the checkpoints `rows` of `zoo` with targets `y`; `validation` marks those that choose the epoch."""
        rows, y, validation = np.asarray(rows), np.asarray(y, dtype=np.float32), np.asarray(validation, dtype=bool)
        x = flat_rows(zoo, rows)
        self.model_, self.history_ = train_nfn(zoo.layout, x[~validation], y[~validation], x[validation],
                                               y[validation], self.out, self.config, self.device, self.progress)
        self.train_seconds_ = float(self.history_["seconds"].sum())
        self.best_epoch_ = int(self.history_.loc[self.history_["val_tau"].fillna(-np.inf).idxmax(), "epoch"])
        return self

    def predict(self, zoo, rows) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError("fit the NFN predictor before predicting")
        if zoo.layout != self.model_.layout:
            raise ValueError(f"the NFN predictor reads {self.model_.layout}, not a zoo with {zoo.layout}")
        return predict(self.model_, torch.as_tensor(flat_rows(zoo, rows), device=pick_device(self.device)))
