"""`hrlib …` commands for batch work: data, zoos (build, import, inspect), training."""

from __future__ import annotations

import argparse
import logging
import sys

from hrlib.distributed import MissingExtra, RayUnavailable, ShardsFailed, create_zoo_ray
from hrlib.zoo import ZooError


def _zoo_create(args):
    from hrlib.presets import create_zoo, describe, get_preset

    changes = {} if args.shard_size is None else {"shard_size": args.shard_size}
    preset = get_preset(args.preset).override(
        models=args.models, epochs=args.epochs, train_subset=args.train_subset, **changes
    )
    if args.ray is None:
        zoo = create_zoo(preset, args.out, device=args.device, progress=not args.quiet)
    else:
        zoo = create_zoo_ray(preset, args.out, args.ray or None, device=args.device, cpus_per_task=args.cpus_per_task,
                             max_retries=args.retries, progress=not args.quiet)
    print(describe(zoo))


def _zoo_info(args):
    from hrlib import load_zoo
    from hrlib.presets import describe

    print(describe(load_zoo(args.dir, verify=not args.no_verify)))


def _zoo_presets(args):
    from hrlib.presets import PRESETS

    for preset in PRESETS.values():
        print(f"{preset.name:24s} {len(preset.specs()):6d} models × {preset.epochs:3d} epochs  {preset.description}")


def _train(args):
    from hrlib import load_zoo
    from hrlib.augment import AugmentConfig
    from hrlib.losses import LossConfig
    from hrlib.models import named_settings
    from hrlib.train import default_recipe, get_recipe, train

    zoo = load_zoo(args.zoo)
    config = get_recipe(args.recipe or default_recipe(zoo))
    changes = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr), ("batch_size", args.batch_size),
                                 ("seed", args.seed)) if v is not None}
    if args.loss:
        changes["loss"] = LossConfig.named(args.loss, config.loss.gamma if args.gamma is None else args.gamma)
    elif args.gamma is not None:
        changes["loss"] = {"gamma": args.gamma}
    if args.augment:
        changes["augment"] = AugmentConfig.named(args.augment)
    if args.arch:
        changes["model"] = named_settings(args.arch)
    run = train(zoo, args.out, config.replace(**changes), device=args.device, progress=not args.quiet)
    print(f"{run.path}: {run.model_config.name} {run.config.loss.name}, test reconstruction R² "
          f"{run.result['test_r2']:.3f} (best epoch {run.result['best_epoch']} of {run.config.epochs})")


def _zoo_import(args):
    from hrlib import importers
    from hrlib.presets import describe

    zoo = importers.import_zoo(args.format, args.src, args.out, architecture=args.architecture,
                               properties=args.properties)
    print(describe(zoo))


def _data_status(args):
    from hrlib import mnist

    missing = False
    print(f"hrlib data cache: {mnist.cache_dir() / 'data'}")
    for name, splits in mnist.status().items():
        for split, where in splits.items():
            print(f"  {name:14s} {split:5s} {where}")
            missing |= where == "missing"
    return 1 if args.check and missing else 0


def _data_add(args):
    from hrlib import mnist

    added = mnist.add_to_cache(args.dir)
    print(f"added {len(added)} file(s) to {mnist.cache_dir() / 'data'}" + "".join(f"\n  {a}" for a in added))


def _data_fetch(args):
    from hrlib import mnist

    print(f"{args.name}: {mnist.fetch(args.name)}")


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
    imp.add_argument("--architecture", help="hrlib architecture name (default: inferred from the weights)")
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
    tr.add_argument("--arch", help="FF, Att_W, Att_W+t, Att_N or Att_N+t")
    tr.add_argument("--augment", help="augmentations: -, P, E, N or combinations such as P,E")
    tr.add_argument("--epochs", type=int)
    tr.add_argument("--lr", type=float)
    tr.add_argument("--batch-size", type=int)
    tr.add_argument("--seed", type=int)
    tr.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(run=_train)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        code = args.run(args)
    except (ZooError, FileExistsError, FileNotFoundError, ValueError, MissingExtra, RayUnavailable,
            ShardsFailed) as err:
        print(f"hrlib: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hrlib: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return code or 0
