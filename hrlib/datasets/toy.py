"""The data sets built into hrlib, which need no files: tetris (4×4) and scikit-learn's 8×8 digits.

Tetris (our own design; the paper published nothing but "4×4 grey images of four tetris shapes"):

- classes: the tetrominoes L, T, S and O (0, 1, 2, 3), each in every distinct rotation (L 4, T 4,
  S 2, O 1: 11 clean patterns), each rotation at one fixed place, centred in the 4×4 grid (top-left
  corner at ((3 - height) // 2, (3 - width) // 2)). Translations are left out on purpose: with them
  even a linear classifier on the pixels stays near chance (measured: 30% test accuracy), and a
  16→5→4 network learns nothing;
- a sample: a class drawn uniformly, one of its rotations drawn uniformly, the shape's cells set to
  one intensity drawn from U(0.5, 1), then Gaussian pixel noise N(0, 0.15²) on all 16 pixels;
- 300 training and 1000 test images, drawn once from fixed seeds (train 2021, test 2022), so the
  data set is the same on every machine and every call. The small training set lets models overfit,
  so the generalization gap grows over training.

Measured with the `tetris_seed` preset (16→5→4 tanh MLP without biases, Adam 1e-3, batch 16):
test accuracy starts near 25%, is still rising at epoch 75 and ends between about 56% and 79%
across seeds (median 74%), with generalization gaps from about −2 to 13 points (median 6).

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
TETRIS_NOISE = 0.15
TETRIS_SIZES = {"train": 300, "test": 1000}
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
def tetris(split: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(TETRIS_SEEDS[split])
    patterns = list(tetris_patterns().values())
    n = TETRIS_SIZES[split]
    y = rng.integers(0, len(patterns), size=n)
    clean = np.stack([patterns[c][rng.integers(len(patterns[c]))] for c in y])
    intensity = rng.uniform(0.5, 1.0, size=(n, 1, 1))
    x = clean * intensity + rng.normal(0.0, TETRIS_NOISE, size=clean.shape)
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
