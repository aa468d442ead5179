"""How right the notebooks' training-time estimate is: `estimate_epoch_seconds` against real epochs, in one process.

The notebooks print `hrlib.pipeline.plan` before any long work; its time per epoch comes from
`estimate_epoch_seconds` (a few steps on random weight vectors). This trains the zoo's CPU recipe
for 1 and for 1 + N epochs into temporary folders and takes the difference, so that loading the
zoo, building the model and the final test pass drop out, and prints the measured seconds per
epoch beside the estimate made just before, with their ratio. Run it on an idle machine: the
estimate is meant to be right within a factor of two there. The CPU's model and flags come first.

    python benchmarks/epoch_estimate.py runs/zoos/tetris_seed [--epochs 2] [--threads 1]
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch

from hrlib.hyper.config import configure
from hrlib.hyper.train import estimate_epoch_seconds, train
from hrlib.zoos.zoo import load_zoo
from train_profile import cpu_description


def timed_run(zoo, config, out: Path) -> float:
    started = time.perf_counter()
    train(zoo, out, config, device="cpu", progress=False)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo", help="zoo directory")
    parser.add_argument("--epochs", type=int, default=2, help="epochs measured beyond the first (default 2)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(cpu_description())

    zoo = load_zoo(args.zoo)
    config = configure(zoo, device="cpu")
    estimate = estimate_epoch_seconds(zoo.layout, zoo.n_models, len(zoo.epochs), config, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        one = timed_run(zoo, config.replace(epochs=1), Path(tmp) / "one")
        more = timed_run(zoo, config.replace(epochs=1 + args.epochs), Path(tmp) / "more")
    measured = (more - one) / args.epochs
    print(f"{zoo!r}; the recipe configure() gives it: batch {config.batch_size}, {config.precision}")
    print(f"estimated {estimate:.1f} s per epoch; measured {measured:.1f} s ({args.epochs} epochs beyond a 1-epoch run "
          f"of {one:.1f} s); measured / estimated = {measured / estimate:.2f}")


if __name__ == "__main__":
    main()
