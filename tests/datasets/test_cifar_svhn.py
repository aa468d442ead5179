"""User-supplied CIFAR-10 and SVHN: tiny fixtures in the real formats load as Unterthiner's grayscale images."""

import os
import pickle

import numpy as np
import pytest
import scipy.io

from hrlib.datasets import catalog as data
from hrlib.datasets.cifar_svhn import read_cifar_batch
from hrlib.datasets.idx import DataNotFound


def write_cifar(root, n=4, seed=0):
    """cifar-10-batches-py/ as the CIFAR page ships it: Python-2 era pickles (protocol 2, bytes keys,
    arrays reconstructed through numpy.core.multiarray), 3072 uint8 columns R, G, B planes per row."""
    rng = np.random.default_rng(seed)
    directory = root / "cifar-10-batches-py"
    directory.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": images.reshape(n, -1),
                 b"filenames": [f"img{i}.png".encode() for i in range(n)]}
        raw = pickle.dumps(batch, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        (directory / name).write_bytes(raw)
        batches[name] = (images, np.array(labels))
    return batches


def expected_gray(images):
    return images.astype(np.float64).mean(axis=1, keepdims=True) / 255.0


def test_cifar_batches_load_as_grayscale(tmp_path):
    batches = write_cifar(tmp_path)
    x, y = data.load("cifar10", "train", root=tmp_path)
    assert x.shape == (20, 1, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    np.testing.assert_allclose(x, expected_gray(np.concatenate([b[0] for b in train])), atol=1e-6)
    np.testing.assert_array_equal(y, np.concatenate([b[1] for b in train]))
    xt, yt = data.load("cifar10", "test", root=tmp_path / "cifar-10-batches-py", scale="symmetric")
    np.testing.assert_allclose(xt, 2 * expected_gray(batches["test_batch"][0]) - 1, atol=1e-6)


def test_a_cifar_pickle_cannot_run_code(tmp_path):
    batches_dir = tmp_path / "cifar-10-batches-py"
    write_cifar(tmp_path)

    class Evil:
        def __reduce__(self):
            return os.mkdir, (str(tmp_path / "pwned"),)

    (batches_dir / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2))
    with pytest.raises(ValueError, match="data_batch_3: not a CIFAR-10 python batch .refusing to load"):
        data.load("cifar10", "train", root=tmp_path)
    assert not (tmp_path / "pwned").exists()
    (batches_dir / "data_batch_3").write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(ValueError, match="holds a list, not a dict"):
        read_cifar_batch(batches_dir / "data_batch_3")


def write_svhn(root, n=12, seed=0):
    """train_32x32.mat / test_32x32.mat: MATLAB v5 files with X (32, 32, 3, n) uint8 and y (n, 1) in 1..10."""
    rng = np.random.default_rng(seed)
    out = {}
    for split in ("train", "test"):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n, dtype=np.uint8) % 10 + 1).reshape(-1, 1)  # 1..10, where 10 is SVHN's zero
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": x, "y": y})
        out[split] = (x, y.ravel())
    return out


def test_svhn_mat_files_load_as_grayscale_with_zero_for_ten(tmp_path):
    (tmp_path / "svhn").mkdir()
    files = write_svhn(tmp_path / "svhn")
    x, y = data.load("svhn", "test", root=tmp_path)
    raw_x, raw_y = files["test"]
    np.testing.assert_allclose(x, expected_gray(raw_x.transpose(3, 2, 0, 1)), atol=1e-6)
    assert 10 in raw_y and y.tolist() == [v % 10 for v in raw_y] and set(y) <= set(range(10))
    scipy.io.savemat(tmp_path / "svhn" / "train_32x32.mat", {"images": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="train_32x32.mat: an SVHN .mat file holds X and y"):
        data.load("svhn", "train", root=tmp_path)


def test_missing_user_data_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HRLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HRLIB_DATA", raising=False)
    with pytest.raises(DataNotFound) as err:
        data.load("cifar10", "train", root=tmp_path)
    message = str(err.value)
    assert "does not download cifar10" in message and str(tmp_path / "cifar-10-batches-py") in message
    assert "root=DIR" in message and "HRLIB_DATA" in message


def test_data_files_that_are_not_what_they_claim_are_refused_by_name(tmp_path):
    batches_dir = tmp_path / "cifar-10-batches-py"
    write_cifar(tmp_path)
    (batches_dir / "data_batch_2").write_bytes(b"\x80\x02}q\x00(X\x04")  # cut short
    with pytest.raises(ValueError, match="data_batch_2: not a CIFAR-10 python batch"):
        data.load("cifar10", "train", root=tmp_path)
    with open(batches_dir / "data_batch_2", "wb") as f:  # larger than any batch: not unpickled at all
        f.truncate(41 << 20)
    with pytest.raises(ValueError, match=r"data_batch_2: 42991616 bytes, more than a CIFAR-10 python batch"):
        data.load("cifar10", "train", root=tmp_path)

    (tmp_path / "svhn").mkdir()
    write_svhn(tmp_path / "svhn")
    test_file = tmp_path / "svhn" / "test_32x32.mat"
    scipy.io.savemat(test_file, {"X": np.zeros((32, 32, 3, 2)), "y": np.ones((2, 1))})
    with pytest.raises(ValueError, match="test_32x32.mat: X holds double values; SVHN's holds uint8 pixels"):
        data.load("svhn", "test", root=tmp_path)
    scipy.io.savemat(test_file, {"X": np.zeros((28, 28, 1, 2), np.uint8), "y": np.ones((2, 1))})
    with pytest.raises(ValueError, match=r"X of shape \(28, 28, 1, 2\) with 2 labels is not SVHN's"):
        data.load("svhn", "test", root=tmp_path)
    test_file.write_text("<html>not found</html>")
    with pytest.raises(ValueError, match="test_32x32.mat: not a MATLAB .mat file"):
        data.load("svhn", "test", root=tmp_path)
