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
MAX_POINTS = 3000  # points per panel of a predicted-vs-true scatter; more are subsampled
# Axis and legend names of the zoo's property columns.
AXIS_NAMES = {
    "epoch": "epoch", "test_acc": "test accuracy", "train_acc": "train accuracy", "test_loss": "test loss",
    "train_loss": "train loss", "ggap": "generalization gap (train − test accuracy)", "lr": "learning rate",
    "weight_decay": "weight decay", "dropout": "dropout", "train_fraction": "training fraction",
    "activation": "activation", "init": "initialization", "init_std": "initialization std",
    "optimizer": "optimizer", "seed": "seed", "model": "model",
}
# Loss parts of a training history.
LOSS_PARTS = {"loss": "total loss", "mse": "reconstruction", "contrast": "contrastive"}


def axis_name(column: str) -> str:
    """A readable name for a property column: 'test accuracy' for test_acc, 'F1 of class 2' for f1_c2."""
    if column in AXIS_NAMES:
        return AXIS_NAMES[column]
    if column.startswith("f1_c") and column[4:].isdigit():
        return f"F1 of class {column[4:]}"
    return column.replace("_", " ")


def final_checkpoints(zoo: Zoo) -> pd.DataFrame:
    """The properties of each model's last checkpoint."""
    props = zoo.properties
    return props[props["epoch"] == props.groupby("model")["epoch"].transform("max")]


def varied_factors(zoo: Zoo) -> list[str]:
    """Generating factors (seed aside) that take more than one value in the zoo."""
    props = zoo.properties
    return [f for f in FACTORS if f != "seed" and f in props and props[f].nunique() > 1]


def _palette(i: int) -> str:
    return px.colors.qualitative.Plotly[i % len(px.colors.qualitative.Plotly)]


def accuracy_overview(zoo: Zoo, color: str | None = None) -> go.Figure:
    """Histograms of final test accuracy and generalization gap, stacked by a factor when given."""
    last = final_checkpoints(zoo)
    fig = make_subplots(1, 2, subplot_titles=("final test accuracy", "final generalization gap"), horizontal_spacing=0.1)
    groups = [(None, last)] if color is None else list(last.groupby(color))  # groupby sorts numbers as numbers
    for i, (name, part) in enumerate(groups):
        for col, metric in ((1, "test_acc"), (2, "ggap")):
            fig.add_trace(go.Histogram(x=part[metric], name=str(name), legendgroup=str(name),
                                       showlegend=col == 1 and color is not None, marker_color=_palette(i),
                                       opacity=0.75, nbinsx=40), 1, col)
    fig.update_xaxes(title_text=axis_name("test_acc"), row=1, col=1)
    fig.update_xaxes(title_text=axis_name("ggap"), row=1, col=2)
    fig.update_yaxes(title_text="models")
    fig.update_layout(barmode="stack", height=340, title=f"The last checkpoint of each of {len(last)} models",
                      legend_title_text=axis_name(color) if color else None)
    return fig


def factor_counts(zoo: Zoo) -> go.Figure | None:
    """Models per value of each varied hyper-parameter; None where only the seed varies (nothing to show)."""
    factors = varied_factors(zoo)
    if not factors:
        return None
    per_model = final_checkpoints(zoo)
    fig = make_subplots(1, len(factors), subplot_titles=[axis_name(f) for f in factors])
    for i, factor in enumerate(factors, 1):
        counts = per_model[factor].value_counts().sort_index()  # numbers in numeric order
        labels = [f"{v:g}" if isinstance(v, (int, float, np.number)) else str(v) for v in counts.index]
        fig.add_trace(go.Bar(x=labels, y=counts.values, showlegend=False, marker_color=_palette(0)), 1, i)
        fig.update_xaxes(title_text=axis_name(factor), type="category", row=1, col=i)
    fig.update_yaxes(title_text="models")
    fig.update_layout(height=320, title=f"Models per value of each varied hyper-parameter ({len(per_model)} models)")
    return fig


def training_curves(zoo: Zoo, metric: str = "test_acc", models: int = 40, color: str | None = None,
                    seed: int = 0) -> go.Figure:
    """`metric` over epochs for a seeded sample of models (coloured by `color` when given), and the
    median over all of the zoo's models in black."""
    props = zoo.properties
    chosen = np.sort(np.random.default_rng(seed).choice(zoo.n_models, min(models, zoo.n_models), replace=False))
    sample = props[props["model"].isin(chosen)]
    fig = go.Figure()
    groups = [(None, sample)] if color is None else list(sample.groupby(color))
    for i, (name, part) in enumerate(groups):
        for j, (model, curve) in enumerate(part.groupby("model")):
            fig.add_trace(go.Scatter(
                x=curve["epoch"], y=curve[metric], mode="lines", line=dict(width=1, color=_palette(i)), opacity=0.45,
                name=str(name) if color else "one model", legendgroup=str(name), showlegend=j == 0,
                hovertemplate=f"model {model}<br>epoch %{{x}}<br>{axis_name(metric)} %{{y:.3f}}<extra></extra>"))
    median = props.groupby("epoch")[metric].median()
    fig.add_trace(go.Scatter(x=median.index, y=median.values, mode="lines", line=dict(width=3, color="black"),
                             name=f"median of all {zoo.n_models} models"))
    fig.update_layout(height=380, title=f"{axis_name(metric).capitalize()} over training: {len(chosen)} of "
                                        f"{zoo.n_models} models", xaxis_title="epoch", yaxis_title=axis_name(metric),
                      legend_title_text=axis_name(color) if color else None)
    return fig


def weight_histograms(zoo: Zoo, epochs=None, bins: int = 60, max_models: int = 2000, seed: int = 0) -> go.Figure:
    """Histogram of each layer's weights at the first and last checkpoint (or the given epochs)."""
    layout = zoo.layout
    all_epochs = list(zoo.epochs)
    epochs = [all_epochs[0], all_epochs[-1]] if epochs is None else list(epochs)
    models = np.sort(np.random.default_rng(seed).choice(zoo.n_models, min(max_models, zoo.n_models), replace=False))
    n = len(layout.layers)
    titles = [f"layer {i + 1} of {n}: {l.kind} {'×'.join(map(str, l.shape))}" for i, l in enumerate(layout.layers)]
    fig = make_subplots(1, n, subplot_titles=titles)
    for k, epoch in enumerate(epochs):
        w = np.asarray(zoo.weights[models, all_epochs.index(epoch)])
        for i in range(n):
            values = w[:, layout.weight_slice(i)].ravel()
            fig.add_trace(go.Histogram(x=values, nbinsx=bins, name=f"epoch {epoch}", legendgroup=str(epoch),
                                       showlegend=i == 0, opacity=0.6, histnorm="probability density",
                                       marker_color=_palette(k)), 1, i + 1)
    fig.update_xaxes(title_text="weight value")
    fig.update_yaxes(title_text="density")
    fig.update_layout(barmode="overlay", height=340, legend_title_text="checkpoint",
                      title=f"Weights of each layer ({len(models)} models; biases left out)")
    return fig


def embedding_scatter(points: np.ndarray, properties: pd.DataFrame, color: str, title: str = "",
                      hover=("model", "epoch", "test_acc"), axes: str = "UMAP") -> go.Figure:
    """2-D points coloured by a property: a palette for categories (in sorted order), a colour scale for
    numbers; the axes are named `axes` 1 and 2."""
    frame = properties.reset_index(drop=True).copy()
    frame[f"{axes} 1"], frame[f"{axes} 2"] = points[:, 0], points[:, 1]
    order = {}
    if not pd.api.types.is_numeric_dtype(frame[color]):
        frame[color] = frame[color].astype(str)
        order = {color: sorted(frame[color].unique())}
    fig = px.scatter(frame, x=f"{axes} 1", y=f"{axes} 2", color=color, hover_data=[h for h in hover if h in frame],
                     render_mode="webgl" if len(frame) > LARGE else "auto", category_orders=order,
                     labels={color: axis_name(color)},
                     title=title or f"{axes} of {len(frame)} checkpoints, coloured by {axis_name(color)}")
    fig.update_traces(marker_size=4)
    fig.update_layout(height=460)
    return fig


def history_curves(history: pd.DataFrame) -> go.Figure:
    """Loss parts (train and validation, log scale) and validation reconstruction R² over epochs."""
    fig = make_subplots(1, 2, subplot_titles=("loss parts", "validation reconstruction R²"), horizontal_spacing=0.12)
    for i, (part, name) in enumerate(LOSS_PARTS.items()):
        for split, dash in (("train", None), ("val", "dot")):
            column = f"{split}_{part}"
            if column in history:
                fig.add_trace(go.Scatter(
                    x=history["epoch"], y=history[column], mode="lines", line=dict(dash=dash, color=_palette(i)),
                    name=f"{name}, {'training' if split == 'train' else 'validation'}"), 1, 1)
    if "val_r2" in history:
        fig.add_trace(go.Scatter(x=history["epoch"], y=history["val_r2"], mode="lines+markers", showlegend=False,
                                 line=dict(color="black"), name="validation R²"), 1, 2)
    fig.update_xaxes(title_text="epoch")
    losses = history[[c for c in history if c.startswith(("train_", "val_")) and c != "val_r2"]].to_numpy(float)
    losses = losses[np.isfinite(losses) & (losses > 0)]
    ticks = [m * 10.0 ** e for e in range(-6, 7) for m in (1, 2, 5)]  # 1-2-5 steps: readable on a log axis
    if losses.size:
        ticks = [t for t in ticks if losses.min() / 2 <= t <= losses.max() * 2]
    fig.update_yaxes(title_text="loss (log scale)", type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks],
                     row=1, col=1)
    fig.update_yaxes(title_text="R²", row=1, col=2)
    fig.update_layout(height=360, title=f"Training history: {len(history)} epochs")
    return fig


def paired_scatter(x, y, xlabel: str, ylabel: str, color=None, title: str = "", color_title: str | None = None) -> go.Figure:
    """y against x with the diagonal y = x, e.g. accuracy after against accuracy before; `color` (values
    per point) gets a colour bar titled `color_title` (default: its Series name)."""
    if color is not None and color_title is None:
        color_title = axis_name(str(getattr(color, "name", "colour")))
    fig = px.scatter(x=np.asarray(x), y=np.asarray(y), color=None if color is None else np.asarray(color),
                     labels={"x": xlabel, "y": ylabel, "color": color_title}, title=title or f"{ylabel} against {xlabel}")
    low, high = float(min(np.min(x), np.min(y))), float(max(np.max(x), np.max(y)))
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", line=dict(dash="dash", color="grey"),
                             name="y = x"))
    fig.update_traces(marker_size=4, selector=dict(mode="markers"))
    fig.update_layout(height=400, legend=dict(orientation="h", y=-0.2))
    return fig


def probe_scatter(report: ProbeReport, target: str, features=None, seed: int = 0) -> go.Figure:
    """Predicted against true test values of one target, one panel per feature set.

    A target with few distinct values (such as the epoch) shows the median prediction per true value
    with its 10-90% band; a continuous one a scatter of at most `MAX_POINTS` seeded points per panel.
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
    n = int((preds["feature"] == names[0]).sum())
    if kind == "regression":
        preds = preds.astype({"true": float, "predicted": float})  # a report with a categorical target mixes types
        scores = {name: 100 * r2_score(*preds.loc[preds["feature"] == name, ["true", "predicted"]].T.to_numpy())
                  for name in names}
        fig = make_subplots(1, len(names), shared_yaxes=True, horizontal_spacing=0.03,
                            subplot_titles=[f"{name}: R² {scores[name]:.1f}%" for name in names])
        low, high = preds["true"].min(), preds["true"].max()
        discrete = preds["true"].nunique() <= 100
        for i, name in enumerate(names, 1):
            part = preds[preds["feature"] == name]
            if discrete:
                band = part.groupby("true")["predicted"].quantile([0.1, 0.5, 0.9]).unstack()
                fig.add_trace(go.Scatter(x=list(band.index) + list(band.index[::-1]),
                                         y=list(band[0.9]) + list(band[0.1][::-1]), fill="toself", mode="lines",
                                         line_width=0, fillcolor="rgba(31, 119, 180, 0.25)", name="10-90% of predictions",
                                         legendgroup="band", showlegend=i == 1), 1, i)
                fig.add_trace(go.Scatter(x=band.index, y=band[0.5], mode="lines+markers", marker_size=4,
                                         line_color=_palette(0), name="median prediction", legendgroup="median",
                                         showlegend=i == 1), 1, i)
            else:
                shown = part.sample(min(len(part), MAX_POINTS), random_state=seed)
                fig.add_trace(go.Scattergl(x=shown["true"], y=shown["predicted"], mode="markers", name="test checkpoint",
                                           legendgroup="points", showlegend=i == 1,
                                           marker=dict(size=3, opacity=0.35, color=_palette(0))), 1, i)
            fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="ideal (predicted = true)",
                                     legendgroup="ideal", showlegend=i == 1, line=dict(color="black", dash="dash")), 1, i)
            fig.update_xaxes(title_text=f"true {target}", row=1, col=i)
        fig.update_yaxes(title_text=f"predicted {target}", row=1, col=1)
        fig.update_layout(title=f"{target}: predicted against true on the test split ({n} checkpoints)", height=380,
                          legend=dict(orientation="h", y=-0.25))
        return fig
    classes = sorted(set(preds["true"].astype(str)))
    fig = go.Figure()
    for i, name in enumerate(names):
        part = preds[preds["feature"] == name]
        counts = confusion_matrix(part["true"].astype(str), part["predicted"].astype(str), labels=classes)
        fig.add_trace(go.Heatmap(z=counts, x=classes, y=classes, name=name, visible=i == 0, colorscale="Blues",
                                 colorbar=dict(title="checkpoints")))
    buttons = [dict(label=name, method="update", args=[{"visible": [j == i for j in range(len(names))]}])
               for i, name in enumerate(names)]
    fig.update_layout(title=f"{target}: confusion matrix on the test split ({n} checkpoints)",
                      xaxis_title=f"predicted {target}", yaxis_title=f"true {target}",
                      updatemenus=[dict(buttons=buttons, direction="down")] if len(names) > 1 else [])
    return fig


def table_bars(tables: dict[str, pd.DataFrame], value: str, setting: str, title: str,
               legend: str = "numbers from") -> go.Figure:
    """Tables of one shape side by side as grouped bars, e.g. this run's and the paper's: one block per
    column of the first table, one group of bars per row within it (both in the table's order), one
    colour per table. A cell missing from a later table leaves a gap."""
    first = next(iter(tables.values()))
    rows, columns = [str(r) for r in first.index], [str(c) for c in first.columns]
    x = [[c for c in columns for _ in rows], rows * len(columns)]  # (block, row): a two-level category axis
    fig = go.Figure()
    for k, (name, table) in enumerate(tables.items()):
        table = table.reindex(index=first.index, columns=first.columns)
        fig.add_trace(go.Bar(x=x, y=table.to_numpy(float).T.ravel(), name=name, marker_color=_palette(k),
                             hovertemplate=f"{name}<br>%{{x}}: %{{y:.3g}}<extra></extra>"))
    fig.update_layout(barmode="group", height=420, title=title, legend_title_text=legend, xaxis_title=setting,
                      yaxis_title=value)
    return fig
