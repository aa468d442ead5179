"""The explorer in a real browser: JupyterLab on loopback runs notebooks/06_explorer.ipynb (quick) in
Debian's chromium driven by Playwright; the first map must be drawn within 20 s of the explorer's cell
starting and the UMAP map swapped in when ready, and the scatter must draw points, follow the colour
dropdown within 0.5 s, show a hover label, and open the side panel on the clicked checkpoint. The
times the browser measured are written to test-artifacts/explorer-timings.json.

Screenshots land in test-artifacts/ (git-ignored). Skipped where /usr/bin/chromium is absent, unless
HRLIB_REQUIRE_BROWSER is set; CI installs chromium and sets it (.ci/run). Every wait is on a real
state of the page, never a fixed sleep.
"""

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]

pytestmark = pytest.mark.slow

# The plot area's pixels, decoded by the browser from a PNG screenshot: how many are coloured
# (points: far from grey) and the share of those near each given colour.
PIXELS = """async ([png, targets]) => {
  const img = new Image(); img.src = "data:image/png;base64," + png; await img.decode();
  const canvas = document.createElement("canvas"); canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext("2d"); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, img.width, img.height).data;
  let coloured = 0; const near = targets.map(() => 0);
  for (let i = 0; i < d.length; i += 4) {
    const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
    if (Math.max(r, g, b) - Math.min(r, g, b) < 40) continue;
    coloured++;
    targets.forEach(([tr, tg, tb], k) => { if (Math.abs(r - tr) + Math.abs(g - tg) + Math.abs(b - tb) < 60) near[k]++; });
  }
  return {coloured, near: near.map(n => n / Math.max(coloured, 1))};
}"""
PLOT = "document.querySelector('.hrlib-map .js-plotly-plot')"

# Timestamps (ms, the page's clock) of what a reader sees: the explorer's cell starting (the code cell
# before it numbered), its first map drawn, and the UMAP map swapped in.
WATCH = """() => {
  const times = window.hrlibTimes = {};
  const cells = () => [...document.querySelectorAll('.jp-CodeCell')];
  const timer = setInterval(() => {
    const all = cells(), k = all.findIndex(c => c.textContent.includes('explorer = Explorer('));
    const now = performance.now(), gd = document.querySelector('.hrlib-map .js-plotly-plot');
    if (times.start === undefined && k > 0 && /\\[\\d+\\]/.test(all[k - 1].querySelector('.jp-InputPrompt').textContent))
      times.start = now;
    if (times.first === undefined && gd && gd._fullData && gd._fullData[0] && gd._fullData[0]._length > 0) times.first = now;
    if (times.umap === undefined && gd && gd._fullLayout && gd._fullLayout.xaxis.title.text === 'UMAP 1') {
      times.umap = now; clearInterval(timer); }
  }, 25);
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read() or b"null")


def _need_chromium():
    if not CHROMIUM.exists():
        if os.environ.get("HRLIB_REQUIRE_BROWSER"):
            pytest.fail("/usr/bin/chromium is required here: apt-get install chromium")
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")


@contextlib.contextmanager
def _jupyterlab(work: Path, tmp_path: Path):
    """JupyterLab on 127.0.0.1 serving `work`; yields (base URL, token); shut down afterwards."""
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    notebook = settings.parent / "notebook-extension"  # every cell rendered, as a reader scrolling through sees them
    notebook.mkdir()
    (notebook / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings.parents[1]), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/api/status?token={token}")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start; see {tmp_path / 'lab.log'}") from None
                time.sleep(0.2)
        yield base, token
    finally:
        try:  # kernels first: they run in sessions of their own
            for kernel in _get(f"{base}/api/kernels?token={token}") or []:
                request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
                urllib.request.urlopen(request, timeout=10).close()
        except OSError:
            pass
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        log.close()


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on 127.0.0.1 serving a prepared copy of the explorer notebook."""
    _need_chromium()
    import nbformat
    import papermill

    work = tmp_path / "work"
    work.mkdir()
    papermill.execute_notebook(ROOT / "notebooks" / "06_explorer.ipynb", work / "06_explorer.ipynb", prepare_only=True,
                               kernel_name="python3", progress_bar=False, parameters=dict(
                                   quick=True, runs=str(tmp_path / "runs"), epochs=2))
    prepared = nbformat.read(work / "06_explorer.ipynb", as_version=4)
    prepared.cells[-1].metadata.pop("jupyter")  # the checks cell expanded: its prompt too must show that it ran
    nbformat.write(prepared, work / "06_explorer.ipynb")
    with _jupyterlab(work, tmp_path) as (base, token):
        yield f"{base}/lab/tree/06_explorer.ipynb?token={token}"


def _plot_pixels(page, targets=()) -> dict:
    box = page.evaluate(f"""() => {{ const gd = {PLOT}; const r = gd.getBoundingClientRect(); const s = gd._fullLayout._size;
        return {{x: r.left + s.l, y: r.top + s.t, width: s.w, height: s.h}}; }}""")
    import base64

    png = base64.b64encode(page.screenshot(clip=box)).decode()
    return page.evaluate(PIXELS, [png, [list(t) for t in targets]])


def test_explorer_notebook_in_chromium(lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1900, "height": 1250})
            page.goto(lab)
            page.get_by_text("| Idle").wait_for(timeout=90_000)  # the kernel is up
            page.evaluate(WATCH)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            # every code cell has run (a failing cell stops Run All, so its successors keep "[ ]")
            page.wait_for_function("""() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }""", timeout=180_000)
            page.wait_for_function(f"() => {{ const gd = {PLOT}; return gd && gd._fullData && gd._fullData[0]._length > 0; }}",
                                   timeout=30_000)
            page.wait_for_function("() => window.hrlibTimes.umap !== undefined", timeout=180_000)  # UMAP swapped in
            times = page.evaluate("() => window.hrlibTimes")
            waited = {"first map": (times["first"] - times["start"]) / 1000, "UMAP map": (times["umap"] - times["start"]) / 1000}
            assert waited["first map"] < 20, waited
            plot = page.locator(".hrlib-map .js-plotly-plot")
            plot.scroll_into_view_if_needed()
            n = page.evaluate(f"() => {PLOT}._fullData[0].x.filter(v => !Number.isNaN(v)).length")
            assert n > 1000  # the quick zoo: 100 models × 11 checkpoints, all shown
            # the palette's first two colours, drawn at the markers' opacity 0.7 over white, and where points pile up
            palette = [(0x63, 0x6E, 0xFA), (0xEF, 0x55, 0x3B)]
            targets = [tuple(round(0.7 * c + 0.3 * 255) for c in colour) for colour in palette] + palette
            before = _plot_pixels(page, targets=targets)
            assert before["coloured"] > 500, before  # WebGL drew the points
            page.screenshot(path=ARTIFACTS / "explorer-1-opened.png", full_page=False)

            colour = page.locator(".hrlib-controls .widget-dropdown", has_text="colour").locator("select")
            start = time.perf_counter()
            colour.select_option("activation")
            page.wait_for_function(f"() => JSON.stringify({PLOT}._fullLayout.coloraxis.colorbar.ticktext) === '[\"relu\",\"tanh\"]'",
                                   timeout=20_000, polling="raf")
            waited["colour change"] = time.perf_counter() - start
            (ARTIFACTS / "explorer-timings.json").write_text(json.dumps(waited, indent=1) + "\n")
            assert waited["colour change"] < 0.5, waited
            page.wait_for_timeout(300)  # let WebGL draw the new colours (the layout is already updated)
            after = _plot_pixels(page, targets=targets)
            # most drawn pixels now carry the two activation colours (the rest are the blended edges of
            # small markers), where the continuous colour scale before had almost none of them
            assert after["coloured"] > 500 and sum(after["near"]) > 0.6, after
            assert sum(after["near"]) > 3 * sum(before["near"]), (before, after)
            page.screenshot(path=ARTIFACTS / "explorer-2-coloured-by-activation.png")

            # hover over a point of another model than the panel shows (the notebook opened one),
            # read its label, click it: the panel opens on that checkpoint
            panel = page.locator(".hrlib-panel")
            shown = int(re.search(r"model (\d+), epoch", panel.inner_text())[1])
            x, y = page.evaluate(f"""(shown) => {{ const gd = {PLOT}, t = gd._fullData[0], fl = gd._fullLayout;
                const r = gd.getBoundingClientRect(); const mine = `<b>model ${shown}</b>`;
                const i = t.x.findIndex((v, k) => !Number.isNaN(v) && !t.hovertext[k].startsWith(mine) && k > 500);
                return [r.left + fl._size.l + fl.xaxis.l2p(t.x[i]), r.top + fl._size.t + fl.yaxis.l2p(t.y[i])]; }}""", shown)
            page.mouse.move(x, y)
            hover = page.locator(".hrlib-map .hoverlayer .hovertext")
            hover.wait_for(timeout=10_000)
            label = hover.text_content()
            found = re.search(r"model (\d+), epoch (\d+)", label)
            assert found and "test_acc" in label and "activation" in label, label
            page.screenshot(path=ARTIFACTS / "explorer-3-hover.png")
            heading = f"model {found[1]}, epoch {found[2]}"
            assert heading not in panel.inner_text()
            page.mouse.click(x, y)
            panel.get_by_text(heading).wait_for(timeout=20_000)
            page.wait_for_function("() => document.querySelectorAll('.hrlib-panel .js-plotly-plot').length >= 2", timeout=20_000)
            assert panel.locator("table").count() == 1 and "Acc (test_acc)" in panel.inner_text()
            panel.scroll_into_view_if_needed()
            page.screenshot(path=ARTIFACTS / "explorer-4-panel.png")

            # ordinary windows, the file browser open: every part inside the output area, the map's
            # colour bar beside its points and clear of the panel
            for width in (1400, 1000):
                page.set_viewport_size({"width": width, "height": 1000})
                try:
                    page.wait_for_function(f"""() => {{ const gd = {PLOT}, bar = gd.querySelector('.colorbar');
                        return bar && bar.getBoundingClientRect().right <= gd.parentElement.getBoundingClientRect().right + 1; }}""",
                                           timeout=20_000)
                finally:
                    plot.scroll_into_view_if_needed()
                    page.screenshot(path=ARTIFACTS / f"explorer-5-width-{width}.png")
                boxes = page.evaluate(f"""() => {{ const box = e => {{ const r = e.getBoundingClientRect();
                        return {{left: r.left, right: r.right, top: r.top, bottom: r.bottom}}; }};
                    const gd = {PLOT};
                    return {{area: box(gd.closest('.jp-OutputArea-output')), controls: box(document.querySelector('.hrlib-controls')),
                             map: box(gd.parentElement), bar: box(gd.querySelector('.colorbar')),
                             panel: box(document.querySelector('.hrlib-panel'))}}; }}""")
                area = boxes["area"]
                for part in ("controls", "map", "panel"):
                    assert area["left"] - 1 <= boxes[part]["left"] and boxes[part]["right"] <= area["right"] + 1, (width, part, boxes)
                bar, side = boxes["bar"], boxes["panel"]
                apart = (bar["right"] <= side["left"] or side["right"] <= bar["left"] or bar["bottom"] <= side["top"]
                         or side["bottom"] <= bar["top"])
                assert apart, (width, boxes)
        finally:
            browser.close()


MAIN_NOTEBOOKS = ("01_zoos", "02_augmentations", "03_train", "04_downstream")


def test_executed_notebooks_render_in_jupyterlab(tmp_path):
    """The notebooks of `make run`, executed, opened as a reader opens them: every plotly figure they hold
    is drawn, no cell shows an error or a stderr area (warnings, progress bars). By default the quick
    runs, executed here; HRLIB_NOTEBOOKS=DIR checks every executed notebook NN_*.ipynb in DIR instead, e.g.
    those of `make run` in runs/notebooks. Screenshots: test-artifacts/notebook-NN.png."""
    _need_chromium()
    import nbformat
    import papermill
    from playwright.sync_api import sync_playwright

    from hrlib.notebooks import LocalKernelManager

    work = tmp_path / "work"
    work.mkdir()
    given = os.environ.get("HRLIB_NOTEBOOKS")
    names = sorted(p.stem for p in Path(given).glob("[0-9][0-9]_*.ipynb")) if given else MAIN_NOTEBOOKS
    assert names, f"{given}: no executed notebooks; run `make run` first"
    for name in names:
        if given:
            (work / f"{name}.ipynb").write_bytes((Path(given) / f"{name}.ipynb").read_bytes())
        else:
            papermill.execute_notebook(ROOT / "notebooks" / f"{name}.ipynb", work / f"{name}.ipynb", kernel_name="python3",
                                       kernel_manager_class=LocalKernelManager, progress_bar=False, cwd=str(tmp_path),
                                       parameters=dict(quick=True, runs=str(tmp_path / "runs")))
    ARTIFACTS.mkdir(exist_ok=True)
    with _jupyterlab(work, tmp_path) as (base, token), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name in names:
                nb = nbformat.read(work / f"{name}.ipynb", as_version=4)
                outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
                figures = sum("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
                assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"], name
                page.goto(f"{base}/lab/tree/{name}.ipynb?reset&token={token}")  # reset: this notebook alone
                page.locator(".jp-Notebook").filter(visible=True).first.wait_for(timeout=60_000)
                page.wait_for_function(f"""() => {{
                    const drawn = [...document.querySelectorAll('.jp-Notebook .js-plotly-plot')]
                        .filter(gd => gd._fullData && gd._fullData.length > 0 && gd.offsetParent !== null).length;
                    return drawn >= {figures}; }}""", timeout=60_000, polling=500)
                stderr = page.locator(".jp-Notebook [data-mime-type='application/vnd.jupyter.stderr']").filter(visible=True).count()
                assert stderr == 0, f"{name}: {stderr} stderr output area(s)"
                plots = page.locator(".jp-Notebook .js-plotly-plot").filter(visible=True)
                for k in range(plots.count()):  # each figure as a reader sees it
                    plots.nth(k).screenshot(path=ARTIFACTS / f"notebook-{name}-figure-{k + 1}.png")
                page.locator(".jp-Cell").filter(visible=True).first.scroll_into_view_if_needed()
                page.screenshot(path=ARTIFACTS / f"notebook-{name}.png")
        finally:
            browser.close()
