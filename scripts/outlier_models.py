"""How much of a probe's test R² do a few models with exploded weights decide?

    hrlib probe ZOO_DIR --run E_cD=RUN_DIR --seeds 3 --out table.csv --predictions predictions.csv.gz
    python scripts/outlier_models.py ZOO_DIR predictions.csv.gz [--factor 5]
    python scripts/outlier_models.py ZOO_DIR --run RUN_DIR [--run RUN_DIR-s1 ...]
    python scripts/outlier_models.py ZOO_DIR --save-without NEW_ZOO_DIR

A hyper-parameter zoo keeps every model whose weights stay finite, and some of them grow weights a
hundred times larger than the rest (a ReLU network from a U(0, 1) init, say). A linear probe on the
weights or their statistics extrapolates far on such a test model, and its error can outweigh every
other checkpoint's. This reads the test predictions `hrlib probe --predictions` wrote and prints each
feature set's test R² (%) on all test checkpoints and without the outlier models: those whose
largest weight norm over their checkpoints exceeds `factor` times the zoo's median. With `--run`, it
prints each hyper-representation's reconstruction R² (%) on its own split's training, validation and
test models, likewise with and without the outliers: the R² of all weights is a share of their variance,
which a few exploded models can hold most of. `--save-without` writes a copy of the zoo without the
outliers (its manifest lists the models it kept), to train and probe on.
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score

from hrlib import load_zoo
from hrlib.zoos.zoo import exploded_models


def scores(predictions: pd.DataFrame, outliers) -> pd.DataFrame:
    """Test R² (%) per replicate, feature set and numeric target, on all test checkpoints and without the
    outliers'; categorical targets (class names in `true`) are left out."""
    rows = []
    keys = ["replicate", "feature", "target"] if "replicate" in predictions else ["feature", "target"]
    for key, group in predictions.groupby(keys, sort=False):
        true, predicted = pd.to_numeric(group.true, errors="coerce"), pd.to_numeric(group.predicted, errors="coerce")
        if true.isna().any() or predicted.isna().any():
            continue
        kept = ~group.model.isin(outliers)
        rows.append(dict(zip(keys, key), all=100 * r2_score(true, predicted),
                         without=100 * r2_score(true[kept], predicted[kept]) if kept.sum() > 1 else np.nan,
                         outliers_tested=group.model[~kept].nunique()))
    return pd.DataFrame(rows)


def reconstruction_scores(zoo, runs, outliers) -> pd.DataFrame:
    """Reconstruction R² (%) of each run on its split's parts, on all models and without the outliers."""
    from hrlib.hyper.inference import reconstruction_r2
    from hrlib.hyper.runs import load_run

    rows = []
    for path in runs:
        run = load_run(path)
        split = zoo.split(run.config.split_fractions, seed=run.config.split_seed)
        for part in ("train", "val", "test"):
            models = np.asarray(split[part])
            kept = models[~np.isin(models, outliers)]
            rows.append(dict(run=Path(path).name, part=part, all=100 * reconstruction_r2(run, zoo, models),
                             without=100 * reconstruction_r2(run, zoo, kept), outliers=len(models) - len(kept)))
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo")
    parser.add_argument("predictions", nargs="?", help="the CSV file of `hrlib probe ZOO ... --predictions FILE`")
    parser.add_argument("--run", dest="runs", action="append", default=[], metavar="RUN_DIR",
                        help="a hyper-representation trained on ZOO: its reconstruction R² (repeatable)")
    parser.add_argument("--save-without", metavar="NEW_ZOO_DIR", help="write the zoo without the outliers here")
    parser.add_argument("--factor", type=float, default=5.0)
    args = parser.parse_args()

    if args.predictions is None and not args.runs and not args.save_without:
        parser.error("give the predictions file of `hrlib probe`, or --run RUN_DIR, or --save-without NEW_ZOO_DIR")
    if args.save_without and Path(args.save_without).exists():
        parser.error(f"{args.save_without} exists; --save-without writes a new folder")
    if args.predictions is not None and not Path(args.predictions).is_file():
        parser.error(f"{args.predictions}: no such file; write it with `hrlib probe ZOO ... --predictions FILE`")
    zoo = load_zoo(args.zoo)
    outliers = exploded_models(zoo, args.factor)
    largest = np.linalg.norm(zoo.weights, axis=2).max(axis=1)
    print(f"{len(outliers)} of {len(largest)} models exceed {args.factor:g} × the median largest weight norm "
          f"({np.median(largest):.1f}; the largest is {largest.max():.1f})")
    last = zoo.properties[zoo.properties.epoch == zoo.properties.epoch.max()].set_index("model")
    if len(outliers):
        kinds = [c for c in ("init", "activation") if c in last]
        if kinds:
            print(last.loc[outliers, kinds].value_counts().to_string())
        print(f"their final test accuracy: {last.loc[outliers, 'test_acc'].min():.3f} to "
              f"{last.loc[outliers, 'test_acc'].max():.3f}")
    if args.save_without:
        kept = np.setdiff1d(np.arange(zoo.n_models), outliers)
        print(f"{zoo.subset(kept).save(args.save_without)}: the {len(kept)} other models")
    if args.runs:
        print("reconstruction R² (%) on each run's split, with and without the outlier models")
        print(reconstruction_scores(zoo, args.runs, outliers).round(1).to_string(index=False))
    if args.predictions is None:
        return
    table = scores(pd.read_csv(args.predictions), outliers).groupby(["target", "feature"], sort=False)
    seeds = table.size().max()
    spread = lambda column: (table[column].mean().round(1).astype(str)  # noqa: E731
                             + ("" if seeds == 1 else " ± " + table[column].std().round(1).astype(str)))
    summary = pd.DataFrame({"all": spread("all"), "without outliers": spread("without"),
                            "outliers tested": table.outliers_tested.apply(lambda n: ",".join(map(str, n)))})
    print(f"test R² (%), mean ± sd over {seeds} replicates; outlier models in each test split")
    print(summary.to_string())


if __name__ == "__main__":
    main()
