"""The steps the notebooks share: a zoo and a trained hyper-representation, built once under RUNS/.

Notebooks hand results to each other only through files: `ensure_zoo` builds a preset into
``RUNS/zoos/`` or opens the one built before; `ensure_run` trains a hyper-representation into
``RUNS/hr/`` or resumes or reuses the run found there. Either refuses a directory that holds
something of another configuration rather than mixing the two.
"""

from __future__ import annotations

import json
from pathlib import Path

from hrlib.hyper.augment import AugmentConfig
from hrlib.hyper.config import configure
from hrlib.hyper.losses import LossConfig
from hrlib.hyper.models import named_settings
from hrlib.hyper.runs import Run, load_run, run_dir
from hrlib.hyper.train import train
from hrlib.zoos.build import create_zoo
from hrlib.zoos.presets import get_preset, quick
from hrlib.zoos.zoo import Zoo, load_zoo


def ensure_zoo(zoo: str, runs="runs", quick_run: bool = False, device: str = "auto", progress: bool = True) -> Zoo:
    """The zoo a notebook or pipeline step asks for: an existing zoo directory as it is, or a preset
    built once into ``RUNS/zoos/NAME`` (``NAME-quick`` for the smoke size) and opened from there."""
    if Path(zoo).is_dir():
        return load_zoo(zoo)
    preset = get_preset(zoo)
    if quick_run:
        preset = quick(preset)
    out = Path(runs) / "zoos" / (preset.name + ("-quick" if quick_run else ""))
    if out.exists():
        found = load_zoo(out)
        if found.manifest.get("config") != json.loads(json.dumps(preset.to_dict(), default=str)):
            raise ValueError(f"{out} holds a zoo of a different configuration than {preset.name!r} asks for; "
                             "remove it to rebuild")
        return found
    return create_zoo(preset, out, device=device, progress=progress)


def ensure_run(zoo: str, runs="runs", quick_run: bool = False, *, out: str = "", loss: str = "E_cD",
               encoder: str = "Att_N+t", augment: str = "P,E", epochs: int = 0, recipe: str = "",
               device: str = "auto", progress: bool = True) -> Run:
    """The hyper-representation a notebook asks for, trained once on the zoo `ensure_zoo` gives.

    The run lives in `out` or, by default, in ``RUNS/hr/`` under the name `run_dir` gives the zoo,
    loss, encoder, augmentations and epochs. A finished run there is reused, an interrupted one
    resumed, a missing one trained with `configure`'s recipe (the CPU recipe for the zoo unless
    `recipe` names another). A finished run in an `out` of the caller's is used as it is, whatever
    it was trained with, so a notebook can be pointed at any run.
    """
    if out and (Path(out) / "result.json").is_file():
        return load_run(out)
    LossConfig.named(loss), named_settings(encoder), AugmentConfig.named(augment)  # bad names fail before any work
    found = ensure_zoo(zoo, runs, quick_run, device, progress)
    config = configure(found, recipe, loss, encoder, epochs or None, augment=augment, quick=quick_run, device=device)
    path = Path(out) if out else run_dir(runs, zoo, quick_run, loss, encoder, augment, epochs)
    return train(found, path, config, device=device, progress=progress)
