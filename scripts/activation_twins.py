"""How far apart are the tanh and ReLU models of a hyper-parameter zoo that share everything else?

    python scripts/activation_twins.py [ZOO_DIR]     # default runs/zoos/tetris_hyp

In the `*_hyp` grids the tanh and ReLU models of one (seed, init, learning rate) start from the same
weights. Per learning rate, this prints the largest distance between such twins at epoch 0, the
median at the last epoch, and the median distance a model moved from its initialization, all
relative to its final weight norm: where twins barely differ, no feature of the weights can tell the activation
apart.
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
        tanh_weights = zoo.weights[group.model_tanh.to_numpy()]  # (twins, checkpoints, params)
        relu_weights = zoo.weights[group.model_relu.to_numpy()]
        norm = np.linalg.norm(tanh_weights[:, -1], axis=1)
        distance = lambda a, b: np.linalg.norm(a - b, axis=1) / norm  # noqa: E731

        print(f"lr {lr:g}: {len(group)} twins; twin distance at the start at most "
              f"{distance(tanh_weights[:, 0], relu_weights[:, 0]).max():.3f}, at the end (median) "
              f"{np.median(distance(tanh_weights[:, -1], relu_weights[:, -1])):.3f}, moved from init (median) "
              f"{np.median(distance(tanh_weights[:, -1], tanh_weights[:, 0])):.3f}, relative to the weight norm; "
              f"median test accuracy tanh {group.test_acc_tanh.median():.3f}, ReLU {group.test_acc_relu.median():.3f}")


if __name__ == "__main__":
    main()
