"""`hrlib …` commands for batch work: data, zoos (build, import, inspect), training, probing, reproducing tables."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

from hrlib.errors import MissingExtra, RayUnavailable, ShardsFailed
from hrlib.files import atomic, check_owned, writable_dir, writable_file
from hrlib.zoos.zoo import ZooError

PRINTED_ROWS = 20  # checkpoints `hrlib predict` prints; --out writes them all


def _zoo_create(args):
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


def _zoo_info(args):
    from hrlib import load_zoo
    from hrlib.zoos.summary import describe

    print(describe(load_zoo(args.dir, verify=not args.no_verify)))


def _zoo_presets(args):
    from hrlib.zoos.presets import PRESETS

    for preset in PRESETS.values():
        print(f"{preset.name:24s} {len(preset.specs()):6d} models × {preset.epochs:3d} epochs  {preset.description}")


def _train(args):
    from hrlib import load_zoo
    from hrlib.hyper.config import configure
    from hrlib.hyper.train import train_replicates

    zoo = load_zoo(args.zoo)
    changes = {k: v for k, v in (("lr", args.lr), ("batch_size", args.batch_size), ("seed", args.seed),
                                 ("split_seed", args.split_seed), ("split_fractions", args.split)) if v is not None}
    if args.latent is not None:
        changes["model"] = {"latent": args.latent}
    config = configure(zoo, args.recipe or "", args.loss or "", args.encoder or "", args.epochs, args.gamma,
                       args.augment or "", device=args.device, reduction=args.reduction, **changes)
    for run in train_replicates(zoo, args.out, config, args.seeds, device=args.device, progress=not args.quiet):
        print(f"{run.path}: {run.model_config.name} {run.config.loss.name}, seed {run.config.seed}, split seed "
              f"{run.config.split_seed}, test reconstruction R² {run.result['test_r2']:.3f} "
              f"(best epoch {run.result['best_epoch']} of {run.config.epochs})")


def _zoo_import(args):
    from hrlib.zoos import importers
    from hrlib.zoos.summary import describe

    zoo = importers.import_zoo(args.format, args.src, args.out, architecture=args.architecture,
                               properties=args.properties)
    print(describe(zoo))


def _data_status(args):
    from hrlib.datasets import idx

    missing = False
    print(f"hrlib data cache: {idx.cache_dir() / 'data'}")
    for name, splits in idx.status().items():
        for split, where in splits.items():
            print(f"  {name:14s} {split:5s} {where}")
            missing |= where == "missing"
    return 1 if args.check and missing else 0


def _data_add(args):
    from hrlib.datasets import idx

    added, rejected = idx.add_to_cache(args.dir)
    print(f"added {len(added)} file(s) to {idx.cache_dir() / 'data'}" + "".join(f"\n  {a}" for a in added))
    for path, reason in rejected.items():
        print(f"hrlib: skipped {path}: {reason}", file=sys.stderr)
    return 1 if rejected and not added else 0


def _data_fetch(args):
    from hrlib.datasets import idx

    print(f"{args.name}: {idx.fetch(args.name)}")

def _runs(specs) -> dict[str, str]:
    """--run values, DIR or NAME=DIR, as name → directory (the name defaults to the directory's)."""
    runs = {}
    for spec in specs or []:
        name, _, path = spec.rpartition("=")
        runs[name or path.rstrip("/").split("/")[-1]] = path
    return runs


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        fractions = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three fractions such as 0.7,0.15,0.15, got {text!r}") from None
    if len(fractions) != 3:
        raise argparse.ArgumentTypeError(f"expected three fractions such as 0.7,0.15,0.15, got {text!r}")
    return fractions


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _probe(args):
    import pandas as pd

    from hrlib import load_zoo
    from hrlib.evaluate.features import BASELINES, runs_as_features, select_baselines
    from hrlib.evaluate.tables import evaluate_probes, extrapolation_note, over_seeds
    from hrlib.hyper.runs import replicate_runs

    if args.seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {args.seeds}")
    if args.save and (args.seeds > 1 or not args.runs):
        raise ValueError("--save stores the probes of one replicate's runs: give --run, and no --seeds")
    if args.save:
        check_owned(args.save, "probes", "--save")
        writable_dir(Path(args.save).parent)
    out = writable_file(args.out)  # checked before any work, as are the predictions' file and the runs
    predictions = writable_file(args.predictions) if args.predictions else None
    zoo = load_zoo(args.zoo)
    replicates = [runs_as_features(replicate_runs(_runs(args.runs), i), zoo, args.split_seed + i)
                  for i in range(args.seeds)]
    wanted = list(BASELINES) if args.features is None else _names(args.features)
    reports = []
    for i, runs in enumerate(replicates):
        features = select_baselines(zoo.layout, wanted, args.n_components, args.max_fit_rows, args.umap_components) | runs
        reports.append(evaluate_probes(zoo, features, _names(args.targets), split_seed=args.split_seed + i,
                                       standardize=True if args.standardize else None))
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

        print(f"probes of {', '.join(replicates[0])} saved to {save_probes(reports[0], _runs(args.runs), args.save, zoo)}")


def _predict(args):
    import pandas as pd

    from hrlib.evaluate.saved import predict_checkpoints

    out = writable_file(args.out) if args.out else None
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


def _sample(args):
    from hrlib import load_zoo
    from hrlib.hyper.sampling import compare_starts, summarize

    out = writable_file(args.out) if args.out else None
    if args.n < 2 or args.epochs < 0:
        raise ValueError(f"--n must be at least 2 and --epochs at least 0, got {args.n} and {args.epochs}")
    zoo = load_zoo(args.zoo)
    table, samples = compare_starts(args.run_dir, zoo, args.n, epochs=args.epochs, epoch=args.epoch, top=args.top,
                                    seed=args.seed, device=args.device)
    print(f"{args.n} networks sampled from a kernel density (bandwidth {samples.bandwidth:.3g} sd) over the z of "
          f"the {len(samples.anchors)} best training-split checkpoints at epoch {samples.epoch} (top {args.top:.0%} "
          f"by test accuracy); test accuracy in %, mean ± sd over the networks, after each epoch of training:")
    print(summarize(table).to_string())
    if out:
        with atomic(out) as tmp:
            table.to_csv(tmp, index=False)
        print(f"per network: {out}")


def _reproduce(args):
    from hrlib.paper import tables as rep

    command = "hrlib " + " ".join(shlex.quote(a) for a in args.argv)
    if args.results:
        writable_file(args.results)  # before the tables are computed, not after
    start = time.perf_counter()
    key, title, body = rep.reproduce(
        args.table, args.zoos, _runs(args.runs), seeds=args.seeds, split_seed=args.split_seed, paper=args.paper,
        features=_names(args.features), target=args.target, train=args.train, epochs=args.epochs,
        runs_dir=args.runs_dir, reduction=args.reduction, progress=not args.quiet)
    text = rep.section(key, title, body, command, time.perf_counter() - start)
    print(text)
    if args.results:
        print(f"written to {rep.write_section(args.results, key, text)}")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="hrlib", description=__doc__)
    top.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = top.add_subparsers(dest="command", required=True)

    zoo = commands.add_parser("zoo", help="build and inspect model zoos").add_subparsers(dest="zoo_command", required=True)
    create = zoo.add_parser("create", help="train a zoo from a preset (resumes an interrupted build)")
    create.add_argument("preset", help="preset name; see `hrlib zoo presets`")
    create.add_argument("--out", required=True, help="directory to write the zoo to (must not exist)")
    create.add_argument("--models", type=int, help="keep only this many models (quick runs)")
    create.add_argument("--epochs", type=int, help="train for this many epochs instead")
    create.add_argument("--train-subset", type=int, help="train on a seeded, class-stratified subset of this many images")
    create.add_argument("--shard-size", type=int, help="models per shard, the unit of resumption (preset default)")
    create.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    create.add_argument("--quiet", action="store_true", help="no progress bar")
    create.add_argument("--dry-run", action="store_true",
                        help="print the zoo's size, disk and estimated time here (from a short calibration run), "
                             "then stop; nothing is written")
    create.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                        help="run the shards as Ray tasks: on the cluster at ADDRESS (auto, HOST:6379, "
                             "ray://HOST:10001) or, without one, on a new local Ray (pip install 'hrlib[ray]')")
    create.add_argument("--cpus-per-task", type=int, default=1,
                        help="with --ray on CPUs: cores per shard task, and its torch threads (default 1)")
    create.add_argument("--retries", type=int, default=3,
                        help="with --ray: reruns of a shard whose worker died or that failed (default 3)")
    create.set_defaults(run=_zoo_create)

    info = zoo.add_parser("info", help="summarise a zoo directory")
    info.add_argument("dir")
    info.add_argument("--no-verify", action="store_true", help="skip checksums and the NaN scan")
    info.set_defaults(run=_zoo_info)

    presets = zoo.add_parser("presets", help="list the presets")
    presets.set_defaults(run=_zoo_presets)

    imp = zoo.add_parser("import", help="convert a zoo in another format into an hrlib zoo")
    imp.add_argument("format", choices=["unterthiner", "modelzoos", "state_dicts"],
                     help="unterthiner: Small CNN Zoo (weights.npy, metrics.csv, layout.csv); modelzoos: "
                          "Model Zoos 2022 ray.tune directories; state_dicts: a folder of PyTorch state_dicts")
    imp.add_argument("src", help="the directory to read")
    imp.add_argument("--out", required=True, help="directory to write the zoo to (must not exist)")
    imp.add_argument("--architecture", help="the zoo networks' architecture, e.g. cnn_s (default: inferred from the weights)")
    imp.add_argument("--properties", help="state_dicts: CSV with a 'file' column and per-checkpoint properties")
    imp.set_defaults(run=_zoo_import)

    data = commands.add_parser("data", help="find, fetch and cache image data sets").add_subparsers(
        dest="data_command", required=True)
    st = data.add_parser("status", help="where MNIST and Fashion-MNIST are found (checksums verified)")
    st.add_argument("--check", action="store_true", help="exit 1 when anything is missing")
    st.set_defaults(run=_data_status)
    add = data.add_parser("add", help="copy known IDX files found under DIR (by sha256) into the cache")
    add.add_argument("dir")
    add.set_defaults(run=_data_add)
    fetch = data.add_parser("fetch", help="download a data set from its public mirrors into the cache")
    fetch.add_argument("name", choices=["mnist", "fashion_mnist"])
    fetch.set_defaults(run=_data_fetch)

    tr = commands.add_parser("train", help="train a hyper-representation on a zoo (resumes an interrupted run)")
    tr.add_argument("zoo", help="zoo directory")
    tr.add_argument("--out", required=True, help="run directory")
    tr.add_argument("--recipe", help="tetris_cpu, tetris_paper, mnist_cpu, mnist_paper, unterthiner_paper "
                                      "(default: the CPU recipe for the zoo's size)")
    tr.add_argument("--loss", help="ED, E_c, E_cD or E_c+D")
    tr.add_argument("--gamma", type=float, help="weight of the contrastive term")
    tr.add_argument("--reduction", choices=("mean", "sum"),
                    help="reconstruction error over weights: mean (the authors' code) or sum (the paper's text)")
    tr.add_argument("--encoder", "--arch", dest="encoder", help="FF, Att_W, Att_W+t, Att_N or Att_N+t")
    tr.add_argument("--augment", help="augmentations: -, P, E, N or combinations such as P,E")
    tr.add_argument("--epochs", type=int)
    tr.add_argument("--latent", type=int, help="size of z (default: the recipe's)")
    tr.add_argument("--lr", type=float)
    tr.add_argument("--batch-size", type=int)
    tr.add_argument("--seed", type=int, help="training seed (default 0)")
    tr.add_argument("--split-seed", type=int, help="seed of the by-model split (default 0)")
    tr.add_argument("--seeds", type=int, default=1, metavar="N",
                    help="train N replicates side by side: OUT with the seeds given, OUT-s1, OUT-s2, ... with "
                         "training and split seed each moved on by 1 (default 1)")
    tr.add_argument("--split", type=_fractions, metavar="TRAIN,VAL,TEST",
                    help="fractions of the by-model split (default 0.7,0.15,0.15; `hrlib reproduce rank` uses 0.4,0.1,0.5)")
    tr.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(run=_train)

    probe = commands.add_parser("probe", help="linear probes of a zoo's properties from its weights or z")
    probe.add_argument("zoo", help="zoo directory")
    probe.add_argument("--run", dest="runs", action="append", metavar="[NAME=]RUN_DIR",
                       help="a trained hyper-representation; its z becomes a feature set (repeatable)")
    probe.add_argument("--out", required=True, help="CSV file for the table (targets × feature sets, %%)")
    probe.add_argument("--features", help="comma-separated baselines (default W,PCA_l,PCA_c,PCA_r,UMAP,s(W); "
                                          "also s_U(W); sW for s(W); '' for none)")
    probe.add_argument("--targets", help="comma-separated property columns or paper names (default: all of the paper's)")
    probe.add_argument("--split-seed", type=int, default=0, help="seed of the by-model split (must match the run's)")
    probe.add_argument("--seeds", type=int, default=1, metavar="N",
                       help="mean and sd over N replicates: split seeds SPLIT_SEED.., each run's replicates RUN, "
                            "RUN-s1, ... (train them with `hrlib train --seeds N`)")
    probe.add_argument("--standardize", action="store_true", help="standardize features before every probe")
    probe.add_argument("--n-components", type=int, default=50, help="PCA components (default 50)")
    probe.add_argument("--umap-components", type=int, default=2, help="UMAP components (default 2)")
    probe.add_argument("--max-fit-rows", type=int, default=5000, help="training rows kernel PCA is fitted on")
    probe.add_argument("--predictions", help="CSV file for the test predictions (feature, target, true, predicted)")
    probe.add_argument("--save", metavar="DIR",
                       help="store the fitted probes of each run's z in DIR (no pickled code), for `hrlib predict`")
    probe.set_defaults(run=_probe)

    predict = commands.add_parser("predict", help="predict checkpoints' accuracy, gap and epoch from their weights")
    predict.add_argument("run_dir", metavar="RUN", help="the hyper-representation whose z the probes read")
    predict.add_argument("probes", help="probe folder written by `hrlib probe ZOO --run NAME=RUN --save DIR`")
    predict.add_argument("checkpoints", nargs="+",
                         help="hrlib zoo folders, folders of PyTorch state_dicts (searched recursively) or single "
                              "checkpoint files, of the run's architecture")
    predict.add_argument("--out", help="CSV file: one row per checkpoint, predictions and each probe's test score")
    predict.set_defaults(run=_predict)

    sample = commands.add_parser("sample", help="sample new networks from a hyper-representation and fine-tune them "
                                                "beside fresh and the zoo's own networks")
    sample.add_argument("run_dir", metavar="RUN", help="a hyper-representation trained with a decoder (ED, E_cD, E_c+D)")
    sample.add_argument("zoo", help="the zoo it was trained on")
    sample.add_argument("--n", type=int, default=50, help="networks per start (default 50)")
    sample.add_argument("--epochs", type=int, default=5, help="epochs of training from each start (default 5)")
    sample.add_argument("--epoch", type=int, help="the zoo epoch whose best checkpoints anchor the density (default: last)")
    sample.add_argument("--top", type=float, default=0.3, help="fraction of checkpoints, by test accuracy, that anchor it")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    sample.add_argument("--out", help="CSV file: start, network, epoch, test and train accuracy")
    sample.set_defaults(run=_sample)

    reproduce = commands.add_parser("reproduce", help="recompute one of the paper's tables into docs/results.md")
    reproduce.add_argument("table", choices=["table1", "table2", "table3", "table4", "table5", "table6", "table7",
                                             "rank", "recipe"],
                           help="one of the paper's tables; rank: the ranking benchmark of later work; recipe: "
                                "candidate runs of one zoo compared on its validation split")
    reproduce.add_argument("zoos", nargs="+", help="zoo directory (table7: two or more of one architecture)")
    reproduce.add_argument("--run", dest="runs", action="append", metavar="NAME=RUN_DIR",
                           help="a hyper-representation (table7: NAME=DIR_ZOO1,DIR_ZOO2,...), repeatable")
    reproduce.add_argument("--paper", help="which of the paper's zoos to compare with (default: the zoo's preset)")
    reproduce.add_argument("--features", help="comma-separated baselines (table5: all six; table7: W,s(W))")
    reproduce.add_argument("--target", default="ggap", help="table7 target (default ggap)")
    reproduce.add_argument("--split-seed", type=int, default=0)
    reproduce.add_argument("--seeds", type=int, default=1, metavar="N",
                           help="mean ± sd over N replicates: split seeds SPLIT_SEED.., each run's replicates "
                                "RUN, RUN-s1, ... (`hrlib train --seeds N`; tables 1-3 train them with --train)")
    reproduce.add_argument("--results", help="Markdown file whose section for this table is rewritten, "
                                             "e.g. docs/results.md")
    reproduce.add_argument("--train", action="store_true",
                           help="tables 1-3: train (or resume) the runs the table compares, under --runs-dir/hr/")
    reproduce.add_argument("--epochs", type=int, help="with --train: epochs per run (default: the recipe's)")
    reproduce.add_argument("--runs-dir", default="runs", help="with --train: where runs go (default runs)")
    reproduce.add_argument("--reduction", choices=("mean", "sum"),
                           help="with --train: reconstruction error over weights, mean or sum (default: the recipe's); "
                                "the table gets its own section")
    reproduce.add_argument("--quiet", action="store_true", help="no progress bars")
    reproduce.set_defaults(run=_reproduce)
    return top


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        args.argv = argv  # the reproduction records the command that made each table
        code = args.run(args)
    except (ZooError, OSError, ValueError, MissingExtra, RayUnavailable, ShardsFailed) as err:
        print(f"hrlib: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hrlib: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return code or 0
