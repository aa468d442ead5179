"""Zoo builds resume after interruption and never leave half a zoo."""

import logging
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hrlib import load_zoo
from hrlib.zoos.build import Build, create_zoo, partial_dir, shard_work, train_shard
from hrlib.zoos.presets import get_preset


def small_preset(**changes):
    return get_preset("tetris_seed").override(models=10, epochs=3, shard_size=4, **changes)


def test_build_resumes_from_finished_shards(tmp_path, caplog):
    preset = small_preset()
    fresh = create_zoo(preset, tmp_path / "fresh", device="cpu", progress=False)
    out = tmp_path / "resumed"
    build = Build(preset, out)
    assert build.missing == [0, 1, 2]
    build.save(1, train_shard(preset, 1))  # as if a run stopped after shard 1
    assert Build(preset, out).missing == [0, 2]
    with caplog.at_level(logging.INFO, logger="hrlib.zoos.build"):
        resumed = create_zoo(preset, out, device="cpu", progress=False)
    assert "1 of 3 shards already trained" in caplog.text
    np.testing.assert_array_equal(resumed.weights, fresh.weights)
    assert not partial_dir(out).exists()


def test_a_different_configuration_does_not_reuse_shards(tmp_path):
    out = tmp_path / "zoo"
    Build(small_preset(), out).save(0, train_shard(small_preset(), 0))
    with pytest.raises(ValueError, match="different configuration"):
        Build(small_preset(batch_size=8), out)


def test_existing_zoo_is_not_overwritten(tiny_zoo):
    with pytest.raises(FileExistsError):
        create_zoo(small_preset(), tiny_zoo.path, progress=False)


def test_killed_cli_build_leaves_no_zoo_and_resumes(tmp_path):
    out = tmp_path / "zoo"
    cmd = [sys.executable, "-m", "hrlib", "zoo", "create", "tetris_seed", "--out", str(out), "--quiet",
           "--models", "300", "--epochs", "20", "--shard-size", "50", "--device", "cpu"]
    proc = subprocess.Popen(cmd)
    first = partial_dir(out) / "shard-00000.npz"
    deadline = time.time() + 120
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert first.exists(), "the build never finished a shard"
    assert not out.exists()
    done = len(list(partial_dir(out).glob("shard-*.npz")))
    assert 1 <= done < 6
    subprocess.run(cmd, check=True)
    zoo = load_zoo(out)
    assert zoo.weights.shape == (300, 21, 100) and not partial_dir(out).exists()
    # the shards trained before the kill agree with a fresh, uninterrupted computation
    again = train_shard(get_preset("tetris_seed").override(models=300, epochs=20, shard_size=50), 0)
    np.testing.assert_array_equal(zoo.weights[:50], again["weights"])


def test_progress_counts_model_epochs(tmp_path):
    preset = get_preset("tetris_hyp").override(models=12, epochs=3, shard_size=5)  # several groups, 3 shards
    done = []
    for i in range(3):
        train_shard(preset, i, progress=done.append)
    assert sum(done) == 12 * 3 == sum(shard_work(preset, i) for i in range(3))
