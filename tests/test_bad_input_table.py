"""Every bad input of `tests/bad_input_cases`, one row each, through the `hrlib` command: it exits 2
with exactly the expected line on stderr, and the files around it are as they were."""

import hashlib
import re
from pathlib import Path

import pytest

from hrlib.cli import main
from tests.bad_input_cases import cli, probes, runs, zoos

CASES = [*runs.CASES, *zoos.CASES, *probes.CASES, *cli.CASES]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder`, hidden ones included, with the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def paths(tiny_zoo, hyp_zoo, tiny_run, tmp_path_factory):
    probe_dir = tmp_path_factory.mktemp("probes") / "saved"
    table = tmp_path_factory.mktemp("tables") / "t.csv"
    assert main(["probe", str(tiny_zoo.path), "--run", f"E_cD={tiny_run}", "--features", "", "--out", str(table),
                 "--save", str(probe_dir)]) == 0
    return {"zoo": tiny_zoo.path, "hyp": hyp_zoo.path, "run": Path(tiny_run), "probes": probe_dir}


def check_line(err: str, message: str, values: dict):
    """`err` is one line, ``hrlib: error: `` and then `message` (``{any}`` matching any text)."""
    pattern = ".+?".join(re.escape(part.format(**values)) for part in message.split("{any}"))
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert re.fullmatch("hrlib: error: " + pattern, err.rstrip("\n")), f"\n got: {err}want: {message.format(any='{any}', **values)}"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_bad_input_gets_its_line_and_loses_nothing(case, paths, tmp_path, capsys):
    values = {**paths, "tmp": tmp_path}
    if case.setup:
        case.setup(values)
    shared = {name: snapshot(paths[name]) for name in ("zoo", "run", "probes")}
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert main([arg.format(**values) for arg in case.argv]) == 2
    check_line(capsys.readouterr().err, case.message, values)
    if not case.changes:
        assert snapshot(tmp_path) == before
    assert {name: snapshot(paths[name]) for name in shared} == shared
