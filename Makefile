# quant-advisor: `make serve` sets up and serves the API; `make check` sets up and runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup setup-dev browser serve check lint test train evaluate readme clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet -e .

setup-dev: $(BIN)/python browser
	$(BIN)/pip install --quiet -e '.[test,measure,plot,mcp]'

# Headless Chromium for the browser tests (Debian package; they skip without it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: install Debian's chromium to run the browser tests" >&2; fi; }

serve: setup
	@$(BIN)/quant-advisor info >/dev/null 2>&1 || $(BIN)/quant-advisor train --device-folds 10
	$(BIN)/quant-advisor serve --host $(HOST) --port $(PORT)

lint: setup-dev
	$(BIN)/ruff check advisor tests $(wildcard benchmarks)
	$(BIN)/mypy advisor
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

test: setup-dev
	$(BIN)/pytest -q

check: lint test

train: setup
	$(BIN)/quant-advisor train

evaluate: setup-dev
	$(BIN)/quant-advisor evaluate

# Every command-output example of README.md, from the committed data and predictors.
readme: setup-dev
	$(BIN)/python scripts/readme_examples.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
