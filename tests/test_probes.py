"""Probes: planted signals are recovered, α and C are the ones a direct scikit-learn search picks,
test rows never reach a fit, skipped targets say why, Kendall's τ is scipy's."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy.stats import kendalltau
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hrlib.architectures import layout_of
from hrlib.downstream import evaluate_probes, probe_table, scatter, transfer_matrix
from hrlib.features import WeightFeatures, WeightStatistics, baselines, given
from hrlib.presets import Preset, create_zoo
from hrlib.probes import ALPHAS, CS, LogisticProbe, RidgeProbe, kendall_tau, skip_reason, target_kind
from hrlib.zoo import Zoo


def check_regression_data(n_train=60, n_val=200, n_test=200, k=40, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_train + n_val + n_test, k))
    y = X @ rng.normal(size=k) * 0.3 + noise * rng.normal(size=len(X))
    return (X[:n_train], y[:n_train]), (X[n_train:n_train + n_val], y[n_train:n_train + n_val]), \
        (X[n_train + n_val:], y[n_train + n_val:])


def check_fit(probe, train, val):
    X = np.concatenate([train[0], val[0]])
    y = np.concatenate([train[1], val[1]])
    return probe.fit(X, y, np.arange(len(X)) >= len(train[0]))


def with_properties(zoo, **columns):
    return Zoo(zoo.weights, zoo.properties.assign(**columns), zoo.layout, zoo.manifest)


def test_ridge_recovers_a_planted_linear_signal():
    train, val, test = check_regression_data(n_train=300, noise=0.1)
    probe = check_fit(RidgeProbe(), train, val)
    assert probe.score(*test) > 0.9


def test_probe_table_recovers_a_signal_planted_in_the_weight_statistics(tiny_zoo):
    # 17 training models are too few to pin down 100 raw weights, but enough for 14 statistics
    rng = np.random.default_rng(0)
    stats = WeightStatistics(tiny_zoo.layout).fit_transform(tiny_zoo.samples())
    stats = (stats - stats.mean(0)) / stats.std(0)
    planted = stats @ rng.normal(size=stats.shape[1]) + 0.05 * rng.normal(size=len(stats))
    zoo = with_properties(tiny_zoo, planted=planted)
    table = probe_table(zoo, {"s(W)": WeightFeatures(WeightStatistics(zoo.layout))}, targets=["planted"])
    assert table.loc["planted", "s(W)"] > 90


def test_ridge_alpha_matches_a_direct_grid_search():
    train, val, test = check_regression_data()
    probe = check_fit(RidgeProbe(), train, val)
    val_r2 = [r2_score(val[1], Ridge(alpha=a).fit(*train).predict(val[0])) for a in ALPHAS]
    assert probe.alpha_ == ALPHAS[int(np.argmax(val_r2))]
    assert ALPHAS[0] > probe.alpha_ > ALPHAS[-1]  # the data make the choice a real one
    assert probe.val_score_ == pytest.approx(max(val_r2))
    np.testing.assert_allclose(probe.predict(test[0]), Ridge(alpha=probe.alpha_).fit(*train).predict(test[0]))
    X = np.concatenate([train[0], val[0]])
    search = GridSearchCV(Ridge(), {"alpha": list(ALPHAS)}, scoring="r2", refit=False,
                          cv=PredefinedSplit(np.where(np.arange(len(X)) >= len(train[0]), 0, -1)))
    assert search.fit(X, np.concatenate([train[1], val[1]])).best_params_["alpha"] == probe.alpha_
    scaled = check_fit(RidgeProbe(standardize=True), train, val)
    direct = [r2_score(val[1], make_pipeline(StandardScaler(), Ridge(alpha=a)).fit(*train).predict(val[0]))
              for a in ALPHAS]
    assert scaled.alpha_ == ALPHAS[int(np.argmax(direct))]


def test_several_targets_in_one_ridge_fit_each_get_their_own_alpha():
    (X_tr, y1_tr), (X_val, y1_val), (X_te, _) = check_regression_data(seed=1)
    rng = np.random.default_rng(5)
    y2 = 5 * np.concatenate([X_tr, X_val])[:, 0] + rng.normal(size=len(X_tr) + len(X_val)) * 0.1  # easy: small α
    Y_tr, Y_val = np.c_[y1_tr, y2[:len(X_tr)]], np.c_[y1_val, y2[len(X_tr):]]
    joint = check_fit(RidgeProbe(), (X_tr, Y_tr), (X_val, Y_val))
    alone = [check_fit(RidgeProbe(), (X_tr, Y_tr[:, j]), (X_val, Y_val[:, j])) for j in range(2)]
    np.testing.assert_array_equal(joint.alpha_, [p.alpha_ for p in alone])
    assert joint.alpha_[0] != joint.alpha_[1]
    np.testing.assert_allclose(joint.predict(X_te), np.c_[alone[0].predict(X_te), alone[1].predict(X_te)], atol=1e-8)


def test_logistic_c_matches_a_direct_grid_search():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 12))
    y = np.array(["a", "b", "c"])[np.argmax(X[:, :3] + 1.5 * rng.normal(size=(500, 3)), axis=1)]
    train, val = (X[:150], y[:150]), (X[150:], y[150:])
    probe = check_fit(LogisticProbe(), train, val)
    acc = [accuracy_score(val[1], make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500, random_state=0))
                          .fit(*train).predict(val[0])) for c in CS]
    assert probe.C_ == CS[int(np.argmax(acc))]
    assert list(probe.classes_) == ["a", "b", "c"] and probe.score(*val) == pytest.approx(max(acc))


def test_probe_rejects_bad_validation_masks():
    train, val, _ = check_regression_data()
    X, y = np.concatenate([train[0], val[0]]), np.concatenate([train[1], val[1]])
    for mask in (np.ones(len(X), bool), np.zeros(len(X), bool), np.ones(3, bool), (np.arange(len(X)) > 5).astype(int)):
        with pytest.raises(ValueError, match="validation"):
            RidgeProbe().fit(X, y, mask)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RidgeProbe().fit(X, y, np.arange(len(X)) >= len(train[0]))


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


def test_target_kind_follows_dtype():
    assert target_kind(pd.Series([1, 2, 3])) == "regression"
    assert target_kind(pd.Series([0.1, np.nan])) == "regression"
    assert target_kind(pd.Series(["relu", "tanh"])) == "classification"
    assert target_kind(pd.Series(["a", "b"], dtype="category")) == "classification"
    assert target_kind(pd.Series([True, False])) == "classification"
    with pytest.raises(TypeError, match="neither"):
        target_kind(pd.Series(pd.to_datetime(["2021-01-01"])))
    splits = {"train": np.array([0, 1]), "val": np.array([2]), "test": np.array([3])}
    assert skip_reason(pd.Series([1.0, 2.0, 3.0, 4.0]), splits) is None
    assert "train split" in skip_reason(pd.Series([1.0, 1.0, 3.0, 4.0]), splits)
    assert "test split" in skip_reason(pd.Series([1.0, 2.0, 3.0, np.nan]), splits)


def test_kendall_tau_is_scipys():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 200), rng.normal(size=200)  # with ties
    assert kendall_tau(a, b) == kendalltau(a, b).statistic


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


def test_scatter_figures(tiny_zoo):
    bucket = np.where(tiny_zoo.properties.epoch > 2, "late", "early")
    features = baselines(tiny_zoo.layout, n_components=4, max_fit_rows=60, umap=False)
    report = evaluate_probes(with_properties(tiny_zoo, bucket=bucket), {k: features[k] for k in ("s(W)", "W")},
                             targets=["Eph", "bucket"])
    fig = scatter(report, "epoch")
    assert isinstance(fig, go.Figure) and len(fig.data) == 3  # two feature sets and the diagonal
    assert len(fig.data[0].x) == len(report.split.test) * 6
    heat = scatter(report, "bucket")
    assert isinstance(heat.data[0], go.Heatmap) and np.asarray(heat.data[0].z).sum() == len(report.split.test) * 6
    with pytest.raises(ValueError, match="no predictions"):
        scatter(report, "GGap")


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
