"""The explorer's side panel shows the recorded numbers of a checkpoint and a selection."""

import numpy as np
import pandas as pd
import pytest

from hrlib.explore.panel import properties_table, selection_summary, training_curve, weight_heatmaps
from hrlib.zoos.layout import Layer, Layout
from hrlib.zoos.zoo import Zoo


def test_checkpoint_details_show_the_recorded_numbers(hyp_zoo):
    props = hyp_zoo.properties
    row = hyp_zoo.rows([7])[4]
    curve = training_curve(hyp_zoo, 7, epoch=4)
    assert [t.name for t in curve.data] == ["train accuracy", "test accuracy", "selected epoch"]
    with pytest.raises(ValueError, match="no checkpoint at epoch 9"):
        training_curve(hyp_zoo, 7, epoch=9)
    with pytest.raises(IndexError):
        weight_heatmaps(hyp_zoo, len(props))
    predictions = pd.DataFrame(dict(feature="z", target=["Acc", "Act"], row=row, predicted=[0.5, "relu"]))
    table = properties_table(hyp_zoo, row, ["test_acc", "activation", "lr"], predictions)
    assert list(table.index) == ["Acc (test_acc)", "Act (activation)", "LR (lr)"]
    assert table.loc["Acc (test_acc)", "true"] == props["test_acc"][row] and table.loc["Acc (test_acc)", "z"] == 0.5
    assert table.loc["Act (activation)", "z"] == "relu" and pd.isna(table.loc["LR (lr)", "z"])
    summary = selection_summary(props, hyp_zoo.rows([0, 1]), factors=["lr"])
    assert summary.loc["checkpoints", "value"] == "12" and summary.loc["models", "value"] == "2"
    with pytest.raises(ValueError, match="empty"):
        selection_summary(props, [])


def test_weight_heatmaps_put_each_bias_in_the_last_column():
    layout = Layout([Layer("conv", "conv", (2, 1, 2, 2), bias=True), Layer("fc", "linear", (3, 2), bias=True)])
    weights = np.arange(layout.n_params, dtype=np.float32).reshape(1, 1, -1)
    props = pd.DataFrame(dict(model=[0], epoch=[0]))
    fig = weight_heatmaps(Zoo(weights, props, layout, {}), 0)
    np.testing.assert_array_equal(fig.data[0].z, [[0, 1, 2, 3, 8], [4, 5, 6, 7, 9]])  # kernels flattened, bias
    np.testing.assert_array_equal(fig.data[1].z, [[10, 11, 16], [12, 13, 17], [14, 15, 18]])
    assert fig.layout.coloraxis.cmin == -18 and fig.layout.coloraxis.cmax == 18  # zero in the middle
