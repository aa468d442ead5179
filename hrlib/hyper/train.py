"""Training a hyper-representation on a zoo: `train(zoo, out, config)` owns the optimizer and the loop.

Adam, ReduceLROnPlateau on the training loss (or a cosine schedule), two augmented views per
sample, the loss mix of `losses.py`; the model with the lowest validation loss is kept. Rerunning
`train` on the same run directory (`runs.py` lists its files) resumes where it stopped, with the
same result as an uninterrupted run; every file is replaced atomically, so a run killed or stopped
by a full disk loses at most the epoch it was in. The device is decided here, at the edge, and so is
the precision: bfloat16 autocast on CUDA, and on a CPU with bfloat16 instructions when the
configuration asks for it (`TrainConfig.precision`); float32 everywhere else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from hrlib.files import LOCK, claim_dir, locked
from hrlib.hyper.augment import EXHAUSTIVE_LIMIT, n_equivalent, permutation_bank, sign_flips, two_views
from hrlib.hyper.config import TrainConfig
from hrlib.hyper.losses import hyper_loss, r2
from hrlib.hyper.models import HyperRepresentation, ModelConfig, upgrade_settings, whole
from hrlib.hyper.runs import (Run, adopt_run_folder, check_run_folder, error_line, load_run, read_config, read_torch,
                              replicate_dir, save_atomic, tensor_problem, train_config, write_run_text)
from hrlib.zoos.architectures import sign_symmetric
from hrlib.zoos.population import pick_device
from hrlib.zoos.zoo import Split, Zoo, exploded_share, split_sizes

log = logging.getLogger(__name__)

TEST_BANK = 100  # permutations for validation views when a layout has too many to list (authors, MNIST: 100)
MAX_REPLICATES = 1_000
STATE_KEYS = ("model", "optimizer", "scheduler", "rng", "aug_gen", "shuffle_gen", "history", "best", "epoch")


def _splits(zoo: Zoo, config: TrainConfig, device) -> tuple[Split, dict[str, torch.Tensor]]:
    """The run's split by model, and each part's checkpoints as one tensor on `device`."""
    split = zoo.split(config.split_fractions, seed=config.split_seed)
    empty = [name for name in ("train", "val", "test") if len(split[name]) == 0]
    if empty:
        shares = "/".join(f"{100 * f:g}" for f in config.split_fractions)
        raise ValueError(f"{zoo!r} is too small to split {shares} by model: no models in {', '.join(empty)}; "
                         "a hyper-representation needs at least a few models in each split")
    return split, {name: torch.tensor(zoo.samples(split[name]), device=device) for name in ("train", "val", "test")}


def _as_json(obj) -> dict:
    return json.loads(json.dumps(obj))


def _check_resumable(out: Path, saved: dict, zoo: Zoo, config: TrainConfig, model_config: ModelConfig,
                     resuming: bool):
    """A run may resume on its own zoo with nothing changed, or with more epochs when its schedule
    does not depend on them; anything else is refused, naming what differs."""
    trained_on, fingerprint = saved.get("zoo_sha256"), zoo.fingerprint
    if trained_on and fingerprint and trained_on != fingerprint:
        raise ValueError(f"{out} holds a run of the zoo {saved.get('zoo')} (weights sha256 {trained_on[:12]}), "
                         f"not of {zoo.path} ({fingerprint[:12]}); choose another --out")
    if resuming and not (trained_on and fingerprint):
        missing = "its config.json names none" if not trained_on else f"{zoo!r} was never saved and has none"
        raise ValueError(f"{out}: a run resumes only on the zoo it was trained on, known by its checksum, and "
                         f"{missing}; choose another --out to train afresh")
    before = train_config(saved, out / "config.json")  # from_dict reads older spellings
    # the model compared as the ModelConfig it makes, so a setting added since (absent from an older
    # config.json) counts at its default, whether or not the new call names it
    old, new = _as_json({**before.to_dict(), "model": None}), _as_json({**config.to_dict(), "model": None})
    if config.schedule == "plateau":
        old, new = {**old, "epochs": None}, {**new, "epochs": None}
    try:
        made = (before.model_config(zoo), ModelConfig(**upgrade_settings(saved["model"])))
        models = [_as_json(m.to_dict()) for m in made]
    except TypeError:  # a setting this hrlib does not know
        models = [None]
    if old != new or any(m != _as_json(model_config.to_dict()) for m in models):
        raise ValueError(f"{out} holds a run with a different configuration; choose another --out")


def _check_memory(model_config: ModelConfig, device: torch.device):
    """Refuse a model whose weights, gradients and Adam's two moments alone outgrow the device's memory."""
    with torch.device("meta"):  # counted without allocating
        n = HyperRepresentation(model_config).n_parameters()
    need, have = 16 * n, _memory(device)
    if have and need > have:
        raise ValueError(f"a model of {n:,} parameters needs at least {need / 2**30:.1f} GiB to train (weights, "
                         f"gradients and Adam's moments), more than the {have / 2**30:.1f} GiB of {device} here; "
                         "choose a smaller model (--latent, --encoder or --recipe)")


def _memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    if device.type == "cpu" and hasattr(os, "sysconf"):
        with contextlib.suppress(ValueError, OSError):
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return None


def train(zoo: Zoo, out, config: TrainConfig = TrainConfig(), device="auto", progress: bool = True) -> Run:
    """Train (or resume training) a hyper-representation of `zoo` into the run directory `out`.

    Everything that can be checked is checked before anything is written: the configuration, the
    device and whether the model fits in its memory, the zoo's split, the run directory (missing,
    empty or hrlib's run; if it holds a run, one of this zoo and configuration whose ``state.pt``
    loads). The run directory is locked while training: a second `train` into it is refused at once,
    naming the process that trains.
    """
    out = Path(out)
    device = pick_device(device)
    model_config = config.model_config(zoo)
    _check_memory(model_config, device)
    split, data = _splits(zoo, config, device)
    flips = _sign_flips(zoo) if config.augment.sign_flip else None
    bank_gen = torch.Generator().manual_seed(config.seed + 1)
    bank = permutation_bank(zoo.layout, config.bank_size, bank_gen).to(device)
    exhaustive = config.bank_size is None and n_equivalent(zoo.layout) <= EXHAUSTIVE_LIMIT
    val_bank = bank if exhaustive else permutation_bank(zoo.layout, TEST_BANK, bank_gen).to(device)
    check_run_folder(out)
    if not out.is_dir() or not any(out.iterdir()):
        claim_dir(out, "run")
    # The model's init and its dropout draw from torch's global RNG: seed a fork of it, so that the
    # caller's random state is left as it was.
    cuda = [device.index or 0] if device.type == "cuda" else []
    with locked(out / LOCK, f"the run {out}"):
        check_run_folder(out)  # again, now that no other training can change it
        config_file = out / "config.json"
        if config_file.is_file():
            _check_resumable(out, read_config(config_file), zoo, config, model_config, (out / "state.pt").is_file())
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(config.seed)
            loop = _start(out, config, model_config, device)
            if loop.epoch == 0:  # a resumed run was warned when it began; its standardization is in state.pt
                _warn_of_exploded_models(zoo, split.train)
                if model_config.standardize:
                    loop.model.fit_standardization(data["train"])
            adopt_run_folder(out)
            write_run_text(config_file, json.dumps({
                "train": config.to_dict(), "model": model_config.to_dict(), "zoo": str(zoo.path) if zoo.path else None,
                "zoo_preset": zoo.manifest.get("preset"), "zoo_sha256": zoo.fingerprint}, indent=1))
            _fit(out, config, loop, data, (bank, val_bank, flips), device, progress)

        run = load_run(out)
        run.model.to(device)
        result = {
            "test_r2": evaluate(run.model, data["test"], val_bank, config, config.batch_size, flips)["r2"],
            "best_epoch": int(run.history.loc[run.history.val_loss.idxmin(), "epoch"]),
            "epochs": config.epochs,
            "device": str(device),
            "precision": precision(config, device),
            "train_seconds": float((len(data["train"]) / run.history.samples_per_s).sum()),
        }
        write_run_text(out / "result.json", json.dumps(result, indent=1))
    run.result = result
    run.model.cpu()
    return run


def _warn_of_exploded_models(zoo: Zoo, models, most: float = 0.5):
    """Say so when a few models with exploded weights hold most of the training models' weight variance."""
    share = exploded_share(zoo, models)
    if share > most:
        log.warning("models with exploded weights (largest norm over 5 × the median model's) hold %.0f%% of the "
                    "variance of the training models' weights: the reconstruction will learn mostly them, and its "
                    "R² measure mostly them. `python scripts/outlier_models.py ZOO --run RUN` scores it without "
                    "them, and --save-without writes the zoo without them (docs/probing.md, \"Models with "
                    "exploded weights\")", 100 * share)


def train_replicates(zoo: Zoo, out, config: TrainConfig, replicates: int, device="auto", progress: bool = True) -> list[Run]:
    """Train (or resume, or reuse) replicates 0..N-1 of a configuration side by side: replicate i in
    `hrlib.hyper.runs.replicate_dir(out, i)` with `config.replicate(i)`. Every replicate's directory
    is checked before the first one trains."""
    replicates = whole("seeds (--seeds)", replicates, 1, MAX_REPLICATES)
    for i in range(replicates):
        check_run_folder(replicate_dir(out, i))
    return [train(zoo, replicate_dir(out, i), config.replicate(i), device, progress) for i in range(replicates)]


@dataclass
class _Loop:
    """What training carries from one epoch to the next; ``state.pt`` holds it."""

    model: HyperRepresentation
    opt: torch.optim.Optimizer
    scheduler: object
    aug_gen: torch.Generator
    shuffle_gen: torch.Generator
    history: list
    best: float = float("inf")
    epoch: int = 0  # epochs done

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.scheduler.state_dict(), "rng": torch.get_rng_state(),
                "aug_gen": self.aug_gen.get_state(), "shuffle_gen": self.shuffle_gen.get_state(),
                "history": self.history, "best": self.best, "epoch": self.epoch}


def _start(out: Path, config: TrainConfig, model_config: ModelConfig, device) -> _Loop:
    """The model, optimizer, schedule and generators of epoch 1, or of the epoch after the one ``state.pt``
    saved, once that state is checked to be one of this run."""
    model = HyperRepresentation(model_config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loop = _Loop(model, opt, _scheduler(opt, config), torch.Generator(device).manual_seed(config.seed + 2),
                 torch.Generator().manual_seed(config.seed + 3), [])
    state_file = out / "state.pt"
    if state_file.is_file():
        fix = f"move it out of {out} to train from the start, or choose another --out"
        # read onto the CPU: RNG states must stay there, and load_state_dict moves the rest to the model
        state = read_torch(state_file, "cpu", fix)
        wrong = _resume(loop, state)
        if wrong:
            raise ValueError(f"{state_file}: refused: {wrong}; {fix}")
        log.info("resuming %s at epoch %d", out, loop.epoch + 1)
    return loop


def _resume(loop: _Loop, state) -> str | None:
    """Load `state` into `loop`; what keeps it from being this run's state, or None once loaded."""
    if not isinstance(state, dict) or set(STATE_KEYS) - set(state):
        return "not the state of a training run"
    wrong = tensor_problem(loop.model.state_dict(), state["model"])
    if wrong:
        return f"its model {wrong}"
    history, epoch = state["history"], state["epoch"]
    if not (isinstance(history, list) and all(isinstance(row, dict) for row in history) and isinstance(epoch, int)
            and len(history) == epoch and isinstance(state["best"], float)):
        return "its epoch and history disagree"
    if set(state["scheduler"] if isinstance(state["scheduler"], dict) else ()) != set(loop.scheduler.state_dict()):
        return "its schedule is not this run's"
    try:
        loop.model.load_state_dict(state["model"])
        loop.opt.load_state_dict(state["optimizer"])
        loop.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        loop.aug_gen.set_state(state["aug_gen"])
        loop.shuffle_gen.set_state(state["shuffle_gen"])
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
        return f"not the state of this run ({error_line(err)})"
    for p, moments in loop.opt.state.items():
        if any(isinstance(m, torch.Tensor) and m.dim() and m.shape != p.shape for m in moments.values()):
            return "its optimizer's moments do not fit the model"
    loop.history, loop.best, loop.epoch = history, state["best"], epoch
    return None


def _fit(out: Path, config: TrainConfig, loop: _Loop, data: dict, banks, device, progress: bool):
    """The epochs still to run: train, validate, keep the best model, save the state to resume from."""
    from tqdm.auto import tqdm

    bank, val_bank, flips = banks
    model, opt = loop.model, loop.opt
    amp = autocast(config, device)
    bar = tqdm(range(loop.epoch + 1, config.epochs + 1), desc=f"train {model.config.name} {config.loss.name}",
               unit="epoch", disable=not progress, initial=loop.epoch, total=config.epochs)
    for epoch in bar:
        began = time.perf_counter()
        model.train()
        sums, n = {}, 0
        order = torch.randperm(len(data["train"]), generator=loop.shuffle_gen).to(device)
        for i in range(0, len(order), config.batch_size):
            batch = data["train"][order[i : i + config.batch_size]]
            if len(batch) < 2:  # BatchNorm in the projection head needs two samples
                continue
            views = two_views(batch, bank, config.augment, loop.aug_gen, train=True, flips=flips)
            parts = train_step(model, opt, tuple(model.standardize(v) for v in views), config.loss, amp, config.clip_norm)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v * len(batch)
            n += len(batch)
        row = {"epoch": epoch, "lr": opt.param_groups[0]["lr"]}
        row |= {f"train_{k}": float(v) / n for k, v in sums.items()}
        row["samples_per_s"] = n / (time.perf_counter() - began)
        row |= {f"val_{k}": v for k, v in evaluate(model, data["val"], val_bank, config, config.batch_size, flips).items()}
        loop.scheduler.step(row["train_loss"]) if config.schedule == "plateau" else loop.scheduler.step()
        loop.history.append(row)
        loop.epoch = epoch
        if row["val_loss"] < loop.best:
            loop.best = row["val_loss"]
            save_atomic(model.checkpoint(), out / "best.pt")
        write_run_text(out / "history.csv", pd.DataFrame(loop.history).to_csv(index=False))
        save_atomic(loop.state(), out / "state.pt")
        bar.set_postfix(loss=f"{row['train_loss']:.4f}", val_r2=f"{row.get('val_r2', float('nan')):.3f}")


def cpu_bfloat16() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX-512 BF16 or AMX), which make bfloat16 products faster
    than float32 ones; without them torch emulates bfloat16, more slowly than float32."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, check, lambda: False)() for check in checks)


def precision(config: TrainConfig, device: torch.device) -> str:
    """The precision a run of `config` trains in on `device`: "bfloat16" or "float32"."""
    if device.type == "cuda" or (device.type == "cpu" and config.precision == "bfloat16" and cpu_bfloat16()):
        return "bfloat16"
    return "float32"


def autocast(config: TrainConfig, device: torch.device):
    """The context the forward pass and the loss run in: bfloat16 autocast where `precision` says so."""
    if precision(config, device) == "bfloat16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


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
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)


def train_step(model, opt, views, loss_config, amp, clip_norm: float | None = None) -> dict[str, torch.Tensor]:
    """One optimizer step on two views: forward and loss in the context `amp` (`autocast`), backward,
    the gradient's norm clipped to `clip_norm` (when given), the optimizer's step; the loss parts
    (detached)."""
    with amp:
        loss, parts = _step_loss(model, views, loss_config)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    opt.step()
    return parts


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
        _, parts = _step_loss(model, tuple(model.standardize(v) for v in views), config.loss)
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(batch)
        recons.append(model.decode(model.encode(batch)))
    out = {k: v / len(samples) for k, v in sums.items()}
    out["r2"] = r2(torch.cat(recons).float(), samples) if config.loss.uses_reconstruction else float("nan")
    return out


def estimate_epoch_seconds(layout, n_models: int, n_checkpoints: int, config: TrainConfig, device="auto",
                           steps: int = 3) -> float:
    """Seconds one training epoch (and its validation) will take here, for a zoo of `n_models` ×
    `n_checkpoints` of `layout` split by `config.split_fractions`: a few training steps of the configured
    model on random weight vectors, timed after one warm-up step. No zoo is needed, so a notebook can say
    what training will cost before building one."""
    from hrlib.zoos.layout import Layout

    layout = layout if isinstance(layout, Layout) else Layout.from_dict(layout)
    n_train, n_val = (n * n_checkpoints for n in split_sizes(n_models, config.split_fractions))
    device = pick_device(device)
    batch_size = min(config.batch_size, max(2, n_train))
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(0)
        model = HyperRepresentation(ModelConfig(layout=layout.to_dict(), **config.model)).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr)
        gen = torch.Generator(device).manual_seed(0)
        bank = permutation_bank(layout, config.bank_size, torch.Generator().manual_seed(0)).to(device)
        batch = torch.randn(batch_size, layout.n_params, device=device)
        for step in range(steps + 1):
            if step == 1:
                began = time.perf_counter()
            train_step(model, opt, two_views(batch, bank, config.augment, gen, train=True), config.loss,
                       autocast(config, device), config.clip_norm)
        per_sample = (time.perf_counter() - began) / (steps * batch_size)
    return per_sample * (n_train + n_val / 2)  # validation: forward passes only, about half a step's cost
