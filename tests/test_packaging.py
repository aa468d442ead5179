"""environment.yml and pyproject.toml list the same dependencies; torch is pinned to the CPU build."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _environment_pip():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    entries = []
    for line in lines[start + 1 :]:
        match = re.match(r"\s+- (.+)$", line)
        if match:
            entries.append(match.group(1).strip())
    return entries


def test_environment_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared |= {e for e in extra if not e.startswith("hrlib[")}  # an extra that names others adds none
    listed = {e for e in _environment_pip() if not e.startswith("-")}
    assert listed == declared


def test_the_core_is_lean_and_all_holds_every_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {re.split(r"[<>=\[]", d)[0] for d in project["dependencies"]}
    assert core == {"torch", "numpy", "scipy", "pandas", "scikit-learn", "tqdm", "filelock", "jsonschema"}
    extras = project["optional-dependencies"]
    assert extras["all"] == [f"hrlib[{','.join(sorted(set(extras) - {'all'}))}]"]
    assert ".[all]" in (ROOT / "Makefile").read_text()


def test_installs_go_through_the_torch_pin():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().split()
    assert "-c constraints.txt" in _environment_pip()
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()


def test_the_core_imports_no_extra_and_import_hrlib_stays_light():
    """The library's core modules load without the extras; `import hrlib` and the CLI's parser without torch."""
    core = ["hrlib.cli", "hrlib.pipeline", "hrlib.datasets.catalog", "hrlib.datasets.idx", "hrlib.datasets.cifar_svhn",
            "hrlib.zoos.build", "hrlib.zoos.cluster", "hrlib.zoos.importers", "hrlib.zoos.summary",
            "hrlib.hyper.inference", "hrlib.evaluate.tables", "hrlib.evaluate.networks", "hrlib.evaluate.peers",
            "hrlib.paper.tables", "hrlib.paper.ranking"]
    extras = ("plotly", "ipywidgets", "umap", "ray", "papermill", "jupyterlab", "nfn", "einops")
    code = (f"import sys, importlib; [importlib.import_module(m) for m in sys.argv[1:]]; "
            f"print(' '.join(m for m in {extras!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code, *core], capture_output=True, text=True, check=True).stdout
    assert loaded.split() == []
    light = "import sys, hrlib, hrlib.cli; print(' '.join(m for m in ('torch', 'sklearn') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", light], capture_output=True, text=True, check=True).stdout.split() == []
