"""Figures for the notebooks hold the data they claim to show."""

import numpy as np
import pandas as pd
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
    curves = plots.training_curves(tiny_zoo, models=5).data
    assert len(curves) == 6  # five models and the median of all
    np.testing.assert_allclose(curves[-1].y, tiny_zoo.properties.groupby("epoch").test_acc.median())
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
    # per feature set: the 10-90% band, the median prediction per true epoch, the diagonal
    assert isinstance(fig, go.Figure) and len(fig.data) == 6
    preds = report.predictions.query("target == 'Eph' and feature == 's(W)'")
    np.testing.assert_allclose(fig.data[1].y, preds.astype({"true": float, "predicted": float}).groupby("true").predicted.median())
    heat = plots.probe_scatter(report, "bucket")
    assert isinstance(heat.data[0], go.Heatmap) and np.asarray(heat.data[0].z).sum() == len(report.split.test) * 6
    with pytest.raises(ValueError, match="no predictions"):
        plots.probe_scatter(report, "GGap")


def _untitled(fig: go.Figure) -> list[str]:
    """What a reader would miss: the title, the title of every axis a trace is drawn on, colour-bar titles."""
    missing = [] if fig.layout.title.text else ["figure title"]
    used = {(getattr(t, "xaxis", None) or "x", getattr(t, "yaxis", None) or "y") for t in fig.data}
    for x, y in used:
        for axis in (f"xaxis{x[1:]}", f"yaxis{y[1:]}"):
            if not fig.layout[axis].title.text:
                missing.append(f"{axis} title")
    for trace in fig.data:
        bar = None
        if isinstance(trace, go.Heatmap) and trace.coloraxis is None:
            bar = trace.colorbar
        elif getattr(trace, "marker", None) is not None and getattr(trace.marker, "showscale", None):
            bar = trace.marker.colorbar
        if bar is not None and not bar.title.text:
            missing.append(f"colour bar of {trace.name}")
    for name in ("coloraxis",) + tuple(k for k in fig.layout if k.startswith("coloraxis")):
        axis = fig.layout[name] if name in fig.layout else None
        if axis is not None and axis.colorscale is not None and not axis.colorbar.title.text:
            missing.append(f"{name} colour bar")
    return missing


def test_every_figure_names_its_axes_and_colours(hyp_zoo):
    """Each plotting function, on a small zoo whose hyper-parameters vary: a title, axis titles on every
    axis with data, and a title on every colour bar."""
    from hrlib.explore import panel

    report = evaluate_probes(hyp_zoo, {"s(W)": baselines(hyp_zoo.layout, umap=False)["s(W)"]},
                             targets=["Eph", "Acc", "Act"])
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.5], "val_loss": [3.1, 2.2, 1.8],
                            "train_mse": [0.5, 0.3, 0.2], "val_mse": [0.6, 0.4, 0.3], "val_r2": [0.1, 0.4, 0.6]})
    points = np.random.default_rng(0).normal(size=(len(hyp_zoo.properties), 2))
    last = plots.final_checkpoints(hyp_zoo)
    ours = pd.DataFrame({"Rec": [90.0, np.nan], "Acc": [80.0, 85.0]}, index=["ED", "E_c"])
    paper = pd.DataFrame({"Acc": [70.0]}, index=["ED"])
    figures = {
        "accuracy_overview": plots.accuracy_overview(hyp_zoo),
        "accuracy_overview by lr": plots.accuracy_overview(hyp_zoo, color="lr"),
        "factor_counts": plots.factor_counts(hyp_zoo),
        "training_curves": plots.training_curves(hyp_zoo, "test_acc"),
        "training_curves by activation": plots.training_curves(hyp_zoo, "ggap", color="activation"),
        "weight_histograms": plots.weight_histograms(hyp_zoo),
        "embedding_scatter, numbers": plots.embedding_scatter(points, hyp_zoo.properties, "epoch"),
        "embedding_scatter, classes": plots.embedding_scatter(points, hyp_zoo.properties, "activation"),
        "history_curves": plots.history_curves(history),
        "paired_scatter": plots.paired_scatter(last.test_acc, last.train_acc, "test accuracy", "train accuracy",
                                               color=last.epoch),
        "probe_scatter, epoch": plots.probe_scatter(report, "Eph"),
        "probe_scatter, accuracy": plots.probe_scatter(report, "Acc"),
        "probe_scatter, activation": plots.probe_scatter(report, "Act"),
        "training_curve": panel.training_curve(hyp_zoo, 0, epoch=2),
        "weight_heatmaps": panel.weight_heatmaps(hyp_zoo, 3),
        "table_bars": plots.table_bars({"this run": ours, "paper": paper}, "R², %", "loss", "ours and the paper's"),
    }
    missing = {name: gaps for name, fig in figures.items() if (gaps := _untitled(fig))}
    assert not missing, missing
    assert plots.factor_counts(tiny_zoo_like_seed(hyp_zoo)) is None  # only the seed varies: nothing to show
    assert [b.x for b in figures["factor_counts"].data][1] == ("0.001", "0.01")  # numbers in numeric order
    assert figures["embedding_scatter, numbers"].layout.coloraxis.colorbar.title.text == "epoch"
    ours_bars, paper_bars = figures["table_bars"].data  # blocks by column, bars by row; missing cells stay gaps
    assert [list(level) for level in ours_bars.x] == [["Rec", "Rec", "Acc", "Acc"], ["ED", "E_c", "ED", "E_c"]]
    np.testing.assert_array_equal(ours_bars.y, [90.0, np.nan, 80.0, 85.0])
    np.testing.assert_array_equal(paper_bars.y, [np.nan, np.nan, 70.0, np.nan])


def tiny_zoo_like_seed(zoo):
    """`zoo` cut to the models of one activation and learning rate: a zoo where only the seed varies."""
    from hrlib.zoos.zoo import Zoo

    props = zoo.properties
    models = sorted(props[(props.activation == "tanh") & (props.lr == 1e-2)].model.unique())
    rows = zoo.rows(models)
    kept = props.iloc[rows].reset_index(drop=True)
    kept["model"] = kept["model"].map({m: i for i, m in enumerate(models)})
    return Zoo(zoo.weights[models], kept, zoo.layout, zoo.manifest)
