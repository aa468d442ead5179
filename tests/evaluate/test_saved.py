"""Saved probes and `hrlib predict`: a probe read back from disk predicts exactly what the fitted one
did, predicting a zoo's own test checkpoints reproduces the probe table, and checkpoints from plain
torch files are read, while another architecture, NaN weights and the wrong run are refused."""

import json
import shutil

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
from hrlib.zoos.zoo import Zoo, sha256


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
    with pytest.raises(ValueError, match="probes.npz: not the probes.npz saved with the probes.json beside it"):
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


def resave(folder, arrays=None, index=None):
    """Change a probe folder's arrays and index as a careless or hostile hand would, keeping its checksum true."""
    with np.load(folder / "probes.npz") as npz:
        content = dict(npz)
    np.savez(folder / "probes.npz", **(arrays(content) if arrays else content))
    record = json.loads((folder / "probes.json").read_text())
    record["arrays_sha256"] = sha256(folder / "probes.npz")
    (folder / "probes.json").write_text(json.dumps(index(record) if index else record))


def test_a_probe_folder_reads_only_its_own_finite_and_well_shaped_arrays(tiny_zoo, run, tmp_path):
    features = runs_as_features({"z": str(run)}, tiny_zoo, 0)
    folders = {}
    for name, targets in (("a", ["Eph", "Acc"]), ("b", ["GGap"])):
        report = evaluate_probes(tiny_zoo, features, targets, standardize=True)
        folders[name] = save_probes(report, {"z": run}, tmp_path / name, tiny_zoo)
    X = features["z"].transform(tiny_zoo, tiny_zoo.rows([0]))
    expected = load_probes(folders["a"]).predict("z", X)

    def refused(match, folder=tmp_path / "c"):
        with pytest.raises(ValueError, match=match):
            load_probes(folder).predict("z", X)

    def fresh():
        shutil.rmtree(tmp_path / "c", ignore_errors=True)
        return shutil.copytree(folders["a"], tmp_path / "c")

    shutil.copy(folders["b"] / "probes.npz", fresh() / "probes.npz")  # arrays of another probe folder
    refused("c/probes.npz: not the probes.npz saved with the probes.json beside it .* put that one back, or save "
            "the probes again with `hrlib probe ZOO --run NAME=RUN --save .*/c`")
    resave(fresh(), arrays=lambda a: a | {"0/0/coef": np.where(a["0/0/coef"] > 0, np.nan, a["0/0/coef"])})
    refused("c/probes.npz: the array '0/0/coef' holds NaN or infinite values")
    resave(fresh(), arrays=lambda a: a | {"0/0/intercept": a["0/0/intercept"] + np.inf})
    refused("the array '0/0/intercept' holds NaN or infinite values")
    resave(fresh(), arrays=lambda a: a | {"0/0/scale": 0 * a["0/0/scale"]})
    refused("the array '0/0/scale' holds NaN, infinite or non-positive values")
    resave(fresh(), arrays=lambda a: a | {"0/0/coef": a["0/0/coef"][..., :-1]})
    refused(r"the array '0/0/coef' is float64 \(2, 11\); its probe wants floats \(2, 12\)")
    resave(fresh(), arrays=lambda a: {k: v for k, v in a.items() if k != "0/0/mean"})
    refused("lacks the array '0/0/mean' that probes.json names")
    resave(fresh(), arrays=lambda a: a | {"0/0/coef": a["0/0/coef"].astype(object)})
    refused("the array '0/0/coef' is unreadable .Object arrays cannot be loaded when allow_pickle=False")

    def width(index):  # probes of another width than the run's z, consistent in themselves
        index["feature_sets"]["z"]["width"] = 11
        return index
    resave(fresh(), arrays=lambda a: {k: v[..., :-1] if k.endswith(("coef", "mean", "scale")) else v
                                      for k, v in a.items()}, index=width)
    refused("c: the probes of z read 11 features per checkpoint, X holds 12")

    def legacy(index):
        index.pop("arrays_sha256")
        return index | {"format_version": 1}
    resave(fresh(), index=legacy)
    refused(r"c/probes.json: probes saved by an earlier hrlib \(format 1\), without the checksum that ties "
            r"probes.npz to them; save the probes again with `hrlib probe ZOO --run NAME=RUN --save .*/c`")
    save_probes(evaluate_probes(tiny_zoo, features, ["Eph", "Acc"], standardize=True), {"z": run}, tmp_path / "c",
                tiny_zoo)  # saving again over the old folder is what the line says to do, and it works
    pd.testing.assert_frame_equal(load_probes(tmp_path / "c").predict("z", X), expected)
    # scikit-learn's own complaints come as one line naming the folder
    with pytest.raises(ValueError, match=r"c: the probe of z for epoch, test_acc cannot read X \(Input X contains NaN"):
        load_probes(tmp_path / "c").predict("z", np.full_like(X, np.nan))


@pytest.mark.parametrize("content, message", [
    ("{}", "lacks the key 'format'"),
    ("[1, 2]", r"the top level must be an object, not \[1, 2\]"),
    ("null", "the top level must be an object, not null"),
    ('{"format": "hrlib-probes", "format_version": 2', "not valid JSON"),
    ('{"format": "hrlib-zoo", "format_version": 2}', "'format': 'hrlib-probes' was expected"),
    ('{"format": "hrlib-probes", "format_version": 3}', "probe format 3 is newer than this hrlib reads"),
])
def test_a_malformed_probe_index_is_one_line_naming_the_file_and_key(tiny_zoo, run, tmp_path, content, message):
    folder = save_probes(evaluate_probes(tiny_zoo, runs_as_features({"z": str(run)}, tiny_zoo, 0), ["Eph"]),
                         {"z": run}, tmp_path / "p", tiny_zoo)
    (folder / "probes.json").write_text(content)
    with pytest.raises(ValueError, match=f"p/probes.json: {message}") as err:
        load_probes(folder)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("change, message", [
    (lambda p: p | {"columns": "epoch"}, r"'feature_sets.z.probes\[0\].columns' must be an array, not \"epoch\""),
    (lambda p: p | {"kind": "lasso"}, r"'feature_sets.z.probes\[0\].kind': 'lasso' is not one of"),
    (lambda p: {k: v for k, v in p.items() if k != "alpha"}, r"lacks the key 'alpha' in 'feature_sets.z.probes\[0\]'"),
    (lambda p: p | {"alpha": [1.0, 2.0, 3.0]}, r"'feature_sets.z.probes\[0\].alpha' holds 3 values for 1 columns"),
    (lambda p: p | {"standardized": "yes"}, r"'feature_sets.z.probes\[0\].standardized' must be a boolean"),
])
def test_a_malformed_probe_record_is_named_by_its_key(tiny_zoo, run, tmp_path, change, message):
    folder = save_probes(evaluate_probes(tiny_zoo, runs_as_features({"z": str(run)}, tiny_zoo, 0), ["Eph"]),
                         {"z": run}, tmp_path / "p", tiny_zoo)

    def damage(index):
        index["feature_sets"]["z"]["probes"][0] = change(index["feature_sets"]["z"]["probes"][0])
        return index
    resave(folder, index=damage)
    with pytest.raises(ValueError, match=f"p/probes.json: {message}"):
        load_probes(folder)
