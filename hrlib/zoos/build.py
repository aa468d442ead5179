"""Building a preset's zoo: shard by shard, resumable after interruption, merged atomically.

`create_zoo` cuts a preset's models into shards of `shard_size` models, trains each shard as one
vectorized population, writes each finished shard to ``.DIR.partial/`` atomically, and merges them
into the zoo only when all are there, so a rerun after an interruption trains only the missing
shards and no half-written zoo ever appears. Since the shards are fixed by the preset, not by the
machine, any order of running them (one process, several, a Ray cluster: `hrlib.zoos.cluster`)
gives the same zoo. `Build` holds the steps every such runner shares: open the work directory,
list the missing shards, save a shard, merge.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from hrlib.datasets import catalog
from hrlib.files import atomic, new_output, write_text
from hrlib.zoos import architectures as arch
from hrlib.zoos.population import FACTORS, pick_device, train_population
from hrlib.zoos.presets import Preset, get_preset
from hrlib.zoos.zoo import Zoo, load_zoo

log = logging.getLogger(__name__)


def shards(preset: Preset) -> list[range]:
    """The model indices of each shard, fixed by the preset."""
    n = len(preset.specs())
    return [range(start, min(start + preset.shard_size, n)) for start in range(0, n, preset.shard_size)]


def load_data(preset: Preset) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The preset's (train, test) images and labels."""
    return tuple(catalog.load(preset.dataset, split, **preset.data_options) for split in ("train", "test"))


def train_shard(preset: Preset, index: int, device="cpu", progress=None, data=None) -> dict[str, np.ndarray]:
    """Train shard `index` of a preset; returns its weights, metrics and divergence epochs.

    `data` is `load_data(preset)`, loaded here when not given (a cluster passes it in, so that its
    workers need no data files).
    """
    members = shards(preset)[index]
    specs = preset.specs()[members.start : members.stop]
    train, test = load_data(preset) if data is None else data
    result = train_population(
        preset.architecture, specs, train, test, epochs=preset.epochs, batch_size=preset.batch_size,
        checkpoint_epochs=preset.checkpoints, device=pick_device(device), dropout_seed=index, progress=progress,
    )
    return {"weights": result.weights, "diverged": result.diverged, **{f"metric_{k}": v for k, v in result.metrics.items()}}


def shard_work(preset: Preset, index: int) -> int:
    """Progress units of one shard: model-epochs."""
    return len(shards(preset)[index]) * preset.epochs


def partial_dir(out: Path) -> Path:
    """The work directory of a build of `out`: ``.NAME.partial`` beside it."""
    out = Path(out)
    return out.with_name(f".{out.name}.partial")


class Build:
    """One build of a preset into `out`: its work directory, the shards still missing, save and merge.

    Opening a build checks everything it can before any training: `out` must not exist and its
    folder must be writable; a work directory left by a build of a different configuration is
    refused (never mixed in), one of the same configuration resumed, and a damaged shard in it is
    named, removed and trained again. Nothing is written until the first shard is saved.
    """

    def __init__(self, preset: Preset, out):
        self.preset = preset
        self.out = new_output(out)
        self.work = partial_dir(self.out)
        self.plan = json.dumps(preset.to_dict(), sort_keys=True, default=str)
        plan_file = self.work / "plan.json"
        if plan_file.exists() and plan_file.read_text() != self.plan:
            raise ValueError(f"{self.work} holds an interrupted build of a different configuration; "
                             "delete it to start over")
        self.shards = shards(preset)
        self.missing = [i for i in range(len(self.shards)) if not self._intact(i)]
        if len(self.missing) < len(self.shards):
            log.info("resuming %s: %d of %d shards already trained", self.out,
                     len(self.shards) - len(self.missing), len(self.shards))
        self.started = time.perf_counter()

    def shard_file(self, index: int) -> Path:
        return self.work / f"shard-{index:05d}.npz"

    def _intact(self, index: int) -> bool:
        """Whether shard `index` is saved and readable; a damaged one is removed, to be trained again."""
        path = self.shard_file(index)
        if not path.exists():
            return False
        try:
            with zipfile.ZipFile(path) as archive:
                damaged = archive.testzip()  # the first member whose checksum fails, if any
                if damaged is None and not {"weights.npy", "diverged.npy"} <= set(archive.namelist()):
                    damaged = "its arrays"
        except (zipfile.BadZipFile, OSError) as err:
            damaged = str(err)
        if damaged is None:
            return True
        log.warning("%s is damaged (%s): shard %d will be trained again", path, damaged, index)
        path.unlink()
        return False

    def save(self, index: int, arrays: dict[str, np.ndarray]):
        """Write one trained shard, atomically; the first one creates the work directory."""
        self.work.mkdir(exist_ok=True)
        if not (self.work / "plan.json").exists():
            write_text(self.work / "plan.json", self.plan)
        with atomic(self.shard_file(index)) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    def finish(self) -> Zoo:
        """Assemble the finished shards into the zoo at `out`, atomically, and remove the work directory."""
        parts = [dict(np.load(self.shard_file(i))) for i in range(len(self.shards))]
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        assemble(self.preset, arrays, time.perf_counter() - self.started).save(self.out)
        shutil.rmtree(self.work)
        return load_zoo(self.out)


def create_zoo(preset: Preset | str, out, device: str = "auto", progress: bool = True) -> Zoo:
    """Build a preset's zoo into `out`, resuming from the shards an interrupted run left."""
    from tqdm.auto import tqdm

    preset = get_preset(preset) if isinstance(preset, str) else preset
    pick_device(device)  # an unusable device fails now, before anything is trained
    build = Build(preset, out)
    data = load_data(preset) if build.missing else None  # bad data options fail here, before anything is written
    with tqdm(total=sum(shard_work(preset, i) for i in build.missing), desc=f"zoo {preset.name}",
              unit=" model-epochs", unit_scale=True, disable=not progress) as bar:
        for i in build.missing:
            build.save(i, train_shard(preset, i, device, progress=bar.update, data=data))
    return build.finish()


def assemble(preset: Preset, arrays: dict, seconds: float | None = None) -> Zoo:
    """A Zoo from trained arrays: diverged models dropped and recorded, one property row per checkpoint."""
    specs = preset.specs()
    diverged = arrays["diverged"]
    keep = np.flatnonzero(diverged < 0)
    ckpts = preset.checkpoints
    m, c = len(keep), len(ckpts)
    columns = {"model": np.repeat(np.arange(m), c), "epoch": np.tile(ckpts, m)}
    for factor in FACTORS:
        columns[factor] = np.repeat([getattr(specs[i], factor) for i in keep], c)
    columns["dataset"] = preset.dataset
    for key, values in arrays.items():
        if key.startswith("metric_"):
            columns[key[len("metric_"):]] = values[keep].ravel()
    dropped = [{**dataclasses.asdict(specs[i]), "diverged_at_epoch": int(diverged[i])} for i in np.flatnonzero(diverged >= 0)]
    manifest = {
        "preset": preset.name,
        "description": preset.description,
        "architecture": preset.architecture,
        "dataset": {"name": preset.dataset, **preset.data_options},
        "config": preset.to_dict(),
        "epochs": ckpts,
        "models_trained": len(specs),
        "models_dropped": len(dropped),
        "dropped": dropped,
        "build_seconds": seconds,
    }
    return Zoo(arrays["weights"][keep], pd.DataFrame(columns), arch.layout_of(preset.architecture), manifest)
