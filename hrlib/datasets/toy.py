"""The data sets built into hrlib, which need no files: tetris (4×4) and scikit-learn's 8×8 digits.

Tetris (our own design; the paper published nothing but "4×4 grey images of four tetris shapes"):

- classes: the tetrominoes L, T, S and O (0, 1, 2, 3), each in every distinct rotation (L 4, T 4,
  S 2, O 1: 11 clean patterns), each rotation at one fixed place, centred in the 4×4 grid (top-left
  corner at ((3 - height) // 2, (3 - width) // 2)). Translations are left out on purpose: with them
  even a linear classifier on the pixels stays near chance (measured: 30% test accuracy), and a
  16→5→4 network learns nothing;
- a sample: a class drawn uniformly, one of its rotations drawn uniformly, the shape's cells set to
  one intensity drawn from U(0.5, 1), then Gaussian pixel noise N(0, 0.3²) on all 16 pixels;
- 200 training and 10,000 test images, drawn from fixed seeds (train 2021, test 2022), so the data
  set is the same on every machine and every call. The small, noisy training set makes models
  overfit as they train, so the generalization gap grows with training; the large test set keeps
  the sampling noise of a test accuracy (sd about 0.5 points) well below the spread between models.

These sizes and the noise were chosen so that the tetris zoos resemble the paper's by
method-independent numbers only (how linear probes on the raw weights and on their layer statistics
score): `scripts/calibrate_zoo.py`, written up in docs/results.md. `tetris(split, train_size=,
test_size=, noise=)` draws other variants (the calibration's designs), each sample from its own
position in the split's random streams, so a larger set extends a smaller one.

Measured with the `tetris_seed` preset (16→5→4 tanh MLP without biases, U(0, 1) init, Adam 1e-2,
batch 16, 75 epochs): test accuracy ends at a median of 59% across seeds, the generalization gap
at a median of 18 points (sd 2.6).

Digits: scikit-learn's 1797 8×8 images of handwritten digits scaled to [0, 1], split 70/30
stratified with a fixed seed (1257 training, 540 test images).
"""

from __future__ import annotations

import functools

import numpy as np

TETRIS_SHAPES = {
    "L": [(0, 0), (1, 0), (2, 0), (2, 1)],
    "T": [(0, 0), (0, 1), (0, 2), (1, 1)],
    "S": [(0, 1), (0, 2), (1, 0), (1, 1)],
    "O": [(0, 0), (0, 1), (1, 0), (1, 1)],
}
TETRIS_NOISE = 0.3
TETRIS_SIZES = {"train": 200, "test": 10000}
TETRIS_SEEDS = {"train": 2021, "test": 2022}


def _rotations(cells):
    """The distinct rotations of a shape, each normalised to touch the top-left corner."""
    shapes, current = [], np.array(cells)
    for _ in range(4):
        current = np.stack([current[:, 1], -current[:, 0]], axis=1)  # rotate 90°
        normed = current - current.min(axis=0)
        key = sorted(map(tuple, normed))
        if key not in shapes:
            shapes.append(key)
    return shapes


def tetris_patterns() -> dict[str, np.ndarray]:
    """The clean patterns of each shape: name -> (rotations, 4, 4) binary images, centred."""
    patterns = {}
    for name, cells in TETRIS_SHAPES.items():
        images = []
        for shape in _rotations(cells):
            rows, cols = np.array(shape).T
            img = np.zeros((4, 4), np.float32)
            img[rows + (3 - rows.max()) // 2, cols + (3 - cols.max()) // 2] = 1.0
            images.append(img)
        patterns[name] = np.stack(images)
    return patterns


@functools.cache
def tetris(split: str, train_size: int = TETRIS_SIZES["train"], test_size: int = TETRIS_SIZES["test"],
           noise: float = TETRIS_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """The tetris images of one split: `train_size` or `test_size` samples with pixel noise `noise`
    (sd), drawn from the split's fixed seed, so a larger set extends a smaller one."""
    n = train_size if split == "train" else test_size
    if n < 1:
        raise ValueError(f"tetris {split} size must be at least 1, got {n}")
    if noise < 0:
        raise ValueError(f"tetris noise must be at least 0, got {noise}")
    # one random stream per quantity, so that the first n samples do not depend on the size asked for
    labels, rotations, intensities, pixels = (np.random.default_rng([TETRIS_SEEDS[split], k]) for k in range(4))
    patterns = list(tetris_patterns().values())
    y = labels.integers(0, len(patterns), size=n)
    clean = np.stack([patterns[c][int(r * len(patterns[c]))] for c, r in zip(y, rotations.random(n))])
    x = clean * intensities.uniform(0.5, 1.0, size=(n, 1, 1)) + noise * pixels.standard_normal(size=clean.shape)
    return x[:, None].astype(np.float32), y.astype(np.int64)


@functools.cache
def digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    return (x_train, y_train) if split == "train" else (x_test, y_test)
