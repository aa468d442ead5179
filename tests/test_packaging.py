"""environment.yml and pyproject.toml list the same dependencies; torch is pinned to the CPU build."""

import re
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
        declared |= set(extra)
    listed = {e for e in _environment_pip() if not e.startswith("-")}
    assert listed == declared


def test_installs_go_through_the_torch_pin():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().split()
    assert "-c constraints.txt" in _environment_pip()
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
