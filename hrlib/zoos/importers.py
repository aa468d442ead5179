"""Importers: model zoos in the formats researchers already hold, converted into hrlib zoos.

- ``unterthiner``: Unterthiner et al.'s Small CNN Zoo: ``weights.npy`` (one row per checkpoint),
  ``metrics.csv[.gz]`` (one row per checkpoint: ``config.*``, ``modeldir``, ``step``, accuracies,
  losses) and ``layout.csv`` (``varname``, ``start_idx``, ``end_idx``, ``shape`` per variable).
  TensorFlow stores each layer's bias *before* its kernel, kernels in HWIO (dense: in × out)
  order; hrlib wants kernel then bias, OIHW (dense: out × in). The column permutation is built
  from layout.csv, so the conversion is one gather per row. Each checkpoint keeps its row number in
  weights.npy as ``source_row``.
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
`ImportFormatError` naming the file. Checkpoints are read by `hrlib.zoos.checkpoints` (with
``torch.load(weights_only=True)``, each value checked): a zoo from a stranger cannot run code, and a
small file cannot expand into a large zoo. Weights are converted into a memory-mapped scratch file
beside the output, so a 5 GB zoo never has to fit in memory, and the zoo is saved atomically.

Shape legend: m models, c checkpoints, p params, r rows of a source file.
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from hrlib.files import new_output
from hrlib.schemas import read_json
from hrlib.zoos import architectures as arch
from hrlib.zoos.checkpoints import ImportFormatError, checkpoint_files, flat, load_state_dict
from hrlib.zoos.layout import Layer, Layout
from hrlib.zoos.zoo import Zoo, load_zoo

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
MAX_EPOCH = 1_000_000  # a larger "epoch" is a step count or a timestamp, not an epoch


# ---- shared machinery ----------------------------------------------------------------------------


@contextlib.contextmanager
def _scratch(out: Path, shape: tuple[int, int, int]):
    """A float32 memmap (m, c, p) in a temporary directory beside `out`, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.import.", dir=out.parent))
    try:
        yield np.lib.format.open_memmap(tmp / "weights.npy", mode="w+", dtype=np.float32, shape=shape)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _complete(entries: dict, src) -> tuple[list, list[int], list[dict]]:
    """Models holding the zoo's set of checkpoint epochs (the most common one), those epochs, and the rest."""
    counts = Counter(tuple(sorted(epochs)) for epochs in entries.values() if epochs)
    if not counts:
        raise ImportFormatError(f"{src}: no checkpoints found")
    epochs = max(counts, key=lambda e: (counts[e], len(e)))
    kept = [k for k, v in entries.items() if tuple(sorted(v)) == epochs]
    dropped = [{"model": str(k), "reason": f"checkpoints at epochs {sorted(v)}; the zoo's are {list(epochs)}"}
               for k, v in entries.items() if tuple(sorted(v)) != epochs]
    return kept, list(epochs), dropped


def _read_csv(path) -> pd.DataFrame:
    """A CSV file, or one line naming it when it is not one (binary, empty, malformed)."""
    try:
        return pd.read_csv(path)
    except (ValueError, OSError) as err:  # pandas' ParserError and EmptyDataError and UnicodeDecodeError are ValueErrors
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ImportFormatError(f"{path}: not a readable CSV file ({first[:200]})") from None


def _check_cells(table: pd.DataFrame, path, columns=(), epochs: str | None = None):
    """Refuse, naming the line, a blank cell in `columns` or an `epochs` cell that is not a whole number
    in 0..MAX_EPOCH (line numbers count the header as line 1)."""
    for column in columns:
        blank = table[column].isna() if column in table else pd.Series(False, index=table.index)
        if blank.any():
            raise ImportFormatError(f"{path}, line {blank.idxmax() + 2}: the {column!r} cell is blank")
    if epochs in table:
        numbers = pd.to_numeric(table[epochs], errors="coerce")
        bad = numbers.isna() | (numbers % 1 != 0) | (numbers < 0) | (numbers > MAX_EPOCH)
        if bad.any():
            line = bad.idxmax()
            raise ImportFormatError(f"{path}, line {line + 2}: {epochs} {table[epochs][line]} is not a whole number "
                                    f"in 0..{MAX_EPOCH}")


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


@contextlib.contextmanager
def _write_models(out: Path, layout: Layout, kept: list, epochs: list, checkpoint_paths, dropped: list):
    """Read every kept model's checkpoints into a scratch memmap; yields (weights, models written)."""
    with _scratch(out, (len(kept), len(epochs), layout.n_params)) as weights:
        written = []
        for key in kept:
            model = np.stack([flat(load_state_dict(p), layout, p) for p in checkpoint_paths(key)])
            if not np.isfinite(model).all():
                dropped.append({"model": str(key), "reason": "NaN or inf weights"})
                continue
            weights[len(written)] = model
            written.append(key)
        yield weights[: len(written)], written


# ---- Unterthiner et al.'s Small CNN Zoo ----------------------------------------------------------


def _variable(var, path, n_columns: int) -> tuple[int, tuple[int, ...]]:
    """A layout.csv row's first column and shape, once they fit within the `n_columns` of weights.npy."""
    try:
        shape = tuple(int(d) for d in ast.literal_eval(str(var.shape)))  # literal_eval: a tuple of ints, never code
        start, end = int(var.start_idx), int(var.end_idx)
    except (ValueError, TypeError, SyntaxError, OverflowError, MemoryError, RecursionError):
        raise ImportFormatError(f"{path}: {var.varname}: start_idx, end_idx and shape must be whole numbers and a "
                                f"tuple of them, not {var.start_idx!r}, {var.end_idx!r}, {var.shape!r}") from None
    if not 0 <= start < end <= n_columns or min(shape, default=0) < 1:  # checked before any index is allocated
        raise ImportFormatError(f"{path}: {var.varname} spans columns {start}..{end} with shape {shape}; weights.npy "
                                f"has {n_columns} columns")
    if end - start != math.prod(shape):
        raise ImportFormatError(f"{path}: {var.varname} spans {end - start} columns, shape {shape}")
    return start, shape


def unterthiner_permutation(layout_csv: pd.DataFrame, n_columns: int, path="layout.csv") -> tuple[Layout, np.ndarray]:
    """hrlib's layout of a Small CNN Zoo row and the gather index: hrlib_row = row[index]."""
    missing = {"varname", "start_idx", "end_idx", "shape"} - set(layout_csv)
    if missing:
        raise ImportFormatError(f"{path} lacks the columns {sorted(missing)}")
    variables = {}
    for var in layout_csv.itertuples():
        start, shape = _variable(var, path, n_columns)
        prefix, _, leaf = str(var.varname).rpartition("/")
        if leaf not in ("kernel:0", "bias:0"):
            raise ImportFormatError(f"{path}: variable {var.varname!r} is neither a kernel nor a bias")
        variables.setdefault(prefix, {})[leaf.split(":")[0]] = (start, shape)
    layers, index = [], []
    for prefix, parts in sorted(variables.items(), key=lambda kv: min(s for s, _ in kv[1].values())):
        if "kernel" not in parts:
            raise ImportFormatError(f"{path}: {prefix} has a bias but no kernel")
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
            raise ImportFormatError(f"{path}: {prefix} kernel of shape {shape} is neither conv nor dense")
        if "bias" in parts:
            bias_start, bias_shape = parts["bias"]
            index.append(bias_start + np.arange(bias_shape[0]))
    index = np.concatenate(index)
    if len(index) != n_columns or not np.array_equal(np.sort(index), np.arange(n_columns)):
        raise ImportFormatError(f"{path} does not cover the {n_columns} columns of weights.npy exactly once")
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
    if raw.ndim != 2 or raw.dtype.kind not in "fiu":
        raise ImportFormatError(f"{src / 'weights.npy'}: {raw.dtype} of shape {raw.shape}; expected real numbers "
                                f"(checkpoints, params)")
    metrics = _read_csv(metrics_path).drop(columns=["Unnamed: 0"], errors="ignore")
    needed = {"modeldir", "step", "train_accuracy", "test_accuracy", "train_loss", "test_loss"}
    if needed - set(metrics):
        raise ImportFormatError(f"{metrics_path}: lacks the columns {sorted(needed - set(metrics))}")
    if len(metrics) != len(raw):
        raise ImportFormatError(f"{metrics_path} has {len(metrics)} rows but weights.npy {len(raw)}")
    _check_cells(metrics, metrics_path, ["modeldir"], "step")
    metrics["step"] = metrics["step"].astype(np.int64)
    layout, index = unterthiner_permutation(_read_csv(src / "layout.csv"), raw.shape[1], src / "layout.csv")
    if architecture is not None and not arch.layout_of(architecture).same_structure(layout):
        raise ImportFormatError(f"{src}: layout.csv describes {layout}, not {architecture!r}")

    if metrics.duplicated(["modeldir", "step"]).any():
        raise ImportFormatError(f"{metrics_path}: a model has two rows for the same step")
    rows_of = {d: dict(zip(g["step"], g.index)) for d, g in metrics.groupby("modeldir", sort=True)}  # models by name
    kept, epochs, dropped = _complete(rows_of, src)
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
        table.insert(2, "source_row", rows[written].ravel())  # the row in weights.npy: the NFN protocol's order
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
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ImportFormatError(f"{path}: unreadable as text ({err})") from None
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ImportFormatError(f"{path}, line {n}: not JSON ({err})") from None
            if not isinstance(record, dict):
                raise ImportFormatError(f"{path}, line {n}: {type(record).__name__}, not a JSON object")
            if "training_iteration" in record:
                epoch = record["training_iteration"]
                if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= MAX_EPOCH:
                    raise ImportFormatError(f"{path}, line {n}: training_iteration {epoch!r} is not a whole number "
                                            f"in 0..{MAX_EPOCH}")
                results[epoch] = record
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
                if int(match[1]) > MAX_EPOCH:
                    raise ImportFormatError(f"{d}: epoch {int(match[1])} is more than {MAX_EPOCH}")
                found[int(match[1])] = d / "checkpoints"
        checkpoints[trial] = found
    kept, epochs, dropped = _complete(checkpoints, src)
    # every kept trial's records are read before any checkpoint is: a damaged one stops the import at once
    params = {t: read_json(t / "params.json", {"type": "object"}, ImportFormatError, "a ray.tune trial's params")
              for t in kept}
    results = {t: _read_results(t / "result.json") for t in kept}
    first = checkpoints[kept[0]][epochs[0]]
    layout = _zoo_layout(architecture, load_state_dict(first), first)
    with _write_models(out, layout, kept, epochs, lambda t: [checkpoints[t][e] for e in epochs], dropped) as (
        weights, written,
    ):
        rows = []
        for i, trial in enumerate(written):
            factors = {ours: params[trial][theirs] for theirs, ours in MODELZOOS_PARAMS.items()
                       if theirs in params[trial]}
            for e in epochs:
                record = results[trial].get(e, {})
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
    if int(numbers[-1]) > MAX_EPOCH:
        raise ImportFormatError(f"{path}: epoch {numbers[-1]} (the last number in its name) is more than {MAX_EPOCH}; "
                                f"give a CSV with an epoch column")
    return int(numbers[-1])


def import_state_dicts(src, out, architecture=None, properties=None) -> Zoo:
    """Convert a folder of PyTorch state_dicts (and an optional properties CSV) into an hrlib zoo at `out`."""
    src, out = Path(src), new_output(out)
    extra: dict[tuple, dict] = {}
    files: dict = {}  # model -> {epoch: path}
    if properties is not None:
        table = _read_csv(properties)
        if "file" not in table:
            raise ImportFormatError(f"{properties}: needs a 'file' column naming each checkpoint (relative to {src})")
        _check_cells(table, properties, ("file", "model", "epoch"), "epoch")
        twice = table["file"].astype(str).duplicated()
        if twice.any():  # one checkpoint as many rows would only copy its weights, and could fill a disk
            line = twice.idxmax()
            raise ImportFormatError(f"{properties}, line {line + 2}: lists {table['file'][line]} a second time; "
                                    f"each checkpoint file is one row")
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
        found = checkpoint_files(src)
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
    kept, epochs, dropped = _complete(files, src)
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


FORMATS = {"unterthiner": import_unterthiner, "modelzoos": import_modelzoos, "state_dicts": import_state_dicts}


def import_zoo(format: str, src, out, architecture=None, properties=None) -> Zoo:
    """Convert the zoo at `src`, in `format` (one of FORMATS), into an hrlib zoo at `out`."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; known: {sorted(FORMATS)}")
    if Path(src).is_file():
        raise ImportFormatError(f"{src}: is a file, not a folder; give the folder that holds the {format} zoo")
    if not Path(src).is_dir():
        raise ImportFormatError(f"{src}: no such directory")
    return FORMATS[format](src, out, architecture=architecture, properties=properties)
