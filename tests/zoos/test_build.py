"""Zoo builds resume after interruption, never leave half a zoo, merge only shards that are theirs,
and refuse a second build of the same zoo while one runs."""

import json
import logging
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from hrlib import load_zoo
from hrlib.cli import main
from hrlib.files import MARKER, Busy
from hrlib.zoos import estimate
from hrlib.zoos.build import Build, create_zoo, lock_file, partial_dir, shard_work, train_shard
from hrlib.zoos.presets import get_preset


def small_preset(**changes):
    return get_preset("tetris_seed").override(models=10, epochs=3, shard_size=4, **changes)


def test_build_resumes_from_finished_shards(tmp_path, caplog):
    preset = small_preset()
    fresh = create_zoo(preset, tmp_path / "fresh", device="cpu", progress=False)
    out = tmp_path / "resumed"
    with Build(preset, out) as build:
        assert build.missing == [0, 1, 2]
        build.save(1, train_shard(preset, 1))  # as if a run stopped after shard 1
    with Build(preset, out) as build:
        assert build.missing == [0, 2]
    with caplog.at_level(logging.INFO, logger="hrlib.zoos.build"):
        resumed = create_zoo(preset, out, device="cpu", progress=False)
    assert "1 of 3 shards already trained" in caplog.text
    np.testing.assert_array_equal(resumed.weights, fresh.weights)
    assert not partial_dir(out).exists()


def test_a_different_configuration_does_not_reuse_shards(tmp_path):
    out = tmp_path / "zoo"
    with Build(small_preset(), out) as build:
        build.save(0, train_shard(small_preset(), 0))
    with pytest.raises(ValueError, match="different configuration"):
        Build(small_preset(batch_size=8), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [partial_dir(out).name]  # the refusal left no lock


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
    assert zoo.weights.shape == (300, 21, 100) and sorted(tmp_path.iterdir()) == [out]  # no work folder, no lock
    # the shards trained before the kill agree with a fresh, uninterrupted computation
    again = train_shard(get_preset("tetris_seed").override(models=300, epochs=20, shard_size=50), 0)
    np.testing.assert_array_equal(zoo.weights[:50], again["weights"])


def test_progress_counts_model_epochs(tmp_path):
    preset = get_preset("tetris_hyp").override(models=12, epochs=3, shard_size=5)  # several groups, 3 shards
    done = []
    for i in range(3):
        train_shard(preset, i, progress=done.append)
    assert sum(done) == 12 * 3 == sum(shard_work(preset, i) for i in range(3))


# ---- shards that are not what they claim are trained again, never merged ---------------------------------


def saved_shards(preset, out) -> dict[int, dict]:
    """Every shard of `preset` trained and saved into the work folder of `out`; their arrays as saved."""
    with Build(preset, out) as build:
        for i in build.missing:
            build.save(i, train_shard(preset, i))
    return {i: dict(np.load(build.shard_file(i))) for i in range(len(build.shards))}


def rewrite(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def copied_over(work, saved):
    shutil.copy(work / "shard-00000.npz", work / "shard-00001.npz")  # models 4-7 would become copies of 0-3
    return "holds shard 0 (models 0..3), not shard 1 (models 4..7): a copy of another shard?"


def of_another_plan(work, saved):
    other = small_preset(batch_size=8)  # same shards and shapes, other models
    with Build(other, work.parent / "other") as build:
        build.save(1, train_shard(other, 1))
        shutil.copy(build.shard_file(1), work / "shard-00001.npz")
    return "belongs to a build of another configuration"


def of_another_shape(work, saved):
    rewrite(work / "shard-00001.npz", {**saved[1], "weights": saved[1]["weights"][:, :3], "shape": np.array([4, 3, 100])})
    return "holds float32 weights of shape (4, 3, 100), not float32 (4, 4, 100)"


def with_nan(work, saved):
    weights = saved[1]["weights"].copy()
    weights[2, 3, 7] = np.nan
    rewrite(work / "shard-00001.npz", {**saved[1], "weights": weights})
    return "has NaN or inf weights in 1 model(s) not marked diverged (models 6)"


def without_records(work, saved):
    rewrite(work / "shard-00001.npz", {k: v for k, v in saved[1].items() if k not in ("shard", "models", "plan")})
    (work / MARKER).unlink()  # a work folder written before folders carried a marker
    return "records no index, models or plan (written by an older hrlib, or not a shard)"


@pytest.mark.parametrize("damage", [copied_over, of_another_plan, of_another_shape, with_nan, without_records])
def test_a_shard_that_is_not_this_builds_is_named_and_trained_again(tmp_path, caplog, damage):
    preset = small_preset()
    fresh = create_zoo(preset, tmp_path / "fresh", device="cpu", progress=False)
    out = tmp_path / "zoo"
    problem = damage(partial_dir(out), saved_shards(preset, out))
    with caplog.at_level(logging.INFO, logger="hrlib.zoos.build"):
        zoo = create_zoo(preset, out, device="cpu", progress=False)
    assert f"shard-00001.npz {problem}; it is removed and shard 1 will be trained again" in caplog.text
    assert "2 of 3 shards already trained" in caplog.text
    np.testing.assert_array_equal(zoo.weights, fresh.weights)  # the zoo an uninterrupted build makes
    pd.testing.assert_frame_equal(zoo.properties, fresh.properties)


def test_a_shard_damaged_before_the_merge_is_trained_again(tmp_path, caplog):
    preset = small_preset()
    fresh = create_zoo(preset, tmp_path / "fresh", device="cpu", progress=False)
    out = tmp_path / "zoo"
    trained = []

    def train_missing():
        for i in build.missing:
            trained.append(i)
            build.save(i, train_shard(preset, i))
        if len(trained) == 3:  # NaN in a model that trained well, as a bad disk or a stray writer leaves it
            arrays = dict(np.load(build.shard_file(2)))
            arrays["weights"][1, -1] = np.inf
            rewrite(build.shard_file(2), arrays)

    with Build(preset, out) as build:
        zoo = build.run(train_missing)
    assert trained == [0, 1, 2, 2] and "shard-00002.npz has NaN or inf weights" in caplog.text
    np.testing.assert_array_equal(zoo.weights, fresh.weights)


# ---- one build of a zoo at a time, and nothing left beside it -------------------------------------------


def test_a_second_build_of_the_same_zoo_is_refused_naming_the_first(tmp_path, capsys):
    out = tmp_path / "zoo"
    holder = ("import sys; from hrlib.zoos.build import Build; from hrlib.zoos.presets import get_preset; "
              "build = Build(get_preset('tetris_seed').override(models=10, epochs=3, shard_size=4), sys.argv[1]); "
              "print('holding', flush=True); sys.stdin.readline()")
    first = subprocess.Popen([sys.executable, "-c", holder, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert first.stdout.readline() == "holding\n"
        with pytest.raises(Busy, match=f"the zoo {out} is being written by process {first.pid} on "):
            create_zoo(small_preset(), out, device="cpu", progress=False)
        assert main(["zoo", "create", "tetris_seed", "--out", str(out), "--models", "10", "--epochs", "3",
                     "--shard-size", "4", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"is being written by process {first.pid}" in err and err.endswith("wait for it to finish or choose "
                                                                                 "another --out\n")
    finally:
        first.communicate("\n", timeout=60)
    assert not out.exists()
    create_zoo(small_preset(), out, device="cpu", progress=False)  # once the first has ended, the build runs


def test_a_finished_build_leaves_only_its_zoo(tmp_path):
    create_zoo(small_preset(), tmp_path / "zoo", device="cpu", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zoo"]
    assert sorted(p.name for p in (tmp_path / "zoo").iterdir()) == [MARKER, "manifest.json", "properties.csv.gz",
                                                                    "weights.npy"]
    assert json.loads((tmp_path / "zoo" / MARKER).read_text()) == {"kind": "zoo"}
    assert not lock_file(tmp_path / "zoo").exists()


def test_a_build_larger_than_the_machine_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(estimate, "machine_memory", lambda: 1000)
    with pytest.raises(ValueError, match=r"tetris_seed at 10 models × 4 checkpoints × 100 params is 15\.6 KiB of weights; "
                                         r"building it takes about .* of memory and .* of disk, but this machine has "
                                         r"1000 B of memory; choose fewer --models or --epochs"):
        create_zoo(get_preset("tetris_seed").override(models=10, epochs=3), tmp_path / "zoo", progress=False)
    assert not list(tmp_path.iterdir())
