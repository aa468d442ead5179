"""The built-in data sets: tetris is deterministic everywhere, digits has a fixed, disjoint split."""

import subprocess
import sys

import numpy as np
import pytest

from hrlib.datasets import catalog as data
from hrlib.datasets import toy


def test_tetris_shapes_and_classes():
    x, y = data.load("tetris", "train")
    xt, yt = data.load("tetris", "test")
    assert x.shape == (200, 1, 4, 4) and xt.shape == (10000, 1, 4, 4)
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
    assert not np.allclose(x, xt[: len(x)])


def test_tetris_variants_extend_each_other_and_scale_the_noise():
    small, large = data.load("tetris", "train", train_size=50), data.load("tetris", "train", train_size=400)
    np.testing.assert_array_equal(small[0], large[0][:50])
    np.testing.assert_array_equal(small[1], large[1][:50])
    quiet, loud = (data.load("tetris", "test", test_size=2000, noise=sd)[0] for sd in (0.0, 0.6))
    clean = toy.tetris_patterns()
    assert all(any(np.array_equal(x[0] > 0, p) for p in np.concatenate(list(clean.values()))) for x in quiet)
    np.testing.assert_allclose((loud - quiet).std(), 0.6, rtol=0.02)  # the same images, only the noise differs


def test_bad_tetris_options_are_refused():
    with pytest.raises(ValueError, match="size must be at least 1"):
        data.load("tetris", "train", train_size=0)
    with pytest.raises(ValueError, match="noise must be at least 0"):
        data.load("tetris", "test", noise=-0.1)


def test_digits_split_is_fixed_and_disjoint():
    x, y = data.load("digits", "train")
    xt, yt = data.load("digits", "test")
    assert (len(x), len(xt)) == (1257, 540) and x.shape[1:] == (1, 8, 8)
    assert x.max() <= 1.0 and x.min() >= 0.0
    rows = {r.tobytes() for r in x.reshape(len(x), -1)}
    assert sum(r.tobytes() in rows for r in xt.reshape(len(xt), -1)) < 5  # the data set has a few duplicates
