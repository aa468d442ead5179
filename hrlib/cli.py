"""`hrlib …` commands for batch work: data, zoos (build, import, inspect), training, probing, reproducing tables."""

from __future__ import annotations

import argparse
import logging
import math
import os
import select
import sys
import traceback

from hrlib import commands
from hrlib.errors import MissingExtra, RayUnavailable, ShardsFailed
from hrlib.zoos.zoo import ZooError

USER_ERRORS = (ZooError, OSError, ValueError, MissingExtra, RayUnavailable, ShardsFailed)
INTERNAL = 3  # the exit status of a bug in hrlib; a refused input exits 2


class UsageError(ValueError):
    """The command line itself is wrong: an unknown option, a missing or out-of-range value."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line of `main`, not the usage text and an exit, and whose
    every command takes -v: after the command too (`hrlib probe ... -v`), where a user adds it on a rerun."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                          help="log progress details; show the traceback of a bug in hrlib")

    def error(self, message):
        if message.startswith(("the following arguments are required", "unrecognized arguments")):
            message += f"; see {self.prog} --help"
        elif message.endswith("expected one argument"):  # argparse takes `--split -1,1,1` for two options
            option = message.removeprefix("argument ").split(":")[0].split("/")[0]
            message += f"; a value that starts with '-' is given as {option}=VALUE"
        raise UsageError(message)


# ---- option types: each refuses a bad value with a line that argparse prefixes with the option's name ----

def whole(low: int, high: int | None = None):
    """An option type: a whole number from `low` (up to `high`)."""
    span = f"of at least {low}" if high is None else f"from {low} to {high:,}"

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected a whole number {span}, got {text!r}")
        return value

    return whole_number


COUNT = whole(1)
SEED = whole(0, 2**32 - 1)  # what numpy and torch accept as a seed


def fraction(text: str) -> float:
    """An option type: a fraction in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1] such as 0.3, got {text!r}")
    return value


def positive(text: str) -> float:
    """An option type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a number above 0 such as 0.1, got {text!r}")
    return value


def split_fractions(text: str) -> tuple[float, float, float]:
    """An option type: three fractions, TRAIN,VAL,TEST."""
    try:
        fractions = tuple(float(part) for part in text.split(","))
    except ValueError:
        fractions = ()
    if len(fractions) != 3:
        raise argparse.ArgumentTypeError(f"expected three fractions such as 0.7,0.15,0.15, got {text!r}")
    return fractions


def name_list(what: str, none_allowed: bool = False):
    """An option type: comma-separated names, each named once; naming none is refused unless `none_allowed`."""

    def names(text: str) -> list[str]:
        found = [t.strip() for t in text.split(",") if t.strip()]
        if not found and not none_allowed:
            raise argparse.ArgumentTypeError(f"names no {what}, got {text!r}; leave the option out for the default")
        twice = sorted({name for name in found if found.count(name) > 1})
        if twice:
            raise argparse.ArgumentTypeError(f"names {', '.join(twice)} twice, in {text!r}")
        return found

    return names


def run_spec(text: str) -> tuple[str, str]:
    """An option type: --run [NAME=]DIR as (name, directory); without a name, the run is named after its folder."""
    name, sep, path = text.partition("=")
    if not sep or os.path.isdir(text):  # a folder whose name holds '=' is a DIR, not NAME=DIR
        name, path = os.path.basename(os.path.abspath(text)) if text else "", text
    elif not name:
        raise argparse.ArgumentTypeError(f"{text!r} has no name before '='; give NAME=DIR, or DIR alone to name "
                                         "the run after its folder")
    if not path:
        raise argparse.ArgumentTypeError(f"{text!r} has no run directory; give NAME=DIR")
    if not name:
        raise argparse.ArgumentTypeError(f"{text!r}: a run cannot be named after this folder; give NAME=DIR")
    return name, path


class RunsAction(argparse.Action):
    """--run, repeatable, collected as name → directory; two runs of one name are refused, not one dropped."""

    def __call__(self, parser, namespace, value, option_string=None):
        name, path = value
        runs = dict(getattr(namespace, self.dest) or {})
        if name in runs:
            raise argparse.ArgumentError(self, f"two runs named {name}: {runs[name]} and {path}; give each its own "
                                               "NAME=DIR")
        runs[name] = path
        setattr(namespace, self.dest, runs)


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="hrlib", description=__doc__)
    subcommands = top.add_subparsers(dest=argparse.SUPPRESS, required=True)

    zoo = subcommands.add_parser("zoo", help="build and inspect model zoos").add_subparsers(dest=argparse.SUPPRESS, required=True)
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
    create.add_argument("--cpus-per-task", type=COUNT, default=1,
                        help="with --ray on CPUs: cores per shard task, and its torch threads (default 1)")
    create.add_argument("--retries", type=whole(0), default=3,
                        help="with --ray: reruns of a shard whose worker died or that failed (default 3)")
    create.set_defaults(run=commands.zoo_create)

    info = zoo.add_parser("info", help="summarise a zoo directory")
    info.add_argument("dir")
    info.add_argument("--no-verify", action="store_true", help="skip checksums and the NaN scan")
    info.set_defaults(run=commands.zoo_info)

    presets = zoo.add_parser("presets", help="list the presets")
    presets.set_defaults(run=commands.zoo_presets)

    imp = zoo.add_parser("import", help="convert a zoo in another format into an hrlib zoo")
    imp.add_argument("format", choices=["unterthiner", "modelzoos", "state_dicts"],
                     help="unterthiner: Small CNN Zoo (weights.npy, metrics.csv, layout.csv); modelzoos: "
                          "Model Zoos 2022 ray.tune directories; state_dicts: a folder of PyTorch state_dicts")
    imp.add_argument("src", help="the directory to read")
    imp.add_argument("--out", required=True, help="directory to write the zoo to (must not exist)")
    imp.add_argument("--architecture", help="the zoo networks' architecture, e.g. cnn_s (default: inferred from the weights)")
    imp.add_argument("--properties", help="state_dicts: CSV with a 'file' column and per-checkpoint properties")
    imp.set_defaults(run=commands.zoo_import)

    data = subcommands.add_parser("data", help="find, fetch and cache image data sets").add_subparsers(
        dest=argparse.SUPPRESS, required=True)
    st = data.add_parser("status", help="where MNIST and Fashion-MNIST are found (checksums verified)")
    st.add_argument("--check", action="store_true", help="exit 1 when anything is missing")
    st.set_defaults(run=commands.data_status)
    add = data.add_parser("add", help="copy known IDX files found under DIR (by sha256) into the cache")
    add.add_argument("dir")
    add.set_defaults(run=commands.data_add)
    fetch = data.add_parser("fetch", help="download a data set from its public mirrors into the cache")
    fetch.add_argument("name", choices=["mnist", "fashion_mnist"])
    fetch.set_defaults(run=commands.data_fetch)

    tr = subcommands.add_parser("train", help="train a hyper-representation on a zoo (resumes an interrupted run)")
    tr.add_argument("zoo", help="zoo directory")
    tr.add_argument("--out", required=True, help="run directory")
    tr.add_argument("--recipe", help="tetris_cpu, tetris_paper, mnist_cpu, cnnu_cpu, mnist_paper, "
                                      "unterthiner_paper (default: the CPU recipe for the zoo)")
    tr.add_argument("--loss", help="ED, E_c, E_cD or E_c+D")
    tr.add_argument("--gamma", type=float, help="weight of the contrastive term")
    tr.add_argument("--reduction", choices=("mean", "sum"),
                    help="reconstruction error over weights: mean (the authors' code) or sum (the paper's text)")
    tr.add_argument("--encoder", "--arch", dest="encoder", help="FF, Att_W, Att_W+t, Att_N or Att_N+t (default: the recipe's)")
    tr.add_argument("--augment", help="augmentations: -, P, E, N or combinations such as P,E")
    tr.add_argument("--epochs", type=int)
    tr.add_argument("--latent", type=int, help="size of z (default: the recipe's)")
    tr.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                    help="standardize each layer's weights and biases (mean and sd over the training split) before "
                         "encoding, and undo it after decoding (default: the recipe's; mnist_cpu does)")
    tr.add_argument("--lr", type=float)
    tr.add_argument("--batch-size", type=int)
    tr.add_argument("--seed", type=int, help="training seed (default 0)")
    tr.add_argument("--split-seed", type=int, help="seed of the by-model split (default 0)")
    tr.add_argument("--seeds", type=COUNT, default=1, metavar="N",
                    help="train N replicates side by side: OUT with the seeds given, OUT-s1, OUT-s2, ... with "
                         "training and split seed each moved on by 1 (default 1)")
    tr.add_argument("--split", type=split_fractions, metavar="TRAIN,VAL,TEST",
                    help="fractions of the by-model split (default 0.7,0.15,0.15; `hrlib reproduce rank` uses 0.4,0.1,0.5)")
    tr.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    tr.add_argument("--precision", choices=("float32", "bfloat16"),
                    help="bfloat16: autocast on a CPU with bfloat16 instructions (AVX-512 BF16, AMX), float32 on "
                         "one without; CUDA always trains in bfloat16 (default: the recipe's)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(run=commands.train)

    probe = subcommands.add_parser("probe", help="linear probes of a zoo's properties from its weights or z")
    probe.add_argument("zoo", help="zoo directory")
    probe.add_argument("--run", dest="runs", type=run_spec, action=RunsAction, metavar="[NAME=]RUN_DIR",
                       help="a trained hyper-representation; its z becomes a feature set (repeatable)")
    probe.add_argument("--out", required=True, help="CSV file for the table (targets × feature sets, %%)")
    probe.add_argument("--features", type=name_list("feature set", none_allowed=True),
                       help="comma-separated baselines (default W,PCA_l,PCA_c,PCA_r,UMAP,s(W); also s_U(W); sW for "
                            "s(W); '' for none)")
    probe.add_argument("--targets", type=name_list("property"),
                       help="comma-separated property columns or paper names (default: all of the paper's)")
    probe.add_argument("--split-seed", type=SEED, default=0, help="seed of the by-model split (must match the run's)")
    probe.add_argument("--seeds", type=COUNT, default=1, metavar="N",
                       help="mean and sd over N replicates: split seeds SPLIT_SEED.., each run's replicates RUN, "
                            "RUN-s1, ... (train them with `hrlib train --seeds N`)")
    probe.add_argument("--standardize", action="store_true", help="standardize features before every probe")
    probe.add_argument("--n-components", type=COUNT, default=50, help="PCA components (default 50)")
    probe.add_argument("--umap-components", type=COUNT, default=2, help="UMAP components (default 2)")
    probe.add_argument("--max-fit-rows", type=COUNT, default=5000, help="training rows kernel PCA is fitted on")
    probe.add_argument("--predictions", help="CSV file for the test predictions (feature, target, true, predicted)")
    probe.add_argument("--save", metavar="DIR",
                       help="store the fitted probes of each run's z in DIR (no pickled code), for `hrlib predict`")
    probe.set_defaults(run=commands.probe)

    predict = subcommands.add_parser("predict", help="predict checkpoints' accuracy, gap and epoch from their weights")
    predict.add_argument("run_dir", metavar="RUN", help="the hyper-representation whose z the probes read")
    predict.add_argument("probes", help="probe folder written by `hrlib probe ZOO --run NAME=RUN --save DIR`")
    predict.add_argument("checkpoints", nargs="+",
                         help="hrlib zoo folders, folders of PyTorch state_dicts (searched recursively) or single "
                              "checkpoint files, of the run's architecture")
    predict.add_argument("--out", help="CSV file: one row per checkpoint, predictions and each probe's test score")
    predict.set_defaults(run=commands.predict)

    sample = subcommands.add_parser("sample", help="sample new networks from a hyper-representation and fine-tune them "
                                                "beside fresh and the zoo's own networks")
    sample.add_argument("run_dir", metavar="RUN", help="a hyper-representation trained with a decoder (ED, E_cD, E_c+D)")
    sample.add_argument("zoo", help="the zoo it was trained on")
    sample.add_argument("--n", type=whole(2), default=50, help="networks per start (default 50)")
    sample.add_argument("--epochs", type=whole(0), default=5, help="epochs of training from each start (default 5)")
    sample.add_argument("--epoch", type=whole(0),
                        help="the zoo epoch whose best checkpoints anchor the density (default: last)")
    sample.add_argument("--top", type=fraction, default=0.3,
                        help="fraction of checkpoints, by test accuracy, that anchor it")
    sample.add_argument("--bandwidth", type=positive,
                        help="the kernel's width in standard deviations of z (default: chosen by cross-validated "
                             "log-likelihood on the anchors)")
    sample.add_argument("--seed", type=SEED, default=0)
    sample.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    sample.add_argument("--out", help="CSV file: start, network, epoch, test and train accuracy")
    sample.set_defaults(run=commands.sample)

    reproduce = subcommands.add_parser("reproduce", help="recompute one of the paper's tables into docs/results.md")
    reproduce.add_argument("table", choices=["table1", "table2", "table3", "table4", "table5", "table6", "table7",
                                             "rank", "recipe"],
                           help="one of the paper's tables; rank: the ranking benchmark of later work; recipe: "
                                "candidate runs of one zoo compared on its validation split")
    reproduce.add_argument("zoos", nargs="+", help="zoo directory (table7: two or more of one architecture)")
    reproduce.add_argument("--run", dest="runs", type=run_spec, action=RunsAction, metavar="NAME=RUN_DIR",
                           help="a hyper-representation (table7: NAME=DIR_ZOO1,DIR_ZOO2,...), repeatable")
    reproduce.add_argument("--paper", help="which of the paper's zoos to compare with (default: the zoo's preset)")
    reproduce.add_argument("--features", type=name_list("feature set"),
                           help="comma-separated baselines (table5: all six; table7: W,s(W))")
    reproduce.add_argument("--target", help="table7 target (default ggap)")
    reproduce.add_argument("--split-seed", type=SEED, default=0)
    reproduce.add_argument("--seeds", type=COUNT, default=1, metavar="N",
                           help="mean ± sd over N replicates: split seeds SPLIT_SEED.., each run's replicates "
                                "RUN, RUN-s1, ... (`hrlib train --seeds N`; tables 1-3 train them with --train)")
    reproduce.add_argument("--results", help="Markdown file whose section for this table is rewritten, "
                                             "e.g. docs/results.md")
    reproduce.add_argument("--train", action="store_true",
                           help="tables 1-3: train (or resume) the runs the table compares, under --runs-dir/hr/")
    reproduce.add_argument("--epochs", type=COUNT,
                           help="with --train: epochs per run (default: the recipe's); rank: epochs of its NFN "
                                "predictors (default 50)")
    reproduce.add_argument("--runs-dir", default="runs",
                           help="with --train: where runs go; rank: where its NFN predictors train, under "
                                "RUNS_DIR/nfn/, resumed on a rerun (default runs)")
    reproduce.add_argument("--peers", action=argparse.BooleanOptionalAction, default=None,
                           help="rank: train the NFN_NP and NFN_HNP predictors beside the probes (default: when "
                                "nfn is installed, pip install 'hrlib[peers]', and NFN's layers read the "
                                "architecture; a note says why they are absent otherwise)")
    reproduce.add_argument("--protocol", choices=("hrlib", "nfn"),
                           help="rank: hrlib (each model's last checkpoint, a seeded 40/10/50 split; the default) or "
                                "nfn (the NFN authors' Small CNN Zoo protocol: step 86, weights.npy's row order, the "
                                "second half tested)")
    reproduce.add_argument("--row-order", metavar="FILE",
                           help="with --protocol nfn: the order of weights.npy's rows, one row number per line (the "
                                "NFN authors' predict_gen_data_splits/*_split.csv); default: the file's own order")
    reproduce.add_argument("--device", default="auto", help="where --train's runs and rank's NFN predictors train: "
                                                            "auto (CUDA when present), cpu, cuda, ...")
    reproduce.add_argument("--reduction", choices=("mean", "sum"),
                           help="with --train: reconstruction error over weights, mean or sum (default: the recipe's); "
                                "the table gets its own section")
    reproduce.add_argument("--quiet", action="store_true", help="no progress bars")
    reproduce.set_defaults(run=commands.reproduce)
    return top


# ---- running a command: one line for every error, a quiet end when the reader of the output has gone ----

def _tolerate_any_terminal():
    """Print what a terminal's encoding cannot show (×, τ on an ASCII terminal) as '?', rather than failing."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")


def _reader_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (`hrlib ... | head -1`), rather than some other pipe
    hrlib wrote to having broken."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll here, or stdout is no file descriptor
        return False


def _raised_in_hrlib(err: BaseException) -> bool:
    """Whether `err` was raised by hrlib's own code, which words its refusals for a user, rather than deep
    inside a library that hrlib gave something it had not checked."""
    frames = list(traceback.walk_tb(err.__traceback__))
    module = frames[-1][0].f_globals.get("__name__", "") if frames else "hrlib"
    return module == "hrlib" or module.startswith("hrlib.")


def main(argv=None) -> int:
    _tolerate_any_terminal()
    # OpenMP's workers spin while they wait: beside another busy job, two torch threads on two cores
    # trained 3.2x slower than the fastest setting alone, passive ones 1.8x (benchmarks/thread_contention.py).
    # It must be set before torch is imported, which the commands do only when they run.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser().parse_args(argv)
    except UsageError as err:
        print(f"hrlib: error: {err}", file=sys.stderr)
        return 2
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    try:
        args.argv = argv  # the reproduction records the command that made each table
        code = args.run(args)
        sys.stdout.flush()  # a reader that has gone shows here, where it is handled, not at exit
    except BrokenPipeError as err:
        if not _reader_gone():
            print(f"hrlib: error: {err}", file=sys.stderr)
            return 2
        # The standard recipe: point stdout at devnull, so that the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a program stopped by SIGPIPE would, like `yes | head -1`
    except KeyboardInterrupt:
        print("hrlib: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        if not isinstance(err, OSError) and not _raised_in_hrlib(err):
            return _internal_error(err, verbose)
        print(f"hrlib: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the last resort: a bug, said in one line unless -v asks for more
        return _internal_error(err, verbose)
    return code or 0


def _internal_error(err: Exception, verbose: bool) -> int:
    if verbose:
        raise err
    what = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
    print(f"hrlib: internal error: {type(err).__name__}: {what} (a bug in hrlib; rerun with -v for the traceback "
          "and report it)", file=sys.stderr)
    return INTERNAL
