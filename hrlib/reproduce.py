"""The paper's downstream tables, recomputed on our zoos and written beside its numbers.

Each table is one command (`hrlib reproduce ...`) that rewrites its own section of
``docs/results.md``, between ``<!-- BEGIN key -->`` and ``<!-- END key -->`` markers, with our numbers,
the paper's, the command that made them, the machine and the time it took.

- Table 5: every target of a zoo probed with W, PCA_l, PCA_c, PCA_r, UMAP, s(W) and any
  hyper-representations given as runs.
- Tables 1-2 (ablations): one row per run, its reconstruction R² and its probe scores.
- Table 7: Kendall's τ transfer matrix between zoos of one architecture.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hrlib.downstream import evaluate_probes, transfer_matrix
from hrlib.features import Encoded, baselines

log = logging.getLogger(__name__)

BASELINES = ("W", "PCA_l", "PCA_c", "PCA_r", "UMAP", "s(W)")

# The paper's Table 5 (R² or accuracy in %); its UMAP column reads as fractions, copied as printed.
_T5_COLUMNS = ["W", "PCA_l", "PCA_c", "PCA_r", "UMAP", "s(W)", "E_cD"]
PAPER = {
    ("table5", "tetris_seed"): pd.DataFrame(
        [[55.4, 46.9, 77.8, 93.5, 0.00, 96.4, 97.0], [49.1, 23.9, 74.7, 74.9, 0.01, 86.9, 90.2],
         [43.9, 28.3, 72.9, 75.7, 0.01, 81.0, 81.9], [26.6, 0.07, 52.8, 49.1, 0.02, 62.5, 70.7],
         [41.4, 30.2, 48.6, 58.6, 0.01, 63.1, 75.9], [41.5, 0.06, 38.3, 38.5, 0.01, 60.9, 69.4],
         [53.9, 44.6, 73.8, 72.2, 0.00, 75.2, 86.6]],
        index=["Eph", "Acc", "GGap", "F1_C0", "F1_C1", "F1_C2", "F1_C3"], columns=_T5_COLUMNS),
    ("table5", "tetris_hyp"): pd.DataFrame(
        [[2.8, 2.7, 0.04, 13.1, 0.03, 16.3, 16.7], [11.0, 14.0, 0.81, 73.8, 0.7, 80.2, 83.7],
         [12.9, 12.9, 0.31, 76.0, 0.3, 79.2, 81.6], [-4.7, -3.2, -1.3, -0.4, -1.4, 53.4, 51.1],
         [74.7, 72.7, 45.1, 74.2, 45.9, 73.6, 86.9], [38.5, 36.4, 32.7, 35.4, 33.6, 46.6, 47.1]],
        index=["Eph", "Acc", "GGap", "LR", "Act", "Init"], columns=_T5_COLUMNS),
    ("table1", "tetris_seed"): pd.DataFrame(
        [[np.nan, 96.7, 90.8, 67.7, 72.0, 74.4, 85.8], [96.1, 88.3, 68.9, 47.8, 57.2, 33.0, 58.1],
         [84.1, 97.0, 90.2, 70.7, 75.9, 69.4, 86.6], [95.9, 94.0, 69.9, 48.9, 58.1, 32.5, 58.8]],
        index=["E_c", "ED", "E_cD", "E_c+D"], columns=["Rec", "Eph", "Acc", "F1_C0", "F1_C1", "F1_C2", "F1_C3"]),
    ("table2", "tetris_seed"): pd.DataFrame(
        [[0.0, 80.0, 85.3, 57.3, 53.9, 64.5, 80.1], [6.8, 95.3, 71.1, 47.9, 69.0, 49.9, 61.3],
         [74.1, 95.4, 88.6, 65.6, 69.8, 69.9, 86.8], [89.4, 97.1, 88.4, 71.4, 80.8, 69.1, 82.3],
         [84.1, 97.0, 90.2, 70.7, 75.9, 69.4, 86.6]],
        index=["FF", "Att_W", "Att_W+t", "Att_N", "Att_N+t"],
        columns=["Rec", "Eph", "Acc", "F1_C0", "F1_C1", "F1_C2", "F1_C3"]),
    ("table3", "tetris_seed"): pd.DataFrame(
        [[88.1, 95.5, 89.8, 88.8, 96.1, 95.6, 89.7, 96.1], [49.2, 72.9, 67.3, 59.4, 84.1, 81.9, 65.4, 84.1],
         [86.3, 95.6, 88.5, 87.6, 95.9, 95.8, 89.0, 96.0]],
        index=["ED", "E_cD", "E_c+D"], columns=["-", "P", "E", "N", "P,E", "P,N", "E,N", "P,E,N"]),
}


AUGMENTATIONS = ("-", "P", "E", "N", "P,E", "P,N", "E,N", "P,E,N")
# The settings each ablation varies; everything else is the default E_cD, Att_N+t, P,E.
ABLATIONS = {
    "table1": {loss: dict(loss=loss) for loss in ("E_c", "ED", "E_cD", "E_c+D")},
    "table2": {arch: dict(architecture=arch) for arch in ("FF", "Att_W", "Att_W+t", "Att_N", "Att_N+t")},
    "table3": {f"{loss} {aug}": dict(loss=loss, augment=aug) for loss in ("ED", "E_cD", "E_c+D") for aug in AUGMENTATIONS},
}


def ablation_runs(zoo, table: str, runs="runs", epochs: int = 0, quick: bool = False, only=None,
                  device="auto", progress: bool = True) -> dict[str, str]:
    """Train (or resume, or reuse) the hyper-representations one ablation table compares.

    Returns name → run directory, under RUNS/hr/ named by `hrlib.train.run_dir`; `only` restricts
    the table to some of its rows.
    """
    from hrlib.train import configure, run_dir, train

    if table not in ABLATIONS:
        raise ValueError(f"unknown ablation {table!r}; known: {sorted(ABLATIONS)}")
    out = {}
    for name, setting in ABLATIONS[table].items():
        if only is not None and name not in only:
            continue
        loss, arch = setting.get("loss", "E_cD"), setting.get("architecture", "Att_N+t")
        augment = setting.get("augment", "P,E")
        config = configure(zoo, loss=loss, architecture=arch, augment=augment, epochs=epochs, quick=quick, device=device)
        path = run_dir(runs, zoo.path.name if zoo.path else "zoo", False, loss, arch, augment, epochs)
        train(zoo, path, config, device=device, progress=progress)
        out[name] = str(path)
    return out


def table3(zoo, runs: dict[str, str]) -> pd.DataFrame:
    """Table 3: test reconstruction R² in %, losses × augmentations, from runs named 'LOSS AUG'."""
    from hrlib.train import load_run, reconstruction_r2

    cells = {}
    for name, path in runs.items():
        loss, aug = name.split(" ", 1)
        split = zoo.split(seed=load_run(path).config.split_seed)
        cells.setdefault(loss, {})[aug] = 100 * reconstruction_r2(path, zoo, split.test)
    return pd.DataFrame(cells).T.reindex(columns=[a for a in AUGMENTATIONS if any(a in row for row in cells.values())])


def runs_as_features(runs: dict[str, str]) -> dict[str, Encoded]:
    """name → run directory, as feature sets through `hrlib.train.embed(run, zoo)`."""
    from hrlib.train import embed, load_run

    return {name: Encoded(functools.partial(embed, load_run(run)), name=name) for name, run in runs.items()}


def select_baselines(layout, names, n_components: int = 50, max_fit_rows: int = 5000, umap_components: int = 2) -> dict:
    """The named baselines of `hrlib.features.baselines`, in the order named.

    Names match ignoring case and punctuation, so ``sW`` (easy to type in a shell) is ``s(W)``.
    """
    key = lambda name: "".join(ch for ch in name.lower() if ch.isalnum())  # noqa: E731
    wants_umap = any(key(name) == "umap" for name in names)
    available = baselines(layout, n_components, max_fit_rows, umap=wants_umap, umap_components=umap_components)
    by_key = {key(name): name for name in available}
    unknown = [name for name in names if key(name) not in by_key]
    if unknown:
        raise ValueError(f"unknown feature sets {unknown}; known: {list(available) + ([] if wants_umap else ['UMAP'])}")
    return {by_key[key(name)]: available[by_key[key(name)]] for name in names}


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
           max_fit_rows: int = 5000, umap_components: int = 2, split_seed: int = 0):
    """Every target of `zoo` probed with the baselines named in `features` and the runs' z.

    Returns the `ProbeReport`; its table has the baselines in the paper's order, then the runs.
    """
    chosen = select_baselines(zoo.layout, features, n_components, max_fit_rows, umap_components)
    chosen |= runs_as_features(runs or {})
    return evaluate_probes(zoo, chosen, split_seed=split_seed)


def ablation(zoo, runs: dict[str, str], targets=("Eph", "Acc", "F1_C0", "F1_C1", "F1_C2", "F1_C3"),
             split_seed: int = 0) -> pd.DataFrame:
    """Tables 1-2: one row per run, its test reconstruction R² and probe scores in %."""
    from hrlib.train import reconstruction_r2

    report = evaluate_probes(zoo, runs_as_features(runs), list(targets), split_seed=split_seed)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)
    return path


def transfer(zoos: dict, runs: dict[str, list[str]] | None = None, target: str = "ggap", features=("W", "s(W)"),
             split_seed: int = 0) -> pd.DataFrame:
    """Table 7: τ matrix; `runs` maps a z name to one run directory per zoo, in the order of `zoos`."""
    chosen = select_baselines(next(iter(zoos.values())).layout, features)
    for name, dirs in (runs or {}).items():
        if len(dirs) != len(zoos):
            raise ValueError(f"{name}: {len(dirs)} runs for {len(zoos)} zoos; give one run per zoo")
        per_zoo = dict(zip(zoos, dirs))
        runs_as_features({name: dirs[0]})  # fails early and clearly while issue 3 is missing
        chosen[name] = lambda fit_zoo, per_zoo=per_zoo, name=name: runs_as_features({name: per_zoo[fit_zoo]})[name]
    return transfer_matrix(zoos, chosen, target, split_seed=split_seed)
