# telecon — the two commands of the quick start are `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
# What each install step leaves behind, so that make redoes only what a changed lock file needs.
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

.PHONY: run test lint check lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

# The service alone: the runtime lock (no test tools), then telecon itself, editable.
$(RUNTIME): $(BIN)/python requirements-runtime.lock requirements-build.lock pyproject.toml
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-runtime.lock
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-build.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Everything the tests, the checks and bench/ need: the full lock (the runtime one plus the dev and bench extras).
$(DEV): $(RUNTIME) requirements.lock
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

## Start telecon with its embedded defaults (SQLite under var/, in-process jobs, mail to files) and demo data.
## `make run PORT=8080` serves on another port; join links follow it.
run: $(RUNTIME)
	$(BIN)/telecon serve --demo --port $(PORT)

## Run the whole test suite (SQLite always; PostgreSQL and Redis too when TELECON_TEST_* are set), one
## pytest-xdist worker per core, each with its own databases (tests/conftest.py); `make test WORKERS=0` runs
## it in one process. worksteal: an idle worker takes tests queued for a busy one, so a file of slow browser
## tests does not leave the other core idle at the end.
WORKERS ?= auto
test: $(DEV)
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist worksteal

## Static checks: ruff (lint and format) and mypy.
lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy telecon

check: lint test

## Re-resolve the three lock files after changing pyproject.toml (installs uv into the venv).
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	$(UV) pip compile pyproject.toml --extra dev --extra bench --python-version 3.11 --generate-hashes -o requirements.lock
	$(UV) pip compile pyproject.toml -c requirements.lock --python-version 3.11 --generate-hashes -o requirements-runtime.lock
	$(UV) pip compile requirements-build.in -c requirements.lock --python-version 3.11 --generate-hashes -o requirements-build.lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
