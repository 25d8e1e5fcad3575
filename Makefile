# Solde — `make help` lists the targets.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# PostgreSQL for the second test pass and the benchmarks (trust auth on the dev machines and CI).
SOLDE_PG_URL ?= postgres://postgres@127.0.0.1:5432/solde
export PYTHONPATH := $(CURDIR)/src

.PHONY: help venv demo test test-sqlite test-postgres lint bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/solde: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

# axe-core (npm) for the browser tests' accessibility checks, pinned by its package-lock.json.
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/e2e/axe/package.json tests/e2e/axe/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/e2e/axe --no-audit --no-fund; \
	elif [ "$$CI" = "true" ]; then echo "npm is required in CI (axe-core for the accessibility checks)"; exit 1; \
	else echo "SKIPPED axe-core: npm not found, the accessibility checks will be skipped"; fi

venv: $(BIN)/solde $(AXE)  ## create the virtualenv and install Solde with its dev tools (and axe-core)

demo: venv  ## run the demo on an embedded SQLite database at http://127.0.0.1:8000
	$(BIN)/solde demo

test: venv  ## run the tests on SQLite, then on PostgreSQL (mandatory when CI=true)
	@$(MAKE) --no-print-directory test-sqlite
	@$(MAKE) --no-print-directory test-postgres

test-sqlite: venv
	$(BIN)/pytest

test-postgres: venv
	@if pg_isready -q -d "$(SOLDE_PG_URL)" 2>/dev/null || $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(SOLDE_PG_URL)'.rsplit('/',1)[0]+'/postgres').close()" 2>/dev/null; then \
		SOLDE_DATABASE_URL="$(SOLDE_PG_URL)" $(BIN)/pytest; \
	elif [ "$$CI" = "true" ]; then echo "PostgreSQL is required in CI and is not reachable at $(SOLDE_PG_URL)"; exit 1; \
	else echo "SKIPPED the PostgreSQL pass: no server at $(SOLDE_PG_URL) (set SOLDE_PG_URL)"; fi

lint: venv  ## ruff and mypy
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src

bench: venv  ## run the benchmarks and write BENCHMARKS.md
	SOLDE_PG_URL="$(SOLDE_PG_URL)" $(BIN)/python -m tests.perf.run

clean:  ## remove the virtualenv and local data
	rm -rf $(VENV) var
