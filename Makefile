# tongban: `make run` serves the embedded default; `make test` runs the whole suite.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= var
PROVINCES ?= 4
PEOPLE ?= 20000
SEED ?= 2026
PYTEST_WORKERS ?= 2

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(STAMP) ## Create the virtualenv and install tongban with its dependencies

nation: venv ## Create the synthetic nation in $(DATA_DIR) if there is none
	@test -f $(DATA_DIR)/nation.json || $(BIN)/tongban nation init --provinces $(PROVINCES) --people $(PEOPLE) --seed $(SEED) --data-dir $(DATA_DIR)

run: nation ## Serve the synthetic nation, all nodes embedded, on http://127.0.0.1:8000
	$(BIN)/tongban serve --data-dir $(DATA_DIR)

browser: ## Install Debian's Chromium and CJK fonts for the browser tests if missing
	@bash scripts/ensure-browser.sh

lint: venv ## ruff (lint and format check) and mypy
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

format: venv ## Format the code
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

test: venv browser lint ## Everything: lint, types, and the whole suite on SQLite and PostgreSQL
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile -p no:cacheprovider

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) $(DATA_DIR) test-artifacts

.PHONY: help venv nation run browser lint format test clean
