"""Figures and the rebuild evaluation: they show what the zoo holds."""

import numpy as np
import pytest
import torch

from hrlib import plots
from hrlib.augment import erase, permutation_bank, permute
from hrlib.rebuild import evaluate_weights
from hrlib.zoo import weight_variance


def test_rebuilt_networks_reproduce_the_recorded_metrics(tiny_zoo):
    rows = np.arange(0, len(tiny_zoo.properties), 5)
    metrics = evaluate_weights(tiny_zoo, tiny_zoo.samples()[rows], rows)
    recorded = tiny_zoo.properties.iloc[rows]
    np.testing.assert_allclose(metrics["test_acc"], recorded["test_acc"], atol=1e-6)
    np.testing.assert_allclose(metrics["ggap"], recorded["ggap"], atol=1e-6)
    # a permuted network keeps its accuracy exactly; a heavily erased one does not
    flat = torch.tensor(tiny_zoo.samples()[rows])
    gen = torch.Generator().manual_seed(0)
    permuted = permute(flat, permutation_bank(tiny_zoo.layout), gen).numpy()
    np.testing.assert_allclose(evaluate_weights(tiny_zoo, permuted, rows)["test_acc"], recorded["test_acc"], atol=1e-6)
    erased = erase(flat, 1.0, (0.9, 0.9), gen).numpy()
    trained = recorded["epoch"].to_numpy() > 2
    assert (evaluate_weights(tiny_zoo, erased, rows)["test_acc"].to_numpy()[trained] != recorded["test_acc"].to_numpy()[trained]).any()
    with pytest.raises(ValueError, match="weights must be"):
        evaluate_weights(tiny_zoo, flat.numpy()[:, :50], rows)


def test_weight_variance_matches_numpy(tiny_zoo):
    w = tiny_zoo.samples().astype(np.float64)
    assert weight_variance(tiny_zoo) == pytest.approx(w.var(0).mean())
    by_epoch = [w[tiny_zoo.properties["epoch"].to_numpy() == e].var(0).mean() for e in range(6)]
    assert weight_variance(tiny_zoo, by=["epoch"]) == pytest.approx(np.mean(by_epoch))


def test_figures_hold_the_data(tiny_zoo):
    last = plots.final_checkpoints(tiny_zoo)
    assert len(last) == 24 and set(last["epoch"]) == {5}
    fig = plots.accuracy_overview(tiny_zoo)
    np.testing.assert_allclose(np.sort(fig.data[0].x), np.sort(last["test_acc"]))
    assert len(plots.training_curves(tiny_zoo, models=5).data) == 5
    hist = plots.weight_histograms(tiny_zoo)
    assert len(hist.data) == 2 * len(tiny_zoo.layout.layers)
    assert plots.varied_factors(tiny_zoo) == []
    points = np.random.default_rng(0).normal(size=(len(tiny_zoo.properties), 2))
    scatter = plots.embedding_scatter(points, tiny_zoo.properties, "epoch")
    np.testing.assert_allclose(scatter.data[0].x, points[:, 0])
