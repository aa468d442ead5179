"""User-supplied CIFAR-10 (python pickle batches) and SVHN (cropped digits, .mat), as grayscale images.

hrlib does not download these; it reads the files a user already has, from the directory passed
as ``root``, from ``$HRLIB_DATA``, or from hrlib's cache under ``data/cifar10`` and ``data/svhn``:

- CIFAR-10, "python version": ``cifar-10-batches-py/`` with ``data_batch_1`` … ``data_batch_5``
  and ``test_batch``. These are pickles, so they are read with an unpickler that admits only the
  few numpy names a data batch needs: a crafted file cannot run code.
- SVHN, format 2: ``train_32x32.mat`` and ``test_32x32.mat`` (MATLAB v5, read with scipy.io);
  label 10 stands for the digit 0.

Both become (n, 1, 32, 32) float images in [0, 1], converted to grayscale as Unterthiner et al.
did: the mean of the three colour channels.
"""

from __future__ import annotations

import io
import math
import os
import pickle
from pathlib import Path

import numpy as np

from hrlib.datasets.cache import DataNotFound, cache_dir

CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
SVHN_FILES = {"train": ["train_32x32.mat"], "test": ["test_32x32.mat"]}
SUBDIRS = {"cifar10": ("cifar-10-batches-py", "cifar10"), "svhn": ("svhn", "svhn_cropped")}
MAX_BATCH_BYTES = 40 << 20  # a CIFAR-10 python batch is 31 MB; no larger file is unpickled
MAX_SVHN_IMAGES = 100_000  # train_32x32.mat holds 73257 images, test_32x32.mat 26032
WHERE = {
    "cifar10": "the CIFAR-10 python version (cifar-10-python.tar.gz from the CIFAR page), unpacked",
    "svhn": "SVHN format 2, cropped digits (train_32x32.mat, test_32x32.mat from the SVHN page)",
}


class _DataBatchUnpickler(pickle.Unpickler):
    """Admits only what a pickled dict of numpy arrays, lists and strings needs."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds only arrays")
        if name == "_reconstruct":  # numpy 2 moved numpy.core to numpy._core
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return super().find_class(module, name)


def read_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: images (n, 3, 32, 32) uint8 and labels (n,) int64."""
    path = Path(path)
    if path.stat().st_size > MAX_BATCH_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, more than a CIFAR-10 python batch (31 MB); not one")
    try:  # from memory: a length inside the pickle never makes the reader allocate more than the file holds
        batch = _DataBatchUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError,
            MemoryError, RecursionError, OverflowError) as err:
        raise ValueError(f"{path}: not a CIFAR-10 python batch ({str(err)[:200] or type(err).__name__})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: not a CIFAR-10 python batch (holds a {type(batch).__name__}, not a dict)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{path}: not a CIFAR-10 python batch (keys {sorted(batch)}; needs data and labels)")
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise ValueError(f"{path}: data {data.dtype} {data.shape} with {len(labels)} labels is not a CIFAR-10 batch")
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise ValueError(f"{path}: labels outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def _mat(reader, path: Path, **options):
    """scipy.io's `reader` (loadmat, whosmat) of `path`, its failures one line naming the file."""
    try:
        return reader(path, **options)
    except Exception as err:  # noqa: BLE001 -- scipy meets a damaged file with any error (IndexError, zlib.error, ...)
        raise ValueError(f"{path}: not a MATLAB .mat file ({str(err)[:200] or type(err).__name__})") from None


def read_svhn_mat(path) -> tuple[np.ndarray, np.ndarray]:
    """One SVHN format-2 .mat file: images (n, 3, 32, 32) uint8 and labels (n,) int64 in 0..9."""
    from scipy.io import loadmat, whosmat

    path = Path(path)
    # the variables' shapes first, from their headers: nothing large is decompressed for a file that is not SVHN's
    variables = {name: (shape, kind) for name, shape, kind in _mat(whosmat, path)}
    shapes = {name: shape for name, (shape, _) in variables.items()}
    if "X" not in shapes or "y" not in shapes:
        raise ValueError(f"{path}: an SVHN .mat file holds X and y; this one holds {sorted(shapes)}")
    n = math.prod(shapes["y"])
    if len(shapes["X"]) != 4 or shapes["X"][:3] != (32, 32, 3) or not 0 < n <= MAX_SVHN_IMAGES:
        raise ValueError(f"{path}: X of shape {shapes['X']} with {n} labels is not SVHN's (32, 32, 3, n), "
                         f"n ≤ {MAX_SVHN_IMAGES}")
    if variables["X"][1] != "uint8":
        raise ValueError(f"{path}: X holds {variables['X'][1]} values; SVHN's holds uint8 pixels")
    mat = _mat(loadmat, path, variable_names=["X", "y"])
    x, y = mat["X"], mat["y"].reshape(-1).astype(np.int64)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise ValueError(f"{path}: X of shape {x.shape} with {len(y)} labels is not SVHN's (32, 32, 3, n)")
    if y.min(initial=1) < 1 or y.max(initial=1) > 10:
        raise ValueError(f"{path}: SVHN labels are 1..10, found {y.min()}..{y.max()}")
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)).astype(np.uint8), y % 10  # label 10 is the digit 0


def grayscale(images: np.ndarray) -> np.ndarray:
    """(n, 3, h, w) uint8 -> (n, 1, h, w) float32 in [0, 1]: the channel mean, as Unterthiner et al."""
    return (images.astype(np.float32) / 255.0).mean(axis=1, keepdims=True)


def _places(name: str, root) -> list[Path]:
    bases = [Path(root)] if root is not None else []
    if os.environ.get("HRLIB_DATA"):
        bases.append(Path(os.environ["HRLIB_DATA"]))
    bases.append(cache_dir() / "data")
    return [d for base in bases for d in (base, *(base / sub for sub in SUBDIRS[name]))]


def load_split(name: str, split: str, root=None) -> tuple[np.ndarray, np.ndarray]:
    """Grayscale images (n, 1, 32, 32) float32 in [0, 1] and labels (n,) int64 of a user's CIFAR-10 or SVHN."""
    files = (CIFAR_FILES if name == "cifar10" else SVHN_FILES)[split]
    places = _places(name, root)
    for directory in places:
        if all((directory / f).is_file() for f in files):
            reader = read_cifar_batch if name == "cifar10" else read_svhn_mat
            parts = [reader(directory / f) for f in files]
            x = np.concatenate([p[0] for p in parts])
            y = np.concatenate([p[1] for p in parts])
            return grayscale(x), y
    looked = "\n".join(f"  - {d}" for d in places)
    raise DataNotFound(
        f"{name} {split} files ({', '.join(files)}) not found. hrlib does not download {name}; it reads "
        f"{WHERE[name]}.\nLooked in:\n{looked}\nPut the files in one of these directories, pass root=DIR, "
        f"or set HRLIB_DATA=DIR."
    )
