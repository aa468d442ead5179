"""Building a preset's zoo: shard by shard, resumable after interruption, merged atomically.

`create_zoo` cuts a preset's models into shards of `shard_size` models, trains each shard as one
vectorized population, writes each finished shard to ``.DIR.partial/`` atomically, and merges them
into the zoo only when all are there, so a rerun after an interruption trains only the missing
shards and no half-written zoo ever appears. Since the shards are fixed by the preset, not by the
machine, any order of running them (one process, several, a Ray cluster: `hrlib.zoos.cluster`)
gives the same zoo. `Build` holds the steps every such runner shares: open the work directory,
list the missing shards, save a shard, merge.

Each shard file records which shard it is (its index and model range), the shape of its weights and
the sha256 of the build's plan, and is checked against them when a build resumes and again when it
merges: a shard copied over another, cut short, of another build, or with NaN weights in a model
that did not diverge is named in a warning, removed and trained again, never merged.

Shape legend: m models, c checkpoints, p params.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from hrlib.datasets import catalog
from hrlib.files import atomic, check_owned, claim_dir, kind_of, locked, mark, new_output, remove_owned, write_text
from hrlib.zoos import architectures as arch
from hrlib.zoos.estimate import check_room
from hrlib.zoos.population import FACTORS, metric_names, pick_device, train_population
from hrlib.zoos.presets import Preset, get_preset
from hrlib.zoos.zoo import Zoo, load_zoo

log = logging.getLogger(__name__)

RECORDS = ("shard", "models", "shape", "plan")  # what a shard file says about itself, beside its arrays
MERGES = 2  # a shard damaged while the others trained is trained once more before a build gives up


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


def lock_file(out: Path) -> Path:
    """The lock a build of `out` holds: ``.NAME.lock`` beside it, gone when the build ends."""
    out = Path(out)
    return out.with_name(f".{out.name}.lock")


def _is_legacy_work(work: Path) -> bool:
    """Whether `work` is a build's work directory written before they carried a marker."""
    names = [p.name for p in work.iterdir()]
    return "plan.json" in names and all(re.fullmatch(r"plan\.json|shard-\d{5}\.npz|\.tmp-.*", n) for n in names)


class Build:
    """One build of a preset into `out`: its work directory, the shards still missing, save and merge.

    Opening a build checks everything it can before any training: `out` must not exist, its folder
    must be writable and hold room for the zoo, and no other process may be building it (the build
    holds a lock until it is closed; use it as a context manager). A work directory left by a build of
    a different configuration is refused (never mixed in), one of the same configuration resumed, and a
    shard in it that fails its checks is named, removed and trained again. Nothing is written but the
    lock until the first shard is saved.
    """

    def __init__(self, preset: Preset, out):
        self.preset = preset
        self.out = new_output(out)
        self.work = partial_dir(self.out)
        self.shards = shards(preset)
        self.plan = json.dumps(preset.to_dict(), sort_keys=True, default=str)
        self.plan_sha256 = hashlib.sha256(self.plan.encode()).hexdigest()
        self.shape = (len(preset.checkpoints), arch.layout_of(preset.architecture).n_params)  # of one model
        self.metrics = [f"metric_{name}" for name in metric_names(preset.architecture)]
        saved = sum(p.stat().st_size for p in self.work.glob("shard-*.npz")) if self.work.is_dir() else 0
        check_room(preset, self.out.parent, saved)
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(locked(lock_file(self.out), f"the zoo {self.out}"))
        try:
            new_output(self.out)  # a build that held the lock until now may have finished it
            if self.work.exists():
                self._check_work()
            self.missing = [i for i in range(len(self.shards)) if self._read(i) is None]
        except BaseException:
            self.close()
            raise
        if len(self.missing) < len(self.shards):
            log.info("resuming %s: %d of %d shards already trained", self.out,
                     len(self.shards) - len(self.missing), len(self.shards))
        self.started = time.perf_counter()

    def close(self):
        """Release the build's lock; the shards saved so far stay, for a later build to resume."""
        self._lock.close()

    def __enter__(self) -> "Build":
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_work(self):
        """Refuse a work directory that is not this build's: another kind of folder, or another plan."""
        if kind_of(self.work) != "build":
            if not (self.work.is_dir() and _is_legacy_work(self.work)):
                check_owned(self.work, "build")  # refused, naming what is there
            mark(self.work, "build")  # adopted
        plan_file = self.work / "plan.json"
        if plan_file.is_file() and plan_file.read_bytes() != self.plan.encode():
            raise ValueError(f"{self.work} holds an interrupted build of a different configuration (its plan.json); "
                             "rerun with that configuration to resume it, or delete the folder to start over")

    def shard_file(self, index: int) -> Path:
        return self.work / f"shard-{index:05d}.npz"

    def _problem(self, index: int, arrays: dict) -> str | None:
        """What makes `arrays` not shard `index` of this build, in a few words, or None."""
        if not {"weights", "diverged", *RECORDS} <= set(arrays):
            return "records no index, models or plan (written by an older hrlib, or not a shard)"
        if str(arrays["plan"]) != self.plan_sha256:
            return "belongs to a build of another configuration"
        members = self.shards[index]
        shard, (start, stop) = int(arrays["shard"]), (int(v) for v in arrays["models"])
        if (shard, start, stop) != (index, members.start, members.stop):
            return (f"holds shard {shard} (models {start}..{stop - 1}), not shard {index} "
                    f"(models {members.start}..{members.stop - 1}): a copy of another shard?")
        expected = (len(members), *self.shape)
        weights, diverged = arrays["weights"], arrays["diverged"]
        if weights.shape != expected or tuple(arrays["shape"]) != expected or weights.dtype != np.float32:
            return f"holds {weights.dtype} weights of shape {weights.shape}, not float32 {expected}"
        metrics = {k for k in arrays if k.startswith("metric_")}
        if metrics != set(self.metrics) or any(arrays[k].shape != expected[:2] for k in metrics):
            return "does not hold one value of each metric per model and checkpoint"
        if diverged.shape != expected[:1] or not np.issubdtype(diverged.dtype, np.integer):
            return f"holds divergence epochs of shape {diverged.shape}, not ({expected[0]},)"
        broken = np.flatnonzero(~np.isfinite(weights).reshape(len(weights), -1).all(1) & (diverged < 0))
        if len(broken):
            return (f"has NaN or inf weights in {len(broken)} model(s) not marked diverged "
                    f"(models {', '.join(str(members.start + i) for i in broken[:5])})")
        return None

    def _read(self, index: int) -> dict | None:
        """Shard `index`'s arrays once they pass every check; a shard that fails one is named, removed
        and left to be trained again (None), as is a missing one."""
        path = self.shard_file(index)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
            wrong = self._problem(index, arrays)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError, AttributeError, TypeError) as err:
            arrays, wrong = None, f"is damaged ({str(err).strip() or type(err).__name__})"
        if wrong is None:
            return arrays
        log.warning("%s %s; it is removed and shard %d will be trained again", path, wrong, index)
        path.unlink()
        return None

    def save(self, index: int, arrays: dict[str, np.ndarray]):
        """Write one trained shard with its records, atomically; the first one creates the work directory."""
        weights = arrays["weights"]
        members = self.shards[index]
        arrays = {**arrays, "shard": np.int64(index), "models": np.array([members.start, members.stop]),
                  "shape": np.array(weights.shape), "plan": np.array(self.plan_sha256)}
        wrong = self._problem(index, arrays)
        if wrong is not None:
            raise ValueError(f"the trained shard {index} {wrong}; it is not saved")
        claim_dir(self.work, "build")
        if not (self.work / "plan.json").exists():
            write_text(self.work / "plan.json", self.plan)
        with atomic(self.shard_file(index)) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    def run(self, train_missing) -> Zoo:
        """Train the missing shards (`train_missing()` saves each) and merge them; a shard that fails its
        check at the merge is trained once more."""
        for _ in range(MERGES):
            if self.missing:
                train_missing()
            zoo = self.finish()
            if zoo is not None:
                return zoo
        raise ValueError(f"{self.work}: shards {self.missing} failed their checks again right after they were "
                         "trained (named above); check the disk, then rerun to resume")

    def finish(self) -> Zoo | None:
        """Merge the shards into the zoo at `out`, atomically, remove the work directory and release the
        lock. Each shard is checked once more as it is merged; when one fails, nothing is written and
        None is returned, with the failed shards (removed) in `missing`, to be trained again."""
        n = self.shards[-1].stop
        merged = {"weights": np.empty((n, *self.shape), np.float32), "diverged": np.empty(n, np.int64),
                  **{k: np.empty((n, self.shape[0]), np.float32) for k in self.metrics}}
        self.missing = []
        for i, members in enumerate(self.shards):
            arrays = self._read(i)
            if arrays is None:
                self.missing.append(i)
                continue
            for key, values in merged.items():
                values[members.start : members.stop] = arrays[key]
        if self.missing:
            return None
        assemble(self.preset, merged, time.perf_counter() - self.started).save(self.out)
        remove_owned(self.work, "build")
        self.close()
        return load_zoo(self.out)


def create_zoo(preset: Preset | str, out, device: str = "auto", progress: bool = True) -> Zoo:
    """Build a preset's zoo into `out`, resuming from the shards an interrupted run left."""
    from tqdm.auto import tqdm

    preset = get_preset(preset) if isinstance(preset, str) else preset
    pick_device(device)  # an unusable device fails now, before anything is trained
    data = functools.cache(lambda: load_data(preset))
    with Build(preset, out) as build:
        if build.missing:
            data()  # bad data options fail here, before anything is written

        def train_missing():
            with tqdm(total=sum(shard_work(preset, i) for i in build.missing), desc=f"zoo {preset.name}",
                      unit=" model-epochs", unit_scale=True, disable=not progress) as bar:
                for i in build.missing:
                    build.save(i, train_shard(preset, i, device, progress=bar.update, data=data()))

        return build.run(train_missing)


def _keep(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """`values[keep]` for ascending `keep`, moving the kept rows to the front in place rather than
    copying: a zoo's weights are the largest thing a build holds."""
    for j, i in enumerate(keep):
        if i != j:
            values[j] = values[i]
    return values[: len(keep)]


def assemble(preset: Preset, arrays: dict, seconds: float | None = None) -> Zoo:
    """A Zoo from trained arrays (reused, not copied): diverged models dropped and recorded, one property
    row per checkpoint."""
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
    return Zoo(_keep(arrays["weights"], keep), pd.DataFrame(columns), arch.layout_of(preset.architecture), manifest)
