"""`make run` and `make docs` as a reader meets them: the notebook runner prints its progress and no warning,
and the pages it renders show every figure, the explorer's map included, offline, without the checks the tests
run and without the widget's text form.

The runner runs a small set quick, exactly as `make run` runs notebooks 01-04 (`python -m hrlib.notebooks run
... -p runs RUNS`, plus `-p quick True`); 06 is the explorer, whose page must show its map.
"""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from hrlib.errors import OutputError
from hrlib.notebooks import PLOTLY, html_pages, main

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [ROOT / "notebooks" / f"{name}.ipynb" for name in ("02_augmentations", "06_explorer")]
WIDGET = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The quick set run by `make run`'s notebook step: (folder of executed notebooks, the finished process)."""
    work = tmp_path_factory.mktemp("runner")
    result = subprocess.run(
        [sys.executable, "-m", "hrlib.notebooks", "run", *map(str, NOTEBOOKS), "--out", str(work / "notebooks"),
         "-p", "quick", "True", "-p", "runs", str(work / "runs"), "-p", "projection", "pca", "-p", "epochs", "2"],
        capture_output=True, text=True, cwd=work, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work / "notebooks", result


def test_make_run_executes_its_notebooks_with_the_runner():
    makefile = (ROOT / "Makefile").read_text()
    assert "NOTEBOOKS := $(PY) -m hrlib.notebooks" in makefile
    assert "$(NOTEBOOKS) run $(MAIN_NOTEBOOKS:%=notebooks/%.ipynb) --out $(RUNS)/notebooks -p runs $(RUNS)" in makefile


def test_the_runner_prints_progress_and_no_warning(executed):
    folder, result = executed
    assert result.stdout.splitlines() == [f"== {nb} -> {folder / nb.name}" for nb in NOTEBOOKS]
    lines = (result.stdout + result.stderr).replace("\r", "\n").splitlines()
    assert not [line for line in lines if re.search("warn", line, re.IGNORECASE)], result.stderr[-3000:]
    assert "Executing: 100%" in result.stderr  # papermill's progress bar


def test_the_explorer_leaves_a_static_map_beside_the_widget(executed):
    nb = nbformat.read(executed[0] / "06_explorer.ipynb", as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", []) if WIDGET in o.get("data", {})]
    assert len(outputs) == 1
    snapshot = outputs[0].data[PLOTLY]
    assert len(snapshot["data"][0]["x"]["bdata"]) > 1000 and "PCA" in snapshot["layout"]["title"]["text"]
    assert outputs[0].data["text/plain"].startswith("Explorer: ")
    assert "widgets" not in nb.metadata  # no saved widget state: 5 MB that JupyterLab does not redraw


def _figures(nb) -> int:
    return sum(PLOTLY in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_the_pages_hold_every_figure_and_no_checks(executed, tmp_path):
    path = executed[0] / "06_explorer.ipynb"
    index = html_pages([path], tmp_path / "site")
    page = (tmp_path / "site" / "06_explorer.html").read_text()
    assert page.count("Plotly.newPlot(") == _figures(nbformat.read(path, as_version=4)) >= 3  # the map among them
    assert '<script src="plotly.min.js"></script>' in page and "cdn.plot.ly" not in page
    assert (tmp_path / "site" / "plotly.min.js").stat().st_size > 1_000_000
    assert "HBox(children=" not in page and "Checks run by the tests" not in page
    assert "check_parameters" in page  # the code stays, as a notebook reads
    assert 'href="06_explorer.html"' in index.read_text()


def test_the_pages_draw_their_figures_offline_in_chromium(executed, tmp_path):
    from tests.explore.test_browser import ARTIFACTS, CHROMIUM, FLAGS, _need_chromium

    _need_chromium()
    from playwright.sync_api import sync_playwright

    html_pages(sorted(executed[0].glob("*.ipynb")), tmp_path / "site")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.route("http*://**", lambda route: route.abort())  # offline: nothing comes from the network
            for path in sorted(executed[0].glob("*.ipynb")):
                page.goto((tmp_path / "site" / f"{path.stem}.html").as_uri())
                figures = _figures(nbformat.read(path, as_version=4))
                page.wait_for_function(f"""() => [...document.querySelectorAll('.js-plotly-plot')]
                    .filter(gd => gd._fullData && gd._fullData.length > 0).length === {figures}""", timeout=30_000)
                page.screenshot(path=ARTIFACTS / f"page-{path.stem}.png")
        finally:
            browser.close()


def test_runner_and_pages_never_write_into_a_folder_they_did_not_make(executed, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("my page")
    (mine / "02_augmentations.ipynb").write_text("my notebook")
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    with pytest.raises(OutputError, match="not an hrlib site folder"):
        html_pages([executed[0] / "02_augmentations.ipynb"], mine)
    # refused before any notebook runs, with one line and exit status 2
    assert main(["run", str(NOTEBOOKS[0]), "--out", str(mine)]) == 2
    assert "not an hrlib notebooks folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before  # nothing written, nothing replaced
    # the folders it made itself it writes again
    site = tmp_path / "site"
    html_pages([executed[0] / "02_augmentations.ipynb"], site)
    index = html_pages([executed[0] / "06_explorer.ipynb"], site)
    assert 'href="06_explorer.html"' in index.read_text()
    assert main(["run", str(NOTEBOOKS[0]), "--out", str(site)]) == 2  # a folder of pages holds no notebooks
    assert "is an hrlib site folder, not an hrlib notebooks folder" in capsys.readouterr().err
