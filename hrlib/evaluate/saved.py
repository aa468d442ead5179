"""Probes kept on disk: fit them once on a zoo, then predict the characteristics of any checkpoint.

A probe directory holds two files that plain json and numpy read, and no pickled code:

- ``probes.json``: the zoo the probes were fitted on and its test models, the sha256 of
  ``probes.npz`` (so that arrays from another probe folder are never read as these), and per
  feature set (a hyper-representation's z) its run and that run's ``best.pt`` sha256, the width of
  its z, its probes (the property columns each predicts, ridge or logistic, the chosen α or C, the
  classes) and per target the score the probe earned on the zoo's test split (R² or accuracy, and
  Kendall's τ for numbers);
- ``probes.npz``: each probe's arrays (``F/P/coef``, ``F/P/intercept`` and, when the features were
  standardized, ``F/P/mean``, ``F/P/scale``; F the feature set's and P the probe's index).

`load_probes` checks both against each other (``SCHEMA``, the checksum, every array's shape and
finiteness) and rebuilds the same scikit-learn pipelines from these arrays, so a loaded probe
predicts exactly what the fitted one did. `predict_checkpoints` reads checkpoints (a zoo, a folder
of state_dicts, single files), encodes them with the run and applies the run's probes.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from hrlib import __version__
from hrlib.evaluate.probes import kendall_tau, label
from hrlib.files import atomic_dir
from hrlib.schemas import problem, read_json
from hrlib.zoos.zoo import sha256

FORMAT = "hrlib-probes"
FORMAT_VERSION = 2  # 2: probes.json records the sha256 of probes.npz and the width of each feature set
INDEX_FILE, ARRAYS_FILE = "probes.json", "probes.npz"
WHAT = "the index of an hrlib probe folder"
SAVE = "`hrlib probe ZOO --run NAME=RUN --save DIR`"

_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_PROBE = {
    "type": "object",
    "required": ["columns", "kind", "arrays", "standardized", "n_train"],
    "properties": {
        "columns": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "kind": {"enum": ["regression", "classification"]},
        "arrays": {"type": "string", "minLength": 1},
        "standardized": {"type": "boolean"},
        "n_train": {"type": "integer", "minimum": 0},
        "alpha": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 1},
        "C": {"type": "number", "exclusiveMinimum": 0},
        "classes": {"type": "array", "items": {"type": ["string", "number", "boolean"]}, "minItems": 2},
    },
    "allOf": [
        {"if": {"required": ["kind"], "properties": {"kind": {"const": "regression"}}}, "then": {"required": ["alpha"]}},
        {"if": {"required": ["kind"], "properties": {"kind": {"const": "classification"}}},
         "then": {"required": ["C", "classes"], "properties": {"columns": {"maxItems": 1}}}},
    ],
}
_SCORE = {
    "type": "object",
    "required": ["column", "target", "metric", "test", "val", "tau", "n_test"],
    "properties": {"column": {"type": "string"}, "target": {"type": "string"}, "metric": {"type": "string"},
                   "test": {"type": "number"}, "val": {"type": "number"}, "tau": {"type": ["number", "null"]},
                   "n_test": {"type": "integer", "minimum": 0}},
}
SCHEMA = {  # probes.json, format version 2
    "type": "object",
    "required": ["format", "format_version", "arrays_sha256", "zoo", "zoo_sha256", "test_models", "feature_sets"],
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"const": FORMAT_VERSION},
        "arrays_sha256": _SHA256,
        "zoo": {"type": ["string", "null"]},
        "zoo_sha256": {"type": ["string", "null"]},
        "layout": {"type": "object"},
        "test_models": {"type": "array", "items": {"type": "integer"}},
        "feature_sets": {"type": "object", "minProperties": 1, "additionalProperties": {
            "type": "object",
            "required": ["run", "run_sha256", "width", "probes", "scores"],
            "properties": {"run": {"type": "string"}, "run_sha256": _SHA256, "width": {"type": "integer", "minimum": 1},
                           "probes": {"type": "array", "items": _PROBE, "minItems": 1},
                           "scores": {"type": "array", "items": _SCORE, "minItems": 1}},
        }},
    },
}
_HEADER = {"type": "object", "required": ["format", "format_version"],
           "properties": {"format": {"const": FORMAT}, "format_version": {"type": "integer"}}}


def run_fingerprint(run) -> str:
    """What identifies a trained hyper-representation: the sha256 of its ``best.pt``."""
    return sha256(Path(run.path if hasattr(run, "path") else run) / "best.pt")


def _probe_record(columns: list[str], kind: str, probe, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    scale, model = probe.estimator_.named_steps["scale"], probe.estimator_.named_steps["model"]
    arrays = {f"{prefix}/coef": model.coef_, f"{prefix}/intercept": np.asarray(model.intercept_)}
    if scale != "passthrough":
        arrays |= {f"{prefix}/mean": scale.mean_, f"{prefix}/scale": scale.scale_}
    record = {"columns": list(columns), "kind": kind, "arrays": prefix, "standardized": scale != "passthrough",
              "n_train": int(getattr(scale, "n_samples_seen_", 0))}
    if kind == "regression":
        record["alpha"] = np.ravel(probe.alpha_).tolist()
    else:
        record |= {"C": float(probe.C_), "classes": np.asarray(probe.classes_).tolist()}
    return record, arrays


def _rebuild(record: dict, arrays) -> Pipeline:
    """The fitted pipeline a probe record describes, with its arrays set as scikit-learn sets them."""
    prefix = record["arrays"]
    coef, intercept = arrays[f"{prefix}/coef"], arrays[f"{prefix}/intercept"]
    scale = "passthrough"
    if record["standardized"]:
        scale = StandardScaler()
        scale.mean_, scale.scale_ = arrays[f"{prefix}/mean"], arrays[f"{prefix}/scale"]
        scale.var_, scale.n_features_in_, scale.n_samples_seen_ = scale.scale_ ** 2, len(scale.mean_), record["n_train"]
    if record["kind"] == "regression":
        alpha = record["alpha"]
        model = Ridge(alpha=alpha[0] if len(alpha) == 1 else np.asarray(alpha))
        model.intercept_ = float(intercept) if intercept.ndim == 0 else intercept
    else:
        model = LogisticRegression(C=record["C"])
        model.classes_, model.intercept_ = np.asarray(record["classes"]), intercept
    model.coef_, model.n_features_in_ = coef, coef.shape[-1]
    return Pipeline([("scale", scale), ("model", model)])


def save_probes(report, runs: dict, out, zoo) -> Path:
    """Store the probes `report` (from `hrlib.evaluate.tables.evaluate_probes`) fitted on the z of
    `runs` (feature set name → run or run directory), with their test-split scores, in the folder
    `out` (replaced atomically if it exists). Feature sets that are not runs are not stored: their
    fitted transforms (PCA, UMAP) would need pickled code."""
    from hrlib.hyper.runs import Run, load_run

    missing = [name for name in runs if name not in report.probes]
    if missing:
        raise ValueError(f"the report has no probes for {missing}; it probed {list(report.probes)}")
    index = {"format": FORMAT, "format_version": FORMAT_VERSION, "hrlib_version": __version__, "arrays_sha256": None,
             "zoo": None if zoo.path is None else str(zoo.path), "zoo_sha256": zoo.fingerprint, "layout": zoo.layout.to_dict(),
             "test_models": report.split.test.tolist(), "feature_sets": {}}
    arrays = {}
    for f, (name, run) in enumerate(runs.items()):
        run = run if isinstance(run, Run) else load_run(run)
        probes = []
        for p, (columns, kind, probe) in enumerate(report.probes[name]):
            record, parts = _probe_record(columns, kind, probe, f"{f}/{p}")
            probes.append(record)
            arrays |= parts
        details = report.details[report.details["feature"] == name]
        scores = []
        for row in details.itertuples():
            guessed = report.predictions[(report.predictions["feature"] == name) & (report.predictions["target"] == row.target)]
            tau = kendall_tau(guessed["true"], guessed["predicted"]) if row.kind == "regression" else None
            scores.append({"column": row.column, "target": row.target, "metric": row.metric, "test": float(row.test),
                           "val": float(row.val), "tau": tau, "n_test": int(row.n_test)})
        index["feature_sets"][name] = {"run": str(Path(run.path).resolve()), "run_sha256": run_fingerprint(run),
                                       "width": int(arrays[f"{f}/0/coef"].shape[-1]), "probes": probes, "scores": scores}
    with atomic_dir(out, "probes", "--save") as tmp:
        np.savez(tmp / ARRAYS_FILE, **arrays)
        index["arrays_sha256"] = sha256(tmp / ARRAYS_FILE)
        (tmp / INDEX_FILE).write_text(json.dumps(index, indent=1))
    return Path(out)


@dataclass
class SavedProbes:
    """Probes read back by `load_probes`: per feature set its run, pipelines and test-split scores."""

    path: Path
    index: dict
    pipelines: dict[str, list[tuple[list[str], str, Pipeline]]]

    def feature_for(self, run) -> str:
        """The feature set whose probes read `run`'s z (matched by the sha256 of its ``best.pt``)."""
        fingerprint = run_fingerprint(run)
        for name, entry in self.index["feature_sets"].items():
            if entry["run_sha256"] == fingerprint:
                return name
        held = ", ".join(f"{n} ({e['run']})" for n, e in self.index["feature_sets"].items()) or "none"
        raise ValueError(f"{self.path} holds no probes for the run {getattr(run, 'path', run)}; it holds probes "
                         f"of {held}; fit them with {SAVE}")

    def scores(self, name: str) -> pd.DataFrame:
        """Per target: the metric and the test-split score (in %) and Kendall's τ the probe earned."""
        table = pd.DataFrame(self.index["feature_sets"][name]["scores"]).set_index("target")
        return table.assign(test=100 * table["test"], val=100 * table["val"])

    def predict(self, name: str, X, source: str = "X") -> pd.DataFrame:
        """Each target of feature set `name` predicted from its features X (n, d): columns are property
        columns. `source` names X in the message when the probes cannot read it."""
        X = np.asarray(X, dtype=np.float64)
        width = self.index["feature_sets"][name]["width"]
        if X.ndim != 2 or X.shape[1] != width:
            raise ValueError(f"{self.path}: the probes of {name} read {width} features per checkpoint, {source} "
                             f"holds {X.shape[-1]}; fit probes on this run with {SAVE}")
        parts = []
        for columns, _, pipeline in self.pipelines[name]:
            try:
                guess = pipeline.predict(X)
            except ValueError as err:  # scikit-learn's own words, on one line and with the folder named
                raise ValueError(f"{self.path}: the probe of {name} for {', '.join(columns)} cannot read "
                                 f"{source} ({_first_line(err)})") from None
            parts.append(pd.DataFrame(guess.reshape(len(X), len(columns)), columns=columns))
        return pd.concat(parts, axis=1)


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _shapes(record: dict, width: int) -> dict[str, list[tuple]]:
    """The shapes each array of a probe record may have (the first is the one to name in a message)."""
    k = len(record["columns"])
    if record["kind"] == "regression":  # a single target fitted on a 1-d y keeps 1-d coef and a scalar intercept
        shapes = {"coef": [(k, width), *([(width,)] if k == 1 else [])], "intercept": [(k,), *([()] if k == 1 else [])]}
    else:
        rows = 1 if len(record["classes"]) == 2 else len(record["classes"])
        shapes = {"coef": [(rows, width)], "intercept": [(rows,)]}
    if record["standardized"]:
        shapes |= {"mean": [(width,)], "scale": [(width,)]}
    return {f"{record['arrays']}/{name}": allowed for name, allowed in shapes.items()}


def _read_arrays(file: Path, shapes: dict[str, list[tuple]], again: str) -> dict[str, np.ndarray]:
    """The arrays `shapes` names from the npz `file`, each checked for size (before it is read),
    dtype, shape and finite values."""
    try:
        npz = np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{file}: unreadable ({_first_line(err)}); {again}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{file}: one array, not an npz archive of them; {again}")
    arrays = {}
    with npz:
        sizes = {info.filename.removesuffix(".npy"): info.file_size for info in npz.zip.infolist()}
        for key, allowed in shapes.items():
            wanted = " or ".join(map(str, allowed))
            if key not in sizes:
                raise ValueError(f"{file}: lacks the array {key!r} that {INDEX_FILE} names; {again}")
            if sizes[key] > 1024 + 8 * max(math.prod(s) for s in allowed):  # before it is read
                raise ValueError(f"{file}: the array {key!r} takes {sizes[key]} bytes, too many for {wanted}; {again}")
            try:
                array = npz[key]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
                raise ValueError(f"{file}: the array {key!r} is unreadable ({_first_line(err)}); {again}") from None
            if array.dtype.kind != "f" or array.shape not in allowed:
                raise ValueError(f"{file}: the array {key!r} is {array.dtype} {array.shape}; its probe wants floats "
                                 f"{wanted}; {again}")
            scale = key.endswith("/scale")  # a standardizing probe divides by it
            if not np.isfinite(array).all() or (scale and (array <= 0).any()):
                wrong = "NaN, infinite or non-positive" if scale else "NaN or infinite"
                raise ValueError(f"{file}: the array {key!r} holds {wrong} values; {again}")
            arrays[key] = array
    return arrays


def _read_index(path: Path, again: str) -> dict:
    """probes.json, once it is of this hrlib's format version and matches `SCHEMA` throughout."""
    file = path / INDEX_FILE
    index = read_json(file, _HEADER, ValueError, WHAT)
    version = index["format_version"]
    if version < FORMAT_VERSION:
        raise ValueError(f"{file}: probes saved by an earlier hrlib (format {version}), without the checksum that "
                         f"ties {ARRAYS_FILE} to them; {again}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{file}: probe format {version} is newer than this hrlib reads ({FORMAT_VERSION}); "
                         f"update hrlib, or {again}")
    wrong = problem(index, SCHEMA)
    if wrong:
        raise ValueError(f"{file}: {wrong}; is it {WHAT}?")
    for name, entry in index["feature_sets"].items():
        for p, record in enumerate(entry["probes"]):
            if record["kind"] == "regression" and len(record["alpha"]) not in (1, len(record["columns"])):
                raise ValueError(f"{file}: 'feature_sets.{name}.probes[{p}].alpha' holds {len(record['alpha'])} "
                                 f"values for {len(record['columns'])} columns; {again}")
    return index


def load_probes(path) -> SavedProbes:
    """Read a probe folder written by `save_probes`; refuses a folder that is not one, is damaged, or
    whose probes.npz is not the one saved with its probes.json."""
    path = Path(path)
    if not (path / INDEX_FILE).is_file() or not (path / ARRAYS_FILE).is_file():
        raise ValueError(f"{path}: not a probe folder (needs {INDEX_FILE} and {ARRAYS_FILE}; "
                         f"write one with `hrlib probe ... --save DIR`)")
    again = f"save the probes again with `hrlib probe ZOO --run NAME=RUN --save {path}`"
    index = _read_index(path, again)
    if sha256(path / ARRAYS_FILE) != index["arrays_sha256"]:
        raise ValueError(f"{path / ARRAYS_FILE}: not the {ARRAYS_FILE} saved with the {INDEX_FILE} beside it (its "
                         f"sha256 differs from the one recorded there); put that one back, or {again}")
    shapes = {key: allowed for entry in index["feature_sets"].values() for record in entry["probes"]
              for key, allowed in _shapes(record, entry["width"]).items()}
    arrays = _read_arrays(path / ARRAYS_FILE, shapes, again)
    pipelines = {name: [(r["columns"], r["kind"], _rebuild(r, arrays)) for r in entry["probes"]]
                 for name, entry in index["feature_sets"].items()}
    return SavedProbes(path, index, pipelines)


def predict_checkpoints(run, probes, sources) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The characteristics of checkpoints predicted from `run`'s z by the saved `probes` (a folder or
    `SavedProbes`). `sources`: hrlib zoo folders, folders of state_dicts or single checkpoint files
    (see `hrlib.zoos.checkpoints.read_checkpoints`); all must have the run's architecture.

    Returns the predictions (one row per checkpoint: ``checkpoint``, for a zoo's checkpoints its
    model, epoch and measured properties, then one column per predicted target named by its paper
    label with the suffix " predicted") and the probes' test-split scores (`SavedProbes.scores`).
    """
    from hrlib.hyper.inference import embed_weights
    from hrlib.hyper.runs import Run, load_run
    from hrlib.zoos.checkpoints import read_checkpoints

    run = run if isinstance(run, Run) else load_run(run)
    probes = probes if isinstance(probes, SavedProbes) else load_probes(probes)
    name = probes.feature_for(run)
    table, weights = read_checkpoints(sources, run.model_config.get_layout(), f"the run {run.path} reads")
    predicted = probes.predict(name, embed_weights(run, weights), f"the z of the run {run.path}")
    predicted.columns = [f"{label(c)} predicted" for c in predicted.columns]
    return pd.concat([table, predicted], axis=1), probes.scores(name)
