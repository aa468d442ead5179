"""The one entry point to image data: callers get their own arrays, bad names get clear errors."""

import pytest

from hrlib.datasets import catalog as data


def test_callers_get_their_own_arrays_and_errors_are_clear():
    x, _ = data.load("tetris", "train")
    x[0, 0, 0, 0] = 100.0
    assert data.load("tetris", "train")[0][0, 0, 0, 0] != 100.0
    with pytest.raises(ValueError, match="unknown data set"):
        data.load("imagenet", "train")
    with pytest.raises(ValueError, match="split"):
        data.load("tetris", "validation")
