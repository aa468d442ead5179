"""Named zoo recipes and `create_zoo`, which builds one shard at a time and resumes after interruption.

A preset lists its models (`Preset.specs`) and how to train them. `create_zoo` cuts that list into
shards of `shard_size` models, trains each shard as one vectorized population, writes each finished
shard to ``.DIR.partial/`` atomically, and merges them into the zoo only when all are there, so a
rerun after an interruption trains only the missing shards and no half-written zoo ever appears.
Since the shards are fixed by the preset, not by the machine, any order of running them (one
process, several, a cluster) gives the same zoo.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import shutil
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hrlib import architectures as arch
from hrlib import data as datasets
from hrlib.population import FACTORS, ModelSpec, pick_device, train_population
from hrlib.zoo import Zoo, load_zoo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    """A zoo recipe: architecture, data, training schedule and the generating factors of its models.

    `fixed` holds the factors shared by every model; `grid` the varied ones (every combination is
    trained), each combination with `seeds` seeds: 1..seeds, or drawn at random when `random_seeds`.
    `n_models` keeps a subset (the first seeds of a seed zoo, a seeded sample of a grid).
    """

    name: str
    architecture: str
    dataset: str
    epochs: int
    batch_size: int
    fixed: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    seeds: int = 1
    random_seeds: bool = False
    n_models: int | None = None
    checkpoint_epochs: tuple[int, ...] | None = None
    data_options: dict = field(default_factory=dict)
    shard_size: int = 1000
    description: str = ""

    def specs(self) -> list[ModelSpec]:
        configs = [dict(zip(self.grid, values)) for values in itertools.product(*self.grid.values())]
        rng = np.random.default_rng(hash_name(self.name))
        specs = []
        for config in configs:
            seeds = rng.integers(1, 2**31 - 1, self.seeds) if self.random_seeds else range(1, self.seeds + 1)
            specs += [ModelSpec(seed=int(s), **{**self.fixed, **config}) for s in seeds]
        if self.n_models is not None and self.n_models < len(specs):
            if self.grid:
                keep = np.sort(np.random.default_rng(0).choice(len(specs), self.n_models, replace=False))
                specs = [specs[i] for i in keep]
            else:
                specs = specs[: self.n_models]
        return specs

    @property
    def checkpoints(self) -> list[int]:
        return list(range(self.epochs + 1)) if self.checkpoint_epochs is None else list(self.checkpoint_epochs)

    def override(self, models: int | None = None, epochs: int | None = None, **changes) -> "Preset":
        """A copy with fewer models or epochs (checkpoint schedules shrink proportionally)."""
        if models is not None:
            if models < 1:
                raise ValueError(f"models must be at least 1, got {models}")
            changes["n_models"] = models
        if epochs is not None:
            if epochs < 1:
                raise ValueError(f"epochs must be at least 1, got {epochs}")
            changes["epochs"] = epochs
            if self.checkpoint_epochs is not None:
                scaled = {round(e * epochs / self.epochs) for e in self.checkpoint_epochs}
                changes["checkpoint_epochs"] = tuple(sorted(scaled))
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def hash_name(name: str) -> int:
    """A stable (not per-process salted) hash of a preset name, for its seed draws."""
    return zlib.crc32(name.encode())


TETRIS = dict(architecture="tetris_mlp", dataset="tetris", epochs=75, batch_size=16)
TETRIS_FIXED = dict(activation="tanh", init="kaiming_uniform", optimizer="adam", lr=1e-3, weight_decay=0.0)
HYP_GRID = dict(
    activation=("tanh", "relu"),
    init=("uniform", "normal", "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform"),
    lr=(1e-3, 1e-4, 1e-5),
)
DIGITS = dict(architecture="digits_mlp", dataset="digits", epochs=50, batch_size=32)

PRESETS = {
    p.name: p
    for p in [
        Preset("tetris_seed", **TETRIS, fixed=TETRIS_FIXED, seeds=1000,
               description="tetris MLP, seeds 1-1000, fixed hyper-parameters"),
        Preset("tetris_hyp", **TETRIS, fixed=dict(optimizer="adam"), grid=HYP_GRID, seeds=100,
               description="tetris MLP, 2 activations × 6 inits × 3 learning rates × seeds 1-100"),
        Preset("digits_seed", **DIGITS, fixed=TETRIS_FIXED, seeds=1000,
               description="8×8 digits MLP, seeds 1-1000, fixed hyper-parameters"),
        Preset("digits_hyp", **DIGITS, fixed=dict(optimizer="adam"), grid=HYP_GRID, seeds=100,
               description="8×8 digits MLP, 2 activations × 6 inits × 3 learning rates × seeds 1-100"),
    ]
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}") from None


# ---- building ------------------------------------------------------------------------------------


def shards(preset: Preset) -> list[range]:
    n = len(preset.specs())
    return [range(start, min(start + preset.shard_size, n)) for start in range(0, n, preset.shard_size)]


def train_shard(preset: Preset, index: int, device="cpu", progress=None) -> dict[str, np.ndarray]:
    """Train shard `index` of a preset; returns its weights, metrics and divergence epochs."""
    members = shards(preset)[index]
    specs = preset.specs()[members.start : members.stop]
    train = datasets.load(preset.dataset, "train", **preset.data_options)
    test = datasets.load(preset.dataset, "test", **preset.data_options)
    result = train_population(
        preset.architecture, specs, train, test, epochs=preset.epochs, batch_size=preset.batch_size,
        checkpoint_epochs=preset.checkpoints, device=pick_device(device), dropout_seed=index, progress=progress,
    )
    return {"weights": result.weights, "diverged": result.diverged, **{f"metric_{k}": v for k, v in result.metrics.items()}}


def shard_work(preset: Preset, index: int) -> int:
    """Progress units (group-epochs) of one shard, for a progress bar."""
    members = shards(preset)[index]
    groups = {s.group for s in preset.specs()[members.start : members.stop]}
    return len(groups) * preset.epochs


def save_shard(arrays: dict, path: Path):
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def partial_dir(out: Path) -> Path:
    return out.with_name(f".{out.name}.partial")


def prepare(preset: Preset, out) -> tuple[Path, list[int]]:
    """Open (or start) the work directory of a build; returns it and the shards still missing.

    A work directory left by a build of a different configuration is refused, not mixed in.
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or choose another --out")
    work = partial_dir(out)
    work.mkdir(parents=True, exist_ok=True)
    plan = work / "plan.json"
    config = json.dumps(preset.to_dict(), sort_keys=True, default=str)
    if plan.exists() and plan.read_text() != config:
        raise ValueError(
            f"{work} holds an interrupted build of a different configuration; delete it to start over"
        )
    plan.write_text(config)
    missing = [i for i in range(len(shards(preset))) if not (work / f"shard-{i:05d}.npz").exists()]
    return work, missing


def create_zoo(preset: Preset | str, out, device: str = "auto", progress: bool = True) -> Zoo:
    """Build a preset's zoo into `out`, resuming from the shards an interrupted run left."""
    from tqdm.auto import tqdm

    preset = get_preset(preset) if isinstance(preset, str) else preset
    out = Path(out)
    work, missing = prepare(preset, out)
    if len(missing) < len(shards(preset)):
        log.info("resuming %s: %d of %d shards already trained", out, len(shards(preset)) - len(missing), len(shards(preset)))
    started = time.perf_counter()
    with tqdm(total=sum(shard_work(preset, i) for i in missing), desc=f"zoo {preset.name}", unit="epoch",
              disable=not progress) as bar:
        for i in missing:
            save_shard(train_shard(preset, i, device, progress=bar.update), work / f"shard-{i:05d}.npz")
    return merge_shards(preset, out, seconds=time.perf_counter() - started)


def merge_shards(preset: Preset, out, seconds: float | None = None) -> Zoo:
    """Assemble the finished shards in the work directory into the zoo at `out`, atomically."""
    out = Path(out)
    work = partial_dir(out)
    parts = [dict(np.load(work / f"shard-{i:05d}.npz")) for i in range(len(shards(preset)))]
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    zoo = assemble(preset, arrays, seconds)
    zoo.save(out)
    shutil.rmtree(work)
    return load_zoo(out)


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


def describe(zoo: Zoo) -> str:
    """A human summary: size, accuracy range, hyper-parameter values and counts, models dropped."""
    props = zoo.properties
    m, c, p = zoo.weights.shape
    last = props[props["epoch"] == props["epoch"].max()]
    lines = [
        repr(zoo),
        f"  data set: {zoo.manifest.get('dataset', {}).get('name')}   epochs: {zoo.epochs.min()}..{zoo.epochs.max()}"
        f" ({c} checkpoints)",
        f"  final test accuracy: min {last.test_acc.min():.3f}  median {last.test_acc.median():.3f}"
        f"  max {last.test_acc.max():.3f}",
        f"  final generalization gap: min {last.ggap.min():.3f}  median {last.ggap.median():.3f}"
        f"  max {last.ggap.max():.3f}",
        f"  models dropped (diverged): {zoo.manifest.get('models_dropped', 0)} of {zoo.manifest.get('models_trained', m)}",
        "  generating factors:",
    ]
    per_model = props[props["epoch"] == props["epoch"].min()]
    for factor in FACTORS:
        if factor not in per_model:
            continue
        counts = per_model[factor].value_counts().sort_index()
        if factor == "seed" and len(counts) > 6:
            lines.append(f"    seed: {len(counts)} distinct, {counts.index.min()}..{counts.index.max()}")
        else:
            lines.append(f"    {factor}: " + ", ".join(f"{k} ({v})" for k, v in counts.items()))
    if zoo.manifest.get("build_seconds"):
        lines.append(f"  built in {zoo.manifest['build_seconds']:.1f} s")
    return "\n".join(lines)
