"""Hyper-representation training throughput on this machine, in one process.

Times training steps (two augmented views, forward, loss, backward, Adam) of the CPU default
tetris recipe and of the paper-size one on the same batches, and prints samples per second for
each, the ratio between them, and what a full epoch of `tetris_seed` (53,200 training
checkpoints) and each recipe's whole schedule would take at that speed.

    python benchmarks/train_speed.py [--steps 20] [--device auto]
"""

import argparse
import time

import torch

from hrlib.zoos import architectures as arch
from hrlib.hyper.augment import permutation_bank, two_views
from hrlib.hyper.models import HyperRepresentation, ModelConfig
from hrlib.zoos.population import pick_device
from hrlib.hyper.config import get_recipe
from hrlib.hyper.train import _step_loss

TRAIN_ROWS = 700 * 76  # training checkpoints of the full tetris_seed zoo


def throughput(recipe: str, steps: int, device) -> float:
    config = get_recipe(recipe)
    layout = arch.layout_of("tetris_mlp")
    model = HyperRepresentation(ModelConfig(layout=layout.to_dict(), **config.model)).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    bank = permutation_bank(layout).to(device)
    gen = torch.Generator(device).manual_seed(0)
    batch = torch.randn(config.batch_size, layout.n_params, device=device)

    def step():
        views = two_views(batch, bank, config.augment, gen)
        loss, _ = _step_loss(model, views, config.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * config.batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    speeds = {}
    for recipe in ("tetris_cpu", "tetris_paper"):
        speeds[recipe] = throughput(recipe, args.steps, device)
        epochs = get_recipe(recipe).epochs
        per_epoch = TRAIN_ROWS / speeds[recipe]
        print(f"{recipe:13s} {speeds[recipe]:9.0f} samples/s   {per_epoch:7.1f} s per tetris_seed epoch   "
              f"{epochs} epochs ≈ {epochs * per_epoch / 60:7.1f} min  ({device})")
    print(f"tetris_cpu is {speeds['tetris_cpu'] / speeds['tetris_paper']:.1f}x the paper-size throughput")


if __name__ == "__main__":
    main()
