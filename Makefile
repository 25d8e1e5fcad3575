# Solde — `make help` lists the targets.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# PostgreSQL for the second test pass and the benchmarks (trust auth on the dev machines and CI).
SOLDE_PG_URL ?= postgres://postgres@127.0.0.1:5432/solde
export PYTHONPATH := $(CURDIR)/src

.PHONY: help venv e2e-tools demo test test-sqlite test-postgres lint bench bench-scale chaos restore-drill clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/solde: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/solde  ## create the virtualenv and install Solde with its dev tools

# axe-core for the browser tests' accessibility checks, pinned by the committed lock file.
tests/e2e/node_modules/axe-core/axe.min.js: tests/e2e/package.json tests/e2e/package-lock.json
	npm ci --prefix tests/e2e --no-audit --no-fund
	@touch $@

e2e-tools: tests/e2e/node_modules/axe-core/axe.min.js  ## install the browser tests' npm tools (axe-core)

demo: venv  ## run the demo on an embedded SQLite database at http://127.0.0.1:8000
	SOLDE_DEMO=1 $(BIN)/solde demo

test: venv  ## run the tests on SQLite, then on PostgreSQL (mandatory when CI=true)
	@$(MAKE) --no-print-directory test-sqlite
	@$(MAKE) --no-print-directory test-postgres

# The tests run on every core (pytest-xdist): each has its own database, topics and ports.
PYTEST = $(BIN)/pytest -n auto

test-sqlite: venv e2e-tools
	$(PYTEST)

test-postgres: venv e2e-tools
	@if pg_isready -q -d "$(SOLDE_PG_URL)" 2>/dev/null || $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(SOLDE_PG_URL)'.rsplit('/',1)[0]+'/postgres').close()" 2>/dev/null; then \
		SOLDE_DATABASE_URL="$(SOLDE_PG_URL)" $(PYTEST); \
	elif [ "$$CI" = "true" ]; then echo "PostgreSQL is required in CI and is not reachable at $(SOLDE_PG_URL)"; exit 1; \
	else echo "SKIPPED the PostgreSQL pass: no server at $(SOLDE_PG_URL) (set SOLDE_PG_URL)"; fi

lint: venv  ## ruff and mypy
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src

bench: venv  ## run the benchmarks and write BENCHMARKS.md
	SOLDE_PG_URL="$(SOLDE_PG_URL)" $(BIN)/python -m tests.perf.run

bench-scale: venv  ## the daily close of a million accounts (about 15 min), its section of BENCHMARKS.md
	SOLDE_PG_URL="$(SOLDE_PG_URL)" $(BIN)/python -m tests.perf.scale

# The chaos suite on its own PostgreSQL database (dropped and made again) of SOLDE_PG_URL's server.
CHAOS_MINUTES ?= 3
chaos: venv  ## kill -9 the platform's processes under load for CHAOS_MINUTES (3), check, write RELIABILITY.md
	$(BIN)/python -m tests.chaos.run --minutes $(CHAOS_MINUTES) --server "$(dir $(SOLDE_PG_URL))" \
		--database "$(notdir $(SOLDE_PG_URL))_chaos_run" --report RELIABILITY.md

restore-drill: venv  ## back up a small seeded PostgreSQL database, restore it into a scratch one, verify
	SOLDE=$(BIN)/solde bash deploy/restore-drill.sh --seed "$(SOLDE_PG_URL)"

clean:  ## remove the virtualenv and local data
	rm -rf $(VENV) var tests/e2e/node_modules
