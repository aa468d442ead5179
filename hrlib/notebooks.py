"""Running the notebooks headless and rendering them as static pages: what `make run` and `make docs` do.

    python -m hrlib.notebooks run notebooks/01_zoos.ipynb --out runs/notebooks -p runs runs
    python -m hrlib.notebooks html runs/notebooks/*.ipynb --out runs/site

`run` executes each notebook as `papermill NOTEBOOK OUT/NOTEBOOK -k python3 -p NAME VALUE ...` does (the
same parameters, read the same way), with two differences. The kernel talks to it over Unix sockets in
Jupyter's runtime folder, readable by this user alone, instead of TCP ports on localhost, so no
unencrypted traffic crosses the network stack and ipykernel has nothing to warn about. And no widget
state is saved.

Each writes only into a folder of its own kind (`hrlib.files`' marker): a missing or empty one, or one it
wrote before; a folder holding anything else (the notebooks themselves, a user's files) is refused.

`html` writes one page per executed notebook and an `index.html` linking them: without the cells
tagged ``remove-cell`` (the checks the tests run), with every plotly figure drawn by a copy of
plotly.js beside the pages (no network needed), and with the explorer as the static map its output
carries (an interactive widget needs its kernel).
"""

from __future__ import annotations

import argparse
import html
import os
import sys
import uuid
from pathlib import Path

import nbformat
import papermill
import plotly.io as pio
from jinja2 import DictLoader
from jupyter_client import KernelManager
from jupyter_core.paths import jupyter_runtime_dir
from nbconvert import HTMLExporter
from papermill.cli import _resolve_type  # how `papermill -p` reads a value: True, False, None, numbers, text
from plotly.offline import get_plotlyjs
from traitlets import default

from hrlib.errors import OutputError
from hrlib.files import claim_dir, write_text

PLOTLY = "application/vnd.plotly.v1+json"
# nbconvert's JupyterLab page, with plotly.js from beside the page where require.js would come from a CDN
PAGE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}<script src="plotly.min.js"></script>{%- endblock html_head_js_requirejs -%}
"""


class LocalKernelManager(KernelManager):
    """A kernel on this machine reached over Unix sockets (TCP where the system has none)."""

    @default("transport")
    def _transport_default(self) -> str:
        return "ipc" if os.name == "posix" else "tcp"

    @default("connection_file")
    def _connection_file_default(self) -> str:
        # the sockets are named after it (KERNEL-ipc-N): an absolute path, so kernel and client find them
        # whatever folders they run in
        runtime = Path(jupyter_runtime_dir())
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        return str(runtime / f"kernel-{uuid.uuid4()}.json")


def run(notebooks: list[Path], out: Path, parameters: dict) -> list[Path]:
    """Execute each notebook with `parameters` into `out` (same file names); returns the executed notebooks."""
    out = claim_dir(out, "notebooks")
    executed = []
    for notebook in notebooks:
        target = out / notebook.name
        print(f"== {notebook} -> {target}", flush=True)
        # no saved widget state: JupyterLab does not redraw the explorer from it, and it would add 5 MB
        # (plotly.js) to the notebook; the explorer's output carries a static map instead
        papermill.execute_notebook(str(notebook), str(target), parameters=parameters, kernel_name="python3",
                                   kernel_manager_class=LocalKernelManager, store_widget_state=False)
        executed.append(target)
    return executed


def static_figures(nb) -> None:
    """Give every plotly output an HTML form that plotly.js draws without Jupyter, and drop the saved widget
    state: the pages show what each output carries for readers without a kernel (the explorer's map)."""
    nb.metadata.pop("widgets", None)  # kept, nbconvert would fetch a widget renderer from a CDN instead
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            figure = output.get("data", {}).get(PLOTLY)
            if figure is not None:
                output.data["text/html"] = pio.to_html(figure, include_plotlyjs=False, full_html=False,
                                                       validate=False, default_height="520px")


def _title(nb, fallback: str) -> str:
    first = nb.cells[0].source.splitlines()[0] if nb.cells and nb.cells[0].cell_type == "markdown" else ""
    return first.removeprefix("# ").strip() or fallback


def html_pages(executed: list[Path], out: Path) -> Path:
    """One static HTML page per executed notebook in `out`, plotly.min.js and index.html; returns the index."""
    out = claim_dir(out, "site")
    write_text(out / "plotly.min.js", get_plotlyjs())
    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"page.html.j2": PAGE})],
                            template_file="page.html.j2")
    rows = []
    for path in sorted(executed, key=lambda p: p.name):
        nb = nbformat.read(path, as_version=4)
        nb.cells = [c for c in nb.cells if "remove-cell" not in c.metadata.get("tags", [])]
        static_figures(nb)
        title = _title(nb, path.stem)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
        page = out / f"{path.stem}.html"
        write_text(page, body)
        parameters = nb.metadata.get("papermill", {}).get("parameters", {})
        given = ", ".join(f"{k}={v!r}" for k, v in parameters.items() if k != "runs") or "defaults"
        rows.append(f'<li><a href="{html.escape(page.name)}">{html.escape(title)}</a> '
                    f'<span class="given">({html.escape(given)})</span></li>')
        print(f"== {path} -> {page}", flush=True)
    index = out / "index.html"
    write_text(index,
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>hrlib notebooks</title>\n"
        "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.6}"
        ".given{color:#666;font-size:90%}</style></head>\n<body><h1>hrlib notebooks, executed</h1>\n"
        "<p>Each page is a notebook as it ran, with the parameters it was given; the checks the tests run "
        "are left out.</p>\n<ul>\n" + "\n".join(rows) + "\n</ul></body></html>\n")
    return index


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hrlib.notebooks", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    execute = commands.add_parser("run", help="execute notebooks with papermill, the kernel on Unix sockets")
    execute.add_argument("notebooks", nargs="+", type=Path)
    execute.add_argument("--out", type=Path, required=True, help="folder for the executed notebooks")
    execute.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                         help="a parameter, read as `papermill -p` reads it")
    render = commands.add_parser("html", help="render executed notebooks as static HTML pages with an index")
    render.add_argument("executed", nargs="+", type=Path)
    render.add_argument("--out", type=Path, required=True, help="folder for the pages")
    args = parser.parse_args(argv)
    try:
        if args.command == "html":
            print(f"== open {html_pages(args.executed, args.out)} in a browser")
        else:
            run(args.notebooks, args.out, {name: _resolve_type(value) for name, value in args.parameter})
    except OutputError as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 2
    except papermill.PapermillExecutionError as error:
        print(f"{error.ename}: {error.evalue}\nThe notebook above stopped in cell [{error.exec_count}]; it is saved "
              "as executed up to there, with the traceback under that cell.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
