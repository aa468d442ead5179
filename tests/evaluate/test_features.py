"""Feature sets: s(W) equals a direct per-layer computation, and every feature set is fitted on train only."""

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA, KernelPCA

from hrlib.zoos.architectures import layout_of
from hrlib.evaluate.features import Encoded, WeightFeatures, WeightStatistics, baselines, flat_rows, given
from hrlib.zoos.zoo import Zoo


def check_layer_tensors(layout, X):
    """Per-layer weight and bias arrays, cut from the state_dict (not from the flat offsets)."""
    state = layout.unflatten(torch.tensor(np.array(X)))
    out = []
    for layer in layout.layers:
        out.append((state[f"{layer.name}.weight"].reshape(len(X), -1).numpy(),
                    state[f"{layer.name}.bias"].numpy() if layer.bias else None))
    return out


def test_authors_statistics_match_numpy_per_layer(tiny_zoo):
    X = tiny_zoo.samples()
    stats = WeightStatistics(tiny_zoo.layout).fit(X).transform(X)
    expected = []
    for w, _ in check_layer_tensors(tiny_zoo.layout, X):
        expected += [w.mean(1), w.var(1)] + [np.percentile(w, q, axis=1) for q in (1, 25, 50, 75, 99)]
    np.testing.assert_allclose(stats, np.stack(expected, 1), rtol=1e-6, atol=1e-7)
    assert stats.shape == (len(X), 14)


def test_unterthiner_statistics_include_biases():
    layout = layout_of("digits_mlp")  # 64→16→10 with biases
    X = np.random.default_rng(1).normal(size=(30, layout.n_params)).astype(np.float32)
    est = WeightStatistics(layout, "unterthiner").fit(X)
    stats = est.transform(X)
    expected = []
    for w, b in check_layer_tensors(layout, X):
        for t in (w, b):
            expected += [t.min(1), *np.percentile(t, [25, 50, 75], axis=1), t.max(1), t.mean(1), t.std(1)]
    np.testing.assert_allclose(stats, np.stack(expected, 1), rtol=1e-6, atol=1e-7)
    assert len(est.get_feature_names_out()) == stats.shape[1] == 4 * 7
    assert est.get_feature_names_out()[7] == f"{layout.layers[0].name}.bias.min"


def test_statistics_reject_bad_input(tiny_zoo):
    with pytest.raises(ValueError, match="variant"):
        WeightStatistics(tiny_zoo.layout, "median").fit(tiny_zoo.samples([0]))
    with pytest.raises(ValueError, match="columns"):
        WeightStatistics(tiny_zoo.layout).fit(np.zeros((3, 7)))
    with pytest.raises(ValueError, match="layout"):
        WeightStatistics().fit(tiny_zoo.samples([0]))


def test_features_are_fitted_on_train_rows_only(tiny_zoo):
    split = tiny_zoo.split()
    train = tiny_zoo.rows(split.train)
    pca = WeightFeatures(PCA(5)).fit(tiny_zoo, train)
    direct = PCA(5).fit(tiny_zoo.samples(split.train))
    np.testing.assert_allclose(pca.transformer_.components_, direct.components_, atol=1e-5)
    kpca = WeightFeatures(KernelPCA(5, kernel="rbf"), max_fit_rows=40, random_state=3).fit(tiny_zoo, train)
    assert len(kpca.fit_rows_) == 40 and set(kpca.fit_rows_) <= set(train)
    again = WeightFeatures(KernelPCA(5, kernel="rbf"), max_fit_rows=40, random_state=3).fit(tiny_zoo, train)
    np.testing.assert_array_equal(kpca.fit_rows_, again.fit_rows_)  # the subsample is seeded


def test_every_baseline_fits_with_poisoned_test_rows(tiny_zoo):
    """NaN weights in every test checkpoint: any fit that touched one would raise."""
    split = tiny_zoo.split()
    weights = np.array(tiny_zoo.weights)
    weights[split.test] = np.nan
    poisoned = Zoo(weights, tiny_zoo.properties, tiny_zoo.layout, tiny_zoo.manifest)
    train, val = tiny_zoo.rows(split.train), tiny_zoo.rows(split.val)
    for name, features in baselines(tiny_zoo.layout, n_components=4, max_fit_rows=60, umap=False).items():
        clean = features.fit(tiny_zoo, train).transform(tiny_zoo, val)
        dirty = features.fit(poisoned, train).transform(poisoned, val)
        np.testing.assert_allclose(dirty, clean, rtol=1e-6, atol=1e-6, err_msg=name)
    assert np.isnan(flat_rows(poisoned, tiny_zoo.rows(split.test))).all()  # the poison is there to be hit


UMAP_CHECK = """
import sys
import numpy as np
from hrlib import load_zoo
from hrlib.evaluate.features import baselines
from hrlib.zoos.zoo import Zoo
zoo = load_zoo(sys.argv[1])
split = zoo.split()
weights = np.array(zoo.weights)
weights[split.test] = np.nan
poisoned = Zoo(weights, zoo.properties, zoo.layout, zoo.manifest)
umap = baselines(zoo.layout, umap_components=3)["UMAP"]
assert umap.transformer.n_neighbors == 25 and umap.transformer.min_dist == 0.001
umap.transformer.set_params(n_epochs=20)  # a smoke-sized optimisation
z = umap.fit(poisoned, zoo.rows(split.train)).transform(poisoned, zoo.rows(split.val))
assert z.shape == (len(split.val) * zoo.weights.shape[1], 3) and np.isfinite(z).all(), z
print("ok")
"""


def test_umap_baseline_is_fitted_on_train_rows(tiny_zoo):
    # in a child process with numba's JIT off: compiling UMAP would take longer than the fit (ECOSYSTEM.md)
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    result = subprocess.run([sys.executable, "-c", UMAP_CHECK, str(tiny_zoo.path)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_encoded_and_given_features(tiny_zoo):
    n = len(tiny_zoo.properties)
    z = np.arange(n * 2, dtype=float).reshape(n, 2)
    calls = []
    enc = Encoded(lambda zoo: calls.append(1) or z, name="E_cD")
    np.testing.assert_array_equal(enc.fit(tiny_zoo, [0]).transform(tiny_zoo, [3, 1]), z[[3, 1]])
    enc.transform(tiny_zoo, [5])
    assert len(calls) == 1  # encoded once per zoo
    with pytest.raises(ValueError, match="one row per checkpoint"):
        Encoded(lambda zoo: z[:-1]).transform(tiny_zoo, [0])
    other = Zoo(np.array(tiny_zoo.weights), tiny_zoo.properties, tiny_zoo.layout, tiny_zoo.manifest)
    fixed = given(z, tiny_zoo)
    np.testing.assert_array_equal(fixed.transform(tiny_zoo, [2]), z[[2]])
    with pytest.raises(ValueError, match="cannot map another"):
        fixed.transform(other, [2])


def test_encoded_features_keep_no_zoo_alive(tiny_zoo):
    copy = Zoo(np.array(tiny_zoo.weights), tiny_zoo.properties, tiny_zoo.layout, tiny_zoo.manifest)
    enc = Encoded(lambda zoo: np.zeros((len(zoo.properties), 2)))
    enc.transform(copy, [0])
    alive = weakref.ref(copy)
    del copy
    gc.collect()
    assert alive() is None  # the cache let go of the zoo


def test_flat_rows_follow_property_rows(tiny_zoo):
    rows = tiny_zoo.rows([2, 5])
    np.testing.assert_array_equal(flat_rows(tiny_zoo, rows), tiny_zoo.samples([2, 5]))
    with pytest.raises(IndexError):
        flat_rows(tiny_zoo, [len(tiny_zoo.properties)])
