"""How far apart are the tanh and ReLU models of a hyper-parameter zoo that share everything else?

    python scripts/activation_twins.py [ZOO_DIR]     # default runs/zoos/tetris_hyp

In the `*_hyp` grids the tanh and ReLU models of one (seed, init, learning rate) start from the same
weights. Per learning rate, this prints the median distance between such twins at the last epoch
and the median distance a model moved from its initialization, both relative to its weight norm:
where twins barely differ, no feature of the weights can tell the activation apart.
"""

import argparse

import numpy as np

from hrlib import load_zoo


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", nargs="?", default="runs/zoos/tetris_hyp")
    args = parser.parse_args()

    zoo = load_zoo(args.zoo)
    final = zoo.properties[zoo.properties.epoch == zoo.properties.epoch.max()]
    key = ["seed", "init", "lr"]
    tanh = final[final.activation == "tanh"].set_index(key)
    relu = final[final.activation == "relu"].set_index(key)
    twins = tanh.merge(relu, left_index=True, right_index=True, suffixes=("_tanh", "_relu"))
    if twins.empty:
        raise SystemExit(f"{args.zoo}: no tanh and ReLU models share a seed, init and learning rate")
    for lr, group in twins.groupby(level="lr"):
        first, last = zoo.weights[group.model_tanh.to_numpy(), 0], zoo.weights[group.model_tanh.to_numpy(), -1]
        twin = zoo.weights[group.model_relu.to_numpy(), -1]
        norm = np.linalg.norm(last, axis=1)
        print(f"lr {lr:g}: {len(group)} twins; twin distance {np.median(np.linalg.norm(last - twin, axis=1) / norm):.3f}, "
              f"moved from init {np.median(np.linalg.norm(last - first, axis=1) / norm):.3f} (medians, relative to the "
              f"weight norm); median test accuracy tanh {group.test_acc_tanh.median():.3f}, "
              f"ReLU {group.test_acc_relu.median():.3f}")


if __name__ == "__main__":
    main()
