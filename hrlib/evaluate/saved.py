"""Probes kept on disk: fit them once on a zoo, then predict the characteristics of any checkpoint.

A probe directory holds two files that plain json and numpy read, and no pickled code:

- ``probes.json``: the zoo the probes were fitted on and its test models, and per feature set (a
  hyper-representation's z) its run and that run's ``best.pt`` sha256, its probes (the property
  columns each predicts, ridge or logistic, the chosen α or C, the classes) and per target the score
  the probe earned on the zoo's test split (R² or accuracy, and Kendall's τ for numbers);
- ``probes.npz``: each probe's arrays (``F/P/coef``, ``F/P/intercept`` and, when the features were
  standardized, ``F/P/mean``, ``F/P/scale``; F the feature set's and P the probe's index).

`load_probes` rebuilds the same scikit-learn pipelines from these arrays, so a loaded probe predicts
exactly what the fitted one did. `predict_checkpoints` reads checkpoints (a zoo, a folder of
state_dicts, single files), encodes them with the run and applies the run's probes.
"""

from __future__ import annotations

import json
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
from hrlib.zoos.zoo import sha256

FORMAT = "hrlib-probes"
FORMAT_VERSION = 1
INDEX_FILE, ARRAYS_FILE = "probes.json", "probes.npz"


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
    index = {"format": FORMAT, "format_version": FORMAT_VERSION, "hrlib_version": __version__,
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
                                       "probes": probes, "scores": scores}
    with atomic_dir(out, "probes", "--save") as tmp:
        np.savez(tmp / ARRAYS_FILE, **arrays)
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
                         f"of {held}; fit them with `hrlib probe ZOO --run NAME=RUN --save DIR`")

    def scores(self, name: str) -> pd.DataFrame:
        """Per target: the metric and the test-split score (in %) and Kendall's τ the probe earned."""
        table = pd.DataFrame(self.index["feature_sets"][name]["scores"]).set_index("target")
        return table.assign(test=100 * table["test"], val=100 * table["val"])

    def predict(self, name: str, X) -> pd.DataFrame:
        """Each target of feature set `name` predicted from its features X (n, d): columns are property columns."""
        X = np.asarray(X, dtype=np.float64)
        parts = []
        for columns, _, pipeline in self.pipelines[name]:
            parts.append(pd.DataFrame(pipeline.predict(X).reshape(len(X), len(columns)), columns=columns))
        return pd.concat(parts, axis=1)


def load_probes(path) -> SavedProbes:
    """Read a probe folder written by `save_probes`; refuses a folder that is not one, or is damaged."""
    path = Path(path)
    if not (path / INDEX_FILE).is_file() or not (path / ARRAYS_FILE).is_file():
        raise ValueError(f"{path}: not a probe folder (needs {INDEX_FILE} and {ARRAYS_FILE}; "
                         f"write one with `hrlib probe ... --save DIR`)")
    try:
        index = json.loads((path / INDEX_FILE).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path / INDEX_FILE}: not valid JSON ({err})") from None
    if index.get("format") != FORMAT or index.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path / INDEX_FILE}: not an hrlib probe index of version {FORMAT_VERSION}")
    try:
        with np.load(path / ARRAYS_FILE, allow_pickle=False) as npz:
            arrays = dict(npz)
        pipelines = {name: [(r["columns"], r["kind"], _rebuild(r, arrays)) for r in entry["probes"]]
                     for name, entry in index["feature_sets"].items()}
    except (KeyError, ValueError, OSError) as err:
        raise ValueError(f"{path}: damaged probe folder ({type(err).__name__}: {err})") from None
    return SavedProbes(path, index, pipelines)


def predict_checkpoints(run, probes, sources) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The characteristics of checkpoints predicted from `run`'s z by the saved `probes` (a folder or
    `SavedProbes`). `sources`: hrlib zoo folders, folders of state_dicts or single checkpoint files
    (see `hrlib.zoos.importers.read_checkpoints`); all must have the run's architecture.

    Returns the predictions (one row per checkpoint: ``checkpoint``, for a zoo's checkpoints its
    model, epoch and measured properties, then one column per predicted target named by its paper
    label with the suffix " predicted") and the probes' test-split scores (`SavedProbes.scores`).
    """
    from hrlib.hyper.inference import embed_weights
    from hrlib.hyper.runs import Run, load_run
    from hrlib.zoos.importers import read_checkpoints

    run = run if isinstance(run, Run) else load_run(run)
    probes = probes if isinstance(probes, SavedProbes) else load_probes(probes)
    name = probes.feature_for(run)
    table, weights = read_checkpoints(sources, run.model_config.get_layout(), f"the run {run.path} reads")
    predicted = probes.predict(name, embed_weights(run, weights))
    predicted.columns = [f"{label(c)} predicted" for c in predicted.columns]
    return pd.concat([table, predicted], axis=1), probes.scores(name)
