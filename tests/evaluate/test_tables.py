"""Probe tables: planted signals are recovered through the whole protocol, test rows never reach a
fit, skipped targets say why, transfer scores Kendall's τ like scipy, errors are clear."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from hrlib.evaluate.features import WeightFeatures, WeightStatistics, baselines, given
from hrlib.evaluate.probes import RidgeProbe
from hrlib.evaluate.tables import evaluate_probes, probe_table, transfer_matrix
from hrlib.zoos.architectures import layout_of
from hrlib.zoos.build import create_zoo
from hrlib.zoos.presets import Preset
from hrlib.zoos.zoo import Zoo


def with_properties(zoo, **columns):
    return Zoo(zoo.weights, zoo.properties.assign(**columns), zoo.layout, zoo.manifest)


def test_probe_table_recovers_a_signal_planted_in_the_weight_statistics(tiny_zoo):
    # 17 training models are too few to pin down 100 raw weights, but enough for 14 statistics
    rng = np.random.default_rng(0)
    stats = WeightStatistics(tiny_zoo.layout).fit_transform(tiny_zoo.samples())
    stats = (stats - stats.mean(0)) / stats.std(0)
    planted = stats @ rng.normal(size=stats.shape[1]) + 0.05 * rng.normal(size=len(stats))
    zoo = with_properties(tiny_zoo, planted=planted)
    table = probe_table(zoo, {"s(W)": WeightFeatures(WeightStatistics(zoo.layout))}, targets=["planted"])
    assert table.loc["planted", "s(W)"] > 90


def test_no_test_row_reaches_a_fit(tiny_zoo):
    """Wild weights and targets in the test split change test scores only: every fitted choice stays."""
    split = tiny_zoo.split()
    bucket = np.where(tiny_zoo.properties.test_acc > tiny_zoo.properties.test_acc.median(), "high", "low")
    clean = with_properties(tiny_zoo, bucket=bucket)
    weights = np.array(tiny_zoo.weights)
    weights[split.test] = weights[split.test] * 1e4 + 1e3
    rows = tiny_zoo.rows(split.test)
    props = clean.properties.copy()
    props.loc[rows, ["test_acc", "ggap", "epoch"]] = 1e9
    props.loc[rows, "bucket"] = "poison"
    poisoned = Zoo(weights, props, tiny_zoo.layout, tiny_zoo.manifest)
    targets = ["Eph", "Acc", "GGap", "bucket"]
    features = baselines(tiny_zoo.layout, n_components=4, max_fit_rows=60, umap=False)
    features = {k: features[k] for k in ("W", "PCA_l", "PCA_r", "s(W)")}  # identity, fitted, subsampled, stateless
    a = evaluate_probes(clean, features, targets, split=split)
    b = evaluate_probes(poisoned, features, targets, split=split)
    pd.testing.assert_frame_equal(a.details[["target", "feature", "value", "val", "n_train", "n_val"]],
                                  b.details[["target", "feature", "value", "val", "n_train", "n_val"]])
    assert (a.table.loc["Acc"] != b.table.loc["Acc"]).all()  # the poison did reach the test scores
    assert set(b.predictions["row"]) == set(rows)


def test_constant_and_missing_targets_are_skipped_with_a_note(tiny_zoo):
    zoo = with_properties(tiny_zoo, constant=3.0, missing=np.nan, labels="same")
    report = evaluate_probes(zoo, {"s(W)": baselines(zoo.layout, umap=False)["s(W)"]},
                             targets=["constant", "missing", "labels", "Acc"])
    assert list(report.table.index) == ["Acc"]
    notes = "\n".join(report.notes)
    assert "constant (3.0 in every checkpoint); skipped, not scored" in notes
    assert "missing: all values are missing (NaN); skipped" in notes
    assert "labels: constant ('same'" in notes
    default = evaluate_probes(tiny_zoo, {"s(W)": baselines(zoo.layout, umap=False)["s(W)"]})
    assert "Act" not in default.table.index and any(n.startswith("Act (activation): constant") for n in default.notes)
    assert {"Eph", "Acc", "GGap", "F1_C0", "F1_C3"} <= set(default.table.index)


def test_partly_missing_target_leaves_those_rows_out(tiny_zoo):
    acc = tiny_zoo.properties.test_acc.to_numpy().copy()
    acc[::5] = np.nan
    report = evaluate_probes(with_properties(tiny_zoo, acc=acc), {"s(W)": baselines(tiny_zoo.layout, umap=False)["s(W)"]},
                             targets=["acc"])
    row = report.details.iloc[0]
    split = report.split
    assert row.n_train == np.isfinite(acc[tiny_zoo.rows(split.train)]).sum() < len(split.train) * 6
    assert np.isfinite(report.predictions["true"]).all()


@pytest.fixture(scope="module")
def other_zoo(tmp_path_factory):
    preset = Preset("tiny_other", "tetris_mlp", "tetris", epochs=5, batch_size=16,
                    fixed=dict(activation="tanh", init="kaiming_uniform", lr=3e-3), seeds=20)
    return create_zoo(preset, tmp_path_factory.mktemp("zoos") / "other", device="cpu", progress=False)


def test_transfer_matrix_scores_kendall_tau_like_scipy(tiny_zoo, other_zoo):
    zoos = {"A": tiny_zoo, "B": other_zoo}
    features = {"s(W)": baselines(tiny_zoo.layout, umap=False)["s(W)"], "W": lambda name: WeightFeatures(
        baselines(tiny_zoo.layout, umap=False)["W"].transformer)}
    table = transfer_matrix(zoos, features, "Acc")
    assert list(table.index) == ["A", "B"] and list(table.columns) == [(z, f) for z in "AB" for f in ("s(W)", "W")]
    # by hand: fit on A's train/val, score B's test split with scipy
    split_a, split_b = tiny_zoo.split(), other_zoo.split()
    fs = baselines(tiny_zoo.layout, umap=False)["s(W)"].fit(tiny_zoo, tiny_zoo.rows(split_a.train))
    fit_rows = np.concatenate([tiny_zoo.rows(split_a.train), tiny_zoo.rows(split_a.val)])
    probe = RidgeProbe().fit(fs.transform(tiny_zoo, fit_rows), tiny_zoo.properties.test_acc.to_numpy()[fit_rows],
                             np.arange(len(fit_rows)) >= len(split_a.train) * 6)
    rows_b = other_zoo.rows(split_b.test)
    pred = probe.predict(fs.transform(other_zoo, rows_b))
    assert table.loc["A", ("B", "s(W)")] == pytest.approx(kendalltau(other_zoo.properties.test_acc[rows_b], pred).statistic)
    assert table.loc["A", ("A", "s(W)")] > 0.3  # in distribution, s(W) ranks accuracy
    with pytest.raises(ValueError, match="categorical"):
        transfer_matrix(zoos, features, "Act")


def test_a_given_z_plugs_in_beside_the_baselines(tiny_zoo):
    """The seam for hyper-representations: an array aligned with the properties rows is a feature set."""
    rng = np.random.default_rng(0)
    epoch = tiny_zoo.properties.epoch.to_numpy()
    z = np.c_[epoch + 0.1 * rng.normal(size=len(epoch)), rng.normal(size=(len(epoch), 4))]
    features = {"s(W)": baselines(tiny_zoo.layout, umap=False)["s(W)"], "z": given(z, tiny_zoo)}
    table = probe_table(tiny_zoo, features, targets=["Eph"])
    assert list(table.columns) == ["s(W)", "z"] and table.loc["Eph", "z"] > 95


def test_evaluation_errors_are_clear(tiny_zoo):
    with pytest.raises(ValueError, match="no feature sets"):
        evaluate_probes(tiny_zoo, {})
    with pytest.raises(ValueError, match="unknown target 'accuracy'"):
        evaluate_probes(tiny_zoo, baselines(tiny_zoo.layout, umap=False), targets=["accuracy"])
    digits = Zoo(np.zeros((2, 2, 1210), np.float32), tiny_zoo.properties.iloc[:4].assign(model=[0, 0, 1, 1]),
                 layout_of("digits_mlp"), {})
    with pytest.raises(ValueError, match="one architecture"):
        transfer_matrix({"a": tiny_zoo, "b": digits}, {"s(W)": baselines(tiny_zoo.layout, umap=False)["s(W)"]})
