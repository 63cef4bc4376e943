# batchd — `make run` starts the server on the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
# The official Node.js SDK for its tests; without npm they skip with a reason (not under CI=true).
NODE_SDK := tests/node/node_modules/.installed

.PHONY: run test lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $@ $(STAMP_RUN)

$(NODE_SDK): tests/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/node --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm is not installed: the Node.js SDK tests will skip"; fi

run: $(STAMP_RUN)
	$(BIN)/batchd serve

test: $(STAMP_DEV) $(NODE_SDK)
	$(BIN)/python -m pytest

lint: $(STAMP_DEV)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP_DEV)
	$(BIN)/python bench/mq.py --profile
	$(BIN)/python bench/dispatch.py --profile
	$(BIN)/python bench/runner.py
	$(BIN)/python bench/events.py

fuzz: $(STAMP_DEV)
	$(BIN)/python bench/fuzz.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
