"""How much of a probe's test R² do a few models with exploded weights decide?

    python scripts/outlier_models.py ZOO_DIR [--run E_cD=RUN_DIR] [--seeds 3] [--factor 5]

A hyper-parameter zoo keeps every model whose weights stay finite, and some of them grow weights a
hundred times larger than the rest (a ReLU network from a U(0, 1) init, say). A linear probe on the
weights or their statistics extrapolates far on such a test model, and its error can outweigh every
other checkpoint's. This probes the zoo as `hrlib probe` does (same split seeds, replicates and
probes) and prints each feature set's test R² (%) on all test checkpoints and without the outlier
models: those whose largest weight norm over their checkpoints exceeds `factor` times the zoo's median.
"""

import argparse

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score

from hrlib import load_zoo
from hrlib.evaluate.features import runs_as_features, select_baselines
from hrlib.evaluate.tables import evaluate_probes
from hrlib.hyper.runs import replicate_runs


def outlier_models(zoo, factor: float) -> np.ndarray:
    """The models whose largest checkpoint weight norm exceeds `factor` times the median model's."""
    largest = np.linalg.norm(zoo.weights, axis=2).max(axis=1)
    return np.flatnonzero(largest > factor * np.median(largest))


def scores(predictions: pd.DataFrame, outliers) -> pd.DataFrame:
    """Test R² (%) per feature set and target, on all test checkpoints and without the outliers'."""
    rows = []
    for (feature, target), group in predictions.groupby(["feature", "target"], sort=False):
        kept = group[~group.model.isin(outliers)]
        rows.append(dict(feature=feature, target=target, all=100 * r2_score(group.true, group.predicted),
                         without=100 * r2_score(kept.true, kept.predicted) if len(kept) > 1 else np.nan,
                         outliers_tested=group.model[group.model.isin(outliers)].nunique()))
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo")
    parser.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR, a hyper-representation (repeatable)")
    parser.add_argument("--features", default="W,s(W)")
    parser.add_argument("--targets", default="Eph,Acc,GGap")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--factor", type=float, default=5.0)
    args = parser.parse_args()

    if any("=" not in run for run in args.run):
        parser.error("--run takes NAME=RUN_DIR")
    zoo = load_zoo(args.zoo)
    outliers = outlier_models(zoo, args.factor)
    print(f"{len(outliers)} of {zoo.weights.shape[0]} models exceed {args.factor:g} × the median largest weight norm")
    runs = dict(run.split("=", 1) for run in args.run)
    tables = []
    for i in range(args.seeds):
        features = select_baselines(zoo.layout, args.features.split(",")) | runs_as_features(
            replicate_runs(runs, i), zoo, i)
        report = evaluate_probes(zoo, features, args.targets.split(","), split_seed=i)
        regression = report.details.loc[report.details.metric == "R2", "target"]
        tables.append(scores(report.predictions[report.predictions.target.isin(regression)], outliers).assign(seed=i))
    table = pd.concat(tables).groupby(["target", "feature"], sort=False)
    spread = lambda column: (table[column].mean().round(1).astype(str)  # noqa: E731
                             + ("" if args.seeds == 1 else " ± " + table[column].std().round(1).astype(str)))
    summary = pd.DataFrame({"all": spread("all"), "without outliers": spread("without"),
                            "outliers tested": table.outliers_tested.apply(lambda n: ",".join(map(str, n)))})
    print(f"test R² (%), mean ± sd over {args.seeds} split seeds; outlier models in each test split")
    print(summary.to_string())


if __name__ == "__main__":
    main()
