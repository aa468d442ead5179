"""Bad inputs to `hrlib zoo create`, `zoo import`, `zoo info` and the zoo and build folders."""

import gzip
import json
import shutil

import pandas as pd

from hrlib.zoos.zoo import MANIFEST_FILE, PROPERTIES_FILE, WEIGHTS_FILE, sha256
from tests.bad_input_cases import Case

CASES: list[Case] = []

CREATE = ("zoo", "create", "tetris_seed", "--out", "{tmp}/zoo", "--quiet", "--device", "cpu")
SMALL = ("--models", "4", "--epochs", "1")

CASES += [
    Case("zoo create --epochs beyond any zoo", (*CREATE, "--epochs", "100000000"),
         "epochs must be at most 10,000, got 100,000,000; choose fewer --epochs"),
    Case("zoo create --epochs 0", (*CREATE, "--epochs", "0"), "epochs must be at least 1, got 0; choose another --epochs"),
    Case("zoo create --shard-size 0", (*CREATE, *SMALL, "--shard-size", "0"),
         "shard size must be at least 1, got 0; choose another --shard-size"),
    Case("zoo create --train-subset 0", (*CREATE, *SMALL, "--train-subset", "0"),
         "train subset must be at least 1 image, got 0; choose another --train-subset"),
    Case("zoo create --models 0", (*CREATE, "--models", "0"),
         "tetris_seed holds 1000 models; models must be 1..1000, got 0"),
    # 162 GiB of weights: more memory than a workstation has and more disk than it has free
    Case("zoo create larger than the machine", ("zoo", "create", "digits_hyp", "--out", "{tmp}/zoo", "--epochs", "10000"),
         "digits_hyp at 3,600 models × 10,001 checkpoints × 1,210 params is 162.3 GiB of weights; building it takes "
         "about {any} of memory and {any} of disk, but {any}; choose fewer --models or --epochs"),
]


def _notes(paths):
    (paths["tmp"] / "project").mkdir()
    (paths["tmp"] / "project" / "notes.txt").write_text("a week of notes")


def _notes_in_work_folder(paths):
    (paths["tmp"] / ".zoo.partial").mkdir()
    (paths["tmp"] / ".zoo.partial" / "notes.txt").write_text("a week of notes")


def _work_of_another_build(paths):
    work = paths["tmp"] / ".zoo.partial"
    work.mkdir()
    (work / ".hrlib").write_text(json.dumps({"kind": "build"}))
    (work / "plan.json").write_text(json.dumps({"name": "tetris_seed", "epochs": 75}))


CASES += [
    Case("zoo create --out an existing zoo", ("zoo", "create", "tetris_seed", "--out", "{zoo}", *SMALL),
         "{zoo} exists; hrlib writes a zoo only into a new folder: choose another --out"),
    Case("zoo create --out a folder of the user's", ("zoo", "create", "tetris_seed", "--out", "{tmp}/project", *SMALL),
         "{tmp}/project exists; hrlib writes a zoo only into a new folder: choose another --out", _notes),
    Case("zoo import --out a folder of the user's", ("zoo", "import", "state_dicts", "{tmp}/project", "--out", "{tmp}/project"),
         "{tmp}/project exists; hrlib writes a zoo only into a new folder: choose another --out", _notes),
    Case("zoo import --out a run", ("zoo", "import", "state_dicts", "{tmp}", "--out", "{run}"),
         "{run} exists; hrlib writes a zoo only into a new folder: choose another --out"),
    Case("zoo create whose work folder is the user's", (*CREATE, *SMALL),
         "{tmp}/.zoo.partial: exists and is a folder hrlib did not write, not an hrlib build folder; hrlib never "
         "writes into or replaces it; choose another --out", _notes_in_work_folder),
    Case("zoo create beside an interrupted build of another configuration", (*CREATE, *SMALL),
         "{tmp}/.zoo.partial holds an interrupted build of a different configuration (its plan.json); rerun with that "
         "configuration to resume it, or delete the folder to start over", _work_of_another_build),
]


# ---- zoo info of damaged zoos: each a copy of {zoo} in {tmp}, damaged there ---------------------------


def _copy(paths):
    shutil.copytree(paths["zoo"], paths["tmp"] / "zoo")
    return paths["tmp"] / "zoo"


def _manifest_bytes(content: bytes):
    def setup(paths):
        (_copy(paths) / MANIFEST_FILE).write_bytes(content)

    return setup


def _manifest(change):
    """Copy the zoo and rewrite its manifest with `change(manifest)` applied."""

    def setup(paths):
        path = _copy(paths) / MANIFEST_FILE
        manifest = json.loads(path.read_text())
        change(manifest)
        path.write_text(json.dumps(manifest))

    return setup


def _properties(change):
    """Copy the zoo, rewrite its properties table as `change(table)` returns it (bytes or a DataFrame),
    and record the new file's checksum, so that only the table's content is wrong."""

    def setup(paths):
        zoo = _copy(paths)
        path = zoo / PROPERTIES_FILE
        new = change(pd.read_csv(path))
        if isinstance(new, bytes):
            path.write_bytes(new)
        else:
            new.to_csv(path, index=False)
        manifest = json.loads((zoo / MANIFEST_FILE).read_text())
        manifest["files"][PROPERTIES_FILE] = sha256(path)
        (zoo / MANIFEST_FILE).write_text(json.dumps(manifest))

    return setup


def _set(key, value):
    def change(manifest):
        manifest[key] = value

    return change


def _delete(key):
    return lambda manifest: manifest.pop(key)


def _first_layer(key, value):
    def change(manifest):
        manifest["layout"]["layers"][0][key] = value

    return change


INFO = ("zoo", "info", "{tmp}/zoo")
MANIFEST = "{tmp}/zoo/manifest.json"
IS_IT = "; is it an hrlib zoo's manifest?"

CASES += [
    Case("zoo info of a missing folder", INFO, "{tmp}/zoo: no zoo directory here"),
    Case("zoo info of a run folder", ("zoo", "info", "{run}"),
         "{run}/manifest.json: missing; {run} is not a complete hrlib zoo"),
    Case("zoo info: manifest {}", INFO, f"{MANIFEST}: lacks the key 'format'{IS_IT}", _manifest_bytes(b"{}")),
    Case("zoo info: manifest a list", INFO, f"{MANIFEST}: the top level must be an object, not [1, 2]{IS_IT}",
         _manifest_bytes(b"[1, 2]")),
    Case("zoo info: manifest null", INFO, f"{MANIFEST}: the top level must be an object, not null{IS_IT}",
         _manifest_bytes(b"null")),
    Case("zoo info: manifest cut short", INFO, f"{MANIFEST}: not valid JSON ({{any}}){IS_IT}",
         _manifest_bytes(b'{"format": "hrlib-zoo", "format_v')),
    Case("zoo info: manifest of binary bytes", INFO, f"{MANIFEST}: not valid JSON ({{any}}){IS_IT}",
         _manifest_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")),
    Case("zoo info: manifest of another format version", INFO,
         f"{MANIFEST}: format 'hrlib-zoo' version 99 is not one this hrlib reads ('hrlib-zoo' version 1)",
         _manifest(_set("format_version", 99))),
    Case("zoo info: manifest without shape", INFO, f"{MANIFEST}: lacks the key 'shape'{IS_IT}",
         _manifest(_delete("shape"))),
    Case("zoo info: manifest without layout", INFO, f"{MANIFEST}: lacks the key 'layout'{IS_IT}",
         _manifest(_delete("layout"))),
    Case("zoo info: manifest without files", INFO, f"{MANIFEST}: lacks the key 'files'{IS_IT}",
         _manifest(_delete("files"))),
    Case("zoo info: manifest without epochs", INFO, f"{MANIFEST}: lacks the key 'epochs'{IS_IT}",
         _manifest(_delete("epochs"))),
    Case("zoo info: manifest without architecture", INFO, f"{MANIFEST}: lacks the key 'architecture'{IS_IT}",
         _manifest(_delete("architecture"))),
    Case("zoo info: manifest architecture a number", INFO,
         f"{MANIFEST}: 'architecture' must be a string or null, not 7{IS_IT}", _manifest(_set("architecture", 7))),
    Case("zoo info: manifest shape a string", INFO, f"{MANIFEST}: 'shape' must be an array, not \"24x6x100\"{IS_IT}",
         _manifest(_set("shape", "24x6x100"))),
    Case("zoo info: manifest shape of two numbers", INFO, f"{MANIFEST}: 'shape': [24, 6] is too short{IS_IT}",
         _manifest(_set("shape", [24, 6]))),
    Case("zoo info: manifest epochs of strings", INFO, f"{MANIFEST}: 'epochs[0]' must be an integer, not \"0\"{IS_IT}",
         _manifest(_set("epochs", ["0", "1", "2", "3", "4", "5"]))),
    Case("zoo info: manifest epochs one short", INFO,
         f"{MANIFEST}: 'epochs' lists 5 checkpoints, 'shape' 6{IS_IT}", _manifest(_set("epochs", [0, 1, 2, 3, 4]))),
    Case("zoo info: manifest files a list", INFO, f"{MANIFEST}: 'files' must be an object, not []{IS_IT}",
         _manifest(_set("files", []))),
    Case("zoo info: manifest checksum not a checksum", INFO,
         f"{MANIFEST}: 'files.weights.npy': 'abc' does not match '^[0-9a-f]{{{{64}}}}$'{IS_IT}",
         _manifest(lambda m: m["files"].update({WEIGHTS_FILE: "abc"}))),
    Case("zoo info: layout without layers", INFO, f"{MANIFEST}: lacks the key 'layers' in 'layout'{IS_IT}",
         _manifest(_set("layout", {}))),
    Case("zoo info: layout layer of an unknown kind", INFO,
         f"{MANIFEST}: 'layout.layers[0].kind': 'lstm' is not one of ['linear', 'conv']{IS_IT}",
         _manifest(_first_layer("kind", "lstm"))),
    Case("zoo info: layout layer shape of strings", INFO,
         f"{MANIFEST}: 'layout.layers[0].shape[0]' must be an integer, not \"5\"{IS_IT}",
         _manifest(_first_layer("shape", ["5", "16"]))),
    Case("zoo info: layout whose layers do not chain", INFO,
         f"{MANIFEST}: 'layout' is not a layout hrlib reads (layer '3' expects 5 input units but '1' has 6)",
         _manifest(_first_layer("shape", [6, 16]))),
    Case("zoo info: layout of another size than the weights", INFO,
         f"{MANIFEST}: 'layout' holds 105 parameters per model, 'shape' 100",
         _manifest(_first_layer("bias", True))),
    Case("zoo info: properties of binary bytes", INFO,
         "{tmp}/zoo/properties.csv.gz: unreadable ({any}); is it an hrlib zoo's properties table?",
         _properties(lambda table: b"\x1f\x8b\x08\x00garbage")),
    Case("zoo info: properties that are not CSV", INFO,
         "{tmp}/zoo/properties.csv.gz: lacks the column 'model'; is it an hrlib zoo's properties table?",
         _properties(lambda table: gzip.compress(b"<html><body>not a table</body></html>\n"))),
    Case("zoo info: properties without the epoch column", INFO,
         "{tmp}/zoo/properties.csv.gz: lacks the column 'epoch'; is it an hrlib zoo's properties table?",
         _properties(lambda table: table.drop(columns="epoch"))),
    Case("zoo info: properties one row short", INFO,
         "{tmp}/zoo/properties.csv.gz: 143 rows, expected 24 models × 6 checkpoints",
         _properties(lambda table: table.iloc[:-1])),
    Case("zoo info: properties with models out of order", INFO,
         "{tmp}/zoo/properties.csv.gz: the 'model' column is not 0..23, each model's 6 checkpoints in a row",
         _properties(lambda table: table.iloc[::-1])),
]
