"""Calibrate the tetris zoos by method-independent numbers: how W and s(W) probe each design.

    python scripts/calibrate_tetris.py seed [--models 200] [--designs 0,4] [--epochs 75] [--out runs/calibration]
    python scripts/calibrate_tetris.py hyp  [--seeds 10]   [--designs 0,3] [--epochs 75] [--out runs/calibration]

Each design is a variant of the `tetris_seed` (or `tetris_hyp`) preset: training and test set
size, pixel noise, learning rate(s), initialization, batch size. The script builds a small zoo of
each design (kept under OUT, so a rerun reuses it), fits ridge / logistic probes on the raw
weights W and on the layer statistics s(W) with the usual split by model, and prints their test
scores beside the paper's W and s(W) columns, with a few facts about the zoo (final test accuracy
and generalization gap, and for the hyper-parameter grid how far the lr 1e-5 models moved from
their start). The hyper-representation is never trained or consulted: a zoo design must be chosen
by these numbers alone, not by how the method under test scores on it.
"""

import argparse
import dataclasses
import json
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from hrlib.evaluate.features import select_baselines
from hrlib.evaluate.tables import probe_table
from hrlib.paper.numbers import PAPER
from hrlib.zoos.build import create_zoo
from hrlib.zoos.presets import get_preset
from hrlib.zoos.zoo import load_zoo


def design(train=300, test=1000, noise=0.15, init="kaiming_uniform", lr=1e-3, batch=16, **grid) -> dict:
    """Changes to a tetris preset; the defaults are the first (version 1) design."""
    changes = dict(data=dict(train_size=train, test_size=test, noise=noise), batch_size=batch, grid=grid)
    if lr is not None:  # the hyper-parameter zoo keeps its grid's inits and learning rates
        changes["fixed"] = dict(init=init, lr=lr)
    return changes


# In the order they were tried; each step kept what the one before it showed.
SEED_DESIGNS = {
    "old (300 train, 1k test, noise 0.15, kaiming U, lr 1e-3)": design(),
    "10k test": design(test=10000),
    "10k test, lr 1e-2": design(test=10000, lr=1e-2),
    "200 train, 10k test, lr 1e-2": design(200, 10000, lr=1e-2),
    "200 train, 10k test, lr 1e-2, U(0,1)": design(200, 10000, init="uniform", lr=1e-2),
    "200 train, 10k test, lr 1e-3, U(0,1)": design(200, 10000, init="uniform", lr=1e-3),
    "100 train, 10k test, lr 1e-2, U(0,1)": design(100, 10000, init="uniform", lr=1e-2),
    "200 train, 10k test, lr 1e-2, U(0,1), noise 0.25": design(200, 10000, 0.25, "uniform", 1e-2),
    "200 train, 10k test, lr 3e-3, U(0,1), batch 8": design(200, 10000, init="uniform", lr=3e-3, batch=8),
    "300 train, 10k test, lr 1e-2, U(0,1), noise 0.25": design(300, 10000, 0.25, "uniform", 1e-2),
    "200 train, 10k test, lr 1e-2, U(0,1), noise 0.2": design(200, 10000, 0.2, "uniform", 1e-2),
    "200 train, 10k test, lr 1e-2, U(0,1), noise 0.3 (chosen)": design(200, 10000, 0.3, "uniform", 1e-2),
    "200 train, 10k test, lr 3e-3, U(0,1), noise 0.25": design(200, 10000, 0.25, "uniform", 3e-3),
    "200 train, 10k test, lr 3e-2, U(0,1), noise 0.25": design(200, 10000, 0.25, "uniform", 3e-2),
}
HYP_DESIGNS = {
    "old (300 train, 1k test, noise 0.15, batch 16)": design(lr=None),
    "chosen data, batch 16": design(200, 10000, 0.3, lr=None),
    "chosen data, batch 4": design(200, 10000, 0.3, lr=None, batch=4),
    "chosen data, batch 1 (chosen)": design(200, 10000, 0.3, lr=None, batch=1),
}
TARGETS = {"seed": ["epoch", "test_acc", "ggap"], "hyp": ["epoch", "test_acc", "ggap", "lr", "activation", "init"]}


def design_preset(kind: str, changes: dict, models: int, seeds: int, epochs: int = 75):
    preset = get_preset(f"tetris_{kind}")
    preset = dataclasses.replace(
        preset,
        data_options={**preset.data_options, **changes.get("data", {})},
        fixed={**preset.fixed, **changes.get("fixed", {})},
        grid={**preset.grid, **changes.get("grid", {})} if preset.grid else {},
        batch_size=changes.get("batch_size", preset.batch_size),
        version=1,  # the zoos of a design stay the same whatever the current preset is
        epochs=epochs,
    )
    return preset.override(models=models) if kind == "seed" else dataclasses.replace(preset, seeds=seeds)


def zoo_facts(zoo, kind: str) -> dict:
    props = zoo.properties
    last = props[props.epoch == props.epoch.max()]
    facts = {"final test acc (median)": 100 * last.test_acc.median(), "final GGap (median)": 100 * last.ggap.median(),
             "final GGap (sd)": 100 * last.ggap.std()}
    if kind == "hyp":
        slow = last[np.isclose(last.lr, last.lr.min())]
        start = zoo.weights[slow.model.to_numpy(), 0]
        end = zoo.weights[slow.model.to_numpy(), -1]
        moved = np.linalg.norm(end - start, axis=1) / np.linalg.norm(start, axis=1)
        facts[f"lr {last.lr.min():g}: moved from init (median, % of norm)"] = 100 * np.median(moved)
    return facts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("seed", "hyp"))
    parser.add_argument("--models", type=int, default=200, help="models per seed-zoo design")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per configuration of a hyp-zoo design")
    parser.add_argument("--epochs", type=int, default=75, help="epochs per model (the paper's 75 by default)")
    parser.add_argument("--designs", help="comma-separated indices of the designs to run (default: all)")
    parser.add_argument("--out", default="runs/calibration")
    args = parser.parse_args()

    designs = list((SEED_DESIGNS if args.kind == "seed" else HYP_DESIGNS).items())
    if args.designs:
        designs = [designs[int(i)] for i in args.designs.split(",")]
    paper = PAPER[("table5", f"tetris_{args.kind}")]
    rows = []
    for index, (name, changes) in enumerate(designs):
        preset = design_preset(args.kind, changes, args.models, args.seeds, args.epochs)
        out = Path(args.out) / f"{args.kind}-{zlib.crc32(json.dumps(preset.to_dict(), sort_keys=True).encode()):08x}"
        start = time.perf_counter()
        zoo = load_zoo(out) if (out / "manifest.json").exists() else create_zoo(preset, out, progress=False)
        built = time.perf_counter() - start
        table = probe_table(zoo, select_baselines(zoo.layout, ["W", "s(W)"]), TARGETS[args.kind])
        row = {"design": name, "models": len(zoo.properties.model.unique()), "build s": round(built)}
        for target in table.index:
            for feature in table.columns:
                row[f"{feature} {target}"] = table.loc[target, feature]
        gaps = [abs(row[f"{f} {t}"] - paper.loc[t, f]) for f in ("W", "s(W)") for t in table.index if t in paper.index]
        row["mean |difference| to the paper"] = float(np.mean(gaps))
        rows.append({**row, **zoo_facts(zoo, args.kind)})
        print(pd.DataFrame(rows[-1:]).round(1).to_string(index=False), flush=True)
    result = pd.DataFrame(rows)
    reference = {"design": "paper"}
    for feature in ("W", "s(W)"):
        for target in table.index:
            reference[f"{feature} {target}"] = paper.loc[target, feature]
    result = pd.concat([result, pd.DataFrame([reference])], ignore_index=True)
    print(result.round(1).to_string(index=False))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    result.to_csv(Path(args.out) / f"{args.kind}.csv", index=False)


if __name__ == "__main__":
    main()
