"""The paper's downstream tables, recomputed on our zoos and written beside its numbers.

Each table is one command (`hrlib reproduce ...`) that rewrites its own section of
``docs/results.md``, between ``<!-- BEGIN key -->`` and ``<!-- END key -->`` markers, with our numbers,
the paper's, the command that made them, the machine and the time it took.

- Table 5: every target of a zoo probed with W, PCA_l, PCA_c, PCA_r, UMAP, s(W) and any
  hyper-representations given as runs.
- Tables 1-2 (ablations): one row per run, its reconstruction R² and its probe scores.
- Table 4: a CNN-s zoo's weight variance (VAR, VAR_c), its runs' reconstruction R², and Eph, Acc,
  GGap, Init probed with W, s(W) and the runs' z.
- Table 6: every target of a CNN-u zoo probed with W, s(W) and the runs' z.
- Table 7: Kendall's τ transfer matrix between zoos of one architecture.
- Rank: Kendall's τ of test accuracy from each model's last checkpoint, s_U(W) with a linear probe and
  with gradient-boosted trees against z: the benchmark later weight-space papers report.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import time
from pathlib import Path

import pandas as pd

from hrlib.evaluate.features import BASELINES, runs_as_features, select_baselines
from hrlib.evaluate.tables import RANK_SPLIT, evaluate_probes, rank_checkpoints, transfer_matrix
from hrlib.files import writable_file, write_text

log = logging.getLogger(__name__)

AUGMENTATIONS = ("-", "P", "E", "N", "P,E", "P,N", "E,N", "P,E,N")
# The settings each ablation varies; everything else is the default E_cD, Att_N+t, P,E.
ABLATIONS = {
    "table1": {loss: dict(loss=loss) for loss in ("E_c", "ED", "E_cD", "E_c+D")},
    "table2": {encoder: dict(encoder=encoder) for encoder in ("FF", "Att_W", "Att_W+t", "Att_N", "Att_N+t")},
    "table3": {f"{loss} {aug}": dict(loss=loss, augment=aug) for loss in ("ED", "E_cD", "E_c+D") for aug in AUGMENTATIONS},
}
TABLE6_TARGETS = ("Eph", "Acc", "GGap", "LR", "L2", "Drop", "TF", "Act", "Init", "Opt")


def ablation_runs(zoo, table: str, runs="runs", epochs: int | None = None, quick: bool = False, only=None,
                  device="auto", progress: bool = True, reduction: str | None = None) -> dict[str, str]:
    """Train (or resume, or reuse) the hyper-representations one ablation table compares.

    Returns name → run directory, under RUNS/hr/ named by `hrlib.hyper.runs.run_dir`; `only` restricts
    the table to some of its rows; `reduction` ("mean" or "sum") overrides the recipe's reduction of
    the reconstruction error.
    """
    from hrlib.hyper.config import configure
    from hrlib.hyper.runs import run_dir
    from hrlib.hyper.train import train

    if table not in ABLATIONS:
        raise ValueError(f"unknown ablation {table!r}; known: {sorted(ABLATIONS)}")
    out = {}
    for name, setting in ABLATIONS[table].items():
        if only is not None and name not in only:
            continue
        loss, encoder = setting.get("loss", "E_cD"), setting.get("encoder", "Att_N+t")
        augment = setting.get("augment", "P,E")
        config = configure(zoo, loss=loss, encoder=encoder, augment=augment, epochs=epochs, quick=quick, device=device,
                           reduction=reduction)
        path = run_dir(runs, zoo.path.name if zoo.path else "zoo", False, loss, encoder, augment, epochs or 0,
                       config.loss.reduction)
        train(zoo, path, config, device=device, progress=progress)
        out[name] = str(path)
    return out


def table3(zoo, runs: dict[str, str]) -> pd.DataFrame:
    """Table 3: test reconstruction R² in %, losses × augmentations, from runs named 'LOSS AUG'."""
    from hrlib.hyper.inference import reconstruction_r2
    from hrlib.hyper.runs import load_run

    cells = {}
    for name, path in runs.items():
        loss, aug = name.split(" ", 1)
        split = zoo.split(seed=load_run(path).config.split_seed)
        cells.setdefault(loss, {})[aug] = 100 * reconstruction_r2(path, zoo, split.test)
    return pd.DataFrame(cells).T.reindex(columns=[a for a in AUGMENTATIONS if any(a in row for row in cells.values())])


def machine() -> str:
    """A one-line description of where a table was computed."""
    text = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    threads = [f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
               if k in os.environ]
    if threads:
        text += ", " + " ".join(threads)
    try:
        import torch

        if torch.cuda.is_available():
            text += f", {torch.cuda.get_device_name()}"
    except ImportError:
        pass
    return text


def table5(zoo, runs: dict[str, str] | None = None, features=BASELINES, n_components: int = 50,
           max_fit_rows: int = 5000, umap_components: int = 2, split_seed: int = 0, targets=None):
    """Every target of `zoo` (or those named) probed with the baselines named in `features` and the runs' z.

    Returns the `ProbeReport`; its table has the baselines in the paper's order, then the runs.
    Table 6 is this table on a CNN-u zoo with W and s(W).
    """
    chosen = select_baselines(zoo.layout, features, n_components, max_fit_rows, umap_components)
    chosen |= runs_as_features(runs or {}, zoo, split_seed)
    return evaluate_probes(zoo, chosen, targets, split_seed=split_seed)


def zoo_statistics(zoo, runs: dict[str, str] | None = None, split_seed: int = 0) -> pd.Series:
    """Table 4's top: VAR, VAR_c (within init × activation groups) and each run's reconstruction R²
    (a fraction) on the train and test splits, as 'R_tr NAME' and 'R_tes NAME'."""
    from hrlib.hyper.inference import reconstruction_r2
    from hrlib.zoos.zoo import weight_variance

    stats = {"VAR": weight_variance(zoo), "VAR_c": weight_variance(zoo, by=["init", "activation"])}
    split = zoo.split(seed=split_seed)
    for name, run in (runs or {}).items():
        stats[f"R_tr {name}"] = reconstruction_r2(run, zoo, split.train)
        stats[f"R_tes {name}"] = reconstruction_r2(run, zoo, split.test)
    return pd.Series(stats)


def table4(zoo, runs: dict[str, str] | None = None, split_seed: int = 0):
    """Table 4 for one zoo: (`zoo_statistics`, the `ProbeReport` of Eph, Acc, GGap, Init with W, s(W), z)."""
    targets = [t for t in ("Eph", "Acc", "GGap", "Init") if t != "Init" or "init" in zoo.properties]
    report = table5(zoo, runs, ("W", "s(W)"), split_seed=split_seed, targets=targets)
    return zoo_statistics(zoo, runs, split_seed), report


def rank(zoo, runs: dict[str, str] | None = None, split_seed: int = 0) -> pd.DataFrame:
    """The ranking benchmark: τ (and R²) of test accuracy from each model's last checkpoint, on a
    40/10/50 split by model: s_U(W) with a linear probe and with gradient-boosted trees, then each run's
    z with a linear probe. The runs must have been trained on that split (`hrlib train --split 0.4,0.1,0.5`)."""
    features = select_baselines(zoo.layout, ["s_U(W)"]) | runs_as_features(runs or {}, zoo, split_seed, RANK_SPLIT)
    pairs = [("s_U(W)", "linear"), ("s_U(W)", "trees")] + [(name, "linear") for name in runs or {}]
    return rank_checkpoints(zoo, features, pairs, split=zoo.split(RANK_SPLIT, seed=split_seed))


def ablation(zoo, runs: dict[str, str], targets=("Eph", "Acc", "F1_C0", "F1_C1", "F1_C2", "F1_C3"),
             split_seed: int = 0) -> pd.DataFrame:
    """Tables 1-2: one row per run, its test reconstruction R² and probe scores in %."""
    from hrlib.hyper.inference import reconstruction_r2

    report = evaluate_probes(zoo, runs_as_features(runs, zoo, split_seed), list(targets), split_seed=split_seed)
    table = report.table.T
    table.insert(0, "Rec", [100 * reconstruction_r2(runs[name], zoo, report.split.test) for name in table.index])
    return table


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame | None = None, digits: int = 1) -> str:
    """A Markdown table of our numbers, each followed by the paper's in parentheses where it has one."""
    columns = list(ours.columns)
    lines = ["| | " + " | ".join(map(str, columns)) + " |", "|---" * (len(columns) + 1) + "|"]
    for index, row in ours.iterrows():
        cells = []
        for column in columns:
            cell = "–" if pd.isna(row[column]) else f"{row[column]:.{digits}f}"
            if paper is not None and index in paper.index and column in paper.columns \
                    and pd.notna(paper.loc[index, column]):
                cell += f" ({paper.loc[index, column]:g})"
            cells.append(cell)
        lines.append(f"| {index} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def protocol(report) -> str:
    """How a probe table was made: split sizes, probes, time per feature set, skipped targets."""
    split = report.split
    lines = [
        f"- Split by model, 70/15/15: {len(split.train)} / {len(split.val)} / {len(split.test)} models; "
        "features fitted on train; ridge α chosen by validation R², logistic C by validation accuracy, "
        "both refitted on train; test scores reported.",
        "- Seconds to fit and transform each feature set: "
        + ", ".join(f"{name} {seconds:.0f}" for name, seconds in report.feature_seconds.items())
        + f"; all probes: {report.details['seconds'].sum():.0f}.",
    ]
    return "\n".join(lines + [f"- {note}" for note in report.notes])


def section(key: str, title: str, body: str, command: str, seconds: float) -> str:
    """A results.md section: title, how it was made, the body."""
    return (
        f"<!-- BEGIN {key} -->\n### {title}\n\n"
        f"Command: `{command}`  \nMachine: {machine()}; {seconds:.0f} s; {time.strftime('%Y-%m-%d')}.\n\n"
        f"{body.rstrip()}\n<!-- END {key} -->\n"
    )


def write_section(path, key: str, text: str) -> Path:
    """Put `text` (a `section`) into the results file, replacing the old section of that key."""
    path = Path(path)
    old = path.read_text() if path.exists() else "# Results\n\nEach section below is rewritten by the command it names.\n"
    pattern = re.compile(rf"<!-- BEGIN {re.escape(key)} -->.*?<!-- END {re.escape(key)} -->\n?", re.S)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    return write_text(writable_file(path), new)


def transfer(zoos: dict, runs: dict[str, list[str]] | None = None, target: str = "ggap", features=("W", "s(W)"),
             split_seed: int = 0) -> pd.DataFrame:
    """Table 7: τ matrix; `runs` maps a z name to one run directory per zoo, in the order of `zoos`."""
    chosen = select_baselines(next(iter(zoos.values())).layout, features)
    for name, dirs in (runs or {}).items():
        if len(dirs) != len(zoos):
            raise ValueError(f"{name}: {len(dirs)} runs for {len(zoos)} zoos; give one run per zoo")
        per_zoo = dict(zip(zoos, dirs))
        for zoo_name, run in per_zoo.items():  # each run belongs to its zoo; a bad one fails now, before any work
            runs_as_features({name: run}, zoos[zoo_name], split_seed)
        chosen[name] = lambda fit_zoo, per_zoo=per_zoo, name=name: runs_as_features({name: per_zoo[fit_zoo]})[name]
    return transfer_matrix(zoos, chosen, target, split_seed=split_seed)
