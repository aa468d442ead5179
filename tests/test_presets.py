"""Presets list the right models; builds resume after interruption and never leave half a zoo."""

import logging
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hrlib import load_zoo
from hrlib.presets import PRESETS, create_zoo, get_preset, partial_dir, prepare, save_shard, train_shard


def test_preset_sizes_and_factors():
    seed = get_preset("tetris_seed")
    specs = seed.specs()
    assert len(specs) == 1000 and [s.seed for s in specs] == list(range(1, 1001))
    assert len({(s.activation, s.init, s.optimizer, s.lr) for s in specs}) == 1
    assert seed.epochs == 75 and seed.checkpoints == list(range(76))
    hyp = get_preset("tetris_hyp").specs()
    assert len(hyp) == 3600
    assert len({(s.activation, s.init, s.lr) for s in hyp}) == 36
    assert sorted({s.seed for s in hyp}) == list(range(1, 101))
    assert len(PRESETS["digits_hyp"].specs()) == 3600 and len(PRESETS["digits_seed"].specs()) == 1000


def test_overrides_shrink_a_preset():
    small = get_preset("tetris_hyp").override(models=60, epochs=5)
    specs = small.specs()
    assert len(specs) == 60 and small.epochs == 5
    assert {s.activation for s in specs} == {"tanh", "relu"} and len({s.init for s in specs}) == 6
    assert get_preset("tetris_seed").override(models=7).specs()[-1].seed == 7
    scaled = get_preset("tetris_seed").override(epochs=43)
    assert scaled.checkpoints == list(range(44))
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("imagenet_seed")
    with pytest.raises(ValueError, match="at least 1"):
        get_preset("tetris_seed").override(models=0)


def small_preset(**changes):
    return get_preset("tetris_seed").override(models=10, epochs=3, shard_size=4, **changes)


def test_build_resumes_from_finished_shards(tmp_path, caplog):
    preset = small_preset()
    fresh = create_zoo(preset, tmp_path / "fresh", device="cpu", progress=False)
    out = tmp_path / "resumed"
    work, missing = prepare(preset, out)
    assert missing == [0, 1, 2]
    save_shard(train_shard(preset, 1), work / "shard-00001.npz")  # as if a run stopped after shard 1
    assert prepare(preset, out)[1] == [0, 2]
    with caplog.at_level(logging.INFO, logger="hrlib.presets"):
        resumed = create_zoo(preset, out, device="cpu", progress=False)
    assert "1 of 3 shards already trained" in caplog.text
    np.testing.assert_array_equal(resumed.weights, fresh.weights)
    assert not partial_dir(out).exists()


def test_a_different_configuration_does_not_reuse_shards(tmp_path):
    out = tmp_path / "zoo"
    prepare(small_preset(), out)
    with pytest.raises(ValueError, match="different configuration"):
        prepare(small_preset(batch_size=8), out)


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
