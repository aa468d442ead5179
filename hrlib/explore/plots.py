"""Plotly figures of zoos and training runs, for the notebooks; each function returns a go.Figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from sklearn.metrics import confusion_matrix, r2_score

from hrlib.evaluate.probes import label
from hrlib.evaluate.tables import ProbeReport
from hrlib.zoos.population import FACTORS
from hrlib.zoos.zoo import Zoo

LARGE = 5000  # above this many points, scatters switch to WebGL


def final_checkpoints(zoo: Zoo) -> pd.DataFrame:
    """The properties of each model's last checkpoint."""
    props = zoo.properties
    return props[props["epoch"] == props.groupby("model")["epoch"].transform("max")]


def varied_factors(zoo: Zoo) -> list[str]:
    """Generating factors (seed aside) that take more than one value in the zoo."""
    props = zoo.properties
    return [f for f in FACTORS if f != "seed" and f in props and props[f].nunique() > 1]


def accuracy_overview(zoo: Zoo, color: str | None = None) -> go.Figure:
    """Histograms of final test accuracy and generalization gap, optionally stacked by a factor."""
    last = final_checkpoints(zoo)
    fig = make_subplots(1, 2, subplot_titles=("final test accuracy", "final generalization gap"))
    groups = [(None, last)] if color is None else list(last.groupby(color))
    for i, (name, part) in enumerate(groups):
        for col, metric in ((1, "test_acc"), (2, "ggap")):
            fig.add_trace(go.Histogram(x=part[metric], name=str(name), legendgroup=str(name), showlegend=col == 1 and color is not None,
                                       marker_color=px.colors.qualitative.Plotly[i % 10], opacity=0.75, nbinsx=40), 1, col)
    fig.update_layout(barmode="stack", height=320, legend_title=color)
    return fig


def factor_counts(zoo: Zoo) -> go.Figure:
    """Models per value of each varied hyper-parameter."""
    factors = varied_factors(zoo) or ["seed"]
    per_model = final_checkpoints(zoo)
    fig = make_subplots(1, len(factors), subplot_titles=factors)
    for i, factor in enumerate(factors, 1):
        counts = per_model[factor].astype(str).value_counts().sort_index()
        fig.add_trace(go.Bar(x=counts.index, y=counts.values, showlegend=False), 1, i)
    fig.update_layout(height=300, title="models per hyper-parameter value")
    return fig


def training_curves(zoo: Zoo, metric: str = "test_acc", models: int = 40, color: str | None = None,
                    seed: int = 0) -> go.Figure:
    """`metric` over epochs for a seeded sample of models."""
    props = zoo.properties
    chosen = np.sort(np.random.default_rng(seed).choice(zoo.n_models, min(models, zoo.n_models), replace=False))
    sample = props[props["model"].isin(chosen)].copy()
    if color is not None:
        sample[color] = sample[color].astype(str)
    fig = px.line(sample, x="epoch", y=metric, line_group="model", color=color, hover_data=["model", "seed"])
    fig.update_traces(opacity=0.6)
    fig.update_layout(height=360, title=f"{metric} over training, {len(chosen)} models")
    return fig


def weight_histograms(zoo: Zoo, epochs=None, bins: int = 60, max_models: int = 2000, seed: int = 0) -> go.Figure:
    """Histogram of each layer's weights at the first and last checkpoint (or the given epochs)."""
    layout = zoo.layout
    all_epochs = list(zoo.epochs)
    epochs = [all_epochs[0], all_epochs[-1]] if epochs is None else list(epochs)
    models = np.sort(np.random.default_rng(seed).choice(zoo.n_models, min(max_models, zoo.n_models), replace=False))
    fig = make_subplots(1, len(layout.layers), subplot_titles=[f"layer {l.name} ({l.kind})" for l in layout.layers])
    for k, epoch in enumerate(epochs):
        w = np.asarray(zoo.weights[models, all_epochs.index(epoch)])
        for i in range(len(layout.layers)):
            values = w[:, layout.weight_slice(i)].ravel()
            fig.add_trace(go.Histogram(x=values, nbinsx=bins, name=f"epoch {epoch}", legendgroup=str(epoch),
                                       showlegend=i == 0, opacity=0.6, histnorm="probability density",
                                       marker_color=px.colors.qualitative.Plotly[k % 10]), 1, i + 1)
    fig.update_layout(barmode="overlay", height=320, title="weights per layer")
    return fig


def embedding_scatter(points: np.ndarray, properties: pd.DataFrame, color: str, title: str = "",
                      hover=("model", "epoch", "test_acc")) -> go.Figure:
    """2-D points coloured by a property: a palette for categories, a colour scale for numbers."""
    frame = properties.reset_index(drop=True).copy()
    frame["x"], frame["y"] = points[:, 0], points[:, 1]
    if not pd.api.types.is_numeric_dtype(frame[color]):
        frame[color] = frame[color].astype(str)
    fig = px.scatter(frame, x="x", y="y", color=color, hover_data=[h for h in hover if h in frame],
                     render_mode="webgl" if len(frame) > LARGE else "auto", title=title)
    fig.update_traces(marker_size=4)
    fig.update_layout(height=460)
    return fig


def history_curves(history: pd.DataFrame) -> go.Figure:
    """Loss parts (train and validation) and validation reconstruction R² over epochs."""
    fig = make_subplots(1, 2, subplot_titles=("loss", "validation reconstruction R²"))
    for column in [c for c in history if c.startswith(("train_", "val_")) and c != "val_r2"]:
        dash = "dot" if column.startswith("val_") else None
        fig.add_trace(go.Scatter(x=history["epoch"], y=history[column], name=column, line_dash=dash), 1, 1)
    if "val_r2" in history:
        fig.add_trace(go.Scatter(x=history["epoch"], y=history["val_r2"], name="val_r2"), 1, 2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(height=340)
    return fig


def paired_scatter(x, y, xlabel: str, ylabel: str, color=None, title: str = "") -> go.Figure:
    """y against x with the diagonal, e.g. accuracy after against accuracy before."""
    fig = px.scatter(x=np.asarray(x), y=np.asarray(y), color=color, labels={"x": xlabel, "y": ylabel}, title=title)
    low, high = float(min(np.min(x), np.min(y))), float(max(np.max(x), np.max(y)))
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", line=dict(dash="dash", color="grey"),
                             showlegend=False))
    fig.update_traces(marker_size=4, selector=dict(mode="markers"))
    fig.update_layout(height=380)
    return fig


def probe_scatter(report: ProbeReport, target: str, features=None) -> go.Figure:
    """Predicted against true test values of one target, a trace per feature set.

    A categorical target gets a confusion matrix (true × predicted counts) per feature set instead.
    """
    preds = report.predictions
    if preds.empty or target not in set(preds["target"]):
        wanted = label(target)
        if preds.empty or wanted not in set(preds["target"]):
            raise ValueError(f"no predictions for target {target!r} in this report")
        target = wanted
    preds = preds[preds["target"] == target]
    names = list(dict.fromkeys(preds["feature"])) if features is None else list(features)
    kind = report.details.loc[report.details["target"] == target, "kind"].iloc[0]
    fig = go.Figure()
    if kind == "regression":
        for name in names:
            part = preds[preds["feature"] == name]
            score = 100 * r2_score(part["true"], part["predicted"])
            fig.add_trace(go.Scattergl(x=part["true"], y=part["predicted"], mode="markers", name=f"{name} (R² {score:.1f}%)",
                                       marker=dict(size=3, opacity=0.4)))
        low, high = preds["true"].min(), preds["true"].max()
        fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="ideal",
                                 line=dict(color="black", dash="dash")))
        fig.update_layout(title=f"{target}: predicted vs true (test split)", xaxis_title="true",
                          yaxis_title="predicted")
        return fig
    classes = sorted(set(preds["true"].astype(str)))
    for i, name in enumerate(names):
        part = preds[preds["feature"] == name]
        counts = confusion_matrix(part["true"].astype(str), part["predicted"].astype(str), labels=classes)
        fig.add_trace(go.Heatmap(z=counts, x=classes, y=classes, name=name, visible=i == 0, colorscale="Blues"))
    buttons = [dict(label=name, method="update", args=[{"visible": [j == i for j in range(len(names))]}])
               for i, name in enumerate(names)]
    fig.update_layout(title=f"{target}: confusion matrix (test split)", xaxis_title="predicted", yaxis_title="true",
                      updatemenus=[dict(buttons=buttons, direction="down")] if len(names) > 1 else [])
    return fig
