import subprocess
import sys

from hrlib.cli import main


def test_create_and_info(tmp_path, capsys):
    out = tmp_path / "zoo"
    assert main(["zoo", "create", "tetris_hyp", "--out", str(out), "--models", "12", "--epochs", "2", "--quiet"]) == 0
    created = capsys.readouterr().out
    assert "12 models × 3 checkpoints × 100 params" in created
    assert main(["zoo", "info", str(out)]) == 0
    info = capsys.readouterr().out
    for text in ("final test accuracy: min", "models dropped (diverged): 0 of 12", "activation: relu", "init: "):
        assert text in info


def test_errors_are_one_line_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "hrlib", "zoo", "create", "nope", "--out", str(tmp_path / "z")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("hrlib: error: unknown preset 'nope'") and "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "hrlib", "zoo", "info", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "manifest.json: missing" in result.stderr


def test_presets_listing(capsys):
    assert main(["zoo", "presets"]) == 0
    listing = capsys.readouterr().out
    assert "tetris_seed" in listing and "3600 models" in listing


def test_train_command(tiny_zoo, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", str(tiny_zoo.path), "--out", str(out), "--epochs", "1", "--arch", "Att_N", "--latent", "12",
                 "--loss", "E_c+D", "--augment", "P", "--batch-size", "64", "--quiet", "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Att_N E_c+D, seed 0, split seed 0, test reconstruction R²" in printed
    from hrlib.hyper.runs import load_run

    run = load_run(out)
    assert run.model_config.compression_token is False and run.config.augment.erase_p == 0.0
    assert run.model_config.latent == 12 and run.model_config.d_model == 128  # the rest is the recipe's
    assert run.config.loss.contrast == "positive" and run.config.batch_size == 64
    assert main(["train", str(tiny_zoo.path), "--out", str(tmp_path / "x"), "--arch", "Att_Q"]) == 2
