# Every target creates the virtualenv it needs, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test lint bench clean

$(BIN)/.runtime-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.test-installed: $(BIN)/.runtime-installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
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
