# hsclink: two commands for a newcomer.
#   make run   - install, initialise the embedded SQLite store under ./var/, serve on :8000
#   make test  - install with the test extras and run the whole suite (SQLite + PostgreSQL)

# Python 3.11, 3.12 or 3.13: the first of these found (override with PYTHON=...).
PYTHON ?= $(shell command -v python3.11 || command -v python3.13 || command -v python3.12 \
	|| command -v python3)
APT := On Ubuntu 24.04 / Debian 13: sudo apt install python3 python3-venv python3-dev \
	build-essential libssl-dev
VENV := .venv
BIN := $(VENV)/bin
# Cython sources of the native extensions: the install rebuilds them when they change.
NATIVE := $(wildcard privacy/*.pyx privacy/*.pxd app/*/*.pyx app/*/*.pxd)

.PHONY: run test coverage lint format bench clean
# The 25 slowest set-ups, calls and teardowns, listed at the end of every suite run (CI),
# and the suite spread over one worker more than there are cores (pytest-xdist, idle
# workers stealing queued tests): the tests also wait on browsers, PostgreSQL and child
# processes. On 2 idle cores: 13 min 54 s in one process, 8 min 25 s with 2 workers,
# 7 min 58 s with 3, 8 min 6 s with 4. `PYTEST_ARGS=` runs it in one process.
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
PYTEST_ARGS ?= --durations=25 -n $(WORKERS) --dist worksteal

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "hsclink needs Python 3.11 or newer; none found. $(APT)"; exit 1; }
	@"$(PYTHON)" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hsclink needs \
	Python 3.11 or newer; found " + sys.version.split()[0] + ". $(APT)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml setup.py $(NATIVE) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml setup.py $(NATIVE) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

# NHS England's MESH sandbox for the MESH intake tests (tests/mesh_sandbox.py), in a venv
# of its own: it pins FastAPI, uvicorn and cryptography older than hsclink's.
MESH_SANDBOX := mesh-sandbox==1.0.137
$(VENV)/mesh-sandbox/.installed: Makefile | $(BIN)/python
	$(BIN)/python -m venv $(VENV)/mesh-sandbox
	$(VENV)/mesh-sandbox/bin/python -m pip install --quiet '$(MESH_SANDBOX)'
	touch $@

# The real OpenID provider the single sign-on tests start (tests/oidc, pinned by its lock
# file). Without npm those tests are skipped with a reason (they fail under CI=true).
OIDC_PROVIDER := tests/oidc/node_modules/.package-lock.json
$(OIDC_PROVIDER): tests/oidc/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the single sign-on tests need Node.js and npm"; fi

run: $(VENV)/.installed-run
	$(BIN)/hsclink init --demo
	$(BIN)/hsclink serve

test: $(VENV)/.installed-test $(VENV)/mesh-sandbox/.installed $(OIDC_PROVIDER)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

# The suite under coverage.py, then its report: line and branch coverage of app/, linkage/
# and privacy/ ([tool.coverage] in pyproject.toml; `coverage html` for the lines missed).
coverage: $(VENV)/.installed-test $(VENV)/mesh-sandbox/.installed $(OIDC_PROVIDER)
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS) -n 0
	$(BIN)/coverage report

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/audit.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .coverage
