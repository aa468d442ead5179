"""How many tanh units of a freshly initialized CNN-s are saturated, per initialization.

    python scripts/tanh_saturation.py [--dataset mnist] [--images 1000] [--seeds 4]

A tanh unit whose input is far from 0 passes (almost) no gradient back: tanh'(x) = 1 - tanh(x)² is
below 1e-3 once |x| > 3.8, and exactly 0 in float32 once |x| > 9.1. The script initializes CNN-s
models as a zoo would (seeds 1, 2, ..., biases 0.01), runs training images through them, and prints
for each activation layer the share of unit outputs (over images, positions and seeds) with
tanh' < 1e-3 and with tanh' = 0. It explains why a zoo starting from U(0, 1) stays at chance.
"""

import argparse

import pandas as pd
import torch

from hrlib.datasets.catalog import load
from hrlib.zoos import architectures as arch

INITS = {"U(0, 1)": ("uniform", 1.0), "U(0, 1/sqrt(fan_in))": ("scaled_uniform", 1.0),
         "U(0, 0.5/sqrt(fan_in))": ("scaled_uniform", 0.5), "kaiming uniform": ("kaiming_uniform", 1.0)}


def saturation(images: torch.Tensor, scheme: str, std: float, seeds: int) -> pd.DataFrame:
    """Rows: activation layers; columns: % of outputs with tanh' below 1e-3 and equal to 0."""
    counts = {}
    for seed in range(1, seeds + 1):
        module = arch.init_module_(arch.build_module("cnn_s", "tanh"), scheme, torch.Generator().manual_seed(seed), std)
        x, layer = images, 0
        with torch.no_grad():
            for mod in module:
                if isinstance(mod, torch.nn.Tanh):
                    layer += 1
                    slope = 1 - torch.tanh(x) ** 2
                    below, zero, total = counts.get(layer, (0, 0, 0))
                    counts[layer] = (below + (slope < 1e-3).sum().item(), zero + (slope == 0).sum().item(),
                                     total + slope.numel())
                x = mod(x)
    return pd.DataFrame({f"tanh {layer}": {"tanh' < 1e-3 (%)": 100 * below / total, "tanh' = 0 (%)": 100 * zero / total}
                         for layer, (below, zero, total) in counts.items()}).T


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist", help="mnist or fashion_mnist")
    parser.add_argument("--images", type=int, default=1000, help="training images run through each model")
    parser.add_argument("--seeds", type=int, default=4, help="models per initialization")
    args = parser.parse_args()
    x, _ = load(args.dataset, "train", train_subset=args.images)
    images = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1, 28, 28)
    table = pd.concat({name: saturation(images, scheme, std, args.seeds) for name, (scheme, std) in INITS.items()})
    print(table.round(1).to_string())


if __name__ == "__main__":
    main()
