"""The Zoo: weights of a population of models at every checkpoint, their properties, their layout.

On disk a zoo is a directory that plain numpy, pandas and json can read in any future version:

- ``manifest.json``: format and version, hrlib version, architecture, layout, data set, preset and
  generating configuration, models dropped while training, and the sha256 of each data file;
- ``weights.npy``: float32 (models, checkpoints, params), memory-mapped when loaded;
- ``properties.csv.gz``: one row per checkpoint, model-major (row = model * checkpoints + j), with
  ``model``, ``epoch``, the metrics and every generating factor as columns.

Shape legend: m models, c checkpoints, p params.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hrlib.files import atomic_dir
from hrlib.schemas import problem, read_json
from hrlib.zoos.layout import KINDS, Layout

FORMAT = "hrlib-zoo"
FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.npy"
PROPERTIES_FILE = "properties.csv.gz"
MANIFEST_FILE = "manifest.json"
SPLITS = ("train", "val", "test")
MANIFEST_WHAT = "an hrlib zoo's manifest"

_COUNT = {"type": "integer", "minimum": 0}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
# Read first, so that a manifest of another format or version is named as such, whatever its keys.
MANIFEST_HEADER_SCHEMA = {
    "type": "object",
    "required": ["format", "format_version"],
    "properties": {"format": {"type": "string"}, "format_version": {"type": "integer"}},
}
# What every reader of a zoo relies on; the rest of a manifest (preset, config, source...) is a record.
MANIFEST_SCHEMA = {
    "type": "object",
    "required": ["hrlib_version", "architecture", "layout", "shape", "files", "epochs"],
    "properties": {
        "hrlib_version": {"type": "string"},
        "architecture": {"type": ["string", "null"]},
        "layout": {
            "type": "object",
            "required": ["layers"],
            "properties": {"layers": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "required": ["name", "kind", "shape", "bias"],
                "properties": {
                    "name": {"type": "string"},
                    "kind": {"enum": list(KINDS)},
                    "shape": {"type": "array", "minItems": 2, "maxItems": 4, "items": {"type": "integer", "minimum": 1}},
                    "bias": {"type": "boolean"},
                    "in_block": {"type": "integer", "minimum": 1},
                },
                "additionalProperties": False,
            }}},
        },
        "shape": {"type": "array", "minItems": 3, "maxItems": 3, "items": _COUNT},
        "files": {"type": "object", "required": [WEIGHTS_FILE, PROPERTIES_FILE],
                  "properties": {WEIGHTS_FILE: _SHA256, PROPERTIES_FILE: _SHA256}},
        "epochs": {"type": "array", "minItems": 1, "items": _COUNT},
        "dataset": {"type": "object", "properties": {"name": {"type": ["string", "null"]}}},
        "preset": {"type": "string"},
        "models_trained": _COUNT,
        "models_dropped": _COUNT,
        "dropped": {"type": "array"},
        "build_seconds": {"type": ["number", "null"]},
    },
}


class ZooError(ValueError):
    """A zoo on disk is missing, corrupt or does not match its manifest."""


def _hrlib_version() -> str:
    from hrlib import __version__

    return __version__


def sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Split:
    """Model ids of each split; no model is in two splits."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in SPLITS:
            raise KeyError(f"split must be one of {SPLITS}, got {name!r}")
        return getattr(self, name)

    def labels(self, n_models: int) -> np.ndarray:
        """Split name of every model id, as an array of strings."""
        out = np.empty(n_models, dtype=object)
        for name in SPLITS:
            out[self[name]] = name
        return out


def split_sizes(n_models: int, fractions) -> tuple[int, int]:
    """How many models the training and validation parts of `Zoo.split` hold (the test part: the rest)."""
    return round(fractions[0] * n_models), round(fractions[1] * n_models)


class Zoo:
    """A model zoo: `weights` (m, c, p), `properties` (m·c rows), `layout`, `manifest`."""

    def __init__(self, weights: np.ndarray, properties: pd.DataFrame, layout: Layout, manifest: dict, path=None):
        self.weights = weights
        self.properties = properties
        self.layout = layout
        self.manifest = manifest
        self.path = None if path is None else Path(path)
        self._check()

    def _check(self):
        m, c, p = self.weights.shape
        if p != self.layout.n_params:
            raise ZooError(f"weights have {p} parameters per model, the layout has {self.layout.n_params}")
        if len(self.properties) != m * c:
            raise ZooError(f"properties have {len(self.properties)} rows, expected {m} models × {c} checkpoints")
        model = self.properties["model"].to_numpy()
        if not np.array_equal(model, np.repeat(np.arange(m), c)):
            raise ZooError("properties rows are not ordered model-major with models 0..m-1")

    def __repr__(self):
        m, c, p = self.weights.shape
        name = self.manifest.get("preset") or self.manifest.get("source", "zoo")
        return f"Zoo({name!r}: {m} models × {c} checkpoints × {p} params, architecture {self.architecture!r})"

    @property
    def architecture(self) -> str | None:
        return self.manifest.get("architecture")

    @property
    def fingerprint(self) -> str | None:
        """The sha256 of the saved weights: what identifies a zoo (None for one never saved)."""
        return self.manifest.get("files", {}).get(WEIGHTS_FILE)

    @property
    def n_models(self) -> int:
        return self.weights.shape[0]

    @property
    def epochs(self) -> np.ndarray:
        return np.asarray(self.manifest["epochs"])

    def split(self, fractions=(0.7, 0.15, 0.15), seed: int = 0) -> Split:
        """Split by model (all checkpoints of a model in one split), seeded, 70/15/15 by default."""
        if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1):
            raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
        order = np.random.default_rng(seed).permutation(self.n_models)
        n_train, n_val = split_sizes(self.n_models, fractions)
        return Split(
            np.sort(order[:n_train]), np.sort(order[n_train : n_train + n_val]), np.sort(order[n_train + n_val :])
        )

    def rows(self, models) -> np.ndarray:
        """Row indices (into `properties` and flattened weights) of every checkpoint of `models`."""
        c = self.weights.shape[1]
        return (np.asarray(models)[:, None] * c + np.arange(c)).ravel()

    def samples(self, models=None) -> np.ndarray:
        """Flat weight vectors (rows, p) of every checkpoint of `models` (all by default), in row order."""
        w = self.weights if models is None else self.weights[np.asarray(models)]
        return np.asarray(w, dtype=np.float32).reshape(-1, self.weights.shape[2])

    def subset(self, models) -> Zoo:
        """A zoo of `models` alone, renumbered 0..len-1 in the order given; its manifest names the
        original models (`subset_models`) and the zoo they came from (`subset_of`, its fingerprint)."""
        models = np.asarray(models, dtype=int)
        if models.ndim != 1 or len(models) == 0 or len(np.unique(models)) != len(models):
            raise ValueError("models must be a non-empty list of distinct model indices")
        if models.min() < 0 or models.max() >= self.n_models:
            raise ValueError(f"model indices must lie in 0..{self.n_models - 1}")
        properties = self.properties.iloc[self.rows(models)].reset_index(drop=True)
        properties["model"] = np.repeat(np.arange(len(models)), self.weights.shape[1])
        manifest = {k: v for k, v in self.manifest.items() if k != "files"}
        manifest |= {"subset_of": self.fingerprint, "subset_models": models.tolist()}
        return Zoo(self.weights[models], properties, self.layout, manifest)

    def save(self, path, overwrite: bool = False) -> Path:
        """Write the zoo to `path` atomically: it appears complete or not at all. With `overwrite`, an
        hrlib zoo already at `path` is replaced once the new one is complete; any other folder is refused."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        with atomic_dir(path, "zoo") as tmp:
            np.save(tmp / WEIGHTS_FILE, np.ascontiguousarray(self.weights, dtype=np.float32))
            self.properties.to_csv(tmp / PROPERTIES_FILE, index=False)
            m, c, p = self.weights.shape
            manifest = {
                "architecture": None,
                **self.manifest,
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "hrlib_version": _hrlib_version(),
                "layout": self.layout.to_dict(),
                "shape": [m, c, p],
                "files": {name: sha256(tmp / name) for name in (WEIGHTS_FILE, PROPERTIES_FILE)},
            }
            (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, default=_json_default))
        return path


def exploded_models(zoo: Zoo, factor: float = 5.0, chunk: int = 256) -> np.ndarray:
    """The models whose largest checkpoint weight norm exceeds `factor` times the median model's: those
    whose weights grew far beyond the rest (a ReLU network from a U(0, 1) init, say). Read `chunk`
    models at a time, so a zoo on disk is never copied whole."""
    largest = np.concatenate([np.linalg.norm(zoo.weights[i : i + chunk], axis=2).max(axis=1)
                              for i in range(0, zoo.n_models, chunk)])
    return np.flatnonzero(largest > factor * np.median(largest))


def exploded_share(zoo: Zoo, models, factor: float = 5.0) -> float:
    """The share of the variance of `models`' weights (all checkpoints, around their mean) that their
    exploded models hold: what a reconstruction R² of those models mostly measures when it is large.
    0 without exploded models; otherwise two passes over the models, one model at a time."""
    models = np.asarray(models)
    exploded = np.isin(models, exploded_models(zoo, factor))
    if not exploded.any():
        return 0.0
    mean = sum(zoo.weights[m].sum(0, dtype=np.float64) for m in models) / (len(models) * zoo.weights.shape[1])
    spread = np.array([((zoo.weights[m] - mean) ** 2).sum() for m in models])
    return float(spread[exploded].sum() / spread.sum())


def weight_variance(zoo: Zoo, by=None, max_rows: int = 200_000, seed: int = 0) -> float:
    """The paper's VAR (Table 4): each weight's variance over the zoo's checkpoints, averaged over
    weights. With `by` (e.g. ["init", "activation"]), VAR_c: the same within each group of
    checkpoints sharing those factors, averaged over groups. Large zoos use a seeded row sample."""
    rows = np.arange(len(zoo.properties))
    if len(rows) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    w = np.asarray(zoo.weights.reshape(-1, zoo.layout.n_params)[rows], dtype=np.float64)
    if by is None:
        return float(w.var(0).mean())
    groups = zoo.properties.iloc[rows].groupby(list(by)).indices
    return float(np.mean([w[idx].var(0).mean() for idx in groups.values()]))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a manifest")


def read_manifest(path) -> dict:
    """The manifest of the zoo at `path`, once it is one this hrlib reads and holds every key a reader
    relies on; otherwise a `ZooError` naming the file and the key."""
    path = Path(path)
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ZooError(f"{manifest_path}: missing; {path} is not a complete hrlib zoo")
    manifest = read_json(manifest_path, MANIFEST_HEADER_SCHEMA, ZooError, MANIFEST_WHAT)
    if manifest["format"] != FORMAT or manifest["format_version"] != FORMAT_VERSION:
        raise ZooError(
            f"{manifest_path}: format {manifest['format']!r} version {manifest['format_version']!r} "
            f"is not one this hrlib reads ({FORMAT!r} version {FORMAT_VERSION})"
        )
    wrong = problem(manifest, MANIFEST_SCHEMA)
    if not wrong and len(manifest["epochs"]) != manifest["shape"][1]:
        wrong = f"'epochs' lists {len(manifest['epochs'])} checkpoints, 'shape' {manifest['shape'][1]}"
    if wrong:
        raise ZooError(f"{manifest_path}: {wrong}; is it {MANIFEST_WHAT}?")
    return manifest


def _layout(manifest: dict, manifest_path: Path) -> Layout:
    try:
        layout = Layout.from_dict(manifest["layout"])
    except ValueError as err:
        raise ZooError(f"{manifest_path}: 'layout' is not a layout hrlib reads ({err})") from None
    if layout.n_params != manifest["shape"][2]:
        raise ZooError(f"{manifest_path}: 'layout' holds {layout.n_params} parameters per model, 'shape' "
                       f"{manifest['shape'][2]}")
    return layout


def _properties(path: Path, m: int, c: int) -> pd.DataFrame:
    """The properties table, once it holds one row per checkpoint, model-major."""
    try:
        properties = pd.read_csv(path)
    except Exception as err:  # pandas raises many types for a broken file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ZooError(f"{path}: unreadable ({first}); is it an hrlib zoo's properties table?") from None
    missing = [column for column in ("model", "epoch") if column not in properties]
    if missing:
        raise ZooError(f"{path}: lacks the column '{missing[0]}'; is it an hrlib zoo's properties table?")
    if len(properties) != m * c:
        raise ZooError(f"{path}: {len(properties)} rows, expected {m} models × {c} checkpoints")
    if not np.array_equal(properties["model"].to_numpy(), np.repeat(np.arange(m), c)):
        raise ZooError(f"{path}: the 'model' column is not 0..{m - 1}, each model's {c} checkpoints in a row")
    return properties


def load_zoo(path, verify: bool = True) -> Zoo:
    """Open a zoo directory; weights are memory-mapped.

    Fails with a `ZooError` naming the file and the problem: missing file, unknown format version, a
    manifest key missing or of the wrong type (`MANIFEST_SCHEMA`), a layout hrlib cannot read, checksum
    mismatch (with `verify`), wrong shape, NaN or inf weights (with `verify`), a properties table
    without one row per checkpoint, model-major.
    """
    path = Path(path)
    if not path.is_dir():
        raise ZooError(f"{path}: no zoo directory here")
    manifest_path = path / MANIFEST_FILE
    manifest = read_manifest(path)
    layout = _layout(manifest, manifest_path)
    for name in (WEIGHTS_FILE, PROPERTIES_FILE):
        file = path / name
        if not file.is_file():
            raise ZooError(f"{file}: missing")
        if verify and sha256(file) != manifest["files"][name]:
            raise ZooError(f"{file}: checksum mismatch; the file is corrupt or was changed after the zoo was saved")
    try:
        weights = np.load(path / WEIGHTS_FILE, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        raise ZooError(f"{path / WEIGHTS_FILE}: unreadable ({err})") from None
    if list(weights.shape) != manifest["shape"] or weights.dtype != np.float32:
        raise ZooError(
            f"{path / WEIGHTS_FILE}: {weights.dtype} array of shape {list(weights.shape)}, "
            f"manifest says float32 {manifest['shape']}"
        )
    if verify:
        for start in range(0, len(weights), 1024):
            block = weights[start : start + 1024]
            if not np.isfinite(block).all():
                bad = start + int(np.flatnonzero(~np.isfinite(block).reshape(len(block), -1).all(1))[0])
                raise ZooError(f"{path / WEIGHTS_FILE}: model {bad} has NaN or inf weights")
    properties = _properties(path / PROPERTIES_FILE, *manifest["shape"][:2])
    return Zoo(weights, properties, layout, manifest, path)
