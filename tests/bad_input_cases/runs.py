"""Bad inputs to `hrlib train` and the run folders it writes, and damaged run files read back by
`hrlib probe` (config.json, history.csv, result.json, best.pt, state.pt)."""

import json
import shutil

import torch

from tests.bad_input_cases import Case

CASES: list[Case] = []

QUICK = ("--epochs", "1", "--batch-size", "32", "--device", "cpu", "--quiet")
FRESH = ("train", "{zoo}", "--out", "{tmp}/run", *QUICK)
# The shared {run} again, one more epoch: the same configuration, so that it would resume.
RESUME = ("train", "{zoo}", "--out", "{tmp}/run", "--epochs", "2", "--arch", "Att_N", "--latent", "12", "--device", "cpu",
          "--quiet")
PROBE = ("probe", "{zoo}", "--run", "E_cD={tmp}/run", "--features", "", "--out", "{tmp}/t.csv")
CONFIG = "is it an hrlib run's config?"
HISTORY = "is it an hrlib run's history?"
STATE_FIX = "move it out of {tmp}/run to train from the start, or choose another --out"
BEST_FIX = "train the run again with `hrlib train` into another --out"
AFRESH = "never writes into it; choose another --out to train afresh"


def _copy(paths):
    return shutil.copytree(paths["run"], paths["tmp"] / "run")


def _write(name: str, content):
    """A setup that copies {run} and writes `content` (text or bytes) as its file `name`."""
    def setup(paths):
        target = _copy(paths) / name
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    return setup


def _edit_config(change):
    """A setup that copies {run} and applies `change` to its config.json."""
    def setup(paths):
        folder = _copy(paths)
        saved = json.loads((folder / "config.json").read_text())
        change(saved)
        (folder / "config.json").write_text(json.dumps(saved))
    return setup


def _edit_torch(name: str, change):
    """A setup that copies {run} and saves `change` of its file `name` (best.pt or state.pt) in its place."""
    def setup(paths):
        folder = _copy(paths)
        saved = torch.load(folder / name, weights_only=True)
        torch.save(change(saved), folder / name)
    return setup


def _swap(name: str, other: str):
    def setup(paths):
        folder = _copy(paths)
        shutil.copy(folder / other, folder / name)
    return setup


def _stray(name: str):
    """A setup that puts {run}'s `name` alone into a new folder, as a user's download would be."""
    def setup(paths):
        (paths["tmp"] / "run").mkdir()
        shutil.copy(paths["run"] / name, paths["tmp"] / "run" / name)
    return setup


def _legacy(change=None):
    """A setup that copies {run} as an earlier hrlib wrote it: no marker; `change` applied to its config."""
    def setup(paths):
        folder = _copy(paths)
        (folder / ".hrlib").unlink()
        saved = json.loads((folder / "config.json").read_text())
        if change:
            change(saved)
        (folder / "config.json").write_text(json.dumps(saved))
    return setup


def _notes(paths):
    (paths["tmp"] / "run").mkdir()
    (paths["tmp"] / "run" / "notes.txt").write_text("a week of notes")


def _a_file(paths):
    (paths["tmp"] / "run").write_text("not a folder")


class Payload:
    """A pickle that, were it unpickled without weights_only, would write a file into {tmp}."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payload(name: str, key: str):
    def setup(paths):
        torch.save({key: Payload(paths["tmp"] / "pwned")}, _copy(paths) / name)
    return setup


def _resized(checkpoint: dict, key: str = "encoder.head.weight") -> dict:
    checkpoint[key] = checkpoint[key][:3]
    return checkpoint


def _drop(keys: str):
    """A config change that deletes the key `keys` ("train.loss")."""
    def change(saved):
        *path, last = keys.split(".")
        for key in path:
            saved = saved[key]
        del saved[last]
    return change


def _set(keys: str, value):
    def change(saved):
        *path, last = keys.split(".")
        for key in path:
            saved = saved[key]
        saved[last] = value
    return change


# ---- where a run may be written -----------------------------------------------------------------------------

CASES += [
    Case("train --out a zoo", ("train", "{zoo}", "--out", "{zoo}", *QUICK),
         "{zoo}: exists and is an hrlib zoo folder, not an hrlib run folder; hrlib never writes into or replaces it; "
         "choose another --out"),
    Case("train --out a probe folder", ("train", "{zoo}", "--out", "{probes}", *QUICK),
         "{probes}: exists and is an hrlib probes folder, not an hrlib run folder; hrlib never writes into or "
         "replaces it; choose another --out"),
    Case("train --out a folder of the user's", FRESH,
         "{tmp}/run: exists and is a folder hrlib did not write, not an hrlib run folder; hrlib never writes into or "
         "replaces it; choose another --out", _notes),
    Case("train --out a file", FRESH, "{tmp}/run: is a file, not a folder; choose another --out", _a_file),
    Case("train --out inside a zoo", ("train", "{zoo}", "--out", "{zoo}/run", *QUICK),
         "{zoo}/run: lies inside {zoo}, an hrlib zoo folder, which holds hrlib's own files only; choose another --out "
         "outside it"),
    Case("train --out inside a run", ("train", "{zoo}", "--out", "{run}/sub", *QUICK),
         "{run}/sub: lies inside {run}, an hrlib run folder, which holds hrlib's own files only; choose another --out "
         "outside it"),
    Case("train --out a folder holding only a state.pt", FRESH,
         "{tmp}/run: holds state.pt but no config.json, so hrlib cannot tell which zoo and configuration it belongs "
         f"to and {AFRESH}", _stray("state.pt")),
    Case("train --out a folder holding only a best.pt", FRESH,
         "{tmp}/run: holds best.pt but no config.json, so hrlib cannot tell which zoo and configuration it belongs "
         f"to and {AFRESH}", _stray("best.pt")),
    Case("train --out a run whose config.json is gone", RESUME,
         "{tmp}/run: holds history.csv but no config.json, so hrlib cannot tell which zoo and configuration it "
         f"belongs to and {AFRESH}", lambda paths: (_copy(paths) / "config.json").unlink()),
    Case("train --out an earlier hrlib's run that names no zoo by checksum", RESUME,
         "{tmp}/run: a run of an earlier hrlib whose config.json names no zoo by checksum, so hrlib cannot tell "
         f"which zoo it belongs to and {AFRESH}", _legacy(_drop("zoo_sha256"))),
    Case("train --out a run of another zoo", ("train", "{hyp}", "--out", "{run}", *QUICK),
         "{run} holds a run of the zoo {zoo} (weights sha256 {any}), not of {hyp} ({any}); choose another --out"),
    Case("train --out a run of another configuration", ("train", "{zoo}", "--out", "{run}", *QUICK),
         "{run} holds a run with a different configuration; choose another --out"),
    Case("resume a run whose config.json names no zoo by checksum", RESUME,
         "{tmp}/run: a run resumes only on the zoo it was trained on, known by its checksum, and its config.json "
         "names none; choose another --out to train afresh", _edit_config(_set("zoo_sha256", None))),
]


# ---- the configuration, refused before anything is written ---------------------------------------------------

WHOLE = "must be a whole number from"
CASES += [
    Case(f"train {' '.join(option)}", (*FRESH, *option), message) for option, message in [
        (("--latent", "0"), f"latent (--latent) {WHOLE} 1 to 65,536, got 0"),
        (("--latent", "-1"), f"latent (--latent) {WHOLE} 1 to 65,536, got -1"),
        (("--latent", "1000000"), f"latent (--latent) {WHOLE} 1 to 65,536, got 1000000"),
        (("--lr", "inf"), "learning rate (--lr) must be a positive number, got inf"),
        (("--lr", "nan"), "learning rate (--lr) must be a positive number, got nan"),
        (("--lr", "0"), "learning rate (--lr) must be a positive number, got 0.0"),
        (("--gamma", "-1"), "gamma must be in [0, 1], got -1.0"),
        (("--gamma", "nan"), "gamma must be in [0, 1], got nan"),
        (("--epochs", "0"), f"epochs (--epochs) {WHOLE} 1 to 100,000, got 0"),
        (("--epochs", "100000000"), f"epochs (--epochs) {WHOLE} 1 to 100,000, got 100000000"),
        (("--batch-size", "1"), f"batch size (--batch-size) {WHOLE} 2 to 1,000,000, got 1"),
        (("--seed", "-1"), f"seed (--seed) {WHOLE} 0 to 4,294,967,295, got -1"),
        (("--split-seed", "-1"), f"split seed (--split-seed) {WHOLE} 0 to 4,294,967,295, got -1"),
        (("--seeds", "100000000"), f"seeds (--seeds) {WHOLE} 1 to 1,000, got 100000000"),
        (("--split", "0.5,0.5,0"), "split fractions (--split) must be three positive fractions summing to 1, got "
                                   "(0.5, 0.5, 0.0)"),
        (("--precision", "float16"), "argument --precision: invalid choice: 'float16' (choose from 'float32', "
                                     "'bfloat16')"),
    ]
]


# ---- config.json, read when training resumes and when a run is loaded ---------------------------------------

for command, name in ((RESUME, "train"), (PROBE, "probe")):
    CASES += [
        Case(f"{name}: config.json is {{}}", command, "{tmp}/run/config.json: lacks the key 'train'; " + CONFIG,
             _write("config.json", "{}")),
        Case(f"{name}: config.json is a list", command,
             "{tmp}/run/config.json: the top level must be an object, not [1, 2]; " + CONFIG, _write("config.json", "[1, 2]")),
        Case(f"{name}: config.json is null", command,
             "{tmp}/run/config.json: the top level must be an object, not null; " + CONFIG, _write("config.json", "null")),
        Case(f"{name}: config.json cut short", command,
             "{tmp}/run/config.json: not valid JSON (Expecting property name enclosed in double quotes: line 1 column "
             "12 (char 11)); " + CONFIG, _write("config.json", '{"train": {')),
        Case(f"{name}: config.json without the loss", command,
             "{tmp}/run/config.json: lacks the key 'loss' in 'train'; " + CONFIG, _edit_config(_drop("train.loss"))),
        Case(f"{name}: config.json with epochs as text", command,
             "{tmp}/run/config.json: 'train.epochs' must be an integer, not \"1\"; " + CONFIG,
             _edit_config(_set("train.epochs", "1"))),
        Case(f"{name}: config.json with 0 epochs", command,
             "{tmp}/run/config.json: epochs (--epochs) " + WHOLE + " 1 to 100,000, got 0; " + CONFIG,
             _edit_config(_set("train.epochs", 0))),
        Case(f"{name}: config.json with a precision of float16", command,
             "{tmp}/run/config.json: precision (--precision) must be 'float32' or 'bfloat16', got 'float16'; " + CONFIG,
             _edit_config(_set("train.precision", "float16"))),
        Case(f"{name}: config.json with an unknown setting", command,
             "{tmp}/run/config.json: 'train': Additional properties are not allowed ('speed' was unexpected); " + CONFIG,
             _edit_config(_set("train.speed", 2))),
    ]
CASES += [
    Case("probe: config.json with a latent of 0", PROBE,
         "{tmp}/run/config.json: latent (--latent) " + WHOLE + " 1 to 65,536, got 0; " + CONFIG,
         _edit_config(_set("model.latent", 0))),
]


# ---- state.pt, read when training resumes --------------------------------------------------------------------

CASES += [
    Case(f"train: state.pt is {what}", RESUME, "{tmp}/run/state.pt: refused: " + message + "; " + STATE_FIX, setup)
    for what, message, setup in [
        ("text", "a text file, not a checkpoint", _write("state.pt", "model weights\n")),
        ("a web page", "a web page or markup, not a checkpoint (a failed download?)",
         _write("state.pt", "<!DOCTYPE html><html><body>Not found</body></html>")),
        ("an LFS pointer", "a Git LFS pointer, not the file itself (fetch it with `git lfs pull`)",
         _write("state.pt", "version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 7421967\n")),
        ("garbage", "not a checkpoint torch.save wrote", _write("state.pt", bytes(range(256)) * 4)),
        ("empty", "an empty file", _write("state.pt", b"")),
        ("cut short", "damaged (PytorchStreamReader failed reading zip archive: failed finding central directory)",
         lambda paths: (_copy(paths) / "state.pt").write_bytes((paths["run"] / "state.pt").read_bytes()[:4096])),
        ("a crafted pickle", "it holds objects other than tensors and plain data, which hrlib never loads",
         _payload("state.pt", "model")),
        ("a list", "not the state of a training run", _edit_torch("state.pt", lambda state: [1, 2, 3])),
        ("best.pt", "not the state of a training run", _swap("state.pt", "best.pt")),
        ("of a model of another shape", "its model 'encoder.head.weight' has shape {any}, not {any}",
         _edit_torch("state.pt", lambda state: state | {"model": _resized(state["model"])})),
        ("out of step with its history", "its epoch and history disagree",
         _edit_torch("state.pt", lambda state: state | {"epoch": 5})),
        ("of another optimizer", "not the state of this run (loaded state dict contains a parameter group that "
                                 "doesn't match the size of optimizer's group)",
         _edit_torch("state.pt", lambda state: state | {"optimizer": state["optimizer"] | {"param_groups": [
             state["optimizer"]["param_groups"][0] | {"params": [0]}]}})),
    ]
]


# ---- best.pt, history.csv and result.json, read when a run is loaded -------------------------------------------

CASES += [
    Case(f"probe: best.pt is {what}", PROBE, "{tmp}/run/best.pt: refused: " + message + "; " + BEST_FIX, setup)
    for what, message, setup in [
        ("an LFS pointer", "a Git LFS pointer, not the file itself (fetch it with `git lfs pull`)",
         _write("best.pt", "version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 2467943\n")),
        ("a web page", "a web page or markup, not a checkpoint (a failed download?)", _write("best.pt", "<html></html>")),
        ("a crafted pickle", "it holds objects other than tensors and plain data, which hrlib never loads",
         _payload("best.pt", "config")),
        ("state.pt", "not a checkpoint of a hyper-representation", _swap("best.pt", "state.pt")),
        ("of another model", "its model is not the one config.json describes (latent 13, not 12)",
         _edit_torch("best.pt", lambda best: best | {"config": best["config"] | {"latent": 13}})),
        ("of a model of another shape", "'encoder.head.weight' has shape {any}, not {any}",
         _edit_torch("best.pt", lambda best: best | {"state_dict": _resized(best["state_dict"])})),
        ("in float64", "'encoder.pos' holds float64, not float32", _edit_torch("best.pt", lambda best: best | {
            "state_dict": best["state_dict"] | {"encoder.pos": best["state_dict"]["encoder.pos"].double()}})),
        ("NaN", "'encoder.pos' holds NaN or infinite values", _edit_torch("best.pt", lambda best: best | {
            "state_dict": best["state_dict"] | {"encoder.pos": best["state_dict"]["encoder.pos"] * float("nan")}})),
    ]
]
CASES += [
    Case(f"probe: history.csv {what}", PROBE, "{tmp}/run/history.csv: " + message + "; " + HISTORY,
         _write("history.csv", content))
    for what, message, content in [
        ("is empty", "not a table (No columns to parse from file)", ""),
        ("is another table", "lacks the column 'epoch'", "a,b\n1,2\n"),
        ("holds text for a number", "the column 'epoch' holds 'one', not numbers",
         "epoch,lr,train_loss,samples_per_s,val_loss,val_r2\none,1,1,1,1,1\n"),
        ("holds no epoch", "holds no epoch", "epoch,lr,train_loss,samples_per_s,val_loss,val_r2\n"),
        ("is ragged", "not a table (Error tokenizing data. C error: Expected 2 fields in line 3, saw 4)",
         "epoch,lr\n1,2\n3,4,5,6\n"),
    ]
]
CASES += [
    Case(f"probe: result.json {what}", PROBE, "{tmp}/run/result.json: " + message + "; is it an hrlib run's result?",
         _write("result.json", content))
    for what, message, content in [
        ("is {}", "lacks the key 'test_r2'", "{}"),
        ("is not JSON", "not valid JSON (Expecting value: line 1 column 1 (char 0))", "R² 0.5"),
        ("holds text for a number", "'test_r2' must be a number, not \"high\"",
         '{"test_r2": "high", "best_epoch": 1, "epochs": 1}'),
    ]
]
