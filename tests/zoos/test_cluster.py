"""Zoo generation on a real local Ray cluster: equal to one process, retried after a worker dies,
resumed after an interruption; and a clear error where Ray is not installed."""

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hrlib.zoos.cluster import ShardsFailed, create_zoo_ray
from hrlib.zoos.build import create_zoo, partial_dir, shards, train_shard
from hrlib.zoos.presets import get_preset

ROOT = Path(__file__).resolve().parents[2]
PRESET = get_preset("tetris_seed").override(models=40, epochs=3, shard_size=10)  # 4 shards


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster of two CPUs for the module (starting one costs seconds); its address."""
    ray = pytest.importorskip("ray")
    for attempt in (1, 2):
        try:
            # a soft limit of 4 workers keeps this process's idle workers alive while a second driver runs
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
                     _system_config={"num_workers_soft_limit": 4})
            break
        except Exception:  # Ray's node start has fixed deadlines (15 s for its agents) a busy machine can miss
            ray.shutdown()
            if attempt == 2:
                raise
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """PRESET built in this process as one shard: the zoo every Ray build must equal."""
    out = tmp_path_factory.mktemp("reference") / "zoo"
    return create_zoo(PRESET.override(shard_size=1000), out, device="cpu", progress=False)


def shard_file(out, index):
    return partial_dir(out) / f"shard-{index:05d}.npz"


def check_same_zoo(zoo, reference):
    np.testing.assert_array_equal(zoo.weights, reference.weights)  # bit for bit
    pd.testing.assert_frame_equal(zoo.properties, reference.properties)


def trained_shards(caplog) -> dict[int, int]:
    """Shard index -> pid of the worker that trained it, from the driver's log."""
    found = (re.match(r"shard (\d+): \d+ models trained in .* by pid (\d+)", r.getMessage()) for r in caplog.records)
    return {int(m[1]): int(m[2]) for m in found if m}


def train_or_die(marker: Path, doomed: int):
    """A shard trainer whose worker kills itself (SIGKILL) mid-shard the first time it trains `doomed`."""

    def train(preset, index, device, data=None):
        def progress(epochs):
            if index == doomed and not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)

        return train_shard(preset, index, device, progress=progress, data=data)

    return train


def test_ray_build_equals_one_process(cluster, reference, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="hrlib.zoos"):
        zoo = create_zoo_ray(PRESET, tmp_path / "zoo", progress=False)
    check_same_zoo(zoo, reference)
    ran = trained_shards(caplog)
    assert sorted(ran) == [0, 1, 2, 3]
    assert os.getpid() not in ran.values()  # trained by Ray workers, not in this process
    assert not partial_dir(tmp_path / "zoo").exists()


def test_a_killed_worker_is_retried(cluster, reference, tmp_path, caplog):
    marker = tmp_path / "died"
    with caplog.at_level(logging.INFO, logger="hrlib.zoos"):
        zoo = create_zoo_ray(PRESET, tmp_path / "zoo", progress=False, train=train_or_die(marker, doomed=2))
    dead = int(marker.read_text())  # the worker really died, mid-shard
    ran = trained_shards(caplog)
    assert sorted(ran) == [0, 1, 2, 3] and ran[2] != dead  # shard 2 was trained again, by a new worker
    check_same_zoo(zoo, reference)


def test_a_failed_shard_is_reported_and_a_rerun_trains_only_it(cluster, reference, tmp_path, caplog):
    out, marker = tmp_path / "zoo", tmp_path / "died"
    with pytest.raises(ShardsFailed, match=r"1 of 4 shards failed .*shards \[1\].* 3 others are saved"):
        create_zoo_ray(PRESET, out, progress=False, max_retries=0, train=train_or_die(marker, doomed=1))
    assert not out.exists()
    assert [shard_file(out, i).exists() for i in range(4)] == [True, False, True, True]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hrlib.zoos"):
        zoo = create_zoo_ray(PRESET, out, progress=False, max_retries=0, train=train_or_die(marker, doomed=1))
    assert sorted(trained_shards(caplog)) == [1]
    assert "resuming" in caplog.text and "3 of 4 shards already trained" in caplog.text
    check_same_zoo(zoo, reference)


def test_an_interrupted_cli_build_resumes_with_only_the_missing_shards(cluster, tmp_path, caplog):
    """Ctrl-C a `--ray ADDRESS` build (a second driver on the same cluster), then finish it."""
    # 12 shards of about a second each (10 tetris models train 10 epochs in 0.1 s), so that the build
    # is still running when the first shard is saved and the interruption arrives
    preset = get_preset("tetris_seed").override(models=120, epochs=100, shard_size=10)
    out = tmp_path / "zoo"
    cmd = [sys.executable, "-m", "hrlib", "zoo", "create", "tetris_seed", "--out", str(out), "--quiet",
           "--models", "120", "--epochs", "100", "--shard-size", "10", "--ray", cluster]
    # A child inherits an ignored SIGINT, and Python then installs no KeyboardInterrupt handler: some
    # tools that run before this test in the suite leave SIGINT ignored, so restore it as a shell would
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 600  # a loaded machine starts the driver's workers slowly
    while not any(shard_file(out, i).exists() for i in range(12)) and time.time() < deadline \
            and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "rerun the same command to resume" in stderr, stderr
    assert not out.exists()
    before = {i for i in range(12) if shard_file(out, i).exists()}
    assert 1 <= len(before) < 12, f"{len(before)} shards were saved before the interruption"
    with caplog.at_level(logging.INFO, logger="hrlib.zoos"):
        zoo = create_zoo_ray(preset, out, progress=False)
    assert set(trained_shards(caplog)) == set(range(12)) - before
    # the shards of the interrupted run are the ones a single process computes
    np.testing.assert_array_equal(zoo.weights[:10], train_shard(preset, 0)["weights"])
    np.testing.assert_array_equal(zoo.weights[-10:], train_shard(preset, len(shards(preset)) - 1)["weights"])


def test_without_ray_the_flag_says_how_to_install_it(tmp_path):
    shim = tmp_path / "shim" / "ray"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named ray (hidden by a test)')\n")
    env = {**os.environ, "PYTHONPATH": f"{shim.parent}{os.pathsep}{ROOT}"}
    out = tmp_path / "zoo"
    result = subprocess.run([sys.executable, "-m", "hrlib", "zoo", "create", "tetris_seed", "--out", str(out),
                             "--models", "4", "--epochs", "1", "--ray"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("hrlib: error: running on Ray needs the ray package")
    assert "pip install 'hrlib[ray]'" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() and not partial_dir(out).exists()  # nothing written


@pytest.mark.parametrize("option, message", [("--cpus-per-task=0", "--cpus-per-task"), ("--retries=-1", "--retries"),
                                             ("--device=cuda:1", "Ray assigns each task its GPU")])
def test_bad_options_are_refused_before_anything_starts(tmp_path, capsys, option, message):
    from hrlib.cli import main

    out = tmp_path / "zoo"
    assert main(["zoo", "create", "tetris_seed", "--out", str(out), "--ray", option]) == 2
    assert message in capsys.readouterr().err
    assert not partial_dir(out).exists()
