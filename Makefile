# make test  : set up .venv (first use), run the package tests, execute every notebook (nbval),
#              build the site and check it in headless Chromium.
# make book  : set up .venv (first use) and build the website into _build/html.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: test book unit notebooks browser bench clean execute

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

unit: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) tests --ignore=tests/browser

# Every notebook re-executed, its text outputs compared with the committed ones (nbval);
# --dist loadfile keeps a notebook's cells together, in order, in one kernel.
notebooks: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile -p no:randomly --nbval book --sanitize-with tests/nbval_sanitize.cfg

# Always a full build: an incremental one would not repeat the warnings of unchanged pages (so -W
# could pass on a broken book) and would keep pages removed from the book in _build/html.
book: $(STAMP)
	rm -rf _build/html _build/.doctrees _build/jupyter_execute
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going

browser: book
	$(BIN)/python -m pytest tests/browser

test: unit notebooks browser

bench: $(STAMP)
	$(BIN)/python benchmarks/trajectories.py

clean:
	rm -rf _build

# Re-execute the chapters in place (after changing the package or a chapter), then commit them.
execute: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py
