"""Representations, 2-D projections and the map score."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from hrlib.evaluate.features import WeightStatistics
from hrlib.errors import OutputError
from hrlib.explore.projections import (ProjectionSettings, Projections, Representation, neighbour_score, project,
                                       representations, weight_statistics)


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


def test_maps_are_kept_on_disk_by_zoo_representation_and_settings(hyp_zoo, tmp_path):
    cache, pca = tmp_path / "maps", ProjectionSettings(method="pca")
    z = hyp_zoo.samples()[:, :5].copy()
    first = Projections(hyp_zoo, representations(hyp_zoo, {"toy": z}), cache=cache)
    kept = {name: first.get(name, pca) for name in first.names}
    assert len(list(cache.glob("*.npy"))) == 3
    # another session: every map read from disk, nothing computed
    calls = []
    reps = {name: Representation(lambda: calls.append(1), rep.source)
            for name, rep in representations(hyp_zoo, {"toy": z}).items()}
    second = Projections(hyp_zoo, reps, cache=cache)
    for name, points in kept.items():
        np.testing.assert_array_equal(second.get(name, pca), points)
    assert not calls and second.from_disk == {(name, pca.key()) for name in kept}
    # other values under the same name, or other settings, are other maps
    other = Projections(hyp_zoo, representations(hyp_zoo, {"toy": z + 1}), cache=cache)
    assert not other.cached("z (toy)", pca) and other.cached("W", pca)
    assert not other.cached("W", pca.replace(seed=1))
    # a damaged map is computed again and rewritten
    for file in cache.glob("*.npy"):
        file.write_bytes(b"not a map")
    third = Projections(hyp_zoo, representations(hyp_zoo), cache=cache)
    np.testing.assert_allclose(third.get("W", pca), kept["W"])
    assert not third.from_disk and Projections(hyp_zoo, representations(hyp_zoo), cache=cache).cached("W", pca)
    # a folder hrlib did not make is never written into
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="not an hrlib maps folder"):
        Projections(hyp_zoo, representations(hyp_zoo), cache=tmp_path / "mine")


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
