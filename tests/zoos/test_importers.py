"""Importers: fixtures written in each real format import into zoos that compute what the originals did.

Every fixture's recorded accuracies come from an implementation independent of hrlib's layout
code: a direct NHWC/HWIO forward in numpy for the Small CNN Zoo, the Model Zoos generator's own
``module_list`` CNN for the 2022 format, a user's own module for plain state_dicts. An imported
zoo must reproduce them through hrlib's population forward. Files that are not what they claim
(not checkpoints, tensors that are not plain weights, a few bytes shown as millions of weights) are
refused in one line naming them.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hrlib.zoos import architectures as arch
from hrlib import load_zoo
from hrlib.zoos.checkpoints import read_checkpoints
from hrlib.zoos.importers import ImportFormatError, import_zoo
from hrlib.zoos.population import ModelSpec, train_population
from tests.zoos.test_cnn_population import digits28

TF_NAMES = ["sequential/conv2d", "sequential/conv2d_1", "sequential/conv2d_2", "sequential/dense"]


TRAIN, TEST = digits28("train", 300), digits28("test", 200)


@pytest.fixture(scope="module")
def trained():
    """Small trained CNN-u and CNN-s populations (hrlib's trainer), 3 checkpoints each."""
    cnn_u = [ModelSpec(seed=42, init=i, lr=3e-3, bias_init=0.0, activation=a)
             for i, a in [("he_normal", "relu"), ("glorot_normal", "relu"), ("orthogonal", "tanh")]]
    cnn_s = [ModelSpec(seed=s, lr=1e-3) for s in (1, 2, 3)]
    return {
        "cnn_u": (cnn_u, train_population("cnn_u", cnn_u, TRAIN, TEST, epochs=2, batch_size=32)),
        "cnn_s": (cnn_s, train_population("cnn_s", cnn_s, TRAIN, TEST, epochs=2, batch_size=32)),
    }


def check_accuracies(zoo, x, y, recorded):
    """hrlib's population forward of every imported checkpoint reproduces the recorded test accuracies."""
    for model in range(zoo.n_models):
        row = zoo.properties[zoo.properties.model == model].iloc[0]
        logits = arch.population_forward(zoo.architecture, torch.tensor(zoo.weights[model]),
                                         torch.as_tensor(x), row["activation"])
        acc = (logits.argmax(-1) == torch.as_tensor(y)).float().mean(1).numpy()
        np.testing.assert_allclose(acc, recorded[model], atol=1e-9)


# ---- Unterthiner's Small CNN Zoo --------------------------------------------------------------------


def to_tf_row(flat: np.ndarray) -> np.ndarray:
    """hrlib's CNN-u vector -> Keras' flat order: per layer the bias, then the kernel in HWIO (dense: in × out)."""
    parts = []
    for i, layer in enumerate(arch.layout_of("cnn_u").layers):
        w = flat[arch.layout_of("cnn_u").weight_slice(i)].reshape(layer.shape)
        parts += [flat[arch.layout_of("cnn_u").bias_slice(i)], (w.transpose(2, 3, 1, 0) if w.ndim == 4 else w.T).ravel()]
    return np.concatenate(parts)


def tf_layout_rows():
    rows, start = [], 0
    shapes = [(3, 3, 1, 16), (3, 3, 16, 16), (3, 3, 16, 16), (16, 10)]
    for name, shape in zip(TF_NAMES, shapes):
        for leaf, s in (("bias", (shape[-1],)), ("kernel", shape)):
            size = int(np.prod(s))
            rows.append({"varname": f"{name}/{leaf}:0", "start_idx": start, "end_idx": start + size, "shape": str(s)})
            start += size
    return rows


def hwio_forward(row: np.ndarray, x_nhwc: np.ndarray, activation: str) -> np.ndarray:
    """The Small CNN Zoo network computed straight from a raw row: NHWC maps, HWIO kernels, stride 2."""
    act = {"relu": lambda a: np.maximum(a, 0), "tanh": np.tanh}[activation]
    var = {r["varname"]: row[r["start_idx"] : r["end_idx"]].reshape(eval(r["shape"])) for r in tf_layout_rows()}
    h = x_nhwc.astype(np.float64)
    for name in TF_NAMES[:3]:
        k, b = var[f"{name}/kernel:0"], var[f"{name}/bias:0"]
        oh, ow = (h.shape[1] - 3) // 2 + 1, (h.shape[2] - 3) // 2 + 1
        out = sum(h[:, i : i + 2 * oh - 1 : 2, j : j + 2 * ow - 1 : 2, :] @ k[i, j] for i in range(3) for j in range(3))
        h = act(out + b)
    return h.mean(axis=(1, 2)) @ var["sequential/dense/kernel:0"] + var["sequential/dense/bias:0"]


def write_unterthiner(directory, rows: dict, accuracies: dict, config: dict):
    """weights.npy + metrics.csv + layout.csv; rows[modeldir] = {step: tf_row}, written in shuffled order."""
    directory.mkdir(parents=True, exist_ok=True)
    records, weights = [], []
    for modeldir, steps in rows.items():
        for step, row in steps.items():
            weights.append(row)
            records.append({**{f"config.{k}": v for k, v in config[modeldir].items()}, "config.dataset": "digits28",
                            "modeldir": modeldir, "step": step, "test_accuracy": accuracies[modeldir].get(step, 0.1),
                            "test_loss": 1.0, "train_accuracy": 0.5, "train_loss": 1.0})
    order = np.random.default_rng(0).permutation(len(records))
    np.save(directory / "weights.npy", np.stack(weights)[order].astype(np.float32))
    pd.DataFrame(records).iloc[order].reset_index(drop=True).to_csv(directory / "metrics.csv")  # with its index column
    pd.DataFrame(tf_layout_rows()).to_csv(directory / "layout.csv", index=False)


def test_an_imported_row_computes_what_its_hwio_implementation_computes(tmp_path):
    rng = np.random.default_rng(1)
    rows = {f"m{i}": {e: rng.normal(0, 0.3, 4970).astype(np.float32) for e in (0, 86)} for i in range(3)}
    config = {d: {"activation": a} for d, a in zip(rows, ("relu", "tanh", "relu"))}
    write_unterthiner(tmp_path / "src", rows, {d: {} for d in rows}, config)
    zoo = import_zoo("unterthiner", tmp_path / "src", tmp_path / "zoo")
    assert zoo.architecture == "cnn_u" and zoo.weights.shape == (3, 2, 4970) and list(zoo.epochs) == [0, 86]
    x = rng.uniform(-1, 1, (16, 28, 28, 1)).astype(np.float32)
    for model, (modeldir, steps) in enumerate(rows.items()):
        activation = zoo.properties.activation[model * 2]
        module = arch.build_module("cnn_u", activation)
        for j, step in enumerate((0, 86)):
            module.load_state_dict(zoo.layout.unflatten(torch.tensor(zoo.weights[model, j])))
            ours = module(torch.as_tensor(x).permute(0, 3, 1, 2)).detach().numpy()
            np.testing.assert_allclose(ours, hwio_forward(steps[step], x, activation), rtol=1e-4, atol=1e-4)
    # a bias-first row read as if it were hrlib's order computes something else: the conversion matters
    module.load_state_dict(zoo.layout.unflatten(torch.as_tensor(rows["m2"][86])))
    assert not np.allclose(module(torch.as_tensor(x).permute(0, 3, 1, 2)).detach().numpy(), hwio_forward(rows["m2"][86], x, "relu"), atol=1e-2)


def test_small_cnn_zoo_round_trip(tmp_path, trained):
    specs, result = trained["cnn_u"]
    x_nhwc = TEST[0].transpose(0, 2, 3, 1) * 2 - 1  # the fixture's data, scaled to [-1, 1] as Unterthiner's
    rows, accuracies, config = {}, {}, {}
    for i, spec in enumerate(specs):
        d = f"run/{i}"
        rows[d] = {e: to_tf_row(result.weights[i, e]) for e in range(3)}
        accuracies[d] = {e: float((hwio_forward(rows[d][e], x_nhwc, spec.activation).argmax(1) == TEST[1]).mean())
                         for e in range(3)}
        config[d] = {"activation": spec.activation, "w_init": spec.init, "init_std": 0.05, "learning_rate": spec.lr,
                     "l2reg": 1e-4, "dropout": 0.0, "train_fraction": 1.0, "optimizer": "adam", "random_seed": 42}
    rows["crashed"] = {0: to_tf_row(result.weights[0, 0]), 1: to_tf_row(result.weights[0, 1])}  # no last checkpoint
    rows["diverged"] = {e: to_tf_row(result.weights[1, e]) for e in range(3)}
    rows["diverged"][2][7] = np.nan
    for d in ("crashed", "diverged"):
        config[d], accuracies[d] = config["run/0"], {}
    write_unterthiner(tmp_path / "src", rows, accuracies, config)

    zoo = import_zoo("unterthiner", tmp_path / "src", tmp_path / "zoo")
    assert zoo.weights.shape == (3, 3, 4970) and list(zoo.epochs) == [0, 1, 2]
    assert sorted(d["model"] for d in zoo.manifest["dropped"]) == ["crashed", "diverged"]
    np.testing.assert_allclose(zoo.weights, result.weights, atol=0)  # exactly hrlib's vectors again
    check_accuracies(zoo, TEST[0] * 2 - 1, TEST[1], [[accuracies[f"run/{i}"][e] for e in range(3)] for i in range(3)])
    props = zoo.properties
    for column in ("activation", "init", "init_std", "lr", "weight_decay", "dropout", "train_fraction", "optimizer",
                   "seed", "dataset", "modeldir", "train_acc", "test_acc", "ggap"):
        assert column in props, column
    assert props.init.tolist()[::3] == ["he_normal", "glorot_normal", "orthogonal"] and set(props.seed) == {42}


def overlapping_layout():
    """layout.csv with the dense bias moved onto the last columns of the conv kernel before it."""
    rows = tf_layout_rows()
    rows[-2] = {**rows[-2], "start_idx": rows[-2]["start_idx"] - 10, "end_idx": rows[-2]["end_idx"] - 10}
    return rows


def test_small_cnn_zoo_bad_inputs(tmp_path):
    rows = {"a": {0: np.zeros(4970, np.float32)}}
    write_unterthiner(tmp_path / "ok", rows, {"a": {}}, {"a": {"activation": "relu"}})
    for case, damage in {
        "no layout": lambda d: (d / "layout.csv").unlink(),
        "rows": lambda d: np.save(d / "weights.npy", np.zeros((2, 4970), np.float32)),
        "columns": lambda d: pd.DataFrame(overlapping_layout()).to_csv(d / "layout.csv", index=False),
        "pickle": lambda d: np.save(d / "weights.npy", np.array([{"a": 1}], dtype=object)),
        "metrics": lambda d: pd.read_csv(d / "metrics.csv").drop(columns=["step"]).to_csv(d / "metrics.csv"),
    }.items():
        src = tmp_path / case.replace(" ", "_")
        shutil.copytree(tmp_path / "ok", src)
        damage(src)
        with pytest.raises(ImportFormatError) as err:
            import_zoo("unterthiner", src, tmp_path / "out")
        expected = {"no layout": "holds weights.npy, metrics.csv", "rows": "has 1 rows but weights.npy 2",
                    "columns": "does not cover", "pickle": "unreadable", "metrics": "lacks the columns ['step']"}[case]
        assert expected in str(err.value), (case, str(err.value))
        assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))  # nothing half-written


# ---- Model Zoos 2022 -------------------------------------------------------------------------------


class AuthorsCNN(nn.Module):
    """The Model Zoos generator's CNN-s as its def_net.py builds it: one module_list, dropout only when > 0."""

    def __init__(self, dropout=0.0, channels=(8, 6, 4)):
        super().__init__()
        drop = [nn.Dropout(dropout)] if dropout > 0 else []
        c1, c2, c3 = channels
        self.module_list = nn.ModuleList([
            nn.Conv2d(1, c1, 5), nn.MaxPool2d(2), nn.Tanh(), *drop, nn.Conv2d(c1, c2, 5), nn.MaxPool2d(2), nn.Tanh(),
            *drop, nn.Conv2d(c2, c3, 2), nn.Tanh(), nn.Flatten(), nn.Linear(9 * c3, 20), nn.Tanh(), *drop,
            nn.Linear(20, 10),
        ])

    def forward(self, x):
        for layer in self.module_list:
            x = layer(x)
        return x


def authors_model(flat, dropout=0.0):
    """An AuthorsCNN holding hrlib's vector, filled parameter by parameter in registration order."""
    model = AuthorsCNN(dropout).eval()
    source = arch.build_module("cnn_s")
    source.load_state_dict(arch.layout_of("cnn_s").unflatten(torch.as_tensor(flat)))
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), source.parameters(), strict=True):
            mine.copy_(theirs)
    return model


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(torch.as_tensor(x)).argmax(1).numpy() == y).mean())


def write_trial(directory, checkpoints: dict, params: dict, results: list):
    directory.mkdir(parents=True)
    (directory / "params.json").write_text(json.dumps(params))
    (directory / "result.json").write_text("".join(json.dumps(r) + "\n" for r in results))
    for epoch, state in checkpoints.items():
        (directory / f"checkpoint_{epoch:06d}").mkdir()
        torch.save(state, directory / f"checkpoint_{epoch:06d}" / "checkpoints")


def test_model_zoos_round_trip_and_bad_inputs(tmp_path, trained):
    specs, result = trained["cnn_s"]
    src = tmp_path / "zoo2022"
    recorded = []
    for i, (spec, dropout) in enumerate(zip(specs, (0.0, 0.5, 0.0))):  # dropout shifts the module_list indices
        models = {e: authors_model(result.weights[i, e], dropout) for e in range(3)}
        acc = [accuracy(models[e], *TEST) for e in range(3)]
        recorded.append(acc)
        params = {"model::type": "CNN", "model::nlin": "tanh", "model::init_type": spec.init, "optim::optimizer": "adam",
                  "optim::lr": spec.lr, "optim::wd": 0.0, "model::dropout": dropout, "seed": spec.seed}
        results = [{"training_iteration": e, "test_acc": acc[e], "train_acc": 0.5, "test_loss": 1.0, "train_loss": 1.0,
                    "config": params} for e in range(3)]
        write_trial(src / f"NN_tune_trainable_{i:05d}", {e: m.state_dict() for e, m in models.items()}, params, results)
    write_trial(src / "NN_tune_trainable_crashed", {0: authors_model(result.weights[0, 0]).state_dict()}, {"seed": 9}, [])
    (src / "experiment_state.json").write_text("{}")  # ray.tune leaves files beside the trials

    zoo = import_zoo("modelzoos", src, tmp_path / "zoo")
    assert zoo.architecture == "cnn_s" and zoo.weights.shape == (3, 3, 2464)
    np.testing.assert_array_equal(zoo.weights, result.weights)
    check_accuracies(zoo, *TEST, recorded)
    assert zoo.manifest["dropped"][0]["model"].endswith("NN_tune_trainable_crashed")
    assert zoo.properties.dropout.tolist()[::3] == [0.0, 0.5, 0.0] and set(zoo.properties.activation) == {"tanh"}

    # mixed architectures: a trial whose CNN has other channel counts
    other = AuthorsCNN(channels=(6, 9, 6)).state_dict()
    write_trial(src / "NN_tune_trainable_other", {e: other for e in range(3)}, {"seed": 7}, [])
    with pytest.raises(ImportFormatError, match="NN_tune_trainable_other.*mixed architectures"):
        import_zoo("modelzoos", src, tmp_path / "zoo2")
    with pytest.raises(ImportFormatError, match="no ray.tune trial directories"):
        import_zoo("modelzoos", tmp_path / "zoo", tmp_path / "zoo3")


class Evil:
    """A pickle that runs code when loaded without weights_only: it creates a directory."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


# ---- plain state_dicts -----------------------------------------------------------------------------


class UsersCNN(nn.Module):
    """A user's own CNN-s with its own names: only the order and shapes of its layers match hrlib's."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = nn.Conv2d(1, 8, 5), nn.Conv2d(8, 6, 5), nn.Conv2d(6, 4, 2)
        self.fc1, self.fc2 = nn.Linear(36, 20), nn.Linear(20, 10)

    def forward(self, x):
        x = torch.tanh(nn.functional.max_pool2d(self.conv1(x), 2))
        x = torch.tanh(nn.functional.max_pool2d(self.conv2(x), 2))
        x = torch.tanh(self.conv3(x)).flatten(1)
        return self.fc2(torch.tanh(self.fc1(x)))


def users_model(flat):
    model = UsersCNN()
    model.load_state_dict(dict(zip(model.state_dict(), arch.layout_of("cnn_s").unflatten(torch.as_tensor(flat)).values())))
    return model


def test_state_dicts_folder_with_csv_and_per_model_folders(tmp_path, trained):
    specs, result = trained["cnn_s"]
    flat_dir, nested_dir = tmp_path / "flat", tmp_path / "nested"
    flat_dir.mkdir()
    records, recorded = [], []
    for i in range(3):
        recorded.append([])
        for e in range(3):
            model = users_model(result.weights[i, e])
            acc = accuracy(model, *TEST)
            recorded[-1].append(acc)
            # a CSV-described flat folder, one checkpoint wrapped as trainers often save them
            state = {"state_dict": model.state_dict(), "epoch": e} if e == 1 else model.state_dict()
            torch.save(state, flat_dir / f"run{i}-e{e}.pt")
            records.append({"file": f"run{i}-e{e}.pt", "model": f"run{i}", "epoch": e, "test_acc": acc,
                            "activation": "tanh", "lr": specs[i].lr})
            (nested_dir / f"model_{i}").mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), nested_dir / f"model_{i}" / f"epoch_{e}.pth")
    pd.DataFrame(records).to_csv(tmp_path / "props.csv", index=False)

    zoo = import_zoo("state_dicts", flat_dir, tmp_path / "zoo", properties=tmp_path / "props.csv")
    assert zoo.architecture == "cnn_s" and list(zoo.epochs) == [0, 1, 2]
    np.testing.assert_array_equal(zoo.weights, result.weights)
    check_accuracies(zoo, *TEST, recorded)
    np.testing.assert_allclose(zoo.properties.test_acc.to_numpy().reshape(3, 3), recorded)

    nested = import_zoo("state_dicts", nested_dir, tmp_path / "zoo2", architecture=UsersCNN())
    np.testing.assert_array_equal(nested.weights, result.weights)
    assert nested.properties.source_model.tolist()[::3] == ["model_0", "model_1", "model_2"]

    # bad and mixed inputs: clear errors naming the file, no half-written zoo
    target = nested_dir / "model_2" / "epoch_2.pth"
    torch.save(Evil(str(tmp_path / "pwned")), target)
    with pytest.raises(ImportFormatError, match=r"epoch_2.pth: refused; torch.load\(weights_only=True\)"):
        import_zoo("state_dicts", nested_dir, tmp_path / "zoo3")
    assert not (tmp_path / "pwned").exists()  # the pickle's code never ran
    torch.save(AuthorsCNN(channels=(6, 9, 6)).state_dict(), target)
    with pytest.raises(ImportFormatError, match="model_2/epoch_2.pth: mixed architectures"):
        import_zoo("state_dicts", nested_dir, tmp_path / "zoo3")
    torch.save({"weights": [1, 2, 3]}, target)
    with pytest.raises(ImportFormatError, match="epoch_2.pth: the entry 'weights' is a list, not a tensor"):
        import_zoo("state_dicts", nested_dir, tmp_path / "zoo3")
    pd.DataFrame({"path": ["x.pt"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ImportFormatError, match="needs a 'file' column"):
        import_zoo("state_dicts", flat_dir, tmp_path / "zoo3", properties=tmp_path / "bad.csv")
    (flat_dir / "sub").mkdir()
    torch.save(users_model(result.weights[0, 0]).state_dict(), flat_dir / "sub" / "x.pt")
    with pytest.raises(ImportFormatError, match="mixes files at different depths"):
        import_zoo("state_dicts", flat_dir, tmp_path / "zoo3")
    assert not (tmp_path / "zoo3").exists() and not list(tmp_path.glob(".zoo3*"))


def test_import_through_the_cli(tmp_path, trained):
    specs, result = trained["cnn_s"]
    src = tmp_path / "models"
    for i in range(2):
        (src / f"m{i}").mkdir(parents=True)
        for e in range(3):
            torch.save(users_model(result.weights[i, e]).state_dict(), src / f"m{i}" / f"ckpt{e}.pt")
    cmd = [sys.executable, "-m", "hrlib", "zoo", "import", "state_dicts", str(src), "--out", str(tmp_path / "zoo")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "2 models × 3 checkpoints × 2464 params, architecture 'cnn_s'" in done.stdout
    assert load_zoo(tmp_path / "zoo").weights.shape == (2, 3, 2464)
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr


# ---- files that are not what they claim ------------------------------------------------------------


def test_a_small_checkpoint_never_becomes_a_large_zoo(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):  # 1.8 KB each; as a zoo of their inferred 16-million-weight layout, 64 MB each
        torch.save({"1.weight": torch.zeros(1).expand(4000, 4000), "3.weight": torch.zeros(1).expand(4, 4000)},
                   src / f"m{i}.pt")
    assert (src / "m0.pt").stat().st_size < 4096
    with pytest.raises(ImportFormatError, match=r"m0.pt: the tensor '1.weight' shows 16000000 values but stores 1"):
        import_zoo("state_dicts", src, tmp_path / "zoo")
    shared = torch.zeros(100, 100)  # one storage shown as 50 layers: 2 MB of weights from a 40 KB file
    torch.save({f"{i}.weight": shared for i in range(50)}, src / "m0.pt")
    with pytest.raises(ImportFormatError, match=r"m0.pt: its tensors show 2000000 bytes of weights, more than the file"):
        import_zoo("state_dicts", src, tmp_path / "zoo")
    assert not (tmp_path / "zoo").exists() and not list(tmp_path.glob(".zoo*"))


def test_checkpoints_are_read_as_saved_in_every_plain_form(tmp_path):
    module = arch.build_module("tetris_mlp")
    expected = arch.layout_of("tetris_mlp").flatten(module.state_dict()).numpy()
    torch.save(module.state_dict(), tmp_path / "zip.pt")
    torch.save(module.state_dict(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)  # before torch 1.6
    torch.save({"epoch": 3, "state_dict": module.state_dict()}, tmp_path / "wrapped.pt")
    torch.save({k: v.t().contiguous().t() for k, v in module.state_dict().items()}, tmp_path / "transposed.pt")
    _, weights = read_checkpoints([tmp_path], arch.layout_of("tetris_mlp"))
    np.testing.assert_array_equal(weights, np.repeat(expected[None], 4, axis=0))
    for dtype in (torch.float16, torch.bfloat16):
        torch.save({k: v.to(dtype) for k, v in module.state_dict().items()}, tmp_path / "half.pt")
        _, weights = read_checkpoints([tmp_path / "half.pt"], arch.layout_of("tetris_mlp"))
        np.testing.assert_allclose(weights[0], expected, atol=1e-2)


@pytest.mark.parametrize("write, message", [
    (lambda p: p.write_text("epoch 3: loss 0.12\n"), "a text file, not a PyTorch checkpoint"),
    (lambda p: p.write_text("<html><head><title>404</title></head></html>"), "an HTML page, not a PyTorch checkpoint"),
    (lambda p: p.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n"), "a git-LFS pointer"),
    (lambda p: p.write_bytes(b""), "an empty file"),
    (lambda p: p.write_bytes(bytes(range(256)) * 4), "not a PyTorch checkpoint \\(neither torch.save's zip archive"),
    (lambda p: p.write_bytes(b"\x80\x02garbage that is no pickle"), "not a PyTorch checkpoint, or a damaged one"),
    (lambda p: torch.save(Evil("never"), p), r"refused; torch.load\(weights_only=True\) reads only tensors and plain "
                                             r"containers, and this file wants more \(.*posix.mkdir"),
    (lambda p: torch.save({"1.weight": torch.zeros(5, 16, device="meta")}, p), "the tensor '1.weight' is a meta"),
    (lambda p: torch.save({"1.weight": torch.zeros(5, 16).to_sparse_csr()}, p),
     r"the tensor '1.weight' is sparse \(sparse_csr\); save it with tensor.to_dense\(\)"),
    (lambda p: torch.save({"1.weight": torch.zeros(5, 16, dtype=torch.bool)}, p), "the tensor '1.weight' holds bool"),
    (lambda p: torch.save({"1.weight": "weights"}, p), "the entry '1.weight' is a str, not a tensor"),
    (lambda p: torch.save([torch.zeros(3)], p), "holds a list, not a state_dict"),
    (lambda p: torch.save({}, p), "holds an empty dict, not a state_dict"),
])
@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")  # the case that saves one
def test_a_file_that_is_no_checkpoint_is_named_in_one_line(tmp_path, write, message):
    write(tmp_path / "net.pt")
    with pytest.raises(ImportFormatError, match=f"^{tmp_path / 'net.pt'}: {message}") as err:
        read_checkpoints([tmp_path / "net.pt"], arch.layout_of("tetris_mlp"))
    text = str(err.value)
    assert "\n" not in text and "weights_only=False" not in text and "safe_globals" not in text
    assert not os.path.exists("never")
