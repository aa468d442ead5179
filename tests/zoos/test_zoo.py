"""The zoo format: round trip, splits by model, and clear failures for broken zoos."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from hrlib import ZooError, load_zoo
from hrlib.errors import OutputError
from hrlib.files import MARKER
from hrlib.zoos.zoo import MANIFEST_FILE, PROPERTIES_FILE, WEIGHTS_FILE, Zoo, sha256, weight_variance


@pytest.fixture
def zoo_copy(tiny_zoo, tmp_path):
    path = tmp_path / "zoo"
    shutil.copytree(tiny_zoo.path, path)
    return path


def test_round_trip_and_public_surface(tiny_zoo, tmp_path):
    assert tiny_zoo.weights.shape == (24, 6, 100) and tiny_zoo.weights.dtype == np.float32
    assert isinstance(tiny_zoo.weights, np.memmap)
    props = tiny_zoo.properties
    for column in ("model", "epoch", "seed", "train_acc", "test_acc", "train_loss", "test_loss", "ggap",
                   "activation", "init", "optimizer", "lr", "weight_decay", "dataset", "f1_c0", "f1_c3"):
        assert column in props, column
    assert list(props.epoch[:6]) == [0, 1, 2, 3, 4, 5]
    copy = tiny_zoo.save(tmp_path / "again")
    again = load_zoo(copy)
    np.testing.assert_array_equal(again.weights, tiny_zoo.weights)
    pd.testing.assert_frame_equal(again.properties, tiny_zoo.properties)
    assert again.layout == tiny_zoo.layout


def test_properties_and_weights_are_plain_files(tiny_zoo):
    weights = np.load(tiny_zoo.path / WEIGHTS_FILE, allow_pickle=False)
    props = pd.read_csv(tiny_zoo.path / PROPERTIES_FILE)
    manifest = json.loads((tiny_zoo.path / MANIFEST_FILE).read_text())
    assert weights.shape == tuple(manifest["shape"]) and len(props) == 24 * 6


def test_split_is_by_model_and_leaks_nothing(tiny_zoo):
    split = tiny_zoo.split(seed=3)
    sets = [set(split.train), set(split.val), set(split.test)]
    assert sum(map(len, sets)) == tiny_zoo.n_models
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert len(split.train) == round(0.7 * 24)
    rows = tiny_zoo.rows(split.test)
    assert set(tiny_zoo.properties.model.iloc[rows]) == sets[2]
    np.testing.assert_array_equal(tiny_zoo.samples(split.test), tiny_zoo.samples().reshape(24, 6, 100)[split.test].reshape(-1, 100))
    assert np.array_equal(tiny_zoo.split(seed=3).test, split.test)
    assert not np.array_equal(tiny_zoo.split(seed=4).test, split.test)


def test_missing_file(zoo_copy):
    (zoo_copy / PROPERTIES_FILE).unlink()
    with pytest.raises(ZooError, match=f"{PROPERTIES_FILE}: missing"):
        load_zoo(zoo_copy)
    with pytest.raises(ZooError, match="no zoo directory"):
        load_zoo(zoo_copy / "nowhere")


def test_corrupted_weights_fail_the_checksum(zoo_copy):
    path = zoo_copy / WEIGHTS_FILE
    raw = bytearray(path.read_bytes())
    raw[-7] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ZooError, match=f"{WEIGHTS_FILE}: checksum mismatch"):
        load_zoo(zoo_copy)


def test_truncated_weights(zoo_copy):
    path = zoo_copy / WEIGHTS_FILE
    path.write_bytes(path.read_bytes()[:-400])
    with pytest.raises(ZooError, match="checksum mismatch"):
        load_zoo(zoo_copy)
    with pytest.raises(ZooError, match=WEIGHTS_FILE):  # without checksums the reader still refuses it
        load_zoo(zoo_copy, verify=False)


def _rewrite_with_checksums(path, weights=None, manifest_changes=None):
    if weights is not None:
        np.save(path / WEIGHTS_FILE, weights)
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest["files"] = {n: sha256(path / n) for n in (WEIGHTS_FILE, PROPERTIES_FILE)}
    manifest.update(manifest_changes or {})
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_wrong_shape(zoo_copy):
    _rewrite_with_checksums(zoo_copy, np.zeros((24, 5, 100), np.float32))
    with pytest.raises(ZooError, match=r"shape \[24, 5, 100\], manifest says float32 \[24, 6, 100\]"):
        load_zoo(zoo_copy)


def test_nan_weights(zoo_copy):
    weights = np.load(zoo_copy / WEIGHTS_FILE)
    weights[17, 2, 5] = np.nan
    _rewrite_with_checksums(zoo_copy, weights)
    with pytest.raises(ZooError, match="model 17 has NaN or inf weights"):
        load_zoo(zoo_copy)


def test_unknown_format_version(zoo_copy):
    _rewrite_with_checksums(zoo_copy, manifest_changes={"format_version": 99})
    with pytest.raises(ZooError, match="version 99 is not one this hrlib reads"):
        load_zoo(zoo_copy)


def test_broken_manifest(zoo_copy):
    (zoo_copy / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ZooError, match="not valid JSON"):
        load_zoo(zoo_copy)


def test_save_is_atomic_and_refuses_to_overwrite(tiny_zoo, tmp_path):
    target = tmp_path / "z"
    tiny_zoo.save(target)
    with pytest.raises(FileExistsError):
        tiny_zoo.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z"]  # no temporary left behind


def test_weight_variance_matches_numpy(tiny_zoo):
    w = tiny_zoo.samples().astype(np.float64)
    assert weight_variance(tiny_zoo) == pytest.approx(w.var(0).mean())
    by_epoch = [w[tiny_zoo.properties["epoch"].to_numpy() == e].var(0).mean() for e in range(6)]
    assert weight_variance(tiny_zoo, by=["epoch"]) == pytest.approx(np.mean(by_epoch))


def test_save_with_overwrite_replaces_only_an_hrlib_zoo(tiny_zoo, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("a week of notes")
    with pytest.raises(OutputError, match="exists and is a folder hrlib did not write, not an hrlib zoo folder"):
        tiny_zoo.save(project, overwrite=True)
    assert [p.name for p in project.iterdir()] == ["notes.txt"]
    run = tmp_path / "run"
    run.mkdir()
    (run / MARKER).write_text('{"kind": "run"}')
    (run / "config.json").write_text("{}")
    with pytest.raises(OutputError, match="is an hrlib run folder, not an hrlib zoo folder"):
        tiny_zoo.save(run, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == [MARKER, "config.json"]
    legacy = tmp_path / "legacy"  # a zoo saved before folders carried a marker: its manifest says what it is
    shutil.copytree(tiny_zoo.path, legacy)
    (legacy / MARKER).unlink()
    (legacy / "notes.txt").write_text("replaced with the zoo")
    tiny_zoo.save(legacy, overwrite=True)
    assert sorted(p.name for p in legacy.iterdir()) == [MARKER, MANIFEST_FILE, PROPERTIES_FILE, WEIGHTS_FILE]
    np.testing.assert_array_equal(load_zoo(legacy).weights, tiny_zoo.weights)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["legacy", "project", "run"]  # no temporary left beside


def test_an_unsaved_zoo_without_an_architecture_saves_and_loads(tiny_zoo, tmp_path):
    manifest = {k: v for k, v in tiny_zoo.manifest.items() if k != "architecture"}
    path = Zoo(np.asarray(tiny_zoo.weights), tiny_zoo.properties, tiny_zoo.layout, manifest).save(tmp_path / "z")
    assert load_zoo(path).architecture is None


def test_a_subset_keeps_its_models_renumbered_and_names_where_they_came_from(tiny_zoo, tmp_path):
    models = [5, 0, 17]
    path = tiny_zoo.subset(models).save(tmp_path / "z")
    sub = load_zoo(path)
    c = tiny_zoo.weights.shape[1]
    np.testing.assert_array_equal(sub.weights, np.asarray(tiny_zoo.weights)[models])
    assert list(sub.properties.model) == list(np.repeat([0, 1, 2], c))
    original = tiny_zoo.properties.iloc[tiny_zoo.rows(models)].reset_index(drop=True)
    pd.testing.assert_frame_equal(sub.properties.drop(columns="model"), original.drop(columns="model"))
    assert sub.manifest["subset_models"] == models and sub.manifest["subset_of"] == tiny_zoo.fingerprint
    assert sub.fingerprint != tiny_zoo.fingerprint
    for bad in ([], [0, 0], [tiny_zoo.n_models], [-1]):
        with pytest.raises(ValueError, match="model indices"):
            tiny_zoo.subset(bad)
