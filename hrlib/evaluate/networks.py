"""Weight vectors back into the networks they are: how well do augmented or reconstructed
checkpoints of a zoo still classify?

Used to show that permutations keep a network's accuracy while erasing and noise cost some, and
how much accuracy a network rebuilt from its hyper-representation's reconstruction keeps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hrlib.datasets import catalog as datasets
from hrlib.zoos.population import evaluate
from hrlib.zoos.zoo import Zoo


def zoo_data(zoo: Zoo, split: str):
    """The images and labels a zoo was trained and tested on, as its manifest records them."""
    spec = dict(zoo.manifest.get("dataset") or {})
    name = spec.pop("name", None)
    if name is None or zoo.architecture is None:
        raise ValueError("this zoo does not record its data set and architecture, so its networks cannot be run")
    return datasets.load(name, split, **spec)


def output_difference(zoo: Zoo, a, b, rows, images: int = 256) -> np.ndarray:
    """Largest absolute difference between the logits of networks a[i] and b[i] (versions of
    checkpoint rows[i]) on the first `images` test images: 0 up to rounding for equivalent networks."""
    import torch

    from hrlib.zoos.architectures import population_forward

    x = torch.as_tensor(zoo_data(zoo, "test")[0][:images])
    a, b = (torch.as_tensor(np.asarray(w, dtype=np.float32)) for w in (a, b))
    activation = zoo.properties["activation"].to_numpy()[np.asarray(rows)]
    out = np.zeros(len(activation))
    with torch.no_grad():
        for act in np.unique(activation):
            members = np.flatnonzero(activation == act)
            diff = population_forward(zoo.architecture, a[members], x, act) - population_forward(zoo.architecture, b[members], x, act)
            out[members] = diff.abs().amax(dim=(1, 2)).numpy()
    return out


def evaluate_weights(zoo: Zoo, weights, rows, device="cpu") -> pd.DataFrame:
    """Train/test loss and accuracy (and gap) of the networks `weights` (n, p), where weights[i] is
    a version of checkpoint `rows[i]` of the zoo (so it is run with that model's activation)."""
    weights, rows = np.asarray(weights, dtype=np.float32), np.asarray(rows)
    if weights.shape != (len(rows), zoo.layout.n_params):
        raise ValueError(f"weights must be ({len(rows)}, {zoo.layout.n_params}), got {weights.shape}")
    train, test = zoo_data(zoo, "train"), zoo_data(zoo, "test")
    activation = zoo.properties["activation"].to_numpy()[rows]
    out = pd.DataFrame(index=pd.RangeIndex(len(rows)), columns=["train_loss", "train_acc", "test_loss", "test_acc", "ggap"],
                       dtype=float)
    for act in np.unique(activation):
        members = np.flatnonzero(activation == act)
        metrics = evaluate(zoo.architecture, weights[members], act, train, test, device)
        for column in out.columns:
            out.loc[members, column] = metrics[column]
    out.insert(0, "row", rows)
    return out
