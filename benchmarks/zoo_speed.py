"""Vectorized population training against a plain per-model torch loop, in one process.

Trains the same sample of tetris_seed models both ways and prints the speed-up ratio. The
vectorized side also evaluates every model on the full train and test sets at every epoch (as a
zoo build does); the per-model loop only trains, so the ratio is a lower bound.

    python benchmarks/zoo_speed.py [--models 200] [--epochs 10]
"""

import argparse
import time

from hrlib.datasets import catalog as data
from hrlib.zoos.population import train_alone, train_population
from hrlib.zoos.presets import get_preset


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    preset = get_preset("tetris_seed").override(models=args.models, epochs=args.epochs)
    specs = preset.specs()
    train, test = data.load("tetris", "train"), data.load("tetris", "test")

    start = time.perf_counter()
    train_population(preset.architecture, specs, train, test, epochs=preset.epochs, batch_size=preset.batch_size)
    vectorized = time.perf_counter() - start

    start = time.perf_counter()
    for spec in specs:
        train_alone(preset.architecture, spec, train, epochs=preset.epochs, batch_size=preset.batch_size)
    loop = time.perf_counter() - start

    print(f"{args.models} tetris models × {args.epochs} epochs")
    print(f"  vectorized population: {vectorized:8.2f} s  ({args.models * args.epochs / vectorized:9.1f} model-epochs/s)")
    print(f"  per-model torch loop:  {loop:8.2f} s  ({args.models * args.epochs / loop:9.1f} model-epochs/s)")
    print(f"  speed-up: {loop / vectorized:.1f}x")


if __name__ == "__main__":
    main()
