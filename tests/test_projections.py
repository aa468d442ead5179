"""Representations, 2-D projections and the map score; the side panel's figures and tables."""

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from hrlib.details import properties_table, selection_summary, training_curve, weight_heatmaps
from hrlib.features import WeightStatistics
from hrlib.layout import Layer, Layout
from hrlib.projections import ProjectionSettings, Projections, neighbour_score, project, representations, weight_statistics
from hrlib.zoo import Zoo


def test_pca_is_fitted_on_a_seeded_subsample_and_applied_to_every_row():
    X = np.random.default_rng(0).normal(size=(500, 6)).astype(np.float32) * [5, 3, 1, 1, 1, 1]
    settings = ProjectionSettings(method="pca", fit_rows=100, seed=3)
    fit = np.sort(np.random.default_rng(3).choice(500, 100, replace=False))
    expected = PCA(2, random_state=3).fit(X[fit]).transform(X)
    np.testing.assert_allclose(project(X, settings), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="NaN or infinite"):
        project(np.full((5, 2), np.nan), settings)
    with pytest.raises(ValueError, match="at least 3 rows"):
        project(np.zeros((2, 4)), settings)


def test_umap_fits_a_subsample_and_places_the_rest_beside_their_own_cluster():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=20, size=(4, 10))
    cluster = np.repeat(np.arange(4), 150)
    X = (centres[cluster] + rng.normal(size=(600, 10))).astype(np.float32)
    settings = ProjectionSettings(n_neighbors=10, fit_rows=200, seed=0)
    points = project(X, settings)
    assert points.shape == (600, 2) and np.isfinite(points).all()
    np.testing.assert_array_equal(project(X, settings), points)  # seeded: the same map again
    fit = np.sort(np.random.default_rng(0).choice(600, 200, replace=False))
    rest = np.setdiff1d(np.arange(600), fit)
    # every placed checkpoint's nearest fitted point on the map is one of its own cluster
    nearest = fit[np.argmin(((points[rest, None] - points[None, fit]) ** 2).sum(-1), axis=1)]
    assert (cluster[nearest] == cluster[rest]).all()
    assert neighbour_score(points, cluster.astype(str)) == 1.0


def test_weight_statistics_are_standardized_per_statistic(hyp_zoo):
    stats = weight_statistics(hyp_zoo)
    raw = WeightStatistics(hyp_zoo.layout).fit(hyp_zoo.samples()).transform(hyp_zoo.samples())
    np.testing.assert_allclose(stats, (raw - raw.mean(0)) / raw.std(0), rtol=1e-4, atol=1e-4)
    assert list(representations(hyp_zoo)) == ["W", "s(W)"]


def test_projections_are_cached_and_bad_representations_rejected(hyp_zoo):
    calls = []
    reps = {"W": lambda: calls.append(1) or hyp_zoo.samples(), "bad": lambda: np.zeros((3, 2))}
    projections = Projections(hyp_zoo, reps)
    pca = ProjectionSettings(method="pca")
    first = projections.get("W", pca)
    assert projections.get("W", pca.replace(n_neighbors=50)) is first  # UMAP settings do not change a PCA
    assert projections.cached("W", pca) and not projections.cached("W", ProjectionSettings())
    assert len(calls) == 1
    with pytest.raises(ValueError, match="one row per checkpoint"):
        projections.get("bad", pca)
    with pytest.raises(KeyError, match="unknown representation"):
        projections.get("z", pca)


def test_neighbour_score_reads_a_property_off_the_map_and_ignores_a_models_own_checkpoints():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(2000, 2))
    assert neighbour_score(x, x[:, 0]) > 0.95  # a property laid out along the map
    assert abs(neighbour_score(x, rng.normal(size=2000))) < 0.1  # noise is not
    # 200 models of 10 checkpoints each, each model in its own tight spot, a random class per model
    model = np.repeat(np.arange(200), 10)
    points = rng.uniform(size=(200, 2))[model] + rng.normal(scale=1e-4, size=(2000, 2))
    label = rng.choice(["a", "b"], 200)[model]
    assert neighbour_score(points, label) == 1.0  # its own checkpoints give the class away
    assert neighbour_score(points, label, groups=model) < 0.65  # other models do not: chance
    with pytest.raises(ValueError, match="do not match"):
        neighbour_score(points, label[:10])


def test_checkpoint_details_show_the_recorded_numbers(hyp_zoo):
    props = hyp_zoo.properties
    row = hyp_zoo.rows([7])[4]
    curve = training_curve(hyp_zoo, 7, epoch=4)
    assert [t.name for t in curve.data] == ["train_acc", "test_acc", "selected epoch"]
    with pytest.raises(ValueError, match="no checkpoint at epoch 9"):
        training_curve(hyp_zoo, 7, epoch=9)
    with pytest.raises(IndexError):
        weight_heatmaps(hyp_zoo, len(props))
    predictions = pd.DataFrame(dict(feature="z", target=["Acc", "Act"], row=row, predicted=[0.5, "relu"]))
    table = properties_table(hyp_zoo, row, ["test_acc", "activation", "lr"], predictions)
    assert list(table.index) == ["Acc (test_acc)", "Act (activation)", "LR (lr)"]
    assert table.loc["Acc (test_acc)", "true"] == props["test_acc"][row] and table.loc["Acc (test_acc)", "z"] == 0.5
    assert table.loc["Act (activation)", "z"] == "relu" and pd.isna(table.loc["LR (lr)", "z"])
    summary = selection_summary(props, hyp_zoo.rows([0, 1]), factors=["lr"])
    assert summary.loc["checkpoints", "value"] == "12" and summary.loc["models", "value"] == "2"
    with pytest.raises(ValueError, match="empty"):
        selection_summary(props, [])


def test_weight_heatmaps_put_each_bias_in_the_last_column():
    layout = Layout([Layer("conv", "conv", (2, 1, 2, 2), bias=True), Layer("fc", "linear", (3, 2), bias=True)])
    weights = np.arange(layout.n_params, dtype=np.float32).reshape(1, 1, -1)
    props = pd.DataFrame(dict(model=[0], epoch=[0]))
    fig = weight_heatmaps(Zoo(weights, props, layout, {}), 0)
    np.testing.assert_array_equal(fig.data[0].z, [[0, 1, 2, 3, 8], [4, 5, 6, 7, 9]])  # kernels flattened, bias
    np.testing.assert_array_equal(fig.data[1].z, [[10, 11, 16], [12, 13, 17], [14, 15, 18]])
    assert fig.layout.coloraxis.cmin == -18 and fig.layout.coloraxis.cmax == 18  # zero in the middle
