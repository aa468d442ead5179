"""New networks from a hyper-representation: draw z near the z of good checkpoints, decode them.

As in the authors' follow-up work on generative hyper-representations: the anchors are the
training-split checkpoints of one epoch whose test accuracy is in the top fraction of that epoch; a
Gaussian kernel density estimate (scikit-learn's KernelDensity, on standardized z, its bandwidth
chosen by 5-fold cross-validated log-likelihood) is fitted to their z; new z are drawn from it and
the decoder turns them into weight vectors. Each sample takes the hyper-parameters (activation,
optimizer, learning rate, ...) of its nearest anchor.

`compare_starts` asks what such weights are worth as networks and as starting points: it trains
the sampled networks, the anchors, their reconstructions, the zoo's own test-split networks of the
same epoch and freshly initialized ones for a few more epochs, with the zoo's recipe, and records
test accuracy after each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity, NearestNeighbors
from sklearn.preprocessing import StandardScaler

from hrlib.evaluate.features import flat_rows
from hrlib.evaluate.probes import plain
from hrlib.evaluate.tables import over_seeds
from hrlib.hyper.inference import decode, embed_weights, reconstruct
from hrlib.hyper.runs import Run, load_run
from hrlib.zoos.population import FACTORS, ModelSpec, train_population
from hrlib.zoos.zoo import Zoo

BANDWIDTHS = np.logspace(-1.5, 0.5, 17)  # in units of z's standard deviation per dimension
MAX_NETWORKS = 100_000  # per start: each network is decoded, then trained beside the others
MAX_WEIGHTS = 100_000_000  # per start, networks × params: 400 MB of float32, several times that while training


@dataclass
class Samples:
    """Sampled networks: weights (n, p), each sample's nearest anchor row and its hyper-parameters
    (`specs`), the anchors' rows, the chosen bandwidth (in sd of z) and the anchors' epoch."""

    weights: np.ndarray
    nearest: np.ndarray
    specs: list[ModelSpec]
    anchors: np.ndarray
    bandwidth: float
    epoch: int


def _as_run(run) -> Run:
    return run if isinstance(run, Run) else load_run(run)


def _spec(row: pd.Series, seed: int) -> ModelSpec:
    """The hyper-parameters of the checkpoint `row` (plain Python values, as a preset holds them), with a new seed."""
    factors = {f: row[f] for f in FACTORS if f != "seed" and f in row.index and pd.notna(row[f])}
    return ModelSpec(seed=seed, **{f: plain(v) for f, v in factors.items()})


def rows_at(zoo: Zoo, models, epoch: int) -> np.ndarray:
    """Rows of the checkpoints of `models` at `epoch`."""
    rows = zoo.rows(models)
    rows = rows[zoo.properties["epoch"].to_numpy()[rows] == epoch]
    if not len(rows):
        kept = sorted(map(int, zoo.properties["epoch"].unique()))
        raise ValueError(f"the zoo has no checkpoints at epoch {epoch}; it keeps {kept}")
    return rows


def anchor_rows(zoo: Zoo, models, epoch: int | None = None, top: float = 0.3) -> tuple[np.ndarray, int]:
    """Rows of the checkpoints of `models` at `epoch` (the zoo's last by default) whose test accuracy
    is in the top `top` fraction among them, and that epoch."""
    props = zoo.properties
    epoch = int(props["epoch"].max()) if epoch is None else int(epoch)
    rows = rows_at(zoo, models, epoch)
    if not 0 < top <= 1:
        raise ValueError(f"top must be a fraction in (0, 1], got {top}")
    acc = props["test_acc"].to_numpy()[rows]
    keep = max(2, round(top * len(rows)))
    return rows[np.argsort(-acc, kind="stable")[:keep]], epoch


def check_count(n: int, n_params: int, option: str = "--n") -> int:
    """`n`, once that many networks of `n_params` weights can be sampled and trained per start; checked
    before any work, with a line naming `option`."""
    most = max(1, min(MAX_NETWORKS, MAX_WEIGHTS // max(n_params, 1)))
    if not 1 <= n <= most:
        raise ValueError(f"{option} {n}: hrlib samples 1..{most} networks per start of this zoo ({n_params} weights "
                         f"each); choose a number in that range")
    return n


def sample_networks(run, zoo: Zoo, n: int, *, epoch: int | None = None, top: float = 0.3, seed: int = 0,
                    bandwidth: float | None = None, device="cpu") -> Samples:
    """`n` weight vectors decoded from z drawn from a kernel density over the z of the best
    training-split checkpoints (see the module docstring); `bandwidth` None chooses it by cross-validation."""
    check_count(n, zoo.layout.n_params)
    if bandwidth is not None and not 0 < bandwidth < np.inf:
        raise ValueError(f"bandwidth must be a number above 0 (in sd of z), got {bandwidth}")
    run = _as_run(run)
    if not run.config.loss.uses_reconstruction:
        raise ValueError(f"run {run.path} was trained without a decoder (E_c): it cannot turn z into weights")
    run.check_fits(zoo)
    split = zoo.split(run.config.split_fractions, run.config.split_seed)
    anchors, epoch = anchor_rows(zoo, split.train, epoch, top)
    z = embed_weights(run, flat_rows(zoo, anchors), device=device)  # the anchors alone, not the whole zoo
    scaler = StandardScaler().fit(z)
    scaled = scaler.transform(z)
    if bandwidth is None:
        folds = min(5, len(anchors))
        search = GridSearchCV(KernelDensity(), {"bandwidth": BANDWIDTHS}, cv=folds).fit(scaled)
        bandwidth = float(search.best_params_["bandwidth"])
    kde = KernelDensity(bandwidth=bandwidth).fit(scaled)
    drawn = kde.sample(n, random_state=seed)
    nearest = anchors[NearestNeighbors(n_neighbors=1).fit(scaled).kneighbors(drawn, return_distance=False)[:, 0]]
    decoded = decode(run, scaler.inverse_transform(drawn), device=device)
    specs = [_spec(zoo.properties.iloc[row], 1_000_000 + seed * n + i) for i, row in enumerate(nearest)]
    return Samples(decoded, nearest, specs, anchors, bandwidth, epoch)


def compare_starts(run, zoo: Zoo, n: int = 50, *, epochs: int = 5, epoch: int | None = None, top: float = 0.3,
                   seed: int = 0, bandwidth: float | None = None, device="cpu") -> tuple[pd.DataFrame, Samples]:
    """Sampled networks against freshly initialized ones and (up to `n` of) the zoo's own test-split
    networks of the anchors' epoch, each trained `epochs` more epochs with the zoo's recipe (batch size, optimizer and
    learning rate of the nearest anchor); `bandwidth` as in `sample_networks`.

    Returns a long table (start, network, epoch, test_acc, train_acc) and the `Samples`. Epoch 0 is
    the start itself: the decoded network, the initialization, the zoo's checkpoint. Two more starts
    tell where the samples come from: the (first `n`) anchors themselves, and their reconstructions,
    what the decoder keeps of networks it has seen.
    """
    from hrlib.evaluate.networks import zoo_data

    check_count(n, zoo.layout.n_params)
    run = _as_run(run)
    samples = sample_networks(run, zoo, n, epoch=epoch, top=top, seed=seed, bandwidth=bandwidth, device=device)
    split = zoo.split(run.config.split_fractions, run.config.split_seed)
    own_rows = rows_at(zoo, split.test, samples.epoch)
    own_rows = own_rows[np.random.default_rng(seed).permutation(len(own_rows))[:n]]
    props = zoo.properties
    batch = int((zoo.manifest.get("config") or {}).get("batch_size") or 32)
    data = zoo_data(zoo, "train"), zoo_data(zoo, "test")
    anchors = samples.anchors[:n]
    anchor_weights = flat_rows(zoo, anchors)
    anchor_specs = [_spec(props.iloc[r], 2_000_000 + i) for i, r in enumerate(anchors)]
    starts = {
        "sampled": (samples.weights, samples.specs),
        "anchors": (anchor_weights, anchor_specs),
        "anchors reconstructed": (reconstruct(run, anchor_weights, device=device), anchor_specs),
        "zoo (test split)": (flat_rows(zoo, own_rows), [_spec(props.iloc[r], 3_000_000 + i) for i, r in enumerate(own_rows)]),
        "random init": (None, [_spec(props.iloc[r], 4_000_000 + i) for i, r in enumerate(samples.nearest)]),
    }
    parts = []
    for name, (weights, specs) in starts.items():
        result = train_population(zoo.architecture, specs, *data, epochs=epochs, batch_size=batch, device=device,
                                  start=weights)
        for j, e in enumerate(result.epochs):
            parts.append(pd.DataFrame({"start": name, "network": np.arange(len(specs)), "epoch": e,
                                       "test_acc": result.metrics["test_acc"][:, j],
                                       "train_acc": result.metrics["train_acc"][:, j]}))
    return pd.concat(parts, ignore_index=True), samples


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy in %, mean ± sd over the networks, per start (rows) and epoch of training (columns)."""
    stats = table.groupby(["start", "epoch"], sort=False)["test_acc"].agg(["mean", "std"]).mul(100)
    cells = stats["mean"].map("{:.1f}".format) + " ± " + stats["std"].map("{:.1f}".format)
    return cells.unstack("epoch").rename_axis(columns="epochs trained")


def summarize_runs(tables: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test accuracy in %, mean and sd over runs (one `compare_starts` table each, e.g. hyper-representations
    trained with different seeds) of each run's mean over its networks: two tables, starts (rows) by
    epochs of training (columns)."""
    if len(tables) < 2:
        raise ValueError(f"need the tables of at least two runs to give a spread, got {len(tables)}")
    means = [t.groupby(["start", "epoch"], sort=False)["test_acc"].mean().mul(100).unstack("epoch") for t in tables]
    if any(not (m.index.equals(means[0].index) and m.columns.equals(means[0].columns)) for m in means):
        raise ValueError("the runs' tables differ in their starts or epochs; compare runs made with the same options")
    return tuple(stat.rename_axis(columns="epochs trained") for stat in over_seeds(means))


class Difference(NamedTuple):
    """Start a's mean test accuracy minus start b's, in points, its standard error and the p-value
    of the two-sided t-test that they are equal."""

    gap: float
    se: float
    p: float

    @property
    def real(self) -> bool:
        """Whether the gap is told apart from zero at the 5% level."""
        return self.p < 0.05


def difference(table: pd.DataFrame, a: str, b: str, epoch: int = 0, paired: bool = False) -> Difference:
    """How start `a`'s networks differ from start `b`'s after `epoch` epochs of training, in points of
    test accuracy (a `compare_starts` table): Welch's t-test on two independent groups, or the paired
    test where network i of one start is network i of the other (the anchors and their reconstructions)."""
    at = table[table["epoch"] == epoch]
    x, y = (at.loc[at["start"] == s].sort_values("network")["test_acc"].to_numpy() * 100 for s in (a, b))
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"need at least two networks of {a!r} and of {b!r} at epoch {epoch}")
    if paired:
        if len(x) != len(y):
            raise ValueError(f"{a!r} and {b!r} hold different numbers of networks; they cannot be paired")
        d = x - y
        se, p = d.std(ddof=1) / np.sqrt(len(d)), stats.ttest_rel(x, y).pvalue
    else:
        se, p = np.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y)), stats.ttest_ind(x, y, equal_var=False).pvalue
    p = 1.0 if np.isnan(p) else float(p)  # identical groups: no difference to tell
    return Difference(float(x.mean() - y.mean()), float(se), p)
