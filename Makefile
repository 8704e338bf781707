# orgload — two commands: `make demo` and `make test`. Everything else is a helper of those.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
DEMO_HOME := .demo
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: setup demo test lint format typecheck unit bench clean samples

setup: $(VENV)/.synced ## Create .venv from uv.lock (exact pinned versions)

$(UV):
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "orgload needs Python 3.11+ (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	touch $@

demo: setup ## Validate the sample files (valid, then invalid) with the embedded defaults
	@rm -rf $(DEMO_HOME) && mkdir -p $(DEMO_HOME)
	@echo "== orgload validate: a valid monthly file (sample_data/organizacion_2026-11.xlsx)"
	ORGLOAD_HOME=$(DEMO_HOME) $(BIN)/orgload validate --client demo sample_data/organizacion_2026-11.xlsx
	@echo
	@echo "== orgload validate: a file with errors (sample_data/organizacion_invalida.xlsx); exit 1 expected"
	ORGLOAD_HOME=$(DEMO_HOME) $(BIN)/orgload validate --client demo sample_data/organizacion_invalida.xlsx \
		--report $(DEMO_HOME)/organizacion_invalida.errores.xlsx; test $$? -eq 1
	@echo
	@echo "Annotated error workbook: $(DEMO_HOME)/organizacion_invalida.errores.xlsx"

test: setup lint typecheck unit ## Lint, type-check and run the whole test suite

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -n 2 --dist loadfile

bench: setup ## Benchmarks against naive baselines (minutes; see docs/performance.md)
	$(BIN)/python bench/bench_validate.py

samples: setup ## Regenerate sample_data/ from its generator
	$(BIN)/python sample_data/generate.py

clean:
	rm -rf $(VENV) $(TOOLS) $(DEMO_HOME) .pytest_cache .mypy_cache .ruff_cache
