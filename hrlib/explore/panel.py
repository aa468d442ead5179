"""What the explorer's side panel shows about one checkpoint or a selection of checkpoints.

- `training_curve(zoo, model, epoch)`: a model's train and test accuracy over its checkpoints,
  with the chosen epoch marked;
- `weight_heatmaps(zoo, row)`: a checkpoint's weights, one heatmap per layer (bias as the last column);
- `properties_table(zoo, row, predictions)`: its true properties beside what each probe predicted;
- `selection_summary(properties, rows, splits)`: counts and statistics of a selection.

Each returns a plotly figure or a pandas DataFrame, so notebooks and tests can use them directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hrlib.evaluate.probes import label
from hrlib.explore.plots import axis_name
from hrlib.zoos.zoo import SPLITS, Zoo


def _check_row(zoo: Zoo, row: int) -> int:
    row = int(row)
    if not 0 <= row < len(zoo.properties):
        raise IndexError(f"checkpoint row {row} is outside the zoo's {len(zoo.properties)} rows")
    return row


def training_curve(zoo: Zoo, model: int, epoch=None) -> go.Figure:
    """Train and test accuracy of one model over its checkpoints; `epoch` marked when given."""
    if not 0 <= int(model) < zoo.n_models:
        raise IndexError(f"model {model} is outside the zoo's {zoo.n_models} models")
    part = zoo.properties.iloc[zoo.rows([int(model)])]
    fig = go.Figure()
    for metric, dash in (("train_acc", "dot"), ("test_acc", None)):
        if metric in part:
            fig.add_trace(go.Scatter(x=part["epoch"], y=part[metric], name=axis_name(metric), mode="lines",
                                     line_dash=dash))
    if epoch is not None:
        at = part[part["epoch"] == epoch]
        if at.empty:
            raise ValueError(f"model {model} has no checkpoint at epoch {epoch}")
        metrics = [m for m in ("train_acc", "test_acc") if m in part]
        fig.add_trace(go.Scatter(x=[epoch] * len(metrics), y=[at[m].iloc[0] for m in metrics], mode="markers",
                                 name="selected epoch", marker=dict(size=10, color="black", symbol="circle-open")))
        fig.add_vline(x=epoch, line_dash="dash", line_color="grey")
    fig.update_layout(title=f"model {model}: accuracy over training", xaxis_title="epoch", yaxis_title="accuracy",
                      height=240, margin=dict(l=40, r=10, t=40, b=35), legend=dict(orientation="h", y=-0.3))
    return fig


def weight_heatmaps(zoo: Zoo, row: int) -> go.Figure:
    """One checkpoint's weights per layer: rows are output units, columns inputs (then the bias)."""
    row = _check_row(zoo, row)
    layout = zoo.layout
    flat = np.asarray(zoo.weights.reshape(-1, layout.n_params)[row], dtype=np.float64)
    limit = float(np.abs(flat).max()) or 1.0  # one symmetric scale for every layer, zero in the middle
    titles = [f"{layer.name}: {layer.kind} {'×'.join(map(str, layer.shape))}" for layer in layout.layers]
    fig = make_subplots(1, len(layout.layers), subplot_titles=titles, horizontal_spacing=0.08)
    for i, layer in enumerate(layout.layers):
        w = flat[layout.weight_slice(i)].reshape(layer.shape[0], -1)  # (out, in · kernel)
        if layer.bias:
            w = np.concatenate([w, flat[layout.bias_slice(i)][:, None]], axis=1)
        fig.add_trace(go.Heatmap(z=w, coloraxis="coloraxis", name=layer.name,
                                 hovertemplate="unit %{y}, input %{x}: %{z:.3f}<extra>" + layer.name + "</extra>"),
                      1, i + 1)
        fig.update_yaxes(autorange="reversed", title_text="output unit", row=1, col=i + 1)
        fig.update_xaxes(title_text="input" + (" (last: bias)" if layer.bias else ""), row=1, col=i + 1)
    model, epoch = zoo.properties.iloc[row][["model", "epoch"]]
    fig.update_layout(title=f"weights of model {model} at epoch {epoch} (bias: last column)", height=270,
                      coloraxis=dict(colorscale="RdBu", cmin=-limit, cmax=limit, colorbar=dict(thickness=10, title="weight")),
                      margin=dict(l=50, r=10, t=60, b=45))
    return fig


def properties_table(zoo: Zoo, row: int, columns=None, predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One checkpoint's properties (rows, by the paper's names) and, where a probe saw it, each
    feature set's prediction (columns).

    Args:
        columns: property columns to show; by default every column that varies in the zoo.
        predictions: `ProbeReport.predictions` (rows feature, target, row, predicted), indexed by row
            or not; probes predict test-split checkpoints only, so other rows get no predictions.
    """
    row = _check_row(zoo, row)
    props = zoo.properties
    if columns is None:
        columns = [c for c in props.columns if c != "model" and props[c].nunique() > 1]
    labels = [label(c) for c in columns]  # probes name their targets so
    table = pd.DataFrame({"true": [props[c].iloc[row] for c in columns]}, index=labels, dtype=object)
    if predictions is not None and len(predictions):
        by_row = predictions if predictions.index.name == "row" else predictions.set_index("row")
        if row in by_row.index:
            mine = by_row.loc[[row]]
            for feature, part in mine.groupby("feature", sort=False):
                table[feature] = part.set_index("target")["predicted"].reindex(table.index).astype(object)
    table.index = pd.Index([name if name == c else f"{name} ({c})" for name, c in zip(labels, columns)],
                           name="property")
    return table


def _counts(values: pd.Series, top: int = 4) -> str:
    shares = values.astype(str).value_counts(normalize=True)
    text = " · ".join(f"{name} {share:.0%}" for name, share in shares.head(top).items())
    return text + (f" · {len(shares) - top} more" if len(shares) > top else "")


def _spread(values: pd.Series) -> str:
    return f"{values.mean():.3f} ± {values.std():.3f} ({values.min():.3f} to {values.max():.3f})"


def selection_summary(properties: pd.DataFrame, rows, splits: np.ndarray | None = None,
                      factors=()) -> pd.DataFrame:
    """Statistics of the selected checkpoint rows: how many, which splits and epochs, accuracy and
    gap (mean ± std, range), and the share of each value of every factor in `factors`."""
    rows = np.asarray(rows, dtype=int)
    if not len(rows):
        raise ValueError("the selection is empty")
    part = properties.iloc[rows]
    stats = {"checkpoints": f"{len(rows):,}", "models": f"{part['model'].nunique():,}"}
    if splits is not None:
        counts = pd.Series(np.asarray(splits)[rows]).value_counts()
        stats["splits"] = " · ".join(f"{s} {counts[s]:,}" for s in SPLITS if s in counts)
    stats["epochs"] = f"{part['epoch'].min()} to {part['epoch'].max()} (median {part['epoch'].median():g})"
    for column, name in (("test_acc", "test accuracy"), ("train_acc", "train accuracy"), ("ggap", "generalization gap")):
        if column in part:
            stats[name] = _spread(part[column])
    for factor in factors:
        stats[factor] = _counts(part[factor])
    return pd.DataFrame({"value": stats}).rename_axis("selection")
