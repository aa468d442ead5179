"""`hrlib probe` and `hrlib reproduce`: tables on disk, clear errors, results.md sections rewritten in place."""

import importlib.util

import pandas as pd
import pytest

from hrlib.cli import main


def test_probe_writes_the_table(tiny_zoo, tmp_path, capsys):
    out, preds = tmp_path / "table.csv", tmp_path / "preds.csv.gz"
    assert main(["probe", str(tiny_zoo.path), "--features", "W,sW", "--targets", "Eph,Acc,Act",
                 "--out", str(out), "--predictions", str(preds)]) == 0
    table = pd.read_csv(out, index_col="target")
    assert list(table.columns) == ["metric", "W", "s(W)"] and list(table.index) == ["Eph", "Acc"]
    assert (table.metric == "R2").all() and table.loc["Eph", "s(W)"] > 50
    printed = capsys.readouterr().out
    assert "note: Act (activation): constant ('tanh' in every checkpoint); skipped, not scored" in printed
    assert set(pd.read_csv(preds).feature) == {"W", "s(W)"}


def test_probe_errors(tiny_zoo, tmp_path, capsys):
    assert main(["probe", str(tiny_zoo.path), "--features", "W,nope", "--out", str(tmp_path / "t.csv")]) == 2
    assert "unknown feature sets ['nope']" in capsys.readouterr().err
    assert main(["probe", str(tiny_zoo.path), "--features", "W", "--targets", "accuracy", "--out",
                 str(tmp_path / "t.csv")]) == 2
    assert "unknown target 'accuracy'" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("hrlib.train") is not None, reason="issue 3 has landed")
def test_probe_run_needs_issue_3(tiny_zoo, tmp_path, capsys):
    assert main(["probe", str(tiny_zoo.path), "--run", "E_cD=runs/x", "--out", str(tmp_path / "t.csv")]) == 2
    assert "hyper-representations are not available yet" in capsys.readouterr().err


def test_reproduce_rewrites_its_own_section(tiny_zoo, tmp_path, capsys):
    results = tmp_path / "docs" / "results.md"
    args = ["reproduce", "table5", str(tiny_zoo.path), "--features", "W,s(W)", "--paper", "tetris_seed",
            "--results", str(results)]
    assert main(args) == 0
    assert main(args) == 0
    text = results.read_text()
    assert text.count("<!-- BEGIN table5:tetris_seed -->") == 1 and text.startswith("# Results")
    assert "Command: `hrlib reproduce table5" in text and "| Eph |" in text and "(96.4)" in text  # paper's s(W)
    assert "- Act (activation): constant" in text
    other = tmp_path / "other"
    assert main(["zoo", "create", "tetris_seed", "--out", str(other), "--models", "14", "--epochs", "3", "--quiet"]) == 0
    assert main(["reproduce", "table7", str(tiny_zoo.path), str(other), "--target", "Acc", "--results", str(results)]) == 0
    text = results.read_text()
    assert "<!-- BEGIN table7:tiny_tetris-tetris_seed -->" in text and "<!-- BEGIN table5:tetris_seed -->" in text
    assert "| tiny_tetris |" in text and "tetris_seed s(W)" in text
