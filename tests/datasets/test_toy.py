"""The built-in data sets: tetris is deterministic everywhere, digits has a fixed, disjoint split."""

import subprocess
import sys

import numpy as np

from hrlib.datasets import catalog as data
from hrlib.datasets import toy


def test_tetris_shapes_and_classes():
    x, y = data.load("tetris", "train")
    xt, yt = data.load("tetris", "test")
    assert x.shape == (300, 1, 4, 4) and xt.shape == (1000, 1, 4, 4)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1, 2, 3} and set(np.unique(yt)) == {0, 1, 2, 3}
    assert {k: len(v) for k, v in toy.tetris_patterns().items()} == {"L": 4, "T": 4, "S": 2, "O": 1}


def _digest(split):
    x, y = data.load("tetris", split)
    return float(np.float64(x).sum()), int(y.sum()), x[:3].tobytes().hex()


def test_tetris_is_deterministic_across_calls_and_processes():
    first = _digest("train"), _digest("test")
    toy.tetris.cache_clear()
    assert (_digest("train"), _digest("test")) == first
    code = "from hrlib.datasets import load; import numpy as np; x,y=load('tetris','test'); print(float(np.float64(x).sum()), int(y.sum()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert (float(out[0]), int(out[1])) == first[1][:2]


def test_train_and_test_differ():
    (x, _), (xt, _) = data.load("tetris", "train"), data.load("tetris", "test")
    assert not np.allclose(x[:300], xt[:300])


def test_digits_split_is_fixed_and_disjoint():
    x, y = data.load("digits", "train")
    xt, yt = data.load("digits", "test")
    assert (len(x), len(xt)) == (1257, 540) and x.shape[1:] == (1, 8, 8)
    assert x.max() <= 1.0 and x.min() >= 0.0
    rows = {r.tobytes() for r in x.reshape(len(x), -1)}
    assert sum(r.tobytes() in rows for r in xt.reshape(len(xt), -1)) < 5  # the data set has a few duplicates
