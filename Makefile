# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv if missing and install into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q goodword_tui  # as a wheel install would: start-up reads bytecode, not source
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/goodword-tui demo $(if $(SCENARIO),--scenario $(SCENARIO))

test: $(STAMP)
	$(BIN)/ruff check goodword_tui tests bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/snapshot.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
