"""Hyper-representation training speed: each CPU recipe's float32 path against the faster ones, in one process.

For tetris_cpu on the tetris MLP and mnist_cpu on CNN-s and CNN-u, times training steps (two
augmented views, forward, loss, backward, Adam) on random weight vectors of the zoo's layout, in
these settings on the same batches:

- baseline: the recipe as it is, in float32, the path of hrlib's exactness tests;
- bfloat16: the recipe with `precision="bfloat16"` (autocast where the CPU has bfloat16
  instructions; the same as the baseline where it has none);
- no dropout, and bfloat16 without dropout, for a recipe that has dropout (none of the CPU recipes
  has had any since `mnist_cpu` dropped it for its 1.5×).

The settings are timed in turns (`--repeats` rounds, median of each), so a change in machine load
hits all of them. Printed per recipe: samples/s of each, its ratio to the baseline, the share of
the float32 roofline it reaches (FLOPs per sample counted by torch, against a float32 product of
the blocks' own shape timed in the same process), and what an epoch of the recipe's CPU zoo takes.
The CPU's model and flags come first: bfloat16 is fast only with AVX-512 BF16 or AMX.

    python benchmarks/train_speed.py [--steps 5] [--repeats 3] [--threads 1] [--recipes tetris_cpu,cnn_s,cnn_u]
"""

import argparse
import statistics
import time

import torch

from hrlib.hyper import tokens as tok
from hrlib.hyper.augment import permutation_bank, two_views
from hrlib.hyper.config import get_recipe
from hrlib.hyper.models import HyperRepresentation, ModelConfig
from hrlib.hyper.train import autocast, precision, train_step
from hrlib.zoos import architectures as arch
from train_profile import CASES, cpu_description, flops_per_sample, matmul_gflops

SETTINGS = {"baseline": dict(precision="float32"), "bfloat16": dict(precision="bfloat16"),
            "no dropout": dict(precision="float32", model=dict(dropout=0.0)),
            "bfloat16, no dropout": dict(precision="bfloat16", model=dict(dropout=0.0))}
EPOCH_ROWS = {"tetris_cpu": 700 * 76, "cnn_s": 210 * 16, "cnn_u": 210 * 16}  # training checkpoints of the CPU zoos


class Stepper:
    """Training steps of one configuration on a fixed batch, ready to be timed."""

    def __init__(self, config, layout):
        torch.manual_seed(0)
        self.config, self.device = config, torch.device("cpu")
        self.model = HyperRepresentation(ModelConfig(layout=layout.to_dict(), **config.model)).train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.bank = permutation_bank(layout, config.bank_size, torch.Generator().manual_seed(0))
        self.gen = torch.Generator().manual_seed(0)
        self.batch = torch.randn(config.batch_size, layout.n_params) * 0.1

    def samples_per_s(self, steps: int) -> float:
        started = time.perf_counter()
        for _ in range(steps):
            views = two_views(self.batch, self.bank, self.config.augment, self.gen, train=True)
            train_step(self.model, self.opt, views, self.config.loss, autocast(self.config, self.device))
        return steps * len(self.batch) / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="steps per timing")
    parser.add_argument("--repeats", type=int, default=3, help="timings of each setting, taken in turns")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--recipes", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(cpu_description())
    for case in args.recipes.split(","):
        recipe, architecture = CASES[case]
        layout = arch.layout_of(architecture)
        dropout = get_recipe(recipe).model.get("dropout", ModelConfig.dropout)
        configs = {name: get_recipe(recipe).replace(**changes) for name, changes in SETTINGS.items()
                   if dropout or "dropout" not in name}
        steppers = {name: Stepper(config, layout) for name, config in configs.items()}
        for stepper in steppers.values():
            stepper.samples_per_s(2)  # warm-up
        speeds = {name: [] for name in steppers}
        for _ in range(args.repeats):
            for name, stepper in steppers.items():
                speeds[name].append(stepper.samples_per_s(args.steps))
        config = configs["baseline"]
        seq = sum(tok.token_counts(layout, "neuron")) + 1
        roofline = matmul_gflops(2 * config.batch_size * seq, config.model["d_model"], torch.float32)
        flops = flops_per_sample(case)
        print(f"\n== {case}: {recipe} on {architecture} ({layout.n_params} params, batch {config.batch_size}); "
              f"float32 roofline {roofline:.0f} GFLOP/s, {flops / 1e6:.0f} MFLOP per sample")
        for name, config in configs.items():
            speed = statistics.median(speeds[name])
            ratio = speed / statistics.median(speeds["baseline"])
            print(f"   {name:21s} (runs in {precision(config, torch.device('cpu'))}): {speed:6.0f} samples/s, "
                  f"{ratio:4.2f}x the baseline, {flops * speed / 1e9 / roofline:4.0%} of the float32 roofline, "
                  f"an epoch of {EPOCH_ROWS[case]:,} checkpoints in {EPOCH_ROWS[case] / speed:5.1f} s")


if __name__ == "__main__":
    main()
