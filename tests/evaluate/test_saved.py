"""Saved probes and `hrlib predict`: a probe read back from disk predicts exactly what the fitted one
did, predicting a zoo's own test checkpoints reproduces the probe table, and checkpoints from plain
torch files are read, while another architecture, NaN weights and the wrong run are refused."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import r2_score

from hrlib.cli import main
from hrlib.evaluate.features import runs_as_features
from hrlib.evaluate.saved import load_probes, predict_checkpoints, save_probes
from hrlib.evaluate.tables import evaluate_probes
from hrlib.zoos.architectures import build_module
from hrlib.zoos.zoo import Zoo


def train(zoo, out, seed=0):
    assert main(["train", str(zoo.path), "--out", str(out), "--epochs", "1", "--arch", "Att_N", "--latent", "12",
                 "--seed", str(seed), "--quiet", "--device", "cpu"]) == 0
    return out


@pytest.fixture
def run(tiny_run):
    return tiny_run


def test_a_saved_probe_predicts_exactly_what_the_fitted_one_did(tiny_zoo, run, tmp_path):
    # a categorical target as well, so that a logistic probe (standardized features) is stored too
    bucket = np.where(tiny_zoo.properties.test_acc > tiny_zoo.properties.test_acc.median(), "high", "low")
    zoo = Zoo(tiny_zoo.weights, tiny_zoo.properties.assign(bucket=bucket), tiny_zoo.layout, tiny_zoo.manifest)
    features = runs_as_features({"z": str(run)}, zoo, 0)
    report = evaluate_probes(zoo, features, ["Eph", "Acc", "GGap", "bucket"])
    saved = load_probes(save_probes(report, {"z": run}, tmp_path / "probes", zoo))
    assert "pickle" not in (tmp_path / "probes" / "probes.json").read_text()
    test_rows = zoo.rows(report.split.test)
    predicted = saved.predict("z", features["z"].transform(zoo, test_rows))
    for column, target in (("epoch", "Eph"), ("test_acc", "Acc"), ("ggap", "GGap"), ("bucket", "bucket")):
        expected = report.predictions.query("target == @target")["predicted"].to_numpy()
        np.testing.assert_array_equal(predicted[column].to_numpy(), expected)
    assert {kind for _, kind, _ in saved.pipelines["z"]} == {"regression", "classification"}
    scores = saved.scores("z")
    assert scores.loc["Acc", "test"] == pytest.approx(report.table.loc["Acc", "z"])
    assert np.isnan(scores.loc["bucket", "tau"]) and -1 <= scores.loc["Acc", "tau"] <= 1


def test_predict_on_the_zoos_own_test_checkpoints_reproduces_the_probe_table(tiny_zoo, run, tmp_path, capsys):
    table_csv, probes, out = tmp_path / "table.csv", tmp_path / "probes", tmp_path / "predicted.csv"
    assert main(["probe", str(tiny_zoo.path), "--run", f"E_cD={run}", "--features", "", "--out", str(table_csv),
                 "--save", str(probes)]) == 0
    assert main(["predict", str(run), str(probes), str(tiny_zoo.path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(table_csv, index_col="target")
    predicted = pd.read_csv(out)
    assert len(predicted) == len(tiny_zoo.properties) and f"{len(predicted)} checkpoints written" in printed
    test = predicted[predicted["model"].isin(json.loads((probes / "probes.json").read_text())["test_models"])]
    for column, target in (("epoch", "Eph"), ("test_acc", "Acc"), ("ggap", "GGap")):
        score = 100 * r2_score(test[column], test[f"{target} predicted"])
        assert score == pytest.approx(table.loc[target, "E_cD"], abs=0.01)  # the table rounds to 2 decimals
        assert predicted[f"{target} probe test R2"].nunique() == 1  # the probe's reliability, on every row
        assert predicted[f"{target} probe test R2"].iloc[0] == pytest.approx(score, abs=1e-9)
        assert f"{target:6s} test R2 " in printed


def test_predict_reads_plain_state_dicts_and_refuses_what_it_cannot_use(tiny_zoo, run, tmp_path, capsys):
    probes = tmp_path / "probes"
    main(["probe", str(tiny_zoo.path), "--run", f"z={run}", "--features", "", "--out", str(tmp_path / "t.csv"),
          "--save", str(probes)])
    folder = tmp_path / "mine"
    folder.mkdir()
    module = build_module("tetris_mlp")  # a user's own network, saved the plain torch way
    for i in range(3):
        module[1].weight.data.normal_(0, 0.5)
        torch.save(module.state_dict(), folder / f"net{i}.pt")
    table, scores = predict_checkpoints(run, probes, [folder, folder / "net0.pt"])
    assert list(table["checkpoint"]) == [str(folder / f"net{i}.pt") for i in (0, 1, 2, 0)]
    assert np.isfinite(table["Acc predicted"]).all() and table["Acc predicted"].iloc[0] == table["Acc predicted"].iloc[3]
    assert {"Eph", "Acc", "GGap"} <= set(scores.index)
    capsys.readouterr()

    torch.save(build_module("digits_mlp").state_dict(), tmp_path / "other.pt")
    assert main(["predict", str(run), str(probes), str(tmp_path / "other.pt")]) == 2
    err = capsys.readouterr().err
    assert "other.pt: a checkpoint of another architecture" in err and "the run" in err and len(err.splitlines()) == 1

    state = module.state_dict()
    state["1.weight"][0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match="nan.pt: NaN or infinite weights"):
        predict_checkpoints(run, probes, [tmp_path / "nan.pt"])

    other_run = train(tiny_zoo, tmp_path / "other-run", seed=1)
    with pytest.raises(ValueError, match="holds no probes for the run .*other-run.*it holds probes of z"):
        predict_checkpoints(other_run, probes, [folder])

    (probes / "probes.npz").write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="damaged probe folder"):
        load_probes(probes)
    with pytest.raises(ValueError, match="not a probe folder"):
        load_probes(tmp_path)


def test_save_is_refused_before_any_work_without_a_single_run(tiny_zoo, run, tmp_path, capsys):
    assert main(["probe", str(tiny_zoo.path), "--features", "sW", "--out", str(tmp_path / "t.csv"),
                 "--save", str(tmp_path / "p")]) == 2
    assert main(["probe", str(tiny_zoo.path), "--run", f"z={run}", "--seeds", "2", "--out", str(tmp_path / "t.csv"),
                 "--save", str(tmp_path / "p")]) == 2
    assert capsys.readouterr().err.count("--save stores the probes of one replicate's runs") == 2
    assert not (tmp_path / "t.csv").exists() and not (tmp_path / "p").exists()
