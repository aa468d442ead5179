"""Bad input and faults, as a careless or hostile user meets them (docs/reliability.md lists them).

Every case goes through the `hrlib` command as a user types it and must end in one line on stderr
(no traceback), leave nothing behind that blocks the corrected command, execute nothing it reads,
and mix nothing of two zoos or two splits.
"""

import json
import os
import pickle
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from hrlib import load_zoo
from hrlib.cli import main
from hrlib.zoos.build import create_zoo, partial_dir
from hrlib.zoos.presets import get_preset

QUICK_TRAIN = ["--epochs", "1", "--batch-size", "32", "--device", "cpu", "--quiet"]


def check_one_line_error(capsys, argv, *fragments) -> str:
    """Run the CLI; it must exit 2 with one line on stderr holding every fragment."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hrlib: error: ") and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture(scope="module")
def run_of_tiny(tiny_zoo, tmp_path_factory):
    """A finished one-epoch run trained on `tiny_zoo`."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", str(tiny_zoo.path), "--out", str(out), *QUICK_TRAIN]) == 0
    return out


class Payload:
    """A pickle that, when unpickled without weights_only, creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ---- nothing executed ------------------------------------------------------------------------------


def test_a_crafted_state_file_is_refused_and_runs_nothing(tiny_zoo, tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", str(tiny_zoo.path), "--out", str(out), *QUICK_TRAIN])
    capsys.readouterr()
    marker = tmp_path / "pwned"
    with open(out / "state.pt", "wb") as f:
        pickle.dump({"model": Payload(marker)}, f)
    check_one_line_error(capsys, ["train", str(tiny_zoo.path), "--out", str(out), *QUICK_TRAIN[2:], "--epochs", "2"],
                         "state.pt: refused")
    assert not marker.exists()
    torch.save({"config": Payload(marker)}, out / "best.pt")  # torch.save pickles the payload too
    check_one_line_error(capsys, ["probe", str(tiny_zoo.path), "--run", str(out), "--features", "",
                                  "--out", str(tmp_path / "t.csv")], "best.pt: refused")
    assert not marker.exists()


# ---- nothing mixed ---------------------------------------------------------------------------------


def test_a_run_of_another_zoo_is_neither_resumed_nor_overwritten(tiny_zoo, hyp_zoo, run_of_tiny, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run_of_tiny, copy)
    before = {name: (copy / name).read_bytes() for name in ("config.json", "result.json", "best.pt")}
    check_one_line_error(capsys, ["train", str(hyp_zoo.path), "--out", str(copy), *QUICK_TRAIN],
                         f"holds a run of the zoo {tiny_zoo.path}", f"not of {hyp_zoo.path}")
    assert {name: (copy / name).read_bytes() for name in before} == before


def test_probes_refuse_a_run_of_another_zoo_or_another_split(tiny_zoo, hyp_zoo, run_of_tiny, tmp_path, capsys):
    table = tmp_path / "t.csv"
    check_one_line_error(capsys, ["probe", str(hyp_zoo.path), "--run", str(run_of_tiny), "--features", "",
                                  "--out", str(table)], f"was trained on the zoo {tiny_zoo.path}", str(hyp_zoo.path))
    check_one_line_error(capsys, ["probe", str(tiny_zoo.path), "--run", str(run_of_tiny), "--features", "",
                                  "--split-seed", "1", "--out", str(table)], "split seed 0", "test models")
    assert not table.exists()
    assert main(["probe", str(tiny_zoo.path), "--run", str(run_of_tiny), "--features", "", "--targets", "Eph",
                 "--out", str(table)]) == 0


# ---- nothing left behind that blocks the corrected command -------------------------------------------


def test_a_refused_build_leaves_nothing_and_the_corrected_one_runs(tmp_path, capsys):
    out = tmp_path / "zoo"
    base = ["zoo", "create", "tetris_seed", "--out", str(out), "--models", "4", "--epochs", "1", "--quiet"]
    check_one_line_error(capsys, base + ["--train-subset", "0"], "train subset must be at least 1")
    check_one_line_error(capsys, base + ["--train-subset", "100000"], "a subset must hold 1..200")
    check_one_line_error(capsys, base + ["--shard-size", "0"], "shard size must be at least 1")
    check_one_line_error(capsys, base + ["--shard-size", "-1"], "shard size must be at least 1")
    assert not out.exists() and not partial_dir(out).exists()
    assert main(base + ["--train-subset", "200"]) == 0
    assert load_zoo(out).manifest["dataset"]["train_subset"] == 200


@pytest.mark.parametrize("option, message", [(["--batch-size", "0"], "batch size (--batch-size) must be a whole number"),
                                             (["--epochs", "-1"], "epochs (--epochs) must be a whole number from 1"),
                                             (["--epochs", "0"], "epochs (--epochs) must be a whole number from 1"),
                                             (["--lr", "0"], "learning rate (--lr) must be a positive number")])
def test_a_refused_training_writes_nothing(tiny_zoo, tmp_path, capsys, option, message):
    out = tmp_path / "run"
    check_one_line_error(capsys, ["train", str(tiny_zoo.path), "--out", str(out), "--quiet", *option], message)
    assert not out.exists()


# ---- one line, not a traceback -----------------------------------------------------------------------


def test_destinations_that_cannot_be_written_are_named_before_any_work(tiny_zoo, run_of_tiny, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    below = blocker / "sub" / "out"
    for where in (below, "/proc/hrlib-out"):
        check_one_line_error(capsys, ["zoo", "create", "tetris_seed", "--out", str(where), "--models", "4",
                                      "--epochs", "1", "--quiet"], "cannot write here")
        check_one_line_error(capsys, ["train", str(tiny_zoo.path), "--out", str(where), *QUICK_TRAIN], "cannot write here")
        check_one_line_error(capsys, ["probe", str(tiny_zoo.path), "--features", "W", "--out", f"{where}/t.csv"],
                             "cannot write here")
        check_one_line_error(capsys, ["zoo", "import", "state_dicts", str(tmp_path), "--out", str(where)],
                             "cannot write here")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_missing_gpu_is_named(tiny_zoo, tmp_path, capsys):
    check_one_line_error(capsys, ["zoo", "create", "tetris_seed", "--out", str(tmp_path / "zoo"), "--models", "4",
                                  "--epochs", "1", "--device", "cuda"], "no CUDA GPU is available here")
    check_one_line_error(capsys, ["train", str(tiny_zoo.path), "--out", str(tmp_path / "run"), "--device", "cuda"],
                         "no CUDA GPU is available here")
    check_one_line_error(capsys, ["train", str(tiny_zoo.path), "--out", str(tmp_path / "run"), "--device", "tpu"],
                         "device 'tpu'")
    assert not (tmp_path / "zoo").exists() and not (tmp_path / "run").exists()


def test_a_manifest_without_checksums_is_a_zoo_error(tiny_zoo, tmp_path, capsys):
    broken = tmp_path / "zoo"
    shutil.copytree(tiny_zoo.path, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    del manifest["files"]
    (broken / "manifest.json").write_text(json.dumps(manifest))
    check_one_line_error(capsys, ["zoo", "info", str(broken)], "manifest.json: lacks the key 'files'")


def test_imports_where_every_model_is_nan_or_an_epoch_is_blank(tiny_zoo, tmp_path, capsys):
    from hrlib.zoos.architectures import build_module

    src = tmp_path / "checkpoints"
    src.mkdir()
    module = build_module("tetris_mlp", "tanh")
    for i in range(3):
        torch.save({k: torch.full_like(v, float("nan")) for k, v in module.state_dict().items()}, src / f"m{i}.pt")
    check_one_line_error(capsys, ["zoo", "import", "state_dicts", str(src), "--out", str(tmp_path / "nan")],
                         "no model could be imported", "NaN or inf weights")
    torch.save(module.state_dict(), src / "m0.pt")
    table = tmp_path / "props.csv"
    pd.DataFrame({"file": ["m0.pt", "m1.pt"], "model": ["a", "a"], "epoch": [0, None]}).to_csv(table, index=False)
    check_one_line_error(capsys, ["zoo", "import", "state_dicts", str(src), "--out", str(tmp_path / "blank"),
                                  "--properties", str(table)], "line 3: the 'epoch' cell is blank")
    assert not (tmp_path / "nan").exists() and not (tmp_path / "blank").exists()


def test_a_damaged_shard_is_named_and_trained_again(tmp_path, caplog):
    preset = get_preset("tetris_seed").override(models=6, epochs=2, shard_size=2)
    fresh = create_zoo(preset, tmp_path / "fresh", device="cpu", progress=False)
    out = tmp_path / "zoo"
    work = partial_dir(out)
    from hrlib.zoos.build import Build, train_shard

    with Build(preset, out) as build:
        for i in range(3):
            build.save(i, train_shard(preset, i))
    damaged = work / "shard-00001.npz"
    with zipfile.ZipFile(damaged) as archive:
        names = archive.namelist()
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # cut short, as a full disk leaves it
    with Build(preset, out) as build:
        assert names and build.missing == [1]
    assert "shard-00001.npz is damaged" in caplog.text
    zoo = create_zoo(preset, out, device="cpu", progress=False)
    np.testing.assert_array_equal(zoo.weights, fresh.weights)


# ---- no silent wrong behaviour -------------------------------------------------------------------------


def test_more_models_than_a_preset_holds_is_refused(tmp_path, capsys):
    check_one_line_error(capsys, ["zoo", "create", "tetris_seed", "--out", str(tmp_path / "zoo"),
                                  "--models", "100000000"], "tetris_seed holds 1000 models", "1..1000")


def test_data_add_names_what_it_rejected(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HRLIB_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    assert main(["data", "add", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "added 0 file(s)" in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2 and "t10k-labels-idx1-ubyte.gz: unreadable" in lines[0] and "train-images-idx3-ubyte" in lines[1]
    check_one_line_error(capsys, ["data", "add", str(tmp_path / "nowhere")], "no such folder")


# ---- no work lost at the end ----------------------------------------------------------------------------


def test_probe_creates_a_missing_output_folder(tiny_zoo, tmp_path, capsys):
    table = tmp_path / "new" / "folder" / "t.csv"
    predictions = tmp_path / "other" / "p.csv"
    assert main(["probe", str(tiny_zoo.path), "--features", "sW", "--targets", "Eph", "--out", str(table),
                 "--predictions", str(predictions)]) == 0
    assert list(pd.read_csv(table, index_col=0).index) == ["Eph"] and len(pd.read_csv(predictions)) > 0
    assert not [p for p in table.parent.iterdir() if p.name != "t.csv"]  # no temporary file left beside it


def test_reproduce_checks_its_results_file_before_computing(tiny_zoo, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    check_one_line_error(capsys, ["reproduce", "table5", str(tiny_zoo.path), "--features", "W",
                                  "--results", str(blocker / "results.md")], "cannot write here")
    assert os.path.getsize(blocker) == 0
