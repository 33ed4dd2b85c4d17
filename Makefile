# Quick start: `make demo` runs the nightly cycle on generated sample drops, `make test` runs
# the tests. Both create .venv and install the pinned dependencies on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export MIANSHEN_HOME ?= $(CURDIR)/var
export DAGSTER_HOME ?= $(MIANSHEN_HOME)/dagster
DEMO_PERSONS ?= 20000

.PHONY: install demo test ui lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/mianshen sample --reset --persons $(DEMO_PERSONS) --seed 7
	$(BIN)/mianshen cycle

test: install
	$(BIN)/pytest -q

ui: install
	$(BIN)/mianshen ui

lint: install
	$(BIN)/ruff check mianshen_pipeline tests

clean:
	rm -rf $(VENV) var .pytest_cache
