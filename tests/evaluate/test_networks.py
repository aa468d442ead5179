"""Weight vectors evaluated as networks reproduce what the zoo recorded."""

import numpy as np
import pytest
import torch

from hrlib.hyper.augment import erase, permutation_bank, permute
from hrlib.evaluate.networks import evaluate_weights


def test_rebuilt_networks_reproduce_the_recorded_metrics(tiny_zoo):
    rows = np.arange(0, len(tiny_zoo.properties), 5)
    metrics = evaluate_weights(tiny_zoo, tiny_zoo.samples()[rows], rows)
    recorded = tiny_zoo.properties.iloc[rows]
    np.testing.assert_allclose(metrics["test_acc"], recorded["test_acc"], atol=1e-6)
    np.testing.assert_allclose(metrics["ggap"], recorded["ggap"], atol=1e-6)
    # a permuted network keeps its accuracy exactly; a heavily erased one does not
    flat = torch.tensor(tiny_zoo.samples()[rows])
    gen = torch.Generator().manual_seed(0)
    permuted = permute(flat, permutation_bank(tiny_zoo.layout), gen).numpy()
    np.testing.assert_allclose(evaluate_weights(tiny_zoo, permuted, rows)["test_acc"], recorded["test_acc"], atol=1e-6)
    erased = erase(flat, 1.0, (0.9, 0.9), gen).numpy()
    trained = recorded["epoch"].to_numpy() > 2
    assert (evaluate_weights(tiny_zoo, erased, rows)["test_acc"].to_numpy()[trained] != recorded["test_acc"].to_numpy()[trained]).any()
    with pytest.raises(ValueError, match="weights must be"):
        evaluate_weights(tiny_zoo, flat.numpy()[:, :50], rows)
