"""The analysis scripts behind figures in docs/results.md, run as a user runs them."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hrlib import load_zoo
from hrlib.zoos.zoo import exploded_models

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def run_script(name, *args):
    done = subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_activation_twins_pairs_tanh_and_relu_models(hyp_zoo, tiny_zoo):
    out = run_script("activation_twins.py", hyp_zoo.path)
    lines = [line for line in out.splitlines() if line.startswith("lr ")]
    assert [line.split(":")[0] for line in lines] == ["lr 0.001", "lr 0.01"]
    for line in lines:
        assert "6 twins" in line
        start, end, moved = map(float, re.search(
            r"at the start at most ([\d.]+), at the end \(median\) ([\d.]+), moved from init \(median\) ([\d.]+)", line).groups())
        assert start == 0 and 0 < end and 0 < moved  # twins share their initial weights, then part
    # a zoo without both activations has no twins: one clear line, not a traceback
    done = subprocess.run([sys.executable, str(SCRIPTS / "activation_twins.py"), str(tiny_zoo.path)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "no tanh and ReLU models share" in done.stderr


def test_probe_ceiling_scores_each_feature_set(tiny_zoo, tmp_path):
    from hrlib.hyper.config import TrainConfig
    from hrlib.hyper.train import train

    config = TrainConfig(epochs=1, batch_size=32, model=dict(d_model=16, ff=32, latent=8, projection_hidden=16,
                                                              projection_out=8))
    train(tiny_zoo, tmp_path / "run", config, device="cpu", progress=False)
    out = run_script("probe_ceiling.py", tiny_zoo.path, "--run", tmp_path / "run", "--targets", "epoch,ggap")
    header, *rows = out.splitlines()[1:]
    assert header.split() == ["s(W)", "z", "s(W)", "and", "z", "true", "test_acc", "and", "epoch"]
    epoch = rows[0].split()
    assert epoch[0] == "epoch" and float(epoch[-1]) > 80  # the true epoch is among the features (93 measured)
    assert rows[1].split()[0] == "ggap"


def test_headline_figure_draws_the_probe_table(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("headline_figure", SCRIPTS / "headline_figure.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    table = pd.DataFrame({"W": [1.0, 2.0, 3.0, 4.0], "s(W)": [10.0, 20.0, 30.0, 40.0], "E_cD": [11.0, 19.0, 33.0, 44.0]},
                         index=["Eph", "Acc", "GGap", "F1_C0"])
    fig = script.figure(table, "a zoo")
    assert [trace.name for trace in fig.data] == list(script.FEATURES.values())
    assert list(fig.data[1].y) == [10.0, 20.0, 30.0]  # s(W) on Eph, Acc, GGap; F1_C0 left out
    assert list(fig.data[1].x) == ["epoch", "test accuracy", "generalization gap"]
    assert "a zoo" in fig.layout.title.text and fig.data[1].error_y.array is None
    spread = pd.DataFrame({f"{f} sd": [0.5, 1.0, 1.5, 2.0] for f in table}, index=table.index)
    fig = script.figure(pd.concat([table, spread], axis=1), "a zoo", seeds=3)
    assert list(fig.data[2].error_y.array) == [0.5, 1.0, 1.5]  # z's sd on Eph, Acc, GGap
    assert "over 3 training seeds" in fig.layout.title.text
    with pytest.raises(ValueError, match="--seeds N"):  # sd columns without their number of seeds
        script.figure(pd.concat([table, spread], axis=1), "a zoo")


def test_calibrate_zoo_scores_designs_by_their_baselines_only(tmp_path):
    args = ["tetris_seed", "--models", 40, "--epochs", 3, "--designs", "0,11", "--out", tmp_path]
    out = run_script("calibrate_zoo.py", *args)
    table = pd.read_csv(tmp_path / "tetris_seed.csv")
    assert list(table.design) == ["old (300 train, 1k test, noise 0.15, kaiming U, lr 1e-3)",
                                  "200 train, 10k test, lr 1e-2, U(0,1), noise 0.3 (chosen)", "paper"]
    assert {"W Eph", "s(W) Acc", "W GGap", "mean |difference| to the paper"} <= set(table.columns)
    assert table.loc[2, "s(W) GGap"] == 81.0 and table["models"].iloc[:2].tolist() == [40, 40]
    assert table["W Eph"].iloc[:2].notna().all() and "paper" in out
    zoos = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert len(zoos) == 2
    run_script("calibrate_zoo.py", *args)  # a rerun opens the zoos it built instead of building them again
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == zoos
    assert (pd.read_csv(tmp_path / "tetris_seed.csv")["build s"].iloc[:2] == 0).all()


def test_outlier_models_scores_with_and_without_the_exploded_models(tiny_zoo, tmp_path):
    import importlib.util

    from hrlib.cli import main

    spec = importlib.util.spec_from_file_location("outlier_models", SCRIPTS / "outlier_models.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    true = np.tile([0.1, 0.5, 0.9], 4)
    predictions = pd.DataFrame(dict(feature="W", target="Acc", model=np.repeat([0, 1, 2, 3], 3), true=true,
                                    predicted=true + np.repeat([0.01, -0.01, 0.0, 40.0], 3)))
    table = script.scores(predictions, outliers=[3])  # model 3's predictions are off by 40
    assert table.loc[0, "all"] < -1000 and table.loc[0, "without"] > 99 and table.loc[0, "outliers_tested"] == 1
    norms = np.linalg.norm(tiny_zoo.weights, axis=2).max(axis=1)
    assert list(exploded_models(tiny_zoo, 1.0)) == list(np.flatnonzero(norms > np.median(norms)))
    written = tmp_path / "predictions.csv.gz"  # what the script reads: the probe's own test predictions
    assert main(["probe", str(tiny_zoo.path), "--features", "W,sW", "--targets", "Eph,Acc,Act", "--seeds", "2",
                 "--out", str(tmp_path / "t.csv"), "--predictions", str(written)]) == 0
    out = run_script("outlier_models.py", tiny_zoo.path, written, "--factor", 1)
    assert out.startswith(f"{len(exploded_models(tiny_zoo, 1.0))} of {len(norms)} models exceed 1 ×")
    rows = [line.split() for line in out.split("outlier models in each test split\n")[1].splitlines()[2:]]
    assert [row[:2] for row in rows] == [["Eph", "W"], ["Acc", "W"], ["Eph", "s(W)"], ["Acc", "s(W)"]]  # not Act
    assert all(row[3] == "±" and row[6] == "±" for row in rows)  # mean ± sd over the two split seeds
    probed = pd.read_csv(tmp_path / "t.csv", index_col="target")  # on all checkpoints: the probe's own scores
    assert all(float(row[2]) == pytest.approx(probed.loc[row[0], row[1]], abs=0.051) for row in rows)
    done = subprocess.run([sys.executable, str(SCRIPTS / "outlier_models.py"), str(tiny_zoo.path),
                           str(tmp_path / "missing.csv")], capture_output=True, text=True)
    assert done.returncode == 2 and "write it with `hrlib probe ZOO ... --predictions FILE`" in done.stderr


def test_outlier_models_scores_a_runs_reconstruction_and_saves_the_zoo_without_them(tiny_zoo, tiny_run, tmp_path):
    from hrlib.hyper.inference import reconstruction_r2
    from hrlib.hyper.runs import load_run

    out = run_script("outlier_models.py", tiny_zoo.path, "--run", tiny_run, "--factor", 1,
                     "--save-without", tmp_path / "kept")
    rows = [line.split() for line in out.split("with and without the outlier models\n")[1].splitlines()[1:]]
    assert [row[:2] for row in rows] == [[tiny_run.name, part] for part in ("train", "val", "test")]
    run = load_run(tiny_run)
    split = tiny_zoo.split(run.config.split_fractions, seed=run.config.split_seed)
    norms = np.linalg.norm(tiny_zoo.weights, axis=2).max(axis=1)
    for row, part in zip(rows, ("train", "val", "test")):
        models = np.asarray(split[part])
        kept = models[norms[models] <= np.median(norms)]  # factor 1: every model above the median is out
        assert float(row[2]) == pytest.approx(100 * reconstruction_r2(run, tiny_zoo, models), abs=0.051)
        assert float(row[3]) == pytest.approx(100 * reconstruction_r2(run, tiny_zoo, kept), abs=0.051)
        assert int(row[4]) == len(models) - len(kept)
    assert sum(int(row[4]) for row in rows) == (norms > np.median(norms)).sum() > 0
    kept = load_zoo(tmp_path / "kept")
    assert kept.manifest["subset_models"] == list(np.flatnonzero(norms <= np.median(norms)))
    assert f"{tmp_path / 'kept'}: the {kept.n_models} other models" in out
    done = subprocess.run([sys.executable, str(SCRIPTS / "outlier_models.py"), str(tiny_zoo.path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "or --run RUN_DIR" in done.stderr
    done = subprocess.run([sys.executable, str(SCRIPTS / "outlier_models.py"), str(tiny_zoo.path), "--save-without",
                           str(tmp_path / "kept")], capture_output=True, text=True)  # the folder written above
    assert done.returncode == 2 and "kept exists; --save-without writes a new folder" in done.stderr
    assert load_zoo(tmp_path / "kept").manifest["subset_models"] == kept.manifest["subset_models"]  # untouched


def test_tanh_saturation_finds_u01_saturated_and_kaiming_not():
    out = run_script("tanh_saturation.py", "--images", 40, "--seeds", 1)
    lines = out.splitlines()
    assert lines[2].split()[:2] == ["tanh", "2"] and lines[-1].split()[:2] == ["tanh", "4"]
    assert [float(v) for v in lines[2].split()[-2:]] == [100.0, 100.0]  # U(0, 1): no gradient through tanh 2
    assert [float(v) for v in lines[-1].split()[-2:]] == [0.0, 0.0]  # kaiming uniform: none saturated


def test_sampling_bandwidth_decodes_networks_at_each_bandwidth(tiny_zoo, tiny_run):
    out = run_script("sampling_bandwidth.py", tiny_run, tiny_zoo.path, "--n", 4, "--top", 0.5,
                     "--bandwidths", "0.05,2", "--components", "2,500")
    lines = out.splitlines()[1:]
    assert "(cross-validated)" in lines[0] and "bandwidth 0.05 sd (given)" in lines[1]
    assert "bandwidth 2 sd (given)" in lines[2] and lines[3].startswith("2 principal components")
    assert lines[4].startswith("500 components: skipped")
    accuracies = [float(re.search(r": +([0-9.]+) ±", line).group(1)) for line in lines[:4]]
    assert all(0 <= a <= 100 for a in accuracies)


def test_sampling_runs_tabulates_mean_and_sd_over_runs(tmp_path):
    files = []
    for run, acc in enumerate((0.3, 0.5)):
        path = tmp_path / f"run{run}.csv"
        pd.DataFrame(dict(start=["sampled", "sampled", "anchors", "anchors"], network=[0, 1, 0, 1], epoch=0,
                          test_acc=[acc, acc, 0.9, 0.9], train_acc=0.0)).to_csv(path, index=False)
        files.append(path)
    lines = run_script("sampling_runs.py", *files).splitlines()
    assert "over 2 runs" in lines[0]
    assert lines[3] == "| sampled | 40.0 ± 14.1 |" and lines[4] == "| anchors | 90.0 ± 0.0 |"
