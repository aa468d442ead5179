"""Hyper-representations: self-supervised encoders of a zoo's weights.

- `augment`: permutations, sign flips, noise and erasing, and the two views of a sample;
- `tokens`: weights to per-neuron or per-weight tokens and back;
- `models`: the attention and feed-forward encoders/decoders and the projection head;
- `losses`: NT-Xent, the positive-only contrast, reconstruction, and their mix;
- `config`: `TrainConfig`, the named recipes, and `configure` by the paper's names;
- `train`: the training loop; `runs`: a run directory and `load_run`;
- `inference`: z of a zoo (`embed`), reconstructions and their R².
"""
