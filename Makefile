# orgload — two commands: `make demo` and `make test`. Everything else is a helper of those.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
DEMO_HOME := .demo
ORGLOAD := ORGLOAD_HOME=$(DEMO_HOME) $(BIN)/orgload
FLOW_ENV := ORGLOAD_HOME=$(DEMO_HOME) PREFECT_HOME=$(abspath $(DEMO_HOME))/prefect \
	PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=600 PREFECT_LOGGING_LEVEL=WARNING
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
# Compile the installed libraries' bytecode once at install time, as a deployment does:
# otherwise, where PYTHONDONTWRITEBYTECODE is set, every command compiles pandas & co. (~2 s).
export UV_COMPILE_BYTECODE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: setup demo test lint format typecheck unit fuzz soak bench clean samples ops-up ops-down \
	browser web web-demo

setup: $(VENV)/.synced ## Create .venv from uv.lock (exact pinned versions)

$(UV):
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "orgload needs Python 3.11+ (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	touch $@

demo: setup ## Validate the samples, then load two months into a demo client (SQLite, .demo/)
	@rm -rf $(DEMO_HOME) && mkdir -p $(DEMO_HOME)
	@echo "== 1. validate a file with errors (exit 1 expected): every problem at once, Excel rows"
	$(ORGLOAD) validate --client demo sample_data/organizacion_invalida.xlsx \
		--report $(DEMO_HOME)/organizacion_invalida.errores.xlsx; test $$? -eq 1
	@echo
	@echo "== 2. create the database and register the client"
	$(ORGLOAD) db upgrade
	$(ORGLOAD) clients add demo --name "Demo SpA" --admin-email admin@demo.cl
	@echo
	@echo "== 3. November: validate, then the first load through the Prefect flow monthly-load"
	@echo "   (Prefect in ephemeral mode: a temporary local API starts and stops by itself)"
	$(ORGLOAD) validate --client demo sample_data/organizacion_2026-11.xlsx
	ORGLOAD_NOW=2026-11-10T10:00:00-03:00 $(FLOW_ENV) $(BIN)/python -m flows.monthly_load \
		--client demo sample_data/organizacion_2026-11.xlsx
	@echo
	@echo "== 4. a second file in November is refused by the monthly quota (exit 3 expected)"
	ORGLOAD_NOW=2026-11-20T10:00:00-03:00 $(ORGLOAD) load --client demo sample_data/organizacion_2026-12.xlsx; test $$? -eq 3
	@echo
	@echo "== 5. December: preview the diff (dry run), then apply it"
	ORGLOAD_NOW=2026-12-03T10:00:00-03:00 $(ORGLOAD) load --client demo sample_data/organizacion_2026-12.xlsx --dry-run
	ORGLOAD_NOW=2026-12-03T10:00:00-03:00 $(ORGLOAD) load --client demo sample_data/organizacion_2026-12.xlsx
	@echo
	@echo "== 6. history, quota, and the November data again as CSV: no changes"
	$(ORGLOAD) history --client demo
	ORGLOAD_NOW=2026-12-03T10:00:00-03:00 $(ORGLOAD) quota --client demo
	ORGLOAD_NOW=2026-12-04T10:00:00-03:00 $(ORGLOAD) export --client demo --format csv -o $(DEMO_HOME)/export.zip
	ORGLOAD_NOW=2026-12-04T10:00:00-03:00 $(ORGLOAD) load --client demo $(DEMO_HOME)/export.zip
	@echo
	@echo "Done. Data: $(DEMO_HOME)/orgload.db  Error workbook: $(DEMO_HOME)/organizacion_invalida.errores.xlsx"

test: setup lint typecheck browser unit ## Lint, type-check and run the whole test suite

# The browser tests drive Debian's chromium (never `playwright install`, which downloads a
# browser of its own). Installed with apt when missing and we are root; otherwise the browser
# tests skip on a laptop and fail in CI (CI=true).
browser: ## Install chromium for the browser tests (apt, as root) unless it is there
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update && apt-get install -y chromium; \
		else \
			echo "chromium is missing: install it (apt-get install chromium) for the browser tests"; \
		fi; }

web: setup ## The web app on http://127.0.0.1:8000 (ORGLOAD_HOME, plain-HTTP cookies: development)
	$(BIN)/orgload db upgrade
	ORGLOAD_WEB_SECURE_COOKIES=$${ORGLOAD_WEB_SECURE_COOKIES:-false} $(BIN)/orgload web

WEB_DEMO_HOME := .demo-web
WEB_DEMO_PORT ?= 8000
WEB_DEMO_ENV := ORGLOAD_HOME=$(WEB_DEMO_HOME) \
	ORGLOAD_DATABASE_URL=sqlite:///$(abspath $(WEB_DEMO_HOME))/orgload.db \
	ORGLOAD_WEB_HOST=127.0.0.1 ORGLOAD_WEB_PORT=$(WEB_DEMO_PORT) ORGLOAD_WEB_SECURE_COOKIES=false \
	PREFECT_API_URL=
web-demo: setup ## The web app on SQLite (.demo-web/): a demo client, its admin, a staff user; prints URL + passwords
	@rm -rf $(WEB_DEMO_HOME) && mkdir -p $(WEB_DEMO_HOME)
	@$(WEB_DEMO_ENV) $(BIN)/python -m ops.web_demo
	@$(WEB_DEMO_ENV) $(BIN)/orgload web

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -n 2 --dist loadfile

fuzz: setup ## The fuzz properties with many more examples (minutes); a bounded run is in `make test`
	ORGLOAD_FUZZ_EXAMPLES=$${ORGLOAD_FUZZ_EXAMPLES:-2000} $(BIN)/pytest -p no:xdist -q tests/loaders/test_fuzz.py

soak: setup ## The crash matrix with many trials per point (minutes; one trial each is in `make test`)
	ORGLOAD_SOAK_TRIALS=$${ORGLOAD_SOAK_TRIALS:-20} $(BIN)/pytest -p no:xdist -q \
		tests/loaders/test_crash_matrix.py

bench: setup ## Benchmarks against naive baselines and the floor (see docs/performance.md)
	$(BIN)/python bench/bench_validate.py
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_fixed_cost.py
	$(BIN)/python bench/bench_scale.py
	$(BIN)/python bench/bench_refusals.py
	$(BIN)/python bench/bench_concurrent.py

ops-up: setup ## Local Prefect server, work pool, deployments, zombie automation, one worker
	$(BIN)/python ops/stack.py up

ops-down: ## Stop the local Prefect worker, then the server
	$(BIN)/python ops/stack.py down

samples: setup ## Regenerate sample_data/ from its generator
	$(BIN)/python sample_data/generate.py

clean:
	rm -rf $(VENV) $(TOOLS) $(DEMO_HOME) .pytest_cache .mypy_cache .ruff_cache
