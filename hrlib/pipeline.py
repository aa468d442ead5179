"""The steps the notebooks share: a zoo and a trained hyper-representation, built once under RUNS/.

Notebooks hand results to each other only through files: `ensure_zoo` builds a preset into
``RUNS/zoos/`` or opens the one built before; `ensure_run` trains a hyper-representation into
``RUNS/hr/`` or resumes or reuses the run found there. Either refuses a directory that holds
something of another configuration rather than mixing the two.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from hrlib.hyper.augment import AugmentConfig
from hrlib.hyper.config import configure, recipe_encoder
from hrlib.hyper.losses import LossConfig
from hrlib.hyper.models import named_settings
from hrlib.hyper.runs import Run, load_run, read_history, run_dir
from hrlib.hyper.train import train
from hrlib.zoos import architectures as arch
from hrlib.zoos.build import create_zoo
from hrlib.zoos.population import pick_device
from hrlib.zoos.presets import CPU_SIZES, get_preset, sized
from hrlib.zoos.zoo import Zoo, load_zoo, split_sizes


def zoo_dir(zoo: str, runs="runs", size: str = "full") -> Path:
    """Where `ensure_zoo` keeps a preset at a size: RUNS/zoos/NAME, NAME-cpu or NAME-quick."""
    return Path(runs) / "zoos" / (zoo + ("" if size == "full" else f"-{size}"))


def _run_path(zoo: str, runs, size: str, quick_run: bool, out: str, loss: str, encoder: str, augment: str,
              epochs: int) -> Path:
    """The run directory `ensure_run` uses: `out`, else `run_dir` named by the zoo and its size."""
    if out:
        return Path(out)
    return run_dir(runs, zoo if quick_run or size == "full" else f"{zoo}-{size}", quick_run, loss, encoder, augment, epochs)


def auto_size(zoo: str, device: str = "auto") -> str:
    """The size a notebook builds by default: a CNN preset at its CPU size when no GPU is used, any
    other zoo (the MLP presets, a zoo directory) as it is."""
    if Path(zoo).is_dir() or get_preset(zoo).architecture not in CPU_SIZES:
        return "full"
    return "full" if pick_device(device).type == "cuda" else "cpu"


def ensure_zoo(zoo: str, runs="runs", quick_run: bool = False, device: str = "auto", progress: bool = True,
               size: str = "full") -> Zoo:
    """The zoo a notebook or pipeline step asks for: an existing zoo directory as it is, or a preset
    at a size (`hrlib.zoos.presets.sized`; `quick_run` is the "quick" size) built once into
    `zoo_dir` and opened from there."""
    if Path(zoo).is_dir():
        return load_zoo(zoo)
    size = "quick" if quick_run else size
    preset = sized(get_preset(zoo), size)
    out = zoo_dir(zoo, runs, size)
    if out.exists():
        found = load_zoo(out)
        if found.manifest.get("config") != json.loads(json.dumps(preset.to_dict(), default=str)):
            raise ValueError(f"{out} holds a zoo of a different configuration than {preset.name!r} asks for; "
                             "remove it to rebuild")
        return found
    return create_zoo(preset, out, device=device, progress=progress)


def ensure_run(zoo: str, runs="runs", quick_run: bool = False, *, out: str = "", loss: str = "E_cD",
               encoder: str = "", augment: str = "", epochs: int = 0, recipe: str = "",
               device: str = "auto", progress: bool = True, size: str = "full") -> Run:
    """The hyper-representation a notebook asks for, trained once on the zoo `ensure_zoo` gives.

    The run lives in `out` or, by default, in ``RUNS/hr/`` under the name `run_dir` gives the zoo
    (with its size), loss, encoder and augmentations (by default the recipe's) and epochs. A finished run
    there is reused, an interrupted one resumed, a missing one trained with `configure`'s recipe (the
    CPU recipe for the zoo unless `recipe` names another). A finished run in an `out` of the
    caller's is used as it is, whatever it was trained with, so a notebook can be pointed at any run.
    """
    if out and (Path(out) / "result.json").is_file():
        return load_run(out)
    LossConfig.named(loss)  # bad names fail before any work
    if augment:
        AugmentConfig.named(augment)
    if encoder:
        named_settings(encoder)
    found = ensure_zoo(zoo, runs, quick_run, device, progress, size)
    config = configure(found, recipe, loss, encoder, epochs or None, augment=augment, quick=quick_run, device=device)
    path = _run_path(zoo, runs, size, quick_run, out, loss, recipe_encoder(config), config.augment.name, epochs)
    return train(found, path, config, device=device, progress=progress)


def plan(zoo: str, runs="runs", size: str = "full", *, out: str = "", loss: str = "E_cD", encoder: str = "",
         augment: str = "", epochs: int = 0, recipe: str = "", device: str = "auto") -> str:
    """What `ensure_run` with these arguments will do, and how long it will take here, before it does it:
    the zoo found or to be built (with `hrlib.zoos.estimate.estimate`'s measured time), the run found,
    to be resumed or to be trained (with `estimate_epoch_seconds`). Takes seconds to a minute."""
    from hrlib.hyper.train import estimate_epoch_seconds
    from hrlib.zoos.estimate import _duration, estimate

    quick_run = size == "quick"
    lines = []
    if Path(zoo).is_dir():
        found = load_zoo(zoo, verify=False)
        layout, n_models, n_checkpoints = found.layout, found.n_models, len(found.epochs)
        properties = found.properties
        lines.append(f"zoo: {zoo}, found: {n_models} models × {n_checkpoints} checkpoints")
    else:
        preset = sized(get_preset(zoo), size)
        where = zoo_dir(zoo, runs, size)
        layout = arch.layout_of(preset.architecture)
        properties = pd.DataFrame({"seed": [spec.seed for spec in preset.specs()]})
        n_models = len(properties)
        n_checkpoints = len(preset.checkpoint_epochs or range(preset.epochs + 1))
        what = f"{preset.name} at {size} size: {n_models} models × {n_checkpoints} checkpoints"
        if where.exists():
            lines.append(f"zoo: {what}, found in {where}")
        else:
            lines.append(f"zoo: {what}, to be built into {where}; the estimate measured here:")
            lines += ["  " + line for line in str(estimate(preset, device)).splitlines()]
    zoo_like = SimpleNamespace(layout=layout, n_models=n_models, properties=properties)  # what the recipe asks of a zoo
    config = configure(zoo_like, recipe, loss, encoder, epochs or None, augment=augment, quick=quick_run, device=device)
    encoder = recipe_encoder(config)
    path = _run_path(zoo, runs, size, quick_run, out, loss, encoder, config.augment.name, epochs)
    done = 0
    if (path / "result.json").is_file():
        return "\n".join(lines + [f"hyper-representation: found, finished, in {path}"])
    if (path / "history.csv").is_file():
        done = len(read_history(path / "history.csv"))
    n_train = split_sizes(n_models, config.split_fractions)[0] * n_checkpoints
    seconds = estimate_epoch_seconds(layout, n_models, n_checkpoints, config, device)
    left = config.epochs - done
    lines.append(f"hyper-representation: {config.loss.name}, {encoder}, "
                 f"{config.epochs} epochs ({left} to go{f', resuming {path}' if done else ''}) on {n_train:,} "
                 f"training checkpoints into {path}: about {_duration(seconds)} per epoch here, "
                 f"{_duration(seconds * left)} in all")
    return "\n".join(lines)
