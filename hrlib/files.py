"""Writing files safely: atomically (a file is complete or absent, never half-written), only where
writing is possible (checked before any long computation starts), only into folders hrlib made, and
by one process at a time.

Every folder hrlib writes (a zoo, a run, a probe folder, a build's work folder) carries a marker
file, ``.hrlib``, naming what kind of folder it is. hrlib writes into, resumes, or replaces an
existing folder only when its marker names the same kind (or, for folders written before markers
existed, when the kind's own index file says it is hrlib's); anything else is refused, so a mistyped
``--out`` or ``--save`` never deletes or mixes a user's files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from hrlib.errors import OutputError

MARKER = ".hrlib"
LOCK = ".hrlib.lock"

# Folders written before markers existed are recognized by their index file and its "format".
_LEGACY_INDEX = {"zoo": ("manifest.json", "hrlib-zoo"), "probes": ("probes.json", "hrlib-probes")}


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
        raise FileExistsError(f"{path} exists; hrlib writes a zoo only into a new folder: choose another --out")
    writable_dir(path.parent)
    return path


def writable_file(path) -> Path:
    """`path`, once its folder exists (created when missing) and a file could be written there."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; name a file")
    _check_regular(path)
    writable_dir(path.parent)
    return path


def _check_regular(path: Path):
    """Refuse a device, pipe or socket at `path`: writing a file there would replace it (/dev/full)."""
    if path.exists() and not path.is_file():
        raise OutputError(f"{path}: not a regular file (a device, pipe or socket); name a file")


def _new_mode(path: Path, folder: bool = False) -> int:
    """The permissions a new file (or folder) gets from the umask, or those of the file it replaces."""
    if path.exists():
        return path.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


def kind_of(path) -> str | None:
    """What hrlib wrote `path` as ("zoo", "run", "probes", ...), or None for a folder it did not write."""
    path = Path(path)
    try:
        return json.loads((path / MARKER).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        pass
    for kind, (index, fmt) in _LEGACY_INDEX.items():
        try:
            if json.loads((path / index).read_text()).get("format") == fmt:
                return kind
        except (OSError, ValueError, AttributeError):
            continue
    return None


def _describe(kind: str | None) -> str:
    return "a folder hrlib did not write" if kind is None else f"an hrlib {kind} folder"


def check_owned(path, kind: str, option: str = "--out") -> Path:
    """`path`, once hrlib may write a `kind` folder there: it is missing, empty, or an hrlib folder of
    that kind. Anything else is refused with a line naming what is there and `option`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file, not a folder; choose another {option}")
    if path.is_dir() and any(path.iterdir()):
        found = kind_of(path)
        if found != kind:
            raise OutputError(f"{path}: exists and is {_describe(found)}, not an hrlib {kind} folder; hrlib never "
                              f"writes into or replaces it; choose another {option}")
    return path


def mark(path, kind: str) -> Path:
    """Write the marker that makes the existing folder `path` hrlib's `kind` folder (once it is checked)."""
    path = Path(path)
    if not (path / MARKER).is_file():
        write_text(path / MARKER, json.dumps({"kind": kind}) + "\n")
    return path


def claim_dir(path, kind: str, option: str = "--out") -> Path:
    """Create (or adopt, when empty or already of this kind) the folder `path` as hrlib's `kind` folder."""
    path = check_owned(path, kind, option)
    writable_dir(path)
    return mark(path, kind)


def remove_owned(path, kind: str):
    """Remove the folder `path` and all it holds, once its marker says hrlib wrote it as a `kind` folder;
    anything else is refused, so no folder a user named is ever removed."""
    path = Path(path)
    found = kind_of(path)
    if found != kind:
        raise OutputError(f"{path}: is {_describe(found)}, not an hrlib {kind} folder; hrlib never removes it")
    shutil.rmtree(path)


@contextlib.contextmanager
def atomic(path):
    """Yield a temporary path beside `path`; when the block succeeds it replaces `path` in one step.

    The temporary name is unique (two writers never share it) and ends like `path` (``.tmp-XXXX-t.csv.gz``
    for ``t.csv.gz``), so writers that read a format off the suffix (pandas' compression, numpy's
    ``.npz``) write the same file."""
    path = Path(os.path.realpath(path))  # through a symlink: the link stays, its target is written
    _check_regular(path)
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=f"-{path.name}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.chmod(_new_mode(path))  # mkstemp makes files only their owner can read
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path, text: str) -> Path:
    """Write `text` to `path` atomically."""
    with atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path, kind: str, option: str = "--out"):
    """Yield a temporary folder beside `path`; when the block succeeds it takes `path`'s place, else it
    is removed. An old folder at `path` is replaced only when it is hrlib's folder of the same `kind`
    (`check_owned`), and removed only once the new one is in place. The new folder gets the marker."""
    path = check_owned(path, kind, option)
    writable_dir(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp.chmod(_new_mode(path, folder=True))
    try:
        yield tmp
        mark(tmp, kind)
        if path.exists():
            check_owned(path, kind, option)  # again: the folder may have changed while the block ran
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)  # a folder of our own making, holding only the checked one
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Busy(OutputError):
    """Another process holds the lock of a folder hrlib is about to write."""


HOLDER_KEYS = {"pid", "host", "command", "since"}


def _check_lock_files(lock_file: Path, holder_file: Path):
    """Refuse to lock through files hrlib did not write: taking a lock empties `lock_file` and removes it
    afterwards, and the holder record replaces `holder_file`. An hrlib lock file is empty, its record a
    JSON object of `HOLDER_KEYS`; a killed process leaves both as they were, and they are taken over."""
    if lock_file.exists() and not (lock_file.is_file() and lock_file.stat().st_size == 0):
        raise OutputError(f"{lock_file}: is not an hrlib lock (not an empty file), and hrlib never empties or "
                          "removes it; move it away or choose another --out")
    if holder_file.exists():
        try:
            record = json.loads(holder_file.read_text())
            ours = isinstance(record, dict) and set(record) == HOLDER_KEYS
        except (OSError, ValueError):
            ours = False
        if not ours:
            raise OutputError(f"{holder_file}: is not the record of an hrlib lock, and hrlib never replaces it; "
                              "move it away or choose another --out")


@contextlib.contextmanager
def locked(lock_file, what: str):
    """Hold the lock `lock_file` while the block runs, or refuse at once, naming the process that holds
    it. `what` names the guarded thing in the message ("the run RUN"). The holder is recorded in
    ``LOCK_FILE.json`` beside the lock and removed with it."""
    from filelock import FileLock, Timeout

    lock_file = Path(lock_file)
    holder_file = lock_file.with_name(lock_file.name + ".json")
    _check_lock_files(lock_file, holder_file)
    lock = FileLock(lock_file, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        try:
            holder = json.loads(holder_file.read_text())
            who = f"process {holder['pid']} on {holder['host']} ({holder['command']}, since {holder['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            who = "another process"
        raise Busy(f"{what} is being written by {who}; wait for it to finish or choose another --out") from None
    except OSError as err:
        raise OutputError(f"{lock_file.parent}: cannot write here ({err.strerror or err})") from None
    try:
        program = Path(sys.argv[0]).name
        program = "python -m hrlib" if program == "__main__.py" else program
        write_text(holder_file, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                            "command": " ".join([program, *sys.argv[1:]])[:200],
                                            "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        yield
    finally:
        try:  # only the record this process wrote, never a file of that name it did not
            if json.loads(holder_file.read_text()).get("pid") == os.getpid():
                holder_file.unlink()
        except (OSError, ValueError, AttributeError):
            pass
        lock_file.unlink(missing_ok=True)  # the lock file filelock made (or took over), empty
        lock.release()
