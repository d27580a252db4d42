# Every target creates the virtualenv it needs, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The pinned versions the container image installs (deploy/install.sh); deploy/lock.sh rewrites them.
CONSTRAINTS := deploy/constraints.txt

.PHONY: serve test lint bench clean

$(BIN)/.runtime-installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint $(CONSTRAINTS) -e .
	touch $@

$(BIN)/.test-installed: $(BIN)/.runtime-installed pyproject.toml $(CONSTRAINTS)
	$(BIN)/pip install --quiet --constraint $(CONSTRAINTS) -e '.[test]'
	touch $@

serve: $(BIN)/.runtime-installed
	$(BIN)/consentry serve

test: $(BIN)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(BIN)/.test-installed
	$(BIN)/ruff check .

bench: $(BIN)/.test-installed
	$(BIN)/python -m benchmarks.load

clean:
	rm -rf $(VENV) consentry.db
