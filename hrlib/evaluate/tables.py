"""Probe tables in the paper's layout, and out-of-distribution transfer.

- `evaluate_probes(zoo, features)` fits every feature set on the training split, one probe per
  (target, feature set) on train with validation-chosen regularization, and scores the test split:
  a `ProbeReport` with the table, per-probe details, test predictions and notes on skipped targets.
- `probe_table(...)` is its table alone: targets × feature sets, R² (regression) or accuracy
  (classification) in %, as in the paper's Tables 4-6.
- `transfer_matrix(zoos, features, target)`: fit on one zoo, score Kendall's τ on every zoo's test
  split, rows = fit zoo, columns = (evaluated zoo, feature set), as in the paper's Table 7.
- `rank_checkpoints(zoo, features, pairs, split=...)`: Kendall's τ of test accuracy predicted from each
  model's last checkpoint, by linear probes, gradient-boosted trees or predictors trained end to end on the
  weights, such as NFNs (the weight-space benchmark).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, r2_score

from hrlib.evaluate.probes import default_targets, kendall_tau, label, make_probe, skip_reason, target_kind
from hrlib.zoos.zoo import SPLITS, Split

log = logging.getLogger(__name__)


@dataclass
class ProbeReport:
    """What `evaluate_probes` found.

    table: targets (paper names) × feature sets, test R² or accuracy in %.
    details: one row per (target, feature set): column, kind, metric, test and validation score,
        chosen α or C, split sizes, seconds.
    predictions: one row per (feature set, target, test checkpoint): row, model, epoch, true, predicted.
    notes: one line per target that was skipped, and why.
    feature_seconds: time to fit and transform each feature set.
    probes: feature set → the fitted probes, each as (property columns it predicts, kind, probe);
        complete numeric targets share one multi-target ridge probe. `hrlib.evaluate.saved` stores them.
    """

    table: pd.DataFrame
    details: pd.DataFrame
    predictions: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    feature_seconds: dict[str, float] = field(default_factory=dict)
    split: Split | None = None
    probes: dict[str, list[tuple[list[str], str, object]]] = field(default_factory=dict)


def _resolve_targets(properties: pd.DataFrame, targets) -> list[str]:
    if targets is None:
        return default_targets(properties)
    by_label = {label(c): c for c in properties.columns}
    given = {}  # column -> the spelling that named it first
    for t in targets:
        column = t if t in properties.columns else by_label.get(t)
        if column is None:
            raise ValueError(f"unknown target {t!r}; the zoo's properties have {list(properties.columns)}")
        if column in given:
            spellings = given[column] if given[column] == t else f"{given[column]} and {t}"
            raise ValueError(f"--targets names the property {column} twice ({spellings}); give it once")
        given[column] = t
    return list(given)


def _split_rows(zoo, split: Split | None, split_seed: int) -> tuple[Split, dict[str, np.ndarray]]:
    split = zoo.split(seed=split_seed) if split is None else split
    return split, {name: zoo.rows(split[name]) for name in SPLITS}


def _transform(features, zoo, name: str, rows: np.ndarray) -> np.ndarray:
    X = np.asarray(features.transform(zoo, rows), dtype=np.float64)
    if X.ndim != 2 or len(X) != len(rows):
        raise ValueError(f"feature set {name!r} returned shape {X.shape} for {len(rows)} rows")
    if not np.isfinite(X).all():
        raise ValueError(f"feature set {name!r} gave NaN or infinite features")
    return X


def evaluate_probes(zoo, features: Mapping[str, object], targets=None, *, split: Split | None = None,
                    split_seed: int = 0, standardize: bool | None = None) -> ProbeReport:
    """Probe every target with every feature set on one zoo.

    Args:
        zoo: the zoo whose checkpoints are probed.
        features: name → feature set (`hrlib.evaluate.features.WeightFeatures`, `Encoded`, or anything with
            ``fit(zoo, rows)`` and ``transform(zoo, rows)``); fitted on the training rows only.
        targets: property columns or their paper names (``"Acc"``); the paper's targets by default.
            A constant or all-missing target is skipped with a note; missing values are left out.
        split: a by-model split; by default ``zoo.split(seed=split_seed)``. A hyper-representation
            must have been trained on the same split.
        standardize: scale features before every probe (None: ridge raw, logistic scaled).
    """
    if not features:
        raise ValueError("no feature sets to probe with")
    split, rows = _split_rows(zoo, split, split_seed)
    props = zoo.properties
    columns, notes = [], []
    for column in _resolve_targets(props, targets):
        reason = skip_reason(props[column], rows)
        if reason is None:
            columns.append(column)
        else:
            named = column if label(column) == column else f"{label(column)} ({column})"
            notes.append(f"{named}: {reason}; skipped, not scored")
            log.info(notes[-1])
    kinds = {column: target_kind(props[column]) for column in columns}
    everywhere = np.concatenate(list(rows.values()))
    # Complete numeric targets share one multi-target ridge fit per α (each still gets its own α).
    joint = [c for c in columns if kinds[c] == "regression" and props[c].iloc[everywhere].notna().all()]
    groups = ([joint] if joint else []) + [[c] for c in columns if c not in joint]
    details, predictions, feature_seconds, probes = [], [], {}, {}
    for name, feature_set in features.items():
        start = time.perf_counter()
        feature_set.fit(zoo, rows["train"])
        X = {s: _transform(feature_set, zoo, name, rows[s]) for s in SPLITS}
        feature_seconds[name] = time.perf_counter() - start
        log.info("feature set %s: %d features in %.1f s", name, X["train"].shape[1], feature_seconds[name])
        for group in groups:
            start = time.perf_counter()
            kind = kinds[group[0]]
            y = {s: props[group].to_numpy()[rows[s]] for s in SPLITS}  # (n, targets)
            keep = {s: ~pd.isna(y[s]).any(1) for s in SPLITS}
            X_fit = np.concatenate([X["train"][keep["train"]], X["val"][keep["val"]]])
            y_fit = np.concatenate([y["train"][keep["train"]], y["val"][keep["val"]]])
            validation = np.arange(len(y_fit)) >= keep["train"].sum()
            probe = make_probe(kind, standardize).fit(X_fit, y_fit if len(group) > 1 else y_fit[:, 0], validation)
            probes.setdefault(name, []).append((group, kind, probe))
            y_pred = probe.predict(X["test"][keep["test"]]).reshape(int(keep["test"].sum()), len(group))
            test_rows = rows["test"][keep["test"]]
            seconds = (time.perf_counter() - start) / len(group)
            for j, column in enumerate(group):
                y_true = y["test"][keep["test"], j]
                score = r2_score(y_true, y_pred[:, j]) if kind == "regression" else accuracy_score(y_true, y_pred[:, j])
                details.append(dict(
                    target=label(column), column=column, feature=name, kind=kind,
                    metric="R2" if kind == "regression" else "accuracy", test=score,
                    val=np.ravel(probe.val_score_)[j], param="alpha" if kind == "regression" else "C",
                    value=np.ravel(probe.alpha_ if kind == "regression" else probe.C_)[j],
                    n_train=int(keep["train"].sum()), n_val=int(keep["val"].sum()), n_test=int(keep["test"].sum()),
                    seconds=seconds,
                ))
                predictions.append(pd.DataFrame(dict(
                    feature=name, target=label(column), row=test_rows, model=props["model"].to_numpy()[test_rows],
                    epoch=props["epoch"].to_numpy()[test_rows], true=y_true, predicted=y_pred[:, j],
                )))
                log.info("%s ~ %s: test %s %.3f", label(column), name, details[-1]["metric"], score)
    details = pd.DataFrame(details, columns=["target", "column", "feature", "kind", "metric", "test", "val",
                                             "param", "value", "n_train", "n_val", "n_test", "seconds"])
    table = 100 * details.pivot(index="target", columns="feature", values="test")
    table = table.reindex(index=[label(c) for c in columns], columns=list(features)).rename_axis(columns=None)
    predictions = pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame()
    return ProbeReport(table, details, predictions, notes, feature_seconds, split, probes)


def probe_table(zoo, features: Mapping[str, object], targets=None, **options) -> pd.DataFrame:
    """Targets × feature sets, test R² or accuracy in %; see `evaluate_probes` for the arguments."""
    return evaluate_probes(zoo, features, targets, **options).table


def transfer_matrix(zoos: Mapping[str, object], features: Mapping[str, Callable | object], target: str = "ggap",
                    *, split_seed: int = 0, standardize: bool | None = None) -> pd.DataFrame:
    """Kendall's τ of a probe fitted on one zoo and applied to every zoo (the paper's Table 7).

    Args:
        zoos: name → zoo, all of one architecture.
        features: name → a factory called with the fit zoo's name, returning a feature set
            (the hyper-representation trained on that zoo: ``lambda name: Encoded(partial(embed, runs[name]))``),
            or a feature set object, refitted for every fit zoo (the baselines).
        target: a continuous property column or its paper name.
        split_seed: each zoo is split with ``zoo.split(seed=split_seed)``; the feature set and the
            probe are fitted on the fit zoo's train/validation splits and scored on each zoo's test split.

    Returns a DataFrame: rows = fit zoo, columns = (evaluated zoo, feature set); the diagonal blocks
    are in-distribution.
    """
    names = list(zoos)
    if not names or not features:
        raise ValueError("transfer needs at least one zoo and one feature set")
    layouts = {zoos[n].layout for n in names}
    if len(layouts) != 1:
        raise ValueError("transfer needs zoos of one architecture; these have different layouts")
    splits = {n: _split_rows(zoos[n], None, split_seed)[1] for n in names}
    index = pd.MultiIndex.from_product([names, list(features)], names=["evaluated", "feature"])
    out = pd.DataFrame(np.nan, index=pd.Index(names, name="fitted"), columns=index)
    for a in names:
        column = _resolve_targets(zoos[a].properties, [target])[0]
        values = zoos[a].properties[column]
        if target_kind(values) != "regression":
            raise ValueError(f"Kendall's τ needs a continuous target; {target!r} is categorical")
        reason = skip_reason(values, splits[a])
        if reason is not None:
            log.warning("%s in zoo %s: %s; its row stays NaN", target, a, reason)
            continue
        for fname, spec in features.items():
            feature_set = spec if hasattr(spec, "fit") else spec(a)
            feature_set.fit(zoos[a], splits[a]["train"])
            fit_rows = np.concatenate([splits[a]["train"], splits[a]["val"]])
            y = values.to_numpy()[fit_rows]
            keep = ~pd.isna(y)
            X = _transform(feature_set, zoos[a], fname, fit_rows)
            validation = np.arange(len(fit_rows)) >= len(splits[a]["train"])
            probe = make_probe("regression", standardize).fit(X[keep], y[keep], validation[keep])
            for b in names:
                rows = splits[b]["test"]
                y_true = zoos[b].properties[column].to_numpy()[rows]
                keep_b = ~pd.isna(y_true)
                y_pred = probe.predict(_transform(feature_set, zoos[b], fname, rows[keep_b]))
                out.loc[a, (b, fname)] = kendall_tau(y_true[keep_b], y_pred)
                log.info("τ %s: fit %s, evaluated %s, %s = %.3f", target, a, b, fname, out.loc[a, (b, fname)])
    return out


def over_seeds(tables: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Mean and standard deviation (ddof 1) of tables of one shape, cell by cell; no sd for one table."""
    first = tables[0]
    stack = np.stack([t.reindex(index=first.index, columns=first.columns).to_numpy(float) for t in tables])
    mean = pd.DataFrame(stack.mean(0), index=first.index, columns=first.columns)
    if len(tables) == 1:
        return mean, None
    return mean, pd.DataFrame(stack.std(0, ddof=1), index=first.index, columns=first.columns)


RANK_SPLIT = (0.4, 0.1, 0.5)  # fit on half the models (a fifth of it choosing α or the number of trees), rank the rest


def extrapolation_note(mean: pd.DataFrame) -> str | None:
    """A note naming the cells of a probe table (targets × feature sets, %) with R² below −100%, or None.

    Such a score is decided by a few test checkpoints on which a linear probe extrapolates far, most
    often models whose weights exploded; a table should say so rather than leave a reader to guess."""
    far = {feature: [target for target in mean.index if mean.loc[target, feature] < -100] for feature in mean.columns}
    far = "; ".join(f"{feature}: {', '.join(targets)}" for feature, targets in far.items() if targets)
    if not far:
        return None
    return (f"R² below −100% ({far}): a few test checkpoints on which the probe extrapolates far decide such a "
            "score, typically models whose weights exploded; probing.md, \"Models with exploded weights\", shows "
            "how to score without them.")


def _trees(X_fit, y_fit, validation, random_state: int = 0):
    """Gradient-boosted trees (scikit-learn's histogram GBM), stopped early on the validation rows."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(max_iter=2000, learning_rate=0.05, early_stopping=True,
                                          n_iter_no_change=50, random_state=random_state)
    return model.fit(X_fit[~validation], y_fit[~validation], X_val=X_fit[validation], y_val=y_fit[validation])


def rank_checkpoints(zoo, features: Mapping[str, object], pairs, target: str = "test_acc", *, split: Split,
                     predictors: Mapping[str, object] | None = None, epoch: int | None = None) -> pd.DataFrame:
    """How well each (feature set, estimator), and each predictor, ranks the models by `target` from one checkpoint.

    The protocol of the weight-space benchmarks (Unterthiner et al. 2020, and the neural functional
    networks that followed): one checkpoint per model, its last; the estimator fitted on the split's
    train models (validation models choose ridge's α, stop the trees, or choose a predictor's epoch),
    Kendall's τ and R² of its predictions on the test models.

    Args:
        features: name → feature set, as for `evaluate_probes`; fitted on the chosen checkpoints of the
            train models.
        pairs: (feature set name, estimator) to score, the estimator "linear" (`RidgeProbe`) or
            "trees" (gradient-boosted trees).
        target: a continuous property column or its paper name.
        split: the by-model split; a hyper-representation must have been trained on it.
        predictors: name → a model trained end to end on the weights, with ``fit(zoo, rows, y, validation)``
            and ``predict(zoo, rows)`` (`hrlib.evaluate.peers.NFNPredictor`); scored with the estimator "".
        epoch: the checkpoint read of every model; its last by default. Models without it are left out.

    Returns a DataFrame indexed by (feature, estimator) with columns tau, r2, n_fit, n_test and seconds:
    the time to fit the features and the estimator (a predictor's own count of its training, when it
    keeps one, so that a resumed training counts all its epochs).
    """
    column = _resolve_targets(zoo.properties, [target])[0]
    props = zoo.properties
    if target_kind(props[column]) != "regression":
        raise ValueError(f"ranking needs a continuous target; {target!r} is categorical")
    if epoch is None:
        chosen = props.groupby("model")["epoch"].idxmax()  # property row of each model's last checkpoint
    else:
        at = props[props["epoch"] == epoch]
        if at.empty:
            raise ValueError(f"no checkpoint at epoch {epoch}; the zoo's epochs are {sorted(set(props['epoch']))}")
        chosen = pd.Series(at.index, index=at["model"].to_numpy())
    rows = {s: chosen.reindex(split[s]).dropna().to_numpy(dtype=int) for s in SPLITS}
    rows = {s: r[props[column].iloc[r].notna().to_numpy()] for s, r in rows.items()}
    fit_rows = np.concatenate([rows["train"], rows["val"]])
    validation = np.arange(len(fit_rows)) >= len(rows["train"])
    y_fit, y_test = props[column].to_numpy(float)[fit_rows], props[column].to_numpy(float)[rows["test"]]
    out = []

    def score(name, estimator, y_pred, seconds):
        out.append(dict(feature=name, estimator=estimator, tau=kendall_tau(y_test, y_pred), r2=r2_score(y_test, y_pred),
                        n_fit=len(fit_rows), n_test=len(y_test), seconds=seconds))
        log.info("rank %s ~ %s %s: τ %.3f in %.1f s", label(column), name, estimator, out[-1]["tau"], seconds)

    for name in dict.fromkeys(f for f, _ in pairs):
        start = time.perf_counter()
        features[name].fit(zoo, rows["train"])
        X_fit, X_test = (_transform(features[name], zoo, name, r) for r in (fit_rows, rows["test"]))
        feature_seconds = time.perf_counter() - start
        for estimator in [e for f, e in pairs if f == name]:
            start = time.perf_counter()
            if estimator == "linear":
                model = make_probe("regression", standardize=True).fit(X_fit, y_fit, validation)
            elif estimator == "trees":
                model = _trees(X_fit, y_fit, validation)
            else:
                raise ValueError(f"estimator must be 'linear' or 'trees', got {estimator!r}")
            y_pred = model.predict(X_test)
            score(name, estimator, y_pred, feature_seconds + time.perf_counter() - start)
    for name, predictor in (predictors or {}).items():
        start = time.perf_counter()
        predictor.fit(zoo, fit_rows, y_fit, validation)
        seconds = getattr(predictor, "train_seconds_", time.perf_counter() - start)
        score(name, "", predictor.predict(zoo, rows["test"]), seconds)
    return pd.DataFrame(out).set_index(["feature", "estimator"])
