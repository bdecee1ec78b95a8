# pypidraft developer commands. `make run` and `make test` work on a fresh Debian/Ubuntu
# machine that has only Python 3.11: they create .venv and install what is missing.
#
#   make run                 migrate, ensure an admin account, serve http://127.0.0.1:8000
#   make test                lint, migrations check, whole test suite on PostgreSQL + S3
#   make test PYTEST_ARGS='-x -k upload tests/unit'
#   make lint | fmt | bench

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
BENCH_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv system-deps browser-deps test lint fmt check-migrations run bench

help:
	@echo "make run     serve pypidraft on http://127.0.0.1:8000 (SQLite, files on disk)"
	@echo "make test    lint + migrations check + tests against PostgreSQL and SeaweedFS S3"
	@echo "             (PYTEST_ARGS='...' is passed to pytest)"
	@echo "make lint    ruff check + ruff format --check"
	@echo "make fmt     ruff format + ruff check --fix"
	@echo "make bench   run the benchmarks (bench/run.py)"

venv: $(STAMP)

# (Re)install when a requirements file changes. A .venv without pip is broken (python3
# without ensurepip on Debian): recreate it, installing python3-venv first if needed.
$(STAMP): requirements.txt requirements-dev.txt
	@if [ ! -x $(BIN)/pip ]; then \
		rm -rf $(VENV); \
		if ! $(PYTHON) -m venv $(VENV); then \
			rm -rf $(VENV); \
			scripts/system-deps.sh python-venv; \
			$(PYTHON) -m venv $(VENV); \
		fi; \
	fi
	$(BIN)/pip install -r requirements-dev.txt
	@touch $@

system-deps:
	@scripts/system-deps.sh postgres

browser-deps:
	@scripts/system-deps.sh chromium

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Needs only the settings: an in-memory SQLite database and throwaway settings.
check-migrations: venv
	DATABASE_URL=sqlite://:memory: PYPIDRAFT_STORAGE=filesystem DEBUG=1 \
		SECRET_KEY=makemigrations-check \
		$(PY) manage.py makemigrations --check --dry-run

test: venv system-deps browser-deps lint check-migrations
	$(PY) scripts/testenv.py -- $(PY) -m pytest $(PYTEST_ARGS)

run: export DEBUG := 1
run: venv
	$(PY) manage.py migrate
	$(PY) manage.py ensure_admin
	$(PY) manage.py runserver 127.0.0.1:8000

# bench/run.py starts PostgreSQL + SeaweedFS (scripts/testenv.py), pypiserver, devpi-server,
# pypidraft (gunicorn) and nginx on loopback; BENCH_ARGS='--quick' for a smoke run.
bench: venv
	@scripts/system-deps.sh postgres wrk nginx
	$(PY) bench/run.py $(BENCH_ARGS)
