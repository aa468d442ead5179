"""The explorer driven from Python as a user drives it: set controls, click and select points the way
plotly's front end reports them, then read the FigureWidget's traces and the side panel.

Widget messages go through `check_wire`, a comm that encodes them as a kernel does (strict JSON
plus binary buffers), so a message a real kernel could not send fails here too.
"""

import json
import threading

import comm
import numpy as np
import pytest
from comm.base_comm import BaseComm

from hrlib.evaluate.tables import evaluate_probes
from hrlib.explore import Explorer
from hrlib.evaluate.features import WeightFeatures, WeightStatistics
from hrlib.explore.projections import ProjectionSettings, Representation
from hrlib.hyper.config import TrainConfig
from hrlib.hyper.train import train

PCA = ProjectionSettings(method="pca")


class WireComm(BaseComm):
    """Encodes every message as ipykernel's session does (json.dumps without NaN) and keeps them."""

    messages: list = []

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        from jupyter_client.jsonutil import json_default

        text = json.dumps(data, default=json_default, ensure_ascii=False, allow_nan=False)
        WireComm.messages.append((json.loads(text), [memoryview(b).nbytes for b in buffers or ()]))


@pytest.fixture(autouse=True)
def check_wire(monkeypatch):
    WireComm.messages = []
    monkeypatch.setattr(comm, "create_comm", WireComm)
    return WireComm.messages


@pytest.fixture(autouse=True)
def map_cache(monkeypatch, tmp_path):
    """The explorer's disk cache of maps (hrlib's cache folder by default), one per test."""
    monkeypatch.setenv("HRLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "maps"


@pytest.fixture(scope="module")
def report(hyp_zoo):
    return evaluate_probes(hyp_zoo, {"s(W)": WeightFeatures(WeightStatistics(hyp_zoo.layout))},
                           targets=["Eph", "Acc", "Act"])


@pytest.fixture
def explorer(hyp_zoo, report):
    z = np.c_[hyp_zoo.properties["epoch"], hyp_zoo.properties["test_acc"]].astype(np.float32)
    return Explorer(hyp_zoo, runs={"toy": z}, report=report, settings=PCA, representation="W")


def click(explorer, row, trace=0):
    """What plotly.js sends when a point is clicked."""
    explorer.figure._js2py_pointsCallback = {
        "event_type": "plotly_click", "device_state": None,
        "points": {"trace_indexes": [trace], "point_indexes": [int(row)], "xs": [0.0], "ys": [0.0]}}


def select(explorer, rows):
    n = len(rows)
    explorer.figure._js2py_pointsCallback = {
        "event_type": "plotly_selected", "selector": {"type": "box", "selector_state": {"xrange": [0, 1], "yrange": [0, 1]}},
        "points": {"trace_indexes": [0] * n, "point_indexes": [int(r) for r in rows], "xs": [0.0] * n, "ys": [0.0] * n}}


def shown_rows(explorer) -> np.ndarray:
    return np.flatnonzero(~np.isnan(np.asarray(explorer.figure.data[0].x)))


def test_scatter_holds_every_checkpoint_with_its_hover_label(explorer, hyp_zoo):
    props = hyp_zoo.properties
    main = explorer.figure.data[0]
    assert main.type == "scattergl" and len(main.x) == len(props)
    np.testing.assert_allclose(np.c_[main.x, main.y], explorer.projections.get("W", PCA))
    np.testing.assert_allclose(main.marker.color, props["test_acc"], rtol=1e-6)
    assert explorer.figure.layout.coloraxis.colorbar.title.text == "test_acc"
    # hover: one label per checkpoint with its model, epoch, accuracy, gap and hyper-parameters
    assert main.hovertemplate == "%{hovertext}<extra></extra>" and main.customdata is None
    for row in (0, len(props) // 2, len(props) - 1):
        p = props.iloc[row]
        assert main.hovertext[row] == (f"<b>model {p.model}</b>, epoch {p.epoch}<br>test_acc {p.test_acc:.3f} · "
                                       f"ggap {p.ggap:.3f}<br>activation {p.activation} · lr {p.lr:.3g}")


def test_a_notebook_without_widgets_shows_the_map_as_drawn(explorer, hyp_zoo):
    """Jupyter draws the app where widgets render; elsewhere the same output shows a static copy of the map."""
    explorer.color.value = "activation"
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    snapshot = bundle["application/vnd.plotly.v1+json"]
    main = snapshot["data"][0]
    assert main["type"] == "scattergl" and "hovertext" not in main and main["hoverinfo"] == "skip"
    assert snapshot["layout"]["coloraxis"]["colorbar"]["ticktext"] == ["relu", "tanh"]
    assert snapshot["layout"]["title"]["text"] == explorer.figure.layout.title.text
    assert bundle["text/plain"] == f"Explorer: W → PCA: {len(hyp_zoo.properties)} of {len(hyp_zoo.properties)} checkpoints"
    assert explorer.figure.data[0].hovertext is not None  # the live map keeps its labels


def test_colour_by_classes_gets_a_palette_and_by_numbers_a_scale(explorer, hyp_zoo, check_wire):
    props = hyp_zoo.properties
    check_wire.clear()
    explorer.color.value = "activation"
    axis = explorer.figure.layout.coloraxis
    assert axis.colorbar.ticktext == ("relu", "tanh") and axis.cmin == -0.5 and axis.cmax == 1.5
    codes = np.asarray(explorer.figure.data[0].marker.color)
    np.testing.assert_array_equal(np.array(["relu", "tanh"])[codes.astype(int)], props["activation"])
    assert len({c for _, c in axis.colorscale}) == 2  # two flat colour steps
    # a colour change sends the colour values and the colour axis, never the coordinates again
    sent = json.dumps([m for m, _ in check_wire])
    assert "marker.color" in sent and '"x"' not in sent and sum(sum(b) for _, b in check_wire) == 4 * len(props)

    explorer.color.value = "split"
    assert explorer.figure.layout.coloraxis.colorbar.ticktext == ("train", "val", "test")
    codes = np.asarray(explorer.figure.data[0].marker.color).astype(int)
    np.testing.assert_array_equal(np.array(["train", "val", "test"])[codes], explorer.splits)

    explorer.color.value = "lr"  # numbers with two values: classes too
    assert explorer.figure.layout.coloraxis.colorbar.ticktext == ("0.001", "0.01")
    explorer.color.value = "model"  # 24 values: a continuous scale without class ticks
    axis = explorer.figure.layout.coloraxis
    assert axis.colorbar.ticktext is None and (axis.cmin, axis.cmax) == (0, 23)
    np.testing.assert_array_equal(explorer.figure.data[0].marker.color, props["model"])


def test_filters_hide_exactly_the_filtered_checkpoints(explorer, hyp_zoo):
    props = hyp_zoo.properties
    splits = explorer.splits
    explorer.split_filter.value = "test"
    np.testing.assert_array_equal(shown_rows(explorer), np.flatnonzero(splits == "test"))
    assert explorer.figure.layout.title.text.endswith(f"{(splits == 'test').sum()} of 144 checkpoints")
    explorer.split_filter.value = "all"
    explorer.show_test.value = False
    np.testing.assert_array_equal(shown_rows(explorer), np.flatnonzero(splits != "test"))
    explorer.epochs.value = (2, 4)
    explorer.factor_filters["activation"].value = ("tanh",)
    expected = (splits != "test") & props["epoch"].between(2, 4) & (props["activation"] == "tanh")
    np.testing.assert_array_equal(shown_rows(explorer), np.flatnonzero(expected))
    np.testing.assert_array_equal(explorer.visible(), expected)
    explorer.factor_filters["lr"].value = (0.01,)
    np.testing.assert_array_equal(shown_rows(explorer), np.flatnonzero(expected & (props["lr"] == 0.01)))
    explorer.show_test.value = True
    explorer.epochs.value = (0, 5)
    explorer.factor_filters["activation"].value = ("tanh", "relu")
    explorer.factor_filters["lr"].value = (0.01, 0.001)
    assert len(shown_rows(explorer)) == 144
    explorer.marker_size.value = 7
    assert explorer.figure.data[0].marker.size == 7


def test_projections_are_computed_once_per_representation_and_settings(explorer):
    w = explorer.points
    assert explorer.n_neighbors.disabled and explorer.min_dist.disabled  # PCA has no such settings
    explorer.representation.value = "s(W)"
    sw = explorer.wait().points  # s(W) is computed in the background
    assert sw.shape == w.shape and not np.allclose(sw, w)
    np.testing.assert_allclose(np.c_[explorer.figure.data[0].x, explorer.figure.data[0].y], sw)
    assert explorer.figure.layout.xaxis.title.text == "PC 1"
    explorer.representation.value = "z (toy)"
    explorer.wait().representation.value = "W"
    assert explorer.points is w  # the cached array itself, not a recomputation
    explorer.representation.value = "s(W)"
    assert explorer.points is sw
    assert len(explorer.projections.seconds) == 3
    explorer.n_neighbors.value = 30  # does not change a PCA
    assert explorer.points is sw and len(explorer.projections.seconds) == 3
    assert "kept" in explorer.status.value


def test_the_first_map_is_pca_while_umap_is_computed_then_kept_on_disk(hyp_zoo, map_cache, monkeypatch):
    from hrlib.explore import projections

    release, project = threading.Event(), projections.project
    monkeypatch.setattr(projections, "project", lambda X, s, progress=None:  # UMAP waits to be released
                        project(X, s, progress) if s.method == "pca" or release.wait(60) else None)
    umap = ProjectionSettings(n_neighbors=5, fit_rows=100)
    explorer = Explorer(hyp_zoo, settings=umap, representation="W")
    assert explorer.figure.layout.title.text.startswith("W → PCA") and explorer.figure.layout.xaxis.title.text == "PC 1"
    assert explorer.status.value == "computing W → UMAP in the background…"
    release.set()
    explorer.wait()
    assert explorer.figure.layout.title.text.startswith("W → UMAP") and explorer.figure.layout.xaxis.title.text == "UMAP 1"
    np.testing.assert_array_equal(explorer.points, explorer.projections.get("W", umap))
    assert "computed in" in explorer.status.value and explorer.progress.value == 1000
    assert len(list(map_cache.glob("*.npy"))) == 2  # the PCA drawn first, and the UMAP map
    # a new explorer on the same zoo (a reopened notebook) draws the kept map at once, from disk
    again = Explorer(hyp_zoo, settings=umap, representation="W")
    assert again.figure.layout.title.text.startswith("W → UMAP") and again._job is None
    np.testing.assert_array_equal(again.points, explorer.points)
    assert "read from the disk cache" in again.status.value


def test_a_control_answers_before_its_map_is_computed(explorer):
    release = threading.Event()
    slow = explorer.projections.representations["s(W)"]
    explorer.projections.representations["s(W)"] = Representation(lambda: release.wait(60) and slow.compute(), slow.source)
    w = explorer.points
    explorer.representation.value = "s(W)"  # returns while s(W) waits to be computed
    assert explorer.points is w and explorer.figure.layout.title.text.startswith("W → PCA")
    assert "computing s(W) → PCA in the background" in explorer.status.value
    release.set()
    assert explorer.wait().figure.layout.title.text.startswith("s(W) → PCA")
    # a map computed for a choice since changed is not drawn over the current one
    explorer.projections.representations["z (toy)"] = Representation(lambda: release.wait(60) and explorer.zoo.samples())
    release.clear()
    explorer.representation.value = "z (toy)"
    explorer.representation.value = "W"
    release.set()
    assert explorer.wait().figure.layout.title.text.startswith("W → PCA") and explorer.points is w


def test_clicking_a_point_opens_the_panel_on_that_checkpoint(explorer, hyp_zoo, report):
    props = hyp_zoo.properties
    assert explorer.panel.layout.display == "none"
    row = int(np.flatnonzero((explorer.splits == "test") & (props["epoch"] == 3))[0])
    model = int(props["model"][row])
    click(explorer, row)
    assert explorer.focus == row and explorer.panel.layout.display == "flex"
    # the training curve of that model, the clicked epoch marked
    curve = explorer.curve_figure
    test_acc = next(t for t in curve.data if t.name == "test accuracy")
    np.testing.assert_allclose(test_acc.y, props["test_acc"][props["model"] == model])
    marked = next(t for t in curve.data if t.name == "selected epoch")
    assert set(marked.x) == {3} and props["test_acc"][row] in marked.y
    shown = explorer.curve.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert [t["name"] for t in shown["data"]] == [t.name for t in curve.data]
    # its weights, one heatmap per layer (the tetris MLP has no biases): output units × inputs
    heatmaps = explorer.weights_figure.data
    w = hyp_zoo.weights[model, 3]
    assert [np.shape(h.z) for h in heatmaps] == [(5, 16), (4, 5)]
    np.testing.assert_allclose(heatmaps[0].z, w[:80].reshape(5, 16), rtol=1e-6)
    np.testing.assert_allclose(heatmaps[1].z, w[80:].reshape(4, 5), rtol=1e-6)
    # its true properties beside the probe's predictions
    page = explorer.properties.value
    predicted = report.predictions.query("row == @row and target == 'Acc'")["predicted"].iloc[0]
    assert f"model {model}, epoch 3 (test)" in page and "<th>s(W)</th>" in page
    assert f"{predicted:.3g}" in page and f"{props['test_acc'][row]:.3g}" in page
    # the clicked point is ringed
    assert (explorer.figure.data[1].x[0], explorer.figure.data[1].y[0]) == pytest.approx(tuple(explorer.points[row]))

    train_row = int(np.flatnonzero(explorer.splits == "train")[0])
    click(explorer, train_row)
    assert "probes predict test-split checkpoints only; this one is in train" in explorer.properties.value
    assert "<th>s(W)</th>" not in explorer.properties.value
    click(explorer, row, trace=1)  # a click on another trace is not a checkpoint of the scatter
    assert explorer.focus == train_row


def test_a_selection_is_summarized(explorer, hyp_zoo):
    props = hyp_zoo.properties
    rows = np.flatnonzero(props["activation"] == "relu")[:40]
    select(explorer, rows)
    np.testing.assert_array_equal(explorer.selection, rows)
    page = explorer.summary.value
    part = props.iloc[rows]
    assert "40 checkpoints selected" in page and f"<td>{part['model'].nunique()}</td>" in page
    assert f"{part['test_acc'].mean():.3f} ± {part['test_acc'].std():.3f}" in page
    assert "relu 100%" in page and explorer.panel.layout.display == "flex"
    explorer.figure._js2py_pointsCallback = {"event_type": "plotly_deselect", "points": {
        "trace_indexes": [], "point_indexes": [], "xs": [], "ys": []}}
    assert explorer.summary.value == ""


def test_trajectories_join_a_models_checkpoints_through_its_epochs(explorer, hyp_zoo):
    points = explorer.points
    explorer.trajectories.value = True
    explorer.models.value = "3, 17"
    lines = explorer.figure.data[2:]
    assert [t.name for t in lines] == ["model 3", "model 17"]
    np.testing.assert_allclose(np.c_[lines[0].x, lines[0].y], points[hyp_zoo.rows([3])])
    assert lines[0].mode == "lines+markers" and np.all(np.diff(lines[0].marker.size) > 0)  # grows with epoch
    explorer.epochs.value = (1, 3)
    np.testing.assert_allclose(np.c_[explorer.figure.data[2].x, explorer.figure.data[2].y], points[hyp_zoo.rows([3])[1:4]])
    click(explorer, 5 * 6 + 2)  # model 5 joins the trajectories
    assert explorer.models.value == "3, 17, 5" and len(explorer.figure.data) == 5
    click(explorer, 1, trace=2)  # second point of model 3's line, epoch 2
    assert explorer.focus == 3 * 6 + 2
    select(explorer, np.arange(12, 30))  # models 2, 3, 4
    assert explorer.models.value == "2, 3, 4"
    explorer.models.value = "3, x, 99"
    assert "not a model id of this zoo (0 to 23): x, 99" in explorer.status.value
    assert [t.name for t in explorer.figure.data[2:]] == ["model 3"]
    explorer.trajectories.value = False
    assert len(explorer.figure.data) == 2


def test_bad_choices_get_clear_errors(hyp_zoo):
    with pytest.raises(ValueError, match="cannot colour by 'nope'"):
        Explorer(hyp_zoo, color="nope", settings=PCA)
    with pytest.raises(ValueError, match="unknown representation 'z'"):
        Explorer(hyp_zoo, representation="z", settings=PCA)
    with pytest.raises(ValueError, match="one row per checkpoint"):
        Explorer(hyp_zoo, runs={"short": np.zeros((10, 3))}, representation="z (short)", settings=PCA)
    with pytest.raises(ValueError, match="projection method"):
        ProjectionSettings(method="tsne")


def test_a_trained_run_is_a_representation(hyp_zoo, tmp_path):
    config = TrainConfig(epochs=1, batch_size=32, model=dict(d_model=16, heads=1, blocks=1, ff=32, latent=6,
                                                             projection_hidden=16, projection_out=8))
    run = train(hyp_zoo, tmp_path / "run", config, device="cpu", progress=False)
    explorer = Explorer(hyp_zoo, runs={"E_cD": run.path}, settings=PCA)
    assert explorer.representation.value == "z (E_cD)"  # the hyper-representation comes first
    assert explorer.projections.features("z (E_cD)").shape == (144, 6)
    assert len(shown_rows(explorer)) == 144
