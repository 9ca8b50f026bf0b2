# The README's two commands are `make run` and `make test`; both set up everything on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Every install is pinned with hashes by the lock files in requirements/ (`make lock` remakes them; see
# docs/deploy.md), so a release upstream cannot change what `make run` and `make test` install.
PIP_LOCKED := $(BIN)/pip install --quiet --require-hashes --no-deps
# The project itself, on top of a lock: its build backend is in the lock too, hence no build isolation.
PIP_PROJECT := $(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
UV_WHEEL := uv==0.13.8
LOCK := $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 --custom-compile-command 'make lock'
# npm scripts run `node`: make it the venv's, whatever else the machine has.
NODE_ENV_PATH := PATH="$(abspath $(BIN)):$$PATH"
UI_SOURCES := $(shell find ui/src ui/tests -type f 2>/dev/null) ui/package.json ui/package-lock.json ui/build.mjs ui/tsconfig.json
UI_STAMP := static/build/.built

.PHONY: help run test test-faults lint types imports unit ui ui-test openapi chromium nginx redis-server lock bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: requirements/run.txt pyproject.toml | $(BIN)/python
	$(PIP_LOCKED) -r requirements/run.txt
	$(PIP_PROJECT)
	touch $@

$(VENV)/.installed-dev: requirements/dev.txt pyproject.toml | $(BIN)/python
	$(PIP_LOCKED) -r requirements/dev.txt
	$(PIP_PROJECT)
	touch $@ $(VENV)/.installed-run

# Node.js for building the UI comes from PyPI into the venv, so a machine with Python only can build it.
$(BIN)/npm: requirements/node.txt | $(BIN)/python
	$(PIP_LOCKED) -r requirements/node.txt
	touch $@

ui/node_modules/.package-lock.json: ui/package-lock.json | $(BIN)/npm
	cd ui && $(NODE_ENV_PATH) npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(UI_STAMP): $(UI_SOURCES) ui/node_modules/.package-lock.json
	cd ui && $(NODE_ENV_PATH) npm run --silent build
	touch $@

ui: $(UI_STAMP) ## build the browser UI (ui/ -> static/build) with the venv's Node.js; skipped when up to date

# The UI's client is typed against the OpenAPI document, committed as ui/src/api/openapi.json (tests/api check that it
# is current); `npm run check` turns it into src/api/schema.d.ts with openapi-typescript.
openapi: $(VENV)/.installed-run ## rewrite ui/src/api/openapi.json from the routes (`msr openapi`, no server needed)
	$(BIN)/msr openapi > ui/src/api/openapi.json.tmp && mv ui/src/api/openapi.json.tmp ui/src/api/openapi.json

ui-test: $(UI_STAMP) ## type-check the UI and run its unit tests (node --test)
	cd ui && $(NODE_ENV_PATH) npm run --silent check
	cd ui && $(NODE_ENV_PATH) npm run --silent test

chromium: ## install Debian's Chromium for the browser tests when it is missing and this machine allows it
	@test -x /usr/bin/chromium || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "no /usr/bin/chromium: the browser tests will be skipped"

nginx: ## install Debian's nginx for the load balancer test when it is missing and this machine allows it
	@test -x /usr/sbin/nginx || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null) || \
		echo "no /usr/sbin/nginx: the load balancer test will be skipped"

redis-server: ## install Debian's redis-server (7+) for the Redis Cluster and Sentinel tests when missing and allowed
	@test -x /usr/bin/redis-server || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null) || \
		echo "no /usr/bin/redis-server: the Redis Cluster and Sentinel tests will be skipped"

run: $(VENV)/.installed-run $(UI_STAMP) ## install, build the UI, and run the server on the embedded defaults (http://127.0.0.1:8000)
	$(BIN)/msr serve

lint: $(VENV)/.installed-dev ## ruff lint and format check; hadolint on the Dockerfile
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

types: $(VENV)/.installed-dev ## mypy strict on app, playback, store
	$(BIN)/mypy

imports: $(VENV)/.installed-dev ## import-linter: the layers point one way
	$(BIN)/lint-imports

# The suite runs on pytest-xdist workers, each with its own embedded PostgreSQL and Redis (or its own databases and
# key prefixes on the MSR_TEST_* servers): most tests wait on sockets and subprocesses, so on two cores more workers
# than cores pay (docs/decisions.md has the measurement). The slowest tests are listed at the end of every run.
TEST_WORKERS ?= 3

unit: $(VENV)/.installed-dev $(UI_STAMP) chromium nginx redis-server ## the test suite on pytest-xdist workers (real PostgreSQL and Redis, embedded unless MSR_TEST_*_URL are set; browser tests in headless Chromium)
	$(BIN)/pytest -n $(TEST_WORKERS) --durations=20

test: lint types imports ui-test unit ## install the dev tools and run lint, types, import rules, the UI's unit tests and the whole test suite

test-faults: $(VENV)/.installed-dev redis-server ## the heavy fault-injection variants left out of `make test` (docs/reliability.md)
	$(BIN)/pytest -m faults

# The smaller locks are constrained by the dev one, so every environment runs the same versions.
lock: | $(BIN)/python ## re-resolve requirements/*.txt (newest versions allowed by pyproject.toml, with hashes); then `make test`
	$(BIN)/pip install --quiet '$(UV_WHEEL)'
	$(LOCK) --extra dev pyproject.toml requirements/build.in -o requirements/dev.txt
	$(LOCK) --extra embedded -c requirements/dev.txt pyproject.toml requirements/build.in -o requirements/run.txt
	$(LOCK) -c requirements/dev.txt pyproject.toml requirements/build.in -o requirements/server.txt
	$(LOCK) requirements/node.in -o requirements/node.txt

bench: $(VENV)/.installed-dev ## the standard benchmarks (see ../shared/BENCH.md); not part of test
	$(BIN)/python -m bench

clean: ## remove the venv, caches and the built UI (keeps .msr data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache static/build ui/node_modules ui/build test-results
