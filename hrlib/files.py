"""Writing files safely: atomically (a file is complete or absent, never half-written), and only
where writing is possible, which is checked before any long computation starts."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from hrlib.errors import OutputError


def writable_dir(directory) -> Path:
    """`directory`, created with its parents when missing, once a file could be written in it."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".hrlib-write-check-"):
            pass
    except OSError as err:
        raise OutputError(f"{directory}: cannot write here ({err.strerror or err})") from None
    return directory


def new_output(path) -> Path:
    """`path`, once it is known not to exist and its folder is writable: where a zoo will be written."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; remove it or choose another --out")
    writable_dir(path.parent)
    return path


def writable_file(path) -> Path:
    """`path`, once its folder exists (created when missing) and a file could be written there."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; name a file")
    writable_dir(path.parent)
    return path


@contextlib.contextmanager
def atomic(path):
    """Yield a temporary path beside `path`; when the block succeeds it replaces `path` in one step.

    The temporary name ends like `path` (``.tmp-t.csv.gz`` for ``t.csv.gz``), so writers that read a
    format off the suffix (pandas' compression, numpy's ``.npz``) write the same file."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path, text: str) -> Path:
    """Write `text` to `path` atomically."""
    with atomic(path) as tmp:
        tmp.write_text(text)
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder beside `path`; when the block succeeds it takes `path`'s place (an old
    folder there is removed only once the new one is in place), else it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
