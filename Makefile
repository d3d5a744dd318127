# The two commands: `make demo` runs the city on this machine, `make test` passes the tests.
# Both install what they need: Debian packages (as root, with apt), then .venv/ with pip.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_MAJOR := 15
APT_PACKAGES := postgresql-$(PG_MAJOR)-postgis-3 postgresql-$(PG_MAJOR)-pgrouting redis-server \
	mosquitto mosquitto-clients chromium

.PHONY: demo test e2e bench bench-api install system-deps venv mobile-deps mobile-test lint format stack-down \
	clean help

help:
	@echo "make demo   - install, start the private stack, migrate, seed Adlershof, run the services"
	@echo "make test   - install, then run lint and the whole test suite on a private stack"
	@echo "make e2e    - only the browser tests (Chromium, axe), about 2 minutes"
	@echo "make bench  - bench/ingest: our pipeline against its baselines (about 4 min, --quick)"
	@echo "make bench-api - bench/api: the citizen API under 500 clients vs a bare baseline (--quick)"
	@echo "make lint   - ruff check and format check"
	@echo "make clean  - stop the stack and remove .venv/ and .stack*/"

demo: install
	$(BIN)/smartcity demo

# The app's Jest tests run first (seconds); its web build is made by e2e/test_mobile.py when stale.
test: install lint mobile-test
	$(BIN)/pytest

e2e: install
	$(BIN)/pytest e2e

bench: install
	$(BIN)/python -m bench.ingest --quick

# wrk (Debian) drives the closed-loop runs; installed here as root if missing.
bench-api: install
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq wrk >/dev/null; } || { echo "bench/api needs wrk: sudo apt-get install wrk"; exit 1; }
	$(BIN)/python -m bench.api --quick

install: system-deps venv mobile-deps

# The citizen app (mobile/): `npm ci` when node_modules is missing or package-lock.json changed.
mobile-deps: mobile/node_modules/.installed

mobile/node_modules/.installed: mobile/package-lock.json
	cd mobile && npm ci --no-audit --no-fund
	touch $@

mobile-test: mobile-deps
	cd mobile && npx tsc --noEmit && npx jest --ci

# Installs only what is missing, and only as root on Debian; otherwise names the package.
system-deps:
	@missing=""; \
	[ -f /usr/share/postgresql/$(PG_MAJOR)/extension/postgis.control ] || missing="$$missing postgresql-$(PG_MAJOR)-postgis-3"; \
	[ -f /usr/share/postgresql/$(PG_MAJOR)/extension/pgrouting.control ] || missing="$$missing postgresql-$(PG_MAJOR)-pgrouting"; \
	command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || missing="$$missing redis-server"; \
	[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing="$$missing mosquitto"; \
	command -v mosquitto_pub >/dev/null || missing="$$missing mosquitto-clients"; \
	command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) \
	      $$(command -v npm >/dev/null || echo nodejs npm) >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

stack-down:
	-$(BIN)/smartcity stack down

clean: stack-down
	rm -rf $(VENV) .stack .stack-test .stack-bench .twin-cache
