"""Reading checkpoint files: a PyTorch state_dict checked for what it claims to be before it is used.

A file is looked at before torch reads it: an empty file, a text file, an HTML page (a download that
saved the web page) or a git-LFS pointer (a repository cloned without its large files) is named as
what it is. torch.save's zip archives are read memory-mapped with ``weights_only=True``: nothing in
the file runs, and no storage can be larger than the file. Every value must then be a dense,
real, floating-point tensor on the CPU that holds the values it shows: sparse, meta, quantized,
complex, integer tensors and broadcast views (a few stored values shown as millions) are refused,
so a checkpoint of a few kilobytes never becomes a zoo of gigabytes. Shapes are compared with the
expected layout before any weight is copied.

Shape legend: p params.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hrlib.files import kind_of
from hrlib.zoos.layout import Layout
from hrlib.zoos.zoo import load_zoo

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
WRAPPERS = ("state_dict", "model_state_dict", "model")  # keys under which trainers nest the state_dict
_HEAD = 1024  # bytes looked at to tell what a file is


class ImportFormatError(ValueError):
    """The source is not in the format it was imported as, or mixes incompatible parts."""


def _not_a_checkpoint(head: bytes) -> str | None:
    """What the file starting with `head` is instead of a PyTorch checkpoint, or None when it may be one."""
    if not head:
        return "an empty file, not a PyTorch checkpoint"
    if head.startswith((b"PK\x03\x04", b"\x80")):  # torch.save's zip archive, or its older pickle format
        return None
    if head.startswith(b"version https://git-lfs.github.com/spec"):
        return "a git-LFS pointer, not the checkpoint it stands for; fetch the file itself with `git lfs pull`"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text:
        return "an HTML page, not a PyTorch checkpoint (a download that saved a web page?); download the file itself"
    if not any(b < 9 or 13 < b < 32 and b != 27 for b in head):
        return "a text file, not a PyTorch checkpoint"
    return "not a PyTorch checkpoint (neither torch.save's zip archive nor its older pickle format)"


def _zip_problem(path: Path) -> str | None:
    """What keeps a zip archive from being torch.save's, or None."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        return f"a damaged zip archive ({err})"
    if not any(info.filename.endswith("data.pkl") for info in infos):
        return "a zip archive without data.pkl, not a PyTorch checkpoint"
    if any(info.compress_type != zipfile.ZIP_STORED for info in infos):  # torch.save never compresses
        return "a zip archive with compressed entries, not one torch.save wrote"
    return None


def _reason(err: Exception) -> str:
    """torch's complaint in a few words, without its advice to unpickle the file after all."""
    for line in str(err).splitlines():
        line = re.split(r" Please use| was not an allowed global", line.split("WeightsUnpickler error: ")[-1])[0].strip()
        if line and not re.search(r"weights.only|documentation|trust", line, re.IGNORECASE):
            return line.rstrip(".")
    return type(err).__name__


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _tensor_problem(tensor: torch.Tensor) -> str | None:
    """Why a state_dict value is not a plain weight tensor, or None."""
    if tensor.layout != torch.strided:
        return f"is sparse ({str(tensor.layout).removeprefix('torch.')}); save it with tensor.to_dense()"
    if tensor.is_meta:
        return "is a meta tensor: a shape without values (saved from a model whose weights were never made)"
    if tensor.is_quantized:
        return f"is quantized ({str(tensor.dtype).removeprefix('torch.')}); save it with tensor.dequantize()"
    if tensor.is_complex() or not tensor.is_floating_point():
        return f"holds {str(tensor.dtype).removeprefix('torch.')} values; hrlib reads real floating-point weights"
    stored = tensor.untyped_storage().nbytes()
    if tensor.numel() * tensor.element_size() > stored:
        return (f"shows {tensor.numel()} values but stores {stored // tensor.element_size()} (a broadcast or "
                f"expanded view); save it with tensor.clone()")
    return None


def load_state_dict(path) -> dict[str, torch.Tensor]:
    """A state_dict from a checkpoint file, read with weights_only=True (memory-mapped when it is a zip
    archive); unwraps {"state_dict": ...}; refuses anything but plain weight tensors, naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
        size = path.stat().st_size
    except OSError as err:
        raise ImportFormatError(f"{path}: unreadable ({err.strerror or err})") from None
    other = _not_a_checkpoint(head) or (_zip_problem(path) if head.startswith(b"PK") else None)
    if other:
        raise ImportFormatError(f"{path}: {other}")
    try:
        with warnings.catch_warnings():  # torch rebuilds quantized tensors through its deprecated TypedStorage;
            warnings.filterwarnings("ignore", "TypedStorage is deprecated")  # hrlib refuses them in one line below
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=head.startswith(b"PK"))
    except Exception as err:  # noqa: BLE001 -- a hostile file can make torch raise anything; each is one line
        reason = _reason(err)
        wants_more = isinstance(err, pickle.UnpicklingError) or "Weights only load failed" in str(err)
        if wants_more and not reason.startswith("Unsupported operand"):  # an unknown opcode is damage, not a wish
            raise ImportFormatError(f"{path}: refused; torch.load(weights_only=True) reads only tensors and plain "
                                    f"containers, and this file wants more ({reason})") from None
        raise ImportFormatError(f"{path}: not a PyTorch checkpoint, or a damaged one ({reason})") from None
    if isinstance(obj, dict):
        for key in WRAPPERS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise ImportFormatError(f"{path}: holds {'an empty dict' if obj == {} else _a(type(obj).__name__)}, "
                                f"not a state_dict (a dict of tensors)")
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise ImportFormatError(f"{path}: the entry {key!r} is {_a(type(value).__name__)}, not a tensor; hrlib "
                                    f"reads state_dicts (a dict of tensors)")
        wrong = _tensor_problem(value)
        if wrong:
            raise ImportFormatError(f"{path}: the tensor {key!r} {wrong}")
    shown = sum(t.numel() * t.element_size() for t in obj.values())
    if shown > size:  # tensors that share one storage, each shown in full
        raise ImportFormatError(f"{path}: its tensors show {shown} bytes of weights, more than the file's {size} "
                                f"(tensors sharing one storage); save each with tensor.clone()")
    return obj


def flat(state: dict, layout: Layout, path, mismatch: str = "mixed architectures: this checkpoint is {own}, "
                                                             "the zoo's is {layout}") -> np.ndarray:
    """One checkpoint as hrlib's flat vector (p,) float32, matched to `layout` layer by layer (shapes
    compared before any weight is copied); `mismatch` is the message when it has another architecture."""
    try:
        own = Layout.of_state_dict(state)
    except ValueError as err:
        raise ImportFormatError(f"{path}: {err}") from None
    if not own.same_structure(layout):
        raise ImportFormatError(f"{path}: " + mismatch.format(own=own, layout=layout))
    return np.array(own.flatten(state).detach().float().numpy(), dtype=np.float32)


def checkpoint_files(src: Path) -> list[Path]:
    """`src` itself when it is a file, else every checkpoint file under it, sorted."""
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise ImportFormatError(f"{src}: no such file or directory")
    found = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)
    if not found:
        raise ImportFormatError(f"{src}: no checkpoint files ({', '.join(CHECKPOINT_SUFFIXES)})")
    return found


def read_checkpoints(sources, layout: Layout, expected: str = "expected") -> tuple[pd.DataFrame, np.ndarray]:
    """Checkpoints of one architecture as flat weight vectors, without writing a zoo.

    Each source is an hrlib zoo directory (every checkpoint, with its model, epoch and measured
    properties), a folder of state_dict files (searched recursively) or one file. A file that is not
    a checkpoint (`load_state_dict`), a checkpoint of another architecture than `layout`, or one
    with NaN or infinite weights is an `ImportFormatError` naming it; `expected` names what
    `layout` belongs to in that message.

    Returns a table with one row per checkpoint (``checkpoint``: its file, or ZOO:model M epoch E)
    and the weights (n, p), float32.
    """
    tables, parts = [], []
    for src in map(Path, sources):
        if (src / "manifest.json").is_file():
            zoo = load_zoo(src)
            if not zoo.layout.same_structure(layout):
                raise ImportFormatError(f"{src}: a zoo of another architecture ({zoo.layout}); {expected} {layout}")
            props = zoo.properties
            names = src.name + ":model " + props["model"].astype(str) + " epoch " + props["epoch"].astype(str)
            tables.append(props.assign(checkpoint=names.to_numpy()))
            parts.append(zoo.samples())
            continue
        kind = kind_of(src)
        if kind not in (None, "zoo"):
            raise ImportFormatError(f"{src}: an hrlib {kind} folder, not a folder of checkpoints; give a zoo, "
                                    "checkpoint files or a folder of them")
        for path in checkpoint_files(src):
            weights = flat(load_state_dict(path), layout, path,
                           "a checkpoint of another architecture ({own}); " + expected + " {layout}")
            if not np.isfinite(weights).all():
                raise ImportFormatError(f"{path}: NaN or infinite weights")
            tables.append(pd.DataFrame({"checkpoint": [str(path)]}))
            parts.append(weights[None])
    if not parts:
        raise ValueError("no checkpoints given")
    table = pd.concat(tables, ignore_index=True)
    return table[["checkpoint", *[c for c in table.columns if c != "checkpoint"]]], np.concatenate(parts)
