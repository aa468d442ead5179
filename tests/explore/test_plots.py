"""Figures for the notebooks hold the data they claim to show."""

import numpy as np
import plotly.graph_objects as go
import pytest

from hrlib.evaluate.features import baselines
from hrlib.evaluate.tables import evaluate_probes
from hrlib.explore import plots
from tests.evaluate.test_tables import with_properties


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


def test_probe_scatter_figures(tiny_zoo):
    bucket = np.where(tiny_zoo.properties.epoch > 2, "late", "early")
    features = baselines(tiny_zoo.layout, n_components=4, max_fit_rows=60, umap=False)
    report = evaluate_probes(with_properties(tiny_zoo, bucket=bucket), {k: features[k] for k in ("s(W)", "W")},
                             targets=["Eph", "bucket"])
    fig = plots.probe_scatter(report, "epoch")
    assert isinstance(fig, go.Figure) and len(fig.data) == 3  # two feature sets and the diagonal
    assert len(fig.data[0].x) == len(report.split.test) * 6
    heat = plots.probe_scatter(report, "bucket")
    assert isinstance(heat.data[0], go.Heatmap) and np.asarray(heat.data[0].z).sum() == len(report.split.test) * 6
    with pytest.raises(ValueError, match="no predictions"):
        plots.probe_scatter(report, "GGap")
