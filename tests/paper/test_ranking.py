"""The ranking benchmark: the NFN authors' Small CNN Zoo protocol matches a direct rendering of their data loader,
NFN rows train, resume and sit beside s_U(W), and a table without them says why."""

import random
import sys

import numpy as np
import pandas as pd
import pytest

from hrlib.cli import main
from hrlib.errors import MissingExtra
from hrlib.evaluate.peers import missing
from hrlib.paper.ranking import far_predictions_note, nfn_split, rank_section
from hrlib.zoos.architectures import layout_of
from hrlib.zoos.importers import import_zoo
from hrlib.zoos.zoo import Zoo
from tests.zoos.test_importers import write_unterthiner

needs_nfn = pytest.mark.skipif(missing() is not None, reason="the NFN predictors need the peers extra")


@pytest.fixture(scope="module")
def small_cnn_zoo(tmp_path_factory):
    """A Small CNN Zoo of 30 CNN-u models with checkpoints at steps 0 and 86, rows shuffled in weights.npy
    (as `write_unterthiner` writes them), imported; returns (source folder, zoo)."""
    tmp = tmp_path_factory.mktemp("small_cnn_zoo")
    rng = np.random.default_rng(3)
    rows = {f"run/{i:02d}": {step: rng.normal(0, 0.3, 4970).astype(np.float32) for step in (0, 86)} for i in range(30)}
    accuracies = {d: {0: 0.1, 86: float(rng.uniform(0.2, 0.9))} for d in rows}
    write_unterthiner(tmp / "src", rows, accuracies, {d: {"activation": "relu"} for d in rows})
    return tmp / "src", import_zoo("unterthiner", tmp / "src", tmp / "zoo")


def authors_split(src, order=None) -> dict[str, set]:
    """The NFN authors' ZooDataset split, step by step from their data loader, as sets of modeldir."""
    metrics = pd.read_csv(src / "metrics.csv")
    metrics = metrics.iloc[np.arange(len(metrics)) if order is None else order]
    final = metrics[metrics["step"] == 86].reset_index(drop=True)
    test_point = int(0.5 * len(final))
    trainval = list(range(test_point))
    val_point = int(0.8 * len(trainval))
    random.Random(0).shuffle(trainval)
    parts = {"train": trainval[:val_point], "val": trainval[val_point:], "test": list(range(test_point, len(final)))}
    return {name: set(final["modeldir"].iloc[idx]) for name, idx in parts.items()}


def modeldirs(zoo, split) -> dict[str, set]:
    first = zoo.properties.groupby("model")["modeldir"].first()
    return {name: set(first.loc[split[name]]) for name in ("train", "val", "test")}


def test_the_nfn_split_is_the_authors_in_the_files_order_and_in_a_given_one(small_cnn_zoo, tmp_path):
    src, zoo = small_cnn_zoo
    ours = modeldirs(zoo, nfn_split(zoo))
    assert ours == authors_split(src)
    assert [len(ours[s]) for s in ("train", "val", "test")] == [12, 3, 15]
    first = zoo.properties.groupby("model")["modeldir"].first()
    assert ours["test"] != set(first.iloc[15:]), "the file's order, not the importer's (sorted by modeldir)"
    order = np.random.default_rng(7).permutation(60)  # the authors' split files: a permutation of weights.npy's rows
    np.savetxt(tmp_path / "order.csv", order, fmt="%d")
    assert modeldirs(zoo, nfn_split(zoo, tmp_path / "order.csv")) == authors_split(src, order)
    np.savetxt(tmp_path / "short.csv", order[:50], fmt="%d")
    with pytest.raises(ValueError, match="lacks row .* of weights.npy, which this zoo holds"):
        nfn_split(zoo, tmp_path / "short.csv")


@needs_nfn
def test_rank_with_the_nfn_protocol_trains_nfns_and_resumes_them(small_cnn_zoo, tmp_path):
    _, zoo = small_cnn_zoo
    results, runs = tmp_path / "results.md", tmp_path / "runs"
    argv = ["reproduce", "rank", str(zoo.path), "--protocol", "nfn", "--runs-dir", str(runs), "--results", str(results),
            "--device", "cpu", "--quiet"]
    assert main([*argv, "--epochs", "2"]) == 0
    text = results.read_text()
    assert "<!-- BEGIN rank:zoo:nfn -->" in text and "on the NFN authors' test half" in text
    for row in ("s_U(W), linear", "s_U(W), trees", "NFN_NP", "NFN_HNP"):
        assert f"| {row} |" in text, row
    assert "checkpoint at step 86, models in weights.npy's own row order" in text and "ranked (15)" in text
    folder = runs / "nfn" / "zoo-NFN_HNP-nfn-s0"
    assert len(pd.read_csv(folder / "history.csv")) == 2
    assert main([*argv, "--epochs", "3"]) == 0  # a rerun with more epochs resumes at the third
    assert list(pd.read_csv(folder / "history.csv").epoch) == [1, 2, 3]


def cnn_s_zoo() -> Zoo:
    layout = layout_of("cnn_s")
    weights = np.random.default_rng(0).normal(0, 0.1, (20, 1, layout.n_params)).astype(np.float32)
    props = pd.DataFrame({"model": np.arange(20), "epoch": 3, "test_acc": np.linspace(0.1, 0.9, 20)})
    return Zoo(weights, props, layout, {"architecture": "cnn_s", "epochs": [3]})


def test_a_table_without_nfn_rows_says_why(tiny_zoo, monkeypatch, tmp_path, capsys):
    title, body, _ = rank_section(tiny_zoo, "tiny", {}, peers=False, runs_dir=tmp_path)
    assert "- NFN_NP, NFN_HNP: left out (--no-peers)." in body and "NFN_HNP |" not in body
    if missing() is None:
        _, body, _ = rank_section(cnn_s_zoo(), "cnn_s", {}, runs_dir=tmp_path)
        assert "NFN_NP, NFN_HNP: not run: layer '11' reads a flattened spatial map" in body
        with pytest.raises(ValueError, match="no NFN rows for this zoo: .* conv → flatten"):
            rank_section(cnn_s_zoo(), "cnn_s", {}, peers=True, runs_dir=tmp_path)
    monkeypatch.setitem(sys.modules, "nfn", None)  # as if the peers extra were not installed
    _, body, _ = rank_section(tiny_zoo, "tiny", {}, runs_dir=tmp_path)
    assert "- NFN_NP, NFN_HNP: not run: an NFN predictor (NFN_NP, NFN_HNP) needs the nfn package" in body
    assert "install it with: pip install 'hrlib[peers]'." in body
    with pytest.raises(MissingExtra):
        rank_section(tiny_zoo, "tiny", {}, peers=True, runs_dir=tmp_path)
    capsys.readouterr()
    assert main(["reproduce", "rank", str(tiny_zoo.path), "--peers", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'hrlib[peers]'" in err
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written


def test_a_ranking_row_whose_r2_fell_below_minus_one_is_named_under_the_table():
    mean = pd.DataFrame({"τ": [0.77, 0.74, 0.76], "R²": [0.88, -83.0, 0.86]},
                        index=["s_U(W), trees", "E_cD, linear", "E_cD, trees"])
    note = far_predictions_note(mean)
    assert note.startswith("R² below −1 (E_cD, linear):") and "trees)" not in note
    assert far_predictions_note(mean.assign(**{"R²": [0.88, -0.5, 0.86]})) is None
