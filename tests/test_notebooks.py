"""Every notebook runs headless in quick mode: papermill injects the parameters, nbval executes.

papermill prepares each notebook exactly as `papermill NB OUT -p quick True -p runs DIR` would (its
`parameters` cell, then an injected cell), and nbval's lax mode runs it cell by cell in a fresh
kernel: any exception fails, and every notebook ends by asserting its headline numbers, so a
changed result fails too. The notebooks share one runs directory, in reading order, so later ones
reuse the zoos and runs of earlier ones as a user's would.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import papermill as pm
import pytest

from hrlib.notebooks import LocalKernelManager

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("notebook-runs")


def test_every_notebook_is_listed_and_committed_clean():
    import nbformat

    assert [p.stem[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)]
    assert len(NOTEBOOKS) >= 7
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0]
        assert first.cell_type == "markdown" and first.source.startswith("# "), f"{path.name}: no H1 title"
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and "quick: bool" in tagged[0].source and "runs: str" in tagged[0].source, path.name
        check_types_are_checked(nb.cells, nb.cells.index(tagged[0]), path.name)
        check_checks_are_out_of_the_way(nb.cells, path.name)
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path.name} has outputs"
        assert nb.metadata.kernelspec.name == "python3"


def check_types_are_checked(cells, parameters: int, name: str):
    """The code cell after the parameters cell checks every parameter against the type declared for it."""
    declared = {n.target.id: n.annotation.id for n in ast.parse(cells[parameters].source).body
                if isinstance(n, ast.AnnAssign)}
    after = cells[parameters + 1]
    assert after.cell_type == "code", name
    calls = [n for n in ast.walk(ast.parse(after.source))
             if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "check_parameters"]
    assert len(calls) == 1 and ast.unparse(calls[0].args[0]) == "globals()", name
    assert {k.arg: k.value.id for k in calls[0].keywords} == declared, name


def check_checks_are_out_of_the_way(cells, name: str):
    """The assertions the tests run sit in the last cell, after the result in words: collapsed in JupyterLab,
    left out of the rendered pages (`remove-cell`), and the only cell tagged `checks`."""
    last = cells[-1]
    assert last.cell_type == "code" and last.source.startswith("# Checks run by the tests") and "assert" in last.source, name
    assert {"checks", "remove-cell"} <= set(last.metadata.get("tags", [])), name
    assert last.metadata.get("jupyter") == {"source_hidden": True, "outputs_hidden": True}, name
    assert [c for c in cells if "checks" in c.metadata.get("tags", [])] == [last], name


def test_check_parameters_refuses_another_type_with_how_to_pass_it():
    from hrlib.notebook_parameters import check_parameters

    types = dict(quick=bool, epochs=int, top=float, tables=str)
    good = dict(quick=True, epochs=3, top=1, tables="1,2")  # an int is a number where a float is declared
    check_parameters(good, **types)
    for bad, message in [
        (dict(quick="maybe"), "parameter quick must be True or False, got 'maybe' (a str); pass -p quick True or "
                              "-p quick False"),
        (dict(quick="false"), "parameter quick must be True or False, got 'false' (a str)"),
        (dict(quick=1), "parameter quick must be True or False, got 1 (an int)"),
        (dict(epochs=2.5), "parameter epochs must be a whole number (an int), got 2.5 (a float); pass -p epochs N "
                           "with N a whole number"),
        (dict(epochs=True), "parameter epochs must be a whole number (an int), got True (a bool)"),
        (dict(top="high"), "parameter top must be a number (a float), got 'high' (a str)"),
        (dict(tables=1), "parameter tables must be text (a str), got 1 (an int); pass -r tables 1 (-r passes text "
                         "as typed; -p reads numbers, True, False and None as such)"),
        (dict(tables=None), "parameter tables must be text (a str), got None; pass -r tables TEXT"),
    ]:
        with pytest.raises(TypeError) as refused:
            check_parameters({**good, **bad}, **types)
        assert str(refused.value).startswith(message)
    with pytest.raises(TypeError) as refused:
        check_parameters({**good, "quick": "no", "epochs": "3"}, **types)
    assert str(refused.value).count("\n") == 1  # one line for each wrong parameter
    with pytest.raises(NameError, match="parameter seed is not set"):
        check_parameters(good, seed=int)


def test_a_parameter_of_another_type_stops_the_notebook_at_once(tmp_path):
    """`papermill 01_zoos.ipynb out.ipynb -p quick false` stops before any zoo is built."""
    result = subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "01_zoos.ipynb"), str(tmp_path / "out.ipynb"),
         "-k", "python3", "--cwd", str(tmp_path), "-p", "quick", "false", "-p", "umap_points", "2.5",
         "-p", "runs", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    for line in ("parameter quick must be True or False, got 'false' (a str); pass -p quick True or -p quick False",
                 "parameter umap_points must be a whole number (an int), got 2.5 (a float)"):
        assert line in result.stderr, result.stderr[-3000:]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_headless_under_nbval(notebook, runs, tmp_path):
    prepared = ARTIFACTS / notebook.name
    prepared.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(notebook), str(prepared), parameters={"quick": True, "runs": str(runs)},
                        prepare_only=True, kernel_name="python3")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
         "-q", "--rootdir", str(tmp_path), str(prepared)],
        capture_output=True, text=True, cwd=tmp_path, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]


def test_train_notebook_on_mnist(runs, tmp_path):
    """The user's example: `papermill notebooks/03_train.ipynb out.ipynb -p zoo mnist_seed -p quick True`."""
    from hrlib.datasets import idx as mnist

    if mnist.locate("mnist", "train")[0] is None or mnist.locate("mnist", "test")[0] is None:
        if os.environ.get("HRLIB_REQUIRE_DATA"):
            pytest.fail("MNIST IDX files are required here; run `make data`")
        pytest.skip("MNIST IDX files not found; run `make data`")
    out = ARTIFACTS / "03_train-mnist_seed.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "03_train.ipynb"), str(out), kernel_name="python3",
                        kernel_manager_class=LocalKernelManager,
                        parameters={"zoo": "mnist_seed", "quick": True, "runs": str(runs)}, cwd=str(tmp_path))
    text = out.read_text()
    assert "2464 params" in text and "test reconstruction R²" in text
    # what will be built and trained, and how long it takes here, is printed before the work starts
    assert text.index("to be built into") < text.index("per epoch here") < text.index("Zoo('mnist_seed'")


def test_train_notebook_without_mnist_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HRLIB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("HRLIB_DATA", raising=False)
    monkeypatch.delenv("HRLIB_DOWNLOAD", raising=False)
    with pytest.raises(pm.PapermillExecutionError) as failure:
        pm.execute_notebook(str(ROOT / "notebooks" / "03_train.ipynb"), str(tmp_path / "out.ipynb"),
                            kernel_name="python3", kernel_manager_class=LocalKernelManager, cwd=str(tmp_path),
                            parameters={"zoo": "mnist_seed", "quick": True, "runs": str(tmp_path / "runs")})
    message = str(failure.value)
    assert "DataNotFound" in message and "MNIST train files" in message and "make data" in message


def test_a_wrong_notebook_parameter_stops_at_once_with_the_librarys_message(tmp_path):
    for parameters, message in (({"zoo": "no_such_zoo"}, "unknown preset 'no_such_zoo'"),
                                ({"loss": "E_x"}, "unknown loss 'E_x'"), ({"encoder": "Att_X"}, "unknown encoder 'Att_X'")):
        with pytest.raises(pm.PapermillExecutionError) as failure:
            pm.execute_notebook(str(ROOT / "notebooks" / "03_train.ipynb"), str(tmp_path / "out.ipynb"),
                                kernel_name="python3", kernel_manager_class=LocalKernelManager, cwd=str(tmp_path),
                                parameters={"quick": True, "runs": str(tmp_path / "runs"), **parameters})
        assert message in str(failure.value)
    assert not (tmp_path / "runs" / "hr").exists()  # nothing trained

