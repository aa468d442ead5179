"""Sampled and reconstructed networks over several hyper-representation runs: the mean ± sd over
runs of each run's mean test accuracy, from the CSV files `hrlib sample --out` wrote.

    python scripts/sampling_runs.py runs/tables/sample-mnist_seed-cpu.csv runs/tables/sample-mnist_seed-cpu-s1.csv ...

Prints a Markdown table: one row per start, one column per epoch of training.
"""

import argparse

import pandas as pd

from hrlib.hyper.sampling import summarize_runs
from hrlib.paper.tables import side_by_side


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+", help="CSV files of `hrlib sample --out`, one per run")
    args = parser.parse_args()
    mean, sd = summarize_runs([pd.read_csv(path) for path in args.tables])
    print(f"test accuracy in %, mean ± sd over {len(args.tables)} runs of each run's mean over its networks; "
          "columns: epochs of training")
    print(side_by_side(mean, sd=sd))


if __name__ == "__main__":
    main()
