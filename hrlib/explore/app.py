"""The explorer: an ipywidgets app for looking at every checkpoint of a zoo on a 2-D map.

    explorer = Explorer(zoo, runs={"E_cD": run}, report=report)
    explorer                      # the last expression of a notebook cell shows the app

The first map is drawn at once: a kept map (in memory or in the disk cache), else PCA, while a
UMAP map is computed in a background thread, its progress under the controls, and swapped in when
it is ready. A control asking for a map not yet computed answers at once in the same way.

Controls (left) choose the representation (W, s(W), the z of each run), the projection (UMAP with
its neighbours and minimum distance, or PCA), the colour (any property: a palette for classes and
for numbers with few values, a colour scale otherwise), filters (split, epochs, hyper-parameter
values, the test split on or off), the marker size, and trajectories: chosen models' checkpoints
joined through their epochs. Clicking a point, or selecting several with the box or lasso tool,
opens the side panel (right).

The scatter is one WebGL trace holding every checkpoint in property-row order, so a point's index is
its row. Each control sends only what it changes: a colour change one array of colour values, a
filter the coordinates with NaN at hidden points (neither drawn nor hoverable), a projection new
coordinates, all as binary float32 buffers. Hover labels go to the browser once, when it opens.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio

from hrlib.explore.panel import properties_table, selection_summary, training_curve, weight_heatmaps
from hrlib.explore.plots import varied_factors
from hrlib.evaluate.probes import default_targets
from hrlib.datasets.cache import cache_dir
from hrlib.explore.projections import Projections, ProjectionSettings, representations
from hrlib.zoos.zoo import SPLITS

log = logging.getLogger(__name__)

FEW_VALUES = 10  # numeric properties with at most this many values are coloured as classes
SLIDER_VALUES = 20  # hyper-parameters with more values than this are filtered by a range slider
HOVER_METRICS = ("test_acc", "ggap")  # in every point's hover label
# The map's figure may shrink with its box (a flex item keeps its content's width otherwise), and
# plotly then redraws it, colour bar included, at the width it is given; the panel's tables show
# numbers right-aligned in light rows, not in a bordered grid.
_STYLE = ("<style>.hrlib-map > * {flex: 1 1 auto; min-width: 0; width: 100%; overflow: hidden;}"
          ".hrlib-panel table {border-collapse: collapse; margin: 4px 0;}"
          ".hrlib-panel th, .hrlib-panel td {padding: 2px 10px; text-align: right; border-bottom: 1px solid #eee;}"
          "</style>")
_METHOD_LABELS = {"umap": "UMAP", "pca": "PCA"}
_CONFIG = {"displaylogo": False, "responsive": True}  # plotly's: figures redrawn when the window is resized


def _format(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def colour_scale(values: pd.Series, title: str) -> tuple[np.ndarray, dict]:
    """Colour values (float32, one per row) and the plotly colour axis that draws them.

    Classes (strings, booleans, numbers with at most FEW_VALUES values) become codes 0..k-1 on a
    stepped palette whose colour bar is labelled with the class names; other numbers keep their
    values on a Viridis scale. Missing values stay NaN."""
    is_number = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if is_number and values.nunique() > FEW_VALUES:
        numbers = values.to_numpy(dtype=np.float32)
        return numbers, dict(colorscale="Viridis", cmin=float(np.nanmin(numbers)), cmax=float(np.nanmax(numbers)),
                             colorbar=dict(title=dict(text=title)))
    order = list(values.cat.categories) if isinstance(values.dtype, pd.CategoricalDtype) \
        else sorted(values.dropna().unique())
    codes = pd.Categorical(values, categories=order).codes.astype(np.float32)
    codes[codes < 0] = np.nan
    k = len(order)
    palette = (px.colors.qualitative.Plotly if k <= 10 else px.colors.qualitative.Alphabet if k <= 26
               else px.colors.sample_colorscale("Turbo", [i / max(k - 1, 1) for i in range(k)]))
    scale = [[(i + j) / k, palette[i]] for i in range(k) for j in (0, 1)]  # one flat step per class
    return codes, dict(colorscale=scale, cmin=-0.5, cmax=k - 0.5,
                       colorbar=dict(title=dict(text=title), tickvals=list(range(k)), ticktext=[_format(v) for v in order]))


def hover_labels(properties: pd.DataFrame, factors) -> dict:
    """`hovertext` (one label per point) and the `hovertemplate` showing each checkpoint's model,
    epoch, accuracy, gap and hyper-parameters (`factors`).

    Labels are plain strings, sent to the browser once. Not a 2-D `customdata` table: plotly.js
    splits one into a view per row and FigureWidget sends every view back to the kernel with the
    whole buffer behind it, a message quadratic in the number of points (353 MB for 4,200 points,
    which crashed the browser test's driver)."""
    def formatted(column: str, fmt: str) -> pd.Series:
        values = properties[column]
        if not pd.api.types.is_numeric_dtype(values):
            return values.astype(str)
        return pd.Series(np.char.mod(fmt, values.to_numpy(dtype=np.float64)), index=properties.index)

    label = "<b>model " + properties["model"].astype(str) + "</b>, epoch " + properties["epoch"].astype(str)
    metrics = [c for c in HOVER_METRICS if c in properties]
    for lines in ([(c, "%.3f") for c in metrics], [(f, "%.3g") for f in factors]):
        for i, (column, fmt) in enumerate(lines):
            label = label + ("<br>" if i == 0 else " · ") + column + " " + formatted(column, fmt)
    return dict(hovertext=label.to_numpy(dtype=object), hovertemplate="%{hovertext}<extra></extra>")


def _show(output: W.Output, fig: go.Figure):
    """Show a static figure in an Output widget, drawn by plotly's JupyterLab renderer (a
    FigureWidget would carry another 5 MB copy of plotly.js)."""
    spec = json.loads(pio.to_json(fig, validate=False))
    output.outputs = ({"output_type": "display_data", "metadata": {},
                       "data": {"application/vnd.plotly.v1+json": {**spec, "config": _CONFIG},
                                "text/plain": fig.layout.title.text or "figure"}},)


def _error(message: str) -> str:
    return f"<span style='color:#c00'>{html.escape(message)}</span>"


def _on_kernel_thread(action):
    """Run `action` on the kernel's own thread, between the messages it handles, where widgets are
    changed safely (a running cell finishes first); outside a kernel, at once."""
    try:
        from IPython import get_ipython

        loop = getattr(getattr(get_ipython(), "kernel", None), "io_loop", None)
    except ImportError:
        loop = None
    if loop is None:
        action()
    else:
        loop.add_callback(action)


class Explorer:
    """A widget app around a WebGL scatter of a zoo's checkpoints; see the module docstring.

    Args:
        zoo: the zoo whose checkpoints are shown.
        runs: name → a trained hyper-representation (`hrlib.hyper.runs.Run` or run directory) or its
            precomputed z (an array aligned with `zoo.properties`); each adds a representation.
        report: a `ProbeReport` of `hrlib.evaluate.tables.evaluate_probes` on this zoo: the side panel
            shows its test-split predictions beside the true properties.
        split: the by-model split shown and filtered by; the report's, else ``zoo.split()``.
        settings: the first projection's settings; `representation` (default: the first z, else W)
            and `color` the first choices.
        max_trajectories: models drawn at most in trajectory mode.
        cache: where maps are kept on disk between sessions: True for hrlib's cache folder
            (``$HRLIB_CACHE/maps``, else ``~/.cache/hrlib/maps``), a folder, or False for none.

    Attributes: the controls (`representation`, `method`, `n_neighbors`, `min_dist`, `color`,
    `marker_size`, `split_filter`, `show_test`, `epochs`, `factor_filters`, `trajectories`,
    `models`), the scatter `figure` (a FigureWidget), the side `panel` with `curve`, `weights`,
    `properties` and `summary`, and `widget`, the whole app. `wait()` blocks until the map the
    controls ask for is drawn (for scripts and tests; a notebook need not call it).
    """

    def __init__(self, zoo, runs=None, report=None, *, split=None, settings: ProjectionSettings = ProjectionSettings(),
                 representation: str | None = None, color: str = "test_acc", max_trajectories: int = 10,
                 cache: bool | str = True):
        props = zoo.properties
        self.zoo, self.max_trajectories, self._settings = zoo, max_trajectories, settings
        cache = cache_dir() / "maps" if cache is True else cache or None
        self.projections = Projections(zoo, representations(zoo, runs), cache=cache)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="hrlib-explorer")  # one map at a time
        self._job: Future | None = None
        self._drawing = threading.RLock()  # the figure is changed by one thread at a time
        if split is None:
            split = report.split if report is not None and report.split is not None else zoo.split()
        self.splits = split.labels(zoo.n_models)[props["model"].to_numpy()]  # (rows,) split of every row
        self.factors = varied_factors(zoo)
        self._epoch = props["epoch"].to_numpy()
        self._predictions = None
        if report is not None and len(report.predictions):
            self._predictions = report.predictions.set_index("row").sort_index()
        shown = default_targets(props) + ["train_acc", "seed"] + self.factors
        self._panel_columns = [c for c in dict.fromkeys(shown) if c in props and props[c].nunique() > 1]
        self._colours: dict[str, tuple[np.ndarray, dict]] = {}
        self.focus: int | None = None
        self.selection = np.empty(0, dtype=int)

        names = self.projections.names
        representation = representation or next((n for n in names if n.startswith("z")), "W")
        if representation not in names:
            raise ValueError(f"unknown representation {representation!r}; choose one of {names}")
        colours = self._colour_options()
        if color not in colours:
            raise ValueError(f"cannot colour by {color!r}; choose one of {colours}")
        self._build_controls(representation, color)
        self.points, self.shown = self._first_map(representation)
        self._build_figure()
        self._build_panel()
        self._reproject()

    def _repr_mimebundle_(self, **kwargs):
        # The live app where widgets render; where they cannot (an executed notebook opened without its
        # kernel or untrusted, its nbconvert HTML) the map as first drawn, never the widget's text form.
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["application/vnd.plotly.v1+json"] = json.loads(pio.to_json(self.snapshot(), validate=False))
        bundle["text/plain"] = f"Explorer: {self.figure.layout.title.text}"
        return bundle

    def snapshot(self) -> go.Figure:
        """The map as drawn now, a static figure; without hover labels, whose size grows with the zoo's."""
        figure = go.Figure(self.figure)
        figure.update_traces(hovertext=None, hoverinfo="skip", hovertemplate=None)
        return figure

    # ---- building ------------------------------------------------------------------------------

    def _build_controls(self, representation: str, color: str):
        props, s = self.zoo.properties, self._settings
        self.representation = W.Dropdown(options=self.projections.names, value=representation, description="represent")
        self.method = W.ToggleButtons(options=[("UMAP", "umap"), ("PCA", "pca")], value=s.method,
                                      description="project", style=dict(button_width="70px"))
        self.n_neighbors = W.IntSlider(s.n_neighbors, min=2, max=200, description="neighbours", continuous_update=False)
        self.min_dist = W.FloatSlider(s.min_dist, min=0.0, max=0.99, step=0.01, description="min_dist",
                                      continuous_update=False)
        self.color = W.Dropdown(options=self._colour_options(), value=color, description="colour")
        self.marker_size = W.IntSlider(3, min=1, max=12, description="marker size")
        self.split_filter = W.Dropdown(options=["all", *SPLITS], value="all", description="split")
        self.show_test = W.Checkbox(True, description="show test split")
        low, high = int(self._epoch.min()), int(self._epoch.max())
        self.epochs = W.IntRangeSlider(value=(low, high), min=low, max=high, description="epochs",
                                       continuous_update=False)
        self.factor_filters = {f: self._factor_control(f, props[f]) for f in self.factors}
        self.trajectories = W.Checkbox(False, description="trajectories")
        self.models = W.Text("", description="models", placeholder="model ids, e.g. 3, 17")
        self.progress = W.IntProgress(0, min=0, max=1000, layout=W.Layout(width="95%"))
        self.status = W.HTML()

    def _colour_options(self) -> list[str]:
        props = self.zoo.properties
        first = [c for c in ("test_acc", "ggap", "epoch", "train_acc", "test_loss", "train_loss") if c in props]
        return list(dict.fromkeys(first + self.factors + ["split", "model", *props.columns]))

    def _factor_control(self, name: str, values: pd.Series):
        unique = sorted(values.unique())
        if pd.api.types.is_numeric_dtype(values) and len(unique) > SLIDER_VALUES:
            return W.FloatRangeSlider(value=(unique[0], unique[-1]), min=unique[0], max=unique[-1], step=None,
                                      description=name, continuous_update=False, readout_format=".3g")
        options = [(_format(v), v.item() if hasattr(v, "item") else v) for v in unique]
        return W.SelectMultiple(options=options, value=tuple(v for _, v in options), description=name,
                                rows=min(len(options), 4))

    def _build_figure(self):
        main = go.Scattergl(x=self.points[:, 0], y=self.points[:, 1], mode="markers", name="checkpoints",
                            showlegend=False, marker=dict(size=self.marker_size.value, opacity=0.7, coloraxis="coloraxis"),
                            unselected=dict(marker=dict(opacity=0.15)))
        focus = go.Scattergl(x=[], y=[], mode="markers", name="clicked", showlegend=False, hoverinfo="skip",
                             marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(color="black", width=2)))
        axis = dict(showgrid=False, zeroline=False)
        self.figure = go.FigureWidget([main, focus], layout=dict(
            height=620, margin=dict(l=40, r=20, t=50, b=40), legend=dict(x=0, y=1), plot_bgcolor="white",
            xaxis=axis, yaxis=axis))
        self.figure._config = _CONFIG  # redrawn at the width the window leaves it
        self.figure.data[0].update(hover_labels(self.zoo.properties, self.factors))  # not in the constructor: it deep-copies
        self.figure.data[0].on_click(lambda trace, points, state: points.point_inds
                                     and self.show_checkpoint(points.point_inds[0]))
        self.figure.data[0].on_selection(lambda trace, points, selector: self.show_selection(points.point_inds))
        self.figure.data[0].on_deselect(lambda trace, points: self.show_selection([]))
        self._recolor()
        self._draw_points()

    def _build_panel(self):
        self.curve, self.weights = W.Output(), W.Output()
        self.curve_figure = self.weights_figure = None  # the go.Figures those show
        self.properties, self.summary = W.HTML(), W.HTML()
        close = W.Button(description="close panel", layout=W.Layout(width="120px"))
        close.on_click(lambda _: setattr(self.panel.layout, "display", "none"))
        self.checkpoint_view = W.VBox([self.curve, self.weights, self.properties], layout=W.Layout(display="none"))
        # Controls and map side by side where the width allows, the map below the controls where it
        # does not; the panel always on a row of its own below them, so that the map's width follows
        # the window's alone (plotly redraws a responsive figure when the window is resized, not
        # when a neighbour in its row appears).
        self.panel = W.VBox([close, self.checkpoint_view, self.summary],
                            layout=W.Layout(flex="1 1 100%", max_width="100%", display="none"))
        self.panel.add_class("hrlib-panel")
        controls = W.VBox([
            W.HTML("<b>map</b>"), self.representation, self.method, self.n_neighbors, self.min_dist,
            W.HTML("<b>colour</b>"), self.color, self.marker_size,
            W.HTML("<b>filters</b>"), self.split_filter, self.show_test, self.epochs, *self.factor_filters.values(),
            W.HTML("<b>trajectories</b>"), self.trajectories, self.models, self.progress, self.status,
            W.HTML(_STYLE, layout=W.Layout(height="0px", margin="0")),
        ], layout=W.Layout(flex="0 0 330px"))
        controls.add_class("hrlib-controls")
        plot = W.Box([self.figure], layout=W.Layout(flex="1 1 500px", min_width="0"))
        plot.add_class("hrlib-map")
        self.widget = W.HBox([controls, plot, self.panel], layout=W.Layout(width="100%", flex_flow="row wrap",
                                                                         align_items="flex-start"))
        self.widget.add_class("hrlib-explorer")

        for control in (self.representation, self.method, self.n_neighbors, self.min_dist):
            control.observe(lambda _: self._reproject(), "value")
        self.color.observe(lambda _: self._recolor(), "value")
        for control in (self.split_filter, self.show_test, self.epochs, *self.factor_filters.values()):
            control.observe(lambda _: self._draw_points(), "value")
        self.marker_size.observe(lambda change: setattr(self.figure.data[0].marker, "size", change["new"]), "value")
        self.trajectories.observe(lambda _: self._start_trajectories(), "value")
        self.models.observe(lambda _: self._draw_trajectories(), "value")
        self.n_neighbors.disabled = self.min_dist.disabled = self.method.value != "umap"

    # ---- the map -------------------------------------------------------------------------------

    @property
    def settings(self) -> ProjectionSettings:
        """The projection settings the controls describe."""
        return self._settings.replace(method=self.method.value, n_neighbors=self.n_neighbors.value,
                                      min_dist=round(self.min_dist.value, 4))

    def visible(self) -> np.ndarray:
        """Which rows the filters show, a boolean mask over `zoo.properties`."""
        mask = np.ones(len(self._epoch), dtype=bool)
        if self.split_filter.value != "all":
            mask &= self.splits == self.split_filter.value
        if not self.show_test.value:
            mask &= self.splits != "test"
        low, high = self.epochs.value
        mask &= (self._epoch >= low) & (self._epoch <= high)
        for name, control in self.factor_filters.items():
            values = self.zoo.properties[name].to_numpy()
            if isinstance(control, W.FloatRangeSlider):
                mask &= (values >= control.value[0]) & (values <= control.value[1])
            elif len(control.value) < len(control.options):
                mask &= np.isin(values, list(control.value))
        return mask

    def _draw_points(self):
        mask = self._mask = self.visible()
        x, y = self.points[:, 0].copy(), self.points[:, 1].copy()
        x[~mask] = y[~mask] = np.nan
        name, settings = self.shown
        axis = "UMAP" if settings.method == "umap" else "PC"
        with self._drawing, self.figure.batch_update():
            self.figure.data[0].x, self.figure.data[0].y = x, y
            self.figure.layout.title.text = (f"{name} → {_METHOD_LABELS[settings.method]}: "
                                             f"{int(mask.sum()):,} of {len(mask):,} checkpoints")
            self.figure.layout.xaxis.title.text, self.figure.layout.yaxis.title.text = f"{axis} 1", f"{axis} 2"
            # the zoom survives colour and filter changes, not a new projection
            self.figure.layout.uirevision = f"{name}|{settings.key()}"
            self._draw_focus()
        self._draw_trajectories()

    def _recolor(self):
        column = self.color.value
        if column not in self._colours:
            values = pd.Series(pd.Categorical(self.splits, categories=SPLITS)) if column == "split" \
                else self.zoo.properties[column]
            self._colours[column] = colour_scale(values, column)
        values, axis = self._colours[column]
        with self._drawing, self.figure.batch_update():
            self.figure.data[0].marker.color = values
            self.figure.layout.coloraxis = axis

    def _first_map(self, name: str) -> tuple[np.ndarray, tuple[str, ProjectionSettings]]:
        """What to draw first: the map asked for when it is kept, else its PCA (computed here; UMAP
        follows in the background)."""
        settings = self.settings
        if settings.method == "umap" and not self.projections.cached(name, settings):
            settings = settings.replace(method="pca")
        return self.projections.get(name, settings), (name, settings)

    def _wanted(self) -> tuple[str, tuple]:
        return self.representation.value, self.settings.key()

    def _show(self, name: str, settings: ProjectionSettings, points: np.ndarray):
        """Draw a map if the controls still ask for it, or its PCA while another representation is
        drawn; a map computed for settings since changed is dropped."""
        wanted_name, wanted_key = self._wanted()
        interim = settings.method == "pca" and self.shown[0] != name
        if name != wanted_name or not (settings.key() == wanted_key or interim):
            return
        if (self.shown[0], self.shown[1].key()) != (name, settings.key()):
            with self._drawing:
                self.points, self.shown = points, (name, settings)
                self._draw_points()
        self._report_projection()

    def _reproject(self):
        """Draw the map the controls ask for: at once when it is kept, or its PCA when the features are
        at hand; what is left is computed in the background and drawn when ready."""
        self.n_neighbors.disabled = self.min_dist.disabled = self.method.value != "umap"
        name, settings = self.representation.value, self.settings
        try:
            points = self.projections.peek(name, settings)
            if points is None and settings.method == "pca" and self.projections.has_features(name):
                points = self.projections.get(name, settings)  # a PCA of features at hand: well under a second
            if points is not None:
                self._show(name, settings, points)
                return
            pca = settings.replace(method="pca")
            if self.shown[0] != name and ((interim := self.projections.peek(name, pca)) is not None
                                          or self.projections.has_features(name)):
                self._show(name, pca, interim if interim is not None else self.projections.get(name, pca))
        except Exception as err:  # shown in the app: a callback's traceback goes to a log nobody reads
            log.exception("projecting %s failed", name)
            self.status.value = _error(str(err))
            return
        self._job = self._worker.submit(self._compute, self.projections, name, settings, time.perf_counter())
        self.progress.value = 0
        self.status.value = f"computing {html.escape(name)} → {_METHOD_LABELS[settings.method]} in the background…"

    def _compute(self, projections: Projections, name: str, settings: ProjectionSettings, start: float):
        """In the background thread: the PCA of a representation not yet drawn, then the map asked for."""
        def progress(done, total, message):
            if self._wanted() == (name, settings.key()):
                self.progress.value = int(1000 * done / max(total, 1))
                drawn, drawn_settings = self.shown
                self.status.value = (
                    f"drawn: {html.escape(drawn)} → {_METHOD_LABELS[drawn_settings.method]}; computing "
                    f"{html.escape(name)} → {_METHOD_LABELS[settings.method]} in the background: "
                    f"{html.escape(message)}… ({time.perf_counter() - start:.0f} s)")

        try:
            if self._wanted() != (name, settings.key()):
                return  # asked for something else meanwhile
            if self.shown[0] != name and settings.method == "umap":
                pca = settings.replace(method="pca")
                interim = projections.get(name, pca, progress)
                _on_kernel_thread(lambda: self._show(name, pca, interim))
            points = projections.get(name, settings, progress)
            _on_kernel_thread(lambda: self._show(name, settings, points))
            return name, settings, points
        except Exception as err:
            log.exception("projecting %s failed", name)
            self.status.value = _error(f"{name} → {_METHOD_LABELS[settings.method]}: {err}")

    def wait(self, timeout: float | None = None) -> "Explorer":
        """Block until the map the controls ask for is computed and drawn (maps are computed in the
        background; a notebook need not wait, but a cell that reads `points` right after may)."""
        if self._job is not None and (done := self._job.result(timeout)) is not None:
            self._show(*done)  # on this thread now; the kernel's own turn for it may come later
        return self

    def _report_projection(self):
        name, settings = self.shown
        key = (name, settings.key())
        seconds = self.projections.seconds.get(key, 0.0)
        how = "read from the disk cache" if key in self.projections.from_disk else f"computed in {seconds:.1f} s"
        self.progress.value = 1000
        self.status.value = f"{html.escape(name)} → {_METHOD_LABELS[settings.method]}: {how}, kept"
        if key[1] != self.settings.key():
            self.progress.value = 0
            self.status.value += f"; {_METHOD_LABELS[self.settings.method]} is being computed in the background…"

    # ---- the side panel and trajectories -----------------------------------------------------------

    def show_checkpoint(self, row: int):
        """Open the side panel on one checkpoint (what clicking its point does)."""
        props = self.zoo.properties
        row = int(row)
        model, epoch = int(props["model"].iloc[row]), int(props["epoch"].iloc[row])
        self.focus = row
        self.curve_figure = training_curve(self.zoo, model, epoch)
        self.weights_figure = weight_heatmaps(self.zoo, row)
        _show(self.curve, self.curve_figure)
        _show(self.weights, self.weights_figure)
        table = properties_table(self.zoo, row, self._panel_columns, self._predictions)
        note = ""
        if self._predictions is not None:
            note = ("predicted by linear probes on each feature set (test split)" if table.shape[1] > 1
                    else f"probes predict test-split checkpoints only; this one is in {self.splits[row]}")
        self.properties.value = (f"<h4>model {model}, epoch {epoch} ({self.splits[row]})</h4><p>{note}</p>"
                                 + table.to_html(float_format=lambda v: f"{v:.3g}", na_rep="–", border=0))
        self.checkpoint_view.layout.display = self.panel.layout.display = "flex"
        if self.trajectories.value:
            chosen = [m for m in self._chosen_models() if m != model][-(self.max_trajectories - 1):] + [model]
            self.models.value = ", ".join(map(str, chosen))
        with self.figure.batch_update():
            self._draw_focus()

    def show_selection(self, rows):
        """Summarize the selected rows in the side panel (what a box or lasso selection does)."""
        self.selection = np.asarray(rows, dtype=int)
        if not len(self.selection):
            self.summary.value = ""
            return
        summary = selection_summary(self.zoo.properties, self.selection, self.splits, self.factors)
        self.summary.value = f"<h4>{len(self.selection):,} checkpoints selected</h4>" + summary.to_html(border=0)
        self.panel.layout.display = "flex"
        if self.trajectories.value:
            self.models.value = ", ".join(map(str, self._selected_models()))

    def _selected_models(self) -> list[int]:
        models = self.zoo.properties["model"].to_numpy()
        rows = self.selection if len(self.selection) else [] if self.focus is None else [self.focus]
        return [int(m) for m in pd.unique(models[rows])[: self.max_trajectories]]

    def _draw_focus(self):
        if self.focus is not None and self._mask[self.focus]:
            x, y = self.points[self.focus]
            self.figure.data[1].x, self.figure.data[1].y = [float(x)], [float(y)]
        else:
            self.figure.data[1].x, self.figure.data[1].y = [], []

    def _chosen_models(self) -> list[int]:
        tokens = [t for t in re.split(r"[,\s]+", self.models.value) if t]
        bad = [t for t in tokens if not t.isdigit() or int(t) >= self.zoo.n_models]
        if bad:
            self.status.value = _error(f"not a model id of this zoo (0 to {self.zoo.n_models - 1}): {', '.join(bad)}")
        return list(dict.fromkeys(int(t) for t in tokens if t not in bad))[: self.max_trajectories]

    def _start_trajectories(self):
        if self.trajectories.value and not self.models.value.strip():
            self.models.value = ", ".join(map(str, self._selected_models()))  # draws them
        else:
            self._draw_trajectories()

    def _draw_trajectories(self):
        """One line per chosen model through its checkpoints in the epoch range, markers growing with epoch."""
        low, high = self.epochs.value
        traces = []
        for model in self._chosen_models() if self.trajectories.value else []:
            rows = self.zoo.rows([model])
            rows = rows[(self._epoch[rows] >= low) & (self._epoch[rows] <= high)]
            traces.append(go.Scattergl(
                x=self.points[rows, 0], y=self.points[rows, 1], mode="lines+markers", name=f"model {model}",
                customdata=rows.astype(np.int32), text=self._epoch[rows].astype(str),
                marker=dict(size=4 + 8 * (self._epoch[rows] - low) / max(high - low, 1)),
                hovertemplate=f"model {model}, epoch %{{text}}<extra></extra>"))
        self.figure.data = self.figure.data[:2]
        if traces:
            self.figure.add_traces(traces)
            for trace in self.figure.data[2:]:
                trace.on_click(lambda trace, points, state: points.point_inds
                               and self.show_checkpoint(trace.customdata[points.point_inds[0]]))
