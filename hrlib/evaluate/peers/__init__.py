"""Peers of z: permutation-invariant neural functionals (NFN_NP, NFN_HNP) trained to predict test accuracy.

They need the optional ``nfn`` package (``pip install 'hrlib[peers]'``); importing hrlib does not.

- `models`: flat checkpoints as NFN's weight-space features, and the invariant NFN predictor;
- `train`: its training on a zoo's by-model split, resumable, the epoch of the best validation τ kept.
"""

from hrlib.evaluate.peers.models import PEERS, InvariantNFN, NFNConfig, missing, network_spec, unsupported, \
    weight_space_features
from hrlib.evaluate.peers.train import NFNPredictor, predict, train_nfn

__all__ = ["PEERS", "InvariantNFN", "NFNConfig", "NFNPredictor", "missing", "network_spec", "predict", "train_nfn",
           "unsupported", "weight_space_features"]
