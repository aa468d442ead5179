"""The training loop: history and checkpoints, determinism, resumption, embedding."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hrlib.hyper.config import TrainConfig
from hrlib.hyper.inference import embed
from hrlib.hyper.runs import load_run
from hrlib.hyper.train import train

TINY = TrainConfig(
    epochs=2, batch_size=32, lr=1e-3,
    model=dict(d_model=16, heads=1, blocks=1, ff=32, latent=8, projection_hidden=16, projection_out=8),
)
LEFT = [".hrlib", "best.pt", "config.json", "history.csv", "result.json", "state.pt"]  # no lock, no temporary file
COLUMNS = ["epoch", "train_loss", "val_loss", "val_r2", "lr"]


def test_run_directory_history_and_result(tiny_zoo, tmp_path):
    run = train(tiny_zoo, tmp_path / "run", TINY, device="cpu", progress=False)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == LEFT
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert list(history.epoch) == [1, 2]
    for column in ("train_loss", "train_mse", "train_contrast", "val_loss", "val_mse", "val_contrast", "val_r2", "lr", "samples_per_s"):
        assert history[column].notna().all(), column
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["test_r2"] == run.result["test_r2"] and np.isfinite(result["test_r2"])
    assert result["best_epoch"] == int(history.epoch[history.val_loss.idxmin()])
    torch.load(tmp_path / "run" / "best.pt", weights_only=True)  # a stranger's run never runs code


def test_training_leaves_the_callers_random_state_alone(tiny_zoo, tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(tiny_zoo, tmp_path / "run", TINY, device="cpu", progress=False)
    load_run(tmp_path / "run")
    assert torch.equal(torch.rand(3), expected)


def test_same_seed_same_run_other_seed_other_run(tiny_zoo, tmp_path):
    a = train(tiny_zoo, tmp_path / "a", TINY, device="cpu", progress=False)
    b = train(tiny_zoo, tmp_path / "b", TINY, device="cpu", progress=False)
    c = train(tiny_zoo, tmp_path / "c", TINY.replace(seed=1), device="cpu", progress=False)
    pd.testing.assert_frame_equal(a.history.drop(columns="samples_per_s"), b.history.drop(columns="samples_per_s"))
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert not a.history.train_loss.equals(c.history.train_loss)


def test_same_seed_same_z_and_same_probe_table(tiny_zoo, tmp_path):
    """Two runs of one seed on one machine give identical z and identical probe tables, to the last bit."""
    from hrlib.evaluate.features import baselines, runs_as_features
    from hrlib.evaluate.tables import evaluate_probes

    paths = [train(tiny_zoo, tmp_path / name, TINY, device="cpu", progress=False).path for name in "ab"]
    za, zb = (embed(load_run(p), tiny_zoo) for p in paths)
    assert np.array_equal(za, zb)
    tables = [evaluate_probes(tiny_zoo, {"s(W)": baselines(tiny_zoo.layout, umap=False)["s(W)"]}
                              | runs_as_features({"E_cD": str(p)}, tiny_zoo, 0), ["Eph", "Acc", "GGap"]).table
              for p in paths]
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)


def test_replicates_train_side_by_side_with_their_own_seed_and_split(tiny_zoo, tmp_path):
    from hrlib.hyper.train import train_replicates

    runs = train_replicates(tiny_zoo, tmp_path / "run", TINY.replace(epochs=1), 2, device="cpu", progress=False)
    assert [r.path.name for r in runs] == ["run", "run-s1"]
    assert [(r.config.seed, r.config.split_seed) for r in runs] == [(0, 0), (1, 1)]
    written = (tmp_path / "run-s1" / "best.pt").stat().st_mtime_ns
    again = train_replicates(tiny_zoo, tmp_path / "run", TINY.replace(epochs=1), 2, device="cpu", progress=False)
    assert again[1].result == runs[1].result  # reused, not retrained
    assert (tmp_path / "run-s1" / "best.pt").stat().st_mtime_ns == written


def test_resume_gives_the_uninterrupted_result(tiny_zoo, tmp_path):
    config = TINY.replace(epochs=3)
    whole = train(tiny_zoo, tmp_path / "whole", config, device="cpu", progress=False)
    train(tiny_zoo, tmp_path / "split", config.replace(epochs=1), device="cpu", progress=False)  # "interrupted"
    resumed = train(tiny_zoo, tmp_path / "split", config, device="cpu", progress=False)
    columns = ["epoch", "train_loss", "val_loss", "val_r2", "lr"]
    pd.testing.assert_frame_equal(whole.history[columns], resumed.history[columns])
    assert all(torch.equal(x, y) for x, y in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()))


def test_a_different_configuration_is_refused(tiny_zoo, tmp_path):
    train(tiny_zoo, tmp_path / "run", TINY.replace(epochs=1), device="cpu", progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        train(tiny_zoo, tmp_path / "run", TINY.replace(lr=5e-4), device="cpu", progress=False)
    named = TINY.replace(epochs=1, model={**TINY.model, "encoder": "attention", "compression_token": False})
    with pytest.raises(ValueError, match="different configuration"):
        train(tiny_zoo, tmp_path / "run", named, device="cpu", progress=False)


def test_a_run_that_leaves_default_model_settings_unnamed_is_the_same_run(tiny_zoo, tmp_path):
    """Runs saved before hrlib wrote the encoder, tokens and compression token into the training
    settings are found again by a call that names those settings at their defaults."""
    first = train(tiny_zoo, tmp_path / "run", TINY.replace(epochs=1), device="cpu", progress=False)
    named = TINY.replace(epochs=1, model={**TINY.model, "encoder": "attention", "tokens": "neuron",
                                          "compression_token": True})
    again = train(tiny_zoo, tmp_path / "run", named, device="cpu", progress=False)
    assert again.result == first.result
    # a run saved before the standardize setting existed (its model settings without it)
    config_file = tmp_path / "run" / "config.json"
    saved = json.loads(config_file.read_text())
    del saved["model"]["standardize"]
    config_file.write_text(json.dumps(saved))
    assert train(tiny_zoo, tmp_path / "run", named, device="cpu", progress=False).result == first.result


def test_embedding_is_aligned_with_the_properties(tiny_zoo, tmp_path):
    run = train(tiny_zoo, tmp_path / "run", TINY.replace(epochs=1), device="cpu", progress=False)
    z = embed(tmp_path / "run", tiny_zoo, batch_size=7)
    assert z.shape == (len(tiny_zoo.properties), 8)
    row = 37
    with torch.no_grad():
        direct = run.model.encode(torch.tensor(tiny_zoo.weights[row // 6, row % 6][None]))
    np.testing.assert_allclose(z[row], direct[0].numpy(), rtol=1e-5, atol=1e-6)
    assert load_run(tmp_path / "run").config == TINY.replace(epochs=1)


def test_losses_select_their_parts(tiny_zoo, tmp_path):
    for name, parts in (("ED", {"train_mse"}), ("E_c", {"train_contrast"})):
        config = TINY.replace(epochs=1, loss=dict(gamma=0.0 if name == "ED" else 1.0))
        history = train(tiny_zoo, tmp_path / name, config, device="cpu", progress=False).history
        assert {c for c in history if c in ("train_mse", "train_contrast")} == parts


def test_a_killed_training_resumes_to_the_same_result(tiny_zoo, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    def cmd(out):
        return [sys.executable, "-m", "hrlib", "train", str(tiny_zoo.path), "--out", str(out), "--epochs", "6",
                "--recipe", "tetris_cpu", "--batch-size", "16", "--device", "cpu", "--quiet"]

    subprocess.run(cmd(tmp_path / "whole"), check=True, capture_output=True)
    proc = subprocess.Popen(cmd(tmp_path / "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = tmp_path / "killed" / "history.csv"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (history.exists() and len(history.read_text().splitlines()) >= 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(pd.read_csv(history))
    assert 1 <= done < 6, f"the kill came after {done} of 6 epochs"
    subprocess.run(cmd(tmp_path / "killed"), check=True, capture_output=True)
    # neither the lock nor a file the kill cut short is left behind
    assert sorted(p.name for p in (tmp_path / "killed").iterdir()) == LEFT
    whole, resumed = load_run(tmp_path / "whole"), load_run(tmp_path / "killed")
    columns = ["epoch", "train_loss", "val_loss", "val_r2", "lr"]
    pd.testing.assert_frame_equal(whole.history[columns], resumed.history[columns])
    assert whole.result["test_r2"] == resumed.result["test_r2"]


def test_sign_flips_only_where_they_keep_the_function(tiny_zoo, tmp_path):
    from hrlib.hyper.augment import AugmentConfig
    from hrlib.zoos.zoo import Zoo

    config = TINY.replace(epochs=1, augment=AugmentConfig.named("P,E,S"))
    run = train(tiny_zoo, tmp_path / "tanh", config, device="cpu", progress=False)  # tanh, no max-pooling
    assert run.config.augment.sign_flip
    relu = Zoo(tiny_zoo.weights, tiny_zoo.properties.assign(activation="relu"), tiny_zoo.layout, tiny_zoo.manifest)
    with pytest.raises(ValueError, match="sign-flip augmentation"):
        train(relu, tmp_path / "relu", config, device="cpu", progress=False)


def test_a_zoo_too_small_to_split_is_refused_clearly(tiny_zoo, tmp_path):
    from hrlib.zoos.zoo import Zoo

    rows = tiny_zoo.rows([0, 1])
    two = Zoo(tiny_zoo.weights[:2], tiny_zoo.properties.iloc[rows].reset_index(drop=True), tiny_zoo.layout, tiny_zoo.manifest)
    with pytest.raises(ValueError, match="too small to split"):
        train(two, tmp_path / "run", TINY, device="cpu", progress=False)


def test_a_split_other_than_70_15_15_trains_on_its_own_models(tiny_zoo, tmp_path, capsys):
    from hrlib.cli import main

    run = train(tiny_zoo, tmp_path / "halves", TINY.replace(epochs=1, split_fractions=(0.4, 0.1, 0.5)), device="cpu",
                progress=False)
    assert load_run(run.path).config.split_fractions == (0.4, 0.1, 0.5)  # survives the round trip through JSON
    load_run(run.path).check_fits(tiny_zoo, 0, (0.4, 0.1, 0.5))
    with pytest.raises(ValueError, match="would put its training models among the test models"):
        load_run(run.path).check_fits(tiny_zoo, 0)  # probed on the usual split
    with pytest.raises(ValueError, match="three positive fractions summing to 1"):
        TINY.replace(split_fractions=(0.5, 0.5, 0.5))
    assert main(["train", str(tiny_zoo.path), "--out", str(tmp_path / "x"), "--split", "0.5,0.5"]) == 2
    assert "expected three fractions" in capsys.readouterr().err


# ---- run folders: hrlib's own, one training at a time, nothing lost ------------------------------------------


def _argv(zoo, out, epochs: int) -> list[str]:
    return ["train", str(zoo.path), "--out", str(out), "--epochs", str(epochs), "--recipe", "tetris_cpu",
            "--batch-size", "32", "--device", "cpu", "--quiet"]


def test_a_second_training_of_one_run_is_refused_naming_the_first(tiny_zoo, tmp_path, capsys):
    import subprocess
    import sys
    import time

    from hrlib.cli import main

    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "hrlib", *_argv(tiny_zoo, out, 1000)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and first.poll() is None and not (out / "history.csv").exists():
            time.sleep(0.05)
        assert first.poll() is None, "the first training ended before the second started"
        began = time.perf_counter()
        assert main(_argv(tiny_zoo, out, 1000)) == 2
        err = capsys.readouterr().err
        assert time.perf_counter() - began < 30  # refused at once, not after waiting for the first
        assert err.startswith(f"hrlib: error: the run {out} is being written by process {first.pid} on ")
        assert f"train {tiny_zoo.path} --out {out}" in err  # the first one's command
        assert err.rstrip().endswith("wait for it to finish or choose another --out")
    finally:
        first.kill()
        first.wait()
    done = len(pd.read_csv(out / "history.csv"))
    assert main(_argv(tiny_zoo, out, done + 1)) == 0  # the lock of a killed training blocks nothing
    assert sorted(p.name for p in out.iterdir()) == LEFT


@pytest.mark.parametrize("where", ["replace", "write"])
def test_a_full_disk_loses_nothing_and_the_rerun_resumes(tiny_zoo, tmp_path, capsys, monkeypatch, where):
    """The disk fills while the second epoch's state is written: one line naming the file, the first
    epoch's files intact, no temporary file left; once there is room, the rerun ends as an uninterrupted run."""
    import builtins
    import errno
    import os

    import hrlib.files
    from hrlib.cli import main
    from hrlib.hyper import runs

    assert main(_argv(tiny_zoo, tmp_path / "whole", 3)) == 0
    out, saved = tmp_path / "run", []
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if where == "replace":  # the disk fills as the finished file takes its place
        replace = os.replace

        def full_disk(src, dst):
            saved.append(Path(dst).name)
            if saved.count("state.pt") == 2:
                raise full
            replace(src, dst)

        monkeypatch.setattr(hrlib.files.os, "replace", full_disk)
    else:  # the disk fills halfway through writing the file

        class FullDisk:
            def __init__(self, f):
                self.f = f

            def write(self, data):
                second_state = self.f.name.endswith("state.pt") and [n[-8:] for n in saved].count("state.pt") == 1
                if second_state and self.f.tell() > 1000:
                    raise full
                return self.f.write(data)

            def __getattr__(self, name):
                return getattr(self.f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()
                saved.append(self.f.name)

        monkeypatch.setattr(runs, "open", lambda path, mode="r": FullDisk(builtins.open(path, mode)), raising=False)
    assert main(_argv(tiny_zoo, out, 3)) == 2
    assert capsys.readouterr().err == (f"hrlib: error: {out / 'state.pt'}: could not be written (No space left on device); "
                                       "what was written before is kept: make room and rerun the same command to resume\n")
    assert torch.load(out / "state.pt", weights_only=True)["epoch"] == 1
    assert sorted(p.name for p in out.iterdir()) == [name for name in LEFT if name != "result.json"]
    monkeypatch.undo()
    assert main(_argv(tiny_zoo, out, 3)) == 0
    whole, resumed = load_run(tmp_path / "whole"), load_run(out)
    pd.testing.assert_frame_equal(whole.history[COLUMNS], resumed.history[COLUMNS])
    assert whole.result["test_r2"] == resumed.result["test_r2"]


def test_a_run_of_an_earlier_hrlib_is_adopted_and_resumed(tiny_zoo, tmp_path):
    from hrlib.files import kind_of

    whole = train(tiny_zoo, tmp_path / "whole", TINY, device="cpu", progress=False)
    train(tiny_zoo, tmp_path / "old", TINY.replace(epochs=1), device="cpu", progress=False)
    (tmp_path / "old" / ".hrlib").unlink()  # as runs were written before folders carried a marker
    assert kind_of(tmp_path / "old") is None
    resumed = train(tiny_zoo, tmp_path / "old", TINY, device="cpu", progress=False)
    assert kind_of(tmp_path / "old") == "run"
    pd.testing.assert_frame_equal(whole.history[COLUMNS], resumed.history[COLUMNS])


def test_a_refused_training_leaves_nothing_that_blocks_the_corrected_one(tiny_zoo, tmp_path, capsys):
    from hrlib.cli import main

    out = tmp_path / "run"
    assert main([*_argv(tiny_zoo, out, 1), "--latent", "0"]) == 2
    assert main([*_argv(tiny_zoo, out, 1), "--lr", "inf"]) == 2
    assert not out.exists()
    out.mkdir()
    (out / "state.pt").write_text("<html><body>Not found</body></html>")  # a download gone wrong
    assert main(_argv(tiny_zoo, out, 1)) == 2
    assert "holds state.pt but no config.json" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["state.pt"]
    (out / "state.pt").rename(tmp_path / "download.html")  # the user moves it away; nothing else to undo
    assert main(_argv(tiny_zoo, out, 1)) == 0
    assert sorted(p.name for p in out.iterdir()) == LEFT


def test_replicates_are_refused_before_the_first_trains(tiny_zoo, tmp_path):
    from hrlib.files import OutputError
    from hrlib.hyper.train import train_replicates

    (tmp_path / "run-s1").mkdir()
    (tmp_path / "run-s1" / "notes.txt").write_text("a week of notes")
    with pytest.raises(OutputError, match="run-s1: exists and is a folder hrlib did not write"):
        train_replicates(tiny_zoo, tmp_path / "run", TINY, 2, device="cpu", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_model_too_large_for_memory_is_refused_before_anything_is_written(tiny_zoo, tmp_path):
    with pytest.raises(ValueError, match="parameters needs at least .* GiB to train"):
        train(tiny_zoo, tmp_path / "run", TINY.replace(model=dict(d_model=65536, ff=65536)), device="cpu", progress=False)
    assert not (tmp_path / "run").exists()


def test_bfloat16_only_where_the_cpu_has_bfloat16_instructions(tiny_zoo, tmp_path, monkeypatch):
    from hrlib.hyper import train as training

    cpu = torch.device("cpu")
    assert training.precision(TINY, cpu) == "float32"
    config = TINY.replace(epochs=1, precision="bfloat16")
    for has_units, expected in ((False, "float32"), (True, "bfloat16")):
        monkeypatch.setattr(training, "cpu_bfloat16", lambda: has_units)
        assert training.precision(config, cpu) == expected
        run = train(tiny_zoo, tmp_path / expected, config, device="cpu", progress=False)
        assert run.result["precision"] == expected and np.isfinite(run.result["test_r2"])
    with pytest.raises(ValueError, match="precision .--precision. must be 'float32' or 'bfloat16', got 'float16'"):
        TINY.replace(precision="float16")


def test_standardized_weights_are_fitted_on_the_training_split_and_undone_after_decoding(tiny_zoo, tmp_path):
    from hrlib.hyper.inference import reconstruction_r2

    config = TINY.replace(epochs=1, model=dict(standardize=True))
    run = train(tiny_zoo, tmp_path / "run", config, device="cpu", progress=False)
    split = tiny_zoo.split(config.split_fractions, seed=config.split_seed)
    train_weights = torch.tensor(tiny_zoo.samples(split.train))
    standardized = run.model.standardize(train_weights)
    layout = tiny_zoo.layout
    for i in range(len(layout.layers)):  # each layer's weights and biases: mean 0, sd 1 over the training split
        for part in (layout.weight_slice(i), layout.bias_slice(i)):
            assert abs(float(standardized[:, part].mean())) < 1e-4
            assert abs(float(standardized[:, part].std()) - 1) < 1e-4
    assert not torch.allclose(run.model.scale, torch.ones_like(run.model.scale))
    torch.testing.assert_close(run.model.unstandardize(standardized), train_weights)
    # the reported R² is in the weights' own space, as a user reconstructs them; the reloaded run agrees
    reloaded = load_run(tmp_path / "run")
    torch.testing.assert_close(reloaded.model.shift, run.model.shift)
    assert run.result["test_r2"] == pytest.approx(reconstruction_r2(reloaded, tiny_zoo, split.test), abs=1e-5)
    z = embed(reloaded, tiny_zoo)
    with torch.no_grad():
        direct = reloaded.model.encoder(reloaded.model.standardize(torch.tensor(tiny_zoo.samples())))
    np.testing.assert_allclose(z, direct.numpy(), rtol=1e-5, atol=1e-6)


def test_a_clipped_step_leaves_a_gradient_no_longer_than_the_bound(tiny_zoo):
    from contextlib import nullcontext

    from hrlib.hyper.augment import permutation_bank, two_views
    from hrlib.hyper.models import HyperRepresentation, ModelConfig
    from hrlib.hyper.train import train_step

    def gradient_norm(clip_norm):
        torch.manual_seed(0)
        model = HyperRepresentation(ModelConfig(layout=tiny_zoo.layout.to_dict(), **TINY.model))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        bank = permutation_bank(tiny_zoo.layout, None, torch.Generator().manual_seed(0))
        batch = torch.tensor(tiny_zoo.samples()[:32])
        views = two_views(batch, bank, TINY.augment, torch.Generator().manual_seed(0), train=True)
        train_step(model, opt, views, TINY.loss, nullcontext(), clip_norm)
        return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]))

    assert gradient_norm(None) > 0.01 >= gradient_norm(0.01) - 1e-6
    with pytest.raises(ValueError, match="gradient clipping norm must be a positive number"):
        TrainConfig(clip_norm=0)


def _cnn_zoo(seeds: list[int]):
    """An untrained CNN-u zoo of len(seeds) models × 1 checkpoint, weights drawn at random."""
    from hrlib.zoos.architectures import layout_of
    from hrlib.zoos.zoo import Zoo

    layout = layout_of("cnn_u")
    weights = np.random.default_rng(0).normal(size=(len(seeds), 1, layout.n_params)).astype(np.float32)
    properties = pd.DataFrame({"model": range(len(seeds)), "epoch": 0, "seed": seeds})
    return Zoo(weights, properties, layout, {"architecture": "cnn_u"})


def test_default_recipe_leaves_permutations_out_where_every_model_shares_one_seed(tiny_zoo):
    from hrlib.hyper.config import configure, default_recipe

    assert default_recipe(tiny_zoo) == "tetris_cpu"
    assert default_recipe(_cnn_zoo([1, 2, 3])) == "mnist_cpu"
    one_seed = _cnn_zoo([42, 42, 42])
    assert default_recipe(one_seed) == "cnnu_cpu"
    config = configure(one_seed, device="cpu")
    assert not config.augment.permute and config.augment.erase_p > 0
    assert configure(one_seed, device="cpu", augment="P,E").augment.permute  # a user's choice still wins
    no_seeds = _cnn_zoo([1, 2])
    no_seeds.properties = no_seeds.properties.drop(columns="seed")
    assert default_recipe(no_seeds) == "mnist_cpu"


def test_on_a_gpu_a_one_seed_zoo_gets_the_papers_size_still_without_permutations(monkeypatch):
    from hrlib.hyper.config import configure, get_recipe

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the choice of recipe only; nothing runs
    one_seed, own_seeds = configure(_cnn_zoo([42, 42]), device="auto"), configure(_cnn_zoo([1, 2]), device="auto")
    assert one_seed.model == own_seeds.model and one_seed.epochs == get_recipe("mnist_paper").epochs
    assert one_seed.model["d_model"] == get_recipe("mnist_paper").model["d_model"]
    assert not one_seed.augment.permute and own_seeds.augment.permute


def test_training_warns_where_a_few_exploded_models_hold_most_of_the_variance(tiny_zoo, tmp_path, caplog):
    from hrlib.zoos.zoo import Zoo, exploded_models, exploded_share

    config = TINY.replace(epochs=1)
    train_models = tiny_zoo.split(config.split_fractions, seed=config.split_seed).train
    weights = np.array(tiny_zoo.weights)
    weights[train_models[0]] *= 100  # one training model whose weights grew a hundredfold
    blown = Zoo(weights, tiny_zoo.properties, tiny_zoo.layout, dict(tiny_zoo.manifest))
    assert list(exploded_models(blown)) == [train_models[0]] and exploded_share(blown, train_models) > 0.9
    w = blown.samples(train_models).astype(np.float64)  # the share computed all at once
    per_row = ((w - w.mean(0)) ** 2).sum(1)
    c = blown.weights.shape[1]
    assert exploded_share(blown, train_models) == pytest.approx(per_row[:c].sum() / per_row.sum())
    assert exploded_share(tiny_zoo, train_models) == 0
    with caplog.at_level("WARNING", logger="hrlib"):
        train(tiny_zoo, tmp_path / "clean", config, device="cpu", progress=False)
        assert "exploded" not in caplog.text
        train(blown, tmp_path / "blown", config, device="cpu", progress=False)
    assert "models with exploded weights (largest norm over 5 × the median model's) hold 9" in caplog.text
    assert "scripts/outlier_models.py ZOO --run RUN" in caplog.text
