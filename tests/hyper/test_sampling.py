"""Sampling networks from z: samples have the zoo's layout and are finite, anchors are the best
training checkpoints of their epoch, every start is what it claims to be, a run without a decoder
is refused, more networks than memory allows are refused before any work, and the CLI prints the
comparison."""

import numpy as np
import pandas as pd
import pytest

from hrlib.cli import main
from hrlib.hyper.runs import load_run
from hrlib.hyper import sampling
from hrlib.hyper.sampling import (MAX_NETWORKS, MAX_WEIGHTS, anchor_rows, check_count, compare_starts, sample_networks,
                                  summarize, summarize_runs)


def test_sampled_weights_have_the_zoos_layout_and_the_nearest_anchors_recipe(tiny_zoo, tiny_run):
    samples = sample_networks(tiny_run, tiny_zoo, 7, top=0.5, seed=3)
    assert samples.weights.shape == (7, tiny_zoo.layout.n_params) and samples.weights.dtype == np.float32
    assert np.isfinite(samples.weights).all() and samples.bandwidth > 0
    props = tiny_zoo.properties
    assert set(samples.nearest) <= set(samples.anchors)
    for spec, row in zip(samples.specs, samples.nearest):
        assert spec.lr == props["lr"][row] and spec.activation == props["activation"][row]
    again = sample_networks(tiny_run, tiny_zoo, 7, top=0.5, seed=3)
    np.testing.assert_array_equal(samples.weights, again.weights)  # seeded
    assert not np.array_equal(samples.weights, sample_networks(tiny_run, tiny_zoo, 7, top=0.5, seed=4).weights)


def test_a_given_bandwidth_is_used_and_a_narrow_one_stays_near_the_anchors(tiny_zoo, tiny_run):
    from hrlib.evaluate.features import flat_rows
    from hrlib.hyper.inference import embed_weights

    z_of = lambda weights: embed_weights(tiny_run, weights)  # noqa: E731
    narrow = sample_networks(tiny_run, tiny_zoo, 6, top=0.5, bandwidth=0.01)
    wide = sample_networks(tiny_run, tiny_zoo, 6, top=0.5, bandwidth=3.0)
    assert narrow.bandwidth == 0.01 and wide.bandwidth == 3.0
    anchors_z = z_of(flat_rows(tiny_zoo, narrow.anchors))
    spread = anchors_z.std(axis=0).mean()

    def distance_to_nearest_anchor(samples):
        z = z_of(samples.weights)
        return np.sqrt(((z[:, None] - anchors_z[None]) ** 2).sum(-1)).min(1).mean()

    assert distance_to_nearest_anchor(narrow) < distance_to_nearest_anchor(wide)
    assert distance_to_nearest_anchor(narrow) < spread * np.sqrt(anchors_z.shape[1])
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="bandwidth must be a number above 0"):
            sample_networks(tiny_run, tiny_zoo, 6, bandwidth=bad)


def test_anchors_are_the_best_training_checkpoints_of_their_epoch(tiny_zoo):
    train = tiny_zoo.split().train
    rows, epoch = anchor_rows(tiny_zoo, train, epoch=3, top=0.25)
    props = tiny_zoo.properties
    at_epoch = tiny_zoo.rows(train)[props["epoch"].to_numpy()[tiny_zoo.rows(train)] == 3]
    assert epoch == 3 and len(rows) == round(0.25 * len(at_epoch)) and set(rows) <= set(at_epoch)
    others = np.setdiff1d(at_epoch, rows)
    assert props["test_acc"][rows].min() >= props["test_acc"][others].max()
    assert anchor_rows(tiny_zoo, train)[1] == props["epoch"].max()  # the last epoch by default
    with pytest.raises(ValueError, match="no checkpoints at epoch 99"):
        anchor_rows(tiny_zoo, train, epoch=99)


def test_every_start_begins_where_it_says(tiny_zoo, tiny_run):
    table, samples = compare_starts(tiny_run, tiny_zoo, 4, epochs=2, top=0.5)
    assert set(table["start"]) == {"sampled", "anchors", "anchors reconstructed", "zoo (test split)", "random init"}
    split = tiny_zoo.split(load_run(tiny_run).config.split_fractions, load_run(tiny_run).config.split_seed)
    counts = table.groupby("start")["network"].nunique()
    assert counts.drop("zoo (test split)").eq(4).all() and counts["zoo (test split)"] == min(4, len(split.test))
    assert sorted(table["epoch"].unique()) == [0, 1, 2]
    start = table[table["epoch"] == 0].set_index(["start", "network"])["test_acc"]
    # the anchors at epoch 0 are the zoo's own checkpoints: the zoo's recorded accuracy, re-measured
    recorded = tiny_zoo.properties["test_acc"].to_numpy()[samples.anchors[:4]]
    np.testing.assert_allclose(start["anchors"].to_numpy(), recorded, atol=1e-6)
    test_acc = tiny_zoo.properties.set_index(["model", "epoch"])["test_acc"]
    own = {test_acc[m, samples.epoch] for m in split.test}
    assert all(any(abs(a - b) < 1e-6 for b in own) for a in start["zoo (test split)"])
    assert table["test_acc"].between(0, 1).all()
    cells = summarize(table)
    assert list(cells.columns) == [0, 1, 2] and cells.loc["sampled", 0].count("±") == 1


def test_a_run_without_a_decoder_is_refused(tiny_zoo, tmp_path):
    out = tmp_path / "E_c"
    assert main(["train", str(tiny_zoo.path), "--out", str(out), "--epochs", "1", "--arch", "Att_N", "--latent", "12",
                 "--loss", "E_c", "--quiet", "--device", "cpu"]) == 0
    with pytest.raises(ValueError, match="without a decoder"):
        sample_networks(out, tiny_zoo, 3)


def test_the_cli_prints_the_comparison_and_writes_every_network(tiny_zoo, tiny_run, tmp_path, capsys):
    out = tmp_path / "sampled.csv"
    assert main(["sample", str(tiny_run), str(tiny_zoo.path), "--n", "3", "--epochs", "1", "--top", "0.5",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 networks sampled from a kernel density" in printed and "random init" in printed
    assert len(pd.read_csv(out)) == 5 * 3 * 2
    assert main(["sample", str(tiny_run), str(tiny_zoo.path), "--n", "1"]) == 2
    err = capsys.readouterr().err
    assert "--n" in err and "at least 2" in err


def test_more_networks_than_memory_allows_are_refused_before_any_work(tiny_zoo, tiny_run, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("work began")

    monkeypatch.setattr(sampling, "load_run", no_work)
    for n in (10**8, MAX_NETWORKS + 1, 0):
        with pytest.raises(ValueError, match=f"--n {n}: hrlib samples 1..{MAX_NETWORKS} networks per start of this zoo"):
            compare_starts(tiny_run, tiny_zoo, n)
    assert check_count(MAX_NETWORKS, tiny_zoo.layout.n_params) == MAX_NETWORKS
    # wider networks lower the cap, so that n × params stays within MAX_WEIGHTS
    with pytest.raises(ValueError, match=f"hrlib samples 1..{MAX_WEIGHTS // 10_000} networks per start"):
        check_count(MAX_WEIGHTS // 10_000 + 1, 10_000)


def test_runs_are_summarized_by_the_spread_of_their_means():
    def table(accuracies):  # two starts, two networks each, epochs 0 and 1
        return pd.DataFrame([dict(start=start, network=n, epoch=e, test_acc=acc + 0.1 * e)
                             for start, accs in accuracies.items() for n, acc in enumerate(accs) for e in (0, 1)])

    mean, sd = summarize_runs([table({"sampled": [0.2, 0.4], "random init": [0.1, 0.1]}),
                               table({"sampled": [0.5, 0.5], "random init": [0.1, 0.1]})])
    assert list(mean.index) == ["sampled", "random init"] and list(mean.columns) == [0, 1]
    np.testing.assert_allclose(mean.loc["sampled"], [40, 50])  # the runs' means 30 and 50
    np.testing.assert_allclose(sd.loc["sampled"], [np.std([30, 50], ddof=1)] * 2)
    np.testing.assert_allclose(sd.loc["random init"], [0, 0], atol=1e-9)
    with pytest.raises(ValueError, match="at least two runs"):
        summarize_runs([table({"sampled": [0.2]})])
    with pytest.raises(ValueError, match="differ in their starts"):
        summarize_runs([table({"sampled": [0.2]}), table({"anchors": [0.2]})])


def test_differences_between_starts_use_the_standard_error():
    from hrlib.hyper.sampling import difference

    rng = np.random.default_rng(0)
    rows = []
    for start, centre in (("sampled", 0.80), ("zoo (test split)", 0.83), ("random init", 0.80)):
        for n, acc in enumerate(centre + rng.normal(scale=0.05, size=50)):
            rows.append(dict(start=start, network=n, epoch=0, test_acc=acc))
    table = pd.DataFrame(rows)
    gap = difference(table, "sampled", "zoo (test split)")
    # a gap of about 3 points with sds of 5 points over 50 networks each: a standard error near 1, told apart
    assert -5 < gap.gap < -1 and 0.7 < gap.se < 1.3 and gap.real
    assert not difference(table, "sampled", "random init").real
    # paired: the same networks shifted by 1 point each are told apart, however wide their spread
    shifted = table[table.start == "sampled"].assign(start="anchors", test_acc=lambda t: t.test_acc - 0.01)
    both = pd.concat([table, shifted])
    paired = difference(both, "sampled", "anchors", paired=True)
    assert paired.gap == pytest.approx(1.0) and paired.real
    assert not difference(both, "sampled", "anchors").real  # as independent groups the shift is lost in the spread
    with pytest.raises(ValueError, match="at least two networks"):
        difference(table, "sampled", "zoo (test split)", epoch=3)
