# pypidraft developer commands. `make run` and `make test` work on a fresh Debian/Ubuntu
# machine that has only Python 3.11: they create .venv and install what is missing.
#
#   make run                 migrate, ensure an admin account, serve http://127.0.0.1:8000
#   make user USER=alice [EMAIL=alice@example.org] [STAFF=1]
#   make token USER=alice [PROJECT=acme] [DESCRIPTION=CI]
#   make test                lint, migrations check, whole test suite on PostgreSQL + S3
#   make test PYTEST_ARGS='-x -k upload tests/unit'
#   make lint | fmt | bench

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# `export TOKEN=$(make token USER=alice)` must capture the token alone, also from a sub-make.
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# What serving needs (requirements.txt), and the test and lint tools on top of it.
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
PYTEST_ARGS ?=
BENCH_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv venv-run system-deps browser-deps test lint fmt check-migrations run user token bench

help:
	@echo "make run     serve pypidraft on http://127.0.0.1:8000 (SQLite, files in var/)"
	@echo "make user    USER=NAME [EMAIL=...] [STAFF=1]: create an account (password printed once)"
	@echo "make token   USER=NAME [PROJECT=...] [DESCRIPTION=...]: print a new API token"
	@echo "make test    lint + migrations check + tests against PostgreSQL and SeaweedFS S3"
	@echo "             (PYTEST_ARGS='...' is passed to pytest)"
	@echo "make lint    ruff check + ruff format --check"
	@echo "make fmt     ruff format + ruff check --fix"
	@echo "make bench   run the benchmarks (bench/run.py)"

venv: $(STAMP_DEV)
venv-run: $(STAMP_RUN)

# A .venv without pip is broken (python3 without ensurepip on Debian): recreate it,
# installing python3-venv first if needed. pip's output goes to stderr, so that a command
# whose output is captured (`make token`) prints nothing else on stdout.
define make_venv
	@if [ ! -x $(BIN)/pip ]; then \
		rm -rf $(VENV); \
		if ! $(PYTHON) -m venv $(VENV) >&2; then \
			rm -rf $(VENV); \
			scripts/system-deps.sh python-venv >&2; \
			$(PYTHON) -m venv $(VENV) >&2; \
		fi; \
	fi
endef

# (Re)install when a requirements file changes: `make run` only what serving needs,
# `make test` and the linters the development tools too (which include requirements.txt).
$(STAMP_RUN): requirements.txt
	$(make_venv)
	@$(BIN)/pip install -r requirements.txt >&2
	@touch $@

$(STAMP_DEV): requirements.txt requirements-dev.txt
	$(make_venv)
	@$(BIN)/pip install -r requirements-dev.txt >&2
	@touch $@ $(STAMP_RUN)

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

# Serves the way a small deployment does (gunicorn, DEBUG off, the project's own error
# pages) with the local settings: no environment variables, so `.venv/bin/python manage.py`
# and `make user`/`make token` use the same secret key, database and files (var/) by
# construction. scripts/serve execs gunicorn: Ctrl-C or one SIGTERM stops it.
run: venv-run
	@exec scripts/serve

# USER must be given on the command line: the shell's own $USER is not an account here.
user: venv-run
	@$(if $(filter command line,$(origin USER)),,echo "usage: make user USER=NAME [EMAIL=...] [STAFF=1]" >&2; exit 2)
	@$(PY) manage.py create_user '$(USER)' $(if $(EMAIL),--email '$(EMAIL)') $(if $(STAFF),--staff)

token: venv-run
	@$(if $(filter command line,$(origin USER)),,echo "usage: make token USER=NAME [PROJECT=...] [DESCRIPTION=...]" >&2; exit 2)
	@$(PY) manage.py create_api_token '$(USER)' $(if $(PROJECT),--project '$(PROJECT)') \
		--description '$(or $(DESCRIPTION),make token)'

# bench/run.py starts PostgreSQL + SeaweedFS (scripts/testenv.py), pypiserver, devpi-server,
# pypidraft (gunicorn) and nginx on loopback; BENCH_ARGS='--quick' for a smoke run.
bench: venv
	@scripts/system-deps.sh postgres wrk nginx
	$(PY) bench/run.py $(BENCH_ARGS)
