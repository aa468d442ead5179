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
- Rank: Kendall's τ of test accuracy from each model's last checkpoint, s_U(W), NFNs and z side by side:
  the benchmark later weight-space papers report (`hrlib.paper.ranking`).
- Recipe: candidate training recipes for one zoo, judged on its validation split alone.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from hrlib.evaluate.features import BASELINES, runs_as_features, select_baselines
from hrlib.evaluate.tables import evaluate_probes, extrapolation_note, over_seeds, transfer_matrix
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
                  device="auto", progress: bool = True, reduction: str | None = None, seeds: int = 1) -> dict[str, str]:
    """Train (or resume, or reuse) the hyper-representations one ablation table compares.

    Returns name → run directory, under RUNS/hr/ named by `hrlib.hyper.runs.run_dir`; `only` restricts
    the table to some of its rows; `reduction` ("mean" or "sum") overrides the recipe's reduction of
    the reconstruction error; `seeds` N trains replicates 0..N-1 of each row beside its directory.
    """
    from hrlib.hyper.train import train_replicates

    out = {}
    for name, (config, path) in _ablation_settings(zoo, table, runs, epochs, quick, only, device, reduction).items():
        train_replicates(zoo, path, config, seeds, device=device, progress=progress)
        out[name] = str(path)
    return out


def _ablation_settings(zoo, table: str, runs, epochs, quick, only, device, reduction) -> dict:
    """name → (training configuration, run directory) of each row `ablation_runs` trains."""
    from hrlib.hyper.config import configure
    from hrlib.hyper.runs import run_dir

    if table not in ABLATIONS:
        raise ValueError(f"unknown ablation {table!r}; known: {sorted(ABLATIONS)}")
    rows = {}
    for name, setting in ABLATIONS[table].items():
        if only is not None and name not in only:
            continue
        loss, encoder = setting.get("loss", "E_cD"), setting.get("encoder", "Att_N+t")
        augment = setting.get("augment", "P,E")
        config = configure(zoo, loss=loss, encoder=encoder, augment=augment, epochs=epochs, quick=quick, device=device,
                           reduction=reduction)
        rows[name] = config, run_dir(runs, zoo.path.name if zoo.path else "zoo", False, loss, encoder, augment,
                                     epochs or 0, config.loss.reduction)
    return rows


def ablation_plan(zoo, tables, runs="runs", epochs: int | None = None, quick: bool = False, only=None,
                  device="auto") -> str:
    """What `ablation_runs` will train for each of `tables` and how long that takes here, before it
    starts: each row's run found finished, or its epochs left times an epoch's time measured on this
    machine (`estimate_epoch_seconds`, once per encoder)."""
    from hrlib.hyper.runs import read_history
    from hrlib.hyper.train import estimate_epoch_seconds
    from hrlib.zoos.estimate import _duration

    n_models, n_checkpoints = zoo.n_models, len(zoo.epochs)
    per_epoch, lines, total = {}, [], 0.0
    for table in tables:
        rows = _ablation_settings(zoo, table, runs, epochs, quick, (only or {}).get(table), device, None)
        left = {}
        for name, (config, path) in rows.items():
            done = len(read_history(path / "history.csv")) if (path / "history.csv").is_file() else 0
            if (path / "result.json").is_file() or done >= config.epochs:
                continue
            key = (tuple(sorted(config.model.items())), config.batch_size, config.augment, config.split_fractions)
            if key not in per_epoch:
                per_epoch[key] = estimate_epoch_seconds(zoo.layout, n_models, n_checkpoints, config, device)
            left[name] = per_epoch[key] * (config.epochs - done)
        total += sum(left.values())
        found = len(rows) - len(left)
        lines.append(f"{table}: {len(rows)} runs, {found} found trained; "
                     + (", ".join(f"{name} {_duration(s)}" for name, s in left.items()) if left else "nothing to train"))
    return "\n".join(lines + [f"about {_duration(total)} of training in all, measured here; then scoring every run"])


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


def ablation(zoo, runs: dict[str, str], targets=("Eph", "Acc", "F1_C0", "F1_C1", "F1_C2", "F1_C3"),
             split_seed: int = 0) -> pd.DataFrame:
    """Tables 1-2: one row per run, its test reconstruction R² and probe scores in %."""
    from hrlib.hyper.inference import reconstruction_r2

    report = evaluate_probes(zoo, runs_as_features(runs, zoo, split_seed), list(targets), split_seed=split_seed)
    table = report.table.T
    table.insert(0, "Rec", [100 * reconstruction_r2(runs[name], zoo, report.split.test) for name in table.index])
    return table


def linear_reference(zoo, components: int, split_seed: int = 0) -> float:
    """Validation reconstruction R² of the best linear code of a given size: PCA fitted on the
    training models' checkpoints, the validation models' checkpoints projected and mapped back."""
    from sklearn.decomposition import PCA

    split = zoo.split(seed=split_seed)
    fit, val = (zoo.samples(split[part]) for part in ("train", "val"))
    fit, val = fit[np.isfinite(fit).all(1)], val[np.isfinite(val).all(1)]
    pca = PCA(min(components, *fit.shape), random_state=0).fit(fit)
    residual = ((val - pca.inverse_transform(pca.transform(val))) ** 2).sum()
    return float(1 - residual / ((val - val.mean(0)) ** 2).sum())


def recipe_choice(zoo, runs: dict[str, str], targets=("Eph", "Acc", "GGap"), split_seed: int = 0) -> pd.DataFrame:
    """Candidate training recipes judged on the validation split alone: one row per run with its
    setting and epochs, its training minutes, the validation reconstruction R² of its best epoch (lowest
    validation loss, the model the run keeps) and the validation R² of a linear probe of its z on each
    target, in %, then the mean of those probe scores, by which the rows are sorted (best first).
    Below them, per size of z among the runs, the `linear_reference` of that size (val Rec only)."""
    from hrlib.hyper.runs import load_run

    report = evaluate_probes(zoo, runs_as_features(runs, zoo, split_seed), list(targets), split_seed=split_seed)
    probes = 100 * report.details.pivot(index="feature", columns="target", values="val")[list(targets)]
    rows, sizes = {}, set()
    for name, path in runs.items():
        run = load_run(path)
        loss, history = run.config.loss, run.history
        best = history.loc[history.val_loss.idxmin()]
        sizes.add(run.model_config.latent)
        rows[name] = {
            "setting": f"{loss.name}, γ {loss.gamma:g}, {loss.reduction} error, z of {run.model_config.latent}, "
                       f"lr {run.config.lr:g}, batch {run.config.batch_size}, "
                       f"{len(history)} epoch{'s' if len(history) > 1 else ''}",
            "epochs": len(history), "minutes": run.result.get("train_seconds", np.nan) / 60,
            "val Rec": 100 * best.get("val_r2", np.nan),
        } | {f"val {label}": probes.loc[name, label] for label in probes.columns}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["val probes, mean"] = table[[f"val {label}" for label in probes.columns]].mean(axis=1)
    table = table.sort_values("val probes, mean", ascending=False)
    linear = pd.DataFrame.from_dict({f"PCA {k}": {"setting": "linear reference: PCA fitted on the training models",
                                                  "val Rec": 100 * linear_reference(zoo, k, split_seed)}
                                     for k in sorted(sizes)}, orient="index")
    return pd.concat([table, linear])


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame | None = None, digits: int | dict[str, int] = 1,
                 sd: pd.DataFrame | None = None, winners: str | None = None, unranked=()) -> str:
    """A Markdown table of our numbers, each followed by the paper's in parentheses where it has one.

    `digits` is one number for all columns or one per column. With `sd` (a table of our shape) each cell
    reads "mean ± sd"; `winners` ("row" or "column") then sets in bold the best mean of each row or column
    where `clear_winners` finds its lead larger than the spread, except in the `unranked` columns (times,
    where more is not better). Without `sd` nothing is marked: one run cannot tell a winner.
    """
    columns = list(ours.columns)
    bold = clear_winners(ours, sd, winners) if sd is not None and winners else None
    if bold is not None:
        bold[list(unranked)] = False
    lines = ["| | " + " | ".join(map(str, columns)) + " |", "|---" * (len(columns) + 1) + "|"]
    for index, row in ours.iterrows():
        cells = []
        for column in columns:
            places = digits.get(column, 1) if isinstance(digits, dict) else digits
            cell = "–" if pd.isna(row[column]) else f"{row[column]:.{places}f}"
            if sd is not None and pd.notna(row[column]) and pd.notna(sd.loc[index, column]):
                cell += f" ± {sd.loc[index, column]:.{places}f}"
            if bold is not None and bold.loc[index, column]:
                cell = f"**{cell}**"
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
    """Put `text` (a `section`) into the results file, replacing the old section of that key.

    Commands that finish at the same moment take turns (a lock file beside it, ``.results.md.lock``):
    each reads the file the other has just written, so neither section is lost."""
    path = writable_file(path)
    with FileLock(path.with_name(f".{path.name}.lock")):
        old = path.read_text() if path.exists() else "# Results\n\nEach section below is rewritten by the command it names.\n"
        pattern = re.compile(rf"<!-- BEGIN {re.escape(key)} -->.*?<!-- END {re.escape(key)} -->\n?", re.S)
        new = pattern.sub(lambda _: text, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
        return write_text(path, new)


def transfer(zoos: dict, runs: dict[str, list[str]] | None = None, target: str = "ggap", features=("W", "s(W)"),
             split_seed: int = 0) -> pd.DataFrame:
    """Table 7: τ matrix; `runs` maps a z name to one run directory per zoo, in the order of `zoos`."""
    chosen = select_baselines(next(iter(zoos.values())).layout, features)
    for name, dirs in (runs or {}).items():
        if len(dirs) != len(zoos):
            raise ValueError(f"{name}: {len(dirs)} runs for {len(zoos)} zoos; give one run per zoo")
        # each run belongs to its zoo; a bad one fails now, before any work, and each is loaded once
        per_zoo = {zoo_name: runs_as_features({name: run}, zoos[zoo_name], split_seed)[name]
                   for zoo_name, run in zip(zoos, dirs)}
        chosen[name] = per_zoo.__getitem__  # the z of the run trained on the zoo the probe is fitted on
    return transfer_matrix(zoos, chosen, target, split_seed=split_seed)


def clear_winners(mean: pd.DataFrame, sd: pd.DataFrame, by: str = "row") -> pd.DataFrame:
    """True where a cell's mean beats every other cell of its row (`by="row"`) or column by more than
    the two cells' standard deviations added: a winner called only where the gap exceeds the spread."""
    m, s = (mean, sd) if by == "row" else (mean.T, sd.T)
    out = pd.DataFrame(False, index=m.index, columns=m.columns)
    for index, row in m.iterrows():
        valid = row.dropna()
        if len(valid) < 2:
            continue
        best = valid.idxmax()
        others = valid.drop(best)
        if ((valid[best] - others) > (s.loc[index, best] + s.loc[index, others.index])).all():
            out.loc[index, best] = True
    return out if by == "row" else out.T


TABLES = ("table1", "table2", "table3", "table4", "table5", "table6", "table7", "rank", "recipe")


def reproduce(table: str, zoo_dirs: list[str], runs: dict[str, str] | None = None, *, seeds: int = 1,
              split_seed: int = 0, paper: str | None = None, features=None, target: str = "ggap",
              train: bool = False, epochs: int | None = None, runs_dir="runs", reduction: str | None = None,
              progress: bool = True, rank_protocol: str = "hrlib", row_order=None, peers: bool | None = None,
              device="auto") -> tuple[str, str, str]:
    """One of the paper's tables (or the ranking benchmark) on our zoos: (results.md key, title, body).

    `runs` maps a column's (or an ablation row's) name to a run directory (table7: comma-separated, one
    per zoo). With `seeds` N > 1 every cell is the mean ± sd over replicates 0..N-1: replicate i probes
    with split seed `split_seed` + i and uses each run's replicate i (`replicate_dir`), trained with
    `hrlib train ... --seeds N`, or here for tables 1-3 with `train`. Winners are set in bold only
    where their lead exceeds the spread. The ranking benchmark takes `rank_protocol`, `row_order`, `peers`
    and `device`, and `epochs` as its NFNs' epochs (`hrlib.paper.ranking.rank_section`).
    """
    from hrlib import load_zoo
    from hrlib.evaluate.probes import label
    from hrlib.hyper.runs import replicate_dir, replicate_runs, unfinished
    from hrlib.paper.numbers import PAPER, PAPER_ZOO_STATISTICS

    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; known: {TABLES}")
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    runs = dict(runs or {})
    zoo = load_zoo(zoo_dirs[0])
    name = paper or zoo.manifest.get("preset", "zoo")
    seeds_note = f"; mean ± sd over {seeds} seeds" if seeds > 1 else ""
    notes = variant = ""

    def cells(make, winners=None, digits=1, paper_table=None):
        mean, sd = over_seeds([make(i) for i in range(seeds)])
        return side_by_side(mean, paper_table, digits, sd, winners)

    if table in ("table1", "table2", "table3") and train:
        missing = [row for row in ABLATIONS[table] if row not in runs]  # --run rows are not retrained
        runs = ablation_runs(zoo, table, runs_dir, epochs, device=device, progress=progress, only=missing,
                             reduction=reduction, seeds=seeds) | runs
        runs = {row: runs[row] for row in [*ABLATIONS[table], *runs] if row in runs}  # the paper's order
        notes = (f"\n\n- Each hyper-representation trained with `hrlib.hyper.config.configure(zoo, ...)`: the CPU "
                 f"recipe for the zoo{f', {epochs} epochs' if epochs else ''}, run directories under {runs_dir}/hr/.")
    if table in ("table5", "table6"):
        wanted = features or (BASELINES if table == "table5" else ("W", "s(W)"))
        targets = None if table == "table5" else \
            [t for t in TABLE6_TARGETS if t in {label(c) for c in zoo.properties.columns}]
        reports = [table5(zoo, replicate_runs(runs, i), wanted, split_seed=split_seed + i, targets=targets)
                   for i in range(seeds)]
        mean, sd = over_seeds([r.table for r in reports])
        paper_table = PAPER.get((table, name))
        far = extrapolation_note(mean)
        body = (side_by_side(mean, paper_table, sd=sd, winners="row") + "\n\n" + protocol(reports[0])
                + ("" if far is None else f"\n- {far}"))
        what = "Act, Init" if table == "table5" else "Act, Init, Opt"
        title = (f"Table {table[-1]} on {name}: test R² (regression) or accuracy ({what}), %{seeds_note}"
                 f"{'' if paper_table is None else '; paper in parentheses'}")
    elif table == "table4":
        results = [table4(zoo, replicate_runs(runs, i), split_seed=split_seed + i) for i in range(seeds)]
        stats_mean, stats_sd = over_seeds([stats.to_frame(name) for stats, _ in results])
        mean, sd = over_seeds([report.table for _, report in results])
        paper_stats = PAPER_ZOO_STATISTICS.T.get(name)
        body = ("Zoo statistics (VAR, VAR_c; R_tr / R_tes: a run's reconstruction R² on the train / test split, "
                "as a fraction):\n\n"
                + side_by_side(stats_mean, None if paper_stats is None else paper_stats.to_frame(name), 3, stats_sd)
                + "\n\nProbes, test R² (Init: accuracy), %:\n\n"
                + side_by_side(mean, PAPER.get(("table4", name)), sd=sd, winners="row") + "\n\n" + protocol(results[0][1]))
        title = f"Table 4 on {name}: zoo statistics and probes{seeds_note}; paper in parentheses"
    elif table == "rank":
        from hrlib.evaluate.peers import NFNConfig
        from hrlib.paper.ranking import rank_section

        nfn = NFNConfig() if epochs is None else NFNConfig(epochs=epochs)
        title, body, variant = rank_section(zoo, name, runs, seeds=seeds, split_seed=split_seed,
                                            protocol=rank_protocol, row_order=row_order, peers=peers, nfn=nfn,
                                            runs_dir=runs_dir, device=device, progress=progress)
    elif table == "recipe":
        if seeds > 1:
            raise ValueError("recipe compares single runs on the validation split; give each replicate as its own --run")
        chosen = recipe_choice(zoo, runs, split_seed=split_seed)
        first = chosen.index[0]  # the best mean probe score: the choice, in bold
        rows = {run: f"{f'**{run}**' if run == first else run}: {chosen.loc[run, 'setting']}" for run in chosen.index}
        body = side_by_side(chosen.drop(columns=["setting", "epochs"]).rename(index=rows))
        body += (f"\n\n- Split by model, seed {split_seed}: runs and probes fitted on the training models, scored "
                 "on the validation models; no test score is read. Val Rec: reconstruction R² of the epoch with "
                 "the lowest validation loss; val Eph, Acc, GGap: R² of a ridge probe of z (α chosen on the same "
                 "validation models, so the scores are a little optimistic, alike for every run). Rows sorted by "
                 "the mean probe score; the first (bold) is the one chosen. One training seed per row.\n"
                 "- PCA k: the best linear code with k numbers per checkpoint (as many as z holds), fitted on the "
                 "training models' checkpoints: how much of an unseen model's weights a linear code of that size "
                 "keeps.")
        lengths = "/".join(str(n) for n in sorted({int(e) for e in chosen.epochs.dropna()}))
        title = f"Choosing a training recipe for {name} on the validation split, {lengths} epochs, %"
        variant = f":{lengths}ep"  # comparisons at other training lengths keep their own sections
    elif table in ("table1", "table2", "table3"):
        if table == "table3":
            body = cells(lambda i: table3(zoo, replicate_runs(runs, i)), "row", paper_table=PAPER.get((table, name)))
            title = f"Table 3 on {name}: test reconstruction R², %, by augmentation{seeds_note}; paper in parentheses"
        else:
            body = cells(lambda i: ablation(zoo, replicate_runs(runs, i), split_seed=split_seed + i), "column",
                         paper_table=PAPER.get((table, name)))
            title = f"Table {table[-1]} on {name}: reconstruction R² and probe scores, %{seeds_note}; paper in parentheses"
        body += notes
        if reduction:
            title += f"; reconstruction error: {reduction} over weights"
    else:
        loaded = [load_zoo(d) for d in zoo_dirs]
        zoos = {str(z.manifest.get("preset", d)): z for z, d in zip(loaded, zoo_dirs)}
        if len(zoos) < len(loaded):  # two zoos of one preset: tell them apart by their directories
            zoos = {d.rstrip("/").split("/")[-1]: z for z, d in zip(loaded, zoo_dirs)}
        name = "-".join(zoos)

        def make(i):
            per_zoo = {run: [replicate_runs({run: d}, i)[run] for d in dirs.split(",")] for run, dirs in runs.items()}
            matrix = transfer(zoos, per_zoo, target, features or ("W", "s(W)"), split_seed=split_seed + i)
            matrix.columns = [f"{z} {feature}" for z, feature in matrix.columns]
            return matrix

        paper = PAPER.get((table, name)) if target == "ggap" else None
        body = cells(make, digits=2, paper_table=paper)
        names = list(zoos)
        title = (f"Table 7 ({target}) between {', '.join(names[:-1])} and {names[-1]}: Kendall's τ, rows fitted, "
                 f"columns evaluated{seeds_note}{'' if paper is None else '; paper in parentheses'}")
        variant = "" if target == "ggap" else f":{target}"  # the paper's target keeps the plain key
    extra = []
    if seeds > 1:
        replicates = ("trains the NFNs with seed i on the protocol's one split" if rank_protocol == "nfn" else
                      f"probes the split of seed {split_seed} + i with each run's replicate i (trained with seed i on "
                      "that split)")
        extra.append(f"- {seeds} replicates: replicate i {replicates}." + ("" if table == "table7" else
                     " Bold: the best mean of its row (Tables 1, 2 and the ranking: column) where its lead over every "
                     "other cell exceeds their two standard deviations added; no bold, no clear winner."))
    running = [f"{path} ({progress})" for dirs in runs.values() for d in dirs.split(",") for i in range(seeds)
               if (progress := unfinished(path := replicate_dir(d, i)))]
    if running:  # a table from a run still training reads its best model so far: say so where it is read
        extra.append("- Not finished when this table was made, so its numbers will change (its best model so far "
                     "stood in): " + ", ".join(running) + ".")
    if extra:  # a list right under the table (Table 7 has no notes of its own) would read as one of its rows
        body += ("\n" if body.splitlines()[-1].startswith("- ") else "\n\n") + "\n".join(extra)
    key = f"{table}:{name}" + (f":{reduction}" if reduction else "") + variant
    return key, title, body


_CELL = re.compile(r"^\**(-?\d+(?:\.\d+)?)(?: ± (\d+(?:\.\d+)?))?\**")


def read_section(path, key: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The first table of a results.md section, as written by `side_by_side`: (means, sds, title).
    A cell without "± sd" (one seed) has a NaN sd; the paper's numbers in parentheses are dropped."""
    text = Path(path).read_text()
    found = re.search(rf"<!-- BEGIN {re.escape(key)} -->\n### (.*?)\n(.*?)<!-- END {re.escape(key)} -->", text, re.S)
    if found is None:
        raise ValueError(f"{path} has no section {key!r}")
    lines = [line for line in found[2].splitlines() if line.startswith("|")]
    if len(lines) < 3:
        raise ValueError(f"section {key!r} of {path} holds no table")
    columns = [c.strip() for c in lines[0].strip("|").split("|")][1:]
    means, sds = {}, {}
    for line in lines[2:]:
        if not line.startswith("| "):
            break
        name, *cells = [c.strip() for c in line.strip("|").split("|")]
        parsed = [_CELL.match(c) for c in cells]
        means[name] = [float(m[1]) if m else np.nan for m in parsed]
        sds[name] = [float(m[2]) if m and m[2] else np.nan for m in parsed]
    return (pd.DataFrame.from_dict(means, orient="index", columns=columns),
            pd.DataFrame.from_dict(sds, orient="index", columns=columns), found[1])


def against_documented(table: pd.DataFrame, results, key: str, rows=("Eph", "Acc", "GGap"), columns=("s(W)", "E_cD")) -> str:
    """A fresh probe table beside the documented section `key` of `results`: per cell ours, the
    documented mean ± sd, and whether ours lies within two standard deviations of that mean."""
    mean, sd, title = read_section(results, key)
    compared = []
    for column in columns:
        for row in rows:
            ours, m, s = table.loc[row, column], mean.loc[row, column], sd.loc[row, column]
            compared.append({"feature": column, "target": row, "this run": f"{ours:.1f}",
                             "documented": f"{m:.1f}" if np.isnan(s) else f"{m:.1f} ± {s:.1f}",
                             "": "(one seed: no spread)" if np.isnan(s) else
                             "within 2 sd" if abs(ours - m) <= 2 * s else "outside 2 sd"})
    frame = pd.DataFrame(compared).set_index(["feature", "target"])
    return f"beside {results}, '{title}':\n{frame.to_string()}"


RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results.md"  # a checkout's documented results


def headline(table: pd.DataFrame, run: str, targets=("Eph", "Acc", "GGap"), documented: tuple | None = None,
             paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """z of `run` against the best baseline on each target: this run's scores, and where given the
    documented mean ± sd over seeds (`documented`: `read_section`'s means and sds) and the paper's.

    One row per target: z and the best other column (by the documented means where they hold the
    target, else by this run's scores), z's lead, and the verdict. A winner is called only from the
    documented seeds, where the lead of the means exceeds the two standard deviations added
    (`clear_winners`' rule); one run alone gives no spread, so its verdict is "one run: no spread"."""
    rows = []
    for target in [t for t in targets if t in table.index]:
        scores = table.loc[target].drop(run).dropna()
        best = scores.idxmax()
        if documented is not None and target in documented[0].index:
            known = documented[0].loc[target].reindex(scores.index).dropna()
            best = known.idxmax() if len(known) else best
        row = {"target": target, "z": table.loc[target, run], "best baseline": best,
               "baseline": scores[best], "lead": table.loc[target, run] - scores[best]}
        verdict = "one run: no spread"
        if documented is not None:
            mean, sd = documented
            if run in mean.columns and best in mean.columns and target in mean.index:
                lead, spread = mean.loc[target, run] - mean.loc[target, best], sd.loc[target, run] + sd.loc[target, best]
                row.update({"z documented": f"{mean.loc[target, run]:.1f} ± {sd.loc[target, run]:.1f}",
                            "baseline documented": f"{mean.loc[target, best]:.1f} ± {sd.loc[target, best]:.1f}",
                            "documented lead": lead, "spread": spread})
                bold = clear_winners(mean.loc[[target], [run, best]], sd.loc[[target], [run, best]]).loc[target]
                verdict = "z ahead" if bold[run] else "baseline ahead" if bold[best] else "level"
        if paper is not None and target in paper.index:
            row.update({"z paper": paper.loc[target].get(run, np.nan), "baseline paper": paper.loc[target].get(best, np.nan)})
        rows.append({**row, "verdict": verdict})
    return pd.DataFrame(rows).set_index("target")


def headline_sentences(frame: pd.DataFrame, run: str) -> str:
    """The verdicts of `headline` in words (Markdown), one sentence per target."""
    sentences = []
    for target, row in frame.iterrows():
        here = (f"**{target}**: z ({run}) {row['z']:.1f} against the best baseline, {row['best baseline']} "
                f"{row['baseline']:.1f}, a lead of {row['lead']:+.1f} in this run")
        if row["verdict"] == "one run: no spread":
            sentences.append(here + "; one run cannot tell a winner.")
            continue
        seeds = (f"over the documented seeds {row['z documented']} against {row['baseline documented']}, a lead "
                 f"of {row['documented lead']:+.1f} against a spread of {row['spread']:.1f}")
        word = {"z ahead": "z is ahead", "baseline ahead": f"{row['best baseline']} is ahead",
                "level": "level, no winner"}[row["verdict"]]
        sentences.append(f"{here}; {seeds}: {word}.")
    return "\n".join(f"- {s}" for s in sentences)
