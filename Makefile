# Quick start: `make run` (serve the CRM with demo data) and `make test` (the whole suite).
# Every target installs what it needs first, once; later runs reuse the virtualenv.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# The embedded default needs no configuration; a .env file or the environment can override.
RUN_ENV := DEBUG=$${DEBUG:-true}

.PHONY: run test install install-dev assets messages makemessages migrate seed worker beat lint format check bench clean

run: install assets messages
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py seed_demo
	@echo "Serving the CRM on http://$(HOST):$(PORT)/ (Ctrl+C stops it)"
	$(RUN_ENV) $(PY) manage.py runserver --noreload $(HOST):$(PORT)

test: install-dev assets messages
	scripts/with-test-services.sh $(VENV)/bin/pytest $(PYTEST_ARGS)
	# The read-replica path once more, with a "replica" database mirroring the test one.
	TEST_WITH_REPLICA=1 scripts/with-test-services.sh $(VENV)/bin/pytest -q -p no:cacheprovider tests/test_replica.py

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || { echo "Could not create a virtualenv: install Python 3.11+ with venv (Debian: apt-get install python3-venv)."; exit 1; }
	$(VENV)/bin/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

# Bootstrap and its icons come from the npm registry at install time (never a CDN).
assets: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed to install the front-end assets (Debian: apt-get install npm)."; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Compile the translation catalogues (pure Python: GNU gettext is not needed to run).
messages: install
	$(PY) scripts/compile_messages.py

# Refresh the catalogues from the source (needs GNU gettext); then translate the new entries.
makemessages: install
	DEBUG=true $(PY) manage.py makemessages -l zh_Hans -l en --no-obsolete --ignore=.venv --ignore=node_modules --ignore=var
	$(PY) scripts/fill_en_catalogue.py
	$(PY) scripts/check_catalogues.py || true
	$(PY) scripts/compile_messages.py

migrate: install
	$(RUN_ENV) $(PY) manage.py migrate --noinput

seed: install
	$(RUN_ENV) $(PY) manage.py seed_demo

# Workers need a broker: set CELERY_BROKER_URL (or REDIS_URL), e.g. redis://127.0.0.1:6379/0.
worker: install
	$(PY) -m celery -A crm worker --loglevel=INFO --concurrency=$${CELERY_CONCURRENCY:-2}

beat: install
	$(PY) -m celery -A crm beat --loglevel=INFO --schedule=var/celerybeat-schedule

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The checks CI runs besides the tests.
check: install-dev assets messages lint
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run
	scripts/check-deploy.sh $(PY)

# Benchmarks (issue 10) against a throwaway PostgreSQL: generate a data set, then measure on it.
# Small by default; full size: make bench BENCH_CUSTOMERS=1000000 BENCH_INTERACTIONS=5000000 BENCH_ORDERS=1000000
BENCH_CUSTOMERS ?= 20000
BENCH_INTERACTIONS ?= 100000
BENCH_ORDERS ?= 20000
BENCH_IMPORT_ROWS ?= 10000

bench: install-dev
	scripts/with-test-services.sh sh -ec '\
		$(PY) bench/generate.py --customers $(BENCH_CUSTOMERS) --interactions $(BENCH_INTERACTIONS) --orders $(BENCH_ORDERS); \
		$(PY) bench/run.py; \
		$(PY) bench/import_bench.py --rows $(BENCH_IMPORT_ROWS); \
	'

clean:
	rm -rf $(VENV) node_modules var/staticfiles
