"""Feature sets for linear probing: the raw weights W, weight statistics s(W), kernel PCA, UMAP, and z.

A feature set turns checkpoints of a zoo into a matrix, one row per checkpoint. It is fitted on the
rows of the training split only (`fit(zoo, rows)`) and then maps any rows, of that zoo or of another
zoo of the same architecture (`transform(zoo, rows)`). Rows index `zoo.properties` (model-major).

- `WeightFeatures` wraps any scikit-learn transformer of flat weight vectors (W, s(W), PCA, UMAP).
- `Encoded` wraps a function ``encode(zoo) -> (rows, d)`` array: the seam for hyper-representations,
  e.g. ``Encoded(functools.partial(hrlib.hyper.inference.embed, run))``, which `runs_as_features`
  builds from run directories; `given(array)` wraps one precomputed array aligned with a zoo's
  properties rows.

Shape legend: n rows (checkpoints), p params, k features.
"""

from __future__ import annotations

import functools
import logging
import weakref
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA, KernelPCA
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted, validate_data

from hrlib.errors import require
from hrlib.zoos.layout import Layout

log = logging.getLogger(__name__)

AUTHORS_PERCENTILES = (1, 25, 50, 75, 99)
UNTERTHINER_PERCENTILES = (0, 25, 50, 75, 100)  # min, quartiles, max
BASELINES = ("W", "PCA_l", "PCA_c", "PCA_r", "UMAP", "s(W)")  # the paper's Table 5 columns, in its order
TRANSFORM_CHUNK = 4096  # rows per transform call: a kernel PCA of 5000 fit rows needs chunk × 5000 floats


class WeightStatistics(TransformerMixin, BaseEstimator):
    """s(W): per-layer statistics of flat weight vectors; stateless, so fitting only checks the width.

    variant="authors" (the paper's code): per layer, over its weights only, mean, variance and the
    1/25/50/75/99 percentiles, 7 per layer. variant="unterthiner" (Unterthiner et al. 2020): per
    weight tensor and, separately, per bias vector, min/25/50/75/max percentiles, mean and std.
    """

    def __init__(self, layout: Layout | None = None, variant: str = "authors"):
        self.layout = layout
        self.variant = variant

    def fit(self, X, y=None):
        if self.variant not in ("authors", "unterthiner"):
            raise ValueError(f"variant must be 'authors' or 'unterthiner', got {self.variant!r}")
        if self.layout is None:
            raise ValueError("WeightStatistics needs the zoo's layout to find each layer's weights")
        X = validate_data(self, X, dtype=np.float64)
        if X.shape[1] != self.layout.n_params:
            raise ValueError(f"X has {X.shape[1]} columns, the layout has {self.layout.n_params} parameters")
        self.feature_names_ = np.asarray(self._names(), dtype=object)
        return self

    def _groups(self) -> list[tuple[str, slice]]:
        """(name, flat slice) of each tensor the statistics run over, in layout order."""
        groups = []
        for i, layer in enumerate(self.layout.layers):
            groups.append((f"{layer.name}.weight", self.layout.weight_slice(i)))
            if self.variant == "unterthiner" and layer.bias:
                groups.append((f"{layer.name}.bias", self.layout.bias_slice(i)))
        return groups

    def _names(self) -> list[str]:
        if self.variant == "authors":
            stats = ["mean", "var"] + [f"p{q}" for q in AUTHORS_PERCENTILES]
        else:
            stats = ["min", "p25", "p50", "p75", "max", "mean", "std"]
        return [f"{name}.{stat}" for name, _ in self._groups() for stat in stats]

    def transform(self, X):
        check_is_fitted(self, "feature_names_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        columns = []
        for _, part in self._groups():
            w = X[:, part]  # (n, size of the tensor)
            if self.variant == "authors":
                columns += [w.mean(1), w.var(1), *np.percentile(w, AUTHORS_PERCENTILES, axis=1)]
            else:
                columns += [*np.percentile(w, UNTERTHINER_PERCENTILES, axis=1), w.mean(1), w.std(1)]
        return np.stack(columns, axis=1)  # (n, k)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "feature_names_")
        return self.feature_names_


def flat_rows(zoo, rows) -> np.ndarray:
    """Flat weight vectors (n, p) of the given property rows of a zoo, as float32."""
    m, c, p = zoo.weights.shape
    rows = np.asarray(rows)
    if rows.size and (rows.min() < 0 or rows.max() >= m * c):
        raise IndexError(f"rows must lie in [0, {m * c}), got {rows.min()}..{rows.max()}")
    return np.asarray(zoo.weights.reshape(m * c, p)[rows], dtype=np.float32)


class WeightFeatures:
    """A feature set computed from the flat weights by a scikit-learn transformer.

    Args:
        transformer: an unfitted scikit-learn transformer; cloned on every `fit`.
        max_fit_rows: fit on at most this many training rows, drawn without replacement with
            `random_state` (kernel PCA builds a rows × rows kernel matrix, which for the 53k
            training checkpoints of tetris_seed would need 23 GB); None fits on all of them.
        random_state: seed of that subsample.
    """

    def __init__(self, transformer, max_fit_rows: int | None = None, random_state: int = 0):
        self.transformer = transformer
        self.max_fit_rows = max_fit_rows
        self.random_state = random_state

    def __repr__(self):
        cap = "" if self.max_fit_rows is None else f", max_fit_rows={self.max_fit_rows}"
        return f"WeightFeatures({self.transformer!r}{cap})"

    def fit(self, zoo, rows) -> "WeightFeatures":
        rows = np.asarray(rows)
        if self.max_fit_rows is not None and len(rows) > self.max_fit_rows:
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(rows, self.max_fit_rows, replace=False))
            log.info("fitting %r on a subsample of %d training rows", self.transformer, len(rows))
        self.layout_ = zoo.layout
        self.fit_rows_ = rows
        self.transformer_ = clone(self.transformer).fit(flat_rows(zoo, rows))
        return self

    def transform(self, zoo, rows) -> np.ndarray:
        if not hasattr(self, "transformer_"):
            raise RuntimeError("fit the feature set before transforming")
        if zoo.layout != self.layout_:
            raise ValueError(f"feature set was fitted on {self.layout_}, cannot map a zoo with {zoo.layout}")
        rows = np.asarray(rows)
        parts = [self.transformer_.transform(flat_rows(zoo, rows[i : i + TRANSFORM_CHUNK]))
                 for i in range(0, len(rows), TRANSFORM_CHUNK)]
        return np.concatenate(parts) if parts else np.empty((0, 0))


class Encoded:
    """Features from an encoder already trained elsewhere: ``encode(zoo) -> (rows, d)`` array.

    `fit` does nothing: the encoder must have been trained on the same training split the probes use.
    Each zoo is encoded once and cached while the zoo lives, so probing many targets costs one pass;
    the cache holds no zoo alive.
    """

    def __init__(self, encode: Callable, name: str = "z"):
        self.encode = encode
        self.name = name
        self._cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # zoo → (rows, d)

    def __repr__(self):
        return f"Encoded({self.name})"

    def fit(self, zoo, rows) -> "Encoded":
        return self

    def transform(self, zoo, rows) -> np.ndarray:
        if zoo not in self._cache:
            z = np.asarray(self.encode(zoo))
            if z.ndim != 2 or len(z) != len(zoo.properties):
                raise ValueError(
                    f"{self.name}: encoder returned shape {z.shape}; expected one row per checkpoint "
                    f"({len(zoo.properties)}, d)"
                )
            self._cache[zoo] = z
        return self._cache[zoo][np.asarray(rows)]


def given(array, zoo=None, name: str = "z") -> Encoded:
    """A precomputed (rows, d) feature array aligned with `zoo.properties`; it maps only that zoo."""
    array = np.asarray(array)

    def encode(target):
        if zoo is not None and target is not zoo:
            raise ValueError(f"{name} was given for one zoo only and cannot map another; pass an encoder instead")
        return array

    return Encoded(encode, name)


def baselines(layout: Layout | None = None, n_components: int = 50, max_fit_rows: int = 5000,
              random_state: int = 0, umap: bool = True, umap_components: int = 2,
              unterthiner: bool = True) -> dict[str, WeightFeatures]:
    """The paper's baseline feature sets by name: W, PCA_l, PCA_c, PCA_r, UMAP, s(W) (and s_U(W)).

    PCA_l is PCA fitted on every training row (a linear-kernel PCA is exactly PCA); PCA_c and PCA_r
    are scikit-learn's KernelPCA fitted on a seeded subsample of `max_fit_rows` training rows. Each
    gives `n_components` features (50 by default, the latent size of the tetris recipes).
    UMAP (25 neighbours, min_dist 0.001) is fitted on every training row and gives `umap_components`
    features: 2 by default, umap-learn's own default and the map of the paper's Figure 4 (the
    authors' code fitted 50 on a subsample of the rows); 50 took 3× longer to fit and 16× longer to
    transform on tetris_seed on a 2-core CPU. s_U(W) is Unterthiner et al.'s variant of s(W); both
    need `layout`.
    """
    sets = {
        "W": WeightFeatures(FunctionTransformer()),
        "PCA_l": WeightFeatures(PCA(n_components, random_state=random_state)),
        "PCA_c": WeightFeatures(KernelPCA(n_components, kernel="cosine", eigen_solver="randomized",
                                          random_state=random_state), max_fit_rows, random_state),
        "PCA_r": WeightFeatures(KernelPCA(n_components, kernel="rbf", eigen_solver="randomized",
                                          random_state=random_state), max_fit_rows, random_state),
    }
    if umap:
        UMAP = require("umap", "explore", "the UMAP baseline").UMAP  # imported late: it takes seconds (numba)
        sets["UMAP"] = WeightFeatures(UMAP(n_neighbors=25, min_dist=0.001, n_components=umap_components,
                                           random_state=random_state, n_jobs=1))
    sets["s(W)"] = WeightFeatures(WeightStatistics(layout, "authors"))
    if unterthiner:
        sets["s_U(W)"] = WeightFeatures(WeightStatistics(layout, "unterthiner"))
    return sets


def runs_as_features(runs: dict[str, str], zoo=None, split_seed: int | None = None,
                     split_fractions=(0.7, 0.15, 0.15)) -> dict[str, Encoded]:
    """name → run directory, as feature sets through `hrlib.hyper.inference.embed(run, zoo)`.

    With `zoo` (and `split_seed`, `split_fractions`), each run must have been trained on that zoo with
    that split (`Run.check_fits`), so that probing it neither answers another zoo's question nor leaks
    test models. A run still training is probed with its best model so far, and says so in a warning.
    """
    from hrlib.hyper.inference import embed  # torch: imported only when runs are probed
    from hrlib.hyper.runs import load_run, unfinished

    loaded = {name: load_run(run) for name, run in runs.items()}
    for name, run in loaded.items():
        if progress := unfinished(run.path):
            log.warning("%s: %s has not finished training (%s); its z comes from the best model so far",
                        name, run.path, progress)
    if zoo is not None:
        for run in loaded.values():
            run.check_fits(zoo, split_seed, split_fractions)
    return {name: Encoded(functools.partial(embed, run), name=name) for name, run in loaded.items()}


def select_baselines(layout, names, n_components: int = 50, max_fit_rows: int = 5000, umap_components: int = 2) -> dict:
    """The named baselines of `hrlib.evaluate.features.baselines`, in the order named.

    Names match ignoring case and punctuation, so ``sW`` (easy to type in a shell) is ``s(W)``.
    """
    key = lambda name: "".join(ch for ch in name.lower() if ch.isalnum())  # noqa: E731
    wants_umap = any(key(name) == "umap" for name in names)
    available = baselines(layout, n_components, max_fit_rows, umap=wants_umap, umap_components=umap_components)
    by_key = {key(name): name for name in available}
    unknown = [name for name in names if key(name) not in by_key]
    if unknown:
        raise ValueError(f"unknown feature sets {unknown}; known: {list(available) + ([] if wants_umap else ['UMAP'])}")
    return {by_key[key(name)]: available[by_key[key(name)]] for name in names}
