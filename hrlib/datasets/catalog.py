"""Image data sets behind one entry point, `load(name, split, ...)`.

Every loader returns ``(x, y)``: float32 images (n, channels, height, width) and int64 labels (n,).

- "tetris" and "digits" need no files (`hrlib.datasets.toy`);
- "mnist" and "fashion_mnist" are read from IDX files found locally or fetched (`hrlib.datasets.idx`);
- "cifar10" and "svhn" are read from files the user supplies, in grayscale (`hrlib.datasets.cifar_svhn`).

Images are in [0, 1]; ``scale="symmetric"`` maps them to [-1, 1], as Unterthiner et al. fed their
CNNs. ``train_subset`` / ``test_subset`` keep a seeded, class-stratified subset of that many images
(scikit-learn's stratified split with ``subset_seed``), the same on every machine.
"""

from __future__ import annotations

import inspect

import numpy as np

from hrlib.datasets import toy

SPLITS = ("train", "test")


def _file_loader(name):
    def loader(split, root=None, download=None, verify=True):
        from hrlib.datasets import idx

        images, labels = idx.load_split(name, split, root=root, download=download, verify=verify)
        return images[:, None], labels.astype(np.int64)  # uint8: `load` scales after taking any subset

    return loader


def _user_loader(name):
    def loader(split, root=None):
        from hrlib.datasets import cifar_svhn

        return cifar_svhn.load_split(name, split, root=root)

    return loader


LOADERS = {
    "tetris": toy.tetris,
    "digits": toy.digits,
    "mnist": _file_loader("mnist"),
    "fashion_mnist": _file_loader("fashion_mnist"),
    "cifar10": _user_loader("cifar10"),
    "svhn": _user_loader("svhn"),
}
SCALES = ("unit", "symmetric")


def stratified_subset(y: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded subset of `size` samples with the class proportions of `y`."""
    from sklearn.model_selection import train_test_split

    if not 0 < size <= len(y):
        raise ValueError(f"a subset must hold 1..{len(y)} samples, got {size}")
    if size == len(y):
        return np.arange(len(y))
    keep, _ = train_test_split(np.arange(len(y)), train_size=size, random_state=seed, stratify=y)
    return np.sort(keep)


def load(
    name: str,
    split: str,
    *,
    train_subset: int | None = None,
    test_subset: int | None = None,
    subset_seed: int = 0,
    scale: str = "unit",
    **source_options,
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of data set `name` for split "train" or "test".

    `source_options` go to the file readers: ``root`` (a directory to look in first), and for
    MNIST / Fashion-MNIST ``download`` and ``verify``; see the module docstring for the rest.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(LOADERS)}") from None
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    unknown = set(source_options) - set(inspect.signature(loader).parameters)
    if unknown:
        raise ValueError(f"data set {name!r} takes no option {sorted(unknown)}")
    x, y = loader(split, **source_options)
    subset = train_subset if split == "train" else test_subset
    if subset is not None:
        keep = stratified_subset(y, subset, subset_seed)
        x, y = x[keep], y[keep]
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(255.0)
    else:
        x = x.astype(np.float32, copy=True)  # loaders cache their arrays; callers get their own
    if scale == "symmetric":
        x = 2.0 * x - 1.0
    return x, y.copy()
