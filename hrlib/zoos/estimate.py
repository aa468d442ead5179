"""What a zoo build will cost before it starts: its size, its disk, and its time on this machine.

`estimate` trains and evaluates a few of the preset's own models for a moment on this machine's
device and threads, and scales the rates it measures to the whole preset: every model trains on its
share of the training images for every epoch and is evaluated on the training and test images at
every checkpoint. The time is a rough figure (the first group of models stands for all, and a
machine shared with other work runs slower); the sizes are exact.

`check_room` refuses, before any work, a build that this machine's memory or free disk cannot hold.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from hrlib.zoos import architectures as arch
from hrlib.zoos.population import FACTORS, _evaluate, metric_names, model_chunks, pick_device, train_population
from hrlib.zoos.presets import Preset

CALIBRATION_STEPS = 20  # training steps of the calibration run, after one warm-up run
MAX_CALIBRATION_MODELS = 1000


@dataclasses.dataclass(frozen=True)
class Estimate:
    preset: str
    models: int
    checkpoints: int
    params: int
    shards: int
    train_images: int
    test_images: int
    weights_bytes: int
    memory_bytes: int
    device: str
    threads: int
    train_rate: float  # model-samples per second, training
    eval_rate: float  # model-samples per second, evaluation
    seconds: float

    def __str__(self) -> str:
        return "\n".join([
            f"{self.preset}: {self.models} models × {self.checkpoints} checkpoints × {self.params} params, "
            f"in {self.shards} shard(s); {self.train_images} training and {self.test_images} test images",
            f"  disk: {_size(self.weights_bytes)} of weights (about {_size(2 * self.weights_bytes)} while "
            f"the shards are merged), plus the properties table; memory: about {_size(self.memory_bytes)}",
            f"  measured here ({self.device}, {self.threads} thread(s)): {self.train_rate:,.0f} model-samples/s "
            f"training, {self.eval_rate:,.0f} evaluating",
            f"  estimated time: {_duration(self.seconds)}",
        ])


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def estimate(preset: Preset, device: str = "auto") -> Estimate:
    """Size, disk and time of building `preset` here, from a short calibration run of its own models."""
    from hrlib.zoos.build import load_data, shards  # the build imports this module to check its room

    device = pick_device(device)
    (x_train, y_train), (x_test, y_test) = load_data(preset)
    specs = preset.specs()
    # Two chunks of the models that train in lockstep here (all of them where the device does not
    # chunk, up to MAX_CALIBRATION_MODELS), on enough images for CALIBRATION_STEPS steps each.
    chunk = model_chunks(preset.architecture, MAX_CALIBRATION_MODELS, preset.batch_size, device)[0].stop
    group = [s for s in specs if s.group == specs[0].group][: min(2 * chunk, MAX_CALIBRATION_MODELS)]
    n = min(CALIBRATION_STEPS * preset.batch_size, len(y_train))
    small = (x_train[:n], y_train[:n])
    calibrate = functools.partial(train_population, preset.architecture, train=small, test=small, epochs=1,
                                  batch_size=preset.batch_size, device=device)
    calibrate(group[:2])  # warm-up: one-time costs (kernel selection, first allocations) stay out of the rates
    started = time.perf_counter()
    calibrate(group)
    total = time.perf_counter() - started
    layout = arch.layout_of(preset.architecture)
    flat = torch.zeros(len(group), layout.n_params, device=device)
    data = [torch.as_tensor(a, device=device) for a in (*small, *small)]
    started = time.perf_counter()
    with torch.no_grad():
        _evaluate(preset.architecture, flat, group[0].activation, data)
    evaluation = time.perf_counter() - started
    eval_rate = len(group) * 2 * n / evaluation
    train_rate = len(group) * n / max(total - 2 * evaluation, 1e-9)
    fraction = float(np.mean([s.train_fraction for s in specs]))
    checkpoints = len(preset.checkpoints)
    seconds = len(specs) * (preset.epochs * fraction * len(y_train) / train_rate
                            + checkpoints * (len(y_train) + len(y_test)) / eval_rate)
    return Estimate(preset.name, len(specs), checkpoints, layout.n_params, len(shards(preset)), len(y_train),
                    len(y_test), 4 * len(specs) * checkpoints * layout.n_params, needs(preset)[0], str(device),
                    torch.get_num_threads(), train_rate, eval_rate, seconds)


def needs(preset: Preset) -> tuple[int, int]:
    """Bytes of memory and of disk that building `preset` takes at its peak: the build holds the whole
    zoo and its properties table while it merges the shards (and a shard's arrays twice while it trains
    one), and keeps the shards on disk until the zoo beside them is written."""
    m, c = len(preset.specs()), len(preset.checkpoints)
    metrics = len(metric_names(preset.architecture))
    row = 4 * (arch.layout_of(preset.architecture).n_params + metrics)  # one checkpoint's weights and metrics
    table = 8 * (metrics + len(FACTORS) + 3)  # its row of the properties table, with model, epoch, dataset
    shard = min(preset.shard_size, m) * c * row
    return m * c * (row + table) + 2 * shard, 2 * m * c * row


def machine_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_room(preset: Preset, folder, saved: int = 0):
    """Refuse a build of `preset` into `folder` that this machine's memory or the disk's free space there
    cannot hold (`saved`: bytes of shards an interrupted build already wrote), before any work."""
    memory, disk = needs(preset)
    disk = max(0, disk - saved)
    total, free = machine_memory(), shutil.disk_usage(folder).free
    if total is not None and memory > total:
        short = f"this machine has {_size(total)} of memory"
    elif disk > free:
        short = f"{Path(folder)} has {_size(free)} free"
    else:
        return
    m, c, p = len(preset.specs()), len(preset.checkpoints), arch.layout_of(preset.architecture).n_params
    raise ValueError(f"{preset.name} at {m:,} models × {c:,} checkpoints × {p:,} params is {_size(4 * m * c * p)} of "
                     f"weights; building it takes about {_size(memory)} of memory and {_size(disk)} of disk, but "
                     f"{short}; choose fewer --models or --epochs")
