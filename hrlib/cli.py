"""`hrlib …` commands for batch work: building and inspecting zoos."""

from __future__ import annotations

import argparse
import logging
import sys

from hrlib.zoo import ZooError


def _zoo_create(args):
    from hrlib.presets import create_zoo, describe, get_preset

    changes = {} if args.shard_size is None else {"shard_size": args.shard_size}
    preset = get_preset(args.preset).override(models=args.models, epochs=args.epochs, **changes)
    zoo = create_zoo(preset, args.out, device=args.device, progress=not args.quiet)
    print(describe(zoo))


def _zoo_info(args):
    from hrlib import load_zoo
    from hrlib.presets import describe

    print(describe(load_zoo(args.dir, verify=not args.no_verify)))


def _zoo_presets(args):
    from hrlib.presets import PRESETS

    for preset in PRESETS.values():
        print(f"{preset.name:24s} {len(preset.specs()):6d} models × {preset.epochs:3d} epochs  {preset.description}")


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
    create.add_argument("--shard-size", type=int, help="models per shard, the unit of resumption (preset default)")
    create.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    create.add_argument("--quiet", action="store_true", help="no progress bar")
    create.set_defaults(run=_zoo_create)

    info = zoo.add_parser("info", help="summarise a zoo directory")
    info.add_argument("dir")
    info.add_argument("--no-verify", action="store_true", help="skip checksums and the NaN scan")
    info.set_defaults(run=_zoo_info)

    presets = zoo.add_parser("presets", help="list the presets")
    presets.set_defaults(run=_zoo_presets)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        args.run(args)
    except (ZooError, FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"hrlib: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hrlib: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0
