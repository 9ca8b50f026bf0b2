# The README's two commands are `make run` and `make test`; both set up everything on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: help run test lint types imports unit bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run ## install and run the server on the embedded defaults (http://127.0.0.1:8000)
	$(BIN)/msr serve

lint: $(VENV)/.installed-dev ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(VENV)/.installed-dev ## mypy strict on app, playback, store
	$(BIN)/mypy

imports: $(VENV)/.installed-dev ## import-linter: the layers point one way
	$(BIN)/lint-imports

unit: $(VENV)/.installed-dev ## the test suite (real PostgreSQL and Redis, embedded unless MSR_TEST_*_URL are set)
	$(BIN)/pytest

test: lint types imports unit ## install the dev tools and run lint, types, import rules and the whole test suite

bench: $(VENV)/.installed-dev ## the standard benchmarks (see ../shared/BENCH.md); not part of test
	$(BIN)/python -m bench

clean: ## remove the venv and caches (keeps .msr data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
