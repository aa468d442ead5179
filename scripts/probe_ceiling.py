"""How much of a target can any function of a feature set recover? Gradient-boosted trees as an
upper estimate beside the paper's linear probes.

    python scripts/probe_ceiling.py ZOO_DIR --run RUN_DIR [--targets epoch,test_acc,ggap]

Fits scikit-learn's HistGradientBoostingRegressor on the training models' checkpoints and prints test
R² in % for s(W), the run's z, and both together, and for the true (test accuracy, epoch) pair: a
target that trees cannot read off even these is mostly idiosyncratic to each model.
"""

import argparse

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import r2_score

from hrlib import load_zoo
from hrlib.evaluate.features import select_baselines
from hrlib.hyper.inference import embed
from hrlib.hyper.runs import load_run


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo")
    parser.add_argument("--run", required=True, help="a trained hyper-representation of the zoo")
    parser.add_argument("--targets", default="epoch,test_acc,ggap")
    args = parser.parse_args()

    zoo = load_zoo(args.zoo)
    run = load_run(args.run)
    split = zoo.split(seed=run.config.split_seed)
    train, test = zoo.rows(split.train), zoo.rows(split.test)
    # s(W) as the probes compute it: fitted on the training rows, then mapped for every row
    s_w = select_baselines(zoo.layout, ["s(W)"])["s(W)"].fit(zoo, train)
    statistics = s_w.transform(zoo, np.arange(len(zoo.properties)))
    z = embed(run, zoo)
    feature_sets = {
        "s(W)": statistics,
        "z": z,
        "s(W) and z": np.hstack([statistics, z]),
        "true test_acc and epoch": zoo.properties[["test_acc", "epoch"]].to_numpy(),
    }
    targets = args.targets.split(",")
    table = pd.DataFrame(index=targets, columns=list(feature_sets), dtype=float)
    for name, X in feature_sets.items():
        for target in targets:
            y = zoo.properties[target].to_numpy()
            trees = HistGradientBoostingRegressor(random_state=0).fit(X[train], y[train])
            table.loc[target, name] = 100 * r2_score(y[test], trees.predict(X[test]))
    print("test R² (%) of gradient-boosted trees")
    print(table.round(1).to_string())


if __name__ == "__main__":
    main()
