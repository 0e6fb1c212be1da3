# The two commands a newcomer needs: `make demo` and `make test`.
# Both install everything into this directory first (a Python virtualenv in .venv,
# npm packages in node_modules: the Solidity compiler, OpenZeppelin, anvil, ganache),
# from the package registries only.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP  := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.PHONY: install browser postgres demo check test test-fast test-python test-brownie bench clean

install: $(PY_STAMP) $(NPM_STAMP)

# The dashboard's browser tests drive Debian's Chromium (Playwright cannot download
# its own browser from the package registries).
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi wqy; } || { \
	  echo "installing Debian's chromium and a CJK font for the dashboard tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei; }

# The store and oracle tests run on PostgreSQL too: the machine's server at 127.0.0.1:5432
# if one answers, else a throwaway one that the tests start from Debian's binaries
# (tests/pg_support.py). Install them only when neither is there.
postgres:
	@{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	   $(PYTHON) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2).close()" 2>/dev/null; } || { \
	  echo "installing Debian's postgresql for the PostgreSQL tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## make demo: local chain, deploy, score, anchor, verify (run it twice: the second run reuses the chain).
demo: install
	$(BIN)/credit-ledger demo

## make check: the static checks: formatting and lint (ruff), layers (import-linter), types (mypy).
check: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

## make test: the static checks, the whole test suite, then brownie's own compile + test on our contracts.
test: install browser postgres check
	$(BIN)/python -m pytest -q
	bash tools/brownie-check

## make test-fast: the tests that need no chain node, PostgreSQL or browser (about half a minute).
test-fast: install
	$(BIN)/python -m pytest -q -m "not chain and not postgres and not browser"

test-python: install browser postgres
	$(BIN)/python -m pytest -q

test-brownie: install
	bash tools/brownie-check

clean:
	rm -rf build .credit-ledger .pytest_cache .hypothesis
