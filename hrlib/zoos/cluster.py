"""Zoo generation on a Ray cluster: the shards of a `hrlib.zoos.build.Build` as Ray tasks.

`create_zoo_ray` runs every shard that its `Build` reports missing as one Ray task and merges them
with `Build.finish`, so the zoo is the one `create_zoo` builds on one machine, bit for bit: a
shard's models, seeds and data are fixed by the preset, never by where or in which order it runs.

Where the work and the files live:

- The driver loads the images once and puts them into Ray's object store; a task returns its
  shard's arrays and the driver writes them (atomically, as each one arrives) into its own
  ``.DIR.partial/``. Workers therefore need neither the data files nor a file system shared with
  the driver, and a worker that dies leaves no half-written file.
- A task asks for one GPU when the cluster has GPUs (and ``device`` is not "cpu"), else for
  ``cpus_per_task`` CPUs, and sets torch's thread count to the CPUs it was given: torch's default
  of one thread per core makes tasks sharing a node oversubscribe it.
- Ray retries a task whose worker died (``max_retries``) and one that raised (``retry_exceptions``).
  A shard that still fails is reported after every other shard is saved; rerunning the same
  command then trains only the shards that are missing.

Ray is an optional extra (``pip install 'hrlib[ray]'``); nothing here imports it at import time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import numpy as np

from hrlib.errors import RayUnavailable, ShardsFailed, require
from hrlib.zoos.build import Build, load_data, train_shard
from hrlib.zoos.presets import Preset, get_preset
from hrlib.zoos.zoo import Zoo

log = logging.getLogger(__name__)


def require_ray():
    return require("ray", "ray", "running on Ray")


def _run_shard(train, preset: Preset, index: int, device: str, data) -> tuple[dict[str, np.ndarray], str]:
    """The body of one Ray task: limit torch to this task's CPUs, train the shard, say where and how long."""
    import ray
    import torch

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
    started = time.perf_counter()
    arrays = train(preset, index, device, data=data)
    where = f"{time.perf_counter() - started:.1f} s by pid {os.getpid()} on {ray.util.get_node_ip_address()}"
    return arrays, where


@contextlib.contextmanager
def connect(address: str | None = None):
    """Use the process's Ray connection if it has one, else connect to `address` (None: a new
    local cluster) for the duration of the block."""
    ray = require_ray()
    if ray.is_initialized():  # a notebook's or a test's own cluster: leave it running
        yield ray
        return
    local = address is None and not os.environ.get("RAY_ADDRESS")
    try:
        if local:
            ray.init(include_dashboard=False, configure_logging=False)
        else:
            # Workers elsewhere may hold another hrlib version or none: ship the driver's package, so
            # every shard runs the same code.
            package = str(Path(__file__).resolve().parents[1])  # the hrlib package
            ray.init(address=address, runtime_env={"py_modules": [package]}, configure_logging=False)
    except Exception as err:  # Ray raises ConnectionError, or a bare Exception when its node fails to start
        ray.shutdown()
        where = "a local Ray" if local else f"the Ray cluster at {address or os.environ['RAY_ADDRESS']}"
        raise RayUnavailable(f"could not start or reach {where}: {str(err).strip().splitlines()[0]}") from err
    try:
        yield ray
    finally:
        ray.shutdown()


def check_options(device: str, cpus_per_task: int, max_retries: int):
    """Refuse bad options before anything is written or started."""
    if str(device) not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device {device!r} on Ray: use auto, cpu or cuda (Ray assigns each task its GPU)")
    if cpus_per_task < 1:
        raise ValueError(f"--cpus-per-task must be at least 1, got {cpus_per_task}")
    if max_retries < 0:
        raise ValueError(f"--retries must be 0 or more, got {max_retries}")


def task_resources(ray, device: str, cpus_per_task: int) -> tuple[dict, str]:
    """Ray resources for one shard task and the torch device it trains on."""
    gpus = ray.cluster_resources().get("GPU", 0)
    if device == "cuda" and not gpus:
        raise ValueError("--device cuda was asked for, but the Ray cluster has no GPUs")
    if gpus and device != "cpu":
        return {"num_gpus": 1, "num_cpus": 1}, "cuda"  # Ray sets CUDA_VISIBLE_DEVICES per task
    biggest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]), default=0)
    if cpus_per_task > biggest:
        log.warning("no node of the cluster has %d CPUs (the largest has %g): tasks wait until one joins",
                    cpus_per_task, biggest)
    return {"num_cpus": cpus_per_task}, "cpu"


def create_zoo_ray(
    preset: Preset | str,
    out,
    address: str | None = None,
    *,
    device: str = "auto",
    cpus_per_task: int = 1,
    max_retries: int = 3,
    progress: bool = True,
    train=train_shard,
) -> Zoo:
    """Build a preset's zoo into `out` with its missing shards running as Ray tasks.

    address: a Ray cluster ("auto", "HOST:6379", "ray://HOST:10001"); None starts a local one,
        unless this process is already connected (then that connection is used and kept).
    device: "auto" (one GPU per task when the cluster has GPUs, else CPUs), "cpu" or "cuda".
    cpus_per_task: CPUs per task on a CPU cluster; torch uses as many threads.
    max_retries: how often Ray reruns a shard whose worker died or which raised.
    train: the function that trains one shard, ``train(preset, index, device, data=...)``;
        `build.train_shard` unless a caller wraps it.
    """
    require_ray()
    device = str(device)
    check_options(device, cpus_per_task, max_retries)
    preset = get_preset(preset) if isinstance(preset, str) else preset
    with Build(preset, out) as build:
        if len(build.shards) == 1:
            log.warning("%s makes a single shard, so only one task can run; pass --shard-size to spread it",
                        preset.name)
        return build.run(lambda: _run_missing(build, train, address, device, cpus_per_task, max_retries, progress))


def _run_missing(build: Build, train, address, device: str, cpus_per_task: int, max_retries: int, progress: bool):
    """Train the build's missing shards as Ray tasks, saving each as it arrives; `ShardsFailed` names
    the ones that still failed after Ray's retries, once every other one is saved."""
    from tqdm.auto import tqdm

    preset, missing = build.preset, build.missing
    # A notebook's or a test's connection outlives this call; one this call opens ends with it
    shared = require_ray().is_initialized()
    with connect(address) as ray:
        resources, task_device = task_resources(ray, device, cpus_per_task)
        task = ray.remote(_run_shard).options(max_retries=max_retries, retry_exceptions=True, **resources)
        data = ray.put(load_data(preset))
        pending = {task.remote(train, preset, i, task_device, data): i for i in missing}
        failed = {}
        sizes = {i: len(build.shards[i]) for i in missing}
        bar = tqdm(total=sum(sizes.values()), desc=f"zoo {preset.name} on Ray", unit="model", disable=not progress)
        try:
            while pending:
                [ref], _ = ray.wait(list(pending), num_returns=1)
                index = pending.pop(ref)
                try:
                    arrays, where = ray.get(ref)
                except ray.exceptions.RayError as err:
                    failed[index] = err
                    log.error("shard %d failed after %d retries: %s", index, max_retries, err)
                    continue
                build.save(index, arrays)
                log.info("shard %d: %d models trained in %s", index, sizes[index], where)
                bar.update(sizes[index])
        finally:
            bar.close()
            # Interrupted: stop the work nobody will collect. Leaving a connection this call opened
            # ends its job, and Ray then stops the job's tasks itself; cancelling them here as well
            # (with force) races with a task that finishes at that moment and can abort Ray's core.
            if shared:
                for ref in pending:
                    ray.cancel(ref)
    if failed:
        first = next(iter(failed.values()))
        raise ShardsFailed(
            f"{len(failed)} of {len(missing)} shards failed after {max_retries} retries "
            f"(shards {sorted(failed)}; first error: {str(first).strip().splitlines()[-1]}); "
            f"the {len(missing) - len(failed)} others are saved in {build.work}: rerun to resume"
        )
