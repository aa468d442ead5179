import json
import os
import shlex
import subprocess
import sys

import pytest

from hrlib import commands
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
    from hrlib.cli import parser

    args = ["train", "zoo", "--out", "run"]
    assert [parser().parse_args(args + flag).standardize for flag in ([], ["--standardize"], ["--no-standardize"])] \
        == [None, True, False]  # None: the recipe's


def test_output_cut_short_by_its_reader_ends_quietly():
    """`hrlib zoo presets | head -1` prints one line and no BrokenPipeError."""
    unbuffered = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each line its own write, so later ones meet the closed pipe
    piped = subprocess.run(f"{shlex.quote(sys.executable)} -m hrlib zoo presets | head -1", shell=True,
                           capture_output=True, text=True, env=unbuffered)
    assert piped.stdout.startswith("tetris_seed") and piped.stdout.count("\n") == 1 and piped.stderr == ""
    read, write = os.pipe()
    os.close(read)  # the reader has gone before hrlib writes its first line: no race with head
    try:
        gone = subprocess.run([sys.executable, "-m", "hrlib", "zoo", "presets"], stdout=write, stderr=subprocess.PIPE,
                              text=True, env=unbuffered)
    finally:
        os.close(write)
    assert gone.returncode == 141 and gone.stderr == ""  # as `yes | head -1` ends


def test_a_terminal_that_cannot_show_unicode_gets_question_marks(tmp_path):
    ascii_only = {**os.environ, "PYTHONIOENCODING": "ascii"}
    shown = subprocess.run([sys.executable, "-m", "hrlib", "zoo", "presets"], capture_output=True, env=ascii_only)
    assert shown.returncode == 0 and shown.stderr == b""
    assert b"tetris_seed                1000 models ?  75 epochs" in shown.stdout
    refused = subprocess.run([sys.executable, "-m", "hrlib", "zoo", "info", str(tmp_path / "zoo-τ")],
                             capture_output=True, env=ascii_only)
    assert refused.returncode == 2 and refused.stderr.startswith(b"hrlib: error: ")  # τ written as \u03c4 there
    assert refused.stderr.count(b"\n") == 1


def test_a_bug_is_one_line_with_exit_3_and_its_traceback_under_v(monkeypatch, capsys):
    def broken(args):
        return {}["preset"]

    monkeypatch.setattr(commands, "zoo_presets", broken)
    assert main(["zoo", "presets"]) == 3
    assert capsys.readouterr().err == ("hrlib: internal error: KeyError: 'preset' (a bug in hrlib; rerun with -v for "
                                       "the traceback and report it)\n")
    for argv in (["-v", "zoo", "presets"], ["zoo", "presets", "-v"]):  # -v before or after the command
        with pytest.raises(KeyError):
            main(argv)


def test_a_value_error_from_deep_inside_a_library_is_a_bug_not_a_refusal(monkeypatch, tmp_path, capsys):
    """hrlib words its own refusals (exit 2); a ValueError raised inside pandas or json on input hrlib did
    not check is hrlib's bug (exit 3), so a bad input can never pass as handled through one."""
    monkeypatch.setattr(commands, "zoo_presets", lambda args: json.loads("{"))
    assert main(["zoo", "presets"]) == 3
    assert capsys.readouterr().err.startswith("hrlib: internal error: JSONDecodeError: Expecting property name")
    assert main(["reproduce", "table7", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("hrlib: error: table7 transfers probes between zoos")


def test_the_command_lets_openmp_wait_passively_unless_told_otherwise(monkeypatch, capsys):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert main(["zoo", "presets"]) == 0
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert main(["zoo", "presets"]) == 0
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
