"""Two-dimensional maps of a zoo's checkpoints: representations, projections, and their cache.

A representation turns every checkpoint of a zoo into a feature vector: ``W`` (the flat weights),
``s(W)`` (per-layer weight statistics, standardized, since variances and means differ in scale by
orders of magnitude), or the z of a trained hyper-representation. A projection maps those vectors
to 2-D: PCA, or UMAP.

UMAP on every checkpoint of a large zoo is slow (273,600 for ``tetris_hyp``), so `project` fits
UMAP on a seeded subsample of ``fit_rows`` checkpoints (20,000 by default) and places every other
checkpoint at the distance-weighted mean of the positions of its 10 nearest fitted neighbours,
found with an NN-descent index. Measured on ``tetris_hyp`` (W, 100 params) on a busy 2-core CPU:
fitting 20,000 rows took 25 s, placing the other 253,600 took 4 s, where umap-learn's own
``transform`` would take about 130 s; the two placements differ by 0.03 on average on a map about
35 units wide. PCA is fitted on the same subsample and applied to all rows.

`Projections` computes each representation once and each (representation, settings) projection
once, and keeps them for the session; given a cache folder, it also keeps every map on disk, named
by the zoo's checksum, what identifies the representation (the name of W or s(W), the checksum of
a run's ``best.pt``, or of a given z) and the settings, so a map is computed once per machine.

Shape legend: n checkpoints, k features.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from hrlib.evaluate.features import WeightStatistics
from hrlib.files import atomic, claim_dir
from hrlib.zoos.zoo import Zoo

log = logging.getLogger(__name__)

METHODS = ("umap", "pca")
PLACE_NEIGHBORS = 10  # fitted neighbours averaged to place a checkpoint left out of the UMAP fit
EXACT_BELOW = 4096  # umap-learn finds exact neighbours below this many rows
CHUNK = 32768  # rows per block when computing statistics and placing rows
MAP_FORMAT = 1  # part of every cached map's key: raise it when a projection's method changes

# progress(done, total, message): the explorer's progress bar, or None
Progress = Callable[[int, int, str], None] | None


@dataclass(frozen=True)
class ProjectionSettings:
    """How to map a representation to 2-D; equal settings share one cached projection."""

    method: str = "umap"
    n_neighbors: int = 15
    min_dist: float = 0.1
    fit_rows: int = 20_000  # fit on a seeded subsample of this many checkpoints, place the rest
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"projection method must be one of {METHODS}, got {self.method!r}")
        if self.n_neighbors < 2:
            raise ValueError(f"n_neighbors must be at least 2, got {self.n_neighbors}")
        if not 0 <= self.min_dist <= 1:
            raise ValueError(f"min_dist must lie in [0, 1], got {self.min_dist}")
        if self.fit_rows < 10:
            raise ValueError(f"fit_rows must be at least 10, got {self.fit_rows}")

    def key(self) -> tuple:
        """The settings that change the result (UMAP's neighbours and distance do not change PCA)."""
        if self.method == "pca":
            return ("pca", self.fit_rows, self.seed)
        return dataclasses.astuple(self)

    def replace(self, **changes) -> "ProjectionSettings":
        return dataclasses.replace(self, **changes)


def weight_statistics(zoo: Zoo) -> np.ndarray:
    """s(W) of every checkpoint (n, 7 per layer), each statistic standardized over the zoo."""
    stats = WeightStatistics(zoo.layout).fit(zoo.samples(np.arange(1)))
    flat = zoo.weights.reshape(-1, zoo.layout.n_params)
    out = np.concatenate([stats.transform(np.asarray(flat[i : i + CHUNK])) for i in range(0, len(flat), CHUNK)])
    spread = out.std(0)
    return ((out - out.mean(0)) / np.where(spread > 0, spread, 1)).astype(np.float32)


@dataclass(frozen=True)
class Representation:
    """One representation of every checkpoint: how to compute it, and what identifies its values
    (with the zoo's checksum) so that its maps can be kept on disk; None keeps them in memory only."""

    compute: Callable[[], np.ndarray]
    source: Callable[[], str] | None = None


def _array_source(array: np.ndarray) -> str:
    return "array:" + hashlib.sha256(np.ascontiguousarray(array).view(np.uint8)).hexdigest()


def _run_source(run) -> str:
    from hrlib.evaluate.saved import run_fingerprint

    return "run:" + run_fingerprint(run)


def representations(zoo: Zoo, runs: Mapping[str, object] | None = None) -> dict[str, Representation]:
    """Name → `Representation` of every checkpoint, (n, k), aligned with `zoo.properties`: ``W``,
    ``s(W)``, and ``z (NAME)`` for each trained run (a `hrlib.hyper.runs.Run`, a run directory, or a
    precomputed (n, latent) array) in `runs`."""
    reps = {"W": Representation(zoo.samples, lambda: "W"),
            "s(W)": Representation(lambda: weight_statistics(zoo), lambda: "s(W)")}
    for name, run in (runs or {}).items():
        if isinstance(run, np.ndarray):
            reps[f"z ({name})"] = Representation(lambda run=run: run, lambda run=run: _array_source(run))
        else:
            from hrlib.hyper.inference import embed  # torch: imported only when a run is shown

            reps[f"z ({name})"] = Representation(lambda run=run: embed(run, zoo), lambda run=run: _run_source(run))
    return reps


def _umap_with_placement(X: np.ndarray, fit: np.ndarray, s: ProjectionSettings, progress: Progress) -> np.ndarray:
    from umap import UMAP  # imported late: numba makes it slow to import
    from umap.umap_ import nearest_neighbors

    n = len(X)
    rest = np.setdiff1d(np.arange(n), fit)
    out = np.empty((n, 2), dtype=np.float32)
    # From 4096 rows on, umap-learn finds neighbours with an NN-descent index; built here and
    # handed to it (its documented `precomputed_knn`), the same index then places the other rows.
    knn = None
    if len(rest) and len(fit) >= EXACT_BELOW:
        _report(progress, 0, n, f"finding neighbours among {len(fit):,} checkpoints")
        knn = nearest_neighbors(X[fit], s.n_neighbors, "euclidean", {}, False,
                                np.random.RandomState(s.seed), n_jobs=1)
    _report(progress, 0, n, f"fitting UMAP on {len(fit):,} of {n:,} checkpoints")
    reducer = UMAP(n_neighbors=s.n_neighbors, min_dist=s.min_dist, random_state=s.seed, n_jobs=1,
                   precomputed_knn=knn or (None, None, None))
    out[fit] = reducer.fit_transform(X[fit])
    if not len(rest):
        return out
    k = min(PLACE_NEIGHBORS, len(fit))
    exact = None if knn else NearestNeighbors(n_neighbors=k).fit(X[fit])
    for start in range(0, len(rest), CHUNK):
        _report(progress, len(fit) + start, n, f"placing {len(rest):,} checkpoints by their nearest fitted neighbours")
        part = rest[start : start + CHUNK]
        if knn:
            neighbours, distances = knn[2].query(X[part], k=k)  # (b, k)
        else:
            distances, neighbours = exact.kneighbors(X[part])
        weights = 1.0 / (distances + 1e-6)  # a duplicate of a fitted checkpoint lands on it
        out[part] = (out[fit][neighbours] * weights[..., None]).sum(1) / weights.sum(1, keepdims=True)
    return out


def project(X: np.ndarray, settings: ProjectionSettings = ProjectionSettings(), progress: Progress = None) -> np.ndarray:
    """2-D coordinates (n, 2) of the rows of X, fitted on a seeded subsample of `settings.fit_rows`."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or len(X) < 3:
        raise ValueError(f"need a (rows, features) array with at least 3 rows to project, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("the representation holds NaN or infinite values")
    n = len(X)
    rng = np.random.default_rng(settings.seed)
    fit = np.arange(n) if n <= settings.fit_rows else np.sort(rng.choice(n, settings.fit_rows, replace=False))
    if settings.method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(2, random_state=settings.seed).fit(X[fit])
        out = np.concatenate([pca.transform(X[i : i + CHUNK]) for i in range(0, n, CHUNK)]).astype(np.float32)
    else:
        if len(fit) <= settings.n_neighbors:
            raise ValueError(f"UMAP with {settings.n_neighbors} neighbours needs more than {len(fit)} rows")
        out = _umap_with_placement(X, fit, settings, progress)
    _report(progress, n, n, "done")
    return out


def _report(progress: Progress, done: int, total: int, message: str):
    if progress is not None:
        progress(done, total, message)
    log.debug("%s (%d/%d)", message, done, total)


class Projections:
    """Representations and their 2-D projections for one zoo, each computed once and kept; safe to use
    from a background thread while the caller's thread asks for others.

    Args:
        zoo: the zoo whose checkpoints are projected.
        representations: name → `Representation` (or a bare function computing it, kept in memory only).
        cache: a folder (created, and marked as hrlib's "maps" folder) where every map is also kept on
            disk, so a later session finds it at once; None keeps maps for this session only.
    """

    def __init__(self, zoo: Zoo, representations: Mapping[str, Representation | Callable[[], np.ndarray]],
                 cache: str | Path | None = None):
        if not representations:
            raise ValueError("no representations to project")
        self.zoo = zoo
        self.representations = {name: rep if isinstance(rep, Representation) else Representation(rep)
                                for name, rep in representations.items()}
        self.cache = None if cache is None else claim_dir(cache, "maps", "cache")
        self._features: dict[str, np.ndarray] = {}
        self._points: dict[tuple, np.ndarray] = {}
        self._sources: dict[str, str | None] = {}
        self._locks = collections.defaultdict(threading.Lock)  # one per representation and per map
        self._guard = threading.Lock()  # guards _locks
        self.seconds: dict[tuple, float] = {}  # time each projection took, features included
        self.from_disk: set[tuple] = set()  # the maps read from the disk cache (their seconds: reading)

    @property
    def names(self) -> list[str]:
        return list(self.representations)

    def _lock(self, key) -> threading.Lock:
        with self._guard:
            return self._locks[key]

    def _check_name(self, name: str):
        if name not in self.representations:
            raise KeyError(f"unknown representation {name!r}; known: {self.names}")

    def has_features(self, name: str) -> bool:
        return name in self._features

    def features(self, name: str) -> np.ndarray:
        self._check_name(name)
        with self._lock(("features", name)):
            if name not in self._features:
                X = np.asarray(self.representations[name].compute())
                if X.ndim != 2 or len(X) != len(self.zoo.properties):
                    raise ValueError(f"representation {name!r} has shape {X.shape}; expected one row per "
                                     f"checkpoint ({len(self.zoo.properties)}, k)")
                self._features[name] = X
        return self._features[name]

    def _file(self, name: str, settings: ProjectionSettings) -> Path | None:
        """Where the map is kept on disk; None without a cache, or for a zoo or representation that
        nothing identifies."""
        if self.cache is None or self.zoo.fingerprint is None or self.representations[name].source is None:
            return None
        if name not in self._sources:
            self._sources[name] = self.representations[name].source()
        key = json.dumps([MAP_FORMAT, self.zoo.fingerprint, self._sources[name], list(settings.key())])
        return self.cache / f"{hashlib.sha256(key.encode()).hexdigest()[:40]}.npy"

    def _read(self, file: Path) -> np.ndarray | None:
        """A cached map, or None when it is missing or unreadable (then it is computed and rewritten)."""
        try:
            points = np.load(file, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            log.warning("%s: unreadable cached map (%s); computing it again", file, err)
            return None
        if points.shape != (len(self.zoo.properties), 2) or not np.isfinite(points).all():
            log.warning("%s: cached map of shape %s does not fit this zoo; computing it again", file, points.shape)
            return None
        return points

    def peek(self, name: str, settings: ProjectionSettings) -> np.ndarray | None:
        """The map if it is kept (in memory, else on disk), without computing anything."""
        self._check_name(name)
        key = (name, settings.key())
        if key not in self._points and (file := self._file(name, settings)) is not None:
            start = time.perf_counter()
            if (points := self._read(file)) is not None:
                self._points.setdefault(key, points)
                self.seconds.setdefault(key, time.perf_counter() - start)
                self.from_disk.add(key)
        return self._points.get(key)

    def cached(self, name: str, settings: ProjectionSettings) -> bool:
        return self.peek(name, settings) is not None

    def get(self, name: str, settings: ProjectionSettings, progress: Progress = None) -> np.ndarray:
        """The (n, 2) projection of representation `name`: kept, else computed (and kept) on first use.
        A map another thread is computing is waited for, not computed twice."""
        key = (name, settings.key())
        with self._lock(key):
            if (points := self.peek(name, settings)) is not None:
                return points
            start = time.perf_counter()
            _report(progress, 0, 1, f"computing {name}")
            points = project(self.features(name), settings, progress)
            if (file := self._file(name, settings)) is not None:
                with atomic(file) as tmp:
                    np.save(tmp, points)
            self.seconds[key] = time.perf_counter() - start
            self._points[key] = points
            log.info("projected %s with %s in %.1f s", name, settings, self.seconds[key])
        return points


def neighbour_score(points: np.ndarray, values, groups=None, k: int = 10, max_rows: int = 20_000,
                    seed: int = 0) -> float:
    """How much of a property a 2-D map shows: R² (numbers) or accuracy (classes) of predicting each
    checkpoint's value from its `k` nearest neighbours in the map.

    Neighbours of the same group (pass the model ids: a model's own checkpoints) are left out, since
    they share every hyper-parameter and would make those trivially predictable. Scored on a seeded
    sample of at most `max_rows` checkpoints; neighbours are searched among all of them.
    """
    from sklearn.metrics import accuracy_score, r2_score

    from hrlib.evaluate.probes import target_kind

    points = np.asarray(points, dtype=np.float64)
    values = pd.Series(np.asarray(values)) if not isinstance(values, pd.Series) else values.reset_index(drop=True)
    if points.ndim != 2 or len(points) != len(values):
        raise ValueError(f"points {points.shape} and {len(values)} values do not match")
    groups = np.arange(len(points)) if groups is None else np.asarray(groups)
    largest = int(np.unique(groups, return_counts=True)[1].max())
    if len(points) - largest < k:
        raise ValueError(f"fewer than {k} checkpoints lie outside the largest group")
    rng = np.random.default_rng(seed)
    sample = np.arange(len(points)) if len(points) <= max_rows else rng.choice(len(points), max_rows, replace=False)
    _, found = NearestNeighbors(n_neighbors=min(len(points), k + largest)).fit(points).kneighbors(points[sample])
    other = groups[found] != groups[sample][:, None]  # (s, k + largest); each row has at least k True
    nearest = np.take_along_axis(found, np.argsort(~other, axis=1, kind="stable")[:, :k], axis=1)  # (s, k)
    if target_kind(values) == "classification":
        codes, _ = pd.factorize(values.astype(str))
        votes = np.zeros((len(sample), codes.max() + 1))
        np.add.at(votes, (np.repeat(np.arange(len(sample)), k), codes[nearest].ravel()), 1)
        return float(accuracy_score(codes[sample], votes.argmax(1)))
    y = values.to_numpy(dtype=np.float64)
    return float(r2_score(y[sample], y[nearest].mean(1)))
