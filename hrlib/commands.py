"""What each `hrlib` subcommand does, given its parsed and checked arguments (`hrlib.cli` reads them)."""

from __future__ import annotations

import os
import shlex
import sys
import time
import traceback
from pathlib import Path

from hrlib.errors import OutputError
from hrlib.files import atomic, check_owned, kind_of, writable_dir, writable_file

PRINTED_ROWS = 20  # checkpoints `hrlib predict` prints; --out writes them all


def output_file(path, option: str, *others: tuple[str, str | None]) -> Path:
    """`path`, once it can be written, lies in no folder hrlib wrote (a table never replaces a zoo's manifest or
    a run's checkpoint) and is none of the `others` (option, path) this command also writes."""
    full = Path(os.path.realpath(path))  # a symlink into a zoo is inside the zoo
    for folder in full.parents:
        kind = kind_of(folder)
        if kind is not None:
            raise OutputError(f"{path}: inside {folder}, an hrlib {kind} folder, where hrlib writes nothing else; "
                              f"choose another {option}")
    for other, where in others:
        there = None if where is None else Path(os.path.realpath(where))
        if there == full:
            raise OutputError(f"{path}: named by both {option} and {other}; give each its own file")
        if there in full.parents:
            raise OutputError(f"{path}: {option} inside {other} {where}; choose another {option}")
    return writable_file(path)


def zoo_create(args):
    from hrlib.zoos.build import create_zoo
    from hrlib.zoos.cluster import create_zoo_ray
    from hrlib.zoos.presets import get_preset
    from hrlib.zoos.summary import describe

    changes = {} if args.shard_size is None else {"shard_size": args.shard_size}
    preset = get_preset(args.preset).override(
        models=args.models, epochs=args.epochs, train_subset=args.train_subset, **changes
    )
    if args.dry_run:
        from hrlib.zoos.estimate import estimate

        print(estimate(preset, args.device))
        return
    if args.ray is None:
        zoo = create_zoo(preset, args.out, device=args.device, progress=not args.quiet)
    else:
        zoo = create_zoo_ray(preset, args.out, args.ray or None, device=args.device, cpus_per_task=args.cpus_per_task,
                             max_retries=args.retries, progress=not args.quiet)
    print(describe(zoo))


def zoo_info(args):
    from hrlib import load_zoo
    from hrlib.zoos.summary import describe

    print(describe(load_zoo(args.dir, verify=not args.no_verify)))


def zoo_presets(args):
    from hrlib.zoos.presets import PRESETS

    for preset in PRESETS.values():
        print(f"{preset.name:24s} {len(preset.specs()):6d} models × {preset.epochs:3d} epochs  {preset.description}")


def zoo_import(args):
    from hrlib.zoos import importers
    from hrlib.zoos.summary import describe

    zoo = importers.import_zoo(args.format, args.src, args.out, architecture=args.architecture,
                               properties=args.properties)
    print(describe(zoo))


def data_status(args):
    from hrlib.datasets import idx

    missing = False
    print(f"hrlib data cache: {idx.cache_dir() / 'data'}")
    for name, splits in idx.status().items():
        for split, where in splits.items():
            print(f"  {name:14s} {split:5s} {where}")
            missing |= where == "missing"
    return 1 if args.check and missing else 0


def data_add(args):
    from hrlib.datasets import idx

    added, rejected = idx.add_to_cache(args.dir)
    print(f"added {len(added)} file(s) to {idx.cache_dir() / 'data'}" + "".join(f"\n  {a}" for a in added))
    for path, reason in rejected.items():
        print(f"hrlib: skipped {path}: {reason}", file=sys.stderr)
    return 1 if rejected and not added else 0


def data_fetch(args):
    from hrlib.datasets import idx

    print(f"{args.name}: {idx.fetch(args.name)}")


def train(args):
    from hrlib import load_zoo
    from hrlib.hyper.config import configure
    from hrlib.hyper.train import train_replicates

    zoo = load_zoo(args.zoo)
    changes = {k: v for k, v in (("lr", args.lr), ("batch_size", args.batch_size), ("seed", args.seed),
                                 ("split_seed", args.split_seed), ("split_fractions", args.split),
                                 ("precision", args.precision)) if v is not None}
    changes["model"] = {k: v for k, v in (("latent", args.latent), ("standardize", args.standardize)) if v is not None}
    config = configure(zoo, args.recipe or "", args.loss or "", args.encoder or "", args.epochs, args.gamma,
                       args.augment or "", device=args.device, reduction=args.reduction, **changes)
    for run in train_replicates(zoo, args.out, config, args.seeds, device=args.device, progress=not args.quiet):
        print(f"{run.path}: {run.model_config.name} {run.config.loss.name}, seed {run.config.seed}, split seed "
              f"{run.config.split_seed}, test reconstruction R² {run.result['test_r2']:.3f} "
              f"(best epoch {run.result['best_epoch']} of {run.config.epochs})")


# The options that size each baseline, for naming the one a failed fit inside scikit-learn or UMAP came from.
_SIZED_BY = {"umap": ("UMAP", ("umap_components",)), "sklearn.decomposition._kernel_pca":
             ("kernel PCA", ("n_components", "max_fit_rows")), "sklearn.decomposition": ("PCA", ("n_components",))}


def _fit_failure(err: Exception, args) -> ValueError | None:
    """`err`, raised inside UMAP's or scikit-learn's decomposition code, as a line naming the options that sized it."""
    modules = [frame.f_globals.get("__name__", "") for frame, _ in traceback.walk_tb(err.__traceback__)]
    for prefix, (what, options) in _SIZED_BY.items():
        if any(m == prefix or m.startswith(prefix + ".") for m in modules):
            given = " and ".join(f"--{o.replace('_', '-')} {getattr(args, o)}" for o in options)
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            return ValueError(f"{what} cannot be fitted on this zoo with {given} ({message}); choose fewer components")
    return None


def probe(args):
    import pandas as pd

    from hrlib import load_zoo
    from hrlib.evaluate.features import BASELINES, runs_as_features, select_baselines
    from hrlib.evaluate.tables import evaluate_probes, extrapolation_note, over_seeds
    from hrlib.hyper.runs import replicate_runs

    runs = args.runs or {}
    if args.save and (args.seeds > 1 or not runs):
        raise ValueError("--save stores the probes of one replicate's runs: give --run, and no --seeds")
    if args.save:
        check_owned(args.save, "probes", "--save")
        writable_dir(Path(args.save).parent)
    # every output is checked before any work, as are the runs below
    out = output_file(args.out, "--out", ("--predictions", args.predictions), ("--save", args.save))
    predictions = output_file(args.predictions, "--predictions", ("--save", args.save)) if args.predictions else None
    zoo = load_zoo(args.zoo)
    replicates = [runs_as_features(replicate_runs(runs, i), zoo, args.split_seed + i) for i in range(args.seeds)]
    wanted = list(BASELINES) if args.features is None else args.features
    reports = []
    for i, replicate in enumerate(replicates):
        try:
            features = select_baselines(zoo.layout, wanted, args.n_components, args.max_fit_rows,
                                        args.umap_components) | replicate
            reports.append(evaluate_probes(zoo, features, args.targets, split_seed=args.split_seed + i,
                                           standardize=True if args.standardize else None))
        except (ValueError, TypeError) as err:
            failure = _fit_failure(err, args)
            if failure is None:
                raise
            raise failure from err
    mean, sd = over_seeds([report.table for report in reports])
    metric = reports[0].details.drop_duplicates("target").set_index("target")["metric"]
    table = mean.round(2)
    if sd is not None:  # each feature set's column, then its standard deviation over the replicates
        table = pd.concat([table, sd.round(2).add_suffix(" sd")], axis=1)[
            [c for f in mean.columns for c in (f, f"{f} sd")]]
    table.insert(0, "metric", metric.reindex(table.index))
    with atomic(out) as tmp:
        table.to_csv(tmp)
    if predictions:
        with atomic(predictions) as tmp:
            pd.concat([r.predictions.assign(replicate=i) for i, r in enumerate(reports)]).to_csv(tmp, index=False)
    if sd is None:
        print(table.to_string())
    else:
        print(f"test scores, mean ± sd over {args.seeds} replicates (split seeds {args.split_seed}.."
              f"{args.split_seed + args.seeds - 1}):")
        print(mean.round(1).astype(str).add(" ± ").add(sd.round(1).astype(str)).to_string())
    for note in [*reports[0].notes, extrapolation_note(mean)]:
        if note:
            print(f"note: {note}")
    print("seconds per feature set: " + ", ".join(f"{k} {v:.1f}" for k, v in reports[0].feature_seconds.items()))
    if args.save:
        from hrlib.evaluate.saved import save_probes

        print(f"probes of {', '.join(replicates[0])} saved to {save_probes(reports[0], runs, args.save, zoo)}")


def predict(args):
    import pandas as pd

    from hrlib.evaluate.saved import predict_checkpoints

    out = output_file(args.out, "--out") if args.out else None
    table, scores = predict_checkpoints(args.run_dir, args.probes, args.checkpoints)
    print("reliability: each probe's score on the test split of the zoo it was fitted on")
    for target, row in scores.iterrows():
        tau = "" if pd.isna(row["tau"]) else f", Kendall τ {row['tau']:.3f}"
        print(f"  {target:6s} test {row['metric']} {row['test']:.1f}%{tau}")
        table[f"{target} probe test {row['metric']}"] = row["test"]
        table[f"{target} probe tau"] = row["tau"]
    predicted = [c for c in table.columns if c.endswith(" predicted")]
    shown = table[["checkpoint", *predicted]]
    print(shown.head(PRINTED_ROWS).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if len(table) > PRINTED_ROWS:
        print(f"... {len(table) - PRINTED_ROWS} more checkpoints" + ("" if out else "; pass --out FILE.csv for all"))
    if out:
        with atomic(out) as tmp:
            table.to_csv(tmp, index=False)
        print(f"{len(table)} checkpoints written to {out}")


def sample(args):
    from hrlib import load_zoo
    from hrlib.hyper.sampling import compare_starts, summarize

    out = output_file(args.out, "--out") if args.out else None
    zoo = load_zoo(args.zoo)
    table, samples = compare_starts(args.run_dir, zoo, args.n, epochs=args.epochs, epoch=args.epoch, top=args.top,
                                    seed=args.seed, bandwidth=args.bandwidth, device=args.device)
    chosen = "" if args.bandwidth else ", chosen by cross-validation"
    print(f"{args.n} networks sampled from a kernel density (bandwidth {samples.bandwidth:.3g} sd{chosen}) over the z of "
          f"the {len(samples.anchors)} best training-split checkpoints at epoch {samples.epoch} (top {args.top:.0%} "
          f"by test accuracy); test accuracy in %, mean ± sd over the networks, after each epoch of training:")
    print(summarize(table).to_string())
    if out:
        with atomic(out) as tmp:
            table.to_csv(tmp, index=False)
        print(f"per network: {out}")


def _check_reproduce(args):
    """What `hrlib reproduce` can tell is wrong with its arguments before it loads anything."""
    from hrlib.paper.numbers import PAPER, PAPER_ZOO_STATISTICS

    runs = args.runs or {}
    if args.table == "table7":
        if len(args.zoos) < 2:
            raise ValueError(f"table7 transfers probes between zoos: give two or more zoo directories, got only "
                             f"{args.zoos[0]}")
        seen = {}
        for zoo in args.zoos:
            first = seen.get(os.path.realpath(zoo))
            if first is not None:
                same = f"{zoo} is given twice" if first == zoo else f"{first} and {zoo} are the same zoo"
                raise ValueError(f"table7: {same}; give each zoo once")
            seen[os.path.realpath(zoo)] = zoo
        for name, dirs in runs.items():
            if "" in dirs.split(","):
                raise ValueError(f"--run {name}={dirs}: an empty run directory between commas; give one run "
                                 f"directory per zoo, NAME=DIR_ZOO1,DIR_ZOO2,...")
    elif len(args.zoos) > 1:
        raise ValueError(f"{args.table} reads one zoo, got {len(args.zoos)}: {' '.join(args.zoos)}")
    if args.target is not None and args.table != "table7":
        raise ValueError(f"--target chooses table7's target; {args.table} scores its own, so leave --target out")
    if args.train and args.table not in ("table1", "table2", "table3"):
        raise ValueError(f"--train trains the runs of tables 1-3; {args.table} reads runs given with --run")
    if args.epochs is not None and not args.train and args.table != "rank":
        raise ValueError("--epochs sets the training that --train starts; add --train, or leave --epochs out")
    if args.epochs is not None and args.table == "rank" and args.peers is False:
        raise ValueError("--epochs sets the training of rank's NFN predictors, which --no-peers leaves out; leave "
                         "out one of them")
    ranking = {"--peers/--no-peers": args.peers is not None, "--protocol": args.protocol is not None,
               "--row-order": args.row_order is not None}
    given = [option for option, set_ in ranking.items() if set_]
    if given and args.table != "rank":
        raise ValueError(f"{given[0]} sets up the ranking benchmark; {args.table} has no use for it")
    if args.row_order is not None and args.protocol != "nfn":
        raise ValueError("--row-order orders the Small CNN Zoo's rows for --protocol nfn; add it, or leave "
                         "--row-order out")
    if args.protocol == "nfn" and runs:
        raise ValueError("--protocol nfn ranks on the Small CNN Zoo's own split, which no hyper-representation is "
                         "trained on; leave --run out, or rank runs with the hrlib protocol")
    if args.table in ("table1", "table2", "table3") and not (runs or args.train):
        raise ValueError(f"{args.table} compares hyper-representations: give them with --run NAME=DIR, or add "
                         "--train to train them")
    if args.table == "recipe" and not runs:
        raise ValueError("recipe compares runs of one zoo: give each with --run NAME=DIR")
    known = sorted({name for table, name in PAPER if table != "table7"} | set(PAPER_ZOO_STATISTICS.index))
    if args.paper is not None and args.paper not in known:
        raise ValueError(f"--paper {args.paper}: not one of the paper's zoos; known: {', '.join(known)}")
    if args.results and Path(args.results).suffix.lower() not in (".md", ".markdown"):
        raise ValueError(f"--results {args.results}: not a Markdown file (.md); hrlib rewrites a section of it, "
                         "so name a Markdown file such as docs/results.md")


def reproduce(args):
    from hrlib.paper import tables as rep

    _check_reproduce(args)
    command = "hrlib " + " ".join(shlex.quote(a) for a in args.argv)
    if args.results:
        output_file(args.results, "--results")  # before the tables are computed, not after
    start = time.perf_counter()
    key, title, body = rep.reproduce(
        args.table, args.zoos, args.runs or {}, seeds=args.seeds, split_seed=args.split_seed, paper=args.paper,
        features=args.features, target=args.target or "ggap", train=args.train, epochs=args.epochs,
        runs_dir=args.runs_dir, reduction=args.reduction, progress=not args.quiet,
        rank_protocol=args.protocol or "hrlib", row_order=args.row_order, peers=args.peers, device=args.device)
    text = rep.section(key, title, body, command, time.perf_counter() - start)
    print(text)
    if args.results:
        print(f"written to {rep.write_section(args.results, key, text)}")
