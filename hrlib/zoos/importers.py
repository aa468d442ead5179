"""Importers: model zoos in the formats researchers already hold, converted into hrlib zoos.

- ``unterthiner``: Unterthiner et al.'s Small CNN Zoo: ``weights.npy`` (one row per checkpoint),
  ``metrics.csv[.gz]`` (one row per checkpoint: ``config.*``, ``modeldir``, ``step``, accuracies,
  losses) and ``layout.csv`` (``varname``, ``start_idx``, ``end_idx``, ``shape`` per variable).
  TensorFlow stores each layer's bias *before* its kernel, kernels in HWIO (dense: in × out)
  order; hrlib wants kernel then bias, OIHW (dense: out × in). The column permutation is built
  from layout.csv, so the conversion is one gather per row.
- ``modelzoos``: the Model Zoos 2022 release: one ray.tune trial directory per model with
  ``params.json``, ``result.json`` (JSON lines; ``training_iteration`` n is epoch n) and
  ``checkpoint_<n>/checkpoints`` (a state_dict with ``module_list.<i>.weight|bias`` keys).
- ``state_dicts``: a folder of plain PyTorch state_dicts of one architecture: one sub-folder per
  model with its checkpoints (the last number in a file name is its epoch), or flat files, each
  its own model; or any files, with a CSV whose ``file`` column names them and whose optional
  ``model`` and ``epoch`` columns (and any others, as properties) describe them.

The architecture is given (a name in `hrlib.zoos.architectures` or an ``nn.Module``) or inferred from
the weights; weights are matched to it layer by layer, in order, so key names need not agree.
Models without the zoo's full set of checkpoints, or with non-finite weights, are left out and
listed in the manifest; anything else unexpected (mixed architectures, malformed files) is an
`ImportFormatError` naming the file. Checkpoints are read with ``torch.load(weights_only=True)``:
a zoo from a stranger cannot run code. Weights are converted into a memory-mapped scratch file
beside the output, so a 5 GB zoo never has to fit in memory, and the zoo is saved atomically.

Shape legend: m models, c checkpoints, p params, r rows of a source file.
"""

from __future__ import annotations

import ast
import contextlib
import json
import pickle
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from hrlib.files import new_output
from hrlib.zoos import architectures as arch
from hrlib.zoos.layout import Layer, Layout
from hrlib.zoos.zoo import Zoo, load_zoo

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
UNTERTHINER_COLUMNS = {  # theirs -> hrlib's
    "config.activation": "activation", "config.w_init": "init", "config.init_std": "init_std",
    "config.optimizer": "optimizer", "config.learning_rate": "lr", "config.l2reg": "weight_decay",
    "config.dropout": "dropout", "config.train_fraction": "train_fraction", "config.random_seed": "seed",
    "config.dataset": "dataset", "train_accuracy": "train_acc", "test_accuracy": "test_acc",
}
MODELZOOS_PARAMS = {
    "model::nlin": "activation", "model::init_type": "init", "optim::optimizer": "optimizer",
    "optim::lr": "lr", "optim::wd": "weight_decay", "model::dropout": "dropout", "seed": "seed",
}
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "val_loss", "val_acc")


class ImportFormatError(ValueError):
    """The source is not in the format it was imported as, or mixes incompatible parts."""


# ---- shared machinery ----------------------------------------------------------------------------


@contextlib.contextmanager
def _scratch(out: Path, shape: tuple[int, int, int]):
    """A float32 memmap (m, c, p) in a temporary directory beside `out`, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.import.", dir=out.parent))
    try:
        yield np.lib.format.open_memmap(tmp / "weights.npy", mode="w+", dtype=np.float32, shape=shape)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _complete(entries: dict) -> tuple[list, list[int], list[dict]]:
    """Models holding the zoo's set of checkpoint epochs (the most common one), those epochs, and the rest."""
    counts = Counter(tuple(sorted(epochs)) for epochs in entries.values() if epochs)
    if not counts:
        raise ImportFormatError("no checkpoints found")
    epochs = max(counts, key=lambda e: (counts[e], len(e)))
    kept = [k for k, v in entries.items() if tuple(sorted(v)) == epochs]
    dropped = [{"model": str(k), "reason": f"checkpoints at epochs {sorted(v)}; the zoo's are {list(epochs)}"}
               for k, v in entries.items() if tuple(sorted(v)) != epochs]
    return kept, list(epochs), dropped


def _save(out: Path, weights: np.ndarray, rows: list[dict], layout: Layout, manifest: dict) -> Zoo:
    """Assemble and save the zoo; `rows` holds one dict of properties per checkpoint, model-major."""
    if not rows:
        dropped = manifest.get("dropped", [])
        reasons = sorted({d["reason"] for d in dropped})
        raise ImportFormatError(f"no model could be imported: all {len(dropped)} were dropped ({'; '.join(reasons)})")
    props = pd.DataFrame(rows)
    if {"train_acc", "test_acc"} <= set(props):
        props["ggap"] = props["train_acc"] - props["test_acc"]
    manifest = {"architecture": arch.find_architecture(layout), **manifest,
                "models_dropped": len(manifest.get("dropped", []))}
    Zoo(weights, props, layout, manifest).save(out)
    return load_zoo(out)


def load_state_dict(path) -> dict[str, torch.Tensor]:
    """A state_dict from a checkpoint file, read with weights_only=True; unwraps {"state_dict": ...}."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ImportFormatError(
            f"{path}: refused; torch.load(weights_only=True) reads only tensors and plain containers, "
            f"and this file wants more ({first})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise ImportFormatError(f"{path}: not a PyTorch checkpoint ({err})") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ImportFormatError(f"{path}: holds a {type(obj).__name__}, not a state_dict (a dict of tensors)")
    return obj


def _zoo_layout(architecture, first_state: dict, path) -> Layout:
    """The zoo's layout: the given architecture's (a name or a module), or the one its first
    checkpoint shows. One that matches a known architecture gets hrlib's names, so that
    `build_module` loads the zoo's weights."""
    if isinstance(architecture, str):
        return arch.layout_of(architecture) if architecture in arch.ARCHITECTURES else _unknown(architecture)
    try:
        layout = Layout.of_module(architecture) if isinstance(architecture, nn.Module) else Layout.of_state_dict(first_state)
    except ValueError as err:
        raise ImportFormatError(f"{path}: {err}") from None
    name = arch.find_architecture(layout)
    return arch.layout_of(name) if name else layout


def _unknown(name):
    raise ValueError(f"unknown architecture {name!r}; known: {sorted(arch.ARCHITECTURES)}")


def _flat(state: dict, layout: Layout, path, mismatch: str = "mixed architectures: this checkpoint is {own}, "
                                                              "the zoo's is {layout}") -> np.ndarray:
    """One checkpoint as hrlib's flat vector (p,), matched to `layout` layer by layer; `mismatch` is the
    message when it has another architecture."""
    try:
        own = Layout.of_state_dict(state)
    except ValueError as err:
        raise ImportFormatError(f"{path}: {err}") from None
    if not own.same_structure(layout):
        raise ImportFormatError(f"{path}: " + mismatch.format(own=own, layout=layout))
    return own.flatten(state).detach().float().numpy()


@contextlib.contextmanager
def _write_models(out: Path, layout: Layout, kept: list, epochs: list, checkpoint_paths, dropped: list):
    """Read every kept model's checkpoints into a scratch memmap; yields (weights, models written)."""
    with _scratch(out, (len(kept), len(epochs), layout.n_params)) as weights:
        written = []
        for key in kept:
            model = np.stack([_flat(load_state_dict(p), layout, p) for p in checkpoint_paths(key)])
            if not np.isfinite(model).all():
                dropped.append({"model": str(key), "reason": "NaN or inf weights"})
                continue
            weights[len(written)] = model
            written.append(key)
        yield weights[: len(written)], written


# ---- Unterthiner et al.'s Small CNN Zoo ----------------------------------------------------------


def unterthiner_permutation(layout_csv: pd.DataFrame, n_columns: int) -> tuple[Layout, np.ndarray]:
    """hrlib's layout of a Small CNN Zoo row and the gather index: hrlib_row = row[index]."""
    missing = {"varname", "start_idx", "end_idx", "shape"} - set(layout_csv)
    if missing:
        raise ImportFormatError(f"layout.csv lacks the columns {sorted(missing)}")
    variables = {}
    for var in layout_csv.itertuples():
        shape = tuple(ast.literal_eval(str(var.shape)))  # literal_eval: a tuple of ints, never code
        if var.end_idx - var.start_idx != int(np.prod(shape)):
            raise ImportFormatError(f"layout.csv: {var.varname} spans {var.end_idx - var.start_idx} columns, shape {shape}")
        prefix, _, leaf = str(var.varname).rpartition("/")
        if leaf not in ("kernel:0", "bias:0"):
            raise ImportFormatError(f"layout.csv: variable {var.varname!r} is neither a kernel nor a bias")
        variables.setdefault(prefix, {})[leaf.split(":")[0]] = (int(var.start_idx), shape)
    layers, index = [], []
    for prefix, parts in sorted(variables.items(), key=lambda kv: min(s for s, _ in kv[1].values())):
        if "kernel" not in parts:
            raise ImportFormatError(f"layout.csv: {prefix} has a bias but no kernel")
        start, shape = parts["kernel"]
        block = start + np.arange(int(np.prod(shape))).reshape(shape)
        if len(shape) == 4:  # (h, w, in, out) -> (out, in, h, w)
            layers.append(Layer(prefix, "conv", (shape[3], shape[2], shape[0], shape[1]), "bias" in parts))
            index.append(block.transpose(3, 2, 0, 1).ravel())
        elif len(shape) == 2:  # (in, out) -> (out, in)
            in_block = 1
            if layers and layers[-1].kind == "conv" and shape[0] % layers[-1].units_out == 0:
                in_block = shape[0] // layers[-1].units_out
            layers.append(Layer(prefix, "linear", (shape[1], shape[0]), "bias" in parts, in_block))
            index.append(block.T.ravel())
        else:
            raise ImportFormatError(f"layout.csv: {prefix} kernel of shape {shape} is neither conv nor dense")
        if "bias" in parts:
            bias_start, bias_shape = parts["bias"]
            index.append(bias_start + np.arange(bias_shape[0]))
    index = np.concatenate(index)
    if len(index) != n_columns or not np.array_equal(np.sort(index), np.arange(n_columns)):
        raise ImportFormatError(f"layout.csv does not cover the {n_columns} columns of weights.npy exactly once")
    layout = Layout(layers)
    name = arch.find_architecture(layout)
    return (arch.layout_of(name) if name else layout), index


def import_unterthiner(src, out, architecture=None, properties=None, chunk: int = 256) -> Zoo:
    """Convert a Small CNN Zoo directory into an hrlib zoo at `out` (see the module docstring)."""
    src, out = Path(src), new_output(out)
    metrics_path = next((src / n for n in ("metrics.csv", "metrics.csv.gz") if (src / n).is_file()), None)
    if not (src / "weights.npy").is_file() or metrics_path is None or not (src / "layout.csv").is_file():
        raise ImportFormatError(f"{src}: a Small CNN Zoo directory holds weights.npy, metrics.csv[.gz] and layout.csv")
    try:
        raw = np.load(src / "weights.npy", mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        raise ImportFormatError(f"{src / 'weights.npy'}: unreadable ({err})") from None
    if raw.ndim != 2:
        raise ImportFormatError(f"{src / 'weights.npy'}: shape {raw.shape}; expected (checkpoints, params)")
    metrics = pd.read_csv(metrics_path).drop(columns=["Unnamed: 0"], errors="ignore")
    needed = {"modeldir", "step", "train_accuracy", "test_accuracy", "train_loss", "test_loss"}
    if needed - set(metrics):
        raise ImportFormatError(f"{metrics_path}: lacks the columns {sorted(needed - set(metrics))}")
    if len(metrics) != len(raw):
        raise ImportFormatError(f"{metrics_path} has {len(metrics)} rows but weights.npy {len(raw)}")
    layout, index = unterthiner_permutation(pd.read_csv(src / "layout.csv"), raw.shape[1])
    if architecture is not None and not arch.layout_of(architecture).same_structure(layout):
        raise ImportFormatError(f"{src}: layout.csv describes {layout}, not {architecture!r}")

    if metrics.duplicated(["modeldir", "step"]).any():
        raise ImportFormatError(f"{metrics_path}: a model has two rows for the same step")
    rows_of = {d: dict(zip(g["step"], g.index)) for d, g in metrics.groupby("modeldir", sort=True)}  # models by name
    kept, epochs, dropped = _complete(rows_of)
    rows = np.array([[rows_of[d][e] for e in epochs] for d in kept])  # (m, c) row numbers
    with _scratch(out, (len(kept), len(epochs), layout.n_params)) as weights:
        written = []
        for start in range(0, len(kept), chunk):
            block = np.asarray(raw[rows[start : start + chunk].ravel()], dtype=np.float32)[:, index]
            block = block.reshape(-1, len(epochs), layout.n_params)
            finite = np.isfinite(block).all(axis=(1, 2))
            for i in np.flatnonzero(~finite):
                dropped.append({"model": kept[start + i], "reason": "NaN or inf weights"})
            weights[len(written) : len(written) + finite.sum()] = block[finite]
            written += [start + i for i in np.flatnonzero(finite)]
        table = metrics.iloc[rows[written].ravel()].rename(columns=UNTERTHINER_COLUMNS)
        table = table.rename(columns=lambda c: c.removeprefix("config.") if c.removeprefix("config.") not in table else c)
        table.insert(0, "model", np.repeat(np.arange(len(written)), len(epochs)))
        table.insert(1, "epoch", table.pop("step").to_numpy())
        datasets = table["dataset"].unique().tolist() if "dataset" in table else []
        manifest = {
            "source": {"format": "unterthiner", "path": str(src)},
            "dataset": {"name": datasets[0] if len(datasets) == 1 else None},
            "epochs": epochs, "models_trained": len(rows_of), "dropped": dropped,
            "conversion": "per layer: bias-first, HWIO kernels -> kernel-then-bias, OIHW",
        }
        return _save(out, weights[: len(written)], table.to_dict("records"), layout, manifest)


# ---- Model Zoos 2022 (ray.tune trial directories) ------------------------------------------------


def _read_results(path: Path) -> dict[int, dict]:
    """result.json's JSON lines by training_iteration."""
    results = {}
    if not path.is_file():
        return results
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ImportFormatError(f"{path}, line {n}: not JSON ({err})") from None
            if "training_iteration" in record:
                results[int(record["training_iteration"])] = record
    return results


def import_modelzoos(src, out, architecture=None, properties=None) -> Zoo:
    """Convert a directory of Model Zoos 2022 ray.tune trials into an hrlib zoo at `out`."""
    src, out = Path(src), new_output(out)
    trials = [src] if (src / "params.json").is_file() else sorted(p.parent for p in src.glob("*/params.json"))
    if not trials:
        raise ImportFormatError(f"{src}: no ray.tune trial directories (with params.json) here")
    checkpoints = {}
    for trial in trials:
        found = {}
        for d in trial.iterdir():
            match = re.fullmatch(r"checkpoint_(\d+)", d.name)
            if match and (d / "checkpoints").is_file():
                found[int(match[1])] = d / "checkpoints"
        checkpoints[trial] = found
    kept, epochs, dropped = _complete(checkpoints)
    first = checkpoints[kept[0]][epochs[0]]
    layout = _zoo_layout(architecture, load_state_dict(first), first)
    with _write_models(out, layout, kept, epochs, lambda t: [checkpoints[t][e] for e in epochs], dropped) as (
        weights, written,
    ):
        rows = []
        for i, trial in enumerate(written):
            try:
                params = json.loads((trial / "params.json").read_text())
            except json.JSONDecodeError as err:
                raise ImportFormatError(f"{trial / 'params.json'}: not JSON ({err})") from None
            factors = {ours: params[theirs] for theirs, ours in MODELZOOS_PARAMS.items() if theirs in params}
            results = _read_results(trial / "result.json")
            for e in epochs:
                record = results.get(e, {})
                metrics = {k: record[k] for k in METRICS if k in record}
                rows.append({"model": i, "epoch": e, "trial": trial.name, **factors, **metrics})
        manifest = {"source": {"format": "modelzoos", "path": str(src)}, "dataset": {"name": None},
                    "epochs": epochs, "models_trained": len(trials), "dropped": dropped}
        return _save(out, weights, rows, layout, manifest)


# ---- a folder of plain PyTorch state_dicts -------------------------------------------------------


def _last_number(path: Path) -> int:
    numbers = re.findall(r"\d+", path.stem)
    if not numbers:
        raise ImportFormatError(f"{path}: cannot tell its epoch (no number in its name); give a CSV with an epoch column")
    return int(numbers[-1])


def _checkpoint_files(src: Path) -> list[Path]:
    """`src` itself when it is a file, else every checkpoint file under it, sorted."""
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise ImportFormatError(f"{src}: no such file or directory")
    found = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)
    if not found:
        raise ImportFormatError(f"{src}: no checkpoint files ({', '.join(CHECKPOINT_SUFFIXES)})")
    return found


def import_state_dicts(src, out, architecture=None, properties=None) -> Zoo:
    """Convert a folder of PyTorch state_dicts (and an optional properties CSV) into an hrlib zoo at `out`."""
    src, out = Path(src), new_output(out)
    extra: dict[tuple, dict] = {}
    files: dict = {}  # model -> {epoch: path}
    if properties is not None:
        table = pd.read_csv(properties)
        if "file" not in table:
            raise ImportFormatError(f"{properties}: needs a 'file' column naming each checkpoint (relative to {src})")
        for column in ("file", "model", "epoch"):  # line numbers count the header as line 1
            blank = table[column].isna() if column in table else pd.Series(False, index=table.index)
            if blank.any():
                raise ImportFormatError(f"{properties}, line {blank.idxmax() + 2}: the {column!r} cell is blank")
        if "epoch" in table:
            epochs = pd.to_numeric(table["epoch"], errors="coerce")
            bad = epochs.isna() | (epochs % 1 != 0)
            if bad.any():
                line = bad.idxmax()
                raise ImportFormatError(f"{properties}, line {line + 2}: epoch {table['epoch'][line]!r} is not a whole number")
        for row in table.to_dict("records"):
            path = src / str(row.pop("file"))
            if not path.is_file():
                raise ImportFormatError(f"{properties}: lists {path}, which does not exist")
            model, epoch = row.pop("model", str(path)), int(row.pop("epoch", -1))
            if epoch in files.setdefault(model, {}):
                raise ImportFormatError(f"{properties}: model {model!r} has two files for epoch {epoch}")
            files[model][epoch] = path
            extra[(model, epoch)] = row
    else:
        found = _checkpoint_files(src)
        depths = {len(p.relative_to(src).parts) for p in found}
        if depths == {1}:  # flat: each file its own model; epoch -1 = not recorded
            files = {p.name: {-1: p} for p in found}
        elif depths == {2}:  # one sub-folder per model
            for p in found:
                epoch = _last_number(p)
                if epoch in files.setdefault(p.parent.name, {}):
                    raise ImportFormatError(f"{p}: a second checkpoint of {p.parent.name} for epoch {epoch}")
                files[p.parent.name][epoch] = p
        else:
            raise ImportFormatError(f"{src}: mixes files at different depths; use one sub-folder per model, or a CSV")
    kept, epochs, dropped = _complete(files)
    first = files[kept[0]][epochs[0]]
    layout = _zoo_layout(architecture, load_state_dict(first), first)
    with _write_models(out, layout, kept, epochs, lambda k: [files[k][e] for e in epochs], dropped) as (
        weights, written,
    ):
        rows = [{"model": i, "epoch": e, "source_model": str(k), **extra.get((k, e), {})}
                for i, k in enumerate(written) for e in epochs]
        manifest = {"source": {"format": "state_dicts", "path": str(src)}, "dataset": {"name": None},
                    "epochs": epochs, "models_trained": len(files), "dropped": dropped}
        return _save(out, weights, rows, layout, manifest)


# ---- Checkpoints read without building a zoo -------------------------------------------------------


def read_checkpoints(sources, layout: Layout, expected: str = "expected") -> tuple[pd.DataFrame, np.ndarray]:
    """Checkpoints of one architecture as flat weight vectors, without writing a zoo.

    Each source is an hrlib zoo directory (every checkpoint, with its model, epoch and measured
    properties), a folder of state_dict files (searched recursively) or one file. A checkpoint of
    another architecture than `layout`, or with NaN or infinite weights, is an `ImportFormatError`
    naming it; `expected` names what `layout` belongs to in that message.

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
        for path in _checkpoint_files(src):
            flat = _flat(load_state_dict(path), layout, path,
                         "a checkpoint of another architecture ({own}); " + expected + " {layout}")
            if not np.isfinite(flat).all():
                raise ImportFormatError(f"{path}: NaN or infinite weights")
            tables.append(pd.DataFrame({"checkpoint": [str(path)]}))
            parts.append(flat[None])
    if not parts:
        raise ValueError("no checkpoints given")
    table = pd.concat(tables, ignore_index=True)
    return table[["checkpoint", *[c for c in table.columns if c != "checkpoint"]]], np.concatenate(parts)


FORMATS = {"unterthiner": import_unterthiner, "modelzoos": import_modelzoos, "state_dicts": import_state_dicts}


def import_zoo(format: str, src, out, architecture=None, properties=None) -> Zoo:
    """Convert the zoo at `src`, in `format` (one of FORMATS), into an hrlib zoo at `out`."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; known: {sorted(FORMATS)}")
    if not Path(src).is_dir():
        raise ImportFormatError(f"{src}: no such directory")
    return FORMATS[format](src, out, architecture=architecture, properties=properties)
