"""Bad inputs to `hrlib probe --save`, `hrlib predict` and probe folders, to the checkpoints and zoos
`hrlib predict` and `hrlib zoo import` read, and to `hrlib sample`."""

import shutil
import warnings
import zipfile

import numpy as np
import pandas as pd
import torch

from hrlib.zoos.architectures import build_module
from tests.bad_input_cases import Case
from tests.evaluate.test_saved import resave

CASES: list[Case] = []


def _project_with_notes(paths):
    (paths["tmp"] / "project").mkdir()
    (paths["tmp"] / "project" / "notes.txt").write_text("a week of notes")


CASES += [
    Case("probe --save onto a folder of the user's",
         ("probe", "{zoo}", "--run", "E_cD={run}", "--features", "", "--out", "{tmp}/t.csv", "--save", "{tmp}/project"),
         "{tmp}/project: exists and is a folder hrlib did not write, not an hrlib probes folder; hrlib never writes "
         "into or replaces it; choose another --save", _project_with_notes),
    Case("probe --save onto a run folder",
         ("probe", "{zoo}", "--run", "E_cD={run}", "--features", "", "--out", "{tmp}/t.csv", "--save", "{run}"),
         "{run}: exists and is an hrlib run folder, not an hrlib probes folder; hrlib never writes into or "
         "replaces it; choose another --save"),
]


# ---- probe folders: probes.json, probes.npz and the two together ------------------------------------------

PREDICT = ("predict", "{run}", "{tmp}/p", "{zoo}")
AGAIN = "save the probes again with `hrlib probe ZOO --run NAME=RUN --save {tmp}/p`"
INDEX = "is it the index of an hrlib probe folder?"


def _copy(paths):
    return shutil.copytree(paths["probes"], paths["tmp"] / "p")


def _index(text: str):
    """A setup that writes `text` as the copied folder's probes.json."""
    return lambda paths: (_copy(paths) / "probes.json").write_text(text)


def _resave(arrays=None, index=None):
    """A setup that changes the copied folder's arrays and index, keeping the checksum that ties them true."""
    def setup(paths):
        resave(_copy(paths), arrays, index)
    return setup


def _probe(change):
    """An index change applied to the first probe record."""
    def index(record):
        record["feature_sets"]["E_cD"]["probes"][0] = change(record["feature_sets"]["E_cD"]["probes"][0])
        return record
    return index


def _other_arrays(paths):
    """probes.npz of another probe folder (other coefficients) beside this folder's probes.json."""
    folder = _copy(paths)
    with np.load(folder / "probes.npz") as npz:
        content = dict(npz)
    np.savez(folder / "probes.npz", **{k: 2 * v for k, v in content.items()})


def _legacy(record):
    record.pop("arrays_sha256")
    return record | {"format_version": 1}


def _narrower(record):
    record["feature_sets"]["E_cD"]["width"] = 11
    return record


CASES += [
    Case("predict with the probes.npz of another probe folder", PREDICT,
         "{tmp}/p/probes.npz: not the probes.npz saved with the probes.json beside it (its sha256 differs from the one "
         "recorded there); put that one back, or " + AGAIN, _other_arrays),
    Case("predict with probes saved before probes.json held a checksum", PREDICT,
         "{tmp}/p/probes.json: probes saved by an earlier hrlib (format 1), without the checksum that ties probes.npz "
         "to them; " + AGAIN, _resave(index=_legacy)),
    Case("predict with probes of a newer format", PREDICT,
         "{tmp}/p/probes.json: probe format 7 is newer than this hrlib reads (2); update hrlib, or " + AGAIN,
         _resave(index=lambda r: r | {"format_version": 7})),
    Case("probes.json is {}", PREDICT, "{tmp}/p/probes.json: lacks the key 'format'; " + INDEX, _index("{}")),
    Case("probes.json is a list", PREDICT, "{tmp}/p/probes.json: the top level must be an object, not [1, 2]; " + INDEX,
         _index("[1, 2]")),
    Case("probes.json is null", PREDICT, "{tmp}/p/probes.json: the top level must be an object, not null; " + INDEX,
         _index("null")),
    Case("probes.json cut short", PREDICT, "{tmp}/p/probes.json: not valid JSON ({any}); " + INDEX,
         _index('{"format": "hrlib-probes", "format_version": 2, "feature')),
    Case("probes.json of another kind of file", PREDICT,
         "{tmp}/p/probes.json: 'format': 'hrlib-probes' was expected; " + INDEX,
         _index('{"format": "hrlib-zoo", "format_version": 2}')),
    Case("a probe whose columns are not a list", PREDICT,
         "{tmp}/p/probes.json: 'feature_sets.E_cD.probes[0].columns' must be an array, not \"epoch\"; " + INDEX,
         _resave(index=_probe(lambda p: p | {"columns": "epoch"}))),
    Case("a probe of an unknown kind", PREDICT,
         "{tmp}/p/probes.json: 'feature_sets.E_cD.probes[0].kind': 'lasso' is not one of ['regression', "
         "'classification']; " + INDEX, _resave(index=_probe(lambda p: p | {"kind": "lasso"}))),
    Case("a feature set without its run's checksum", PREDICT,
         "{tmp}/p/probes.json: lacks the key 'run_sha256' in 'feature_sets.E_cD'; " + INDEX,
         _resave(index=lambda r: r | {"feature_sets": {"E_cD": {k: v for k, v in r["feature_sets"]["E_cD"].items()
                                                                if k != "run_sha256"}}})),
    Case("a width that is not a number", PREDICT,
         "{tmp}/p/probes.json: 'feature_sets.E_cD.width' must be an integer, not \"12\"; " + INDEX,
         _resave(index=lambda r: r | {"feature_sets": {"E_cD": r["feature_sets"]["E_cD"] | {"width": "12"}}})),
    Case("NaN coefficients", PREDICT,
         "{tmp}/p/probes.npz: the array '0/0/coef' holds NaN or infinite values; " + AGAIN,
         _resave(arrays=lambda a: a | {"0/0/coef": a["0/0/coef"] * np.nan})),
    Case("an infinite intercept", PREDICT,
         "{tmp}/p/probes.npz: the array '0/0/intercept' holds NaN or infinite values; " + AGAIN,
         _resave(arrays=lambda a: a | {"0/0/intercept": a["0/0/intercept"] + np.inf})),
    Case("coefficients of another shape", PREDICT,
         "{tmp}/p/probes.npz: the array '0/0/coef' is float64 (7, 3); its probe wants floats (7, 12); " + AGAIN,
         _resave(arrays=lambda a: a | {"0/0/coef": a["0/0/coef"][:, :3]})),
    Case("coefficients as text", PREDICT,
         "{tmp}/p/probes.npz: the array '0/0/coef' is <U3 (7, 12); its probe wants floats (7, 12); " + AGAIN,
         _resave(arrays=lambda a: a | {"0/0/coef": np.full((7, 12), "abc")})),
    Case("an array missing", PREDICT,
         "{tmp}/p/probes.npz: lacks the array '0/0/intercept' that probes.json names; " + AGAIN,
         _resave(arrays=lambda a: {k: v for k, v in a.items() if k != "0/0/intercept"})),
    Case("probes of another width than the run's z", PREDICT,
         "{tmp}/p: the probes of E_cD read 11 features per checkpoint, the z of the run {run} holds 12; fit probes "
         "on this run with `hrlib probe ZOO --run NAME=RUN --save DIR`",
         _resave(arrays=lambda a: a | {"0/0/coef": a["0/0/coef"][:, :11]}, index=_narrower)),
]


# ---- checkpoints hrlib predict reads -----------------------------------------------------------------------


def _tetris() -> dict:
    return build_module("tetris_mlp").state_dict()


def _checkpoint(write):
    """A setup that writes {tmp}/net.pt with `write(path)`."""
    return lambda paths: write(paths["tmp"] / "net.pt")


def _state(change):
    """A setup that saves tetris_mlp's state_dict, changed by `change`, as {tmp}/net.pt."""
    return _checkpoint(lambda path: torch.save(change(_tetris()), path))


def _quantized(state: dict) -> dict:
    with warnings.catch_warnings():  # torch deprecates quantized tensors; users still have such checkpoints
        warnings.filterwarnings("ignore", "torch.quantize_per_tensor")
        return {k: torch.quantize_per_tensor(v, 0.1, 0, torch.qint8) for k, v in state.items()}


def _compressed(path):
    torch.save(_tetris(), path.with_suffix(".tmp"))
    with zipfile.ZipFile(path.with_suffix(".tmp")) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    path.with_suffix(".tmp").unlink()


class _Payload:
    """A pickle that, if it were ever unpickled, would create a file beside it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


ON_NET = ("predict", "{run}", "{probes}", "{tmp}/net.pt")
CASES += [
    Case("predict a text file named .pt", ON_NET, "{tmp}/net.pt: a text file, not a PyTorch checkpoint",
         _checkpoint(lambda p: p.write_text("epoch 3: loss 0.12\n"))),
    Case("predict an HTML page saved as .pt", ON_NET,
         "{tmp}/net.pt: an HTML page, not a PyTorch checkpoint (a download that saved a web page?); download the "
         "file itself", _checkpoint(lambda p: p.write_text("<!DOCTYPE html>\n<html><body>Sign in</body></html>"))),
    Case("predict a git-LFS pointer", ON_NET,
         "{tmp}/net.pt: a git-LFS pointer, not the checkpoint it stands for; fetch the file itself with `git lfs pull`",
         _checkpoint(lambda p: p.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64
                                            + "\nsize 1813\n"))),
    Case("predict an empty file", ON_NET, "{tmp}/net.pt: an empty file, not a PyTorch checkpoint",
         _checkpoint(lambda p: p.write_bytes(b""))),
    Case("predict an npz renamed .pt", ON_NET, "{tmp}/net.pt: a zip archive without data.pkl, not a PyTorch checkpoint",
         _checkpoint(lambda p: np.savez(open(p, "wb"), w=np.zeros(3)))),
    Case("predict a re-zipped, compressed checkpoint", ON_NET,
         "{tmp}/net.pt: a zip archive with compressed entries, not one torch.save wrote", _checkpoint(_compressed)),
    Case("predict a pickle that wants to run code", ON_NET,
         "{tmp}/net.pt: refused; torch.load(weights_only=True) reads only tensors and plain containers, and this file "
         "wants more ({any})", lambda paths: torch.save({"1.weight": _Payload(paths["tmp"] / "pwned")},
                                                        paths["tmp"] / "net.pt")),
    Case("predict a checkpoint of sparse tensors", ON_NET,
         "{tmp}/net.pt: the tensor '1.weight' is sparse (sparse_coo); save it with tensor.to_dense()",
         _state(lambda s: {k: v.to_sparse() for k, v in s.items()})),
    Case("predict a checkpoint of meta tensors", ON_NET,
         "{tmp}/net.pt: the tensor '1.weight' is a meta tensor: a shape without values (saved from a model whose "
         "weights were never made)", _state(lambda s: {k: torch.empty(v.shape, device="meta") for k, v in s.items()})),
    Case("predict a checkpoint with a non-tensor entry", ON_NET,
         "{tmp}/net.pt: the entry 'step' is an int, not a tensor; hrlib reads state_dicts (a dict of tensors)",
         _state(lambda s: s | {"step": 1200})),
    Case("predict a quantized checkpoint", ON_NET,
         "{tmp}/net.pt: the tensor '1.weight' is quantized (qint8); save it with tensor.dequantize()",
         _state(_quantized)),
    Case("predict a complex checkpoint", ON_NET,
         "{tmp}/net.pt: the tensor '1.weight' holds complex64 values; hrlib reads real floating-point weights",
         _state(lambda s: {k: v.to(torch.complex64) for k, v in s.items()})),
    Case("predict an integer checkpoint", ON_NET,
         "{tmp}/net.pt: the tensor '1.weight' holds int64 values; hrlib reads real floating-point weights",
         _state(lambda s: {k: (100 * v).long() for k, v in s.items()})),
    Case("predict a checkpoint whose weight is one value broadcast", ON_NET,
         "{tmp}/net.pt: the tensor '1.weight' shows 80 values but stores 1 (a broadcast or expanded view); save it "
         "with tensor.clone()", _state(lambda s: s | {"1.weight": torch.ones(1).expand(5, 16)})),
    Case("predict a run folder as the checkpoints", ("predict", "{run}", "{probes}", "{run}"),
         "{run}: an hrlib run folder, not a folder of checkpoints; give a zoo, checkpoint files or a folder of them"),
    Case("predict a folder without checkpoints", ("predict", "{run}", "{probes}", "{tmp}"),
         "{tmp}: no checkpoint files (.pt, .pth, .ckpt)", lambda paths: (paths["tmp"] / "notes.txt").write_text("x")),
]


# ---- zoos imported from checkpoints, CSV and JSON files ------------------------------------------------------

IMPORT = ("zoo", "import", "state_dicts", "{tmp}/src", "--out", "{tmp}/zoo")
IMPORT_CSV = (*IMPORT, "--properties", "{tmp}/props.csv")
MODELZOOS = ("zoo", "import", "modelzoos", "{tmp}/src", "--out", "{tmp}/zoo")
SMALL_CNN_ZOO = ("zoo", "import", "unterthiner", "{tmp}/src", "--out", "{tmp}/zoo")


def _models(paths, state=None, n=2):
    """{tmp}/src holding n checkpoints m0.pt, m1.pt, ... of tetris_mlp (or `state`)."""
    (paths["tmp"] / "src").mkdir()
    for i in range(n):
        torch.save(state if state is not None else _tetris(), paths["tmp"] / "src" / f"m{i}.pt")


def _with_csv(text: str):
    def setup(paths):
        _models(paths)
        (paths["tmp"] / "props.csv").write_text(text)
    return setup


def _binary_csv(paths):
    _models(paths)
    (paths["tmp"] / "props.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")


def _trial(paths, params: str = '{"seed": 1}', results: str = ""):
    """A Model Zoos trial folder {tmp}/src/trial with one checkpoint and the given params.json and result.json."""
    trial = paths["tmp"] / "src" / "trial"
    (trial / "checkpoint_000001").mkdir(parents=True)
    torch.save(_tetris(), trial / "checkpoint_000001" / "checkpoints")
    (trial / "params.json").write_text(params)
    (trial / "result.json").write_text(results)


def _small_cnn_zoo(paths, layout=None, weights=None, steps=(0,)):
    """A Small CNN Zoo folder {tmp}/src: one dense layer (2 × 4 kernel and its bias) per row."""
    src = paths["tmp"] / "src"
    src.mkdir()
    np.save(src / "weights.npy", np.zeros((len(steps), 10), np.float32) if weights is None else weights)
    pd.DataFrame({"modeldir": "a", "step": list(steps), "train_accuracy": 0.5, "test_accuracy": 0.5,
                  "train_loss": 1.0, "test_loss": 1.0}).to_csv(src / "metrics.csv", index=False)
    rows = layout or [{"varname": "dense/bias:0", "start_idx": 0, "end_idx": 2, "shape": "(2,)"},
                      {"varname": "dense/kernel:0", "start_idx": 2, "end_idx": 10, "shape": "(4, 2)"}]
    pd.DataFrame(rows).to_csv(src / "layout.csv", index=False)


HUGE_LAYOUT = [{"varname": "dense/bias:0", "start_idx": 0, "end_idx": 2, "shape": "(2,)"},
               {"varname": "dense/kernel:0", "start_idx": 2, "end_idx": 10**10 + 2, "shape": "(100000, 100000)"}]
CODE_LAYOUT = [{"varname": "dense/bias:0", "start_idx": 0, "end_idx": 2, "shape": "__import__('os').getcwd()"}]

CASES += [
    Case("import a 1.8 KB checkpoint that would expand into a 64 MB zoo", IMPORT,
         "{tmp}/src/m0.pt: the tensor '1.weight' shows 16000000 values but stores 1 (a broadcast or expanded view); "
         "save it with tensor.clone()",
         lambda paths: _models(paths, {"1.weight": torch.zeros(1).expand(4000, 4000),
                                       "3.weight": torch.zeros(1).expand(4, 4000)})),
    Case("import a checkpoint whose tensors share one storage", IMPORT,
         "{tmp}/src/m0.pt: its tensors show {any} bytes of weights, more than the file's {any} (tensors sharing one "
         "storage); save each with tensor.clone()",
         lambda paths: _models(paths, {f"{i}.weight": w for w in [torch.zeros(64, 64)] for i in range(40)})),
    Case("import a properties CSV naming one checkpoint twice", IMPORT_CSV,
         "{tmp}/props.csv, line 3: lists m0.pt a second time; each checkpoint file is one row",
         _with_csv("file,model,epoch\nm0.pt,a,0\nm0.pt,a,1\nm1.pt,a,2\n")),
    Case("import a properties CSV with an epoch of 1e300", IMPORT_CSV,
         "{tmp}/props.csv, line 2: epoch 1e+300 is not a whole number in 0..1000000",
         _with_csv("file,model,epoch\nm0.pt,a,1e300\nm1.pt,a,1\n")),
    Case("import a properties CSV with a negative epoch", IMPORT_CSV,
         "{tmp}/props.csv, line 3: epoch -5 is not a whole number in 0..1000000",
         _with_csv("file,model,epoch\nm0.pt,a,0\nm1.pt,a,-5\n")),
    Case("import a checkpoint file instead of its folder",
         ("zoo", "import", "state_dicts", "{tmp}/m.pt", "--out", "{tmp}/zoo"),
         "{tmp}/m.pt: is a file, not a folder; give the folder that holds the state_dicts zoo",
         lambda paths: torch.save(_tetris(), paths["tmp"] / "m.pt")),
    Case("import a binary file as the properties CSV", IMPORT_CSV,
         "{tmp}/props.csv: not a readable CSV file ({any})", _binary_csv),
    Case("import a trial whose params.json is cut short", MODELZOOS,
         "{tmp}/src/trial/params.json: not valid JSON ({any}); is it a ray.tune trial's params?",
         lambda paths: _trial(paths, params='{"seed": 1, "optim::lr"')),
    Case("import a trial whose params.json is a list", MODELZOOS,
         "{tmp}/src/trial/params.json: the top level must be an object, not [1]; is it a ray.tune trial's params?",
         lambda paths: _trial(paths, params="[1]")),
    Case("import a trial whose result.json has a text epoch", MODELZOOS,
         "{tmp}/src/trial/result.json, line 1: training_iteration 'one' is not a whole number in 0..1000000",
         lambda paths: _trial(paths, results='{"training_iteration": "one"}\n')),
    Case("import a Small CNN Zoo whose layout.csv spans 10^10 columns", SMALL_CNN_ZOO,
         "{tmp}/src/layout.csv: dense/kernel:0 spans columns 2..10000000002 with shape (100000, 100000); weights.npy "
         "has 10 columns", lambda paths: _small_cnn_zoo(paths, HUGE_LAYOUT)),
    Case("import a Small CNN Zoo whose layout.csv holds code", SMALL_CNN_ZOO,
         "{tmp}/src/layout.csv: dense/bias:0: start_idx, end_idx and shape must be whole numbers and a tuple of them, "
         "not 0, 2, \"__import__('os').getcwd()\"", lambda paths: _small_cnn_zoo(paths, CODE_LAYOUT)),
    Case("import a Small CNN Zoo of complex weights", SMALL_CNN_ZOO,
         "{tmp}/src/weights.npy: complex64 of shape (1, 10); expected real numbers (checkpoints, params)",
         lambda paths: _small_cnn_zoo(paths, weights=np.zeros((1, 10), np.complex64))),
    Case("import a Small CNN Zoo with a step of 10^12", SMALL_CNN_ZOO,
         "{tmp}/src/metrics.csv, line 2: step 1000000000000 is not a whole number in 0..1000000",
         lambda paths: _small_cnn_zoo(paths, steps=(10**12,))),
]


# ---- hrlib sample ----------------------------------------------------------------------------------------------

CASES += [
    Case("sample 100 million networks", ("sample", "{run}", "{zoo}", "--n", "100000000"),
         "--n 100000000: hrlib samples 1..100000 networks per start of this zoo (100 weights each); choose a number "
         "in that range"),
]
