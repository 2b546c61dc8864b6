# make test  : set up .venv (first use), run the package tests, execute every notebook (nbval),
#              build the site and check it in headless Chromium.
# make book  : set up .venv (first use) and build the website into _build/html.
# make lab   : set up .venv (first use) and open the chapters in JupyterLab, widgets live (no website build).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: test book lab unit notebooks browser chromium bench clean execute

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# One torch thread per xdist worker: two workers with two threads each on two cores only slow each other.
unit: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) tests --ignore=tests/browser

# Every notebook re-executed, its text outputs compared with the committed ones (nbval);
# --dist loadfile keeps a notebook's cells together, in order, in one kernel.
notebooks: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile -p no:randomly --nbval book --sanitize-with tests/nbval_sanitize.cfg

# Always a full build: an incremental one would not repeat the warnings of unchanged pages (so -W
# could pass on a broken book) and would keep pages removed from the book in _build/html.
book: $(STAMP)
	rm -rf _build/html _build/.doctrees _build/jupyter_execute
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going

# The chapters in JupyterLab, from the repository root (so that book/ keeps its relative paths),
# with the first chapter open; LAB_ARGS adds options, e.g. LAB_ARGS="--no-browser --port 8890".
# Jupyter refuses to run as root unless told (containers and CI machines often are root).
LAB_ARGS ?=
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(if $(filter 0,$(shell id -u)),--allow-root) \
	    $(LAB_ARGS) book/gradient_descent.ipynb

# The browser tests need Chromium (Debian's package, or $$CHROMIUM): say so before any work is done.
chromium:
	@command -v "$${CHROMIUM:-chromium}" >/dev/null 2>&1 || { [ -z "$$CHROMIUM" ] && command -v chromium-browser >/dev/null 2>&1; } || { \
	  echo "error: chromium not found: the browser tests need Debian's chromium (sudo apt-get install chromium)," \
	       "or CHROMIUM=/path/to/chromium"; exit 1; }

browser: chromium book
	$(BIN)/python -m pytest tests/browser

test: chromium unit notebooks browser

bench: $(STAMP)
	$(BIN)/python benchmarks/trajectories.py
	$(BIN)/python benchmarks/sweeps.py
	$(BIN)/python benchmarks/sweeps.py --threads 1
	$(BIN)/python benchmarks/fast_steps.py

clean:
	rm -rf _build

# Re-execute the chapters in place (after changing the package or a chapter), then commit them.
execute: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py
